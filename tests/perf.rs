//! `sockit perf` against `sockit perf serve`, both the real binary: the figures of each
//! mode, the end conditions, `--latency`, `--iperf-json`, and a server serving many
//! tests at once. (Hostile control connections and Ctrl-C: `perf_hostile.rs`; options:
//! `perf_options.rs`.)

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::sync::mpsc;

use serde_json::{json, Value};

use crate::harness::*;

pub fn serve() -> Server {
    Server::start(&["perf", "serve"])
}

/// `sockit --json perf ADDR ARGS`.
pub fn perf(server: &Server, args: &[&str]) -> Output {
    let addr = server.addr.to_string();
    let mut all = vec!["perf", addr.as_str()];
    all.extend(args);
    run(&all, b"")
}

/// A client run that must succeed.
pub fn perf_ok(server: &Server, args: &[&str]) -> Output {
    let out = perf(server, args);
    assert_eq!(out.code(), 0, "perf {args:?}: {}", out.stderr);
    out
}

/// The one event named `name`.
pub fn only(out: &Output, name: &str) -> Value {
    let mut all = out.events_named(name);
    assert_eq!(all.len(), 1, "{name}: {}", out.stdout_text());
    all.remove(0)
}

/// The ids in an event's `streams`.
fn stream_ids(ev: &Value) -> Vec<u64> {
    ev["streams"]
        .as_array()
        .unwrap_or_else(|| panic!("no streams: {ev}"))
        .iter()
        .map(|s| s["stream"].as_u64().unwrap())
        .collect()
}

pub fn bytes(side: &Value) -> u64 {
    side["bytes"]
        .as_u64()
        .unwrap_or_else(|| panic!("no bytes: {side}"))
}

/// The server's `perf_end` for `dir`, the events before it skipped.
fn server_end(server: &Server, dir: &str) -> Value {
    server.wait_until(|e| e["event"] == "perf_end" && e["dir"] == dir)
}

#[test]
fn tcp_test_reports_intervals_and_both_sides_totals() {
    let server = serve();
    let out = perf_ok(&server, &["-t", "1", "-i", "200ms"]);
    let start = only(&out, "perf_start");
    assert_eq!(start["role"], "client");
    assert_eq!(start["protocol"], "tcp");
    assert_eq!(start["mode"], "normal");
    let intervals = out.events_named("perf_interval");
    assert!(intervals.len() >= 3, "{}", out.stdout_text());
    for i in &intervals {
        assert_eq!(i["dir"], "send");
        assert!(bytes(i) > 0, "{i}");
    }
    let end = only(&out, "perf_end");
    assert_eq!(end["dir"], "send");
    let (sent, received) = (bytes(&end["sender"]), bytes(&end["receiver"]));
    assert!(sent > 0, "{end}");
    assert!(
        received.abs_diff(sent) <= sent / 10,
        "received {received} of {sent}: {end}"
    );
    let rtt = |k: &str| {
        end["rtt"][k]
            .as_u64()
            .unwrap_or_else(|| panic!("rtt {k}: {end}"))
    };
    assert!(
        rtt("min_us") <= rtt("mean_us") && rtt("mean_us") <= rtt("max_us"),
        "{end}"
    );
    assert!(end["cpu"]["local"].is_number(), "{end}");
    assert!(end["cpu"]["remote"].is_number(), "{end}");

    let s = server.wait_for("perf_start");
    assert_eq!(s["role"], "server");
    assert_eq!(s["test"], 1);
    assert_eq!(s["cookie"], start["cookie"]);
    let s_end = server_end(&server, "recv");
    assert_eq!(s_end["test"], 1);
    assert_eq!(bytes(&s_end["sender"]), sent);
}

#[test]
fn reverse_test_reports_what_the_client_received() {
    let server = serve();
    let out = perf_ok(&server, &["-t", "0.5", "-i", "200ms", "-R"]);
    assert_eq!(only(&out, "perf_start")["mode"], "reverse");
    let end = only(&out, "perf_end");
    assert_eq!(end["dir"], "recv");
    assert!(bytes(&end["receiver"]) > 0, "{end}");
    assert_eq!(server_end(&server, "send")["test"], 1);
}

#[test]
fn bidir_test_reports_each_direction_with_its_own_stream() {
    let server = serve();
    let out = perf_ok(&server, &["-t", "0.5", "-i", "200ms", "--bidir"]);
    let ends = out.events_named("perf_end");
    let dirs: Vec<&Value> = ends.iter().map(|e| &e["dir"]).collect();
    assert_eq!(dirs, ["send", "recv"], "{}", out.stdout_text());
    assert_eq!(stream_ids(&ends[0]), [1]);
    assert_eq!(stream_ids(&ends[1]), [3]);
    for end in &ends {
        assert!(bytes(&end["sender"]) > 0, "{end}");
        assert!(bytes(&end["receiver"]) > 0, "{end}");
    }
}

