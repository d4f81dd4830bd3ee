//! The unit tests of `dgram.rs`.

use super::*;

#[test]
fn the_broadcast_address_is_the_top_of_the_subnet() {
    let b = |ip: &str, mask: &str| {
        directed_broadcast(ip.parse().unwrap(), mask.parse().unwrap()).map(|a| a.to_string())
    };
    // The top of the subnet, whatever the interface reports (`brd` or not).
    assert_eq!(
        b("10.1.2.3", "255.255.255.0").as_deref(),
        Some("10.1.2.255")
    );
    assert_eq!(
        b("10.1.2.255", "255.255.255.0").as_deref(),
        Some("10.1.2.255")
    );
    assert_eq!(
        b("192.168.77.9", "255.255.248.0").as_deref(),
        Some("192.168.79.255")
    );
    assert_eq!(
        b("172.16.5.4", "255.240.0.0").as_deref(),
        Some("172.31.255.255")
    );
    assert_eq!(b("10.9.8.7", "0.0.0.0").as_deref(), Some("255.255.255.255"));
    // Point-to-point and host routes have no broadcast address.
    assert_eq!(b("10.0.0.1", "255.255.255.254"), None);
    assert_eq!(b("10.0.0.1", "255.255.255.255"), None);
    // A netmask that is not a prefix is not a subnet.
    assert_eq!(b("10.0.0.1", "255.0.255.0"), None);
}

#[tokio::test]
async fn truncation_reports_the_real_size() {
    let server = udp_bind("127.0.0.1:0".parse().unwrap(), UdpOptions::default()).unwrap();
    let addr = server.local_addr().unwrap();
    let client = udp_connect(addr, UdpOptions::default()).unwrap();
    client.send(&[7u8; 3000]).await.unwrap();
    client.send(b"small").await.unwrap();
    let mut buf = vec![0u8; 1024];
    let big = recv(&server, &mut buf).await.unwrap();
    assert_eq!((big.len, big.size, big.truncated()), (1024, 3000, true));
    assert_eq!(big.peer, client.local_addr().unwrap());
    let small = recv(&server, &mut buf).await.unwrap();
    assert_eq!((small.len, small.size, small.truncated()), (5, 5, false));
    assert_eq!(&buf[..5], b"small");
}

#[tokio::test]
async fn a_connected_socket_hears_refusal() {
    // Bind a port, learn it, and free it: nobody listens there afterwards.
    let addr = udp_bind("127.0.0.1:0".parse().unwrap(), UdpOptions::default())
        .unwrap()
        .local_addr()
        .unwrap();
    let client = udp_connect(addr, UdpOptions::default()).unwrap();
    client.send(b"anyone?").await.unwrap();
    let mut buf = [0u8; 16];
    let err = recv(&client, &mut buf).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn issue13_kernel_drops_come_with_the_next_datagram() {
    let server = udp_bind("127.0.0.1:0".parse().unwrap(), UdpOptions::default()).unwrap();
    count_kernel_drops(&server).unwrap();
    // The smallest receive queue: a burst of 200 datagrams of 1000 bytes cannot fit.
    SockRef::from(&server).set_recv_buffer_size(1).unwrap();
    let client = udp_connect(server.local_addr().unwrap(), UdpOptions::default()).unwrap();
    for _ in 0..200 {
        client.send(&[1u8; 1000]).await.unwrap();
    }
    let mut buf = vec![0u8; 2000];
    let mut got = 0u32;
    let mut last = None;
    while let Ok(d) = try_recv(&server, &mut buf) {
        got += 1;
        last = d.kernel_drops.or(last);
    }
    let dropped = kernel_drops_now(&server).unwrap();
    assert!(dropped > 0 && got + dropped == 200, "{got} + {dropped}");
    // The control message tells what was dropped before the datagram was queued.
    assert!(last.unwrap_or(0) <= dropped);
    // One queued after the drops carries the whole count.
    client.send(b"after").await.unwrap();
    let after = recv(&server, &mut buf).await.unwrap();
    assert_eq!((after.len, after.kernel_drops), (5, Some(dropped)));
}

#[test]
fn control_messages_are_walked_to_the_drop_counter() {
    // Two messages as the kernel lays them out: another SOL_SOCKET one (a timestamp of
    // 16 bytes), then SO_RXQ_OVFL with its u32; the zeroed rest ends the walk.
    let header = |len: usize, kind: libc::c_int| {
        let mut h = len.to_ne_bytes().to_vec();
        h.extend(libc::SOL_SOCKET.to_ne_bytes());
        h.extend(kind.to_ne_bytes());
        h
    };
    let mut control = header(16 + 16, libc::SO_TIMESTAMP);
    control.extend([0xee; 16]);
    control.extend(header(16 + 4, SO_RXQ_OVFL));
    control.extend(7u32.to_ne_bytes());
    control.resize(64, 0);
    assert_eq!(rxq_ovfl(&control), Some(7));
    assert_eq!(rxq_ovfl(&control[..32]), None);
    assert_eq!(rxq_ovfl(&[0; 64]), None);
    // A length running past the area is not trusted.
    let mut bad = header(1000, SO_RXQ_OVFL);
    bad.resize(64, 0);
    assert_eq!(rxq_ovfl(&bad), None);
}

#[test]
fn payload_limits_follow_the_family() {
    assert_eq!(max_payload("127.0.0.1:1".parse().unwrap()), 65_507);
    assert_eq!(max_payload("[::1]:1".parse().unwrap()), 65_527);
}

#[test]
fn shared_sockets_bind_one_port_twice() {
    let opts = UdpOptions {
        shared: true,
        broadcast: true,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let a = udp_bind("127.0.0.1:0".parse().unwrap(), opts).unwrap();
        let b = udp_bind(a.local_addr().unwrap(), opts);
        assert!(b.is_ok(), "{:?}", b.err());
    });
}
