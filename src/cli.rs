//! The command line: clap types, one struct per command.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::addr::{parse_duration, parse_size, Endpoint};
use crate::framing::{parse_delimiter, Delimiter, Framing};

#[derive(Debug, Parser)]
#[command(
    name = "sockit",
    version,
    about = "Socket programming, done properly: TCP framing, UDP, broadcast, inspection",
    after_help = "Examples:\n  sockit tcp serve --bind 127.0.0.1:8888\n  sockit tcp connect 127.0.0.1:8888\n  sockit --json tcp serve --echo --framing len"
)]
pub struct Cli {
    /// Print events as NDJSON (one JSON object per line) instead of text for people.
    #[arg(long, global = true)]
    pub json: bool,

    /// Also print each socket's attributes and options (family, type, addresses, fd).
    #[arg(short, long, global = true)]
    pub verbose: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// TCP message exchange with framing (server and client).
    #[command(subcommand)]
    Tcp(TcpCommand),
    /// HTTP: see exactly what a client sends, or serve a folder.
    #[command(subcommand)]
    Http(HttpCommand),
}

#[derive(Debug, Subcommand)]
pub enum HttpCommand {
    /// Print each HTTP request exactly as received and answer with a JSON echo of it.
    #[command(
        after_help = "Examples:\n  sockit http dump                    # then open http://127.0.0.1:8888 in a browser\n  sockit http dump --bind 127.0.0.1:9000 --hex\n  curl -d hello 127.0.0.1:8888/form"
    )]
    Dump(HttpDump),
    /// Serve a folder over HTTP: listing, downloads with Range, optional upload and delete.
    #[command(
        after_help = "Examples:\n  sockit http serve                   # this folder on port 8000\n  sockit http serve ~/Public --upload --max-upload 1GiB\n  curl -T notes.txt http://127.0.0.1:8000/inbox/notes.txt   # with --upload"
    )]
    Serve(HttpServe),
}

#[derive(Debug, Clone, Args)]
pub struct HttpDump {
    /// The address to listen on: PORT, :PORT, HOST:PORT or [v6]:PORT.
    #[arg(long, default_value = "0.0.0.0:8888", value_name = "ADDR")]
    pub bind: Endpoint,

    /// Show each request as a hex dump instead of escaped lines.
    #[arg(long)]
    pub hex: bool,

    /// The largest request body accepted (decoded); larger ones are answered 413.
    #[arg(long, default_value = "16MiB", value_parser = parse_size, value_name = "SIZE")]
    pub max_body: u64,
}

#[derive(Debug, Clone, Args)]
pub struct HttpServe {
    /// The folder to serve; nothing outside it is ever read or written.
    #[arg(default_value = ".", value_name = "DIR")]
    pub dir: std::path::PathBuf,

    /// The address to listen on: PORT, :PORT, HOST:PORT or [v6]:PORT.
    #[arg(long, default_value = "0.0.0.0:8000", value_name = "ADDR")]
    pub bind: Endpoint,

    /// Accept uploads: PUT /path, and a form on each listing page.
    #[arg(long)]
    pub upload: bool,

    /// Accept DELETE /path.
    #[arg(long)]
    pub delete: bool,

    /// List and serve dotfiles (hidden by default).
    #[arg(long)]
    pub hidden: bool,

    /// Serve symlinks that point outside DIR (refused by default).
    #[arg(long)]
    pub follow_symlinks: bool,

    /// The largest file accepted by one upload.
    #[arg(long, default_value = "1GiB", value_parser = parse_size, value_name = "SIZE")]
    pub max_upload: u64,
}

