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
fn a_client_trickling_its_hello_is_cut_off_at_the_handshake_deadline() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("a.txt");
    fs::write(&file, "patience").unwrap();
    let path = file.display().to_string();
    let mut cmd = sockit(&["send", &path, "--keep", "--no-announce", "--code", CODE]);
    cmd.args(["--bind", "127.0.0.1:0"])
        .env("SOCKIT_TEST_HANDSHAKE_TIMEOUT", "500");
    let server = Server::start_command(cmd);
    // A frame header announcing 256 bytes, then a byte every 100 ms: no read is ever
    // silent for long, so only a deadline on the whole handshake ends it.
    let mut slow = std::net::TcpStream::connect(server.addr).unwrap();
    slow.write_all(&256u32.to_be_bytes()).unwrap();
    let trickled = Instant::now();
    let trickler = std::thread::spawn(move || {
        for _ in 0..200 {
            if slow.write_all(b" ").is_err() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    });
    let cut = server.wait_until(|ev| {
        ev["event"] == "warning"
            && ev["message"]
                .as_str()
                .unwrap()
                .contains("did not finish within 0.5 s")
    });
    eprintln!("{cut}");
    assert!(trickler.join().unwrap(), "the trickler was never cut off");
    assert!(trickled.elapsed() < STEP);

    let dst = tempfile::tempdir().unwrap();
    let out = transfer_recv(&server, dst.path(), CODE);
    assert_eq!(out.code(), 0, "{}", out.stderr);
}

/// Threads of process `pid`, from /proc.
fn threads(pid: u32) -> usize {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("Threads:")).unwrap();
    line[8..].trim().parse().unwrap()
}

