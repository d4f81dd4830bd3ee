//! `Event`, everything a command reports, and how each renders for people (one line,
//! control characters escaped) or as NDJSON (`--json`, `event` first).

use std::fmt::{self, Write as _};
use std::net::SocketAddr;

use base64::Engine as _;
use bytes::Bytes;
use serde::Serialize;

use super::SocketInfo;

/// The transport a server listens on, as shown in `listening on tcp://…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
    Http,
}

impl Proto {
    fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Http => "http",
        }
    }
}

/// Message bytes as shown to a reader: a `text` field when they are UTF-8, else
/// `base64`. Small payloads are copied inline; larger ones share the message's `Bytes`.
#[derive(Debug, Clone)]
pub struct Payload(Held);

/// Payloads up to this size are kept inside the event.
const INLINE: usize = 64;

#[derive(Debug, Clone)]
enum Held {
    /// A copy: the event then holds no reference to the connection's read buffer, whose
    /// reference count the printer thread would otherwise touch from another core (and
    /// the buffer could not be reused until the line is printed). Most messages are this
    /// small.
    Inline {
        len: u8,
        data: [u8; INLINE],
    },
    Shared(Bytes),
}

impl Payload {
    pub fn new(bytes: &[u8]) -> Self {
        match Self::inline(bytes) {
            Some(p) => p,
            None => Payload(Held::Shared(Bytes::copy_from_slice(bytes))),
        }
    }

    /// The payload of a message already held as `Bytes`: copied when small, else shared.
    pub fn shared(bytes: Bytes) -> Self {
        Self::inline(&bytes).unwrap_or(Payload(Held::Shared(bytes)))
    }

    fn inline(bytes: &[u8]) -> Option<Self> {
        let len = u8::try_from(bytes.len())
            .ok()
            .filter(|&n| usize::from(n) <= INLINE)?;
        let mut data = [0; INLINE];
        data[..bytes.len()].copy_from_slice(bytes);
        Some(Payload(Held::Inline { len, data }))
    }

    /// The bytes themselves.
    pub fn raw(&self) -> &[u8] {
        match &self.0 {
            Held::Inline { len, data } => &data[..usize::from(*len)],
            Held::Shared(bytes) => bytes,
        }
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.raw() == other.raw()
    }
}

impl Eq for Payload {}

impl Serialize for Payload {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(1))?;
        match std::str::from_utf8(self.raw()) {
            Ok(text) => map.serialize_entry("text", text)?,
            Err(_) => map.serialize_entry(
                "base64",
                &base64::engine::general_purpose::STANDARD.encode(self.raw()),
            )?,
        }
        map.end()
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The peer closed its side: `recv` returned 0 bytes.
    Closed,
    /// The peer reset the connection (RST).
    Reset,
    /// Nothing arrived within `--idle-timeout`.
    Timeout,
    /// The peer broke the framing (an oversized or truncated frame).
    Protocol,
    /// The server is shutting down.
    Shutdown,
    /// Any other I/O failure.
    Error,
    /// `--broker`: the client read too slowly and fell `BROKER_BACKLOG` behind.
    Slow,
}

impl Reason {
    pub fn describe(self) -> &'static str {
        match self {
            Reason::Closed => "closed by peer (recv returned 0 bytes)",
            Reason::Reset => "connection reset by peer",
            Reason::Timeout => "idle timeout",
            Reason::Protocol => "protocol error",
            Reason::Shutdown => "server shutting down",
            Reason::Error => "error",
            Reason::Slow => "too slow to read what the others sent",
        }
    }
}

