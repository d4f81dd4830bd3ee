//! `info`: one socket's attributes and options, as JSON and as a table for people.

use std::process::Command;

use crate::harness::*;

#[test]
fn info_shows_a_connected_tcp_socket_with_rtt() {
    let server = Server::start(&["tcp", "serve"]);
    let out = run(&["info", &server.addr.to_string()], b"");
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let events = out.events();
    assert_eq!(events.len(), 1, "one object: {events:?}");
    let info = &events[0];
    assert_eq!(info["event"], "socket");
    assert_eq!(info["family"], "AF_INET");
    assert_eq!(info["type"], "SOCK_STREAM");
    assert_eq!(info["peer"], server.addr.to_string());
    assert!(info["fd"].as_i64().unwrap() > 2);
    let opts = &info["options"];
    assert_eq!(opts["TCP_NODELAY"], true);
    for name in [
        "SO_REUSEADDR",
        "SO_REUSEPORT",
        "SO_BROADCAST",
        "SO_KEEPALIVE",
        "SO_RCVBUF",
        "SO_SNDBUF",
        "IP_TTL",
        "TCP_INFO.rtt_us",
        "TCP_INFO.snd_cwnd",
    ] {
        assert!(!opts[name].is_null(), "{name} missing: {opts}");
    }
}

#[test]
fn info_listen_udp_and_the_table_for_people() {
    let out = run(&["info", "--udp", "--listen", "127.0.0.1:0"], b"");
    let info = &out.events()[0];
    assert_eq!(info["type"], "SOCK_DGRAM");
    assert!(info["peer"].is_null());
    assert!(info["options"].get("TCP_NODELAY").is_none());

    let mut cmd = Command::new(bin());
    cmd.args(["info", "--listen", "127.0.0.1:0"]);
    let out = run_with(cmd, b"");
    let text = out.stdout_text();
    assert!(
        text.starts_with("family  AF_INET (IPv4)\ntype    SOCK_STREAM (TCP)\n"),
        "{text}"
    );
    let reuse = text
        .lines()
        .find(|l| l.trim_start().starts_with("SO_REUSEADDR"))
        .unwrap();
    assert!(
        reuse.contains(" 1 "),
        "a listener reuses its address: {reuse}"
    );
}

#[test]
fn info_on_a_closed_tcp_port_is_one_line() {
    let closed = closed_tcp_port();
    let port = closed.port;
    let out = run(&["info", &format!("127.0.0.1:{port}")], b"");
    assert_eq!(out.code(), 1);
    assert_eq!(
        out.stderr,
        format!("sockit: connect to 127.0.0.1:{port}: connection refused\n")
    );
}
