//! Slow clients of `http dump` and `http serve`: the deadline of a request head, that of
//! a request body (a pause limit and a minimum rate, as Apache's `mod_reqtimeout` and
//! nginx's `client_body_timeout`), and the fair connection limit: when every slot is taken, the
//! connection idle longest, or else the slowest body, is closed to make room for a new
//! one, so that trickling clients cannot lock everyone else out.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::task::AbortHandle;

/// Connections served at once; a new one beyond it closes an idle or slow one, or is
/// closed at once when every connection is busy.
pub const MAX_CONNECTIONS: usize = 1024;

/// How long a client may take to send a request head, or to begin one on a keep-alive
/// connection; then 408 (or, if nothing of a head arrived, a quiet close).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a body may pause between two reads; then 408.
pub const BODY_IDLE: Duration = Duration::from_secs(30);

/// How long any body may take whatever its size; past it, it must have kept up
/// `BODY_MIN_RATE` (each `BODY_MIN_RATE` bytes buy one more second); then 408.
pub const BODY_GRACE: Duration = Duration::from_secs(20);

/// The slowest body kept past `BODY_GRACE`, in bytes per second (Apache's default).
pub const BODY_MIN_RATE: u64 = 500;

/// A body that started less than this ago is never closed to make room, however slow
/// so far: every upload gets this long to show its rate.
pub const EVICT_AGE: Duration = Duration::from_secs(1);

/// The limits in force: the constants, or what the hidden settings for tests say, read
/// once, in milliseconds (test-only: so that tests of a 10 s or 20 s deadline wait
/// milliseconds; not documented for users). `SOCKIT_TEST_HEAD_TIMEOUT` replaces
/// `HEAD_TIMEOUT`; `SOCKIT_TEST_BODY_TIMEOUT` replaces `BODY_IDLE` and `BODY_GRACE`,
/// and `SOCKIT_TEST_BODY_IDLE` or `SOCKIT_TEST_BODY_GRACE` only the one it names;
/// `SOCKIT_TEST_EVICT_AGE` replaces `EVICT_AGE`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub head: Duration,
    pub idle: Duration,
    pub grace: Duration,
    pub min_rate: u64,
    pub evict_age: Duration,
}

pub fn limits() -> &'static Limits {
    static LIMITS: OnceLock<Limits> = OnceLock::new();
    LIMITS.get_or_init(|| {
        let ms = |name: &str| {
            std::env::var(name)
                .ok()?
                .parse()
                .ok()
                .map(Duration::from_millis)
        };
        let body = ms("SOCKIT_TEST_BODY_TIMEOUT");
        Limits {
            head: ms("SOCKIT_TEST_HEAD_TIMEOUT").unwrap_or(HEAD_TIMEOUT),
            idle: ms("SOCKIT_TEST_BODY_IDLE").or(body).unwrap_or(BODY_IDLE),
            grace: ms("SOCKIT_TEST_BODY_GRACE").or(body).unwrap_or(BODY_GRACE),
            min_rate: BODY_MIN_RATE,
            evict_age: ms("SOCKIT_TEST_EVICT_AGE").unwrap_or(EVICT_AGE),
        }
    })
}

/// The deadline of one body: the next read must come within `idle`, and by the end of
/// `grace` plus one second per `min_rate` bytes received.
pub struct BodyClock {
    start: Instant,
    last: Instant,
    bytes: u64,
}

impl BodyClock {
    pub fn start() -> BodyClock {
        let now = Instant::now();
        BodyClock {
            start: now,
            last: now,
            bytes: 0,
        }
    }

    pub fn got(&mut self, n: usize) {
        self.bytes += n as u64;
        self.last = Instant::now();
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    fn rate_deadline(&self) -> Instant {
        let l = limits();
        let earned = Duration::from_millis(self.bytes.saturating_mul(1000) / l.min_rate);
        self.start + l.grace + earned
    }

    /// When the next read must have come.
    pub fn deadline(&self) -> tokio::time::Instant {
        (self.last + limits().idle).min(self.rate_deadline()).into()
    }

    /// Why a read that did not come by `deadline` is refused.
    pub fn reason(&self) -> String {
        let l = limits();
        if self.last + l.idle <= self.rate_deadline() {
            format!("no body bytes for {:?}", l.idle)
        } else {
            format!(
                "body slower than {} bytes/s after {:?} ({} bytes in {:.1} s)",
                l.min_rate,
                l.grace,
                self.bytes,
                self.start.elapsed().as_secs_f64()
            )
        }
    }
}

/// How many of the best candidates `Conns::victim` checks with system calls.
const CHECKED: usize = 32;

const WAITING: u8 = 0;
const BUSY: u8 = 1;
const BODY: u8 = 2;

/// What one connection is doing, as its task tells it (atomics: no lock per request).
pub struct Slot {
    phase: AtomicU8,
    /// Milliseconds since the registry's epoch when this phase began.
    since: AtomicU64,
    /// Body bytes received in the `BODY` phase.
    bytes: AtomicU64,
    epoch: Instant,
}

impl Slot {
    fn ms(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_millis() as u64
    }

