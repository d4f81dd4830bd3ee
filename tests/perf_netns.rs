//! `perf` between hosts in namespaces of the test's own: UDP loss counted exactly against
//! the kernel's own count of what it dropped, `--bitrate` held over ten seconds, and
//! multicast to members on other hosts.
//!
//! Loss and reordering come from tests/impair.rs (nftables and HTB: these kernels have
//! no netem), on the flow's data datagrams alone, with the kernel's own counts.

use serde_json::Value;

use crate::harness::*;
use crate::impair::{count_sent, counter, drop_some};
use crate::ns::Lan;
use crate::perf_gated::{consistent, end_of, num, SUBNET};

const GROUP: &str = "239.77.0.1";
/// The UDP payload of the loss tests, and the IP length that picks out their data.
const LEN: u64 = 1200;
const IP_LEN: u64 = LEN + 28;
/// How far reported loss may exceed what was dropped, in percentage points.
const LOSS_SLACK_PP: f64 = 0.2;

/// What sockit reports lost against what the receiver's kernel dropped: never fewer
/// (a dropped datagram cannot have arrived), and at most `LOSS_SLACK_PP` more.
fn lost_as_dropped(udp: &Value, dropped: u64) {
    let (sent, lost) = (num(&udp["sent"]), num(&udp["lost"]));
    let excess = (lost as f64 - dropped as f64) / sent as f64 * 100.0;
    assert!(
        excess.abs() <= LOSS_SLACK_PP,
        "sockit lost {lost} of {sent}, nft dropped {dropped}: {udp}"
    );
    assert!(
        lost >= dropped,
        "sockit lost {lost}, nft dropped {dropped}: {udp}"
    );
}

/// A 5 s UDP test at 50 Mbit/s from host a to a server on host b (`-R`: from b to a),
/// with one datagram in 100 dropped and one in 20 delayed on the way.
fn exact_loss(tag: &str, reverse: bool) {
    let lan = Lan::new(tag, SUBNET, 2);
    let server = lan.serve(1, &["perf", "serve", "--bind", "0.0.0.0:0", "-i", "0"]);
    let port = server.port();
    let (sender, receiver, side) = if reverse {
        (1, 0, "sport")
    } else {
        (0, 1, "dport")
    };
    let flow = format!("udp {side} {port} ip length {IP_LEN}");
    count_sent(&lan, sender, &flow, true);
    drop_some(&lan, receiver, &flow);
    let before = (
        counter(&lan, sender, "sent"),
        counter(&lan, receiver, "dropped"),
    );

    let target = format!("{SUBNET}.2:{port}");
    let len = LEN.to_string();
    let mut args = vec![
        "perf", &target, "-u", "-b", "50M", "-l", &len, "-t", "5", "-i", "0",
    ];
    if reverse {
        args.push("-R");
    }
    let out = lan.run(0, &args);
    let sent = counter(&lan, sender, "sent") - before.0;
    let dropped = counter(&lan, receiver, "dropped") - before.1;

    let ends = out.events_named("perf_end");
    let end = end_of(&ends, if reverse { "recv" } else { "send" });
    let udp = &end["udp"];
    let kernel = "datagrams the kernel saw leave";
    assert_eq!(num(&udp["sent"]), sent, "{kernel}: {udp}");
    lost_as_dropped(udp, dropped);
    assert!(num(&udp["out_of_order"]) > 0, "nothing reordered: {udp}");
    assert_eq!(udp["duplicates"], 0, "{udp}");
    consistent(udp);
    // The server printed the same figures.
    let theirs = server.wait_for("perf_end");
    for key in ["sent", "received", "lost", "out_of_order"] {
        assert_eq!(theirs["udp"][key], udp[key], "{key}: {theirs}\n{end}");
    }
}

pub fn udp_loss_is_exactly_what_the_network_dropped() {
    exact_loss("pf-loss", false);
}

pub fn udp_loss_is_exactly_what_the_network_dropped_reverse() {
    exact_loss("pf-loss-r", true);
}

