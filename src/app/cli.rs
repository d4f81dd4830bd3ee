//! The command line: clap types, one struct per command.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::framing::{parse_delimiter, Delimiter, Framing};
use crate::net::addr::{parse_duration, parse_size, Endpoint};
use crate::transfer::Code;

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
    /// Send files or folders to another machine: verified, resumable, encrypted.
    #[command(
        after_help = "Examples:\n  sockit send photo.jpg                   # prints a code; run `sockit recv --code CODE` elsewhere\n  sockit send ./album notes.txt --keep    # any number of receivers\n  tar c dir | sockit send - --name dir.tar\n  sockit send --raw photo.jpg             # the notes' homework protocol on port 8888 (nc-compatible)"
    )]
    Send(SendArgs),
    /// Receive what `sockit send` offers (found by its code on the LAN, or at HOST:PORT).
    #[command(
        after_help = "Examples:\n  sockit recv --code 7-amber-lantern\n  sockit recv 192.168.1.20:40111 --code 7-amber-lantern -o downloads\n  sockit recv --raw 127.0.0.1:8888 -o photo.jpg   # from `send --raw`, nc or the notes' server\n  sockit recv --raw 127.0.0.1:8888                # writes ./received (or received (1), …)"
    )]
    Recv(RecvArgs),
    /// UDP datagrams: a server for many peers and a sender.
    #[command(subcommand)]
    Udp(UdpCommand),
    /// UDP broadcast and multicast: a periodic sender and a listener.
    #[command(subcommand)]
    Broadcast(BroadcastCommand),
    /// Create a socket, connect or bind it, and show its attributes and options.
    #[command(
        after_help = "Examples:\n  sockit info 127.0.0.1:8888             # a TCP client socket: peer, RTT, cwnd\n  sockit info --listen 0.0.0.0:0         # a TCP listener\n  sockit --json info --udp 127.0.0.1:53  # a connected UDP socket, as one JSON object"
    )]
    Info(Info),
    /// HTTP: see exactly what a client sends, or serve a folder.
    #[command(subcommand)]
    Http(HttpCommand),
    /// Watch every lesson of the course happen on loopback, explained (English or Chinese).
    #[command(
        after_help = "Examples:\n  sockit tour                    # every lesson, in the order of the notes\n  sockit tour sticky --lang zh   # one lesson, explained in Chinese\n  sockit --json tour             # one `lesson` event per topic"
    )]
    Tour(Tour),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(
        after_help = "Examples:\n  sockit completions bash > ~/.local/share/bash-completion/completions/sockit\n  sockit completions zsh > ~/.zfunc/_sockit\n  sockit completions fish > ~/.config/fish/completions/sockit.fish"
    )]
    Completions(Completions),
    /// Print the manual page (roff), or write one page per command into a folder.
    #[command(
        after_help = "Examples:\n  sockit man | man -l -                      # read the main page now\n  sockit man /usr/local/share/man/man1       # sockit.1, sockit-tcp-serve.1, ...\n  man sockit-tcp-serve"
    )]
    Man(Man),
}

#[derive(Debug, Subcommand)]
pub enum HttpCommand {
    /// Print each HTTP request exactly as received and answer with it: a page of the raw
    /// request for a browser, a JSON echo for curl and other clients.
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
    /// Connect to a TCP server; stdin goes out as typed (like nc), or each --send.
    #[command(
        after_help = "Examples:\n  sockit tcp connect 127.0.0.1:8888\n  sockit tcp connect 8888 --send hello --send world\n  sockit tcp connect host:9000 < image.png                # bytes unchanged, like nc\n  sockit tcp connect 8888 --framing line                  # one message per line"
    )]
    Connect(TcpConnect),
}

/// How messages are delimited on a stream.
#[derive(Debug, Clone, Args)]
pub struct FramingArgs {
    /// raw (the default; line when --delimiter is given): each read is a message, as for
    /// nc and the notes' programs (shows sticky packets); line: delimiter-terminated;
    /// len: 4-byte big-endian length prefix (Python's struct.pack('!I')).
    #[arg(long, value_enum)]
    pub framing: Option<Framing>,

    /// The delimiter of `line` framing (default \n; giving one implies --framing line);
    /// escapes \n \r \t \0 \\ \xHH (CRLF is tolerated with the default).
    #[arg(long, value_parser = parse_delimiter)]
    pub delimiter: Option<Delimiter>,

    /// The largest message accepted, checked before any memory is reserved.
    #[arg(long, default_value = "8MiB", value_parser = parse_max_frame, value_name = "SIZE")]
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
    #[arg(long, default_value_t = 1024, value_parser = parse_max_clients, value_name = "N")]
    pub max_clients: usize,

