//! `perf --latency`: request/response round trips, like netperf's TCP_RR and UDP_RR.
//! The client writes a request of `--length` bytes (1 by default) and waits for the
//! whole answer before the next; a sockit server sends back whatever arrives. Each round
//! trip's time goes into a histogram, read per interval and for the whole test.
//!
//! An iperf3 server does not answer (it only counts what it reads): the client notices
//! that no answer came (`client.rs`) and says so.

use std::io::{self, Read, Write};
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::flow::nothing_yet;
use super::stream::{lock, Counters, Load};
use crate::output::perf::Latency;

/// The longest round trip recorded exactly: one minute (longer ones count as this).
const LONGEST_NS: u64 = 60_000_000_000;
/// How long a UDP request waits for its answer before it counts as lost.
pub const LATENCY_UDP_WAIT: Duration = Duration::from_secs(1);
/// A UDP request's first 8 bytes carry its number, so a late answer is not taken for
/// the current one.
const SEQ_LEN: usize = 8;

/// Round-trip times, in nanoseconds with three significant digits: for the whole test
/// and since the last interval report.
pub struct Rtts {
    total: Histogram<u64>,
    interval: Histogram<u64>,
    /// UDP requests never answered.
    pub lost: u64,
    interval_lost: u64,
}

impl Default for Rtts {
    fn default() -> Self {
        let h = || Histogram::new_with_bounds(1, LONGEST_NS, 3).expect("valid bounds");
        Rtts {
            total: h(),
            interval: h(),
            lost: 0,
            interval_lost: 0,
        }
    }
}

impl Rtts {
    pub fn record(&mut self, rtt: Duration) {
        let ns = (rtt.as_nanos() as u64).clamp(1, LONGEST_NS);
        self.total.saturating_record(ns);
        self.interval.saturating_record(ns);
    }

    fn lose(&mut self) {
        self.lost += 1;
        self.interval_lost += 1;
    }

    /// The interval's figures from `start` to `end` (seconds), and a new interval.
    pub fn take_interval(&mut self, start: f64, end: f64, udp: bool) -> Latency {
        let l = figures(
            &self.interval,
            start,
            end,
            udp.then_some(self.interval_lost),
        );
        self.interval.reset();
        self.interval_lost = 0;
        l
    }

    /// The whole test's figures.
    pub fn total(&self, start: f64, end: f64, udp: bool) -> Latency {
        figures(&self.total, start, end, udp.then_some(self.lost))
    }

    /// Adds another stream's round trips (the sum over streams).
    pub fn merge(&mut self, other: &Rtts) {
        let _ = self.total.add(&other.total);
        let _ = self.interval.add(&other.interval);
        self.lost += other.lost;
        self.interval_lost += other.interval_lost;
    }
}

fn figures(h: &Histogram<u64>, start: f64, end: f64, lost: Option<u64>) -> Latency {
    let us = |ns: u64| ns as f64 / 1000.0;
    let n = h.len();
    let seconds = end - start;
    Latency {
        start,
        end,
        transactions: n,
        per_second: if seconds > 0.0 {
            n as f64 / seconds
        } else {
            0.0
        },
        min_us: if n == 0 { 0.0 } else { us(h.min()) },
        mean_us: h.mean() / 1000.0,
        p50_us: us(h.value_at_quantile(0.50)),
        p90_us: us(h.value_at_quantile(0.90)),
        p99_us: us(h.value_at_quantile(0.99)),
        max_us: us(h.max()),
        lost,
    }
}

/// The client's side on TCP: a request, the whole answer, its time; again until told
/// to stop. An answer that never comes ends only when the test does (the socket is
/// shut down then).
pub fn ask(s: &mut impl ReadWrite, load: &Load, c: &Counters, stop: &AtomicBool) -> io::Result<()> {
    let request = &load.payload[..load.len];
    let mut answer = vec![0u8; load.len];
    while !stop.load(Relaxed) {
        let sent = Instant::now();
        s.write_all(request)?;
        if let Err(e) = s.read_exact(&mut answer) {
            return if stop.load(Relaxed) { Ok(()) } else { Err(e) };
        }
        lock(&c.rtts).record(sent.elapsed());
        c.bytes.fetch_add(load.len as u64, Relaxed);
        c.blocks.fetch_add(1, Relaxed);
    }
    Ok(())
}

