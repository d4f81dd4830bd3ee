//! The unit tests of `udp.rs`, with the doc's crafted-datagram checks (section 4.4).

use super::*;

fn header(seq: u64) -> Header {
    Header {
        sec: 25478,
        usec: 123_456,
        seq,
    }
}

#[test]
fn headers_round_trip_in_both_widths() {
    let h = Header {
        sec: 25478,
        usec: 999_999,
        seq: 77,
    };
    let mut buf = [0xaau8; 32];
    h.encode(&mut buf, false);
    assert_eq!(
        buf[..12],
        [0, 0, 0x63, 0x86, 0, 0x0f, 0x42, 0x3f, 0, 0, 0, 77]
    );
    assert_eq!(buf[12], 0xaa, "the payload is left alone");
    assert_eq!(Header::decode(&buf, false), Some(h));
    let h = Header {
        seq: (1 << 40) + 5,
        ..h
    };
    h.encode(&mut buf, true);
    assert_eq!(buf[8..16], [0, 0, 1, 0, 0, 0, 0, 5]);
    assert_eq!(Header::decode(&buf, true), Some(h));
}

#[test]
fn a_64_bit_counter_below_2_32_has_zero_bytes_8_to_11() {
    // As seen with --udp-counters-64bit, normal and -R.
    let mut buf = [0u8; 16];
    header(3).encode(&mut buf, true);
    assert_eq!(buf[8..16], [0, 0, 0, 0, 0, 0, 0, 3]);
    assert_eq!(
        Header::decode(&buf, false).unwrap().seq,
        0,
        "read narrow, it is wrong"
    );
}

#[test]
fn a_32_bit_counter_wraps() {
    let mut buf = [0u8; 12];
    header(u64::from(u32::MAX) + 2).encode(&mut buf, false);
    assert_eq!(Header::decode(&buf, false).unwrap().seq, 1);
}

#[test]
fn short_datagrams_have_no_header() {
    assert_eq!(Header::decode(&[0; 11], false), None);
    assert_eq!(Header::decode(&[0; 15], true), None);
    assert!(Header::decode(&[0; 12], false).is_some());
    assert_eq!(Header::size(true), HEADER_LEN_64);
    assert_eq!(Header::size(false), HEADER_LEN_32);
}

#[test]
fn the_hello_and_answer_bytes_are_the_seen_ones() {
    assert_eq!(HELLO, [0x39, 0x38, 0x37, 0x36]);
    assert_eq!(REPLY, [0x36, 0x37, 0x38, 0x39]);
    assert_eq!(LEGACY_HELLO, [0x15, 0xcd, 0x5b, 0x07]);
    assert_eq!(LEGACY_REPLY, [0xb1, 0x68, 0xde, 0x3a]);
}

#[test]
fn the_server_answers_in_the_hellos_byte_order() {
    assert_eq!(reply_to(&HELLO), REPLY);
    assert_eq!(reply_to(&REPLY), HELLO, "a big-endian client");
    assert_eq!(reply_to(&LEGACY_HELLO), LEGACY_REPLY);
    assert_eq!(
        reply_to(&[0x07, 0x5b, 0xcd, 0x15]),
        [0x3a, 0xde, 0x68, 0xb1]
    );
    assert_eq!(reply_to(b"abcd"), REPLY);
    assert_eq!(reply_to(b""), REPLY);
}

#[test]
fn the_client_accepts_every_known_answer_and_nothing_longer() {
    for answer in [REPLY, HELLO, LEGACY_REPLY, [0x3a, 0xde, 0x68, 0xb1]] {
        assert!(is_reply(&answer), "{answer:x?}");
    }
    assert!(!is_reply(b"abcd"));
    assert!(!is_reply(b"67890"));
    assert!(!is_reply(&[0; 1460]));
}

