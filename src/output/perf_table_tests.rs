//! The unit tests of `perf_table.rs`: every line fits 80 columns, in the widest cases a
//! test prints (a server's test number, both directions, UDP counts in the millions).

use std::net::SocketAddr;

use super::super::perf::*;
use super::super::Event;

fn peer() -> SocketAddr {
    "192.168.100.200:54321".parse().unwrap()
}

fn figures(stream: Option<u32>, udp_recv: bool, tcp_send: bool) -> Figures {
    Figures {
        stream,
        start: 99.0,
        end: 100.0,
        bytes: 2_850_000_000,
        bits_per_second: 22_800_000_000.0,
        retransmits: tcp_send.then_some(123_456),
        cwnd: tcp_send.then_some(4_718_592),
        rtt_us: tcp_send.then_some(12_345),
        packets: udp_recv.then_some(893_000),
        lost: udp_recv.then_some(123_456),
        lost_percent: udp_recv.then_some(13.8),
        jitter_ms: udp_recv.then_some(12.345),
        out_of_order: udp_recv.then_some(12),
        ..Figures::default()
    }
}

fn assert_fits(event: &Event) {
    let text = event.to_string();
    for line in text.lines() {
        assert!(
            line.chars().count() <= 80,
            "{} columns: {line}",
            line.chars().count()
        );
    }
}

fn start(protocol: &'static str, mode: &'static str, role: Role, latency: bool) -> Event {
    Event::PerfStart(Box::new(PerfStart {
        peer: peer(),
        role,
        test: (role == Role::Server).then_some(99),
        info: TestInfo {
            protocol,
            streams: 128,
            mode,
            seconds: Some(86_400.0),
            bytes: None,
            blocks: None,
            omit: 0.0,
            length: 1 << 20,
            bitrate: 1_500_000_000,
            window: Some(512 << 20),
            sndbuf: 1 << 30,
            rcvbuf: 1 << 30,
            congestion: Some("cubic".into()),
            latency,
            cookie: "a".repeat(36),
        },
    }))
}

#[test]
fn every_line_fits_80_columns() {
    // The widest a person meets: test number 99 of a server, both directions, stream
    // ids of three digits, UDP at 10 Gbit/s (900,000 datagrams a second).
    for role in [Role::Client, Role::Server] {
        for protocol in ["tcp", "udp"] {
            for mode in ["normal", "reverse", "bidir"] {
                assert_fits(&start(protocol, mode, role, false));
            }
        }
        assert_fits(&start("tcp", "normal", role, true));
        for (udp, dir) in [(true, Way::Recv), (false, Way::Send), (true, Way::Send)] {
            let s = |id| figures(Some(id), udp && dir == Way::Recv, !udp && dir == Way::Send);
            assert_fits(&Event::PerfInterval(Box::new(PerfInterval {
                peer: peer(),
                role,
                test: (role == Role::Server).then_some(99),
                dir,
                omitted: true,
                bidir: true,
                sum: figures(None, udp && dir == Way::Recv, !udp && dir == Way::Send),
                streams: vec![s(1), s(130)],
            })));
        }
        let totals = Totals {
            seconds: 86_400.0,
            bytes: 1 << 50,
            bits_per_second: 99_900_000_000.0,
            retransmits: Some(12_345_678),
        };
        let udp = UdpEnd {
            sent: 9_876_543_210,
            received: 9_876_000_000,
            lost: 543_210,
            lost_percent: 0.0055,
            out_of_order: 1_234_567,
            duplicates: 12_345,
            jitter_ms: 123.456,
        };
        let stream = StreamEnd {
            stream: 130,
            sender: totals.clone(),
            receiver: totals.clone(),
            udp: Some(udp.clone()),
            rtt: Some(RttRange {
                min_us: 12_345,
                mean_us: 123_456,
                max_us: 1_234_567,
            }),
            max_cwnd: Some(1 << 30),
            max_snd_wnd: None,
        };
        assert_fits(&Event::PerfEnd(Box::new(PerfEnd {
            peer: peer(),
            role,
            test: (role == Role::Server).then_some(99),
            dir: Way::Send,
            sender: totals.clone(),
            receiver: totals.clone(),
            udp: Some(udp.clone()),
            rtt: stream.rtt,
            max_cwnd: Some(1 << 30),
            cpu: CpuUse {
                local: 199.9,
                local_user: 99.9,
                local_system: 100.0,
                remote: 199.9,
                remote_user: 99.9,
                remote_system: 100.0,
            },
            streams: vec![stream.clone(), stream],
        })));
        assert_fits(&Event::PerfMember(Box::new(PerfMember {
            peer: peer(),
            group: "239.255.255.255:65535".parse().unwrap(),
            figures: Member {
                seconds: 86_400.0,
                bytes: 1 << 50,
                bits_per_second: 99_900_000_000.0,
                udp,
            },
        })));
    }
    for last in [false, true] {
        assert_fits(&Event::PerfLatency(Box::new(PerfLatency {
            peer: peer(),
            role: Role::Client,
            test: None,
            last,
            figures: Latency {
                start: 99.0,
                end: 100.0,
                transactions: 123_456_789,
                per_second: 123_456.7,
                min_us: 1.0,
                mean_us: 12_345.6,
                p50_us: 12_345.6,
                p90_us: 123_456.0,
                p99_us: 1_234_567.0,
                max_us: 12_345_678.0,
                lost: Some(123_456),
            },
        })));
    }
}