/// The server's side on TCP: whatever arrives goes back, until the client closes.
pub fn echo(s: &mut impl ReadWrite, c: &Counters, stop: &AtomicBool) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match s.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) if stop.load(Relaxed) => return Ok(()),
            Err(e) => return Err(e),
        };
        s.write_all(&buf[..n])?;
        c.bytes.fetch_add(n as u64, Relaxed);
        c.blocks.fetch_add(1, Relaxed);
    }
}

/// Read and write on one socket (`&TcpStream` is both).
pub trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// The client's side on UDP: each request carries its number; an answer that does not
/// come within `LATENCY_UDP_WAIT` counts as lost, and late answers are skipped.
pub fn ask_udp(s: &UdpSocket, load: &Load, c: &Counters, stop: &AtomicBool) -> io::Result<()> {
    let len = load.len.max(SEQ_LEN);
    let mut request = vec![0u8; len];
    request[SEQ_LEN..].copy_from_slice(&load.payload[..len - SEQ_LEN]);
    let mut answer = vec![0u8; 65536];
    let mut seq = 0u64;
    while !stop.load(Relaxed) {
        seq += 1;
        request[..SEQ_LEN].copy_from_slice(&seq.to_be_bytes());
        let sent = Instant::now();
        s.send(&request)?;
        loop {
            let left = LATENCY_UDP_WAIT.saturating_sub(sent.elapsed());
            if left.is_zero() || stop.load(Relaxed) {
                lock(&c.rtts).lose();
                break;
            }
            s.set_read_timeout(Some(left))?;
            match s.recv(&mut answer) {
                Ok(n) if n >= SEQ_LEN && answer[..SEQ_LEN] == request[..SEQ_LEN] => {
                    lock(&c.rtts).record(sent.elapsed());
                    c.bytes.fetch_add(len as u64, Relaxed);
                    c.blocks.fetch_add(1, Relaxed);
                    break;
                }
                Ok(_) => {}
                Err(e) if nothing_yet(&e) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// The server's side on UDP: every datagram goes back as it came.
pub fn echo_udp(s: &UdpSocket, c: &Counters, stop: &AtomicBool) -> io::Result<()> {
    s.set_read_timeout(Some(Duration::from_millis(100)))?;
    let mut buf = vec![0u8; 65536];
    while !stop.load(Relaxed) {
        match s.recv(&mut buf) {
            Ok(n) => {
                s.send(&buf[..n])?;
                c.bytes.fetch_add(n as u64, Relaxed);
                c.blocks.fetch_add(1, Relaxed);
            }
            // Or an ICMP error for an answer the client was no longer there to take.
            Err(e) if nothing_yet(&e) || e.kind() == io::ErrorKind::ConnectionRefused => {}
            Err(_) if stop.load(Relaxed) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_recorded_times() {
        let mut r = Rtts::default();
        for us in 1..=100u64 {
            r.record(Duration::from_micros(us));
        }
        let l = r.take_interval(0.0, 2.0, false);
        assert_eq!(l.transactions, 100);
        assert_eq!(l.per_second, 50.0);
        assert!((l.p50_us - 50.0).abs() < 0.1, "{}", l.p50_us);
        assert!((l.p99_us - 99.0).abs() < 0.1, "{}", l.p99_us);
        assert!((l.max_us - 100.0).abs() < 0.1);
        assert!((l.min_us - 1.0).abs() < 0.01);
        assert_eq!(l.lost, None);
        let empty = r.take_interval(2.0, 3.0, true);
        assert_eq!(
            (empty.transactions, empty.lost, empty.min_us),
            (0, Some(0), 0.0)
        );
        assert_eq!(r.total(0.0, 3.0, false).transactions, 100);
    }
}
