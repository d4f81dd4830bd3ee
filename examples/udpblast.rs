//! A paced UDP load generator for `bench/udp.sh`: sends COUNT datagrams of SIZE bytes to
//! ADDR at RATE datagrams per second (0: as fast as possible), then prints how many it
//! sent and how long that took (its real rate: a sender that the scheduler held back
//! does not make up for it in a burst).
//!
//! Usage: udpblast ADDR SIZE RATE COUNT
//!
//! Pacing spins on a per-datagram deadline instead of sleeping: a sleep's granularity
//! would release datagrams in bursts, and bursts overflow a receive buffer that a steady
//! stream of the same rate does not. Loopback only; bounded by COUNT.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// How far behind its schedule the sender may fall before it stops catching up.
const MAX_LAG: Duration = Duration::from_millis(1);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, size, rate, count] = &args[..] else {
        eprintln!("usage: udpblast ADDR SIZE RATE COUNT");
        std::process::exit(2);
    };
    let addr: SocketAddr = addr.parse().expect("ADDR");
    assert!(addr.ip().is_loopback(), "udpblast sends to loopback only");
    let size: usize = size.parse().expect("SIZE");
    let rate: u64 = rate.parse().expect("RATE");
    let count: u64 = count.parse().expect("COUNT");

    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.connect(addr).expect("connect");
    let payload = vec![b'x'; size];
    let gap = (rate > 0).then(|| Duration::from_secs_f64(1.0 / rate as f64));
    let start = Instant::now();
    let mut next = start;
    let mut sent = 0u64;
    let mut errors = 0u64;
    for _ in 0..count {
        if let Some(gap) = gap {
            let now = Instant::now();
            if now < next {
                while Instant::now() < next {
                    std::hint::spin_loop();
                }
            } else if now - next > MAX_LAG {
                // Descheduled for a while: go on from now rather than make up for the
                // lost time in one burst, which would measure bursts, not the rate.
                next = now;
            }
            next += gap;
        }
        match socket.send(&payload) {
            Ok(_) => sent += 1,
            Err(_) => errors += 1,
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "sent={sent} errors={errors} secs={secs:.3} rate={:.0}",
        sent as f64 / secs
    );
}
