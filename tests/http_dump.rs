//! `http dump`: requests shown exactly as sent, JSON echo, HTTP/1.1 framing, limits.

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;
use crate::http_client::*;

fn url(server: &Server, path: &str) -> String {
    format!("http://{}{path}", server.addr)
}

#[test]
fn dump_shows_the_request_as_sent_and_echoes_it_as_json() {
    let server = Server::start(&["http", "dump"]);
    let reply = request(
        "POST",
        &url(&server, "/form?q=1"),
        &[("X-MiXeD-Case", "yes"), ("Content-Type", "text/plain")],
        "粘包 body".as_bytes(),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let echo: Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["target"], "/form?q=1");
    assert_eq!(echo["version"], "HTTP/1.1");
    assert_eq!(echo["body"]["text"], "粘包 body");
    assert!(echo["client"].as_str().unwrap().starts_with("127.0.0.1:"));
    let headers = echo["headers"].as_array().unwrap();
    assert!(
        headers
            .iter()
            .any(|h| h[0] == "X-MiXeD-Case" && h[1] == "yes"),
        "{headers:?}"
    );

    let dump = server.wait_for("dump");
    let text = dump["text"].as_str().unwrap();
    assert!(text.starts_with("POST /form?q=1 HTTP/1.1\r\n"), "{text}");
    assert!(text.contains("\r\nX-MiXeD-Case: yes\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\n粘包 body"), "{text}");
    let req = server.wait_for("request");
    assert_eq!(
        (req["method"].as_str(), req["path"].as_str()),
        (Some("POST"), Some("/form?q=1"))
    );
    assert_eq!(req["status"], 200);
    assert!(req["duration_ms"].as_f64().is_some());
}

#[test]
fn chunked_bodies_are_decoded_for_the_echo_and_raw_in_the_dump() {
    let server = Server::start(&["http", "dump"]);
    // 0xff is not UTF-8, so the echo must use base64.
    let bytes: &[u8] =
        b"PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
                         5;ext=1\r\nhello\r\n1\r\n\xff\r\n0\r\nTrailer: t\r\n\r\n";
    let response = raw(server.addr, bytes);
    assert_eq!(status_of(&response), 200, "{response}");
    let body = &response[response.find("\r\n\r\n").unwrap() + 4..];
    let echo: Value = serde_json::from_str(body).unwrap();
    assert_eq!(echo["body"]["base64"], "aGVsbG//");
    let dump = server.wait_for("dump");
    assert_eq!(dump["bytes"].as_u64().unwrap() as usize, bytes.len());
}

#[test]
fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let server = Server::start(&["http", "dump"]);
    let pipeline = "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n\
                    POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc\
                    HEAD /3 HTTP/1.1\r\nHost: x\r\n\r\n\
                    BREW /4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let response = raw(server.addr, pipeline.as_bytes());
    let targets: Vec<&str> = response
        .match_indices("\"target\": \"")
        .map(|(i, m)| &response[i + m.len()..i + m.len() + 2])
        .collect();
    // HEAD gets headers only, so /3 has no echo body.
    assert_eq!(targets, ["/1", "/2", "/4"], "{response}");
    assert_eq!(response.matches("HTTP/1.1 200 OK").count(), 4);
    assert!(response.contains("\"method\": \"BREW\""));
    for path in ["/1", "/2", "/3", "/4"] {
        assert_eq!(server.wait_for("request")["path"], path);
    }
}

#[test]
fn expect_100_continue_is_answered_before_the_body() {
    let server = Server::start(&["http", "dump"]);
    let mut s = connect(server.addr);
    s.write_all(
        b"POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
    )
    .unwrap();
    let mut interim = [0u8; 25];
    std::io::Read::read_exact(&mut s, &mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"data").unwrap();
    let response = read_response(&mut s);
    assert_eq!(status_of(&response), 200);
    assert!(response.contains("\"text\":\"data\""), "{response}");

    // Too large for --max-body: refused at once, without 100 Continue.
    let small = Server::start(&["http", "dump", "--max-body", "1KiB"]);
    let response = raw(
        small.addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n",
    );
    assert!(response.starts_with("HTTP/1.1 413 "), "{response}");
}

#[test]
fn malformed_and_smuggling_shaped_requests_get_400_with_the_reason() {
    let server = Server::start(&["http", "dump"]);
    let cases: [(&str, u16, &str); 10] = [
        ("GET / HTTP/1.1\r\n\r\n", 400, "without a Host"),
        (
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
            "smuggling",
        ),
        (
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            400,
            "differ",
        ),
        (
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            400,
            "bad chunk size",
        ),
        (
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY",
            400,
            "not followed by CRLF",
        ),
        (
            "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n",
            400,
            "obs-fold",
        ),
        (
            "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x1bb\r\n\r\n",
            400,
            "control character",
        ),
        (
            "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
            400,
            "more than one Host",
        ),
        ("GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400, "malformed"),
        (
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
            501,
            "only chunked",
        ),
    ];
    for (request, status, reason) in cases {
        let response = raw(server.addr, request.as_bytes());
        assert_eq!(status_of(&response), status, "{request:?} -> {response}");
        assert!(response.contains(reason), "{request:?} -> {response}");
        assert!(response.contains("Connection: close"));
    }
    // The server goes on serving.
    assert_eq!(get(&url(&server, "/still-here")).status, 200);
}

#[test]
fn oversized_heads_are_431_and_bodies_over_max_body_413() {
    let server = Server::start(&["http", "dump", "--max-body", "1KiB"]);
    let mut huge = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    huge.extend(vec![b'a'; 70 * 1024]);
    huge.extend(b"\r\n\r\n");
    assert_eq!(status_of(&raw(server.addr, &huge)), 431);

    let cl = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n{}",
        "a".repeat(1025)
    );
    assert_eq!(status_of(&raw(server.addr, cl.as_bytes())), 413);
    let chunked = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n401\r\n";
    assert_eq!(status_of(&raw(server.addr, chunked.as_bytes())), 413);
    let ok = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n{}",
        "a".repeat(1024)
    );
    assert_eq!(status_of(&raw(server.addr, ok.as_bytes())), 200);
}

/// With the head deadline at 800 ms (`SOCKIT_TEST_HEAD_TIMEOUT`; 10 s in real use).
#[test]
fn a_head_not_complete_in_time_is_408_and_others_are_served_meanwhile() {
    let head = Duration::from_millis(800);
    let server = Server::start_env(&["http", "dump"], &[("SOCKIT_TEST_HEAD_TIMEOUT", "800")]);
    let started = Instant::now();
    let mut slow = connect(server.addr);
    slow.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    assert_eq!(get(&url(&server, "/fast")).status, 200);
    let served = started.elapsed();
    assert!(
        served < head,
        "served after {served:?}, not while the head was late"
    );
    let response = read_all(&mut slow);
    assert!(response.starts_with("HTTP/1.1 408 "), "{response}");
    assert!(
        response.contains("request head not complete within 800ms"),
        "{response}"
    );
    let waited = started.elapsed();
    assert!(
        (head..head + Duration::from_secs(5)).contains(&waited),
        "408 after {waited:?}"
    );
}

#[test]
fn ctrl_c_stops_the_dump_cleanly() {
    let server = Server::start(&["http", "dump"]);
    let _idle = connect(server.addr);
    assert_eq!(get(&url(&server, "/")).status, 200);
    server.wait_for("request");
    let (status, _) = server.interrupt();
    assert!(status.success(), "{status:?}");
}
