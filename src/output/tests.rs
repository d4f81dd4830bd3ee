//! The unit tests of the events: how each renders for people and as NDJSON.

use std::net::SocketAddr;

use bytes::Bytes;

use super::*;

fn peer() -> SocketAddr {
    "127.0.0.1:5000".parse().unwrap()
}

#[test]
fn listening_matches_the_contract() {
    let ev = Event::Listening {
        proto: Proto::Tcp,
        addr: "127.0.0.1:43211".parse().unwrap(),
    };
    assert_eq!(
        serde_json::to_string(&ev).unwrap(),
        r#"{"event":"listening","proto":"tcp","addr":"127.0.0.1:43211"}"#
    );
    assert_eq!(ev.human(), "listening on tcp://127.0.0.1:43211");
}

#[test]
fn message_is_text_or_base64() {
    let text = serde_json::to_string(&Event::message(peer(), Bytes::from_static(b"hi\n"))).unwrap();
    assert_eq!(
        text,
        r#"{"event":"message","peer":"127.0.0.1:5000","bytes":3,"text":"hi\n"}"#
    );
    let bin =
        serde_json::to_string(&Event::message(peer(), Bytes::from_static(&[0xff, 0]))).unwrap();
    assert_eq!(
        bin,
        r#"{"event":"message","peer":"127.0.0.1:5000","bytes":2,"base64":"/wA="}"#
    );
}

#[test]
fn people_never_see_raw_control_characters() {
    assert_eq!(escape(b"a\x1b[31mb\n\xff"), "a\\u{1b}[31mb\\n\\xff");
    assert_eq!(escape("粘包".as_bytes()), "粘包");
    let ev = Event::message(peer(), Bytes::from_static(b"\x07bell"));
    assert_eq!(ev.human(), "[127.0.0.1:5000] 5 bytes: \\u{7}bell");
}

#[test]
fn datagram_names_truncation_and_real_size() {
    let whole = serde_json::to_string(&Event::datagram(peer(), b"hi", 2)).unwrap();
    assert_eq!(
        whole,
        r#"{"event":"datagram","peer":"127.0.0.1:5000","bytes":2,"text":"hi","truncated":false}"#
    );
    let cut = Event::datagram(peer(), b"abcd", 3000);
    assert_eq!(
        serde_json::to_string(&cut).unwrap(),
        r#"{"event":"datagram","peer":"127.0.0.1:5000","bytes":4,"text":"abcd","truncated":true,"size":3000}"#
    );
    assert!(cut.human().contains("4 of 3000 bytes (truncated"));
}

#[test]
fn issue12_people_see_a_preview_of_a_large_message_json_all_of_it() {
    let big = Bytes::from(vec![b'x'; 1 << 20]);
    let ev = Event::message(peer(), big.clone());
    let line = ev.human();
    assert!(line.len() < 300, "{} chars", line.len());
    assert!(
        line.ends_with(&format!("… ({} more bytes)", (1 << 20) - PREVIEW)),
        "{line}"
    );
    let json: serde_json::Value = serde_json::to_value(&ev).unwrap();
    assert_eq!(json["text"].as_str().unwrap().len(), 1 << 20);
    // A cut never splits a character; binary is escaped as ever.
    let zh = Event::message(peer(), Bytes::from("粘包".repeat(100)));
    let line = zh.human();
    assert!(
        line.contains("粘包粘") && line.contains("more bytes"),
        "{line}"
    );
    let bin = Event::message(peer(), Bytes::from(vec![0xffu8; 2 << 20])).human();
    assert!(bin.len() < 1000 && bin.starts_with("[127.0.0.1:5000] 2097152 bytes: \\xff"));
    let small = Event::message(peer(), Bytes::from(vec![b'y'; PREVIEW])).human();
    assert!(
        !small.contains('…'),
        "a message of the preview's size is shown whole"
    );
}

#[test]
fn issue12_wire_counts_what_framing_added() {
    let ev = Event::message(peer(), Bytes::from_static(b"hello")).on_wire(6);
    assert_eq!(
        serde_json::to_string(&ev).unwrap(),
        r#"{"event":"message","peer":"127.0.0.1:5000","bytes":5,"wire":6,"text":"hello"}"#
    );
    assert_eq!(
        ev.human(),
        "[127.0.0.1:5000] 5 bytes (6 on the wire): hello"
    );
    let same = Event::reply(peer(), Bytes::from_static(b"hi")).on_wire(2);
    assert!(!serde_json::to_string(&same).unwrap().contains("wire"));
    let hint = Event::Hint {
        peer: peer(),
        message: "5 bytes wait for '\\n'".into(),
    };
    assert_eq!(
        serde_json::to_string(&hint).unwrap(),
        r#"{"event":"hint","peer":"127.0.0.1:5000","message":"5 bytes wait for '\\n'"}"#
    );
    assert_eq!(
        hint.human(),
        "[127.0.0.1:5000] hint: 5 bytes wait for '\\n'"
    );
}