/// Everything a command reports. Serialized with the variant name as the first field,
/// `event`; the fields are the NDJSON contract of DESIGN.md.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A server is bound; always the first line it prints.
    Listening { proto: Proto, addr: SocketAddr },
    /// `-v`: a socket's attributes and options.
    Socket(SocketInfo),
    /// A client connected to a server (`clients` counts it).
    Connect { peer: SocketAddr, clients: usize },
    /// A client refused because the server already holds `--max-clients`.
    Rejected { peer: SocketAddr, reason: String },
    /// A client is connected to `peer`.
    Connected { peer: SocketAddr, local: SocketAddr },
    /// One framed message arrived: `bytes` of payload (what `text`/`base64` hold);
    /// `wire`, when framing added to it, counts what the wire carried (the delimiter,
    /// a CR before `\n`, or the 4-byte length prefix included).
    Message {
        peer: SocketAddr,
        bytes: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        wire: Option<usize>,
        #[serde(flatten)]
        payload: Payload,
    },
    /// A line longer than the limit arrived; it was dropped and the stream goes on.
    Oversized { peer: SocketAddr, max: usize },
    /// A server answered a message (`bytes` and `wire` as for `Message`).
    Reply {
        peer: SocketAddr,
        bytes: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        wire: Option<usize>,
        #[serde(flatten)]
        payload: Payload,
    },
    /// Advice on a likely mistake noticed while running (a peer that sends no
    /// delimiters in `line` framing, say).
    Hint { peer: SocketAddr, message: String },
    /// A connection ended.
    Disconnect {
        peer: SocketAddr,
        reason: Reason,
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// The server stopped accepting; `clients` were still connected and are told.
    Shutdown { clients: usize },
    /// Something went wrong that does not stop the command.
    Warning { message: String },
    /// `send` can be reached at `addr` (as bound); `addrs` are what a receiver can type:
    /// this machine's interface addresses with that port. Receivers need `code` (none
    /// with `--raw`).
    Ready {
        addr: SocketAddr,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        addrs: Vec<SocketAddr>,
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<String>,
    },
    /// `recv` listens for the announcement of the sender whose code starts with
    /// `nameplate`, on UDP `port`, for at most `timeout_s` seconds.
    Looking {
        nameplate: u32,
        port: u16,
        timeout_s: f64,
    },
    /// Both sides proved they know the code.
    Verified {
        peer: SocketAddr,
        encrypted: bool,
        verify: String,
    },
    /// A file was written and verified (`recv`) or sent (`send`).
    File {
        path: String,
        bytes: u64,
        blake3: String,
        /// Bytes that were already there from an earlier, interrupted transfer.
        #[serde(skip_serializing_if = "is_zero")]
        resumed: u64,
        /// The file was already there, identical; nothing was sent.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        unchanged: bool,
        /// SHA-256 as well (`--raw`, both sides), for comparing with `sha256sum` or `hashlib`.
        #[serde(skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
    },
    /// A transfer's progress, about once a second (`--json`).
    Progress {
        bytes: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        total: Option<u64>,
        files: u64,
        files_total: u64,
        rate: f64,
    },
    /// A transfer finished: totals and the mean rate in bytes per second. Of `bytes`,
    /// `existing` were already on the receiver (resumed, identical) and are not in `rate`.
    Done {
        files: u64,
        bytes: u64,
        #[serde(skip_serializing_if = "is_zero")]
        existing: u64,
        #[serde(serialize_with = "microseconds")]
        seconds: f64,
        rate: f64,
    },
    /// One UDP datagram arrived. `bytes` were kept; when `truncated`, `size` is its real
    /// length (the rest did not fit the receive buffer and is lost).
    Datagram {
        peer: SocketAddr,
        bytes: usize,
        #[serde(flatten)]
        payload: Payload,
        truncated: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        size: Option<usize>,
    },
    /// One datagram was sent to `to`.
    Sent { to: SocketAddr, bytes: usize },
    /// A datagram receiver stopped; what it took in. `bytes` were kept; when some
    /// datagrams were `truncated`, `size` is what their senders really sent.
    Totals {
        datagrams: u64,
        bytes: u64,
        truncated: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        size: Option<u64>,
        /// Datagrams that never arrived: the kernel dropped them, the socket's receive
        /// queue being full (`SO_RXQ_OVFL`). Not the printer's `dropped`.
        dropped_by_kernel: u64,
    },
    /// The kernel dropped `datagrams` for this socket since the last such event (its
    /// receive queue was full; `total` so far). At most one a second.
    KernelDropped { datagrams: u64, total: u64 },
    /// Output was slower than the input: this many events, carrying `bytes` of payload,
    /// were not printed (`printer::OUTPUT_BUDGET`). Printed once output has caught up.
    Dropped { events: u64, bytes: u64 },
    /// `http dump`: the bytes of one request exactly as received (the first
    /// `http::dump::SHOWN` of them; `bytes` counts all).
    Dump {
        peer: SocketAddr,
        bytes: usize,
        #[serde(flatten)]
        payload: Payload,
        /// People see a hex dump instead of escaped lines (`--hex`).
        #[serde(skip)]
        hex: bool,
    },
    /// One HTTP request answered: `bytes` is the response body's size.
    Request {
        peer: SocketAddr,
        method: String,
        path: String,
        status: u16,
        bytes: u64,
        #[serde(serialize_with = "three_decimals")]
        duration_ms: f64,
    },
    /// `tour`: one lesson ran; `ok` when everything happened as `explanation` says.
    Lesson {
        topic: String,
        ok: bool,
        title: String,
        steps: Vec<String>,
        explanation: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        failures: Vec<String>,
    },
}

