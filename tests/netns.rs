//! Real hosts: three network namespaces on a bridge (in a fourth namespace), each with
//! an address of 10.77.0.0/24 and a default route. Broadcast and multicast here never
//! leave the namespaces this test creates, and the names carry the test's pid and tag
//! so parallel runs do not clash. Needs root; skipped (or failed under
//! SOCKIT_REQUIRE_ALL=1) without it.
//!
//! Ports are fixed here (the defaults, 9999): each run has namespaces of its own, so no
//! other program can hold them.

use crate::ns::{can_build_hosts, Lan};

const SUBNET: &str = "10.77.0";

fn ip_of(event: &serde_json::Value) -> String {
    let peer: std::net::SocketAddr = event["peer"].as_str().unwrap().parse().unwrap();
    peer.ip().to_string()
}

#[test]
fn broadcast_from_one_host_reaches_both_others_with_the_senders_address() {
    if !can_build_hosts() {
        return;
    }
    let lan = Lan::new("bc", SUBNET, 3);
    let b = lan.serve(1, &["broadcast", "listen"]);
    let c = lan.serve(2, &["broadcast", "listen"]);
    assert_eq!(b.addr.to_string(), "0.0.0.0:9999");

    // No --to: the destination is found from host a's interfaces (lo is skipped).
    let out = lan.run(0, &["broadcast", "send", "lottery", "--count", "1"]);
    let sent = out.events_named("sent");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["to"], format!("{SUBNET}.255:9999"));
    for host in [&b, &c] {
        let got = host.wait_for("datagram");
        assert_eq!(got["text"], "lottery");
        assert_eq!(ip_of(&got), format!("{SUBNET}.1"));
    }

    // Unicast across hosts shows the real sender too, and the answer comes back.
    let server = lan.serve(1, &["udp", "serve", "--bind", "0.0.0.0:0"]);
    let target = format!("{SUBNET}.2:{}", server.addr.port());
    let out = lan.run(2, &["udp", "send", &target, "hi", "from", "c"]);
    assert_eq!(out.events_named("datagram")[0]["text"], "received 9 bytes");
    let got = server.wait_for("datagram");
    assert_eq!(ip_of(&got), format!("{SUBNET}.3"));
}

#[test]
fn multicast_reaches_group_members_only() {
    if !can_build_hosts() {
        return;
    }
    let lan = Lan::new("mc", SUBNET, 3);
    let group = "239.77.0.1";
    let member = lan.serve(
        1,
        &["broadcast", "listen", "--port", "9998", "--group", group],
    );
    // A second member on the same host and port, joined on one named interface.
    let member_iface = lan.serve(
        1,
        &[
            "broadcast",
            "listen",
            "--port",
            "9998",
            "--group",
            group,
            "--iface",
            "eth0",
        ],
    );
    let outsider = lan.serve(2, &["broadcast", "listen", "--port", "9998"]);

    let out = lan.run(
        0,
        &[
            "broadcast",
            "send",
            "to the group",
            "--group",
            group,
            "--port",
            "9998",
            "--count",
            "1",
        ],
    );
    assert_eq!(out.events_named("sent")[0]["to"], format!("{group}:9998"));
    for m in [&member, &member_iface] {
        let got = m.wait_for("datagram");
        assert_eq!(got["text"], "to the group");
        assert_eq!(ip_of(&got), format!("{SUBNET}.1"));
    }

    // A unicast marker sent after the group datagram: the outsider's first datagram must
    // be the marker, so the group datagram did not reach it.
    lan.run(
        0,
        &[
            "udp",
            "send",
            &format!("{SUBNET}.3:9998"),
            "marker",
            "--wait",
            "0s",
        ],
    );
    assert_eq!(outsider.wait_for("datagram")["text"], "marker");
}

/// Issue 12: an address configured without `brd` reports no proper broadcast address;
/// `broadcast send` computes SUBNET.255 from the netmask instead of sending to itself.
#[test]
fn broadcast_without_brd_reaches_the_other_host() {
    if !can_build_hosts() {
        return;
    }
    for (tag, lan) in [
        ("bb", Lan::new("bb", "10.78.0", 2)),
        ("bn", Lan::without_brd("bn", "10.78.0", 2)),
    ] {
        let b = lan.serve(1, &["broadcast", "listen"]);
        let out = lan.run(0, &["broadcast", "send", tag, "--count", "1"]);
        let sent = out.events_named("sent");
        assert_eq!(sent.len(), 1, "{tag}: {sent:?}");
        assert_eq!(sent[0]["to"], "10.78.0.255:9999", "{tag}");
        let got = b.wait_for("datagram");
        assert_eq!(got["text"], tag);
        assert_eq!(ip_of(&got), "10.78.0.1");
    }
}

