//! The transfer's defences against guessing and spoofing: the rate limit on wrong codes
//! and announcements from an impostor. (Discovery across hosts is in `netns.rs`, the full
//! disk in `full_disk.rs`.)

use std::fs;
use std::io::Write;
use std::time::{Duration, Instant};

use crate::harness::*;

const CODE: &str = "64-copper-meadow";

#[test]
fn wrong_codes_are_rejected_and_slowed_and_the_right_code_still_works() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("a.txt");
    fs::write(&file, "the right receiver gets this").unwrap();
    let server = transfer_sender(CODE, &file);
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

    let out = transfer_recv(&server, dst.path(), CODE);
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
    let server = transfer_sender(CODE, &file);
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
    let out = transfer_recv(&server, dst.path(), CODE);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    drop(trickler);
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