/// Milliseconds to the microsecond (`duration_ms`): `0.1`, not the float's every digit
/// (`0.10011800000000001`).
fn three_decimals<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((v * 1000.0).round() / 1000.0)
}

/// Seconds to the microsecond (`seconds`), precise enough to recompute a short
/// transfer's rate from.
fn microseconds<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((v * 1e6).round() / 1e6)
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Event {
    /// A message event sharing the message's bytes (no copy).
    pub fn message(peer: SocketAddr, bytes: Bytes) -> Self {
        Event::Message {
            peer,
            bytes: bytes.len(),
            wire: None,
            payload: Payload::shared(bytes),
        }
    }

    /// A reply event sharing the reply's bytes (no copy).
    pub fn reply(peer: SocketAddr, bytes: Bytes) -> Self {
        Event::Reply {
            peer,
            bytes: bytes.len(),
            wire: None,
            payload: Payload::shared(bytes),
        }
    }

    /// A `message` or `reply` that took `on_wire` bytes on the wire (shown when framing
    /// made that differ from its payload).
    pub fn on_wire(mut self, on_wire: usize) -> Self {
        if let Event::Message { bytes, wire, .. } | Event::Reply { bytes, wire, .. } = &mut self {
            *wire = (on_wire != *bytes).then_some(on_wire);
        }
        self
    }

    /// A datagram of which `bytes` were kept out of `size` on the wire.
    pub fn datagram(peer: SocketAddr, bytes: &[u8], size: usize) -> Self {
        let truncated = size > bytes.len();
        Event::Datagram {
            peer,
            bytes: bytes.len(),
            payload: Payload::new(bytes),
            truncated,
            size: truncated.then_some(size),
        }
    }

    pub fn warning(message: impl Into<String>) -> Self {
        Event::Warning {
            message: message.into(),
        }
    }

    /// One line for people, without colour.
    pub fn human(&self) -> String {
        self.to_string()
    }
}

