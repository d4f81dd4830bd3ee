//! The unit tests of `results.rs`, on the results 3.12 exchanged (section 6.1).

use super::*;

/// The client's results of a normal TCP test (it sent).
const CLIENT: &str = r#"{"cpu_util_total":2.412497074210985,"cpu_util_user":0.73268244821041528,
 "cpu_util_system":1.6796149986051037,"sender_has_retransmits":1,"congestion_used":"bbr",
 "streams":[{"id":1,"bytes":2621440,"retransmits":0,"jitter":0,"errors":0,"packets":0,
             "start_time":0,"end_time":2.000106}]}"#;

/// The server's results of the same test (it received): −1 written as 2⁶⁴−1.
const SERVER: &str = r#"{"cpu_util_total":0.087340741881360567,"cpu_util_user":0.087340741881360567,
 "cpu_util_system":0,"sender_has_retransmits":18446744073709551615,"congestion_used":"bbr",
 "streams":[{"id":1,"bytes":2621440,"retransmits":18446744073709551615,"jitter":0,
             "errors":0,"packets":0,"start_time":0,"end_time":2.000197}]}"#;

#[test]
fn the_client_results_3_12_sent_parse() {
    let r: Results = serde_json::from_str(CLIENT).unwrap();
    assert_eq!(r.sender_has_retransmits, HAS_RETRANSMITS);
    assert_eq!(r.congestion_used.as_deref(), Some("bbr"));
    assert!((r.cpu_util_total - 2.412497074210985).abs() < 1e-12);
    assert_eq!(r.streams.len(), 1);
    let s = &r.streams[0];
    assert_eq!(
        (s.id, s.bytes, s.retransmits, s.errors, s.packets),
        (1, 2621440, 0, 0, 0)
    );
    assert_eq!(s.seconds(), 2.000106);
    assert_eq!(s.omitted(), Ok(None));
}

#[test]
fn the_server_results_3_12_sent_parse_with_minus_one_as_u64_max() {
    let r: Results = serde_json::from_str(SERVER).unwrap();
    assert_eq!(r.sender_has_retransmits, NOT_SENDER);
    assert_eq!(r.streams[0].retransmits, NOT_SENDER);
    assert_eq!(r.streams[0].end_time, Some(2.000197));
    assert_eq!(r.cpu_util_system, 0.0);
}

