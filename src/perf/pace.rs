//! Pacing a sending stream at `--bitrate` (section 4.3): block k leaves once the time
//! the stream's rate allows for the bytes before it has passed, measured from the
//! stream's start, so a late wake-up is made up by the next blocks and the mean rate
//! over any long stretch is the asked one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The longest a pacing sleep goes without looking at the stream's stop flag.
const SLICE: Duration = Duration::from_millis(10);

/// A stream's schedule.
pub struct Pacer {
    start: Instant,
    bytes_per_sec: f64,
}

/// Timer slack asked for a pacing thread, ns: Linux's default (50 µs) would make every
/// sleep late by that much, and at a gigabit a datagram leaves every 11 µs.
const TIMER_SLACK_NS: u64 = 1_000;

impl Pacer {
    /// A schedule for `bits_per_sec` from now; `None` (no pacing) for 0.
    pub fn new(bits_per_sec: u64) -> Option<Pacer> {
        (bits_per_sec > 0).then(|| Pacer {
            start: Instant::now(),
            bytes_per_sec: bits_per_sec as f64 / 8.0,
        })
    }

    /// Makes the calling thread's sleeps precise (see `TIMER_SLACK_NS`); best effort.
    pub fn tighten_timer() {
        let _ = rustix::thread::set_current_timer_slack(std::num::NonZeroU64::new(TIMER_SLACK_NS));
    }

    /// When the stream may send again, having sent `sent` bytes.
    pub fn due(&self, sent: u64) -> Instant {
        self.start + Duration::from_secs_f64(sent as f64 / self.bytes_per_sec)
    }

    /// Sleeps until the stream may send again, at once when it is behind; false when
    /// `stop` was set meanwhile (it is looked at every `SLICE`), so that a slow stream
    /// stops at the end of the test instead of sending one more block after it.
    pub fn wait(&self, sent: u64, stop: &AtomicBool) -> bool {
        let due = self.due(sent);
        loop {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            let now = Instant::now();
            if due <= now {
                return true;
            }
            std::thread::sleep((due - now).min(SLICE));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_follows_the_rate() {
        let p = Pacer::new(8_000_000).unwrap(); // 1 MB/s
        assert_eq!(p.due(0), p.start);
        assert_eq!(p.due(500_000) - p.start, Duration::from_millis(500));
        assert!(Pacer::new(0).is_none());
    }

    #[test]
    fn a_paced_loop_keeps_its_mean_rate() {
        Pacer::tighten_timer();
        let p = Pacer::new(80_000_000).unwrap(); // 10 MB/s, 10 KB blocks: one per ms
        let mut sent = 0u64;
        let go = AtomicBool::new(false);
        while sent < 200_000 {
            assert!(p.wait(sent, &go));
            sent += 10_000;
        }
        // 20 blocks: the last leaves at 19 ms, not before.
        let took = p.start.elapsed();
        assert!(took >= Duration::from_millis(19), "{took:?}");
        assert!(took < Duration::from_millis(200), "{took:?}");
    }

    #[test]
    fn a_long_wait_ends_soon_after_the_stop() {
        let p = Pacer::new(8).unwrap(); // a byte a second: the next block is due in 1000 s
        let stop = AtomicBool::new(false);
        let started = Instant::now();
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(30));
                stop.store(true, Ordering::Relaxed);
            });
            assert!(!p.wait(1000, &stop));
        });
        assert!(started.elapsed() < Duration::from_millis(500));
    }
}
