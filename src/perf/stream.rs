//! One data stream of a test (section 4): its socket, the thread that sends or receives
//! on it, and the counters that thread keeps for the reports.
//!
//! Data moves on a thread of its own per stream, on a blocking socket: a write that
//! fills the socket's buffer waits in the kernel, with no poll and no wake-up per block,
//! which keeps the CPU spent per byte at or below iperf3's (docs/benchmarks.md). The
//! control connection and the reports stay on the runtime; they only read the counters.

use std::io;
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::clock::Cpu;
use super::flow;
use super::latency::{self, Rtts};
use super::pace::Pacer;
use super::udp::UdpStats;
use crate::net::tcp_info::{self, TcpInfo};

/// A stream's socket, blocking.
pub enum Sock {
    Tcp(TcpStream),
    Udp(UdpSocket),
}

impl Sock {
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Sock::Tcp(s) => s.as_fd(),
            Sock::Udp(s) => s.as_fd(),
        }
    }
}

/// Which way data flows on a stream, seen from this side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    Send,
    Recv,
}

/// What a stream's thread does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// Move data one way (iperf3's test).
    Flow,
    /// `--latency`, client: write a request, wait for the whole answer, again.
    Ask,
    /// `--latency`, server: send back whatever arrives.
    Echo,
}

/// The end condition `-n` (bytes) or `-k` (blocks) over all streams of a test: senders
/// claim each block before writing it, receivers count what they read, and `reached`
/// is notified once the total is there (section 5: the client ends the test).
pub struct Limit {
    blocks: bool,
    left: AtomicU64,
    pub reached: tokio::sync::Notify,
}

impl Limit {
    pub fn bytes(n: u64) -> Arc<Limit> {
        Arc::new(Limit {
            blocks: false,
            left: AtomicU64::new(n),
            reached: tokio::sync::Notify::new(),
        })
    }

    pub fn blocks(n: u64) -> Arc<Limit> {
        Arc::new(Limit {
            blocks: true,
            left: AtomicU64::new(n),
            reached: tokio::sync::Notify::new(),
        })
    }

    /// A sender's next block: how many bytes of `len` it may write (a UDP datagram is
    /// never cut: `whole`), and whether it is the last; `None` once the limit is spent.
    pub(super) fn claim(&self, len: usize, whole: bool) -> Option<(usize, bool)> {
        let take = if self.blocks { 1 } else { len as u64 };
        let before = self
            .left
            .fetch_update(Relaxed, Relaxed, |left| {
                (left > 0).then(|| left.saturating_sub(take))
            })
            .ok()?;
        let n = if self.blocks || whole {
            len
        } else {
            before.min(take) as usize
        };
        Some((n, before <= take))
    }

    /// A receiver read `n` bytes (one block).
    pub(super) fn count(&self, n: usize) {
        let take = if self.blocks { 1 } else { n as u64 };
        let counted = self.left.fetch_update(Relaxed, Relaxed, |left| {
            (left > 0).then(|| left.saturating_sub(take))
        });
        if matches!(counted, Ok(before) if before <= take) {
            self.reached.notify_one();
        }
    }
}

/// How a stream's thread works: the same for every stream of a test and direction.
#[derive(Clone)]
pub struct Load {
    pub work: Work,
    /// Bytes per write (TCP), per datagram (UDP), per request (`--latency`).
    pub len: usize,
    /// Bits per second per stream; 0 = as fast as it goes.
    pub bitrate: u64,
    /// UDP sequence numbers of 64 bits (`udp_counters_64bit`).
    pub wide: bool,
    /// What is written: `len` bytes, made once per test.
    pub payload: Arc<[u8]>,
    /// TCP senders write with `sendfile` from a memory file (`--zerocopy`).
    pub zerocopy: bool,
    pub limit: Option<Arc<Limit>>,
}

/// What a stream's thread counts, read by the reports at any time.
#[derive(Default)]
pub struct Counters {
    pub bytes: AtomicU64,
    /// Writes or reads (TCP), datagrams (UDP), round trips (`--latency`).
    pub blocks: AtomicU64,
    /// UDP receivers.
    pub udp: Mutex<UdpStats>,
    /// Datagrams too short to hold a header, not counted in `udp`.
    pub malformed: AtomicU64,
    /// `--latency`: round-trip times.
    pub rtts: Mutex<Rtts>,
    /// Why the thread stopped before it was told to, for the report.
    pub failure: Mutex<Option<String>>,
}

/// The counters at one moment, with the kernel's view of a TCP socket.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub bytes: u64,
    pub blocks: u64,
    pub udp: Option<UdpStats>,
    pub tcp: Option<TcpInfo>,
}