#[test]
fn parallel_streams_are_numbered_as_iperf3_numbers_them() {
    let server = serve();
    let out = perf_ok(&server, &["-t", "0.5", "-i", "200ms", "-P", "3"]);
    assert_eq!(only(&out, "perf_start")["streams"], 3);
    let intervals = out.events_named("perf_interval");
    assert!(!intervals.is_empty());
    for i in &intervals {
        assert_eq!(stream_ids(i), [1, 3, 4], "{i}");
    }
    let end = only(&out, "perf_end");
    assert_eq!(stream_ids(&end), [1, 3, 4]);
    let per_stream: u64 = end["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| bytes(&s["sender"]))
        .sum();
    assert_eq!(per_stream, bytes(&end["sender"]), "{end}");
}

/// The sender's count is taken when its stream has stopped: a block it was writing
/// as the test ended reached the receiver, so it must be in the sender's total too.
#[test]
fn issue17_tcp_sender_counts_every_byte_its_receiver_got() {
    let server = serve();
    let out = perf_ok(&server, &["-t", "0.5", "-i", "0", "-P", "3"]);
    let end = only(&out, "perf_end");
    for s in end["streams"].as_array().unwrap() {
        let (sent, received) = (bytes(&s["sender"]), bytes(&s["receiver"]));
        assert!(
            received <= sent,
            "stream {}: received {received} of {sent}: {end}",
            s["stream"]
        );
    }
}

/// UDP on loopback at a rate two cores keep up with: nothing is lost, and the
/// receiver counts exactly the datagrams the sender sent.
fn assert_udp_counts_every_datagram(args: &[&str], dir: &str) {
    let server = serve();
    let mut all = vec!["-u", "-b", "20M", "-l", "1200", "-t", "1", "-i", "200ms"];
    all.extend(args);
    let out = perf_ok(&server, &all);
    assert_eq!(only(&out, "perf_start")["protocol"], "udp");
    let end = only(&out, "perf_end");
    assert_eq!(end["dir"], dir);
    let udp = &end["udp"];
    assert!(udp["sent"].as_u64() > Some(0), "{end}");
    assert_eq!(udp["lost"], 0, "{end}");
    assert_eq!(udp["received"], udp["sent"], "{end}");
    assert_eq!(bytes(&end["receiver"]), bytes(&end["sender"]), "{end}");
}

#[test]
fn issue17_udp_counts_every_datagram_on_loopback() {
    assert_udp_counts_every_datagram(&[], "send");
}

#[test]
fn issue17_udp_reverse_counts_every_datagram_on_loopback() {
    assert_udp_counts_every_datagram(&["-R"], "recv");
}

#[test]
fn bytes_end_the_test_after_exactly_that_many_bytes_sent() {
    let server = serve();
    let out = perf_ok(&server, &["-n", "1MiB", "-i", "200ms"]);
    assert_eq!(only(&out, "perf_start")["bytes"], 1_048_576);
    let end = only(&out, "perf_end");
    assert_eq!(bytes(&end["sender"]), 1_048_576, "{end}");
}

/// Whatever the sender wrote after its last count still reaches a client that reads
/// until EXCHANGE_RESULTS (section 5): its count must include it.
#[test]
fn reverse_by_bytes_the_receiver_never_counts_more_than_the_sender_sent() {
    let server = serve();
    let out = perf_ok(&server, &["-n", "1MiB", "-R", "-i", "200ms"]);
    let end = only(&out, "perf_end");
    let (sent, received) = (bytes(&end["sender"]), bytes(&end["receiver"]));
    assert!(received >= 1_048_576, "{end}");
    assert!(received <= sent, "received {received} of {sent}: {end}");
}

#[test]
fn blocks_end_a_udp_test_after_exactly_that_many_datagrams() {
    let server = serve();
    let out = perf_ok(&server, &["-u", "-k", "10", "-b", "20M", "-l", "1200"]);
    let end = only(&out, "perf_end");
    assert_eq!(end["udp"]["sent"], 10, "{end}");
    assert_eq!(end["udp"]["received"], 10, "{end}");
    assert_eq!(bytes(&end["sender"]), 12_000, "{end}");
}

fn assert_latency_reported(args: &[&str]) -> Value {
    let server = serve();
    let mut all = vec!["--latency", "-t", "0.5", "-i", "200ms"];
    all.extend(args);
    let out = perf_ok(&server, &all);
    assert_eq!(only(&out, "perf_start")["latency"], true);
    let rows = out.events_named("perf_latency");
    assert!(rows.len() >= 2, "{}", out.stdout_text());
    let finals: Vec<&Value> = rows.iter().filter(|r| r["final"] == true).collect();
    assert_eq!(finals.len(), 1, "{}", out.stdout_text());
    let last = finals[0].clone();
    assert!(last["transactions"].as_u64() > Some(0), "{last}");
    let us = |k: &str| last[k].as_f64().unwrap_or_else(|| panic!("{k}: {last}"));
    assert!(us("p50_us") <= us("p99_us"), "{last}");
    assert!(us("p99_us") <= us("max_us"), "{last}");
    last
}

#[test]
fn latency_over_tcp_reports_percentiles() {
    assert_latency_reported(&[]);
}

#[test]
fn latency_over_udp_reports_percentiles_and_losses() {
    let last = assert_latency_reported(&["-u"]);
    assert!(last["lost"].is_u64(), "{last}");
}

/// `perf ... -J`: stdout is exactly one JSON document.
fn iperf_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not one JSON document ({e}): {}", out.stdout_text()))
}

