//! A test while data flows, on either side: the streams' threads, the interval reports
//! on the runtime, and the end (senders stop, receivers drain, every thread joins).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::clock::Cpu;
use super::meter::{Meter, Row, StreamTotal};
use super::stream::{lock, Dir, Load, Stream, Worker};
use crate::output::perf::{PerfInterval, PerfLatency, Role};
use crate::output::{Event, Printer};

/// Who the reports are about and where they go.
#[derive(Clone)]
pub struct Reporter {
    pub out: Printer,
    pub peer: SocketAddr,
    pub role: Role,
    /// `perf serve`: the test's number.
    pub test: Option<u64>,
    pub bidir: bool,
    pub latency: bool,
    pub udp: bool,
    /// `--iperf-json`: the document at the end is all that is printed.
    pub quiet: bool,
}

impl Reporter {
    /// An interval's report: its rows, or with `--latency` its round trips.
    fn report(&self, streams: &[Stream], rows: &[Row]) {
        match rows.first() {
            Some(row) if self.latency => self.latency(streams, row.sum.start, row.sum.end),
            _ => self.rows(rows),
        }
    }

    fn rows(&self, rows: &[Row]) {
        if self.quiet {
            return;
        }
        for row in rows {
            // Interval rows may be dropped (and counted) when output falls behind.
            self.out.offer(&Event::PerfInterval(Box::new(PerfInterval {
                peer: self.peer,
                role: self.role,
                test: self.test,
                dir: row.way,
                omitted: row.omitted,
                bidir: self.bidir,
                sum: row.sum.clone(),
                streams: row.streams.clone(),
            })));
        }
    }

    fn latency(&self, streams: &[Stream], start: f64, end: f64) {
        let mut all = super::latency::Rtts::default();
        for s in streams {
            let mut rtts = lock(&s.counters.rtts);
            all.merge(&rtts);
            rtts.take_interval(start, end, self.udp);
        }
        if !self.quiet {
            self.out.offer(&Event::PerfLatency(Box::new(PerfLatency {
                peer: self.peer,
                role: self.role,
                test: self.test,
                last: false,
                figures: all.take_interval(start, end, self.udp),
            })));
        }
    }
}

/// How long the end of a test waits for senders to finish their current block: a
/// write into a full socket waits for the peer to read, which it does until the test's
/// end is said.
const SENDERS_STOP: Duration = Duration::from_secs(1);

/// How often the live line on a terminal changes.
const LIVE_EVERY: Duration = Duration::from_millis(250);

/// A test with its data flowing.
pub struct Running {
    pub streams: Vec<Stream>,
    workers: Vec<Worker>,
    pub meter: Arc<Mutex<Meter>>,
    reports: tokio::task::JoinHandle<()>,
    /// The live line, when a person watches.
    live: Option<tokio::task::JoinHandle<()>>,
    pub start: Instant,
    pub every: Option<Duration>,
    pub reporter: Reporter,
}

impl Running {
    /// Starts every stream's thread (senders with `send`, receivers with `recv`) and the
    /// interval reports, from now: the moment of TEST_START.
    pub fn start(
        streams: Vec<Stream>,
        send: &Load,
        recv: &Load,
        omit: Duration,
        every: Option<Duration>,
        keep: bool,
        reporter: Reporter,
    ) -> std::io::Result<Running> {
        let start = Instant::now();
        let meter = Arc::new(Mutex::new(Meter::new(streams.clone(), start, omit, keep)));
        let mut workers = Vec::with_capacity(streams.len());
        for s in &streams {
            let load = if s.dir == Dir::Send { send } else { recv };
            match s.start(load.clone()) {
                Ok(w) => workers.push(w),
                Err(e) => {
                    for s in &streams {
                        s.halt();
                    }
                    for w in workers {
                        w.join();
                    }
                    return Err(e);
                }
            }
        }
        let reports = tokio::spawn(report(
            meter.clone(),
            streams.clone(),
            start,
            omit,
            every,
            reporter.clone(),
        ));
        let live = (reporter.out.is_live() && !reporter.quiet)
            .then(|| tokio::spawn(live(streams.clone(), start, reporter.clone())));
        Ok(Running {
            streams,
            workers,
            meter,
            reports,
            live,
            start,
            every,
            reporter,
        })
    }

    /// Bytes or round trips moved so far on every stream.
    pub fn moved(&self) -> (u64, u64) {
        self.streams.iter().fold((0, 0), |(b, n), s| {
            let c = &s.counters;
            (
                b + c.bytes.load(std::sync::atomic::Ordering::Relaxed),
                n + c.blocks.load(std::sync::atomic::Ordering::Relaxed),
            )
        })
    }

    /// Whether every stream's thread has ended (its peer went away, or a limit was spent).
    pub fn threads_done(&self) -> bool {
        self.workers.iter().all(Worker::is_finished)
    }

    /// The first thread that stopped on its own with an error, and why.
    pub fn failure(&self) -> Option<(u32, String)> {
        self.streams
            .iter()
            .find_map(|s| lock(&s.counters.failure).clone().map(|e| (s.id, e)))
    }

    /// Stops the interval reports and reports the last, partial interval.
    pub fn last_interval(&mut self, now: Instant) {
        self.reports.abort();
        self.stop_live();
        let rows = lock(&self.meter).remnant(now, self.every);
        if self.every.is_some() {
            self.reporter.report(&self.streams, &rows);
        }
    }

