//! `Event`, everything a command reports, and its NDJSON form (`--json`, `event` first;
//! docs/events.md). How each reads for people is in `human.rs`.

use std::net::SocketAddr;

use base64::Engine as _;
use bytes::Bytes;
use serde::Serialize;

use super::perf::{PerfEnd, PerfInterval, PerfLatency, PerfMember, PerfStart};
use super::SocketInfo;

/// The transport a server listens on, as shown in `listening on tcp://…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
    Http,
    /// HTTP over TLS.
    Https,
    /// TCP with TLS (`tcp serve --tls`).
    Tls,
}

impl Proto {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Http => "http",
            Proto::Https => "https",
            Proto::Tls => "tls",
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
    /// A TLS server's certificate: what a client must trust, and where it is kept.
    Certificate {
        /// SHA-256 of the certificate, `AB:CD:…` (as `openssl x509 -fingerprint -sha256`).
        fingerprint: String,
        /// The public key's pin, `sha256//BASE64` (curl's `--pinnedpubkey`).
        pin: String,
        /// The DNS names it is for, and which of this machine's addresses.
        names: Vec<String>,
        self_signed: bool,
        path: String,
    },
    /// A client connected to a server (`clients` counts it).
    Connect { peer: SocketAddr, clients: usize },
    /// A client refused because the server already holds `--max-clients`.
    Rejected { peer: SocketAddr, reason: String },
    /// A client is connected to `peer`.
    Connected { peer: SocketAddr, local: SocketAddr },
    /// A client's TLS session with `peer`: what was agreed, and the server's
    /// certificate (verified against trusted ones, or not with `--tls-insecure`).
    Tls {
        peer: SocketAddr,
        version: String,
        cipher: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        alpn: Option<String>,
        fingerprint: String,
        verified: bool,
    },
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
    /// `send --wormhole`: the code to give the receiver; `mailbox` is the server it is
    /// valid on.
    WormholeCode { code: String, mailbox: String },
    /// Both wormhole sides hold the same key. `verifier` is the same on both sides
    /// unless someone in the middle guessed the code; `peer` is the other client
    /// (`sockit 0.1.0`, or `another wormhole client`).
    WormholeVerified { verifier: String, peer: String },
    /// `recv --wormhole`: the text message received.
    Text {
        bytes: usize,
        #[serde(flatten)]
        payload: Payload,
    },
    /// `send --wormhole --text`: the receiver acknowledged the text.
    TextSent { bytes: usize },
    /// The wormhole's transit connection: `path` is `direct` or `relay`; `peer` is
    /// the peer's address (direct) or the relay's (relay).
    Transit { path: String, peer: String },
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
        /// `http serve --auth`: the user name the request's credentials gave (logged in,
        /// or with 401 and 429 not).
        #[serde(skip_serializing_if = "Option::is_none")]
        user: Option<String>,
    },
    /// `http serve --auth`: a client used the last failed login it is allowed for now;
    /// its requests with credentials get 429 for `retry_after_s` seconds.
    LoginLimited {
        peer: SocketAddr,
        /// Failed logins from this client (its IPv6 /64) since it last had its whole
        /// allowance.
        failures: u64,
        retry_after_s: u64,
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
    /// `http dump --tls-client-hello`: a connection's ClientHello.
    ClientHello(Box<super::tls::ClientHelloSeen>),
    /// `perf`: a test begins.
    PerfStart(Box<PerfStart>),
    /// `perf`: one interval of one direction.
    PerfInterval(Box<PerfInterval>),
    /// `perf`: a direction's totals at the end of a test.
    PerfEnd(Box<PerfEnd>),
    /// `perf --latency`: round trips over an interval or the whole test.
    PerfLatency(Box<PerfLatency>),
    /// `perf --multicast`: what one group member received.
    PerfMember(Box<PerfMember>),
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
