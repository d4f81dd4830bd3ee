//! A receiver written here that passes the real handshake with `sockit send --keep`,
//! then sends plans no honest receiver would: the sender must refuse each and go on
//! serving.

use std::fs;
use std::net::TcpStream;

use sockit::transfer::{as_receiver, Have, Msg, Record, Role, WireError};

use crate::harness::*;
use crate::hostile::{code, conn, CODE};

/// A receiver that passes the handshake with the real `send --keep`, then misbehaves.
fn hostile_receiver(server: &Server, plan: Vec<Have>) -> Result<Vec<Msg>, WireError> {
    let s = TcpStream::connect(server.addr).unwrap();
    let mut c = conn(&s);
    as_receiver(&mut c, &code(), true).map_err(|e| WireError::Peer(e.to_string()))?;
    loop {
        if let Msg::ManifestEnd { .. } = c.recv_msg()? {
            break;
        }
    }
    c.send(&Msg::Plan { have: plan })?;
    c.send(&Msg::PlanEnd)?;
    c.flush()?;
    let mut got = Vec::new();
    loop {
        match c.recv()? {
            Record::Msg(m @ Msg::Done { .. }) => {
                got.push(m);
                return Ok(got);
            }
            Record::Msg(m) => got.push(m),
            Record::Data(_) => {}
        }
    }
}

#[test]
fn a_hostile_receiver_cannot_crash_the_sender() {
    let src = tempfile::tempdir().unwrap();
    let tree = src.path().join("t");
    fs::create_dir(&tree).unwrap();
    fs::write(tree.join("f.txt"), "0123456789").unwrap();
    let path = tree.display().to_string();
    let server = Server::start(&["send", &path, "--keep", "--no-announce", "--code", CODE]);
    let have = |index, size, complete| Have {
        index,
        size,
        blake3: "0".repeat(64),
        complete,
        send_if_differs: false,
    };

    for (plan, why) in [
        (vec![have(99, 1, false)], "does not exist"),
        (vec![have(0, 1, false)], "not a file"),
        (vec![have(1, 1, false), have(1, 2, false)], "twice"),
        (vec![have(1, 10, true)], "differs"),
    ] {
        assert!(hostile_receiver(&server, plan).is_err());
        let warn = server.wait_for("warning");
        assert!(warn["message"].as_str().unwrap().contains(why), "{warn}");
    }
    // A `.part` "larger than the file" is not trusted: the file starts over.
    let got = hostile_receiver(&server, vec![have(1, 1 << 40, false)]).unwrap();
    assert!(
        got.contains(&Msg::File {
            index: 1,
            offset: 0,
            restart: true
        }),
        "{got:?}"
    );
    // A hello whose PAKE message is garbage, and a receiver that leaves mid-handshake.
    let s = TcpStream::connect(server.addr).unwrap();
    let mut c = conn(&s);
    c.send(&Msg::Hello {
        app: "sockit".into(),
        version: 1,
        role: Role::Recv,
        pake: "AAAA".into(),
        encrypt: true,
    })
    .unwrap();
    c.flush().unwrap();
    assert!(c.recv_msg().is_ok(), "the sender's hello");
    assert!(c.recv_msg().is_err());
    drop(TcpStream::connect(server.addr).unwrap());

    // The sender still serves an honest receiver.
    let dst = tempfile::tempdir().unwrap();
    let d = dst.path().display().to_string();
    let out = run(
        &["recv", &server.addr.to_string(), "--code", CODE, "-o", &d],
        b"",
    );
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(
        fs::read_to_string(dst.path().join("t/f.txt")).unwrap(),
        "0123456789"
    );
}

/// Large files are sent from a memory map, where a file truncated meanwhile would raise
/// SIGBUS: the sender must fail that receiver with a clear reason and keep serving.
#[test]
fn a_file_cut_short_while_it_is_sent_fails_that_receiver_and_the_sender_goes_on() {
    cut_short_while_sent(false);
}

/// The same with `--plain`, where a large file is sent from a memory map: the cut
/// raises `SIGBUS` in the sender, which must report it as a shrink and serve on.
#[test]
fn issue14_a_file_cut_short_while_sent_from_a_map_fails_that_receiver_and_the_sender_goes_on() {
    cut_short_while_sent(true);
}

