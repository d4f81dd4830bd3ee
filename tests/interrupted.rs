//! Transfers interrupted at a chosen byte, every time: a sender (or receiver) written
//! here passes the real handshake, sends (or reads) exactly that much of a file and then
//! vanishes or stalls, so resuming is tested whatever the machine's speed. (Killing a
//! real peer "somewhere in flight" raced the transfer: a fast one finished first.)

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::thread::JoinHandle;

use sockit::transfer::{as_receiver, as_sender, Msg, Record};

use crate::harness::*;
use crate::hostile::{code, conn, file, manifest, CODE};

/// What the scripted sender does once the cut is sent.
#[derive(Clone, Copy)]
enum Then {
    /// Closes the connection, as a sender whose process died.
    Close,
    /// Keeps the connection open, sending nothing, until the receiver goes away.
    Stall,
}

/// A sender that offers `files`, sends every file but the last whole, and of the last
/// only its first `cut` bytes; then does `then`. Returns the address it listens on.
fn scripted_sender(
    files: Vec<(&'static str, Vec<u8>)>,
    cut: usize,
    then: Then,
) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let thread = std::thread::spawn(move || {
        let s = accept_within_step(&listener);
        let mut c = conn(&s);
        as_sender(&mut c, &code(), true).unwrap();
        let entries = files
            .iter()
            .map(|(path, data)| file(path, data.len() as u64))
            .collect();
        let have = manifest(&mut c, entries).expect("the receiver takes the manifest");
        assert!(have.is_empty(), "nothing is there yet: {have:?}");
        let last = files.len() - 1;
        for (index, (_, data)) in files.iter().enumerate() {
            c.send(&Msg::File {
                index: index as u64,
                offset: 0,
                restart: false,
            })
            .unwrap();
            let sent = if index == last { &data[..cut] } else { data };
            for chunk in sent.chunks(64 << 10) {
                c.send_data(chunk).unwrap();
            }
            if index < last {
                c.send(&Msg::FileEnd {
                    index: index as u64,
                    blake3: blake3::hash(data).to_hex().to_string(),
                })
                .unwrap();
            }
        }
        c.flush().unwrap();
        match then {
            Then::Close => drop(c),
            // Returns when the receiver has gone (or after `STEP`, failing its test).
            Then::Stall => assert!(c.recv().is_err(), "the receiver sent something"),
        }
    });
    (addr, thread)
}

/// The first connection to `listener`; fails (rather than hangs) if none comes in `STEP`.
fn accept_within_step(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let deadline = std::time::Instant::now() + STEP;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                return s;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(std::time::Instant::now() < deadline, "no receiver came");
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// A child process killed when dropped, so that a failing test leaves none behind.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn recv_args<'a>(addr: &'a str, out: &'a str) -> [&'a str; 6] {
    ["recv", addr, "--code", CODE, "-o", out]
}

/// The one `file` event of `path` in a receiver's output.
fn file_event(out: &Output, path: &str) -> serde_json::Value {
    let files = out.events_named("file");
    let found: Vec<_> = files.iter().filter(|f| f["path"] == path).collect();
    assert_eq!(found.len(), 1, "{path} in {files:?}");
    found[0].clone()
}

/// A sender gone after exactly `cut` bytes leaves exactly that prefix as partial state,
/// and a real sender then sends only the rest. Both of the receiver's ways of writing:
/// a large file (written by the session thread) and a small one (by the disk thread).
#[test]
fn a_sender_gone_at_a_chosen_byte_leaves_that_prefix_and_a_real_sender_resumes_it() {
    for (size, cut) in [(3_000_000, 1_234_567), (600_000, 200_001)] {
        let src = tempfile::tempdir().unwrap();
        let data = pattern(size);
        let path = src.path().join("big.bin");
        fs::write(&path, &data).unwrap();
        let dst = tempfile::tempdir().unwrap();
        let out_dir = dst.path().display().to_string();

        let (addr, sender) = scripted_sender(vec![("big.bin", data.clone())], cut, Then::Close);
        let out = run(&recv_args(&addr, &out_dir), b"");
        sender.join().unwrap();
        assert_eq!(out.code(), 1, "{size}: {}", out.stdout_text());
        assert_eq!(out.stderr.lines().count(), 1, "one line: {}", out.stderr);
        assert!(
            out.stderr.contains("closed the connection"),
            "{}",
            out.stderr
        );
        assert!(!dst.path().join("big.bin").exists(), "not verified");
        let kept = partial(dst.path(), "big.bin")
            .unwrap_or_else(|| panic!("{size}: no partial state kept"));
        assert_eq!(kept.len(), cut, "{size}: the bytes that arrived, no more");
        assert!(kept == data[..cut], "{size}: the prefix as sent");

        let real = transfer_sender(CODE, &path);
        let out = transfer_recv(&real, dst.path(), CODE);
        assert_eq!(out.code(), 0, "{}", out.stderr);
        let ev = file_event(&out, "big.bin");
        assert_eq!(ev["resumed"], cut, "{ev}");
        assert_eq!(out.events_named("done")[0]["existing"], cut);
        assert!(fs::read(dst.path().join("big.bin")).unwrap() == data);
        assert_eq!(partial(dst.path(), "big.bin"), None);
    }
}