/// The line for people, written straight into the printer's buffer (no intermediate
/// strings: a busy server prints one of these per message).
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Listening { proto, addr } => write!(f, "listening on {}://{addr}", proto.as_str()),
            Event::Socket(info) => write!(f, "{info}"),
            Event::Connect { peer, clients } => {
                write!(f,
                    "[{peer}] connected ({clients} {})",
                    Plural(*clients, "client")
                )
            }
            Event::Rejected { peer, reason } => write!(f, "[{peer}] rejected: {reason}"),
            Event::Connected { peer, local } => write!(f, "connected to {peer} from {local}"),
            Event::Message {
                peer,
                bytes,
                wire,
                payload,
            } => {
                write!(f,
                    "[{peer}] {bytes} {}{}: {}",
                    Plural(*bytes, "byte"),
                    OnWire(*wire),
                    Preview(payload.raw())
                )
            }
            Event::Oversized { peer, max } => {
                write!(f, "[{peer}] message over the {max}-byte limit dropped")
            }
            Event::Reply {
                peer,
                bytes,
                wire,
                payload,
            } => {
                write!(f,
                    "[{peer}] replied {bytes} {}{}: {}",
                    Plural(*bytes, "byte"),
                    OnWire(*wire),
                    Preview(payload.raw())
                )
            }
            // Built by sockit from parts it escaped already (a delimiter, say).
            Event::Hint { peer, message } => write!(f, "[{peer}] hint: {message}"),
            Event::Disconnect {
                peer,
                reason,
                detail,
            } => match detail {
                Some(d) => write!(f,
                    "[{peer}] disconnected: {}: {}",
                    reason.describe(),
                    Escaped(d.as_bytes())
                ),
                None => write!(f, "[{peer}] disconnected: {}", reason.describe()),
            },
            Event::Shutdown { clients } => {
                write!(f,
                    "shutting down: telling {clients} {}",
                    Plural(*clients, "client")
                )
            }
            Event::Warning { message } => write!(f, "warning: {}", Escaped(message.as_bytes())),
            Event::Ready { addr, addrs, code } => ready(f, *addr, addrs, code.as_deref()),
            Event::Looking { nameplate, port, timeout_s } => write!(f,
                "looking for a sender with code {nameplate}-… on UDP port {port} (up to {timeout_s:.0} s; Ctrl-C stops)"
            ),
            Event::Verified { peer, encrypted, verify } => write!(f,
                "[{peer}] code verified, {} (verification words: {verify})",
                if *encrypted { "encrypted" } else { "NOT encrypted (--plain)" }
            ),
            Event::File { path, bytes, blake3, resumed, unchanged, sha256 } => {
                let note = if *unchanged {
                    " (already there, identical)".to_owned()
                } else if *resumed > 0 {
                    format!(" (resumed after {})", human_bytes(*resumed as f64))
                } else {
                    String::new()
                };
                write!(f, "{} {} blake3:{}", Escaped(path.as_bytes()), human_bytes(*bytes as f64), &blake3[..blake3.len().min(16)])?;
                if let Some(sha) = sha256 {
                    write!(f, " sha256:{}", &sha[..sha.len().min(16)])?;
                }
                f.write_str(&note)
            }
            Event::Progress { bytes, total, files, files_total, rate } => write!(f,
                "{}{} {files}/{files_total} {} {}/s",
                human_bytes(*bytes as f64),
                total.map(|t| format!(" of {}", human_bytes(t as f64))).unwrap_or_default(),
                Plural(*files_total as usize, "file"),
                human_bytes(*rate)
            ),
            Event::Done { files, bytes, existing, seconds, rate } => {
                write!(f,
                    "done: {files} {} {} in {seconds:.2} s (",
                    Plural(*files as usize, "file"),
                    human_bytes(*bytes as f64),
                )?;
                if *existing > 0 {
                    write!(f, "{} of it already here; ", human_bytes(*existing as f64))?;
                }
                write!(f, "{}/s)", human_bytes(*rate))
            }
            Event::Datagram {
                peer,
                bytes,
                payload,
                size,
                ..
            } => match size {
                Some(size) => write!(f,
                    "[{peer}] {bytes} of {size} bytes (truncated: larger than the buffer): {}",
                    Preview(payload.raw())
                ),
                None => write!(f,
                    "[{peer}] {bytes} {}: {}",
                    Plural(*bytes, "byte"),
                    Preview(payload.raw())
                ),
            },
            Event::Sent { to, bytes } => {
                write!(f, "sent {bytes} {} to {to}", Plural(*bytes, "byte"))
            }
            Event::Totals {
                datagrams,
                bytes,
                truncated,
                size: Some(size),
                dropped_by_kernel,
            } => write!(f,
                "stopped: {datagrams} {}, {bytes} of {size} bytes kept ({truncated} truncated: \
                 larger than the buffer){}",
                Plural(*datagrams as usize, "datagram"),
                KernelLoss(*dropped_by_kernel),
            ),
            Event::Totals {
                datagrams,
                bytes,
                size: None,
                dropped_by_kernel,
                ..
            } => write!(f,
                "stopped: {datagrams} {}, {bytes} {} received (0 truncated){}",
                Plural(*datagrams as usize, "datagram"),
                Plural(*bytes as usize, "byte"),
                KernelLoss(*dropped_by_kernel),
            ),
            Event::KernelDropped { datagrams, total } => write!(
                f,
                "the kernel dropped {datagrams} {} (receive queue full; {total} in all): \
                 raise --rcvbuf or send more slowly",
                Plural(*datagrams as usize, "datagram"),
            ),
            Event::Dropped { events, bytes } => write!(
                f,
                "output is slower than the input: {events} {} ({}) not shown",
                Plural(*events as usize, "event"),
                human_bytes(*bytes as f64)
            ),
            Event::Dump {
                peer,
                bytes,
                payload,
                hex,
            } => f.write_str(&crate::output::dump::dump(*peer, *bytes, payload, *hex)),
            Event::Request {
                peer,
                method,
                path,
                status,
                bytes,
                duration_ms,
            } => write!(f,
                "[{peer}] {} {} -> {status} ({bytes} {}, {duration_ms:.1} ms)",
                Escaped(method.as_bytes()),
                Escaped(path.as_bytes()),
                Plural(*bytes as usize, "byte")

            ),
            Event::Lesson {
                topic,
                ok: true,
                ..
            } => write!(f, "  ✓ {topic}: ok"),
            Event::Lesson {
                topic, failures, ..
            } => write!(f,
                "  ✗ {topic}: FAILED: {}",
                Escaped(failures.join("; ").as_bytes())
            ),
        }
    }
}

