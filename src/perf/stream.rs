//! One data stream of a test (section 4): its socket, the thread that sends or receives
//! on it, and the counters that thread keeps for the reports.
//!
//! Data moves on a thread of its own per stream, on a blocking socket: a write that
//! fills the socket's buffer waits in the kernel, with no poll and no wake-up per block,
//! which keeps the CPU spent per byte at or below iperf3's (docs/benchmarks.md). The
//! control connection and the reports stay on the runtime; they only read the counters.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::clock::{self, Cpu};
use super::latency::{self, Rtts};
use super::pace::Pacer;
use super::udp::{Header, UdpStats};
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
    fn claim(&self, len: usize, whole: bool) -> Option<(usize, bool)> {
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
    fn count(&self, n: usize) {
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
/// How often a UDP receiver with nothing to read looks at its stop flag.
const UDP_POLL: Duration = Duration::from_millis(100);
/// The receive buffer of a UDP stream: any datagram fits.
const UDP_BUFFER: usize = 65536;

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
                send_tcp_zerocopy(s, load, c, &self.stop)
            }
            (Sock::Tcp(s), Dir::Send, Work::Flow) => send_tcp(s, load, c, &self.stop),
            (Sock::Tcp(s), Dir::Recv, Work::Flow) => recv_tcp(s, load, c, &self.stop),
            (Sock::Udp(s), Dir::Send, Work::Flow) => send_udp(s, load, c, &self.stop),
            (Sock::Udp(s), Dir::Recv, Work::Flow) => recv_udp(s, load, c, &self.stop),
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

/// The next block's size, or `None` when the stream is told to stop or the limit is spent.
fn next_block(load: &Load, stop: &AtomicBool, whole: bool) -> Option<(usize, bool)> {
    if stop.load(Relaxed) {
        return None;
    }
    match &load.limit {
        Some(limit) => limit.claim(load.len, whole),
        None => Some((load.len, false)),
    }
}

fn send_tcp(s: &TcpStream, load: &Load, c: &Counters, stop: &AtomicBool) -> io::Result<()> {
    let pacer = Pacer::new(load.bitrate);
    while let Some((n, last)) = next_block(load, stop, false) {
        if let Some(p) = &pacer {
            p.wait(c.bytes.load(Relaxed));
        }
        let mut off = 0;
        while off < n {
            match (&*s).write(&load.payload[off..n]) {
                Ok(w) => {
                    off += w;
                    c.bytes.fetch_add(w as u64, Relaxed);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        c.blocks.fetch_add(1, Relaxed);
        if last {
            notify(load);
        }
    }
    Ok(())
}

/// `--zerocopy`: the payload sits in a memory file and goes out with `sendfile`, so the
/// kernel sends its pages instead of copying a buffer from this process each time.
fn send_tcp_zerocopy(
    s: &TcpStream,
    load: &Load,
    c: &Counters,
    stop: &AtomicBool,
) -> io::Result<()> {
    use rustix::fs::{memfd_create, sendfile, MemfdFlags};
    let file = std::fs::File::from(memfd_create("sockit-perf", MemfdFlags::CLOEXEC)?);
    (&file).write_all(&load.payload[..load.len])?;
    let pacer = Pacer::new(load.bitrate);
    while let Some((n, last)) = next_block(load, stop, false) {
        if let Some(p) = &pacer {
            p.wait(c.bytes.load(Relaxed));
        }
        let mut off = 0u64;
        while (off as usize) < n {
            let left = n - off as usize;
            match sendfile(s, &file, Some(&mut off), left) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(w) => {
                    c.bytes.fetch_add(w as u64, Relaxed);
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        c.blocks.fetch_add(1, Relaxed);
        if last {
            notify(load);
        }
    }
    Ok(())
}

fn recv_tcp(s: &TcpStream, load: &Load, c: &Counters, stop: &AtomicBool) -> io::Result<()> {
    let mut buf = vec![0u8; load.len.max(1)];
    loop {
        match (&*s).read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                c.bytes.fetch_add(n as u64, Relaxed);
                c.blocks.fetch_add(1, Relaxed);
                if let Some(limit) = &load.limit {
                    limit.count(n);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) if stop.load(Relaxed) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

fn send_udp(s: &UdpSocket, load: &Load, c: &Counters, stop: &AtomicBool) -> io::Result<()> {
    let pacer = Pacer::new(load.bitrate);
    let mut datagram = load.payload[..load.len].to_vec();
    let mut seq = 0u64;
    while let Some((_, last)) = next_block(load, stop, true) {
        if let Some(p) = &pacer {
            p.wait(c.bytes.load(Relaxed));
        }
        seq += 1;
        let (sec, usec) = clock::stamp();
        Header { sec, usec, seq }.encode(&mut datagram, load.wide);
        loop {
            match s.send(&datagram) {
                Ok(n) => {
                    c.bytes.fetch_add(n as u64, Relaxed);
                    c.blocks.fetch_add(1, Relaxed);
                    break;
                }
                // The interface's queue is full: wait for it rather than count a
                // datagram that never left as sent.
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    std::thread::sleep(Duration::from_micros(100));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) if stop.load(Relaxed) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        if last {
            notify(load);
        }
    }
    Ok(())
}

fn recv_udp(s: &UdpSocket, load: &Load, c: &Counters, stop: &AtomicBool) -> io::Result<()> {
    s.set_read_timeout(Some(UDP_POLL))?;
    let mut buf = vec![0u8; UDP_BUFFER];
    while !stop.load(Relaxed) {
        match s.recv(&mut buf) {
            Ok(0) if stop.load(Relaxed) => break,
            Ok(n) => {
                let arrival = clock::now_secs();
                match Header::decode(&buf[..n], load.wide) {
                    Some(h) => lock(&c.udp).record(&h, arrival),
                    None => {
                        c.malformed.fetch_add(1, Relaxed);
                        continue;
                    }
                }
                c.bytes.fetch_add(n as u64, Relaxed);
                c.blocks.fetch_add(1, Relaxed);
                if let Some(limit) = &load.limit {
                    limit.count(n);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                        // An ICMP error for a datagram this socket sent (the hello).
                        | io::ErrorKind::ConnectionRefused
                ) => {}
            Err(_) if stop.load(Relaxed) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn notify(load: &Load) {
    if let Some(limit) = &load.limit {
        limit.reached.notify_one();
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
