//! The transfer's defences that need time, root or real interfaces: the rate limit on
//! wrong codes, discovery between two hosts that never leaves their namespaces, and a
//! full disk that keeps the `.part` for a later resume.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::*;
use crate::ns::{can_build_hosts, Lan};

const CODE: &str = "64-copper-meadow";

/// Bytes nobody would mistake for a run of zeros.
fn pattern(size: usize) -> Vec<u8> {
    (0..size as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn sender(file: &Path) -> Server {
    let path = file.display().to_string();
    let server = Server::start(&["send", &path, "--keep", "--no-announce", "--code", CODE]);
    server.wait_for("ready");
    server
}

fn recv(server: &Server, out: &Path, code: &str) -> Output {
    let out = out.display().to_string();
    let addr = server.addr.to_string();
    run(&["recv", &addr, "--code", code, "-o", &out], b"")
}

#[test]
fn wrong_codes_are_rejected_and_slowed_and_the_right_code_still_works() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("a.txt");
    fs::write(&file, "the right receiver gets this").unwrap();
    let server = sender(&file);
    let dst = tempfile::tempdir().unwrap();

    // Three guesses at once: the sender takes them one at a time and pauses after each
    // wrong one (1 s, then 2 s), so the third is answered 3 s after the first.
    let started = Instant::now();
    let guesses: Vec<_> = ["64-copper-meadows", "64-copper-meado", "64-meadow-copper"]
        .into_iter()
        .map(|guess| {
            let (addr, out) = (server.addr, dst.path().to_owned());
            std::thread::spawn(move || {
                let out = run(
                    &[
                        "recv",
                        &addr.to_string(),
                        "--code",
                        guess,
                        "-o",
                        &out.display().to_string(),
                    ],
                    b"",
                );
                (out, started.elapsed())
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for g in guesses {
        let (out, took) = g.join().unwrap();
        assert_eq!(out.code(), 1);
        assert!(out.stderr.contains("wrong code"), "{}", out.stderr);
        slowest = slowest.max(took);
    }
    assert!(
        slowest >= Duration::from_millis(2900),
        "three wrong codes answered within {slowest:?}: not slowed"
    );
    for n in 1..=3 {
        let rejected = server.wait_for("rejected");
        let reason = rejected["reason"].as_str().unwrap();
        assert!(
            reason.contains(&format!("wrong code ({n} of 10 allowed)")),
            "{reason}"
        );
    }

    let out = recv(&server, dst.path(), CODE);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(
        fs::read_to_string(dst.path().join("a.txt")).unwrap(),
        "the right receiver gets this"
    );
}

#[test]
fn a_client_trickling_its_hello_holds_the_gate_only_until_the_handshake_deadline() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("a.txt");
    fs::write(&file, "patience").unwrap();
    let server = sender(&file);
    // A frame header announcing 256 bytes, then one byte a second: each read is well
    // within the read timeout, so only a deadline on the whole handshake ends it.
    let mut slow = std::net::TcpStream::connect(server.addr).unwrap();
    slow.write_all(&256u32.to_be_bytes()).unwrap();
    server.wait_for("connect");
    let trickler = std::thread::spawn(move || {
        for _ in 0..30 {
            if slow.write_all(b" ").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    let started = Instant::now();
    let dst = tempfile::tempdir().unwrap();
    let out = recv(&server, dst.path(), CODE);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    drop(trickler);
}

#[test]
fn recv_finds_a_sender_on_another_host_by_its_announcement() {
    if !can_build_hosts() {
        return;
    }
    let lan = Lan::new("xfer", "10.78.0", 2);
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("across.bin");
    let data = pattern(300_000);
    fs::write(&file, &data).unwrap();
    // Default announcements: host a's interface broadcast, 10.78.0.255:9999.
    let server = lan.serve(0, &["send", &file.display().to_string(), "--code", CODE]);
    server.wait_for("ready");

    let dst = tempfile::tempdir().unwrap();
    let out = lan.run(
        1,
        &[
            "recv",
            "--code",
            CODE,
            "-o",
            &dst.path().display().to_string(),
            "--timeout",
            "15s",
        ],
    );
    let verified = &out.events_named("verified")[0];
    assert!(
        verified["peer"].as_str().unwrap().starts_with("10.78.0.1:"),
        "{verified}"
    );
    assert!(fs::read(dst.path().join("across.bin")).unwrap() == data);
    server.wait_for("done");
}

#[test]
fn a_spoofed_announcement_leads_only_to_a_failed_handshake() {
    // An impostor announces the receiver's nameplate and answers with a guessed code.
    let impostor = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = impostor.local_addr().unwrap().port();
    let guessed = std::thread::spawn(move || {
        let (s, _) = impostor.accept().unwrap();
        s.set_read_timeout(Some(STEP)).unwrap();
        let mut c = sockit::transfer::Conn::new(s.try_clone().unwrap(), s);
        let code: sockit::transfer::Code = "64-guess-work".parse().unwrap();
        sockit::transfer::as_sender(&mut c, &code, true).is_ok()
    });
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let listen_port = udp.local_addr().unwrap().port();
    drop(udp);
    let ann = format!(r#"{{"app":"sockit","version":1,"nameplate":64,"port":{port}}}"#);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    let announcer = std::thread::spawn(move || {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        // Paced like a real sender until the test ends (bounded).
        for _ in 0..50 {
            if stopped.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            let _ = udp.send_to(ann.as_bytes(), ("127.0.0.1", listen_port));
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let dst = tempfile::tempdir().unwrap();
    let out = run(
        &[
            "recv",
            "--code",
            CODE,
            "--port",
            &listen_port.to_string(),
            "--timeout",
            "15s",
            "-o",
            &dst.path().display().to_string(),
        ],
        b"",
    );
    assert_eq!(out.code(), 1);
    assert!(out.stderr.contains("wrong code"), "{}", out.stderr);
    assert!(!guessed.join().unwrap(), "the impostor's guess must fail");
    assert_eq!(fs::read_dir(dst.path()).unwrap().count(), 0);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    announcer.join().unwrap();
}

/// A tmpfs of its own under a temporary folder; unmounted when dropped.
struct Tmpfs {
    _dir: tempfile::TempDir,
    mnt: PathBuf,
}

fn mount(args: &[&str]) {
    let out = Command::new("mount")
        .args(args)
        .output()
        .expect("run mount");
    assert!(
        out.status.success(),
        "mount {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Tmpfs {
    fn new(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let mnt = dir.path().join("small");
        fs::create_dir(&mnt).unwrap();
        let opts = format!("size={size}");
        mount(&[
            "-t",
            "tmpfs",
            "-o",
            &opts,
            "sockit-test",
            &mnt.display().to_string(),
        ]);
        Tmpfs { _dir: dir, mnt }
    }

    /// Grows (or shrinks) the filesystem in place; its files stay.
    fn resize(&self, size: &str) {
        let opts = format!("remount,size={size}");
        mount(&["-o", &opts, &self.mnt.display().to_string()]);
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mnt).status();
    }
}

#[test]
fn a_full_disk_fails_clearly_keeps_the_part_and_resumes_once_there_is_room() {
    if !available(
        is_root() && have_program("mount") && have_program("umount"),
        "root and mount (a tmpfs of 2 MiB)",
    ) {
        return;
    }
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("big.bin");
    let data = pattern(5 << 20);
    fs::write(&file, &data).unwrap();
    let server = sender(&file);
    let disk = Tmpfs::new("2m");

    let out = recv(&server, &disk.mnt, CODE);
    assert_eq!(out.code(), 1);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(lines[0].contains("no space left on device"), "{}", lines[0]);
    assert!(!disk.mnt.join("big.bin").exists());
    let kept = fs::metadata(disk.mnt.join("big.bin.part")).unwrap().len();
    assert!(kept > 0, "the .part is kept");

    disk.resize("16m");
    let out = recv(&server, &disk.mnt, CODE);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(out.events_named("file")[0]["resumed"], kept);
    assert!(fs::read(disk.mnt.join("big.bin")).unwrap() == data);
    assert!(!disk.mnt.join("big.bin.part").exists());
}
