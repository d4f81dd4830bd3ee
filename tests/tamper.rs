//! A proxy between `recv` and `send` that records every byte, flips one, or cuts the
//! stream: the plaintext and the code's secret never travel, every alteration aborts
//! the transfer with a clear error and no final name, a replayed session and a wrong
//! code get nothing, and an honest run afterwards resumes.

use std::collections::HashSet;
use std::fs;
use std::io::{BufReader, BufWriter, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::thread::JoinHandle;

use sockit::transfer::{Conn, Msg, WireError};

use crate::harness::*;

const CODE: &str = "31-velvet-harbor";
const NAME: &str = "secret-plans.bin";
/// 3.5 chunks: three full data records and a half one.
const SIZE: usize = 3 * (1 << 20) + (1 << 19);

/// What the proxy does to the sender's bytes on their way to the receiver.
#[derive(Clone, Copy)]
enum Fault {
    None,
    Flip(usize),
    Cut(usize),
}

/// Both directions as they crossed the proxy.
struct Recording {
    to_recv: Vec<u8>,
    to_send: Vec<u8>,
}

/// Forwards one direction, recording it; applies `fault` to it when given.
fn pump(mut from: TcpStream, mut to: TcpStream, fault: Fault) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let (start, chunk) = (seen.len(), &mut buf[..n]);
        match fault {
            Fault::Flip(at) if (start..start + n).contains(&at) => chunk[at - start] ^= 0x01,
            Fault::Cut(at) if start + n >= at => {
                seen.extend_from_slice(&chunk[..at - start]);
                let _ = to.write_all(&chunk[..at - start]);
                let _ = to.shutdown(Shutdown::Both);
                let _ = from.shutdown(Shutdown::Both);
                return seen;
            }
            _ => {}
        }
        seen.extend_from_slice(chunk);
        if to.write_all(chunk).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    seen
}

/// A proxy for one connection to `upstream`; join it for the recording.
fn proxy(upstream: SocketAddr, fault: Fault) -> (String, JoinHandle<Recording>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = std::thread::spawn(move || {
        let (recv_side, _) = listener.accept().unwrap();
        let send_side = TcpStream::connect(upstream).unwrap();
        for s in [&recv_side, &send_side] {
            s.set_read_timeout(Some(STEP)).unwrap();
        }
        let (r2, s2) = (
            recv_side.try_clone().unwrap(),
            send_side.try_clone().unwrap(),
        );
        let up = std::thread::spawn(move || pump(r2, s2, Fault::None));
        let to_recv = pump(send_side, recv_side, fault);
        Recording {
            to_recv,
            to_send: up.join().unwrap(),
        }
    });
    (addr, handle)
}

/// A file nobody would mistake for anything else: xorshift noise.
fn pattern() -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..SIZE)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn start_sender(file: &Path, extra: &[&str]) -> Server {
    let path = file.display().to_string();
    let mut args = vec!["send", &path, "--keep", "--no-announce", "--code", CODE];
    args.extend(extra);
    let server = Server::start(&args);
    server.wait_for("ready");
    server
}

fn recv_via(addr: &str, out: &Path, code: &str, extra: &[&str]) -> Output {
    let out = out.display().to_string();
    let mut args = vec!["recv", addr, "--code", code, "-o", &out];
    args.extend(extra);
    run(&args, b"")
}

/// (offset, length) of each frame, header included.
fn frames(wire: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= wire.len() {
        let header = u32::from_be_bytes(wire[at..at + 4].try_into().unwrap());
        let len = 4 + (header & 0x7fff_ffff) as usize;
        out.push((at, len));
        at += len;
    }
    out
}

