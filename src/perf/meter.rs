//! One side's measurements of a test: a snapshot of every stream at each interval's
//! end, the figures between two snapshots, and each stream's totals at the end.
//!
//! Times count from the test's start (TEST_START), and after `--omit` from the end of
//! the omitted period, as iperf3's do (section 8). Nothing before TEST_START is ever
//! counted: connecting and setting streams up cannot pollute the first interval.

use std::time::{Duration, Instant};

use super::stream::{Dir, Snapshot, Stream};
use super::udp::UdpStats;
use crate::output::perf::{Figures, RttRange, Way};

/// Figures kept for `--iperf-json`, at most, per test: a stream's or a sum's figures
/// over one interval each (a day of one-second intervals of one stream; about 15 MB).
/// Past it the document keeps the first intervals and says how many it left out.
pub const MAX_KEPT_FIGURES: usize = 100_000;

/// One interval of one direction.
#[derive(Clone, Debug)]
pub struct Row {
    pub way: Way,
    pub omitted: bool,
    pub sum: Figures,
    pub streams: Vec<Figures>,
}

/// A stream's totals since the end of the omitted period.
#[derive(Clone, Debug)]
pub struct StreamTotal {
    pub id: u32,
    pub dir: Dir,
    pub seconds: f64,
    pub bytes: u64,
    pub blocks: u64,
    /// TCP sender: retransmits over the test.
    pub retransmits: Option<u64>,
    /// UDP receiver: its counts over the test.
    pub udp: Option<UdpStats>,
    pub rtt: Option<RttRange>,
    pub max_cwnd: Option<u64>,
    pub max_snd_wnd: Option<u32>,
}

/// RTT and window seen in a TCP sender's interval samples.
#[derive(Clone, Copy, Debug, Default)]
struct Track {
    min: u32,
    max: u32,
    sum: u64,
    samples: u64,
    max_cwnd: u64,
    max_snd_wnd: u32,
}

pub struct Meter {
    streams: Vec<Stream>,
    start: Instant,
    /// The start of what counts: `start + omit`; and the same moment on the clock of
    /// UDP arrival times.
    counted: Instant,
    counted_clock: f64,
    base: Vec<Snapshot>,
    prev: Vec<Snapshot>,
    prev_at: Instant,
    tracks: Vec<Track>,
    /// Rows kept for `--iperf-json` (when asked), the figures they hold, and how many
    /// rows did not fit.
    pub kept: Vec<Row>,
    keep: bool,
    kept_figures: usize,
    pub left_out: usize,
    /// Set by the last interval: the periodic reports stop here, even one that was
    /// already due on another thread.
    closed: bool,
}

impl Meter {
    /// Measures `streams` from `start` (TEST_START); the first `omit` is left out.
    pub fn new(streams: Vec<Stream>, start: Instant, omit: Duration, keep: bool) -> Meter {
        let first: Vec<Snapshot> = streams.iter().map(Stream::snapshot).collect();
        Meter {
            tracks: vec![Track::default(); streams.len()],
            streams,
            start,
            counted: start + omit,
            counted_clock: super::clock::now_secs() - start.elapsed().as_secs_f64()
                + omit.as_secs_f64(),
            base: first.clone(),
            prev: first,
            prev_at: start,
            kept: Vec::new(),
            keep,
            kept_figures: 0,
            left_out: 0,
            closed: false,
        }
    }

    pub fn streams(&self) -> &[Stream] {
        &self.streams
    }

    /// When what counts begins.
    pub fn counted_from(&self) -> Instant {
        self.counted
    }

    /// Seconds of `at` on the report's clock: from the start, or from the end of the
    /// omitted period once it is over.
    fn clock(&self, at: Instant, omitted: bool) -> f64 {
        let origin = if omitted { self.start } else { self.counted };
        at.saturating_duration_since(origin).as_secs_f64()
    }