    /// Disconnect a client that sends nothing for this long.
    #[arg(long, value_parser = parse_idle_timeout, value_name = "DUR")]
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

#[derive(Debug, Clone, Args)]
pub struct SendArgs {
    /// Files and folders to send, or `-` for stdin (with --name).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// The name stdin's data is received under.
    #[arg(long)]
    pub name: Option<String>,

    /// The TCP address to listen on (default: any free port; with --raw, the notes'
    /// port: 0.0.0.0:8888).
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<Endpoint>,

    /// Use this code instead of a random one (NUMBER-secret-words).
    #[arg(long, value_name = "CODE")]
    pub code: Option<Code>,

    /// Serve any number of receivers, at the same time too, until Ctrl-C.
    #[arg(long)]
    pub keep: bool,

    /// Do not announce this sender on the LAN (receivers then need HOST:PORT).
    #[arg(long, conflicts_with = "to")]
    pub no_announce: bool,

    /// Send announcements only to this address (IP or IP:PORT) instead of every
    /// interface's broadcast address.
    #[arg(long, value_name = "ADDR")]
    pub to: Option<String>,

    /// The UDP port announcements go to.
    #[arg(long, default_value_t = crate::transfer::ANNOUNCE_PORT)]
    pub port: u16,

    /// Speak the notes' homework protocol: the bytes of one file, then close.
    #[arg(long, conflicts_with_all = ["code", "plain", "name"])]
    pub raw: bool,

    /// Do not encrypt (the code is still checked); both sides must say so.
    #[arg(long)]
    pub plain: bool,
}

#[derive(Debug, Clone, Args)]
pub struct RecvArgs {
    /// The sender's address; without it, the sender is found by its announcements.
    #[arg(value_name = "HOST:PORT")]
    pub target: Option<Endpoint>,

    /// The code `sockit send` printed (asked for on the terminal when missing).
    #[arg(long, value_name = "CODE")]
    pub code: Option<Code>,

    /// The folder to write into (with --raw: the file to write, or a folder to write
    /// `received` into).
    #[arg(short = 'o', long = "output", default_value = ".", value_name = "DIR")]
    pub output: PathBuf,

    /// Replace files that already exist.
    #[arg(long, conflicts_with = "rename")]
    pub overwrite: bool,

    /// Keep existing files and save new ones as `name (1).ext`.
    #[arg(long)]
    pub rename: bool,

    /// Write the (single) file to stdout; events go to stderr.
    #[arg(long, conflicts_with_all = ["overwrite", "rename"])]
    pub stdout: bool,

    /// Speak the notes' homework protocol: read until the sender closes.
    #[arg(long, conflicts_with_all = ["code", "plain"])]
    pub raw: bool,

    /// Accept an unencrypted session (the sender must use --plain too).
    #[arg(long)]
    pub plain: bool,

    /// How long to look for the sender's announcement.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DUR")]
    pub timeout: Duration,

    /// The UDP port to listen for announcements on.
    #[arg(long, default_value_t = crate::transfer::ANNOUNCE_PORT)]
    pub port: u16,
}

impl SendArgs {
    /// `--bind`, or the default: any free port, or with `--raw` the notes' port 8888
    /// (their homework client connects there).
    pub fn bind_addr(&self) -> Endpoint {
        self.bind.clone().unwrap_or_else(|| {
            let port = if self.raw { 8888 } else { 0 };
            format!("0.0.0.0:{port}").parse().expect("a valid address")
        })
    }
}

impl Command {
    /// Whether this command writes data (not events) to stdout; events then go to stderr.
    pub fn data_on_stdout(&self) -> bool {
        matches!(self, Command::Recv(RecvArgs { stdout: true, .. }))
    }
}

#[derive(Debug, Subcommand)]
pub enum UdpCommand {
    /// Receive datagrams from any number of peers and answer each.
    #[command(
        after_help = "Examples:\n  sockit udp serve                          # every interface, port 8888\n  sockit udp serve --bind 127.0.0.1:0 --echo\n  sockit udp serve --buffer 1024            # like recvfrom(1024), but reports truncation"
    )]
    Serve(UdpServe),
    /// Send datagrams: the words given form one, or else each stdin line is one.
    #[command(
        after_help = "Examples:\n  sockit udp send 127.0.0.1:8888 hello world   # one datagram: \"hello world\"\n  sockit udp send 8888 < lines.txt             # one datagram per line\n  sockit udp send 192.168.1.255:9999 hi --broadcast"
    )]
    Send(UdpSend),
}