impl Event {
    pub(crate) fn colour(&self) -> &'static str {
        match self {
            Event::Listening { .. } | Event::Connected { .. } | Event::Connect { .. } => GREEN,
            Event::Reply { .. } | Event::Socket(_) | Event::Progress { .. } => DIM,
            Event::Looking { .. } => DIM,
            Event::Ready { .. }
            | Event::Verified { .. }
            | Event::File { .. }
            | Event::Done { .. } => GREEN,
            Event::Message { .. }
            | Event::Datagram {
                truncated: false, ..
            } => "",
            Event::Sent { .. } | Event::Totals { .. } => DIM,
            Event::Dump { .. } => "",
            Event::Request { status, .. } if *status < 400 => DIM,
            Event::Lesson { ok: true, .. } => GREEN,
            _ => YELLOW,
        }
    }
}

/// How wide the lines of `ready` may be: a terminal's 80 columns.
const READY_WIDTH: usize = 80;

/// `ready` for people: what to run on the other machine, by code and by address, in
/// lines that fit 80 columns (for generated codes and IPv4 addresses).
fn ready(
    f: &mut fmt::Formatter<'_>,
    addr: SocketAddr,
    addrs: &[SocketAddr],
    code: Option<&str>,
) -> fmt::Result {
    let first = addrs.first().copied().unwrap_or(addr);
    match code {
        Some(code) => {
            write!(
                f,
                "ready: on the other machine run `sockit recv --code {code}`"
            )?;
            write!(f, "\n  or `sockit recv {first} --code {code}`")?;
        }
        None => write!(
            f,
            "ready: serving the raw bytes to whoever connects: `sockit recv --raw {first}`"
        )?,
    }
    let mut also = String::new();
    for (i, a) in addrs.iter().skip(1).enumerate() {
        let item = if i == 0 {
            format!("{}", a.ip())
        } else {
            format!(", {}", a.ip())
        };
        if "\n  (also )".len() + also.len() + item.len() + 3 > READY_WIDTH {
            also.push_str(", …");
            break;
        }
        also.push_str(&item);
    }
    if !also.is_empty() {
        write!(f, "\n  (also {also})")?;
    }
    Ok(())
}

