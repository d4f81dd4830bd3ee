//! `sockit perf serve` against hostile control connections (docs/perf-protocol.md
//! sections 2, 3 and 7), Ctrl-C on either side, and usage errors.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness::*;
use crate::perf::{perf_ok, serve};

/// A TCP test's parameters as iperf3 3.12 sends them (section 3.2).
const PARAMS: &str = r#"{"tcp":true,"time":1,"parallel":1,"len":131072,"omit":0,"num":0,"blockcount":0,"pacing_timer":1000}"#;
/// PARAM_EXCHANGE, CREATE_STREAMS and SERVER_ERROR (section 2.2).
const PARAM_EXCHANGE: u8 = 9;
const CREATE_STREAMS: u8 = 10;
const SERVER_ERROR: u8 = 0xfe;
/// iperf3's IENUMSTREAMS: "number of parallel streams too large" (section 7.2).
const IENUMSTREAMS: i32 = 6;

/// A raw control connection to `server`, every read and write bounded by `STEP`.
fn control(server: &Server) -> TcpStream {
    let s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(STEP)).unwrap();
    s.set_write_timeout(Some(STEP)).unwrap();
    s
}

/// A control connection that has sent its cookie (`c` 36 times, then NUL) and been
/// asked for the parameters.
fn at_params(server: &Server, c: u8) -> TcpStream {
    let mut s = control(server);
    let mut cookie = [c; 37];
    cookie[36] = 0;
    s.write_all(&cookie).unwrap();
    let mut state = [0u8];
    s.read_exact(&mut state).unwrap();
    assert_eq!(state[0], PARAM_EXCHANGE);
    s
}

/// Everything the server writes until it closes (bounded by `STEP`).
fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    s.read_to_end(&mut got)
        .expect("the server closes the connection");
    got
}

fn framed(json: &str) -> Vec<u8> {
    let mut bytes = (json.len() as u32).to_be_bytes().to_vec();
    bytes.extend(json.as_bytes());
    bytes
}

/// Section 7.4: a silent connection blocks a 3.12 server; it must not block ours.
#[test]
fn a_silent_control_connection_does_not_block_a_real_client() {
    let server = serve();
    let mut silent = control(&server);
    perf_ok(&server, &["-t", "0.5"]);
    silent.set_nonblocking(true).unwrap();
    let mut byte = [0u8];
    let still_open =
        matches!(silent.read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    assert!(
        still_open,
        "the silent connection was closed before its time"
    );
}

#[test]
fn a_huge_parameters_length_is_refused_without_allocating_it() {
    let server = serve();
    let mut s = at_params(&server, b'a');
    s.write_all(&[0xff; 4]).unwrap();
    assert_eq!(read_to_close(&mut s), b"");
    let warning = server.wait_for("warning");
    assert!(
        warning["message"].as_str().unwrap().contains("4294967295"),
        "{warning}"
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmPeak:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmPeak");
    assert!(peak_kib < 4 << 20, "the server mapped {peak_kib} KiB");
    perf_ok(&server, &["-t", "0.5"]);
}

#[test]
fn too_many_parallel_streams_get_server_error_ienumstreams() {
    let server = serve();
    let mut s = at_params(&server, b'b');
    let params = PARAMS.replace(r#""parallel":1"#, r#""parallel":100000"#);
    s.write_all(&framed(&params)).unwrap();
    let answer = read_to_close(&mut s);
    assert!(answer.len() == 5 || answer.len() == 9, "{answer:?}");
    assert_eq!(answer[0], SERVER_ERROR, "{answer:?}");
    assert_eq!(
        i32::from_be_bytes(answer[1..5].try_into().unwrap()),
        IENUMSTREAMS
    );
    perf_ok(&server, &["-t", "0.5"]);
}

#[test]
fn garbage_parameters_close_the_connection() {
    let server = serve();
    let mut s = at_params(&server, b'c');
    s.write_all(&framed("{not json")).unwrap();
    assert_eq!(read_to_close(&mut s), b"");
    perf_ok(&server, &["-t", "0.5"]);
}

/// The raw parameters themselves are good: the same exchange is answered CREATE_STREAMS
/// (so the refusals above are about what was changed).
#[test]
fn iperf3s_parameters_are_answered_create_streams() {
    let server = serve();
    let mut s = at_params(&server, b'd');
    s.write_all(&framed(PARAMS)).unwrap();
    let mut state = [0u8];
    s.read_exact(&mut state).unwrap();
    assert_eq!(state[0], CREATE_STREAMS);
}

/// `sockit --json perf ADDR -t 10` running, its stderr piped and its events dropped.
fn long_client(server: &Server) -> std::process::Child {
    sockit(&["perf", &server.addr.to_string(), "-t", "10", "-i", "200ms"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sockit")
}

#[test]
fn ctrl_c_on_the_client_ends_it_with_130_and_the_server_goes_on() {
    let server = serve();
    let mut client = long_client(&server);
    server.wait_for("perf_interval");
    signal(&client, libc::SIGINT);
    let asked = Instant::now();
    let status = wait_bounded(&mut client);
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "{:?}",
        asked.elapsed()
    );
    let warning = server.wait_until(|e| e["event"] == "warning");
    assert!(
        warning["message"].as_str().unwrap().contains("terminated"),
        "{warning}"
    );
    perf_ok(&server, &["-t", "0.5"]);
}

#[test]
fn ctrl_c_on_the_server_ends_the_client_with_terminated() {
    let server = serve();
    let mut client = long_client(&server);
    server.wait_for("perf_interval");
    let (status, _) = server.interrupt();
    assert!(status.success(), "{status:?}");
    let client_status = wait_bounded(&mut client);
    let mut stderr = String::new();
    client
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(client_status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("terminated"), "{stderr}");
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["-P", "0"][..],
        &["--latency", "-R"],
        &["-l", "0"],
        &["--bitrate", "fast"],
    ] {
        let mut all = vec!["perf", "127.0.0.1"];
        all.extend(args);
        let out = run(&all, b"");
        assert_eq!(out.code(), 2, "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout_text());
    }
}
