//! The end of a test: this side's results for the exchange (section 6), and, with the
//! peer's, the figures of each direction (`perf_end`).
//!
//! UDP losses are counted from sequence numbers against the sender's count: a receiver
//! of ours sends its distinct arrivals beside iperf3's `errors` (`results::Exact`), and
//! a receiver that already knows the sender's count (a server, which reads the client's
//! results first) sends the exact loss as `errors`. From a stock iperf3 receiver only
//! its own `errors` are known, which miss losses at the end of a test (section 4.4).

use std::time::Duration;

use super::clock::Cpu;
use super::meter::{percent, rate, StreamTotal};
use super::results::{Exact, Results, StreamResult, HAS_RETRANSMITS, NOT_SENDER, NO_RETRANSMITS};
use super::stream::Dir;
use super::udp::UdpStats;
use crate::output::perf::{CpuUse, RttRange, StreamEnd, Totals, UdpEnd, Way};

/// CPU time as iperf3 reports it: percent of one CPU over the test's wall time.
pub fn cpu_share(cpu: Cpu, wall: Duration) -> (f64, f64, f64) {
    let secs = wall.as_secs_f64();
    if secs <= 0.0 {
        return (0.0, 0.0, 0.0);
    }
    let pct = |d: Duration| 100.0 * d.as_secs_f64() / secs;
    (pct(cpu.total()), pct(cpu.user), pct(cpu.system))
}

/// This side's results: one object per stream, in creation order. `peer` is the peer's
/// results when they came first (on the server), which gives a receiver the sender's
/// datagram count and so its exact losses.
pub fn results(
    totals: &[StreamTotal],
    cpu: (f64, f64, f64),
    congestion: Option<String>,
    udp: bool,
    peer: Option<&Results>,
) -> Results {
    let sends = totals.iter().any(|t| t.dir == Dir::Send);
    let sender_has_retransmits = match (sends, udp) {
        (false, _) => NOT_SENDER,
        (true, true) => NO_RETRANSMITS,
        (true, false) if totals.iter().any(|t| t.retransmits.is_some()) => HAS_RETRANSMITS,
        (true, false) => NO_RETRANSMITS,
    };
    let streams = totals
        .iter()
        .map(|t| {
            let u = t.udp.as_ref();
            let sent = peer
                .and_then(|p| p.streams.iter().find(|s| s.id == t.id))
                .map(|s| s.packets.max(0) as u64);
            StreamResult {
                id: t.id,
                bytes: t.bytes,
                retransmits: t.retransmits.map_or(NOT_SENDER, |r| r as i64),
                jitter: u.map_or(0.0, |u| u.jitter),
                errors: u.map_or(0, |u| match sent {
                    Some(sent) => u.exact_lost(sent),
                    None => u.errors,
                }) as i64,
                packets: match (udp, t.dir, u) {
                    (true, Dir::Send, _) => t.blocks as i64,
                    (true, Dir::Recv, Some(u)) => u.max_seq as i64,
                    _ => 0,
                },
                start_time: Some(0.0),
                end_time: Some(t.seconds),
                omitted_errors: None,
                omitted_packets: None,
                exact: u.map(|u| Exact {
                    sockit_unique: u.unique,
                    sockit_out_of_order: u.reordered(),
                    sockit_duplicates: u.duplicates,
                }),
            }
        })
        .collect();
    Results {
        cpu_util_total: cpu.0,
        cpu_util_user: cpu.1,
        cpu_util_system: cpu.2,
        sender_has_retransmits,
        congestion_used: if udp { None } else { congestion },
        streams,
        server_output_text: None,
        server_output_json: None,
    }
}

/// One direction's end: its streams and their sums.
pub struct DirectionEnd {
    pub way: Way,
    pub sender: Totals,
    pub receiver: Totals,
    pub udp: Option<UdpEnd>,
    pub rtt: Option<RttRange>,
    pub max_cwnd: Option<u64>,
    pub streams: Vec<StreamEnd>,
}

/// Both sides' view of each direction present in `totals`.
pub fn directions(totals: &[StreamTotal], peer: &Results, udp: bool) -> Vec<DirectionEnd> {
    let mut out = Vec::new();
    for (dir, way) in [(Dir::Send, Way::Send), (Dir::Recv, Way::Recv)] {
        let streams: Vec<StreamEnd> = totals
            .iter()
            .filter(|t| t.dir == dir)
            .map(|t| stream_end(t, peer.streams.iter().find(|s| s.id == t.id), udp))
            .collect();
        if streams.is_empty() {
            continue;
        }
        out.push(DirectionEnd {
            way,
            sender: add(streams.iter().map(|s| &s.sender)),
            receiver: add(streams.iter().map(|s| &s.receiver)),
            udp: udp.then(|| add_udp(streams.iter().filter_map(|s| s.udp.as_ref()))),
            rtt: rtt_over(streams.iter().filter_map(|s| s.rtt)),
            max_cwnd: streams.iter().filter_map(|s| s.max_cwnd).max(),
            streams,
        });
    }
    out
}

