//! The end of a test on either side: the totals to report, this side's results, and,
//! with the peer's, the `perf_end` (or, for `--latency`, the final `perf_latency`)
//! events and the `--iperf-json` document's end.

use std::time::Instant;

use super::iperf_json::{self, Doc};
use super::latency::Rtts;
use super::meter::{Row, StreamTotal};
use super::results::Results;
use super::run::{Reporter, Running};
use super::sockopt;
use super::stream::{lock, Dir, Sock, Stream};
use super::summary::{self, DirectionEnd};
use crate::output::perf::{PerfEnd, PerfLatency};
use crate::output::Event;

/// A test once its threads have stopped: what its end needs.
pub struct Finished {
    /// Every stream's totals: as taken at the end, but UDP receivers' after they
    /// drained what was still on its way (`Running::drain_udp`).
    pub totals: Vec<StreamTotal>,
    /// The interval rows kept for `--iperf-json`, and how many did not fit.
    pub kept: Vec<Row>,
    pub left_out: usize,
    pub streams: Vec<Stream>,
    pub reporter: Reporter,
    /// This side's CPU use, in percent of one CPU: total, user, system.
    pub cpu: (f64, f64, f64),
    /// The congestion control of this side's first TCP data socket.
    pub congestion: Option<String>,
    /// The first stream that stopped on its own with an error, and why.
    pub failure: Option<(u32, String)>,
    pub udp: bool,
    pub bidir: bool,
}

impl Running {
    /// Lets UDP receivers drain, joins every thread, and gathers what the end of the
    /// test needs; `at_end` are the totals taken when the test ended, at `ended`.
    pub async fn conclude(self, at_end: Vec<StreamTotal>, ended: Instant) -> Finished {
        self.drain_udp().await;
        let mut totals = at_end;
        {
            let meter = lock(&self.meter);
            for (i, s) in self.streams.iter().enumerate() {
                if s.dir == Dir::Recv && s.is_udp() {
                    totals[i] = meter.total(i, &s.snapshot(), Instant::now());
                }
            }
        }
        let start = self.start;
        let (kept, left_out) = {
            let mut meter = lock(&self.meter);
            (std::mem::take(&mut meter.kept), meter.left_out)
        };
        let reporter = self.reporter.clone();
        let streams = self.streams.clone();
        let failure = self.failure();
        let cpu = self.finish().await;
        let congestion = streams
            .iter()
            .find(|s| matches!(*s.sock, Sock::Tcp(_)))
            .and_then(|s| sockopt::congestion(s.sock.fd()));
        let udp = streams.first().is_some_and(Stream::is_udp);
        Finished {
            totals,
            kept,
            left_out,
            bidir: reporter.bidir,
            reporter,
            cpu: summary::cpu_share(cpu, ended.duration_since(start)),
            congestion,
            failure,
            udp,
            streams,
        }
    }
}

impl Finished {
    /// This side's results for the exchange (`peer`: the peer's, when they came first).
    pub fn results(&self, peer: Option<&Results>) -> Results {
        summary::results(
            &self.totals,
            self.cpu,
            self.congestion.clone(),
            self.udp,
            peer,
        )
    }

    /// With the peer's results: shows each direction's end, and fills the document's
    /// intervals and end for `--iperf-json`.
    pub fn close(&self, theirs: &Results, doc: &mut Doc) {
        let ends = report(
            &self.reporter,
            &self.streams,
            &self.totals,
            theirs,
            self.cpu,
            self.udp,
        );
        doc.intervals = iperf_json::intervals(&self.kept, &self.streams);
        doc.end = iperf_json::end(&iperf_json::End {
            ends: &ends,
            streams: &self.streams,
            udp: self.udp,
            bidir: self.bidir,
            cpu: summary::cpu_use(self.cpu, theirs),
            local_congestion: self.congestion.clone(),
            remote_congestion: theirs.congestion_used.clone(),
            intervals_left_out: self.left_out,
        });
    }
}

/// Shows each direction's end and returns them (for `--iperf-json`).
fn report(
    reporter: &Reporter,
    streams: &[Stream],
    totals: &[StreamTotal],
    theirs: &Results,
    local_cpu: (f64, f64, f64),
    udp: bool,
) -> Vec<DirectionEnd> {
    let ends = summary::directions(totals, theirs, udp);
    if reporter.quiet {
        return ends;
    }
    let asked = streams
        .iter()
        .any(|s| lock(&s.counters.rtts).total(0.0, 0.0, false).transactions > 0);
    if reporter.latency && asked {
        let mut all = Rtts::default();
        for s in streams {
            all.merge(&lock(&s.counters.rtts));
        }
        let seconds = totals.iter().map(|t| t.seconds).fold(0.0, f64::max);
        reporter.out.emit(&Event::PerfLatency(Box::new(PerfLatency {
            peer: reporter.peer,
            role: reporter.role,
            test: reporter.test,
            last: true,
            figures: all.total(0.0, seconds, udp),
        })));
        return ends;
    }
    let cpu = summary::cpu_use(local_cpu, theirs);
    for d in &ends {
        reporter.out.emit(&Event::PerfEnd(Box::new(PerfEnd {
            peer: reporter.peer,
            role: reporter.role,
            test: reporter.test,
            dir: d.way,
            sender: d.sender.clone(),
            receiver: d.receiver.clone(),
            udp: d.udp.clone(),
            rtt: d.rtt,
            max_cwnd: d.max_cwnd,
            cpu,
            streams: d.streams.clone(),
        })));
    }
    ends
}