#[test]
fn results_round_trip_and_minus_one_is_written_as_minus_one() {
    let r: Results = serde_json::from_str(SERVER).unwrap();
    let text = serde_json::to_string(&r).unwrap();
    assert!(text.contains(r#""sender_has_retransmits":-1"#), "{text}");
    assert!(text.contains(r#""retransmits":-1"#), "{text}");
    assert!(
        !text.contains("server_output") && !text.contains("omitted"),
        "{text}"
    );
    assert_eq!(serde_json::from_str::<Results>(&text).unwrap(), r);
}

#[test]
fn udp_results_with_server_output_and_newer_keys_round_trip() {
    let r = Results {
        cpu_util_total: 1.5,
        cpu_util_user: 1.0,
        cpu_util_system: 0.5,
        sender_has_retransmits: NOT_SENDER,
        congestion_used: None,
        streams: vec![
            StreamResult {
                id: 1,
                bytes: 2523136,
                retransmits: NOT_SENDER,
                jitter: 0.00006077849678408999,
                errors: 1,
                packets: 77,
                start_time: Some(0.0),
                end_time: Some(2.000224),
                omitted_errors: Some(0),
                omitted_packets: Some(3),
                exact: None,
            },
            StreamResult {
                id: 3,
                bytes: 0,
                retransmits: NOT_SENDER,
                jitter: 0.0,
                errors: 0,
                packets: 0,
                start_time: None,
                end_time: None,
                omitted_errors: None,
                omitted_packets: None,
                exact: None,
            },
        ],
        server_output_text: Some("Accepted connection\n".into()),
        server_output_json: Some(serde_json::json!({"start": {}, "intervals": [], "end": {}})),
    };
    let text = serde_json::to_string(&r).unwrap();
    assert_eq!(serde_json::from_str::<Results>(&text).unwrap(), r);
    assert_eq!(r.streams[0].omitted(), Ok(Some((0, 3))));
    assert_eq!(r.streams[1].seconds(), 0.0);
}

#[test]
fn huge_and_fractional_integers_are_read_as_iperf3_reads_them() {
    let stream = |retransmits: &str| {
        let text = format!(
            r#"{{"id":1,"bytes":1,"retransmits":{retransmits},"jitter":0,"errors":0,"packets":0}}"#
        );
        serde_json::from_str::<StreamResult>(&text).map(|s| s.retransmits)
    };
    assert_eq!(stream("-1").unwrap(), -1);
    assert_eq!(stream("9223372036854775808").unwrap(), -1);
    assert_eq!(stream("1.8446744073709552e19").unwrap(), -1);
    assert_eq!(stream("3.0").unwrap(), 3);
    assert_eq!(stream("9223372036854775807").unwrap(), i64::MAX);
    assert!(stream("\"1\"").is_err());
}

#[test]
fn missing_required_keys_are_refused_and_unknown_ones_ignored() {
    let no_streams =
        r#"{"cpu_util_total":0,"cpu_util_user":0,"cpu_util_system":0,"sender_has_retransmits":0}"#;
    assert!(serde_json::from_str::<Results>(no_streams).is_err());
    let no_id = r#"{"bytes":1,"retransmits":0,"jitter":0,"errors":0,"packets":0}"#;
    assert!(serde_json::from_str::<StreamResult>(no_id).is_err());
    let extra = r#"{"cpu_util_total":0,"cpu_util_user":0,"cpu_util_system":0,
        "sender_has_retransmits":0,"streams":[],"newer_key":[1,2]}"#;
    assert!(serde_json::from_str::<Results>(extra)
        .unwrap()
        .streams
        .is_empty());
}

#[test]
fn one_omitted_key_without_the_other_is_an_error() {
    let s: StreamResult = serde_json::from_str(
        r#"{"id":1,"bytes":1,"retransmits":0,"jitter":0,"errors":0,"packets":0,"omitted_errors":2}"#,
    )
    .unwrap();
    assert!(s.omitted().is_err());
}

/// The ```json block of section 6.1 of docs/perf-protocol.md, as the doc stands.
fn doc_results_block() -> &'static str {
    let doc = include_str!("../../docs/perf-protocol.md");
    let section = &doc[doc.find("### 6.1 Keys").expect("section 6.1")..];
    let start = section.find("```json\n").expect("a json block") + "```json\n".len();
    let len = section[start..].find("```").expect("its end");
    &section[start..start + len]
}

#[test]
fn the_results_shown_in_the_doc_parse() {
    let all: Vec<Results> = serde_json::Deserializer::from_str(doc_results_block())
        .into_iter::<Results>()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(all.len(), 2, "the client's and the server's");
    assert_eq!(all[0].sender_has_retransmits, HAS_RETRANSMITS);
    assert_eq!(all[1].sender_has_retransmits, NOT_SENDER);
    assert_eq!(all[1].streams[0].retransmits, NOT_SENDER);
    assert_eq!(all[0].streams[0].bytes, all[1].streams[0].bytes);
}

#[test]
fn the_udp_figures_of_the_doc_s_j_document_fit_the_types() {
    // Appendix A's UDP -J end stream: what `StreamResult` and `UdpStats` carry.
    let doc = include_str!("../../docs/perf-protocol.md");
    let appendix = &doc[doc.find("## Appendix A").expect("appendix A")..];
    let blocks: Vec<serde_json::Value> = appendix
        .split("```json\n")
        .skip(1)
        .map(|b| serde_json::from_str(&b[..b.find("```").unwrap()]).unwrap())
        .collect();
    assert_eq!(blocks.len(), 2, "the TCP and the UDP document");
    let udp = &blocks[1]["end"]["streams"][0]["udp"];
    assert_eq!(udp["packets"], 77);
    assert_eq!(udp["lost_packets"], 0);
    let jitter_ms = udp["jitter_ms"].as_f64().unwrap();
    assert!(
        jitter_ms > 0.0 && jitter_ms < 1.0,
        "milliseconds in -J, seconds in results"
    );
    let tcp = &blocks[0]["end"]["streams"][0];
    assert_eq!(tcp["sender"]["bytes"], tcp["receiver"]["bytes"]);
    for b in &blocks {
        let cookie = b["start"]["cookie"].as_str().unwrap();
        assert_eq!(cookie.len(), crate::perf::proto::COOKIE_LEN - 1);
        assert!(cookie
            .bytes()
            .all(|c| crate::perf::proto::COOKIE_ALPHABET.contains(&c)));
    }
}

#[test]
fn a_figure_that_is_not_a_number_is_written_as_0() {
    let mut r: Results = serde_json::from_str(CLIENT).unwrap();
    r.cpu_util_total = f64::NAN;
    r.streams[0].jitter = f64::INFINITY;
    let back: Results = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
    assert_eq!((back.cpu_util_total, back.streams[0].jitter), (0.0, 0.0));
}