    fn stop_live(&mut self) {
        if let Some(task) = self.live.take() {
            task.abort();
            self.reporter.out.status(String::new());
        }
    }

    /// Senders stop after their current block, and this waits until they have (at most
    /// `SENDERS_STOP`): what a sender counts is then all it sent, so a receiver never
    /// reports more than its sender. Receivers go on reading.
    pub async fn stop_senders(&self) {
        let senders = || {
            self.streams
                .iter()
                .zip(&self.workers)
                .filter(|(s, _)| s.dir == Dir::Send)
        };
        for (s, _) in senders() {
            s.stop();
        }
        let deadline = Instant::now() + SENDERS_STOP;
        while senders().any(|(_, w)| !w.is_finished()) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Every stream's totals now.
    pub fn totals(&self, now: Instant) -> Vec<StreamTotal> {
        lock(&self.meter).totals(now)
    }

    /// Waits until no datagram has arrived on the UDP receivers for `QUIET`, at most
    /// `DRAIN`: what was sent before the end is counted, not called lost.
    pub async fn drain_udp(&self) {
        const QUIET: Duration = Duration::from_millis(20);
        const DRAIN: Duration = Duration::from_millis(250);
        let receivers: Vec<&Stream> = self
            .streams
            .iter()
            .filter(|s| s.dir == Dir::Recv && s.is_udp())
            .collect();
        if receivers.is_empty() {
            return;
        }
        let count = || -> u64 {
            receivers
                .iter()
                .map(|s| s.counters.blocks.load(std::sync::atomic::Ordering::Relaxed))
                .sum()
        };
        let deadline = Instant::now() + DRAIN;
        let mut last = count();
        while Instant::now() < deadline {
            tokio::time::sleep(QUIET).await;
            let now = count();
            if now == last {
                break;
            }
            last = now;
        }
    }

    /// Halts every stream (sockets shut down) and joins the threads: the CPU time they
    /// spent, in all.
    pub async fn finish(mut self) -> Cpu {
        self.reports.abort();
        self.stop_live();
        for s in &self.streams {
            s.halt();
        }
        let workers = self.workers;
        tokio::task::spawn_blocking(move || workers.into_iter().map(Worker::join).sum())
            .await
            .unwrap_or_default()
    }
}

/// The interval reports: a row set every `every` from the start; during `--omit` the
/// last omitted interval ends exactly at its end, and the next ones count from there.
async fn report(
    meter: Arc<Mutex<Meter>>,
    streams: Vec<Stream>,
    start: Instant,
    omit: Duration,
    every: Option<Duration>,
    reporter: Reporter,
) {
    let counted = start + omit;
    let mut origin = start;
    let mut k = 1u32;
    let mut in_omit = !omit.is_zero();
    loop {
        let mut next = match every {
            Some(every) => origin + every * k,
            None if in_omit => counted,
            None => return,
        };
        if in_omit && next >= counted {
            next = counted;
        }
        tokio::time::sleep_until(next.into()).await;
        let now = Instant::now().max(next);
        let rows = lock(&meter).interval(now);
        if every.is_some() {
            reporter.report(&streams, &rows);
        }
        if in_omit && next == counted {
            in_omit = false;
            origin = counted;
            k = 1;
        } else {
            k += 1;
        }
    }
}

/// The live line on a terminal: the time so far and the rate of the last moment, each
/// way (or round trips a second), replaced four times a second.
async fn live(streams: Vec<Stream>, start: Instant, reporter: Reporter) {
    use crate::output::perf_table::Rate;
    use std::fmt::Write as _;
    use std::sync::atomic::Ordering::Relaxed;
    let moved = |dir: Dir, blocks: bool| -> u64 {
        streams
            .iter()
            .filter(|s| s.dir == dir)
            .map(|s| match blocks {
                true => s.counters.blocks.load(Relaxed),
                false => s.counters.bytes.load(Relaxed),
            })
            .sum()
    };
    let mut tick = tokio::time::interval_at((start + LIVE_EVERY).into(), LIVE_EVERY);
    let mut before = (
        Instant::now(),
        moved(Dir::Send, reporter.latency),
        moved(Dir::Recv, false),
    );
    loop {
        tick.tick().await;
        let now = (
            Instant::now(),
            moved(Dir::Send, reporter.latency),
            moved(Dir::Recv, false),
        );
        let secs = now.0.duration_since(before.0).as_secs_f64().max(1e-9);
        let mut line = format!("  {:>6.1} s", now.0.duration_since(start).as_secs_f64());
        let sending = streams.iter().any(|s| s.dir == Dir::Send);
        let receiving = streams.iter().any(|s| s.dir == Dir::Recv);
        if reporter.latency {
            let _ = write!(
                line,
                "  {:.0} round trips/s",
                (now.1 - before.1) as f64 / secs
            );
        } else {
            if sending {
                let _ = write!(
                    line,
                    "  sending {}",
                    Rate((now.1 - before.1) as f64 * 8.0 / secs)
                );
            }
            if receiving {
                let _ = write!(
                    line,
                    "  receiving {}",
                    Rate((now.2 - before.2) as f64 * 8.0 / secs)
                );
            }
        }
        reporter.out.status(line);
        before = now;
    }
}
