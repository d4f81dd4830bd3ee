//! `sockit perf`'s options that change how data moves or is measured (issue 17, item 1
//! and 5): the window the kernel really gave, congestion control, no-delay, zero-copy,
//! `--omit`, and a first interval that set-up does not pollute.

use serde_json::Value;

use crate::perf::{bytes, only, perf_ok, serve};

/// The `perf_interval` events of one direction, in order.
fn intervals(out: &crate::harness::Output, dir: &str) -> Vec<Value> {
    out.events_named("perf_interval")
        .into_iter()
        .filter(|e| e["dir"] == dir)
        .collect()
}

#[test]
fn issue17_the_first_interval_is_not_polluted_by_set_up() {
    // Paced UDP: every interval, the first too, carries the asked rate, because the
    // clock starts at TEST_START, once every stream is connected.
    let server = serve();
    let out = perf_ok(
        &server,
        &["-u", "-b", "40M", "-l", "1000", "-t", "1.5", "-i", "500ms"],
    );
    let rows = intervals(&out, "send");
    assert!(rows.len() >= 3, "{}", out.stdout_text());
    for row in &rows[..3] {
        let rate = row["bits_per_second"].as_f64().unwrap();
        assert!((rate / 40e6 - 1.0).abs() < 0.03, "{row}");
    }
    assert_eq!(rows[0]["start"], 0.0);
}

#[test]
fn issue17_the_window_asked_is_what_the_kernel_gave_and_is_reported() {
    let server = serve();
    let out = perf_ok(&server, &["-w", "64KiB", "-t", "0.5", "-i", "0"]);
    let start = only(&out, "perf_start");
    assert_eq!(start["window"], 65536);
    // Linux doubles what is asked, for its bookkeeping.
    assert_eq!(start["sndbuf"], 131072, "{start}");
    assert_eq!(start["rcvbuf"], 131072, "{start}");
    let server_start = server.wait_for("perf_start");
    assert_eq!(server_start["rcvbuf"], 131072, "{server_start}");
    let end = only(&out, "perf_end");
    assert!(bytes(&end["receiver"]) > 0, "{end}");
}

#[test]
fn issue17_congestion_no_delay_and_zerocopy_are_applied() {
    let server = serve();
    let out = perf_ok(&server, &["-C", "reno", "-N", "-Z", "-t", "0.5", "-i", "0"]);
    assert_eq!(only(&out, "perf_start")["congestion"], "reno");
    assert_eq!(server.wait_for("perf_start")["congestion"], "reno");
    let end = only(&out, "perf_end");
    assert!(
        bytes(&end["sender"]) > 0 && bytes(&end["receiver"]) > 0,
        "{end}"
    );
    let refused = crate::perf::perf(&server, &["-C", "no-such-algorithm", "-t", "0.5"]);
    assert_eq!(refused.code(), 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("TCP_CONGESTION"),
        "{}",
        refused.stderr
    );
}

#[test]
fn issue17_omitted_seconds_are_flagged_and_left_out_of_the_totals() {
    let server = serve();
    let out = perf_ok(
        &server,
        &[
            "-u", "-b", "20M", "-l", "1000", "-O", "1", "-t", "1", "-i", "500ms",
        ],
    );
    let rows = intervals(&out, "send");
    let omitted: Vec<&Value> = rows.iter().filter(|r| r["omitted"] == true).collect();
    let counted: Vec<&Value> = rows.iter().filter(|r| r["omitted"] == false).collect();
    assert_eq!(omitted.len(), 2, "{}", out.stdout_text());
    assert!(counted.len() >= 2, "{}", out.stdout_text());
    // After the omitted second the clock starts again at 0.
    assert_eq!(counted[0]["start"], 0.0);
    let end = only(&out, "perf_end");
    let seconds = end["sender"]["seconds"].as_f64().unwrap();
    assert!((0.95..1.2).contains(&seconds), "{end}");
    let counted_bytes: u64 = counted.iter().map(|r| bytes(r)).sum();
    let sent = bytes(&end["sender"]);
    // The rows add up to the total, but for a last, partial interval shorter than a
    // tenth of `-i` (50 ms), which gets no row (as in iperf3) while its datagrams count
    // in the total: at most 50 ms at 20 Mbit/s, 125 datagrams of 1000 bytes.
    let remnant = 20_000_000 / 8 / 20;
    assert!(
        counted_bytes <= sent + 2 * 1000 && sent <= counted_bytes + remnant + 2 * 1000,
        "{sent} vs {counted_bytes}"
    );
}