/// One stream as the reports and the control code see it (cheap to clone).
#[derive(Clone)]
pub struct Stream {
    /// 1, 3, 4, … (section 4.1).
    pub id: u32,
    pub dir: Dir,
    pub sock: Arc<Sock>,
    pub counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
}

/// A stream's thread; `join` gives the CPU time it spent.
pub struct Worker(JoinHandle<Cpu>);

impl Worker {
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }

    pub fn join(self) -> Cpu {
        self.0.join().unwrap_or_default()
    }
}

/// Stack of a stream's thread: its loop holds a few locals; buffers are on the heap.
const STACK: usize = 256 * 1024;

/// The id of the `index`th stream opened (0-based): 1, 3, 4, … as iperf3 numbers them.
pub fn stream_id(index: usize) -> u32 {
    if index == 0 {
        1
    } else {
        index as u32 + 2
    }
}

impl Stream {
    pub fn new(id: u32, dir: Dir, sock: Sock) -> Stream {
        Stream {
            id,
            dir,
            sock: Arc::new(sock),
            counters: Arc::default(),
            stop: Arc::default(),
        }
    }

    pub fn is_udp(&self) -> bool {
        matches!(*self.sock, Sock::Udp(_))
    }

    /// Starts the stream's thread.
    pub fn start(&self, load: Load) -> io::Result<Worker> {
        let stream = self.clone();
        let name = format!(
            "perf-{}-{}",
            if self.dir == Dir::Send { "tx" } else { "rx" },
            self.id
        );
        std::thread::Builder::new()
            .name(name)
            .stack_size(STACK)
            .spawn(move || stream.run(&load))
            .map(Worker)
    }

    /// The counters now, and for TCP the kernel's `TCP_INFO`.
    pub fn snapshot(&self) -> Snapshot {
        let c = &self.counters;
        Snapshot {
            bytes: c.bytes.load(Relaxed),
            blocks: c.blocks.load(Relaxed),
            udp: (self.is_udp() && self.dir == Dir::Recv).then(|| lock(&c.udp).clone()),
            tcp: match &*self.sock {
                Sock::Tcp(s) => tcp_info::read(s),
                Sock::Udp(_) => None,
            },
        }
    }

    /// Tells the thread to stop after its current block (a sender at the end of the
    /// test; its socket stays open for what is in flight).
    pub fn stop(&self) {
        self.stop.store(true, Relaxed);
    }

    /// Stops the thread and shuts the socket down, which wakes a thread blocked in a
    /// read or a write at once.
    pub fn halt(&self) {
        self.stop();
        let _ = match &*self.sock {
            Sock::Tcp(s) => s.shutdown(Shutdown::Both),
            Sock::Udp(s) => {
                rustix::net::shutdown(s, rustix::net::Shutdown::Both).map_err(io::Error::from)
            }
        };
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Relaxed)
    }

    fn run(&self, load: &Load) -> Cpu {
        let before = Cpu::thread();
        if load.bitrate > 0 {
            Pacer::tighten_timer();
        }
        let c = &self.counters;
        let result = match (&*self.sock, self.dir, load.work) {
            (Sock::Tcp(s), Dir::Send, Work::Flow) if load.zerocopy => {
                flow::send_tcp_zerocopy(s, load, c, &self.stop)
            }
            (Sock::Tcp(s), Dir::Send, Work::Flow) => flow::send_tcp(s, load, c, &self.stop),
            (Sock::Tcp(s), Dir::Recv, Work::Flow) => flow::recv_tcp(s, load, c, &self.stop),
            (Sock::Udp(s), Dir::Send, Work::Flow) => flow::send_udp(s, load, c, &self.stop),
            (Sock::Udp(s), Dir::Recv, Work::Flow) => flow::recv_udp(s, load, c, &self.stop),
            (Sock::Tcp(s), _, Work::Ask) => latency::ask(&mut &*s, load, c, &self.stop),
            (Sock::Tcp(s), _, Work::Echo) => latency::echo(&mut &*s, c, &self.stop),
            (Sock::Udp(s), _, Work::Ask) => latency::ask_udp(s, load, c, &self.stop),
            (Sock::Udp(s), _, Work::Echo) => latency::echo_udp(s, c, &self.stop),
        };
        if let Err(e) = result {
            if !self.stopped() {
                *lock(&c.failure) = Some(crate::net::sock::describe(&e));
            }
        }
        Cpu::thread().since(before)
    }
}

/// A poisoned lock only means a stream's thread panicked; its counters are still good.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
