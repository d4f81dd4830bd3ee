//! `perf`: measure a link as iperf3 does, speaking its protocol (docs/perf-protocol.md),
//! with what iperf3 lacks: many tests at once on one server, multicast, round-trip
//! latency, and UDP losses counted exactly. Section numbers in comments are those of
//! docs/perf-protocol.md.
//!
//! The protocol: `proto` (cookie, states, length-prefixed JSON), `params`, `results`,
//! `udp` (datagram header, hello, loss and jitter), `i_errno`. A test: `plan` (what the
//! parameters mean to each side), `stream` (a thread per data stream) and `flow` (its loops), `pace`, `clock`,
//! `latency`, `meter` (intervals and totals), `run` (a test while data flows), `summary`
//! and `end` (results and the end figures), `iperf_json` (`--iperf-json`). The sides:
//! `client`, `server` with `session` (one test) and `hub` (the UDP port), `multicast` (the
//! sender) and `member` (a group member's side).

pub mod client;
pub mod clock;
pub mod end;
pub mod flow;
pub mod hub;
pub mod i_errno;
pub mod iperf_json;
pub mod latency;
pub mod member;
pub mod meter;
pub mod multicast;
pub mod pace;
pub mod params;
pub mod plan;
pub mod proto;
pub mod results;
pub mod run;
pub mod server;
pub mod session;
pub mod sockopt;
pub mod stream;
pub mod summary;
pub mod udp;

use std::net::Ipv4Addr;
use std::time::Duration;

pub use params::{Params, Protocol};
pub use proto::{
    read_cookie, read_json, read_server_error, read_state, write_cookie, write_json, write_state,
    Cookie, ProtoError, State, COOKIE_LEN, MAX_JSON,
};
pub use results::{Results, StreamResult};
pub use udp::{Header, UdpStats};

use crate::ctx::Ctx;
use crate::net::addr::Endpoint;

/// iperf3's port.
pub const DEFAULT_PORT: u16 = 5201;
/// iperf3's UDP rate when none is given: 1 Mbit/s per stream.
pub const DEFAULT_UDP_BITRATE: u64 = 1 << 20;

/// What `sockit perf HOST` is asked to do.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub target: Endpoint,
    pub udp: bool,
    /// How long the test runs (when no `bytes` or `blocks` end it).
    pub time: Duration,
    pub bytes: Option<u64>,
    pub blocks: Option<u64>,
    pub parallel: u32,
    pub reverse: bool,
    pub bidir: bool,
    /// Reports every this long; `None`: only the end.
    pub interval: Option<Duration>,
    /// Seconds run first and left out of every figure.
    pub omit: u64,
    /// Bytes per write, datagram or request.
    pub length: Option<u64>,
    /// Bits per second per stream.
    pub bitrate: Option<u64>,
    pub options: sockopt::DataOptions,
    pub zerocopy: bool,
    pub udp_64bit: bool,
    pub repeating_payload: bool,
    pub latency: bool,
    pub multicast: Option<multicast::Group>,
    pub iperf_json: bool,
    /// The longest wait for the connection and for each answer of the server.
    pub timeout: Duration,
}

impl ClientConfig {
    /// The parameters to send: those iperf3 3.12 sends for the same options, plus
    /// sockit's own keys (which iperf3 ignores). `control_mss` is the control
    /// connection's MSS, a UDP test's datagram size when none is given (as 3.12 does).
    pub fn params(&self, control_mss: Option<u32>) -> Params {
        let protocol = if self.udp {
            Protocol::Udp
        } else {
            Protocol::Tcp
        };
        let mut p = Params::new(protocol);
        p.omit = self.omit;
        let by_count = self.bytes.is_some() || self.blocks.is_some();
        p.time = if by_count {
            0
        } else {
            self.time.as_secs_f64().ceil() as u64
        };
        p.num = self.bytes.unwrap_or(0);
        p.blockcount = self.blocks.unwrap_or(0);
        p.parallel = self.parallel;
        p.reverse = self.reverse;
        p.bidirectional = self.bidir;
        p.window = self.options.window;
        p.nodelay = self.options.nodelay;
        p.mss = self.options.mss;
        p.congestion = self.options.congestion.clone();
        p.tos = self.options.tos;
        p.len = Some(match (self.length, self.latency, self.udp) {
            (Some(len), _, _) => len,
            (None, true, true) => params::MIN_UDP_LEN,
            (None, true, false) => 1,
            (None, false, true) => control_mss
                .map_or(params::DEFAULT_UDP_LEN, u64::from)
                .clamp(params::MIN_UDP_LEN, params::MAX_UDP_LEN),
            (None, false, false) => params::DEFAULT_TCP_LEN,
        });
        p.bandwidth = match (self.bitrate, self.udp && !self.latency) {
            (Some(0), _) | (None, false) => None,
            (Some(rate), _) => Some(rate),
            (None, true) => Some(DEFAULT_UDP_BITRATE),
        };
        p.udp_counters_64bit = self.udp_64bit;
        p.repeating_payload = self.repeating_payload;
        p.zerocopy = self.zerocopy;
        p.client_version = Some("3.12".into());
        p.sockit = Some(env!("CARGO_PKG_VERSION").into());
        p.sockit_latency = self.latency;
        p
    }
}

/// What `sockit perf serve` is asked to do.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub bind: Endpoint,
    /// Tests served at once; one more is answered "busy" (ACCESS_DENIED).
    pub max_clients: usize,
    /// Reports every this long.
    pub interval: Option<Duration>,
    /// Print each test's iperf3 `-J` document (one line per test) instead of events.
    pub iperf_json: bool,
    /// Serve one test, then exit (iperf3's `-1`).
    pub one_off: bool,
    /// Also be a member of this multicast group (`perf --multicast` senders).
    pub multicast: Option<Ipv4Addr>,
    pub iface: Option<String>,
}

/// `sockit perf HOST[:PORT]`.
pub async fn client(cfg: ClientConfig, ctx: Ctx) -> anyhow::Result<()> {
    match cfg.multicast.clone() {
        Some(group) => multicast::send(&cfg, group, ctx).await,
        None => client::run(cfg, ctx).await,
    }
}

/// `sockit perf serve`.
pub async fn serve(cfg: ServeConfig, ctx: Ctx) -> anyhow::Result<()> {
    server::serve(cfg, ctx).await
}
