//! Failed logins per client: a burst of `FAILURE_BURST`, then one more every
//! `FAILURE_REFILL`; past that, a client's requests with credentials are answered 429
//! before any password is checked, so guessing costs time and the server no hashing.
//!
//! A token bucket kept as the time it will be full again (GCRA): one `Instant` per
//! client, and a client whose bucket is full again is as good as forgotten.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed logins a client may make in a row.
pub const FAILURE_BURST: u32 = 10;

/// After the burst, one more failed login is allowed per this much time.
pub const FAILURE_REFILL: Duration = Duration::from_secs(1);

/// Clients remembered at once; when full, those whose bucket has refilled are forgotten,
/// then the one nearest to refilled. Bounds memory against many source addresses.
pub const MAX_TRACKED_CLIENTS: usize = 10_000;

/// The failed logins of recent clients.
#[derive(Debug, Default)]
pub struct Failures {
    /// When each client's bucket is full again (past that it need not be kept).
    full_at: Mutex<HashMap<IpAddr, Instant>>,
}

/// The key a client is counted under: an IPv4 address (IPv4-mapped IPv6 ones too), or
/// an IPv6 /64, since one host commonly holds a whole /64 and could rotate through it.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

impl Failures {
    /// How long `ip` must wait before its next login may be tried, if it must.
    pub fn wait(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let full_at = *self.lock().get(&client_key(ip))?;
        // The bucket is empty once it is more than (burst - 1) refills from full.
        let allowed_until = FAILURE_REFILL * (FAILURE_BURST - 1);
        let debt = full_at.saturating_duration_since(now);
        (debt > allowed_until).then(|| debt - allowed_until)
    }

    /// Counts a failed login of `ip`.
    pub fn failed(&self, ip: IpAddr, now: Instant) {
        let mut map = self.lock();
        let key = client_key(ip);
        if !map.contains_key(&key) && map.len() >= MAX_TRACKED_CLIENTS {
            map.retain(|_, full_at| *full_at > now);
            if map.len() >= MAX_TRACKED_CLIENTS {
                if let Some(nearest) = map.iter().min_by_key(|(_, t)| **t).map(|(k, _)| *k) {
                    map.remove(&nearest);
                }
            }
        }
        let full_at = map.entry(key).or_insert(now);
        *full_at = (*full_at).max(now) + FAILURE_REFILL;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Instant>> {
        // A panic while holding the lock leaves a map that is still consistent.
        self.full_at.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn issue18_ten_failures_then_one_a_second() {
        let f = Failures::default();
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        for _ in 0..FAILURE_BURST {
            assert_eq!(f.wait(a, t0), None);
            f.failed(a, t0);
        }
        assert_eq!(f.wait(a, t0), Some(FAILURE_REFILL), "the 11th waits");
        assert_eq!(f.wait(ip("192.0.2.2"), t0), None, "others are not held up");
        let t1 = t0 + FAILURE_REFILL;
        assert_eq!(f.wait(a, t1), None, "one more after a second");
        f.failed(a, t1);
        assert!(f.wait(a, t1).is_some());
        let later = t1 + FAILURE_REFILL * FAILURE_BURST;
        assert_eq!(f.wait(a, later), None);
        for _ in 0..FAILURE_BURST {
            f.failed(a, later);
        }
        assert!(f.wait(a, later).is_some(), "a full burst again, no more");
    }

    #[test]
    fn issue18_one_ipv6_64_is_one_client() {
        assert_eq!(
            client_key(ip("2001:db8:1:2:aaaa::1")),
            client_key(ip("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            client_key(ip("2001:db8:1:2::1")),
            client_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(client_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    }

    #[test]
    fn issue18_memory_is_bounded_and_refilled_clients_go_first() {
        let f = Failures::default();
        let t0 = Instant::now();
        for i in 0..MAX_TRACKED_CLIENTS as u32 {
            f.failed(IpAddr::V4(i.into()), t0);
        }
        assert_eq!(f.tracked(), MAX_TRACKED_CLIENTS);
        let newcomer = ip("203.0.113.9");
        f.failed(newcomer, t0);
        assert_eq!(
            f.tracked(),
            MAX_TRACKED_CLIENTS,
            "one forgotten for one new"
        );
        let later = t0 + FAILURE_REFILL * 2;
        f.failed(ip("203.0.113.10"), later);
        assert_eq!(f.tracked(), 1, "every refilled client forgotten at once");
    }
}