/// Whether the sender has closed `s` (its hello read, then the end of the stream).
fn closed_by_peer(s: &mut std::net::TcpStream) -> bool {
    use std::io::Read;
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

#[test]
fn issue13_idle_and_garbage_connections_neither_stop_the_right_receiver_nor_take_threads() {
    const IDLE: usize = 300;
    const GARBAGE: usize = 250;
    // More idle connections than the sender runs handshakes for at once.
    const { assert!(IDLE > sockit::transfer::MAX_HANDSHAKES) };
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("a.txt");
    fs::write(&file, "through the crowd").unwrap();
    let server = transfer_sender(CODE, &file);
    let before = threads(server.pid());

    let mut idle: Vec<_> = (0..IDLE)
        .map(|_| std::net::TcpStream::connect(server.addr).unwrap())
        .collect();
    let garbage: Vec<_> = (0..GARBAGE)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(server.addr).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            s
        })
        .collect();
    let connects = std::cell::Cell::new(0);
    server.wait_until(|ev| {
        connects.set(connects.get() + usize::from(ev["event"] == "connect"));
        connects.get() == IDLE + GARBAGE
    });
    let during = threads(server.pid());

    // Well within the 10 s handshake deadline, so no idle connection has been dropped
    // for its age: only a gate that does not queue behind them lets this through.
    let dst = tempfile::tempdir().unwrap();
    let mut recv = sockit(&[
        "recv",
        &server.addr.to_string(),
        "--code",
        CODE,
        "-o",
        &dst.path().display().to_string(),
    ])
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = recv.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(8) {
            let _ = recv.kill();
            panic!("the right receiver was not served while {IDLE} idle connections waited");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    assert_eq!(
        fs::read_to_string(dst.path().join("a.txt")).unwrap(),
        "through the crowd"
    );
    // The oldest idle ones gave way to newcomers past the limit (garbage ones count
    // while they are read); the rest are still open, so no deadline let the receiver in.
    let gave_way = idle.iter_mut().map(closed_by_peer).filter(|&c| c).count();
    let over = IDLE + 1 - sockit::transfer::MAX_HANDSHAKES;
    assert!(
        gave_way >= over && gave_way < IDLE,
        "{gave_way} of {IDLE} idle connections closed, expected at least {over} and not all"
    );
    eprintln!("threads: {before} before, {during} with {IDLE} idle and {GARBAGE} garbage connections; {gave_way} gave way");
    assert!(
        during <= before + 2,
        "threads went from {before} to {during}: connections take threads"
    );
    drop(garbage);
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
            "3s",
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

/// Issue 14: announcements of the right number from a closed port and from a program
/// that is not a sockit come first; `recv` tries each once, says so, and goes on
/// listening until the real sender's announcement leads it to the file.
#[test]
fn spoofed_announcements_cost_one_attempt_each_and_the_real_sender_is_still_found() {
    use std::io::{BufRead, BufReader};
    let dst = tempfile::tempdir().unwrap();
    let mut recv = sockit(&[
        "recv",
        "--code",
        CODE,
        "--port",
        "0",
        "--timeout",
        "20s",
        "-o",
        &dst.path().display().to_string(),
    ])
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let mut events = BufReader::new(recv.stdout.take().unwrap()).lines();
    let mut next = || -> serde_json::Value {
        serde_json::from_str(&events.next().expect("an event").unwrap()).unwrap()
    };
    let looking = next();
    assert_eq!(looking["event"], "looking", "{looking}");
    let port = looking["port"].as_u64().unwrap() as u16;
    assert_ne!(port, 0);

    // A port nothing listens on (bound, never listening: connecting is refused), and a
    // listener that closes at once.
    let closed = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    closed
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    let closed_port = closed.local_addr().unwrap().as_socket().unwrap().port();
    let not_sockit = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let not_sockit_port = not_sockit.local_addr().unwrap().port();
    let closer = std::thread::spawn(move || drop(not_sockit.accept()));
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let announce = |tcp_port: u16| {
        let ann = format!(r#"{{"app":"sockit","version":1,"nameplate":64,"port":{tcp_port}}}"#);
        udp.send_to(ann.as_bytes(), ("127.0.0.1", port)).unwrap();
    };
    for spoof in [closed_port, not_sockit_port] {
        announce(spoof);
        announce(spoof); // heard twice, tried once
        let warning = loop {
            let ev = next();
            if ev["event"] == "warning" {
                break ev;
            }
        };
        let message = warning["message"].as_str().unwrap();
        assert!(message.contains(&format!("127.0.0.1:{spoof}")), "{message}");
        assert!(
            message.contains("listening for another sender"),
            "{message}"
        );
    }
    closer.join().unwrap();

    // The real sender, announcing to the receiver's port over loopback.
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("a.txt");
    fs::write(&file, "found despite the spoofs").unwrap();
    let to = format!("127.0.0.1:{port}");
    let path = file.display().to_string();
    let _sender = Server::start(&["send", &path, "--code", CODE, "--to", &to]);
    let mut attempts = 0;
    loop {
        let ev = next();
        attempts += usize::from(ev["event"] == "connected");
        if ev["event"] == "done" {
            break;
        }
        assert_ne!(ev["event"], "warning", "{ev}");
    }
    let status = recv.wait().unwrap();
    assert!(status.success());
    assert_eq!(attempts, 1, "the real sender, once");
    assert_eq!(
        fs::read_to_string(dst.path().join("a.txt")).unwrap(),
        "found despite the spoofs"
    );
    drop(closed);
}

/// Issue 14: a name with a text-direction override is not offered (the receiver would
/// refuse the whole transfer), and the warning shows it escaped, not reversed.
#[test]
fn a_name_that_reads_as_another_is_not_sent_and_is_shown_escaped() {
    let src = tempfile::tempdir().unwrap();
    let tree = src.path().join("t");
    fs::create_dir(&tree).unwrap();
    fs::write(tree.join("invoice\u{202e}txt.exe"), "MZ").unwrap();
    fs::write(tree.join("ok.txt"), "fine").unwrap();
    let path = tree.display().to_string();
    let mut send = std::process::Command::new(bin());
    send.env("NO_COLOR", "1")
        .args([
            "send",
            &path,
            "--no-announce",
            "--code",
            CODE,
            "--bind",
            "127.0.0.1:0",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = send.spawn().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let warning = loop {
        let line = lines.next().expect("a line").unwrap();
        if line.starts_with("warning:") {
            break line;
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(warning.contains("not sent"), "{warning}");
    assert!(warning.contains("invoice\\u{202e}txt.exe"), "{warning}");
    assert!(
        !warning.contains('\u{202e}'),
        "the override reached the terminal: {warning}"
    );
    assert!(warning.contains("U+202E"), "{warning}");
}