const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const DIM: &str = "\x1b[2m";
pub(crate) const RESET: &str = "\x1b[0m";

/// `1.5 MiB`: bytes in binary units with one decimal.
pub fn human_bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `word`, or `words` unless `n` is one.
struct Plural<'a>(usize, &'a str);

impl fmt::Display for Plural<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.1)?;
        if self.0 != 1 {
            f.write_str("s")?;
        }
        Ok(())
    }
}

/// `; N more dropped by the kernel …` after totals, or nothing when none were.
struct KernelLoss(u64);

impl fmt::Display for KernelLoss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => Ok(()),
            n => write!(f, "; {n} more dropped by the kernel (receive queue full)"),
        }
    }
}

/// Bytes shown safely on a terminal: printable UTF-8 stays, control characters become
/// escapes (`\n`, `\u{1b}`), and invalid UTF-8 becomes `\xNN`.
pub struct Escaped<'a>(pub &'a [u8]);

/// Characters that change how text reads without being seen: the bidirectional
/// controls (U+202E shows `invoice\u{202e}txt.exe` as `invoiceexe.txt`) and invisible
/// format characters (zero-width space, word joiner, soft hyphen, BOM, tags). The
/// zero-width joiner and non-joiner (U+200C, U+200D) are not among them: several
/// scripts and emoji sequences need them. `Escaped` shows these as `\u{…}`, and
/// `recv` refuses names holding them.
pub fn is_deceptive(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}' | '\u{200E}' | '\u{200F}'
        | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}' | '\u{E0000}'..='\u{E007F}')
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Most payloads are plain printable ASCII: written whole, without the walk by char.
        if self
            .0
            .iter()
            .all(|&b| (0x20..0x7f).contains(&b) && b != b'\\')
        {
            return f.write_str(std::str::from_utf8(self.0).expect("printable ASCII is UTF-8"));
        }
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                if c.is_control() || c == '\\' {
                    write!(f, "{}", c.escape_debug())?;
                } else if is_deceptive(c) {
                    write!(f, "{}", c.escape_unicode())?;
                } else {
                    f.write_char(c)?;
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// How much of a payload people see: a 1 MB line is one line of about this many
/// characters, not a screenful; `--json` keeps every byte.
pub const PREVIEW: usize = 200;

/// A payload shown to people: the first `PREVIEW` bytes [`Escaped`] (never cutting a
/// UTF-8 character), then `… (N more bytes)`.
pub struct Preview<'a>(pub &'a [u8]);

impl fmt::Display for Preview<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() <= PREVIEW {
            return Escaped(self.0).fmt(f);
        }
        // Back up over UTF-8 continuation bytes (at most 3) to a character's start.
        let mut cut = PREVIEW;
        while cut > PREVIEW - 3 && (self.0[cut] & 0xc0) == 0x80 {
            cut -= 1;
        }
        let rest = self.0.len() - cut;
        write!(
            f,
            "{}… ({rest} more {})",
            Escaped(&self.0[..cut]),
            Plural(rest, "byte")
        )
    }
}

/// ` (6 on the wire)` when framing made the wire carry more than the payload.
struct OnWire(Option<usize>);

impl fmt::Display for OnWire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => write!(f, " ({n} on the wire)"),
            None => Ok(()),
        }
    }
}

/// [`Escaped`] as a `String`.
pub fn escape(bytes: &[u8]) -> String {
    Escaped(bytes).to_string()
}

#[cfg(test)]
#[path = "event_tests.rs"]
mod tests;