    /// Ends an interval at `now`: its rows, one per direction present. The interval
    /// that ends at the end of the omitted period is the last omitted one; the next
    /// counts from there.
    pub fn interval(&mut self, now: Instant) -> Vec<Row> {
        if self.closed {
            return Vec::new();
        }
        let omitted = self.prev_at < self.counted;
        let snaps: Vec<Snapshot> = self.streams.iter().map(Stream::snapshot).collect();
        let (from, to) = (self.clock(self.prev_at, omitted), self.clock(now, omitted));
        let mut figures = Vec::with_capacity(snaps.len());
        for (i, snap) in snaps.iter().enumerate() {
            let f = between(&self.streams[i], &self.prev[i], snap, from, to);
            if !omitted && self.streams[i].dir == Dir::Send {
                if let Some(tcp) = snap.tcp {
                    let t = &mut self.tracks[i];
                    t.min = if t.samples == 0 {
                        tcp.rtt_us
                    } else {
                        t.min.min(tcp.rtt_us)
                    };
                    t.max = t.max.max(tcp.rtt_us);
                    t.sum += u64::from(tcp.rtt_us);
                    t.samples += 1;
                    t.max_cwnd = t.max_cwnd.max(tcp.cwnd_bytes());
                    t.max_snd_wnd = t.max_snd_wnd.max(tcp.snd_wnd);
                }
            }
            figures.push(f);
        }
        let mut rows = Vec::new();
        for (dir, way) in [(Dir::Send, Way::Send), (Dir::Recv, Way::Recv)] {
            let streams: Vec<Figures> = figures
                .iter()
                .zip(&self.streams)
                .filter(|(_, s)| s.dir == dir)
                .map(|(f, _)| f.clone())
                .collect();
            if !streams.is_empty() {
                rows.push(Row {
                    way,
                    omitted,
                    sum: sum(&streams, from, to),
                    streams,
                });
            }
        }
        if omitted && now >= self.counted {
            // What counts starts with this snapshot, taken a little after the omitted
            // period's end: the clock of the figures starts with it too.
            let late = now.saturating_duration_since(self.counted);
            self.counted = now;
            self.counted_clock += late.as_secs_f64();
            self.base = snaps.clone();
        }
        self.prev = snaps;
        self.prev_at = now;
        if self.keep {
            for row in &rows {
                let figures = row.streams.len() + 1;
                if self.kept_figures + figures <= MAX_KEPT_FIGURES {
                    self.kept_figures += figures;
                    self.kept.push(row.clone());
                } else {
                    self.left_out += 1;
                }
            }
        }
        rows
    }

    /// The last, partial interval at the end, if it is worth a row: longer than a tenth
    /// of `every`, or the only one (iperf3 leaves such remnants out too).
    pub fn remnant(&mut self, now: Instant, every: Option<Duration>) -> Vec<Row> {
        let since = now.saturating_duration_since(self.prev_at);
        let only = self.prev_at == self.start;
        let rows = match every {
            Some(every) if since * 10 < every && !only => Vec::new(),
            _ if since.is_zero() => Vec::new(),
            _ => self.interval(now),
        };
        self.closed = true;
        rows
    }

    /// Stream `i`'s totals from the end of the omitted period to `snap`, taken at `at`.
    pub fn total(&self, i: usize, snap: &Snapshot, at: Instant) -> StreamTotal {
        let stream = &self.streams[i];
        let base = &self.base[i];
        let track = self.tracks[i];
        let sending_tcp = stream.dir == Dir::Send && snap.tcp.is_some();
        let udp = snap.udp.as_ref().map(|u| since(u, base.udp.as_ref()));
        // A UDP receiver's time ends with its last datagram: what it read while the
        // sender's last datagrams were still on their way is counted (`drain_udp`), and
        // its rate is not diluted by that wait.
        let seconds = match &udp {
            Some(u) if u.last_arrival > self.counted_clock => u.last_arrival - self.counted_clock,
            _ => at.saturating_duration_since(self.counted).as_secs_f64(),
        };
        StreamTotal {
            id: stream.id,
            dir: stream.dir,
            seconds,
            bytes: snap.bytes.saturating_sub(base.bytes),
            blocks: snap.blocks.saturating_sub(base.blocks),
            retransmits: sending_tcp.then(|| {
                let before = base.tcp.map_or(0, |t| t.total_retrans);
                u64::from(
                    snap.tcp
                        .map_or(0, |t| t.total_retrans)
                        .saturating_sub(before),
                )
            }),
            udp,
            rtt: (sending_tcp && track.samples > 0).then(|| RttRange {
                min_us: track.min,
                mean_us: (track.sum / track.samples) as u32,
                max_us: track.max,
            }),
            max_cwnd: sending_tcp.then_some(track.max_cwnd),
            max_snd_wnd: sending_tcp.then_some(track.max_snd_wnd),
        }
    }

