//! Servers whose stdout nobody reads (`sockit tcp serve | less`, not scrolling) or reads
//! slowly: memory stays bounded (`printer::OUTPUT_BUDGET`), other clients are still
//! served, what could not be shown is counted in a `dropped` event, and SIGTERM ends the
//! process. Every flood here is bounded in bytes and time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, ChildStdout, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

/// RSS a server may reach under any flood at default flags (issue 13's target).
const RSS_LIMIT: u64 = 256 << 20;

/// A server whose stdout is read once, for its `listening` line, and then not at all.
struct Unread {
    child: Child,
    /// Until `read_from_now_on` hands it to a reading thread.
    stdout: Option<BufReader<ChildStdout>>,
    addr: SocketAddr,
}

impl Unread {
    fn start(args: &[&str]) -> Unread {
        let mut cmd = sockit(args);
        cmd.args(["--bind", "127.0.0.1:0"]);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let event: serde_json::Value = serde_json::from_str(&first).unwrap();
        assert_eq!(event["event"], "listening", "{first}");
        let addr = event["addr"].as_str().unwrap().parse().unwrap();
        Unread {
            child,
            stdout: Some(stdout),
            addr,
        }
    }

    /// Starts reading stdout: its events, as they come.
    fn read_from_now_on(&mut self) -> std::sync::mpsc::Receiver<serde_json::Value> {
        let stdout = self.stdout.take().expect("read once");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { return };
                if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                    return;
                }
            }
        });
        rx
    }

    /// The most memory the process has held so far (VmHWM).
    fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib << 10
    }

    /// SIGTERM, then how long the process took to exit.
    fn terminate(mut self) -> Duration {
        let started = Instant::now();
        signal(&self.child, libc::SIGTERM);
        let deadline = started + STEP;
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "SIGTERM ignored for {STEP:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
        started.elapsed()
    }
}

impl Drop for Unread {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends 1 MiB length-prefixed frames for `time` (at most `limit` bytes), reading and
/// dropping whatever comes back; returns the bytes the server took.
fn flood_len_frames(addr: SocketAddr, time: Duration, limit: u64) -> u64 {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut back = s.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut sink = [0u8; 64 << 10];
        while matches!(back.read(&mut sink), Ok(n) if n > 0) {}
    });
    s.set_write_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut frame = vec![b'x'; (1 << 20) + 4];
    frame[..4].copy_from_slice(&(1u32 << 20).to_be_bytes());
    let deadline = Instant::now() + time;
    let mut sent = 0u64;
    while Instant::now() < deadline && sent < limit {
        match s.write(&frame) {
            Ok(n) => sent += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("flood: {e}"),
        }
    }
    sent
}

/// One `len`-framed exchange on a fresh connection; the time it took.
fn exchange(addr: SocketAddr, msg: &[u8], want: &[u8]) -> Duration {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(STEP)).unwrap();
    s.write_all(&(msg.len() as u32).to_be_bytes()).unwrap();
    s.write_all(msg).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut got = vec![0; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut got).unwrap();
    assert_eq!(got, want);
    started.elapsed()
}

#[test]
fn tcp_serve_with_stdout_unread_stays_bounded_serves_others_and_obeys_sigterm() {
    let server = Unread::start(&["tcp", "serve", "--framing", "len", "--reply", "ok"]);
    let addr = server.addr;
    let flooder =
        std::thread::spawn(move || flood_len_frames(addr, Duration::from_secs(3), 3 << 30));
    // Let the flood fill whatever the server buffers, then try a second client.
    std::thread::sleep(Duration::from_millis(500));
    let took = exchange(addr, b"hello", b"ok");
    assert!(
        took < Duration::from_secs(2),
        "a second client waited {took:?}"
    );
    let sent = flooder.join().unwrap();
    let rss = server.peak_rss();
    assert!(
        rss < RSS_LIMIT,
        "peak RSS {} MiB after the client sent {} MiB",
        rss >> 20,
        sent >> 20
    );
    let took = server.terminate();
    assert!(took < Duration::from_secs(3), "SIGTERM took {took:?}");
}