#[derive(Debug, Subcommand)]
pub enum TcpCommand {
    /// Accept TCP clients and answer each message.
    #[command(
        after_help = "Examples:\n  sockit tcp serve                         # every interface, port 8888\n  sockit tcp serve --bind 127.0.0.1:0 --echo\n  sockit tcp serve --framing len --broker  # a chat relay of length-prefixed messages"
    )]
    Serve(TcpServe),
    /// Connect to a TCP server; each stdin line (or --send) is one message.
    #[command(
        after_help = "Examples:\n  sockit tcp connect 127.0.0.1:8888\n  sockit tcp connect 8888 --send hello --send world\n  sockit tcp connect host:9000 --framing raw < image.png   # like nc"
    )]
    Connect(TcpConnect),
}

/// How messages are delimited on a stream.
#[derive(Debug, Clone, Args)]
pub struct FramingArgs {
    /// raw: each read is a message (shows sticky packets); line: delimiter-terminated;
    /// len: 4-byte big-endian length prefix (Python's struct.pack('!I')).
    #[arg(long, value_enum, default_value_t = Framing::Line)]
    pub framing: Framing,

    /// The delimiter of `line` framing; escapes \n \r \t \0 \\ \xHH (CRLF is tolerated
    /// with the default).
    #[arg(long, default_value = "\\n", value_parser = parse_delimiter)]
    pub delimiter: Delimiter,

    /// The largest message accepted, checked before any memory is reserved.
    #[arg(long, default_value = "8MiB", value_parser = parse_size, value_name = "SIZE")]
    pub max_frame: u64,
}

/// What a server answers to each message.
#[derive(Debug, Clone, Args)]
#[group(multiple = false)]
pub struct ReplyArgs {
    /// Answer every message with TEXT (default: "received N bytes").
    #[arg(long, value_name = "TEXT")]
    pub reply: Option<String>,
    /// Send every message back to its sender.
    #[arg(long)]
    pub echo: bool,
    /// Relay every message to all other clients (a chat room).
    #[arg(long)]
    pub broker: bool,
    /// Answer nothing.
    #[arg(long)]
    pub silent: bool,
}

#[derive(Debug, Clone, Args)]
pub struct TcpServe {
    /// The address to listen on: PORT, :PORT, HOST:PORT or [v6]:PORT.
    #[arg(long, default_value = "0.0.0.0:8888", value_name = "ADDR")]
    pub bind: Endpoint,

    #[command(flatten)]
    pub framing: FramingArgs,

    #[command(flatten)]
    pub reply: ReplyArgs,

    /// Clients served at once; more are accepted, told nothing, and closed.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub max_clients: usize,

    /// Disconnect a client that sends nothing for this long.
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub idle_timeout: Option<Duration>,
}

#[derive(Debug, Clone, Args)]
pub struct TcpConnect {
    /// The server: HOST:PORT (a bare PORT means 127.0.0.1).
    #[arg(value_name = "HOST:PORT")]
    pub target: Endpoint,

    #[command(flatten)]
    pub framing: FramingArgs,

    /// Send MSG instead of reading stdin (repeatable; one message each).
    #[arg(long = "send", value_name = "MSG")]
    pub send: Vec<String>,

    /// After the last message, wait at most this long for replies (default: until the
    /// server closes).
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub wait: Option<Duration>,

    /// Pause this long between messages (pacing, the notes' third remedy).
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub interval: Option<Duration>,

    /// Give up connecting after this long.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DUR")]
    pub timeout: Duration,
}

impl FramingArgs {
    /// A codec for these settings, with `--max-frame` capped to what fits in memory.
    pub fn codec(&self) -> crate::framing::FrameCodec {
        let max = usize::try_from(self.max_frame).unwrap_or(usize::MAX);
        crate::framing::FrameCodec::new(self.framing, max, &self.delimiter.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn framing_defaults() {
        let cli = Cli::try_parse_from(["sockit", "tcp", "connect", "8888"]).unwrap();
        let Command::Tcp(TcpCommand::Connect(c)) = cli.command else {
            panic!()
        };
        assert_eq!(c.framing.delimiter.0, b"\n");
        assert_eq!(c.framing.max_frame, 8 << 20);
        assert_eq!(
            c.target,
            Endpoint {
                host: None,
                port: 8888
            }
        );
    }
}