/// Whether process `pid` has `file` mapped (`/proc/PID/maps` names mapped files).
fn maps_file(pid: u32, file: &std::path::Path) -> bool {
    let maps = fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let name = file.display().to_string();
    maps.lines().any(|l| l.ends_with(&name))
}

/// Starts sending a 64 MiB file, cuts it to 1 MiB as soon as its first chunk arrives
/// and checks that the sender says it shrank and still serves. `plain` large files
/// are sent from a map, encrypted ones read (a map saves no copy there): checked in
/// the sender's `/proc/PID/maps` while it is inside the file.
fn cut_short_while_sent(plain: bool) {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("big.bin");
    fs::write(&file, vec![7u8; 64 << 20]).unwrap();
    let path = file.display().to_string();
    let mut args = vec!["send", &path, "--keep", "--no-announce", "--code", CODE];
    if plain {
        args.push("--plain");
    }
    let server = Server::start(&args);

    let s = TcpStream::connect(server.addr).unwrap();
    let mut c = conn(&s);
    as_receiver(&mut c, &code(), !plain).unwrap();
    while !matches!(c.recv_msg().unwrap(), Msg::ManifestEnd { .. }) {}
    c.send(&Msg::PlanEnd).unwrap();
    c.flush().unwrap();
    let mut cut = false;
    let mut data = 0usize;
    let ended = loop {
        match c.recv() {
            Ok(Record::Data(d)) => {
                data += d.len();
                if !cut {
                    // The sender is now inside the file, blocked on the socket.
                    assert_eq!(
                        maps_file(server.pid(), &file),
                        plain,
                        "whether the sender maps the file (plain: {plain})"
                    );
                    fs::OpenOptions::new()
                        .write(true)
                        .open(&file)
                        .unwrap()
                        .set_len(1 << 20)
                        .unwrap();
                    cut = true;
                }
            }
            Ok(Record::Msg(m @ (Msg::FileEnd { .. } | Msg::Done { .. }))) => break Ok(m),
            Ok(Record::Msg(_)) => {}
            Err(e) => break Err(e),
        }
    };
    assert!(
        ended.is_err(),
        "the transfer of a cut file ended as if whole: {ended:?}"
    );
    assert!(data < 64 << 20, "{data} bytes arrived");
    let warn = server.wait_for("warning");
    assert!(
        warn["message"]
            .as_str()
            .unwrap()
            .contains("big.bin shrank while being sent"),
        "{warn}"
    );

    // Still serving: the next receiver gets through the handshake.
    let s = TcpStream::connect(server.addr).unwrap();
    as_receiver(&mut conn(&s), &code(), !plain).unwrap();
}

/// A receiver that proves the code, asks for a file and then never reads: the sender's
/// writes must give it up after the silence limit, as its reads would, and serve on.
#[test]
fn issue13_a_receiver_that_stops_reading_is_given_up_after_the_silence_limit() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("big.bin");
    // Far more than the socket buffers of both ends hold.
    fs::write(&file, pattern(64 << 20)).unwrap();
    let path = file.display().to_string();
    let mut cmd = sockit(&["send", &path, "--keep", "--no-announce", "--code", CODE]);
    cmd.args(["--bind", "127.0.0.1:0"])
        .env("SOCKIT_TEST_SILENCE_LIMIT", "300");
    let server = Server::start_command(cmd);

    let s = TcpStream::connect(server.addr).unwrap();
    let mut c = conn(&s);
    as_receiver(&mut c, &code(), true).unwrap();
    while !matches!(c.recv_msg().unwrap(), Msg::ManifestEnd { .. }) {}
    c.send(&Msg::PlanEnd).unwrap();
    c.flush().unwrap();
    // From here on nothing is read from `s`.
    let warn = server.wait_until(|ev| ev["event"] == "warning");
    let message = warn["message"].as_str().unwrap();
    assert!(message.contains("went silent"), "{warn}");
    assert!(message.contains("0.3 s"), "{warn}");

    // Still serving.
    let dst = tempfile::tempdir().unwrap();
    let out = transfer_recv(&server, dst.path(), CODE);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(
        fs::read(dst.path().join("big.bin")).unwrap().len(),
        64 << 20
    );
    drop(s);
}