    /// Between requests (or inside a head not yet complete) since `now`.
    pub fn waiting(&self, now: Instant) {
        self.since.store(self.ms(now), Ordering::Relaxed);
        self.phase.store(WAITING, Ordering::Relaxed);
    }

    /// Working on a request whose head is complete.
    pub fn busy(&self) {
        self.phase.store(BUSY, Ordering::Relaxed);
    }

    /// Reading a body that started at `clock`'s start.
    pub fn body(&self, clock: &BodyClock) {
        self.since.store(self.ms(clock.start), Ordering::Relaxed);
        self.bytes.store(0, Ordering::Relaxed);
        self.phase.store(BODY, Ordering::Relaxed);
    }

    pub fn body_bytes(&self, bytes: u64) {
        self.bytes.store(bytes, Ordering::Relaxed);
    }
}

struct Entry {
    slot: Arc<Slot>,
    abort: Option<AbortHandle>,
    fd: RawFd,
    peer: SocketAddr,
}

/// Every open connection of one server (all its threads), for the fair limit.
pub struct Conns {
    epoch: Instant,
    inner: Mutex<Inner>,
}

struct Inner {
    next: u64,
    open: HashMap<u64, Entry>,
}

/// A connection closed to make room: who, and why it was chosen.
pub struct Evicted {
    pub peer: SocketAddr,
    pub why: String,
}

/// A connection's place in the registry; leaves it when dropped.
pub struct Admitted {
    conns: Arc<Conns>,
    id: u64,
    pub slot: Arc<Slot>,
}

impl Admitted {
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut inner = self.conns.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.open.remove(&self.id);
    }
}

impl Conns {
    pub fn new() -> Arc<Conns> {
        Arc::new(Conns {
            epoch: Instant::now(),
            inner: Mutex::new(Inner {
                next: 0,
                open: HashMap::with_capacity(MAX_CONNECTIONS),
            }),
        })
    }

