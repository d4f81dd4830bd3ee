//! TCP and UDP over IPv6 loopback.

use crate::harness::*;

pub fn ipv6_loopback() {
    let server = Server::start_exact(&["tcp", "serve", "--echo", "--bind", "[::1]:0"]);
    assert!(server.addr.is_ipv6());
    let out = run(
        &[
            "tcp",
            "connect",
            &format!("[::1]:{}", server.port()),
            "--send",
            "v6",
        ],
        b"",
    );
    assert_eq!(out.events_named("message")[0]["text"], "v6");
}

pub fn an_ipv6_wildcard_bind_also_serves_ipv4_clients() {
    let server = Server::start_exact(&["tcp", "serve", "--echo", "--bind", "[::]:0"]);
    let out = run(
        &[
            "tcp",
            "connect",
            &format!("127.0.0.1:{}", server.port()),
            "--send",
            "v4 via v6",
        ],
        b"",
    );
    assert_eq!(
        out.events_named("message")[0]["text"],
        "v4 via v6",
        "{}",
        out.stderr
    );
}

pub fn the_ipv6_payload_limit_is_65527() {
    let server = Server::start_exact(&["udp", "serve", "--silent", "--bind", "[::1]:0"]);
    let addr = server.addr.to_string();
    let out = run(&["udp", "send", &addr, &"x".repeat(65_528)], b"");
    assert_eq!(out.code(), 1);
    assert!(out.stderr.contains("65527 bytes (IPv6)"), "{}", out.stderr);
    let out = run(&["udp", "send", &addr, "--wait", "0s"], &vec![b'y'; 65_527]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let got = server.wait_for("datagram");
    assert_eq!(got["bytes"], 65_527);
    assert!(got["peer"].as_str().unwrap().starts_with("[::1]:"));
}

/// `perf` over IPv6, TCP and UDP, and a server on `[::]` serving an IPv4 client's UDP
/// streams (the hello arrives as `::ffff:127.0.0.1`; the stream's socket is IPv4).
pub fn issue17_perf_over_ipv6_and_ipv4_through_a_dual_stack_server() {
    for bind in ["[::1]:0", "[::]:0"] {
        let server = Server::start_exact(&["perf", "serve", "--bind", bind]);
        let target = match bind {
            "[::1]:0" => format!("[::1]:{}", server.port()),
            _ => format!("127.0.0.1:{}", server.port()),
        };
        for args in [&["-t", "0.5"][..], &["-t", "0.5", "-u", "-b", "10M", "-R"]] {
            let mut all = vec!["perf", target.as_str()];
            all.extend(args);
            let out = run(&all, b"");
            assert_eq!(out.code(), 0, "{bind} {args:?}: {}", out.stderr);
            let end = &out.events_named("perf_end")[0];
            assert!(end["receiver"]["bytes"].as_u64().unwrap() > 0, "{end}");
            if args.contains(&"-u") {
                assert_eq!(end["udp"]["lost"], 0, "{end}");
            }
        }
    }
}