/// What a UDP server answers to each datagram.
#[derive(Debug, Clone, Args)]
#[group(multiple = false)]
pub struct UdpReplyArgs {
    /// Answer every datagram with TEXT (default: "received N bytes").
    #[arg(long, value_name = "TEXT")]
    pub reply: Option<String>,
    /// Send every datagram back to its sender.
    #[arg(long)]
    pub echo: bool,
    /// Answer nothing.
    #[arg(long)]
    pub silent: bool,
}

#[derive(Debug, Clone, Args)]
pub struct UdpServe {
    /// The address to receive on: PORT, :PORT, HOST:PORT or [v6]:PORT.
    #[arg(long, default_value = "0.0.0.0:8888", value_name = "ADDR")]
    pub bind: Endpoint,

    /// Bytes kept of each datagram (recvfrom's buffersize, 1 to 64KiB); a longer
    /// datagram is reported as truncated, with its real size.
    #[arg(long, default_value = "65535", value_parser = parse_size, value_name = "SIZE")]
    pub buffer: u64,

    /// Ask the kernel for a receive buffer of SIZE (SO_RCVBUF; default: the kernel's),
    /// so bursts wait in the queue instead of being dropped. Capped by net.core.rmem_max.
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    pub rcvbuf: Option<u64>,

    #[command(flatten)]
    pub reply: UdpReplyArgs,
}

#[derive(Debug, Clone, Args)]
pub struct UdpSend {
    /// The receiver: HOST:PORT (a bare PORT means 127.0.0.1).
    #[arg(value_name = "HOST:PORT")]
    pub target: Endpoint,

    /// The words of one datagram, joined by spaces (like the notes' sys.argv sender).
    /// Without any, each stdin line is one datagram.
    #[arg(value_name = "MESSAGE")]
    pub message: Vec<String>,

    /// After the last datagram, print replies for this long.
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DUR")]
    pub wait: Duration,

    /// Allow a broadcast destination (SO_BROADCAST); replies from any host are shown.
    #[arg(long)]
    pub broadcast: bool,
}

#[derive(Debug, Subcommand)]
pub enum BroadcastCommand {
    /// Send a datagram to every host of the local networks (or a multicast group), again
    /// and again.
    #[command(
        after_help = "Examples:\n  sockit broadcast send \"you won\"          # all local networks, port 9999, every 2s\n  sockit broadcast send hi --to 127.255.255.255 --count 3\n  sockit broadcast send hi --group 239.1.2.3 --ttl 1"
    )]
    Send(BroadcastSend),
    /// Receive broadcast (or multicast) datagrams; several listeners may share a port.
    #[command(
        after_help = "Examples:\n  sockit broadcast listen                     # port 9999 on every interface\n  sockit broadcast listen --group 239.1.2.3   # join a multicast group\n  sockit broadcast listen --bind 0.0.0.0:0    # any free port"
    )]
    Listen(BroadcastListen),
}

#[derive(Debug, Clone, Args)]
pub struct BroadcastSend {
    /// The text sent (default: "sockit broadcast N", numbered from 1).
    #[arg(value_name = "MESSAGE")]
    pub message: Option<String>,

    /// The destination port.
    #[arg(long, default_value_t = 9999)]
    pub port: u16,

    /// Pause between rounds; under 50ms is refused (a broadcast storm).
    #[arg(long, default_value = "2s", value_parser = parse_duration, value_name = "DUR")]
    pub interval: Duration,

