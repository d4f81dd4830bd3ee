//! The data of a test: the loops of a stream's thread that send or receive iperf3's
//! blocks and datagrams (section 4), counting as they go.

use std::io::{self, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use super::clock;
use super::pace::Pacer;
use super::stream::{lock, Counters, Load};
use super::udp::Header;

/// How often a UDP receiver with nothing to read looks at its stop flag.
const UDP_POLL: Duration = Duration::from_millis(100);
/// The receive buffer of a UDP stream: any datagram fits.
const UDP_BUFFER: usize = 65536;

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

pub fn send_tcp(s: &TcpStream, load: &Load, c: &Counters, stop: &AtomicBool) -> io::Result<()> {
    let pacer = Pacer::new(load.bitrate);
    while let Some((n, last)) = next_block(load, stop, false) {
        if let Some(p) = &pacer {
            if !p.wait(c.bytes.load(Relaxed), stop) {
                break;
            }
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
pub fn send_tcp_zerocopy(
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
            if !p.wait(c.bytes.load(Relaxed), stop) {
                break;
            }
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

pub fn recv_tcp(s: &TcpStream, load: &Load, c: &Counters, stop: &AtomicBool) -> io::Result<()> {
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

pub fn send_udp(s: &UdpSocket, load: &Load, c: &Counters, stop: &AtomicBool) -> io::Result<()> {
    let pacer = Pacer::new(load.bitrate);
    let mut datagram = load.payload[..load.len].to_vec();
    let mut seq = 0u64;
    while let Some((_, last)) = next_block(load, stop, true) {
        if let Some(p) = &pacer {
            if !p.wait(c.bytes.load(Relaxed), stop) {
                break;
            }
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

pub fn recv_udp(s: &UdpSocket, load: &Load, c: &Counters, stop: &AtomicBool) -> io::Result<()> {
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
            // Or an ICMP error for a datagram this socket sent (the hello).
            Err(e) if nothing_yet(&e) || e.kind() == io::ErrorKind::ConnectionRefused => {}
            Err(_) if stop.load(Relaxed) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A UDP receive that found nothing within its timeout, or was interrupted: try again.
pub fn nothing_yet(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

fn notify(load: &Load) {
    if let Some(limit) = &load.limit {
        limit.reached.notify_one();
    }
}