/// Issue 12: `recv` finds a `send` by its announcements on a LAN with and without `brd`.
#[test]
fn recv_finds_send_by_its_announcements_with_and_without_brd() {
    if !can_build_hosts() {
        return;
    }
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("found.txt");
    std::fs::write(&file, "found on the LAN").unwrap();
    let file = file.display().to_string();
    for (tag, lan) in [
        ("db", Lan::new("db", "10.79.0", 2)),
        ("dn", Lan::without_brd("dn", "10.79.0", 2)),
    ] {
        let sender = lan.serve(0, &["send", &file, "--code", "5-amber-lantern"]);
        let ready = sender.wait_for("ready");
        // What a receiver can type: the host's address, not 0.0.0.0.
        let port = sender.addr.port();
        assert_eq!(
            ready["addrs"],
            serde_json::json!([format!("10.79.0.1:{port}")])
        );
        let dst = tempfile::tempdir().unwrap();
        let out = lan.run(
            1,
            &[
                "recv",
                "--code",
                "5-amber-lantern",
                "--timeout",
                "15s",
                "-o",
                &dst.path().display().to_string(),
            ],
        );
        assert_eq!(
            std::fs::read_to_string(dst.path().join("found.txt")).unwrap(),
            "found on the LAN",
            "{tag}: {}",
            out.stderr
        );
        sender.wait_for("done");
    }
}

/// The notes' homework client (text version) verbatim, only its file name changed: it
/// connects to 127.0.0.1:8888.
const NOTES_TEXT_CLIENT: &str = r#"
from socket import *
import sys
file=open(sys.argv[1],'w')
s=socket()
s.connect(('127.0.0.1',8888))
while True:
    data=s.recv(4096)
    if not data:
        break
    file.write(data.decode())
s.close()
file.close()
"#;

/// Issue 12: `send --raw FILE` with no flags listens on the notes' port 8888, so their
/// client works unchanged. (A namespace of its own: port 8888 is free there.)
#[test]
fn send_raw_defaults_to_the_notes_port_for_their_client() {
    if !can_build_hosts() {
        return;
    }
    let lan = Lan::new("raw", "10.80.0", 1);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("o.txt");
    // ASCII: the notes' client decodes each 4096-byte recv on its own, which splits
    // multi-byte characters (their bug, not the protocol's).
    let text = "first line\nsecond line\n".repeat(500);
    std::fs::write(&file, &text).unwrap();
    let sender = lan.serve(0, &["send", "--raw", &file.display().to_string()]);
    assert_eq!(sender.addr.to_string(), "0.0.0.0:8888");
    assert_eq!(
        sender.wait_for("ready")["addrs"],
        serde_json::json!(["10.80.0.1:8888"])
    );
    let got = dir.path().join("d.txt");
    let mut client = lan.command(0, "python3");
    client.arg("-c").arg(NOTES_TEXT_CLIENT).arg(&got);
    let out = crate::harness::run_with(client, b"");
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&got).unwrap(), text);
    sender.wait_for("done");
}

/// Issue 12: a multicast send that fails is said once, as the error, not also as a
/// warning just before it.
#[test]
fn a_failed_multicast_send_is_reported_once() {
    if !can_build_hosts() {
        return;
    }
    let lan = Lan::new("mf", "10.81.0", 1);
    let mut del = lan.command(0, "ip");
    del.args(["route", "del", "default"]);
    assert!(crate::harness::run_with(del, b"").status.success());
    let args = [
        "broadcast",
        "send",
        "x",
        "--group",
        "239.81.0.1",
        "--count",
        "1",
    ];
    let out = crate::harness::run_with(lan.sockit(0, &args), b"");
    assert_eq!(out.code(), 1, "{}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("send to 239.81.0.1:9999"),
        "{}",
        out.stderr
    );
    assert!(out.events_named("warning").is_empty(), "{:?}", out.events());
}
