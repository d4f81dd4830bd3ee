//! `http serve`'s limits on what clients can make it do: a slow request head and a
//! huge folder.

use std::fs;
use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::http_client::*;
use crate::http_serve::{start, start_env, tree, url};

/// The head deadline these tests set through `SOCKIT_TEST_HEAD_TIMEOUT` (10 s in real
/// use), long enough for another request to be served well within it.
const HEAD: Duration = Duration::from_millis(800);
const HEAD_ENV: [(&str, &str); 1] = [("SOCKIT_TEST_HEAD_TIMEOUT", "800")];

#[test]
fn a_head_not_complete_in_time_is_408_and_others_are_served_meanwhile() {
    let t = tree();
    let server = start_env(&t, &[], &HEAD_ENV);
    let started = Instant::now();
    let mut slow = connect(server.addr);
    slow.write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    assert_eq!(get(&url(&server, "/a.txt")).status, 200);
    let served = started.elapsed();
    assert!(
        served < HEAD,
        "served after {served:?}, not while the head was late"
    );
    let response = read_all(&mut slow);
    let waited = started.elapsed();
    assert!(
        response.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{response}"
    );
    assert!(
        response.ends_with("request head not complete within 800ms\n"),
        "{response}"
    );
    assert!(
        (HEAD..HEAD + Duration::from_secs(5)).contains(&waited),
        "408 after {waited:?}"
    );
    let timed_out = loop {
        let ev = server.wait_for("request");
        if ev["status"] == 408 {
            break ev;
        }
    };
    // Issue 12: the request line arrived whole, so the log names it.
    assert_eq!(
        (timed_out["method"].as_str(), timed_out["path"].as_str()),
        (Some("GET"), Some("/a.txt"))
    );
    assert_eq!(timed_out["duration_ms"], 800.0);
}

#[test]
fn an_idle_keep_alive_connection_closes_in_time_without_a_408() {
    let t = tree();
    let server = start_env(&t, &[], &HEAD_ENV);
    let mut idle = connect(server.addr);
    idle.write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(status_of(&read_response(&mut idle)), 200);
    let started = Instant::now();
    assert_eq!(read_all(&mut idle), "", "nothing owed to an idle client");
    let waited = started.elapsed();
    // The deadline counts from the end of the response, a little before `started`.
    assert!(
        (HEAD - Duration::from_millis(100)..HEAD + Duration::from_secs(5)).contains(&waited),
        "closed after {waited:?}"
    );
}

#[test]
fn a_listing_stops_at_10000_entries_and_says_so() {
    let t = tree();
    let big = t.served.join("big");
    fs::create_dir(&big).unwrap();
    // 10,000 is `listing::MAX_ENTRIES`; one more is enough to cut the listing short.
    for i in 0..10_001 {
        fs::File::create(big.join(format!("f{i:05}"))).unwrap();
    }
    let server = start(&t, &[]);
    let listing: Value = serde_json::from_slice(&get(&url(&server, "/big/?json")).body).unwrap();
    assert_eq!(listing["entries"].as_array().unwrap().len(), 10_000);
    assert_eq!(listing["truncated"], true);
    let page = get(&url(&server, "/big/")).text();
    assert!(page.contains("10000 entries shown; the folder holds more than 10000"));
    let small: Value = serde_json::from_slice(&get(&url(&server, "/sub/?json")).body).unwrap();
    assert_eq!(small["truncated"], false);
}
