//! The unit tests of `params.rs`.

use super::*;

/// The parameters of `iperf3 -c 127.0.0.1 -t 2 -b 10M` as 3.12 sent them (section 2.3).
const CAPTURED_TCP: &str = r#"{"tcp":true,"omit":0,"time":2,"num":0,"blockcount":0,"parallel":1,"len":131072,"bandwidth":10000000,"pacing_timer":1000,"client_version":"3.12"}"#;

fn tcp_2s_10m() -> Params {
    Params {
        time: 2,
        bandwidth: Some(10_000_000),
        client_version: Some("3.12".into()),
        ..Params::new(Protocol::Tcp)
    }
}

#[test]
fn the_captured_parameters_parse() {
    let p: Params = serde_json::from_str(CAPTURED_TCP).unwrap();
    assert_eq!(p, tcp_2s_10m());
    assert_eq!(p.protocol(), Protocol::Tcp);
    assert_eq!(CAPTURED_TCP.len(), 144);
}

#[test]
fn we_write_the_same_bytes_as_iperf3_for_the_same_options() {
    assert_eq!(serde_json::to_string(&tcp_2s_10m()).unwrap(), CAPTURED_TCP);
}

#[test]
fn every_key_round_trips() {
    let p = Params {
        omit: 1,
        server_affinity: Some(2),
        num: 1 << 33,
        blockcount: 7,
        mss: Some(1400),
        nodelay: true,
        parallel: 4,
        reverse: true,
        bidirectional: true,
        window: Some(65536),
        len: Some(1400),
        bandwidth: Some(5_000_000_000),
        fqrate: Some(1_000_000),
        burst: Some(10),
        tos: Some(0x10),
        flowlabel: Some(0xfffff),
        title: Some("t".into()),
        extra_data: Some("x".into()),
        congestion: Some("cubic".into()),
        congestion_used: Some("bbr".into()),
        get_server_output: true,
        udp_counters_64bit: true,
        repeating_payload: true,
        zerocopy: true,
        dont_fragment: true,
        authtoken: Some("dG9rZW4=".into()),
        client_version: Some("3.12".into()),
        ..Params::new(Protocol::Udp)
    };
    let text = serde_json::to_string(&p).unwrap();
    for key in [
        "\"MSS\":1400",
        "\"TOS\":16",
        "\"nodelay\":true",
        "\"reverse\":true",
        "\"bidirectional\":true",
        "\"get_server_output\":1",
        "\"udp_counters_64bit\":1",
        "\"repeating_payload\":1",
        "\"zerocopy\":1",
        "\"dont_fragment\":1",
        "\"udp\":true",
    ] {
        assert!(text.contains(key), "{key} in {text}");
    }
    assert!(!text.contains("\"tcp\""), "{text}");
    let back: Params = serde_json::from_str(&text).unwrap();
    assert_eq!(back, p);
    assert_eq!(back.protocol(), Protocol::Udp);
}

#[test]
fn false_flags_are_not_sent() {
    let text = serde_json::to_string(&Params::new(Protocol::Tcp)).unwrap();
    for key in [
        "reverse",
        "bidirectional",
        "nodelay",
        "udp",
        "sctp",
        "zerocopy",
        "get_server_output",
        "udp_counters_64bit",
        "repeating_payload",
        "dont_fragment",
    ] {
        assert!(!text.contains(key), "{key} in {text}");
    }
}

#[test]
fn a_flag_that_is_present_is_on_whatever_its_value() {
    // A 3.12 server given "reverse": false ran a reverse test.
    let p: Params = serde_json::from_str(
        r#"{"tcp":false,"reverse":false,"nodelay":null,"bidirectional":0,"zerocopy":0,
            "udp_counters_64bit":"no","get_server_output":{}}"#,
    )
    .unwrap();
    assert!(p.tcp && p.reverse && p.nodelay && p.bidirectional && p.zerocopy);
    assert!(p.udp_counters_64bit && p.get_server_output);
    assert!(!p.repeating_payload && !p.dont_fragment && !p.udp);
}

#[test]
fn an_empty_object_is_a_default_tcp_test() {
    let p: Params = serde_json::from_str("{}").unwrap();
    assert_eq!(p.protocol(), Protocol::Tcp);
    assert_eq!(
        (p.time, p.parallel, p.omit, p.pacing_timer),
        (10, 1, 0, 1000)
    );
    assert_eq!(p.block_len(), DEFAULT_TCP_LEN);
    assert_eq!(p.server_streams(), (1, 0));
}

#[test]
fn unknown_keys_are_ignored() {
    let p: Params = serde_json::from_str(
        r#"{"udp":true,"time":1,"cntl_ka":true,"skip_rx_copy":1,"future":{"a":[1]}}"#,
    )
    .unwrap();
    assert_eq!(p.protocol(), Protocol::Udp);
    assert_eq!(p.block_len(), DEFAULT_UDP_LEN);
}

#[test]
fn the_transport_is_decided_as_3_12_does() {
    let p: Params = serde_json::from_str(r#"{"tcp":true,"udp":true}"#).unwrap();
    assert_eq!(p.protocol(), Protocol::Udp);
    let p: Params = serde_json::from_str(r#"{"sctp":true,"tcp":true}"#).unwrap();
    assert_eq!(p.protocol(), Protocol::Sctp);
}

#[test]
fn stream_directions_follow_the_mode() {
    let mut p = Params {
        parallel: 3,
        ..Params::new(Protocol::Tcp)
    };
    assert_eq!(p.server_streams(), (3, 0));
    p.reverse = true;
    assert_eq!(p.server_streams(), (0, 3));
    p.bidirectional = true;
    assert_eq!(p.server_streams(), (3, 3));
}

#[test]
fn a_udp_client_sends_a_rate_and_a_length() {
    let p = Params::new(Protocol::Udp);
    assert_eq!(p.bandwidth, Some(1 << 20));
    assert_eq!(p.len, Some(DEFAULT_UDP_LEN));
    assert!((MIN_UDP_LEN..=MAX_UDP_LEN).contains(&DEFAULT_UDP_LEN));
}

#[test]
fn wrong_types_are_refused() {
    assert!(serde_json::from_str::<Params>(r#"{"time":-1}"#).is_err());
    assert!(serde_json::from_str::<Params>(r#"{"parallel":4294967296}"#).is_err());
    assert!(serde_json::from_str::<Params>(r#"{"MSS":-5}"#).is_err());
    assert!(serde_json::from_str::<Params>(r#"{"parallel":"2"}"#).is_err());
    assert!(serde_json::from_str::<Params>("42").is_err());
}

#[test]
fn numbers_are_read_as_a_3_12_server_reads_them() {
    // cJSON keeps every number as a double and iperf3 takes its integer part.
    let p: Params =
        serde_json::from_str(r#"{"time":2.5,"len":1.4e3,"bandwidth":5000000000,"window":0}"#)
            .unwrap();
    assert_eq!(p.time, 2);
    assert_eq!(p.len, Some(1400));
    assert_eq!(
        p.bandwidth,
        Some(5_000_000_000),
        "larger than a C int: accepted"
    );
    assert_eq!(p.window, Some(0));
}