#[test]
fn iperf_json_prints_iperf3s_document() {
    let server = serve();
    let doc = iperf_json(&perf_ok(&server, &["-t", "0.5", "-i", "200ms", "-J"]));
    assert_eq!(doc["start"]["test_start"]["protocol"], "TCP", "{doc}");
    assert!(!doc["intervals"].as_array().unwrap().is_empty(), "{doc}");
    let end = &doc["end"];
    assert!(end["sum_sent"]["bytes"].as_u64() > Some(0), "{doc}");
    assert!(end["sum_received"]["bytes"].as_u64() > Some(0), "{doc}");
    assert!(end["cpu_utilization_percent"].is_object(), "{doc}");
    assert!(doc.get("error").is_none(), "{doc}");
}

#[test]
fn iperf_json_of_a_udp_test_has_the_loss() {
    let server = serve();
    let args = ["-u", "-b", "10M", "-l", "1200", "-t", "0.5", "-J"];
    let doc = iperf_json(&perf_ok(&server, &args));
    assert_eq!(doc["start"]["test_start"]["protocol"], "UDP", "{doc}");
    assert!(doc["end"]["sum"]["lost_percent"].is_number(), "{doc}");
}

#[test]
fn iperf_json_on_error_has_an_error_key_and_a_failing_status() {
    let closed = closed_tcp_port();
    let addr = format!("127.0.0.1:{}", closed.port);
    let out = run(&["perf", &addr, "-J"], b"");
    assert_ne!(out.code(), 0, "{out:?}");
    let doc = iperf_json(&out);
    assert!(
        doc["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{doc}"
    );
    assert_eq!(doc["intervals"], json!([]));
}

#[test]
fn iperf_json_server_prints_one_document_per_test() {
    let mut child = sockit(&["perf", "serve", "-J", "--one-off", "--bind", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sockit");
    let lines = text_lines(child.stdout.take().unwrap());
    let first: Value = serde_json::from_str(&lines.recv_timeout(STEP).unwrap()).unwrap();
    assert_eq!(first["event"], "listening", "{first}");
    let addr = first["addr"].as_str().unwrap().to_owned();

    let client = run(&["perf", &addr, "-t", "0.5"], b"");
    assert_eq!(client.code(), 0, "{}", client.stderr);
    assert!(wait_bounded(&mut child).success());
    let docs: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(&l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert_eq!(docs[0]["start"]["test_start"]["protocol"], "TCP");
    assert!(docs[0]["end"]["sum_received"]["bytes"].as_u64() > Some(0));
}

/// The lines of `stream`, as they come (the channel ends with the stream).
fn text_lines(stream: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn past_max_clients_a_client_is_told_busy_and_the_running_test_goes_on() {
    let server = Server::start(&["perf", "serve", "--max-clients", "1"]);
    let addr = server.addr.to_string();
    let first = std::thread::spawn(move || run(&["perf", &addr, "-t", "3", "-i", "1s"], b""));
    server.wait_for("perf_start");

    let second = perf(&server, &["-t", "1"]);
    assert_eq!(second.code(), 1, "{second:?}");
    assert!(second.stderr.contains("busy"), "{}", second.stderr);
    server.wait_for("rejected");

    let first = first.join().unwrap();
    assert_eq!(first.code(), 0, "{}", first.stderr);
    assert!(bytes(&only(&first, "perf_end")["receiver"]) > 0);
    assert_eq!(server_end(&server, "recv")["test"], 1);
}

#[test]
fn eight_clients_at_once_are_all_served() {
    let server = serve();
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let addr = server.addr.to_string();
            std::thread::spawn(move || run(&["perf", &addr, "-t", "1", "-i", "500ms"], b""))
        })
        .collect();
    for client in clients {
        let out = client.join().unwrap();
        assert_eq!(out.code(), 0, "{}", out.stderr);
        assert_eq!(out.events_named("perf_end").len(), 1);
    }
    let tests: BTreeSet<u64> = (0..8)
        .map(|_| server.wait_for("perf_end")["test"].as_u64().unwrap())
        .collect();
    assert_eq!(tests.len(), 8, "{tests:?}");
}