#[test]
fn udp_serve_with_stdout_unread_drops_datagrams_and_says_how_many_once_read() {
    let mut server = Unread::start(&["udp", "serve"]);
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(STEP)).unwrap();
    let datagram = vec![b'y'; 60_000];
    // In lock-step with the server's answers, so the kernel drops none: 600 datagrams
    // of 60 KB (36 MB) cannot all wait in the 16 MiB queue.
    let mut answer = [0u8; 256];
    for _ in 0..600 {
        udp.send_to(&datagram, server.addr).unwrap();
        udp.recv_from(&mut answer)
            .expect("the server answers while stdout is unread");
    }
    assert!(
        server.peak_rss() < RSS_LIMIT,
        "{} MiB",
        server.peak_rss() >> 20
    );
    // Now read: the backlog comes out, then a `dropped` event that counts the rest.
    let events = server.read_from_now_on();
    let deadline = Instant::now() + STEP;
    let dropped = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = events.recv_timeout(left).expect("a `dropped` event");
        if event["event"] == "dropped" {
            break event;
        }
    };
    assert!(dropped["events"].as_u64().unwrap() > 0, "{dropped}");
    assert!(dropped["bytes"].as_u64().unwrap() >= 60_000, "{dropped}");
    let took = server.terminate();
    assert!(took < Duration::from_secs(3), "SIGTERM took {took:?}");
}

/// Writes one `len` frame.
fn write_frame(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(&(msg.len() as u32).to_be_bytes()).unwrap();
    s.write_all(msg).unwrap();
}

/// Reads one `len` frame.
fn read_frame(s: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut got = vec![0; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut got).unwrap();
    got
}

#[test]
fn issue13_a_broker_client_that_never_reads_is_cut_off_as_slow_and_the_others_chat_on() {
    let mut server = Unread::start(&["tcp", "serve", "--broker", "--framing", "len"]);
    // Only the small events are parsed: the message and reply lines carry 2 MiB each.
    let stdout = server.stdout.take().unwrap();
    let (tx, events) = std::sync::mpsc::channel::<serde_json::Value>();
    std::thread::spawn(move || {
        for line in stdout.split(b'\n') {
            let Ok(line) = line else { return };
            let head = &line[..line.len().min(24)];
            if head.starts_with(b"{\"event\":\"message\"")
                || head.starts_with(b"{\"event\":\"reply\"")
            {
                continue;
            }
            if tx.send(serde_json::from_slice(&line).unwrap()).is_err() {
                return;
            }
        }
    });
    let next = |name: &str| loop {
        let ev = events.recv_timeout(STEP).expect("an event");
        if ev["event"] == name {
            return ev;
        }
    };
    let idle = TcpStream::connect(server.addr).unwrap();
    next("connect");
    let mut alice = TcpStream::connect(server.addr).unwrap();
    next("connect");
    let mut bob = TcpStream::connect(server.addr).unwrap();
    next("connect");
    for s in [&alice, &bob] {
        s.set_read_timeout(Some(STEP)).unwrap();
    }
    // 200 frames of 2 MiB (400 MiB) from alice; bob answers each with a short one.
    const FRAMES: usize = 200;
    let big = vec![b'a'; 2 << 20];
    let mut bob_reads = bob.try_clone().unwrap();
    let bob_side = std::thread::spawn(move || {
        for _ in 0..FRAMES {
            assert_eq!(read_frame(&mut bob_reads).len(), 2 << 20);
            write_frame(&mut bob, b"got it");
        }
    });
    let mut alice_reads = alice.try_clone().unwrap();
    let alice_side = std::thread::spawn(move || {
        for _ in 0..FRAMES {
            assert_eq!(read_frame(&mut alice_reads), b"got it");
        }
    });
    let started = Instant::now();
    for _ in 0..FRAMES {
        write_frame(&mut alice, &big);
    }
    bob_side.join().unwrap();
    alice_side.join().unwrap();
    let took = started.elapsed();
    let rss = server.peak_rss();
    assert!(rss < RSS_LIMIT, "peak RSS {} MiB", rss >> 20);
    let gone = next("disconnect");
    assert_eq!(
        gone["peer"],
        idle.local_addr().unwrap().to_string(),
        "{gone}"
    );
    assert_eq!(gone["reason"], "slow", "{gone}");
    eprintln!("400 MiB relayed in {took:?}, peak RSS {} MiB", rss >> 20);
    let took = server.terminate();
    assert!(took < Duration::from_secs(3), "SIGTERM took {took:?}");
}