/// `send --raw --keep`: a client that never reads is given up after the silence limit,
/// and does not keep another client from getting the whole file meanwhile.
#[test]
fn issue13_a_raw_client_that_does_not_read_delays_only_itself() {
    use std::io::Read;
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("big.bin");
    fs::write(&file, pattern(32 << 20)).unwrap();
    let path = file.display().to_string();
    let mut cmd = sockit(&["send", "--raw", &path, "--keep"]);
    cmd.args(["--bind", "127.0.0.1:0"])
        .env("SOCKIT_TEST_SILENCE_LIMIT", "1000");
    let server = Server::start_command(cmd);
    let stalled = TcpStream::connect(server.addr).unwrap();
    let mut reader = TcpStream::connect(server.addr).unwrap();
    reader.set_read_timeout(Some(STEP)).unwrap();
    let mut got = Vec::new();
    reader.read_to_end(&mut got).unwrap();
    assert!(
        got == pattern(32 << 20),
        "{} bytes, not the file",
        got.len()
    );
    let done = server.wait_for("done");
    assert_eq!(done["bytes"], 32 << 20);
    let warn = server.wait_for("warning");
    let message = warn["message"].as_str().unwrap();
    assert!(message.contains("took nothing for 1 s"), "{warn}");
    drop(stalled);
}

/// Issue 14: a file rewritten in place while it is sent (same size, other bytes) is
/// not offered as that file: the sender ends the transfer with a clear error instead
/// of a `file_end`, so the receiver names nothing that was never on the sender's disk.
#[test]
fn a_file_rewritten_in_place_while_it_is_sent_is_refused_not_named() {
    use std::io::{Seek, Write};
    for plain in [false, true] {
        let src = tempfile::tempdir().unwrap();
        let file = src.path().join("big.bin");
        fs::write(&file, vec![1u8; 64 << 20]).unwrap();
        let path = file.display().to_string();
        let mut args = vec!["send", &path, "--keep", "--no-announce", "--code", CODE];
        if plain {
            args.push("--plain");
        }
        let server = Server::start(&args);

        let s = TcpStream::connect(server.addr).unwrap();
        let mut c = conn(&s);
        as_receiver(&mut c, &code(), !plain).unwrap();
        while !matches!(c.recv_msg().unwrap(), Msg::ManifestEnd { .. }) {}
        c.send(&Msg::PlanEnd).unwrap();
        c.flush().unwrap();
        let mut rewritten = false;
        let ended = loop {
            match c.recv() {
                Ok(Record::Data(_)) if !rewritten => {
                    // The sender is inside the file, blocked on the socket: rewrite it
                    // where it stands, size unchanged, with a modification time that
                    // differs whatever the clock's granularity.
                    let mut f = fs::OpenOptions::new().write(true).open(&file).unwrap();
                    f.seek(std::io::SeekFrom::Start(0)).unwrap();
                    f.write_all(&vec![2u8; 64 << 20]).unwrap();
                    f.set_modified(
                        std::time::SystemTime::now() + std::time::Duration::from_secs(60),
                    )
                    .unwrap();
                    rewritten = true;
                }
                Ok(Record::Data(_)) => {}
                Ok(Record::Msg(m @ (Msg::FileEnd { .. } | Msg::Done { .. }))) => break Ok(m),
                Ok(Record::Msg(_)) => {}
                Err(e) => break Err(e),
            }
        };
        let Err(WireError::Peer(why)) = ended else {
            panic!("a file rewritten while it was sent ended as {ended:?} (plain: {plain})");
        };
        assert!(why.contains("big.bin changed while being sent"), "{why}");
        let warn = server.wait_for("warning");
        assert!(
            warn["message"]
                .as_str()
                .unwrap()
                .contains("changed while being sent"),
            "{warn}"
        );

        // A real receiver now gets the file as it is, whole.
        let dst = tempfile::tempdir().unwrap();
        let d = dst.path().display().to_string();
        let addr = server.addr.to_string();
        let mut recv = vec!["recv", &addr, "--code", CODE, "-o", &d];
        if plain {
            recv.push("--plain");
        }
        let out = run(&recv, b"");
        assert_eq!(out.code(), 0, "{}", out.stderr);
        assert!(fs::read(dst.path().join("big.bin")).unwrap() == vec![2u8; 64 << 20]);
    }
}