/// Whether any 16-byte-aligned block of `plain` appears anywhere in `wire`: any run of
/// 31 plaintext bytes on the wire contains one.
fn leaks(plain: &[u8], wire: &[u8]) -> bool {
    let blocks: HashSet<&[u8]> = plain.chunks_exact(16).collect();
    wire.windows(16).any(|w| blocks.contains(w))
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn the_wire_carries_no_plaintext_and_every_alteration_is_caught_then_resume_works() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join(NAME);
    let data = pattern();
    fs::write(&file, &data).unwrap();
    let server = start_sender(&file, &[]);

    // An honest run through the proxy: nothing readable on the wire.
    let clean = tempfile::tempdir().unwrap();
    let (addr, rec) = proxy(server.addr, Fault::None);
    let out = recv_via(&addr, clean.path(), CODE, &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(fs::read(clean.path().join(NAME)).unwrap() == data);
    let honest = rec.join().unwrap();
    assert!(honest.to_recv.len() > SIZE);
    for wire in [&honest.to_recv, &honest.to_send] {
        assert!(!leaks(&data, wire), "file plaintext on the wire");
        for secret in ["velvet", "harbor", "velvet-harbor", NAME] {
            assert!(!contains(wire, secret), "{secret:?} on the wire");
        }
    }

    // Sender→receiver frames: hello, confirm, manifest, manifest_end, file, four data
    // records, file_end, done.
    let f = frames(&honest.to_recv);
    assert_eq!(f.len(), 11, "{f:?}");
    let inside = |i: usize, off: usize| f[i].0 + 4 + off;
    let pake = honest.to_recv[..f[0].1]
        .windows(7)
        .position(|w| w == b"\"pake\":")
        .unwrap();
    let faults = [
        ("handshake", Fault::Flip(pake + 12)),
        ("manifest", Fault::Flip(inside(2, 10))),
        ("middle of the file", Fault::Flip(inside(6, 500_000))),
        ("last chunk", Fault::Flip(inside(8, 1_000))),
        ("cut inside a record", Fault::Cut(inside(7, 100))),
        // At a record boundary, before file_end: the receiver has every byte but no
        // hash, and nothing tells it the stream ended on purpose.
        ("cut between records", Fault::Cut(f[9].0)),
    ];
    let mut last_out = None;
    for (what, fault) in faults {
        let dst = tempfile::tempdir().unwrap();
        let (addr, rec) = proxy(server.addr, fault);
        let out = recv_via(&addr, dst.path(), CODE, &[]);
        rec.join().unwrap();
        assert_eq!(out.code(), 1, "{what}: the transfer went through");
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{what}: {}", out.stderr);
        assert!(
            lines[0].starts_with("sockit: receive from"),
            "{what}: {}",
            lines[0]
        );
        assert!(
            !dst.path().join(NAME).exists(),
            "{what}: an unverified file got its final name"
        );
        eprintln!("{what}: {}", lines[0]);
        if what == "last chunk" {
            let part = partial(dst.path(), NAME).expect("partial state kept");
            assert_eq!(part.len(), 3 << 20, "the verified records are kept");
            last_out = Some(dst);
        }
    }

    // An honest run into the damaged transfer's folder resumes after the kept prefix.
    let dst = last_out.unwrap();
    let out = recv_via(&server.addr.to_string(), dst.path(), CODE, &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(out.events_named("file")[0]["resumed"], 3 << 20);
    assert!(fs::read(dst.path().join(NAME)).unwrap() == data);
}

#[test]
fn a_replayed_session_and_a_wrong_code_get_no_file_data() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join(NAME);
    fs::write(&file, pattern()).unwrap();
    let server = start_sender(&file, &[]);
    let dst = tempfile::tempdir().unwrap();
    let (addr, rec) = proxy(server.addr, Fault::None);
    assert_eq!(recv_via(&addr, dst.path(), CODE, &[]).code(), 0);
    let recorded = rec.join().unwrap();

    // The receiver's recorded bytes, replayed to a new sender with the same code and
    // file: its PAKE message is fresh, so the old confirmation no longer matches.
    let fresh = start_sender(&file, &[]);
    let s = TcpStream::connect(fresh.addr).unwrap();
    s.set_read_timeout(Some(STEP)).unwrap();
    let mut c = Conn::new(
        BufReader::new(s.try_clone().unwrap()),
        BufWriter::new(s.try_clone().unwrap()),
    );
    c.writer().write_all(&recorded.to_send).unwrap();
    c.flush().unwrap();
    assert!(matches!(c.recv_msg().unwrap(), Msg::Hello { .. }));
    assert!(
        matches!(c.recv_msg(), Err(WireError::Peer(m)) if m == "wrong code"),
        "the replay was not refused"
    );
    assert!(matches!(c.recv_msg(), Err(WireError::Closed)));
    fresh.wait_for("rejected");

    // A wrong code: after its hello the sender sends only the short refusal.
    let (addr, rec) = proxy(fresh.addr, Fault::None);
    let out = recv_via(&addr, dst.path(), "31-velvet-harbour", &["--overwrite"]);
    assert_eq!(out.code(), 1);
    assert!(out.stderr.contains("wrong code"), "{}", out.stderr);
    let wire = rec.join().unwrap().to_recv;
    let hello = frames(&wire)[0].1;
    assert!(
        wire.len() - hello < 64,
        "{} bytes after the hello",
        wire.len() - hello
    );
}

#[test]
fn plain_sessions_say_so_and_really_are_plain() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join(NAME);
    let data = pattern();
    fs::write(&file, &data).unwrap();
    let server = start_sender(&file, &["--plain"]);
    let dst = tempfile::tempdir().unwrap();
    let (addr, rec) = proxy(server.addr, Fault::None);
    // As a person sees it (no --json).
    let mut cmd = Command::new(bin());
    cmd.env("NO_COLOR", "1").args([
        "recv",
        &addr,
        "--plain",
        "--code",
        CODE,
        "-o",
        &dst.path().display().to_string(),
    ]);
    let out = run_with(cmd, b"");
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(
        out.stdout_text().contains("NOT encrypted (--plain)"),
        "{}",
        out.stdout_text()
    );
    // The leak detector works: in plain mode the file is on the wire. The code is not.
    let wire = rec.join().unwrap();
    assert!(leaks(&data, &wire.to_recv));
    assert!(!contains(&wire.to_send, "velvet") && !contains(&wire.to_recv, "velvet"));
}
