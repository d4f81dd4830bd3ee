//! Real hosts: three network namespaces on a bridge (in a fourth namespace), each with
//! an address of 10.77.0.0/24 and a default route. Broadcast and multicast here never
//! leave the namespaces this test creates, and the names carry the test's pid and tag
//! so parallel runs do not clash. Needs root; skipped (or failed under
//! SOCKIT_REQUIRE_ALL=1) without it.
//!
//! Ports are fixed here (the defaults, 9999): each run has namespaces of its own, so no
//! other program can hold them.

use std::fs;

use crate::harness::*;
use crate::ns::Lan;

const CODE: &str = "64-copper-meadow";

const SUBNET: &str = "10.77.0";

fn ip_of(event: &serde_json::Value) -> String {
    let peer: std::net::SocketAddr = event["peer"].as_str().unwrap().parse().unwrap();
    peer.ip().to_string()
}

pub fn broadcast_from_one_host_reaches_both_others_with_the_senders_address() {
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

pub fn multicast_reaches_group_members_only() {
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

pub fn recv_finds_a_sender_on_another_host_by_its_announcement() {
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

/// `sockit ARGS` (not --json) in a fresh, empty network namespace (`unshare -n`: no
/// routes, loopback down), run by `user` when given (through setpriv).
fn in_empty_netns(user: Option<&str>, args: &[&str]) -> crate::harness::Output {
    let mut cmd = std::process::Command::new("unshare");
    cmd.arg("-n");
    if let Some(uid) = user {
        cmd.args([
            "setpriv",
            "--reuid",
            uid,
            "--regid",
            uid,
            "--clear-groups",
            "--",
        ]);
    }
    cmd.arg(crate::harness::bin())
        .args(args)
        .env("NO_COLOR", "1");
    crate::harness::run_with(cmd, b"")
}

pub fn issue12_a_port_below_1024_without_privilege_says_why() {
    // As nobody, in a namespace of its own (so port 80 is nobody else's).
    let out = in_empty_netns(Some("65534"), &["tcp", "serve", "--bind", "0.0.0.0:80"]);
    assert_eq!(out.code(), 1, "{}", out.stderr);
    let err = out.stderr.trim();
    assert!(
        err.starts_with("sockit: bind 0.0.0.0:80: permission denied; ports below 1024")
            && err.contains("8080")
            && !err.contains("os error"),
        "{err}"
    );
}

pub fn issue12_multicast_that_cannot_go_out_fails_once_not_warning_and_error() {
    let out = in_empty_netns(
        None,
        &[
            "broadcast",
            "send",
            "hi",
            "--group",
            "239.77.0.9",
            "--count",
            "1",
        ],
    );
    assert_eq!(out.code(), 1, "{}", out.stderr);
    assert!(
        !out.stdout_text().contains("warning"),
        "{}",
        out.stdout_text()
    );
    let err = out.stderr.trim();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("sockit: send to 239.77.0.9:9999: "),
        "{err}"
    );
}

/// Issue 12: an address configured without `brd` reports no proper broadcast address;
/// `broadcast send` computes SUBNET.255 from the netmask instead of sending to itself.
pub fn broadcast_without_brd_reaches_the_other_host() {
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
pub fn recv_finds_send_by_its_announcements_with_and_without_brd() {
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
pub fn send_raw_defaults_to_the_notes_port_for_their_client() {
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