/// The CPU figures of both sides.
pub fn cpu_use(local: (f64, f64, f64), peer: &Results) -> CpuUse {
    CpuUse {
        local: local.0,
        local_user: local.1,
        local_system: local.2,
        remote: peer.cpu_util_total,
        remote_user: peer.cpu_util_user,
        remote_system: peer.cpu_util_system,
    }
}

fn totals(seconds: f64, bytes: u64, retransmits: Option<u64>) -> Totals {
    Totals {
        seconds,
        bytes,
        bits_per_second: rate(bytes, seconds),
        retransmits,
    }
}

fn stream_end(t: &StreamTotal, p: Option<&StreamResult>, udp: bool) -> StreamEnd {
    let (p_seconds, p_bytes) = p.map_or((0.0, 0), |p| (p.seconds(), p.bytes));
    let mine = totals(t.seconds, t.bytes, t.retransmits);
    match t.dir {
        Dir::Send => StreamEnd {
            stream: t.id,
            sender: mine,
            receiver: totals(p_seconds, p_bytes, None),
            udp: udp.then(|| {
                let sent = t.blocks;
                let (jitter, errors) = p.map_or((0.0, 0), |p| (p.jitter, p.errors.max(0) as u64));
                let exact = p.and_then(|p| p.exact.clone());
                let (received, lost) = match &exact {
                    Some(e) => (e.sockit_unique, sent.saturating_sub(e.sockit_unique)),
                    // An iperf3 receiver counts gaps only, and stops counting at
                    // the end of the test: its count is all that is known.
                    None => (sent.saturating_sub(errors), errors),
                };
                UdpEnd {
                    sent,
                    received,
                    lost,
                    lost_percent: percent(lost, sent),
                    out_of_order: exact.as_ref().map_or(0, |e| e.sockit_out_of_order),
                    duplicates: exact.as_ref().map_or(0, |e| e.sockit_duplicates),
                    jitter_ms: jitter * 1000.0,
                }
            }),
            rtt: t.rtt,
            max_cwnd: t.max_cwnd,
            max_snd_wnd: t.max_snd_wnd,
        },
        Dir::Recv => {
            let retransmits = p.and_then(|p| u64::try_from(p.retransmits).ok());
            StreamEnd {
                stream: t.id,
                sender: totals(p_seconds, p_bytes, retransmits),
                receiver: mine,
                udp: t
                    .udp
                    .as_ref()
                    .filter(|_| udp)
                    .map(|u| received_end(u, p.map_or(u.max_seq, |p| p.packets.max(0) as u64))),
                rtt: None,
                max_cwnd: None,
                max_snd_wnd: None,
            }
        }
    }
}

/// A receiver's end figures against the sender's count `sent`.
pub fn received_end(u: &UdpStats, sent: u64) -> UdpEnd {
    let lost = u.exact_lost(sent);
    UdpEnd {
        sent,
        received: u.unique,
        lost,
        lost_percent: percent(lost, sent),
        out_of_order: u.reordered(),
        duplicates: u.duplicates,
        jitter_ms: u.jitter * 1000.0,
    }
}

/// Streams' totals summed: bytes add up over the longest stream's time.
fn add<'a>(all: impl Iterator<Item = &'a Totals>) -> Totals {
    let mut seconds: f64 = 0.0;
    let mut bytes = 0;
    let mut retransmits: Option<u64> = None;
    for t in all {
        seconds = seconds.max(t.seconds);
        bytes += t.bytes;
        if let Some(r) = t.retransmits {
            retransmits = Some(retransmits.unwrap_or(0) + r);
        }
    }
    totals(seconds, bytes, retransmits)
}

fn add_udp<'a>(all: impl Iterator<Item = &'a UdpEnd>) -> UdpEnd {
    let mut sum = UdpEnd::default();
    let mut jitters = 0;
    for u in all {
        sum.sent += u.sent;
        sum.received += u.received;
        sum.lost += u.lost;
        sum.out_of_order += u.out_of_order;
        sum.duplicates += u.duplicates;
        sum.jitter_ms += u.jitter_ms;
        jitters += 1;
    }
    if jitters > 0 {
        sum.jitter_ms /= f64::from(jitters);
    }
    sum.lost_percent = percent(sum.lost, sum.sent);
    sum
}

fn rtt_over(all: impl Iterator<Item = RttRange>) -> Option<RttRange> {
    let all: Vec<RttRange> = all.collect();
    if all.is_empty() {
        return None;
    }
    Some(RttRange {
        min_us: all.iter().map(|r| r.min_us).min().unwrap_or(0),
        mean_us: (all.iter().map(|r| u64::from(r.mean_us)).sum::<u64>() / all.len() as u64) as u32,
        max_us: all.iter().map(|r| r.max_us).max().unwrap_or(0),
    })
}
