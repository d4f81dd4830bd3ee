//! `sockit perf serve`: iperf3's server, serving any number of tests at once, each on
//! its own (iperf3 serves one and answers every other client "busy", section 7.1).
//!
//! Every connection on the port starts with a cookie: a known one makes it a data
//! stream of the test that owns the cookie, an unknown one a new test's control
//! connection (`session.rs`). UDP hellos go through the `hub`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, RwLock, RwLockReadGuard, RwLockWriteGuard, Semaphore};
use tokio_util::task::TaskTracker;

use super::hub::Hub;
use super::proto::{self, within, Cookie, State};
use super::stream::lock;
use super::{session, sockopt, ServeConfig};
use crate::ctx::Ctx;
use crate::net::accept::Backoff;
use crate::net::shutdown::{drain, DRAIN_TIMEOUT};
use crate::output::{Event, Proto};

/// Connections that have not sent their cookie yet, at most: one that sends nothing is
/// closed after `COOKIE_TIMEOUT`, and past this many new ones are closed at once, so
/// silent connections can neither block the server (as they block a 3.12 server,
/// section 7.4) nor pile up.
pub const MAX_UNIDENTIFIED: usize = 256;
/// How long a new connection may take to send its 37-byte cookie.
pub const COOKIE_TIMEOUT: Duration = Duration::from_secs(10);
/// Data streams all tests together may hold at once: each is a thread with a buffer.
pub const MAX_SERVER_STREAMS: usize = 1024;
/// Bytes of buffers all tests' streams together may hold at once (each stream holds
/// its write or read size, and `STREAM_OVERHEAD`).
pub const MAX_SERVER_BUFFERS: u64 = 512 << 20;
/// What a stream holds besides its write size: a UDP receive buffer (64 KiB), a
/// thread's stack (256 KiB) and, for `--latency`, its round-trip histograms.
pub const STREAM_OVERHEAD: u64 = 512 << 10;

/// A data connection, with its place in the order of accepts: a test's streams are
/// told apart by the order the client opened them in (section 4.1), which is the order
/// the listener accepted them in, not the order their cookies happened to be read.
pub struct Accepted {
    pub order: u64,
    pub stream: TcpStream,
}

/// What every connection's task shares.
pub struct Shared {
    pub cfg: ServeConfig,
    pub hub: Arc<Hub>,
    /// The tests that accept or refuse data streams, by cookie.
    tests: Mutex<HashMap<Cookie, mpsc::Sender<Accepted>>>,
    /// Tests under way, for `--max-clients`.
    pub running: AtomicUsize,
    numbers: AtomicU64,
    streams: Arc<Semaphore>,
    /// `MAX_SERVER_BUFFERS` in KiB.
    buffers: Arc<Semaphore>,
    /// The listening socket, for the options its connections inherit.
    listener: OwnedFd,
    /// Turns to accept TCP data streams (`setup_turn`).
    setup: RwLock<()>,
}

/// A TCP test's turn to have its data streams accepted (`Shared::setup_turn`).
pub enum SetupTurn<'a> {
    Shared(RwLockReadGuard<'a, ()>),
    /// The listener shaped for this test; set back when dropped.
    Shaped(RwLockWriteGuard<'a, ()>, BorrowedFd<'a>),
}

impl Drop for SetupTurn<'_> {
    fn drop(&mut self) {
        if let SetupTurn::Shaped(_, listener) = self {
            let _ = sockopt::shape_listener(*listener, sockopt::DEFAULT_WINDOW_CLAMP, 0);
        }
    }
}

/// A test's claim on the server's streams and buffers, given back when dropped.
pub struct Budget {
    _streams: tokio::sync::OwnedSemaphorePermit,
    _buffers: tokio::sync::OwnedSemaphorePermit,
}

/// A test's cookie in the registry, removed when dropped.
pub struct Registration {
    shared: Arc<Shared>,
    cookie: Cookie,
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.shared.tests).remove(&self.cookie);
    }
}

/// One running test in the count of `--max-clients`.
pub struct Slot(Arc<Shared>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Shared {
    /// Data connections with `cookie` now go to `tx` (until the registration is dropped).
    pub fn register(self: &Arc<Self>, cookie: Cookie, tx: mpsc::Sender<Accepted>) -> Registration {
        lock(&self.tests).insert(cookie, tx);
        Registration {
            shared: self.clone(),
            cookie,
        }
    }

    /// A TCP test's turn to have its data streams accepted. A test with a window or an
    /// MSS has the listener to itself and shapes it (`sockopt::shape_listener`) until
    /// its streams are in: other tests' data connections would inherit its settings.
    /// Tests without either share their turns.
    pub async fn setup_turn(
        &self,
        window: Option<u64>,
        mss: Option<u32>,
    ) -> std::io::Result<SetupTurn<'_>> {
        if window.is_none() && mss.is_none() {
            return Ok(SetupTurn::Shared(self.setup.read().await));
        }
        let guard = self.setup.write().await;
        let clamp = window.map_or(sockopt::DEFAULT_WINDOW_CLAMP, |w| {
            u32::try_from(w)
                .unwrap_or(u32::MAX)
                .min(sockopt::DEFAULT_WINDOW_CLAMP)
        });
        let turn = SetupTurn::Shaped(guard, self.listener.as_fd());
        sockopt::shape_listener(self.listener.as_fd(), clamp, mss.unwrap_or(0))?;
        Ok(turn)
    }

    /// Room for `streams` streams writing or reading `len` bytes at a time, if there is.
    pub fn budget(&self, streams: u32, len: u64) -> Option<Budget> {
        let kib = (u64::from(streams) * (len + STREAM_OVERHEAD)).div_ceil(1024);
        Some(Budget {
            _streams: self.streams.clone().try_acquire_many_owned(streams).ok()?,
            _buffers: self
                .buffers
                .clone()
                .try_acquire_many_owned(u32::try_from(kib).ok()?)
                .ok()?,
        })
    }

    /// A new test's number and its place among those running; `None` when
    /// `--max-clients` are running already.
    fn admit(self: &Arc<Self>) -> Option<(u64, Slot)> {
        let admitted = self
            .running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.cfg.max_clients).then_some(n + 1)
            })
            .is_ok();
        admitted.then(|| {
            (
                self.numbers.fetch_add(1, Ordering::Relaxed) + 1,
                Slot(self.clone()),
            )
        })
    }
}

