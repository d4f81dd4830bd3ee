//! The figures of `perf` events (`perf_start`, `perf_interval`, `perf_end`,
//! `perf_latency`, `perf_member`; docs/events.md). How they read as a table for people
//! is in `perf_table.rs`.

use serde::{Deserialize, Serialize};

/// Which side of a test this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Client,
    Server,
}

/// The direction figures are about, seen from this side: the streams it sends on or
/// those it receives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Way {
    Send,
    Recv,
}

/// What a test is, as `perf_start` tells it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestInfo {
    /// `tcp` or `udp`.
    pub protocol: &'static str,
    /// Streams per direction.
    pub streams: u32,
    /// `normal` (the client sends), `reverse` or `bidir`.
    pub mode: &'static str,
    /// The test's length in seconds, when it ends by time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// The end condition in bytes (`--bytes`) or blocks, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocks: Option<u64>,
    /// Seconds run first and left out (`--omit`).
    pub omit: f64,
    /// Bytes per write or datagram.
    pub length: u64,
    /// Bits per second per stream; 0 = unpaced.
    pub bitrate: u64,
    /// `--window` as asked, and what the kernel really gave this side's data sockets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<u64>,
    pub sndbuf: u64,
    pub rcvbuf: u64,
    /// This side's TCP congestion control.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub congestion: Option<String>,
    /// `--latency`: round trips instead of a flow.
    pub latency: bool,
    pub cookie: String,
}

/// One stream's figures, or the sum of a direction's, over an interval. The optional
/// fields are there when they apply: TCP_INFO for TCP, counts for UDP.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    /// The stream's id (1, 3, 4, …); absent in a sum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<u32>,
    /// Seconds from the test's start (or from the end of `--omit`).
    pub start: f64,
    pub end: f64,
    pub bytes: u64,
    pub bits_per_second: f64,
    /// TCP sender: segments retransmitted in the interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retransmits: Option<u64>,
    /// TCP sender: the congestion window at the interval's end, bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwnd: Option<u64>,
    /// TCP: the smoothed RTT (sender) or the receiver's estimate of it, µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_us: Option<u32>,
    /// UDP: datagrams sent (sender) or the rise of the highest sequence number (receiver).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packets: Option<u64>,
    /// UDP receiver: datagrams missing in the interval, and their share of `packets`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost_percent: Option<f64>,
    /// UDP receiver: the jitter at the interval's end (RFC 3550), ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter_ms: Option<f64>,
    /// UDP receiver: datagrams that arrived late in the interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_of_order: Option<u64>,
    /// For `--iperf-json` only: TCP_INFO's rttvar (µs), peer window and path MTU.
    #[serde(skip)]
    pub rttvar_us: Option<u32>,
    #[serde(skip)]
    pub snd_wnd: Option<u32>,
    #[serde(skip)]
    pub pmtu: Option<u32>,
}

impl Figures {
    pub fn seconds(&self) -> f64 {
        self.end - self.start
    }
}

/// One side's totals for a direction at the end.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub seconds: f64,
    pub bytes: u64,
    pub bits_per_second: f64,
    /// TCP sender: retransmitted segments over the test.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retransmits: Option<u64>,
}

/// The UDP figures of a direction at the end, counted from sequence numbers against the
/// sender's count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UdpEnd {
    /// Datagrams the sender sent.
    pub sent: u64,
    /// Distinct datagrams that arrived.
    pub received: u64,
    /// `sent − received` (when this side received; the peer's count otherwise).
    pub lost: u64,
    pub lost_percent: f64,
    pub out_of_order: u64,
    /// Datagrams that arrived twice (a receiver of ours; 0 from iperf3).
    pub duplicates: u64,
    pub jitter_ms: f64,
}

/// RTT over a test from TCP_INFO samples (one per interval and stream), µs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RttRange {
    pub min_us: u32,
    pub mean_us: u32,
    pub max_us: u32,
}

/// CPU use over the test, in percent of one CPU: this side's stream threads, and what
/// the peer reported for itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct CpuUse {
    pub local: f64,
    pub local_user: f64,
    pub local_system: f64,
    pub remote: f64,
    pub remote_user: f64,
    pub remote_system: f64,
}

/// A stream's end figures: what its sender and its receiver counted.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StreamEnd {
    pub stream: u32,
    pub sender: Totals,
    pub receiver: Totals,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub udp: Option<UdpEnd>,
    /// TCP, this side sending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt: Option<RttRange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_cwnd: Option<u64>,
    /// For `--iperf-json` only: the largest peer window seen.
    #[serde(skip)]
    pub max_snd_wnd: Option<u32>,
}

/// Round trips (`--latency`) over an interval or the whole test.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Latency {
    pub start: f64,
    pub end: f64,
    /// Round trips completed.
    pub transactions: u64,
    pub per_second: f64,
    pub min_us: f64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    /// UDP: requests whose answer never came (`LATENCY_UDP_WAIT`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost: Option<u64>,
}

/// What one member of a multicast group received from a `perf --multicast` sender.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub seconds: f64,
    pub bytes: u64,
    pub bits_per_second: f64,
    #[serde(flatten)]
    pub udp: UdpEnd,
}

/// `perf_start`: a test begins (the client is connected; the server has the parameters).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerfStart {
    /// The other side (the server, or the client's control connection).
    pub peer: std::net::SocketAddr,
    pub role: Role,
    /// `perf serve`: the test's number, counted from 1 since the server started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<u64>,
    #[serde(flatten)]
    pub info: TestInfo,
}

/// `perf_interval`: one interval of one direction: the sum, and each stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerfInterval {
    pub peer: std::net::SocketAddr,
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<u64>,
    pub dir: Way,
    /// Within `--omit`: left out of every total.
    pub omitted: bool,
    /// Both ways at once (`--bidir`): people see the rows tagged TX and RX.
    #[serde(skip)]
    pub bidir: bool,
    #[serde(flatten)]
    pub sum: Figures,
    pub streams: Vec<Figures>,
}

/// `perf_end`: a direction's totals, as its sender and its receiver counted them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerfEnd {
    pub peer: std::net::SocketAddr,
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<u64>,
    pub dir: Way,
    pub sender: Totals,
    pub receiver: Totals,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub udp: Option<UdpEnd>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt: Option<RttRange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_cwnd: Option<u64>,
    pub cpu: CpuUse,
    pub streams: Vec<StreamEnd>,
}

/// `perf_latency`: round trips over an interval, or over the whole test (`final`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerfLatency {
    pub peer: std::net::SocketAddr,
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<u64>,
    #[serde(rename = "final")]
    pub last: bool,
    #[serde(flatten)]
    pub figures: Latency,
}

/// `perf_member`: what one group member received from a multicast sender.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerfMember {
    /// The member that reports (sender side) or the sender heard from (member side).
    pub peer: std::net::SocketAddr,
    pub group: std::net::SocketAddr,
    #[serde(flatten)]
    pub figures: Member,
}
