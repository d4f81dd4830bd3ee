//! `perf` against the real thing: sockit's client with a stock `iperf3 -s` and
//! `iperf3 -c` with sockit's server (each side's figures against the other's), exact
//! UDP loss against the kernel's own count of what it dropped, `--bitrate` held over
//! ten seconds, and multicast to members on other hosts.
//!
//! Loss and reordering come from tests/impair.rs (nftables and HTB: these kernels have
//! no netem), on the flow's data datagrams alone, with the kernel's own counts.
//!
//! A stock iperf3 server cannot print a port it picked, so it listens on 5201 in a
//! namespace of its own test; traffic never leaves the namespaces the tests create or
//! this machine's loopback.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;
use crate::impair::{count_sent, counter, drop_some};
use crate::ns::Lan;

const SUBNET: &str = "10.79.0";
const GROUP: &str = "239.77.0.1";
/// The UDP payload of the loss tests, and the IP length that picks out their data.
const LEN: u64 = 1200;
const IP_LEN: u64 = LEN + 28;
/// How far a TCP sender's count may run ahead of its receiver's: bytes still in socket
/// buffers when the test ends (a few MB of several GB on loopback).
const TCP_SLACK: f64 = 0.05;
/// The same for UDP over loopback: the datagrams in flight at the end, and those an
/// iperf3 receiver leaves unread once it has stopped counting (70 of 10,000 seen).
const UDP_SLACK: f64 = 0.02;
/// How far reported loss may exceed what was dropped, in percentage points.
const LOSS_SLACK_PP: f64 = 0.2;

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn near(what: &str, ours: u64, theirs: u64, slack: f64) {
    let diff = (ours as f64 - theirs as f64).abs();
    assert!(
        diff <= slack * theirs.max(1) as f64,
        "{what}: sockit {ours}, iperf3 {theirs} (more than {}% apart)",
        slack * 100.0
    );
}

/// iperf3's -J document, which must not report an error.
fn iperf3_document(text: &str) -> Value {
    let doc: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("iperf3 -J ({e}): {text}"));
    assert!(doc.get("error").is_none(), "iperf3: {}", doc["error"]);
    doc
}

/// The one `perf_end` of direction `dir` among `ends`.
fn end_of<'a>(ends: &'a [Value], dir: &str) -> &'a Value {
    let mine: Vec<&Value> = ends.iter().filter(|e| e["dir"] == dir).collect();
    assert_eq!(mine.len(), 1, "one perf_end with dir {dir}: {ends:?}");
    mine[0]
}

/// One direction that iperf3 sent: sockit shows iperf3's count as iperf3 does, and
/// what sockit received is within `slack` of it.
fn iperf3_sent(end: &Value, theirs: &Value, slack: f64) {
    assert_eq!(end["sender"]["bytes"], theirs["bytes"], "{end}\n{theirs}");
    let received = num(&end["receiver"]["bytes"]);
    near("bytes received", received, num(&theirs["bytes"]), slack);
}

/// One direction that iperf3 received: sockit shows iperf3's count as iperf3 does, and
/// what sockit sent is within `slack` of it.
fn iperf3_received(end: &Value, theirs: &Value, slack: f64) {
    assert_eq!(end["receiver"]["bytes"], theirs["bytes"], "{end}\n{theirs}");
    near(
        "bytes sent",
        num(&end["sender"]["bytes"]),
        num(&theirs["bytes"]),
        slack,
    );
}

/// docs/events.md: `lost` is `sent − received`.
fn consistent(udp: &Value) {
    assert_eq!(
        num(&udp["received"]) + num(&udp["lost"]),
        num(&udp["sent"]),
        "received + lost == sent: {udp}"
    );
}

/// `iperf3 -s -1 -p 5201 -J` alone in a namespace, where sockit's client runs beside it.
struct StockServer {
    child: Child,
    stdout: Option<JoinHandle<String>>,
    lan: Lan,
}

