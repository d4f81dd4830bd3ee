//! Failed logins per client: a burst of `FAILURE_BURST`, then one more every
//! `FAILURE_REFILL`; past that, a client's requests with credentials are answered 429
//! before any password is checked, so guessing costs time and the server no hashing.
//!
//! A token bucket kept as the time it will be full again (GCRA): one `Instant` per
//! client (and a count for the `login_limited` event), and a client whose bucket is
//! full again is as good as forgotten.

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
    clients: Mutex<HashMap<IpAddr, Client>>,
}

#[derive(Debug, Clone, Copy)]
struct Client {
    /// When the bucket is full again (past that the client need not be kept).
    full_at: Instant,
    /// Failed logins since the bucket was last full, for the `login_limited` event.
    failures: u64,
}

/// A client that has just used its last allowed failed login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lockout {
    /// Failed logins since the client last had its whole allowance.
    pub failures: u64,
    /// Until its next login may be tried.
    pub wait: Duration,
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
        let client = *self.lock().get(&client_key(ip))?;
        waiting(client.full_at, now)
    }

    /// Counts a failed login of `ip`; says so when that was its last one allowed for now
    /// (once per lockout: the next attempts are refused before they count).
    pub fn failed(&self, ip: IpAddr, now: Instant) -> Option<Lockout> {
        let mut map = self.lock();
        let key = client_key(ip);
        if !map.contains_key(&key) && map.len() >= MAX_TRACKED_CLIENTS {
            map.retain(|_, c| c.full_at > now);
            if map.len() >= MAX_TRACKED_CLIENTS {
                if let Some(nearest) = map.iter().min_by_key(|(_, c)| c.full_at).map(|(k, _)| *k) {
                    map.remove(&nearest);
                }
            }
        }
        let client = map.entry(key).or_insert(Client {
            full_at: now,
            failures: 0,
        });
        if client.full_at <= now {
            *client = Client {
                full_at: now,
                failures: 0,
            };
        }
        client.full_at += FAILURE_REFILL;
        client.failures += 1;
        waiting(client.full_at, now).map(|wait| Lockout {
            failures: client.failures,
            wait,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Client>> {
        // A panic while holding the lock leaves a map that is still consistent.
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.lock().len()
    }
}

/// The wait of a client whose bucket is full at `full_at`: none while it holds a token,
/// that is while it is less than `FAILURE_BURST` refills from full.
fn waiting(full_at: Instant, now: Instant) -> Option<Duration> {
    let allowed_until = FAILURE_REFILL * (FAILURE_BURST - 1);
    let debt = full_at.saturating_duration_since(now);
    (debt > allowed_until).then(|| debt - allowed_until)
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
        for i in 1..FAILURE_BURST {
            assert_eq!(f.wait(a, t0), None);
            assert_eq!(f.failed(a, t0), None, "failure {i} leaves some");
        }
        let last = f.failed(a, t0);
        assert_eq!(
            last,
            Some(Lockout {
                failures: u64::from(FAILURE_BURST),
                wait: FAILURE_REFILL
            }),
            "the 10th is the last"
        );
        assert_eq!(f.wait(a, t0), Some(FAILURE_REFILL), "the 11th waits");
        assert_eq!(f.wait(ip("192.0.2.2"), t0), None, "others are not held up");
        let t1 = t0 + FAILURE_REFILL;
        assert_eq!(f.wait(a, t1), None, "one more after a second");
        let again = f.failed(a, t1).expect("and locked out again");
        assert_eq!(again.failures, u64::from(FAILURE_BURST) + 1);
        assert!(f.wait(a, t1).is_some());
        let later = t1 + FAILURE_REFILL * FAILURE_BURST;
        assert_eq!(f.wait(a, later), None);
        for _ in 1..FAILURE_BURST {
            assert_eq!(f.failed(a, later), None);
        }
        let fresh = f.failed(a, later).expect("a full burst again, no more");
        assert_eq!(fresh.failures, u64::from(FAILURE_BURST), "counted afresh");
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