/// `perf -t 10 ARGS` from host a to a server on host b: the sender's rate is
/// `--bitrate 100M` within 2 %, and so is the receiver's.
fn bitrate_held(tag: &str, args: &[&str]) {
    let lan = Lan::new(tag, SUBNET, 2);
    let server = lan.serve(1, &["perf", "serve", "--bind", "0.0.0.0:0", "-i", "0"]);
    let target = format!("{SUBNET}.2:{}", server.port());
    let mut all = vec!["perf", &target, "-b", "100M", "-t", "10", "-i", "0"];
    all.extend(args);
    let out = lan.run(0, &all);
    let ends = out.events_named("perf_end");
    let end = end_of(&ends, "send");
    for side in ["sender", "receiver"] {
        let rate = end[side]["bits_per_second"].as_f64().unwrap();
        assert!(
            (rate - 1e8).abs() <= 0.02 * 1e8,
            "{args:?}: the {side}'s rate is {rate:.0} bit/s: {end}"
        );
    }
}

pub fn tcp_bitrate_100m_is_held_over_10_seconds() {
    bitrate_held("pf-rate-t", &[]);
}

pub fn udp_bitrate_100m_is_held_over_10_seconds() {
    bitrate_held("pf-rate-u", &["-u", "-l", "1400"]);
}

fn ip_of(peer: &Value) -> String {
    let addr: std::net::SocketAddr = peer.as_str().unwrap().parse().unwrap();
    addr.ip().to_string()
}

/// Hosts a, b and c: members of `GROUP` on b and c, on the same port.
fn members(lan: &Lan) -> (Server, Server, String) {
    let serve = |i: usize, bind: &str| {
        lan.serve(
            i,
            &[
                "perf",
                "serve",
                "--bind",
                bind,
                "--multicast",
                GROUP,
                "-i",
                "0",
            ],
        )
    };
    let b = serve(1, "0.0.0.0:0");
    let port = b.port();
    let c = serve(2, &format!("0.0.0.0:{port}"));
    (b, c, port)
}

/// `perf --multicast GROUP:PORT ARGS` from host a: the sender's `perf_member` events,
/// by member (b, then c), each checked against the member's own.
fn multicast(lan: &Lan, b: &Server, c: &Server, port: &str, args: &[&str]) -> Vec<Value> {
    let to = format!("{GROUP}:{port}");
    let mut all = vec!["perf", "--multicast", &to, "-i", "0"];
    all.extend(args);
    let out = lan.run(0, &all);
    let mut reports = out.events_named("perf_member");
    reports.sort_by_key(|r| ip_of(&r["peer"]));
    let peers: Vec<String> = reports.iter().map(|r| ip_of(&r["peer"])).collect();
    assert_eq!(peers, [format!("{SUBNET}.2"), format!("{SUBNET}.3")]);
    for (report, member) in reports.iter().zip([b, c]) {
        assert_eq!(report["group"], to.as_str(), "{report}");
        let own = member.wait_for("perf_member");
        assert_eq!(ip_of(&own["peer"]), format!("{SUBNET}.1"), "{own}");
        assert_eq!(own["group"], to.as_str(), "{own}");
        for key in ["bytes", "sent", "received", "lost", "out_of_order"] {
            assert_eq!(own[key], report[key], "{key}: {own}\n{report}");
        }
        assert!(num(&report["received"]) > 0, "{report}");
        consistent(report);
    }
    reports
}

pub fn multicast_members_each_report_what_they_received() {
    let lan = Lan::new("pf-mc", SUBNET, 3);
    let (b, c, port) = members(&lan);
    let reports = multicast(&lan, &b, &c, &port, &["-b", "10M", "-t", "2"]);
    for report in &reports {
        assert_eq!(report["lost"], 0, "{report}");
    }
}

pub fn multicast_members_report_exactly_what_the_network_dropped() {
    let lan = Lan::new("pf-mc-loss", SUBNET, 3);
    let (b, c, port) = members(&lan);
    let flow = format!("ip daddr {GROUP} udp dport {port} ip length {IP_LEN}");
    count_sent(&lan, 0, &flow, false);
    drop_some(&lan, 1, &flow);
    drop_some(&lan, 2, &flow);
    let dropped = |host: usize| counter(&lan, host, "dropped");
    let before = (counter(&lan, 0, "sent"), [dropped(1), dropped(2)]);
    let len = LEN.to_string();
    let args = ["-b", "20M", "-l", &len, "-t", "3"];
    let reports = multicast(&lan, &b, &c, &port, &args);
    let sent = counter(&lan, 0, "sent") - before.0;
    for ((report, host), was) in reports.iter().zip([1, 2]).zip(before.1) {
        assert_eq!(num(&report["sent"]), sent, "datagrams the kernel saw leave");
        lost_as_dropped(report, dropped(host) - was);
    }
}
