//! The end of a test on either side: the totals to report, and the `perf_end` (or, for
//! `--latency`, the final `perf_latency`) events made from them and the peer's results.

use std::time::Instant;

use super::latency::Rtts;
use super::meter::StreamTotal;
use super::results::Results;
use super::run::{Reporter, Running};
use super::stream::{lock, Dir, Stream};
use super::summary::{self, DirectionEnd};
use crate::output::perf::{PerfEnd, PerfLatency};
use crate::output::Event;

/// The totals to report: every stream's as taken at the end, but UDP receivers' taken
/// now, after they drained what was still on its way (`Running::drain_udp`).
pub fn merge_receivers(mut at_end: Vec<StreamTotal>, running: &Running) -> Vec<StreamTotal> {
    let now = Instant::now();
    let meter = lock(&running.meter);
    for (i, s) in running.streams.iter().enumerate() {
        if s.dir == Dir::Recv && s.is_udp() {
            at_end[i] = meter.total(i, &s.snapshot(), now);
        }
    }
    at_end
}

/// Shows each direction's end and returns them (for `--iperf-json`).
pub fn report(
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
