//! The parameters the client sends after PARAM_EXCHANGE (section 3.2), as one typed
//! message that serialises the way iperf3 3.12 writes it and parses whatever it reads.
//!
//! Two quirks of iperf3 are kept in the types:
//! - a boolean option is ON when its key is merely present, whatever the value (a 3.12
//!   server given `"reverse": false` ran a reverse test). So every flag field is a plain
//!   `bool` that is omitted when false (`skip_serializing_if`) and read as true when the
//!   key is there at all (`deserialize_with = "present"`, which ignores the value, even
//!   `false` or `null`);
//! - keys iperf3 does not know are ignored (newer versions add some), and so are keys we
//!   do not know: there is no `deny_unknown_fields`.
//!
//! Keys 3.12 always sends default, when absent, to what a 3.12 server assumes (a 3.12
//! server given `{}` ran a 10 s TCP test). Fields are in the order 3.12 writes them, so a
//! client of ours writes the same bytes as iperf3 for the same options.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The write size of a TCP test without `len` (iperf3's `DEFAULT_TCP_BLKSIZE`).
pub const DEFAULT_TCP_LEN: u64 = 128 * 1024;
/// The datagram size of a UDP test without `len`: a 3.12 client always sends `len` (its
/// control connection's MSS), so this matters only for other clients; it is iperf3's
/// `DEFAULT_UDP_BLKSIZE`.
pub const DEFAULT_UDP_LEN: u64 = 1460;
/// The smallest and largest UDP `len` (the header must fit; the largest IPv4 payload).
pub const MIN_UDP_LEN: u64 = 16;
pub const MAX_UDP_LEN: u64 = 65507;

/// The transport of the data streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Exactly one of `tcp`, `udp`, `sctp` is sent, as `true`; see `protocol()`.
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "present",
        serialize_with = "as_true"
    )]
    pub tcp: bool,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "present",
        serialize_with = "as_true"
    )]
    pub udp: bool,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "present",
        serialize_with = "as_true"
    )]
    pub sctp: bool,
    /// Seconds run first and left out of every figure (`-O`). Always sent.
    #[serde(default, deserialize_with = "number")]
    pub omit: u64,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "some_number"
    )]
    pub server_affinity: Option<u32>,
    /// Seconds; always sent (0 when the test ends by `num` or `blockcount`).
    #[serde(default = "default_time", deserialize_with = "number")]
    pub time: u64,
    /// End after this many bytes over all streams; 0 = unset. Always sent by 3.12.
    #[serde(default, deserialize_with = "number")]
    pub num: u64,
    /// End after this many blocks over all streams; 0 = unset. Always sent by 3.12.
    #[serde(default, deserialize_with = "number")]
    pub blockcount: u64,
    #[serde(
        rename = "MSS",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "some_number"
    )]
    pub mss: Option<u32>,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "present",
        serialize_with = "as_true"
    )]
    pub nodelay: bool,
    /// Streams per direction. Always sent.
    #[serde(default = "default_parallel", deserialize_with = "number")]
    pub parallel: u32,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "present",
        serialize_with = "as_true"
    )]
    pub reverse: bool,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "present",
        serialize_with = "as_true"
    )]
    pub bidirectional: bool,
    /// The server's SO_SNDBUF/SO_RCVBUF, bytes.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "some_number"
    )]
    pub window: Option<u64>,
    /// Write (TCP) or datagram (UDP) size; always sent by 3.12. See `block_len()`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "some_number"
    )]
    pub len: Option<u64>,
    /// Bit/s per sending stream; sent when not 0 (UDP always).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "some_number"
    )]
    pub bandwidth: Option<u64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "some_number"
    )]
    pub fqrate: Option<u64>,
    /// µs between pacing decisions. Always sent.
    #[serde(default = "default_pacing_timer", deserialize_with = "number")]
    pub pacing_timer: u64,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "some_number"
    )]
    pub burst: Option<u64>,
    #[serde(
        rename = "TOS",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "some_number"
    )]
    pub tos: Option<u32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "some_number"
    )]
    pub flowlabel: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub congestion: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub congestion_used: Option<String>,
    /// The integer flags: 3.12 sends these as `1`, and a server checks presence only.
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "present",
        serialize_with = "as_one"
    )]
    pub get_server_output: bool,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "present",
        serialize_with = "as_one"
    )]
    pub udp_counters_64bit: bool,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "present",
        serialize_with = "as_one"
    )]
    pub repeating_payload: bool,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "present",
        serialize_with = "as_one"
    )]
    pub zerocopy: bool,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "present",
        serialize_with = "as_one"
    )]
    pub dont_fragment: bool,
    /// RSA-encrypted credentials (section 3.3); sockit does not implement them, and a
    /// server of ours should refuse a test that carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authtoken: Option<String>,
    /// Informative only. Always sent by 3.12 (`"3.12"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_version: Option<String>,
    /// sockit's additions (docs/perf-protocol.md, "sockit's additions"), which an
    /// iperf3 server ignores: the client's sockit version, so a sockit server knows its
    /// peer, and `--latency` (round trips: the server sends back what arrives).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sockit: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "present",
        serialize_with = "as_one"
    )]
    pub sockit_latency: bool,
}