/// Serves tests until Ctrl-C (or, with `--one-off`, until the first test ends).
pub async fn serve(cfg: ServeConfig, ctx: Ctx) -> anyhow::Result<()> {
    let listener = crate::net::listen::tcp(&cfg.bind, Proto::Tcp, &ctx).await?;
    let addr = listener.local_addr()?;
    let hub = Hub::start(addr);
    if let Some(e) = hub.unavailable() {
        ctx.out.emit(&Event::warning(format!(
            "UDP port {}: {}; UDP tests will be refused",
            addr.port(),
            crate::net::sock::describe(e)
        )));
    }
    let once = cfg.one_off;
    let shared = Arc::new(Shared {
        cfg,
        hub,
        tests: Mutex::default(),
        running: AtomicUsize::new(0),
        numbers: AtomicU64::new(0),
        streams: Arc::new(Semaphore::new(MAX_SERVER_STREAMS)),
        buffers: Arc::new(Semaphore::new((MAX_SERVER_BUFFERS / 1024) as usize)),
        listener: listener.as_fd().try_clone_to_owned()?,
        setup: RwLock::new(()),
    });
    if let Some(group) = shared.cfg.multicast {
        let (iface, every) = (shared.cfg.iface.clone(), shared.cfg.interval);
        super::member::spawn_member(group, iface, addr.port(), every, &ctx)?;
    }
    let tracker = TaskTracker::new();
    let unidentified = Arc::new(Semaphore::new(MAX_UNIDENTIFIED));
    let first_done = Arc::new(tokio::sync::Notify::new());
    let mut backoff = Backoff::default();
    let mut accepted = 0u64;
    loop {
        tokio::select! {
            (stream, peer) = backoff.accept(&listener, &ctx.out) => {
                let Ok(permit) = unidentified.clone().try_acquire_owned() else {
                    continue; // dropped: closed at once
                };
                accepted += 1;
                let stream = Accepted { order: accepted, stream };
                let task = connection(stream, peer, permit, shared.clone(), ctx.clone());
                let done = first_done.clone();
                tracker.spawn(async move {
                    if task.await {
                        done.notify_one();
                    }
                });
            }
            _ = first_done.notified(), if once => break,
            _ = ctx.shutdown.cancelled() => break,
        }
    }
    drop(listener);
    drain(&tracker, DRAIN_TIMEOUT + Duration::from_secs(1)).await;
    Ok(())
}

/// One connection: its cookie says what it is. Returns whether it was a test.
async fn connection(
    mut accepted: Accepted,
    peer: SocketAddr,
    unidentified: tokio::sync::OwnedSemaphorePermit,
    shared: Arc<Shared>,
    ctx: Ctx,
) -> bool {
    let cookie = tokio::select! {
        c = within("a cookie", COOKIE_TIMEOUT, proto::read_cookie(&mut accepted.stream)) => c,
        _ = ctx.shutdown.cancelled() => return false,
    };
    drop(unidentified);
    let Ok(cookie) = cookie else {
        return false;
    };
    let data = lock(&shared.tests).get(&cookie).cloned();
    if let Some(test) = data {
        if let Err(
            mpsc::error::TrySendError::Full(mut s) | mpsc::error::TrySendError::Closed(mut s),
        ) = test.try_send(accepted)
        {
            // A data connection the test does not expect (section 4.2).
            let _ = proto::write_state(&mut s.stream, State::AccessDenied).await;
            let _ = s.stream.shutdown().await;
        }
        return false;
    }
    let mut stream = accepted.stream;
    let Some((number, slot)) = shared.admit() else {
        let _ = proto::write_state(&mut stream, State::AccessDenied).await;
        let _ = stream.shutdown().await;
        ctx.out.emit(&Event::Rejected {
            peer,
            reason: format!(
                "{} tests are running (--max-clients)",
                shared.cfg.max_clients
            ),
        });
        return false;
    };
    let _ = stream.set_nodelay(true);
    session::run(stream, peer, cookie, number, &shared, &ctx).await;
    drop(slot);
    true
}
