//! `perf` against the real thing: sockit's client with a stock `iperf3 -s` and
//! `iperf3 -c` with sockit's server (each side's figures against the other's). (Loss,
//! `--bitrate` and multicast between hosts in namespaces: `perf_netns.rs`.)
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
use crate::ns::Lan;

pub const SUBNET: &str = "10.79.0";
/// How far a TCP sender's count may run ahead of its receiver's: bytes still in socket
/// buffers when the test ends (a few MB of several GB on loopback).
const TCP_SLACK: f64 = 0.05;
/// The same for UDP over loopback: the datagrams in flight at the end, and those an
/// iperf3 receiver leaves unread once it has stopped counting (70 of 10,000 seen).
const UDP_SLACK: f64 = 0.02;

pub fn num(v: &Value) -> u64 {
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
pub fn end_of<'a>(ends: &'a [Value], dir: &str) -> &'a Value {
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
pub fn consistent(udp: &Value) {
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