    /// Stop after N rounds (default: until Ctrl-C).
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = parse_count)]
    pub count: Option<u64>,

    /// Send to ADDR (an IP, or HOST:PORT) instead of every interface's broadcast address.
    #[arg(long, value_name = "ADDR", conflicts_with = "group")]
    pub to: Option<String>,

    /// Send to this IPv4 multicast group instead of broadcasting.
    #[arg(long, value_name = "MCAST")]
    pub group: Option<std::net::Ipv4Addr>,

    /// Multicast hops (IP_MULTICAST_TTL): 1 stays on the local network.
    #[arg(long, default_value_t = 1, requires = "group")]
    pub ttl: u8,

    /// Send multicast out of this interface (IP_MULTICAST_IF) instead of the routed one.
    #[arg(long, value_name = "NAME", requires = "group")]
    pub iface: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct BroadcastListen {
    /// The port to receive on, on every interface.
    #[arg(long, default_value_t = 9999)]
    pub port: u16,

    /// Receive on this exact address instead (overrides --port).
    #[arg(long, value_name = "ADDR", conflicts_with = "port")]
    pub bind: Option<Endpoint>,

    /// Join this IPv4 multicast group.
    #[arg(long, value_name = "MCAST")]
    pub group: Option<std::net::Ipv4Addr>,

    /// Join the group on this interface only (default: every up interface).
    #[arg(long, value_name = "NAME", requires = "group")]
    pub iface: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct Info {
    /// A UDP socket instead of TCP.
    #[arg(long)]
    pub udp: bool,

    /// Bind ADDR (a server's socket) instead of connecting to it.
    #[arg(long)]
    pub listen: bool,

    /// Where to connect (a bare PORT means 127.0.0.1) or, with --listen, what to bind
    /// (a bare PORT means 0.0.0.0).
    #[arg(value_name = "ADDR")]
    pub addr: Endpoint,

    /// Give up connecting after this long.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DUR")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Args)]
pub struct Tour {
    /// Run only this lesson (default: every one, in the order of the notes).
    #[arg(value_enum, value_name = "TOPIC")]
    pub topic: Option<crate::tour::Topic>,

    /// The language of the explanations (default: zh when LC_ALL or LANG starts with
    /// "zh", else en).
    #[arg(long, value_enum)]
    pub lang: Option<crate::tour::Lang>,
}

#[derive(Debug, Clone, Args)]
pub struct Man {
    /// Write every page (sockit.1, sockit-tcp.1, sockit-tcp-serve.1, ...) into DIR,
    /// creating it, instead of printing the main page.
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct Completions {
    /// The shell to write the script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `--max-frame`: a limit of 0 would drop every message.
fn parse_max_frame(s: &str) -> Result<u64, String> {
    match parse_size(s)? {
        0 => Err(
            "0 would refuse every message; give the largest message to accept (default 8MiB)"
                .into(),
        ),
        n => Ok(n),
    }
}

/// `--max-clients`: 0 would refuse every client.
fn parse_max_clients(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("0 would refuse every client; give 1 or more (default 1024)".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a number of clients (1 or more)")),
    }
}

/// `--idle-timeout`: 0 would disconnect every client at once.
fn parse_idle_timeout(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err(
            "0 would disconnect every client at once; give a duration such as 30s, or leave it out"
                .into(),
        ),
        d => Ok(d),
    }
}

/// `broadcast send --count`: how many rounds, at least one (clap's own tip for `-1`,
/// "use '-- -1'", would not work).
fn parse_count(s: &str) -> Result<u64, String> {
    match s.trim().parse::<i128>() {
        Ok(n) if n >= 1 && n <= i128::from(u64::MAX) => Ok(n as u64),
        Ok(_) => {
            Err("the number of rounds is 1 or more; leave --count out to send until Ctrl-C".into())
        }
        Err(_) => Err(format!("{s:?} is not a number of rounds (1 or more)")),
    }
}

/// Parses the process's command line; a usage error gets a tip when it looks like a
/// common slip (the notes' `client.py 127.0.0.1 8888` style, say). Exits on errors.
pub fn parse() -> Cli {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            if e.use_stderr() {
                if let Some(tip) = tip(&args) {
                    eprintln!("tip: {tip}");
                }
            }
            std::process::exit(e.exit_code());
        }
    }
}

/// A tip for a command line clap refused: `HOST PORT` written as two words.
fn tip(args: &[std::ffi::OsString]) -> Option<String> {
    let words: Vec<&str> = args.iter().skip(1).filter_map(|a| a.to_str()).collect();
    words.windows(2).find_map(|w| {
        let (host, port) = (w[0], w[1]);
        let lone_host = !host.starts_with('-')
            && matches!(
                host.parse::<Endpoint>(),
                Err(crate::net::addr::AddrError::MissingPort(_))
            );
        (lone_host && port.parse::<u16>().is_ok()).then(|| {
            let joined = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            format!("the address is one argument, HOST:PORT: write {joined}")
        })
    })
}

impl FramingArgs {
    /// `--framing`, or what it defaults to: `raw`, or `line` when a delimiter is given.
    pub fn framing(&self) -> Framing {
        match (self.framing, &self.delimiter) {
            (Some(f), _) => f,
            (None, Some(_)) => Framing::Line,
            (None, None) => Framing::Raw,
        }
    }

    /// A mistake that clap cannot see: a delimiter that the chosen framing would ignore.
    pub fn conflict(&self) -> Option<String> {
        match (self.framing(), &self.delimiter) {
            (Framing::Line, _) | (_, None) => None,
            (f, Some(_)) => Some(format!(
                "--delimiter is used only by --framing line, not --framing {}",
                if f == Framing::Raw { "raw" } else { "len" }
            )),
        }
    }

    /// A codec for these settings, with `--max-frame` capped to what fits in memory.
    pub fn codec(&self) -> crate::framing::FrameCodec {
        let max = usize::try_from(self.max_frame).unwrap_or(usize::MAX);
        let delimiter = self.delimiter.as_ref().map_or(&b"\n"[..], |d| &d.0[..]);
        crate::framing::FrameCodec::new(self.framing(), max, delimiter)
    }
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