    /// Lets the registry close connection `id`'s task (`abort` of its `JoinHandle`);
    /// nothing if it has ended already.
    pub fn set_abort(&self, id: u64, abort: AbortHandle) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = inner.open.get_mut(&id) {
            e.abort = Some(abort);
        }
    }

    /// A place for a new connection, closing the longest idle or slowest one when the
    /// limit is reached; `Err` when every connection is busy (the new one is refused).
    pub fn admit(
        self: &Arc<Self>,
        fd: RawFd,
        peer: SocketAddr,
    ) -> Result<(Admitted, Option<Evicted>), String> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut evicted = None;
        if inner.open.len() >= MAX_CONNECTIONS {
            let (id, why) = self.victim(&inner)?;
            let e = inner.open.remove(&id).expect("the victim is open");
            if let Some(abort) = e.abort {
                abort.abort();
            }
            evicted = Some(Evicted { peer: e.peer, why });
        }
        let slot = Arc::new(Slot {
            phase: AtomicU8::new(WAITING),
            since: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            epoch: self.epoch,
        });
        slot.waiting(Instant::now());
        let id = inner.next;
        inner.next += 1;
        inner.open.insert(
            id,
            Entry {
                slot: slot.clone(),
                abort: None,
                fd,
                peer,
            },
        );
        let admitted = Admitted {
            conns: self.clone(),
            id,
            slot,
        };
        Ok((admitted, evicted))
    }

    /// The connection to close: the one waiting longest for a request (or for the rest
    /// of its head) with nothing unread or unsent in its socket, else the slowest body
    /// under the minimum rate that started at least `EVICT_AGE` ago.
    fn victim(&self, inner: &Inner) -> Result<(u64, String), String> {
        let now = Instant::now()
            .saturating_duration_since(self.epoch)
            .as_millis() as u64;
        let l = limits();
        let mut waiting: Vec<(u64, u64, RawFd)> = Vec::new();
        // (id, bytes, age, fd) of bodies under the rate.
        let mut slow: Vec<(u64, u64, u64, RawFd)> = Vec::new();
        let (mut busy, mut bodies) = (0, 0);
        for (&id, e) in &inner.open {
            let since = e.slot.since.load(Ordering::Relaxed);
            let age = now.saturating_sub(since);
            match e.slot.phase.load(Ordering::Relaxed) {
                WAITING => waiting.push((age, id, e.fd)),
                BODY if age >= l.evict_age.as_millis() as u64 => {
                    let bytes = e.slot.bytes.load(Ordering::Relaxed);
                    if bytes.saturating_mul(1000) < l.min_rate.saturating_mul(age) {
                        slow.push((id, bytes, age, e.fd));
                    } else {
                        bodies += 1;
                    }
                }
                BODY => bodies += 1,
                _ => busy += 1,
            }
        }
        // Longest waiting first. Bytes not yet read mean the server is behind, not the
        // client; a response still unsent is a download in progress.
        waiting.sort_unstable_by_key(|&(age, _, _)| std::cmp::Reverse(age));
        // A connection that has received nothing yet is a client about to send its
        // request (it connected half a round trip ago): it gets `EVICT_AGE` too.
        let evict_ms = l.evict_age.as_millis() as u64;
        // The checks cost system calls under the registry's lock: a few candidates only.
        if let Some(&(age, id, _)) = waiting.iter().take(CHECKED).find(|&&(age, _, fd)| {
            queued(fd, libc::TIOCOUTQ) == 0
                && queued(fd, libc::FIONREAD) == 0
                && (age >= evict_ms || received(fd) > 0)
        }) {
            return Ok((id, format!("idle for {:.1} s", age as f64 / 1000.0)));
        }
        // Slowest first: fewest bytes per millisecond (compared crosswise).
        slow.sort_unstable_by(|a, b| {
            (u128::from(a.1) * u128::from(b.2)).cmp(&(u128::from(b.1) * u128::from(a.2)))
        });
        let (w, s) = (waiting.len(), slow.len());
        slow.iter()
            .take(CHECKED)
            .find(|&&(_, _, _, fd)| queued(fd, libc::FIONREAD) == 0)
            .ok_or_else(|| {
                format!(
                    "{busy} answering, {} reading bodies above the rate or younger than \
                     {:?}, {w} waiting with bytes still queued",
                    bodies + s,
                    l.evict_age
                )
            })
            .map(|&(id, bytes, age, _)| {
                (
                    id,
                    format!(
                        "body of {bytes} bytes in {:.1} s, under {} bytes/s",
                        age as f64 / 1000.0,
                        l.min_rate
                    ),
                )
            })
    }
}

/// Bytes in a socket's queue: `TIOCOUTQ` (= `SIOCOUTQ`) written and not yet
/// acknowledged, `FIONREAD` (= `SIOCINQ`) received and not yet read; 0 on error.
/// By hand, not rustix's `ioctl_fionread`: it takes a `BorrowedFd`, whose contract (the
/// descriptor stays open while borrowed) a registered raw fd cannot promise, and rustix
/// has no `TIOCOUTQ` at all.
fn queued(fd: RawFd, request: libc::Ioctl) -> i32 {
    let mut n: libc::c_int = 0;
    // SAFETY: both requests write one c_int through the pointer, which points at `n`.
    // The fd may have been closed and reused since it was registered: the answer is
    // then wrong for this purpose, never unsafe (a bad fd gives EBADF, a non-socket
    // ENOTTY or the size of a file).
    let rc = unsafe { libc::ioctl(fd, request, &mut n) };
    if rc == 0 {
        n
    } else {
        0
    }
}

/// Bytes this TCP socket has received in its life (`tcpi_bytes_received`); 0 on error.
fn received(fd: RawFd) -> u64 {
    // SAFETY: tcp_info is plain integers, for which all zeroes is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` is a writable tcp_info and `len` its size; the kernel writes at most
    // `len` bytes. A reused fd gives a wrong answer for this purpose, never unsafety.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        info.tcpi_bytes_received
    } else {
        0
    }
}

/// Raises this process's soft limit on open files to its hard limit, as nginx's
/// `worker_rlimit_nofile` and many servers do: `MAX_CONNECTIONS` sockets plus the
/// files being served need more than the usual soft limit of 1024.
pub fn raise_nofile() -> Option<String> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct it is given a pointer to.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Some(std::io::Error::last_os_error().to_string());
    }
    if lim.rlim_cur >= lim.rlim_max {
        return None;
    }
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: setrlimit only reads the struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Some(std::io::Error::last_os_error().to_string());
    }
    None
}

#[cfg(test)]
#[path = "slow_tests.rs"]
mod tests;