impl StockServer {
    fn start(tag: &str) -> StockServer {
        let lan = Lan::new(tag, SUBNET, 1);
        let mut child = lan
            .command(0, "iperf3")
            .args(["-s", "-1", "-p", "5201", "-J"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn iperf3");
        let mut out = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = out.read_to_string(&mut text);
            text
        });
        let mut server = StockServer {
            child,
            stdout: Some(stdout),
            lan,
        };
        server.wait_listening();
        server
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + STEP;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("iperf3 -s exited before it listened: {status}");
            }
            let mut ss = self.lan.command(0, "ss");
            ss.args(["-Hltn", "sport = :5201"]);
            if !run_with(ss, b"").stdout.is_empty() {
                return;
            }
            assert!(Instant::now() < deadline, "iperf3 -s did not listen");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `sockit --json perf 127.0.0.1 -t 2 ARGS` beside it: its `perf_end` events.
    fn client(&self, args: &[&str]) -> Vec<Value> {
        let mut all = vec!["perf", "127.0.0.1", "-t", "2"];
        all.extend(args);
        let out = run_with(self.lan.sockit(0, &all), b"");
        assert_eq!(out.code(), 0, "{all:?}: {}", out.stderr);
        out.events_named("perf_end")
    }

    /// iperf3's document, once it has exited after its one test.
    fn document(&mut self) -> Value {
        let status = wait_bounded(&mut self.child);
        let text = self.stdout.take().unwrap().join().unwrap();
        assert!(status.success(), "iperf3 -s: {status}: {text}");
        iperf3_document(&text)
    }
}

impl Drop for StockServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn sockit_client_with_iperf3_server_tcp() {
    let mut server = StockServer::start("pf-i3s-tcp");
    let ends = server.client(&[]);
    let doc = server.document();
    iperf3_received(
        end_of(&ends, "send"),
        &doc["end"]["sum_received"],
        TCP_SLACK,
    );
}

pub fn sockit_client_with_iperf3_server_two_streams() {
    let mut server = StockServer::start("pf-i3s-p2");
    let ends = server.client(&["-P", "2"]);
    let doc = server.document();
    let end = end_of(&ends, "send");
    assert_eq!(end["streams"].as_array().unwrap().len(), 2, "{end}");
    assert_eq!(doc["end"]["streams"].as_array().unwrap().len(), 2);
    iperf3_received(end, &doc["end"]["sum_received"], TCP_SLACK);
}

pub fn sockit_client_with_iperf3_server_reverse() {
    let mut server = StockServer::start("pf-i3s-r");
    let ends = server.client(&["-R"]);
    let doc = server.document();
    iperf3_sent(end_of(&ends, "recv"), &doc["end"]["sum_sent"], TCP_SLACK);
}

pub fn sockit_client_with_iperf3_server_bidir() {
    let mut server = StockServer::start("pf-i3s-bd");
    let ends = server.client(&["--bidir"]);
    let doc = server.document();
    iperf3_received(
        end_of(&ends, "send"),
        &doc["end"]["sum_received"],
        TCP_SLACK,
    );
    let back = &doc["end"]["sum_sent_bidir_reverse"];
    iperf3_sent(end_of(&ends, "recv"), back, TCP_SLACK);
}

pub fn sockit_client_with_iperf3_server_udp() {
    let mut server = StockServer::start("pf-i3s-u");
    let ends = server.client(&["-u", "-b", "50M", "-l", "1200"]);
    let doc = server.document();
    let end = end_of(&ends, "send");
    let theirs = &doc["end"]["sum_received"];
    iperf3_received(end, theirs, UDP_SLACK);
    let udp = &end["udp"];
    near(
        "datagrams",
        num(&udp["sent"]),
        num(&theirs["packets"]),
        UDP_SLACK,
    );
    let got = num(&theirs["packets"]) - num(&theirs["lost_packets"]);
    assert_eq!(num(&udp["received"]), got, "{udp}\n{theirs}");
    consistent(udp);
}

pub fn sockit_client_with_iperf3_server_udp_reverse() {
    let mut server = StockServer::start("pf-i3s-ur");
    let ends = server.client(&["-u", "-b", "50M", "-l", "1200", "-R"]);
    let doc = server.document();
    let end = end_of(&ends, "recv");
    let theirs = &doc["end"]["sum_sent"];
    iperf3_sent(end, theirs, UDP_SLACK);
    let udp = &end["udp"];
    assert_eq!(udp["sent"], theirs["packets"], "{udp}\n{theirs}");
    near(
        "datagrams",
        num(&udp["received"]),
        num(&udp["sent"]),
        UDP_SLACK,
    );
    consistent(udp);
}