#[test]
fn the_crafted_sequence_gives_what_3_12_reported() {
    // 1 2 4 3 6 7 8 8 10 → errors 1, packets 10, out_of_order 2 from a 3.12 server.
    let mut stats = UdpStats::default();
    for seq in [1, 2, 4, 3, 6, 7, 8, 8, 10] {
        stats.record(&header(seq), 100.0);
    }
    assert_eq!(stats.errors, 1);
    assert_eq!(stats.max_seq, 10);
    assert_eq!(stats.out_of_order, 2);
    assert_eq!(stats.received, 9);
    assert_eq!(stats.lost_percent(None), 10.0);
    assert_eq!(stats.lost_percent(Some(20)), 5.0);
}

#[test]
fn a_late_datagram_without_a_counted_loss_takes_nothing_off() {
    let mut stats = UdpStats::default();
    for seq in [1, 2, 2, 1] {
        stats.record(&header(seq), 0.0);
    }
    assert_eq!((stats.errors, stats.out_of_order, stats.max_seq), (0, 2, 2));
}

#[test]
fn tail_losses_show_no_gap() {
    let mut stats = UdpStats::default();
    for seq in [1, 2, 3] {
        stats.record(&header(seq), 0.0);
    }
    assert_eq!(stats.errors, 0);
    assert_eq!(stats.lost_percent(Some(5)), 0.0);
    assert_eq!(UdpStats::default().lost_percent(None), 0.0);
}

#[test]
fn the_crafted_jitter_gives_what_3_12_reported() {
    // 20 datagrams whose stamps alternately lag by 10 ms: 3.12 reported 0.0070661 s.
    let mut stats = UdpStats::default();
    for i in 0..20u64 {
        let lag_us = if i % 2 == 1 { 10_000 } else { 0 };
        let sent_us = 1_000_000 + i * 100_000 - lag_us;
        let h = Header {
            sec: (sent_us / 1_000_000) as u32,
            usec: (sent_us % 1_000_000) as u32,
            seq: i + 1,
        };
        stats.record(&h, 5.0 + i as f64 * 0.1);
    }
    let expected = 0.0100 * (1.0 - (15.0f64 / 16.0).powi(19));
    assert!(
        (stats.jitter - expected).abs() < 1e-9,
        "{} vs {expected}",
        stats.jitter
    );
    assert!((stats.jitter - 0.0070661).abs() < 1e-6, "{}", stats.jitter);
    assert_eq!(stats.errors, 0);
}

#[test]
fn a_steady_stream_has_no_jitter_whatever_the_clock_offset() {
    let mut stats = UdpStats::default();
    for i in 0..10u32 {
        stats.record(
            &Header {
                sec: 7 + i,
                usec: 0,
                seq: u64::from(i) + 1,
            },
            1e6 + f64::from(i),
        );
    }
    assert!(stats.jitter.abs() < 1e-9, "{}", stats.jitter);
}

#[test]
fn exact_counts_tell_repeats_from_late_datagrams_and_see_tail_losses() {
    let mut stats = UdpStats::default();
    // 5 and 9 never arrive (9 at the tail), 4 comes late, 6 twice.
    for seq in [1, 2, 3, 6, 4, 6, 7, 8] {
        stats.record(&header(seq), 0.0);
    }
    assert_eq!((stats.unique, stats.duplicates), (7, 1));
    assert_eq!(
        stats.out_of_order, 2,
        "iperf3 counts the late and the repeat"
    );
    assert_eq!(stats.reordered(), 1);
    assert_eq!(stats.errors, 0, "iperf3's figure: both gaps cancelled");
    assert_eq!(stats.exact_lost(9), 2, "5 and 9");
}

#[test]
fn a_jump_past_the_window_forgets_old_numbers_without_calling_them_repeats() {
    let mut stats = UdpStats::default();
    stats.record(&header(1), 0.0);
    stats.record(&header(1 + SEEN_WINDOW), 0.0);
    // 1 + SEEN_WINDOW shares a bit with 1; a later 1 is too old to check and counts.
    stats.record(&header(2 + SEEN_WINDOW), 0.0);
    stats.record(&header(SEEN_WINDOW), 0.0);
    assert_eq!((stats.unique, stats.duplicates), (4, 0));
    stats.record(&header(SEEN_WINDOW), 0.0);
    assert_eq!(stats.duplicates, 1);
}