/// A receiver written here: passes the handshake with a real `send --keep`, asks for
/// everything, reads `cut` bytes of the file with index `index`, then vanishes.
fn receiver_gone_after(server: &Server, index: u64, cut: usize) {
    drop(receiver_stalled_after(server, index, cut));
}

/// `receiver_gone_after`, but the receiver stays, reading nothing more, until the
/// connection returned is dropped.
fn receiver_stalled_after(server: &Server, index: u64, cut: usize) -> TcpStream {
    let s = TcpStream::connect(server.addr).unwrap();
    let mut c = conn(&s);
    as_receiver(&mut c, &code(), true).unwrap();
    while !matches!(c.recv_msg().unwrap(), Msg::ManifestEnd { .. }) {}
    c.send(&Msg::PlanEnd).unwrap();
    c.flush().unwrap();
    let (mut current, mut got) = (None, 0);
    while got < cut {
        match c.recv().unwrap() {
            Record::Msg(Msg::File { index: i, .. }) => current = Some(i),
            Record::Data(d) if current == Some(index) => got += d.len(),
            Record::Msg(m @ Msg::Done { .. }) => panic!("the whole transfer arrived: {m:?}"),
            _ => {}
        }
    }
    s
}

/// `send --keep` serves receivers at once: one stalled midway (it stops reading, so the
/// sender's writes to it block) does not hold up the next.
#[test]
fn keep_serves_a_second_receiver_while_the_first_is_stalled_midway() {
    let src = tempfile::tempdir().unwrap();
    let data = pattern(5_000_000);
    let path = src.path().join("big.bin");
    fs::write(&path, &data).unwrap();
    let server = transfer_sender(CODE, &path);
    let stalled = receiver_stalled_after(&server, 0, 1 << 20);
    let dst = tempfile::tempdir().unwrap();
    let out = transfer_recv(&server, dst.path(), CODE);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(fs::read(dst.path().join("big.bin")).unwrap() == data);
    server.wait_for("done");
    drop(stalled);
    let gone = server.wait_for("warning");
    let said = gone["message"].as_str().unwrap();
    assert!(said.contains("transfer failed"), "{gone}");
}

/// The real receiver killed (SIGKILL) at a chosen byte of the second file keeps the
/// first file under its final name and exactly that prefix of the second; a real
/// `send --keep`, which meanwhile loses another receiver midway, then serves the rest.
#[test]
fn a_receiver_killed_at_a_chosen_byte_then_run_again_completes_bit_exact() {
    let src = tempfile::tempdir().unwrap();
    let big = pattern(5_000_000);
    let cut = 2_345_679;
    fs::write(src.path().join("first.txt"), "first").unwrap();
    fs::write(src.path().join("second.bin"), &big).unwrap();
    let dst = tempfile::tempdir().unwrap();
    let out_dir = dst.path().display().to_string();

    let files = vec![
        ("first.txt", b"first".to_vec()),
        ("second.bin", big.clone()),
    ];
    let (addr, sender) = scripted_sender(files, cut, Then::Stall);
    let child = sockit(&recv_args(&addr, &out_dir))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let receiver = Killed(child);
    // The sender has sent the cut and waits: once it is on disk, nothing else comes.
    wait_for_partial(dst.path(), "second.bin", cut);
    drop(receiver); // SIGKILL
    sender.join().unwrap();
    assert!(
        !dst.path().join("second.bin").exists(),
        "nothing unverified under its final name"
    );
    assert!(partial(dst.path(), "second.bin").unwrap() == big[..cut]);
    assert_eq!(
        fs::read_to_string(dst.path().join("first.txt")).unwrap(),
        "first"
    );

    let paths = [src.path().join("first.txt"), src.path().join("second.bin")];
    let real = Server::start(&[
        "send",
        &paths[0].display().to_string(),
        &paths[1].display().to_string(),
        "--keep",
        "--no-announce",
        "--code",
        CODE,
    ]);
    real.wait_for("ready");
    receiver_gone_after(&real, 1, 1 << 20);
    let gone = real.wait_for("warning");
    let said = gone["message"].as_str().unwrap();
    assert!(said.contains("transfer failed"), "{gone}");

    let out = transfer_recv(&real, dst.path(), CODE);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(file_event(&out, "first.txt")["unchanged"], true);
    assert_eq!(file_event(&out, "second.bin")["resumed"], cut);
    assert!(fs::read(dst.path().join("second.bin")).unwrap() == big);
    assert_eq!(partial(dst.path(), "second.bin"), None);
}
