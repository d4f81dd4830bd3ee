//! The clocks a test reads: the monotonic clock of UDP time stamps and arrival times
//! (section 4.3: only differences matter), and the CPU time of a stream's thread.

use std::time::Duration;

use rustix::time::{clock_gettime, ClockId};

/// The monotonic clock as (seconds, microseconds), what a UDP header carries.
pub fn stamp() -> (u32, u32) {
    let t = clock_gettime(ClockId::Monotonic);
    // The header has 32 bits of seconds: a host up 136 years wraps, harmlessly (only
    // differences between nearby stamps are used).
    (t.tv_sec as u32, (t.tv_nsec / 1000) as u32)
}

/// The monotonic clock in seconds, on the same scale as `stamp`.
pub fn now_secs() -> f64 {
    let t = clock_gettime(ClockId::Monotonic);
    (t.tv_sec as u32) as f64 + t.tv_nsec as f64 / 1e9
}

/// CPU time spent in user and kernel mode.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cpu {
    pub user: Duration,
    pub system: Duration,
}

impl Cpu {
    /// The calling thread's CPU time so far (`getrusage(RUSAGE_THREAD)`).
    pub fn thread() -> Cpu {
        usage(libc::RUSAGE_THREAD)
    }

    /// The whole process's CPU time so far.
    pub fn process() -> Cpu {
        usage(libc::RUSAGE_SELF)
    }

    pub fn since(self, earlier: Cpu) -> Cpu {
        Cpu {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }

    pub fn total(self) -> Duration {
        self.user + self.system
    }
}

impl std::ops::Add for Cpu {
    type Output = Cpu;
    fn add(self, other: Cpu) -> Cpu {
        Cpu {
            user: self.user + other.user,
            system: self.system + other.system,
        }
    }
}

impl std::iter::Sum for Cpu {
    fn sum<I: Iterator<Item = Cpu>>(iter: I) -> Cpu {
        iter.fold(Cpu::default(), |a, b| a + b)
    }
}

fn usage(who: libc::c_int) -> Cpu {
    // SAFETY: rusage is plain integers, for which all zeroes is a valid value.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `r` is a writable rusage; getrusage only writes into it.
    if unsafe { libc::getrusage(who, &mut r) } != 0 {
        return Cpu::default();
    }
    let d = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Cpu {
        user: d(r.ru_utime),
        system: d(r.ru_stime),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_and_seconds_share_a_scale() {
        let (sec, usec) = stamp();
        let now = now_secs();
        assert!(usec < 1_000_000);
        assert!((now - (f64::from(sec) + f64::from(usec) / 1e6)).abs() < 1.0);
    }

    #[test]
    fn a_busy_thread_counts_cpu_time() {
        let before = Cpu::thread();
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(30) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let spent = Cpu::thread().since(before).total();
        assert!(spent >= Duration::from_millis(10), "{spent:?}");
        assert!(Cpu::process().total() >= spent);
    }
}