/// `iperf3 -c 127.0.0.1 -t 2 -J ARGS` against `sockit perf serve`: iperf3's document
/// and the server's `perf_end` events. UDP runs at 50 Mbit/s in 1200-byte datagrams:
/// iperf3's default on loopback (1 Mbit/s in 32 KiB) is 8 datagrams in 2 s.
fn iperf3_client(args: &[&str]) -> (Value, Vec<Value>) {
    let server = Server::start(&["perf", "serve", "-i", "0"]);
    let port = server.port();
    let mut iperf3 = Command::new("iperf3");
    iperf3
        .args(["-c", "127.0.0.1", "-p", &port, "-t", "2", "-J"])
        .args(args);
    let out = run_with(iperf3, b"");
    let doc = iperf3_document(&out.stdout_text());
    assert_eq!(out.code(), 0, "iperf3 -c {args:?}: {}", out.stderr);
    let ways = if args.contains(&"--bidir") { 2 } else { 1 };
    let ends = (0..ways).map(|_| server.wait_for("perf_end")).collect();
    (doc, ends)
}

/// What iperf3 shows of sockit's own count: exactly what sockit printed.
fn iperf3_shows(theirs: &Value, end: &Value, side: &str) {
    assert_eq!(
        theirs["bytes"], end[side]["bytes"],
        "{side}: {theirs}\n{end}"
    );
}

pub fn iperf3_client_with_sockit_server_tcp() {
    let (doc, ends) = iperf3_client(&[]);
    let end = end_of(&ends, "recv");
    iperf3_sent(end, &doc["end"]["sum_sent"], TCP_SLACK);
    iperf3_shows(&doc["end"]["sum_received"], end, "receiver");
}

pub fn iperf3_client_with_sockit_server_two_streams() {
    let (doc, ends) = iperf3_client(&["-P", "2"]);
    let end = end_of(&ends, "recv");
    assert_eq!(end["streams"].as_array().unwrap().len(), 2, "{end}");
    iperf3_sent(end, &doc["end"]["sum_sent"], TCP_SLACK);
    iperf3_shows(&doc["end"]["sum_received"], end, "receiver");
}

pub fn iperf3_client_with_sockit_server_reverse() {
    let (doc, ends) = iperf3_client(&["-R"]);
    let end = end_of(&ends, "send");
    iperf3_received(end, &doc["end"]["sum_received"], TCP_SLACK);
    iperf3_shows(&doc["end"]["sum_sent"], end, "sender");
}

pub fn iperf3_client_with_sockit_server_bidir() {
    let (doc, ends) = iperf3_client(&["--bidir"]);
    let (to_sockit, from_sockit) = (end_of(&ends, "recv"), end_of(&ends, "send"));
    iperf3_sent(to_sockit, &doc["end"]["sum_sent"], TCP_SLACK);
    iperf3_shows(&doc["end"]["sum_received"], to_sockit, "receiver");
    let back = &doc["end"]["sum_received_bidir_reverse"];
    iperf3_received(from_sockit, back, TCP_SLACK);
    iperf3_shows(&doc["end"]["sum_sent_bidir_reverse"], from_sockit, "sender");
}

pub fn iperf3_client_with_sockit_server_udp() {
    let (doc, ends) = iperf3_client(&["-u", "-b", "50M", "-l", "1200"]);
    let end = end_of(&ends, "recv");
    let theirs = &doc["end"]["sum_sent"];
    iperf3_sent(end, theirs, UDP_SLACK);
    iperf3_shows(&doc["end"]["sum_received"], end, "receiver");
    let udp = &end["udp"];
    assert_eq!(udp["sent"], theirs["packets"], "{udp}\n{theirs}");
    near(
        "datagrams",
        num(&udp["received"]),
        num(&udp["sent"]),
        UDP_SLACK,
    );
    consistent(udp);
}

pub fn iperf3_client_with_sockit_server_udp_reverse() {
    let (doc, ends) = iperf3_client(&["-u", "-b", "50M", "-l", "1200", "-R"]);
    let end = end_of(&ends, "send");
    let theirs = &doc["end"]["sum_received"];
    iperf3_received(end, theirs, UDP_SLACK);
    iperf3_shows(&doc["end"]["sum_sent"], end, "sender");
    let udp = &end["udp"];
    assert_eq!(doc["end"]["sum_sent"]["packets"], udp["sent"], "{udp}");
    near(
        "datagrams",
        num(&udp["sent"]),
        num(&theirs["packets"]),
        UDP_SLACK,
    );
    consistent(udp);
}

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
