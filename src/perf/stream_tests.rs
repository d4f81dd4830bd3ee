//! The unit tests of `stream.rs`: real sockets on loopback, threads and counters.

use std::time::Duration;

use super::*;

fn load(len: usize, limit: Option<Arc<Limit>>) -> Load {
    Load {
        work: Work::Flow,
        len,
        bitrate: 0,
        wide: false,
        payload: crate::perf::plan::payload(len.max(16), false),
        zerocopy: false,
        limit,
    }
}

fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    (c, s)
}

fn udp_pair() -> (UdpSocket, UdpSocket) {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    a.connect(b.local_addr().unwrap()).unwrap();
    b.connect(a.local_addr().unwrap()).unwrap();
    (a, b)
}

#[test]
fn ids_skip_two() {
    assert_eq!((0..4).map(stream_id).collect::<Vec<_>>(), [1, 3, 4, 5]);
}

#[test]
fn a_byte_limit_is_met_exactly_by_the_sender() {
    let (c, s) = tcp_pair();
    let limit = Limit::bytes(1_000_000);
    let tx = Stream::new(1, Dir::Send, Sock::Tcp(c));
    let rx = Stream::new(1, Dir::Recv, Sock::Tcp(s));
    let r = rx.start(load(65536, None)).unwrap();
    let t = tx.start(load(65536, Some(limit.clone()))).unwrap();
    t.join();
    assert_eq!(
        tx.snapshot().bytes,
        1_000_000,
        "the last block is cut to fit"
    );
    assert_eq!(tx.snapshot().blocks, 16);
    tx.halt();
    r.join();
    assert_eq!(rx.snapshot().bytes, 1_000_000);
    assert!(tx.snapshot().tcp.is_some());
}

#[test]
fn halting_wakes_a_blocked_receiver_and_is_no_failure() {
    let (c, s) = tcp_pair();
    let rx = Stream::new(3, Dir::Recv, Sock::Tcp(s));
    let w = rx.start(load(1024, None)).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    rx.halt();
    w.join();
    assert!(lock(&rx.counters.failure).is_none());
    drop(c);
}

#[test]
fn udp_datagrams_are_numbered_and_counted_by_the_receiver() {
    let (a, b) = udp_pair();
    let tx = Stream::new(1, Dir::Send, Sock::Udp(a));
    let rx = Stream::new(1, Dir::Recv, Sock::Udp(b));
    let r = rx.start(load(1000, None)).unwrap();
    // Paced (200 datagrams in 80 ms), so that a busy machine's receiver keeps up.
    let t = tx
        .start(Load {
            bitrate: 20_000_000,
            ..load(1000, Some(Limit::blocks(200)))
        })
        .unwrap();
    t.join();
    assert_eq!(tx.snapshot().blocks, 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while rx.snapshot().blocks < 200 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    rx.halt();
    r.join();
    let u = rx.snapshot().udp.unwrap();
    assert_eq!((u.max_seq, u.unique, u.exact_lost(200)), (200, 200, 0));
    assert_eq!(rx.snapshot().bytes, 200_000);
}

#[test]
fn a_paced_udp_sender_keeps_its_rate() {
    let (a, b) = udp_pair();
    let tx = Stream::new(1, Dir::Send, Sock::Udp(a));
    let rx = Stream::new(1, Dir::Recv, Sock::Udp(b));
    let r = rx.start(load(1250, None)).unwrap();
    // 10 Mbit/s of 1250-byte datagrams: 1000 a second; 100 take 99 ms at least.
    let started = std::time::Instant::now();
    let t = tx
        .start(Load {
            bitrate: 10_000_000,
            ..load(1250, Some(Limit::blocks(100)))
        })
        .unwrap();
    t.join();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(99), "{took:?}");
    assert!(took < Duration::from_millis(500), "{took:?}");
    rx.halt();
    r.join();
}

#[test]
fn zerocopy_sends_the_same_bytes() {
    let (c, s) = tcp_pair();
    let tx = Stream::new(1, Dir::Send, Sock::Tcp(c));
    let rx = Stream::new(1, Dir::Recv, Sock::Tcp(s));
    let r = rx.start(load(4096, None)).unwrap();
    let t = tx
        .start(Load {
            zerocopy: true,
            ..load(4096, Some(Limit::bytes(40_960)))
        })
        .unwrap();
    t.join();
    tx.halt();
    r.join();
    assert_eq!(rx.snapshot().bytes, 40_960);
}

#[test]
fn a_receiver_limit_is_reached_once() {
    let limit = Limit::bytes(10);
    limit.count(4);
    limit.count(4);
    limit.count(4);
    limit.count(4);
    let notified = limit.reached.notified();
    tokio::pin!(notified);
    use std::future::Future;
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(
        notified.as_mut().poll(&mut cx).is_ready(),
        "a permit was stored"
    );
}
