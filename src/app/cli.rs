//! The command line: clap's top-level types, the parse and its tips. The flags of each
//! command are in `flags.rs`.

use clap::{Parser, Subcommand};

pub use super::flags::*;
pub use super::perf_flags::*;
pub use super::send_flags::*;
use crate::net::addr::Endpoint;

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
        after_help = "Examples:\n  sockit send photo.jpg                   # prints a code; run `sockit recv --code CODE` elsewhere\n  sockit send ./album notes.txt --keep    # any number of receivers\n  sockit send notes.txt --qr              # the recv command as a QR code too\n  tar c dir | sockit send - --name dir.tar\n  sockit send --raw photo.jpg             # the notes' homework protocol on port 8888 (nc-compatible)\n  sockit send --wormhole photo.jpg        # beyond the LAN: to `sockit recv --wormhole` or `wormhole receive`\n  sockit send --wormhole --text hello"
    )]
    Send(SendArgs),
    /// Receive what `sockit send` offers (found by its code on the LAN, or at HOST:PORT),
    /// or with --wormhole what any magic-wormhole client sends.
    #[command(
        after_help = "Examples:\n  sockit recv --code 7-amber-lantern\n  sockit recv 192.168.1.20:40111 --code 7-amber-lantern -o downloads\n  sockit recv --raw 127.0.0.1:8888 -o photo.jpg   # from `send --raw`, nc or the notes' server\n  sockit recv --raw 127.0.0.1:8888                # writes ./received (or received (1), …)\n  sockit recv --wormhole 7-guitarist-revenge      # from `sockit send --wormhole` or `wormhole send`"
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
    /// Measure a link as iperf3 does, and speak its protocol: throughput, loss, jitter,
    /// RTT, round-trip latency; `perf serve` serves any number of clients at once.
    #[command(
        after_help = "Examples:\n  sockit perf serve                          # then, elsewhere:\n  sockit perf 192.168.1.20                   # TCP for 10 s, like iperf3 -c\n  sockit perf 192.168.1.20 -u -b 100M -P 4   # UDP: loss, jitter, out of order\n  sockit perf 192.168.1.20 --latency         # round trips: p50/p90/p99/max\n  sockit perf 127.0.0.1 -R -J > result.json  # reverse, iperf3's JSON document"
    )]
    Perf(Box<Perf>),
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
        after_help = "Examples:\n  sockit http serve                   # this folder on port 8000\n  sockit http serve ~/Public --upload --max-upload 1GiB\n  sockit http serve --qr              # with a QR code of its LAN URL, for a phone\n  sockit http serve --tls-self-signed --upload --auth alice:secret --auth @/:ro\n  curl -T notes.txt http://127.0.0.1:8000/inbox/notes.txt   # with --upload"
    )]
    Serve(HttpServe),
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

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