#[test]
fn issue12_durations_are_rounded() {
    let ev = Event::Request {
        peer: peer(),
        method: "GET".into(),
        path: "/".into(),
        status: 200,
        bytes: 1,
        duration_ms: 0.10011800000000001,
        user: None,
    };
    let json = serde_json::to_string(&ev).unwrap();
    assert!(json.ends_with(r#""duration_ms":0.1}"#), "{json}");
    let done = Event::Done {
        files: 1,
        bytes: 1,
        existing: 0,
        seconds: 1.234_567_89,
        rate: 1.0,
    };
    assert!(serde_json::to_string(&done)
        .unwrap()
        .contains(r#""seconds":1.234568,"#));
}

#[test]
fn issue18_a_lockout_says_how_many_failures_and_how_long() {
    let ev = Event::LoginLimited {
        peer: peer(),
        failures: 10,
        retry_after_s: 1,
    };
    assert_eq!(
        serde_json::to_string(&ev).unwrap(),
        r#"{"event":"login_limited","peer":"127.0.0.1:5000","failures":10,"retry_after_s":1}"#
    );
    assert_eq!(
        ev.human(),
        "[127.0.0.1:5000] 10 failed logins: logins from this address refused for 1 s"
    );
}

#[test]
fn issue18_a_request_names_its_user_escaped_for_people() {
    let ev = Event::Request {
        peer: peer(),
        method: "PUT".into(),
        path: "/x".into(),
        status: 401,
        bytes: 0,
        duration_ms: 0.5,
        user: Some("eve\u{1b}[2J".into()),
    };
    let json = serde_json::to_string(&ev).unwrap();
    assert!(json.ends_with(r#""user":"eve\u001b[2J"}"#), "{json}");
    assert_eq!(
        ev.human(),
        "[127.0.0.1:5000] PUT /x -> 401 (0 bytes, 0.5 ms) user eve\\u{1b}[2J"
    );
}

#[test]
fn issue12_totals_keep_kept_and_real_sizes_apart() {
    let ev = Event::Totals {
        datagrams: 2,
        bytes: 1029,
        truncated: 1,
        size: Some(3005),
        dropped_by_kernel: 0,
    };
    assert_eq!(
        ev.human(),
        "stopped: 2 datagrams, 1029 of 3005 bytes kept (1 truncated: larger than the buffer)"
    );
    let whole = Event::Totals {
        datagrams: 1,
        bytes: 1,
        truncated: 0,
        size: None,
        dropped_by_kernel: 0,
    };
    assert_eq!(
        whole.human(),
        "stopped: 1 datagram, 1 byte received (0 truncated)"
    );
    let lossy = Event::Totals {
        datagrams: 1,
        bytes: 1,
        truncated: 0,
        size: None,
        dropped_by_kernel: 3,
    };
    assert_eq!(
        lossy.human(),
        "stopped: 1 datagram, 1 byte received (0 truncated); 3 more dropped by the kernel \
         (receive queue full)"
    );
}

#[test]
fn disconnect_names_its_reason() {
    let ev = Event::Disconnect {
        peer: peer(),
        reason: Reason::Closed,
        detail: None,
    };
    assert_eq!(
        serde_json::to_string(&ev).unwrap(),
        r#"{"event":"disconnect","peer":"127.0.0.1:5000","reason":"closed"}"#
    );
    assert!(ev.human().contains("recv returned 0 bytes"));
}

#[test]
fn ready_names_addresses_to_type_in_lines_of_80_columns() {
    let addrs: Vec<SocketAddr> = [
        "192.168.100.200:65535",
        "10.0.0.5:65535",
        "172.17.0.1:65535",
    ]
    .iter()
    .map(|a| a.parse().unwrap())
    .collect();
    let ev = Event::Ready {
        addr: "0.0.0.0:65535".parse().unwrap(),
        addrs: addrs.clone(),
        code: Some("999-umbrella-fountain".into()),
    };
    let text = ev.human();
    assert!(!text.contains("0.0.0.0"), "{text}");
    assert!(
        text.contains("`sockit recv --code 999-umbrella-fountain`"),
        "{text}"
    );
    assert!(
        text.contains("`sockit recv 192.168.100.200:65535 --code 999-umbrella-fountain`"),
        "{text}"
    );
    assert!(text.contains("(also 10.0.0.5, 172.17.0.1)"), "{text}");
    let many: Vec<SocketAddr> = (0..40)
        .map(|i| format!("10.0.{i}.1:9").parse().unwrap())
        .collect();
    for (addrs, code) in [(addrs, Some("999-umbrella-fountain")), (many, None)] {
        let ev = Event::Ready {
            addr: "0.0.0.0:9".parse().unwrap(),
            addrs,
            code: code.map(Into::into),
        };
        for line in ev.human().lines() {
            assert!(
                line.chars().count() <= 80,
                "{} columns: {line}",
                line.chars().count()
            );
        }
    }
    let json = serde_json::to_value(&ev).unwrap();
    assert_eq!(json["addr"], "0.0.0.0:65535");
    assert_eq!(json["addrs"][0], "192.168.100.200:65535");
}
