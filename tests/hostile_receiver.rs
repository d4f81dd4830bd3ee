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
