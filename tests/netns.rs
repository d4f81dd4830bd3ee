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

fn can_unshare() -> bool {
    use crate::harness::{available, have_program, is_root};
    available(
        is_root() && have_program("unshare") && have_program("setpriv"),
        "root, unshare and setpriv",
    )
}

#[test]
fn issue12_a_port_below_1024_without_privilege_says_why() {
    if !can_unshare() {
        return;
    }
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

#[test]
fn issue12_multicast_that_cannot_go_out_fails_once_not_warning_and_error() {
    if !can_unshare() {
        return;
    }
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