impl Params {
    /// The parameters a 3.12 client sends with no options but the transport: `time` 10,
    /// one stream, the default `len`, UDP at 1 Mbit/s (iperf3's default UDP rate).
    pub fn new(protocol: Protocol) -> Params {
        let mut p = Params {
            time: default_time(),
            parallel: default_parallel(),
            pacing_timer: default_pacing_timer(),
            ..Params::default()
        };
        p.set_protocol(protocol);
        p.len = Some(p.block_len());
        if protocol == Protocol::Udp {
            p.bandwidth = Some(1024 * 1024);
        }
        p
    }

    /// The transport as a 3.12 server decides it: it checks `tcp`, then `udp`, then
    /// `sctp`, each one present overriding the one before, and TCP when none is there.
    pub fn protocol(&self) -> Protocol {
        if self.sctp {
            Protocol::Sctp
        } else if self.udp {
            Protocol::Udp
        } else {
            Protocol::Tcp
        }
    }

    pub fn set_protocol(&mut self, protocol: Protocol) {
        self.tcp = protocol == Protocol::Tcp;
        self.udp = protocol == Protocol::Udp;
        self.sctp = protocol == Protocol::Sctp;
    }

    /// `len`, or the default for the transport when the client sent none.
    pub fn block_len(&self) -> u64 {
        self.len.unwrap_or(match self.protocol() {
            Protocol::Udp => DEFAULT_UDP_LEN,
            Protocol::Tcp | Protocol::Sctp => DEFAULT_TCP_LEN,
        })
    }

    /// Streams the server receives on, then those it sends on (section 4.1): the first
    /// `receiving` streams to arrive are the server's receiving ones.
    pub fn server_streams(&self) -> (u32, u32) {
        let n = self.parallel;
        match (self.bidirectional, self.reverse) {
            (true, _) => (n, n),
            (false, true) => (0, n),
            (false, false) => (n, 0),
        }
    }
}

fn default_time() -> u64 {
    10
}

fn default_parallel() -> u32 {
    1
}

fn default_pacing_timer() -> u64 {
    1000
}

/// A count or size as a 3.12 server reads it: any JSON number, a fraction cut off (it
/// keeps cJSON's `valueint`), so `2.5` s is 2 s. Unlike iperf3, a negative number or one
/// too large for the field is refused instead of wrapping in a C `int`.
fn number<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D) -> Result<T, D::Error> {
    use serde::de::Error;
    let v = serde_json::Number::deserialize(d)?;
    let whole = match (v.as_u64(), v.as_f64()) {
        (Some(n), _) => Some(n),
        (None, Some(f)) if f >= 0.0 && f < u64::MAX as f64 => Some(f as u64),
        _ => None,
    };
    whole
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| D::Error::custom(format!("{v} is not a count this field can hold")))
}

fn some_number<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D) -> Result<Option<T>, D::Error> {
    number(d).map(Some)
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Present means on: the value is read and thrown away (iperf3 never looks at it).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d)?;
    Ok(true)
}

fn as_true<S: Serializer>(_: &bool, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bool(true)
}

fn as_one<S: Serializer>(_: &bool, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u8(1)
}

#[cfg(test)]
#[path = "params_tests.rs"]
mod tests;
