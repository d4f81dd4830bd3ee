//! The flags of each command (clap types), and the checks clap runs on their values.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::framing::{parse_delimiter, Delimiter, Framing};
use crate::net::addr::{parse_duration, parse_size, Endpoint};

/// A server's TLS: a certificate from files, or one made for this machine.
#[derive(Debug, Clone, Args)]
pub struct TlsServerArgs {
    /// Speak TLS: with --tls-cert and --tls-key, or else with a certificate made for
    /// this machine (as --tls-self-signed).
    #[arg(long)]
    pub tls: bool,

    /// Speak TLS with this certificate chain (PEM, the server's certificate first).
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        conflicts_with = "tls_self_signed"
    )]
    pub tls_cert: Option<PathBuf>,

    /// The certificate's private key (PEM: PKCS#8, RSA or EC; RSA, ECDSA or Ed25519).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Speak TLS with a certificate made for this machine's names and addresses, kept
    /// in ~/.local/state/sockit/tls so that its fingerprint stays the same.
    #[arg(long)]
    pub tls_self_signed: bool,
}

impl TlsServerArgs {
    /// The certificate asked for, if TLS is.
    pub fn identity(&self) -> Option<crate::net::tls::Identity> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(crate::net::tls::Identity::Files {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ if self.tls || self.tls_self_signed => Some(crate::net::tls::Identity::SelfSigned),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct HttpDump {
    /// The address to listen on: PORT, :PORT, HOST:PORT or [v6]:PORT.
    #[arg(long, default_value = "0.0.0.0:8888", value_name = "ADDR")]
    pub bind: Endpoint,

    #[command(flatten)]
    pub tls: TlsServerArgs,

    /// With TLS: show each connection's ClientHello (versions, cipher suites,
    /// extensions in order, ALPN, SNI) and its JA4 fingerprint.
    #[arg(long)]
    pub tls_client_hello: bool,

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

    #[command(flatten)]
    pub tls: TlsServerArgs,

    /// On a terminal, show the URL a phone on the LAN opens as a QR code.
    #[arg(long)]
    pub qr: bool,

    /// An account (repeatable): USER:PASS is read-write on /; USER:PASS@PATH[:ro|rw],...
    /// names its paths (ro without a mode); @PATH[:ro|rw] is for anyone, no password.
    /// PASS may be an argon2 ($argon2id$...), bcrypt ($2b$...) or sha256:HEX hash.
    /// Passwords need TLS (or --auth-over-http).
    #[arg(long = "auth", value_name = "RULE")]
    pub auth: Vec<String>,

    /// More --auth rules, one per line (# starts a comment): keeps passwords out of
    /// the shell's history and of `ps`.
    #[arg(long, value_name = "FILE")]
    pub auth_file: Option<PathBuf>,

    /// Allow --auth passwords over plain HTTP, where anyone on the network can read them.
    #[arg(long)]
    pub auth_over_http: bool,
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

    #[command(flatten)]
    pub tls: TlsServerArgs,
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

    #[command(flatten)]
    pub tls: TlsClientArgs,
}

/// A client's TLS: how it checks the server's certificate.
#[derive(Debug, Clone, Args)]
pub struct TlsClientArgs {
    /// Speak TLS, checking the server's certificate against the system's trusted ones
    /// (or --tls-ca).
    #[arg(long)]
    pub tls: bool,

    /// Trust the certificates in FILE (PEM) instead of the system's (implies --tls).
    #[arg(long, value_name = "FILE", conflicts_with = "tls_insecure")]
    pub tls_ca: Option<PathBuf>,

    /// Accept any certificate (implies --tls); its fingerprint is shown, to compare
    /// with the one the server printed.
    #[arg(long)]
    pub tls_insecure: bool,

    /// The name the certificate must carry (and the SNI sent) instead of the host
    /// given (implies --tls).
    #[arg(long, value_name = "NAME")]
    pub tls_server_name: Option<String>,
}

impl TlsClientArgs {
    /// The checks asked for, if TLS is.
    pub fn options(&self) -> Option<crate::net::tls::ClientOptions> {
        let asked = self.tls
            || self.tls_ca.is_some()
            || self.tls_insecure
            || self.tls_server_name.is_some();
        asked.then(|| crate::net::tls::ClientOptions {
            ca: self.tls_ca.clone(),
            insecure: self.tls_insecure,
            server_name: self.tls_server_name.clone(),
        })
    }
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