    /// Every stream's totals now.
    pub fn totals(&self, now: Instant) -> Vec<StreamTotal> {
        (0..self.streams.len())
            .map(|i| self.total(i, &self.streams[i].snapshot(), now))
            .collect()
    }
}

/// A UDP receiver's counts since `base` (the end of the omitted period). The jitter is
/// the current one; the highest number seen counts from the base's.
fn since(now: &UdpStats, base: Option<&UdpStats>) -> UdpStats {
    let Some(b) = base else {
        return now.clone();
    };
    let mut d = now.clone();
    d.max_seq = now.max_seq.saturating_sub(b.max_seq);
    d.errors = now.errors.saturating_sub(b.errors);
    d.out_of_order = now.out_of_order.saturating_sub(b.out_of_order);
    d.received = now.received.saturating_sub(b.received);
    d.unique = now.unique.saturating_sub(b.unique);
    d.duplicates = now.duplicates.saturating_sub(b.duplicates);
    d
}

/// One stream's figures between two snapshots, `from` to `to` seconds.
fn between(stream: &Stream, a: &Snapshot, b: &Snapshot, from: f64, to: f64) -> Figures {
    let bytes = b.bytes.saturating_sub(a.bytes);
    let mut f = Figures {
        stream: Some(stream.id),
        start: from,
        end: to,
        bytes,
        bits_per_second: rate(bytes, to - from),
        ..Figures::default()
    };
    match (stream.is_udp(), stream.dir) {
        (false, Dir::Send) => {
            if let Some(t) = b.tcp {
                let before = a.tcp.map_or(0, |t| t.total_retrans);
                f.retransmits = Some(u64::from(t.total_retrans.saturating_sub(before)));
                f.cwnd = Some(t.cwnd_bytes());
                f.rtt_us = Some(t.rtt_us);
                f.rttvar_us = Some(t.rttvar_us);
                f.snd_wnd = Some(t.snd_wnd);
                f.pmtu = Some(t.pmtu);
            }
        }
        (false, Dir::Recv) => f.rtt_us = b.tcp.map(|t| t.rcv_rtt_us).filter(|r| *r > 0),
        (true, Dir::Send) => f.packets = Some(b.blocks.saturating_sub(a.blocks)),
        (true, Dir::Recv) => {
            let (ua, ub) = (
                a.udp.clone().unwrap_or_default(),
                b.udp.clone().unwrap_or_default(),
            );
            let packets = ub.max_seq.saturating_sub(ua.max_seq);
            let lost = packets.saturating_sub(ub.unique.saturating_sub(ua.unique));
            f.packets = Some(packets);
            f.lost = Some(lost);
            f.lost_percent = Some(percent(lost, packets));
            f.jitter_ms = Some(ub.jitter * 1000.0);
            f.out_of_order = Some(ub.out_of_order.saturating_sub(ua.out_of_order));
        }
    }
    f
}

/// A direction's sum: counts add up, jitter is the streams' mean (as iperf3's).
fn sum(streams: &[Figures], from: f64, to: f64) -> Figures {
    let add = |get: fn(&Figures) -> Option<u64>| -> Option<u64> {
        streams
            .iter()
            .map(get)
            .try_fold(0u64, |a, v| v.map(|v| a + v))
    };
    let bytes = streams.iter().map(|f| f.bytes).sum();
    let lost = add(|f| f.lost);
    let packets = add(|f| f.packets);
    let jitters: Vec<f64> = streams.iter().filter_map(|f| f.jitter_ms).collect();
    Figures {
        stream: None,
        start: from,
        end: to,
        bytes,
        bits_per_second: rate(bytes, to - from),
        retransmits: add(|f| f.retransmits),
        packets,
        lost,
        lost_percent: lost.zip(packets).map(|(l, p)| percent(l, p)),
        jitter_ms: (!jitters.is_empty())
            .then(|| jitters.iter().sum::<f64>() / jitters.len() as f64),
        out_of_order: add(|f| f.out_of_order),
        ..Figures::default()
    }
}

pub fn rate(bytes: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        bytes as f64 * 8.0 / seconds
    } else {
        0.0
    }
}

pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}
