//! What both sides make of the parameters: the limits a server holds a test to, how
//! each stream's thread works, and the test as `perf_start` describes it.

use std::sync::Arc;
use std::time::Duration;

use rand::RngCore;

use super::i_errno;
use super::params::{Params, Protocol, MAX_UDP_LEN, MIN_UDP_LEN};
use super::stream::{Limit, Load, Sock, Stream, Work};
use super::{sockopt, Cookie};
use crate::output::perf::TestInfo;

/// Streams per direction at most (iperf3's own limit, `MAX_STREAMS`).
pub const MAX_PARALLEL: u32 = 128;
/// The largest TCP write (iperf3's `MAX_BLOCKSIZE`): each stream holds one such buffer.
pub const MAX_TCP_LEN: u64 = 1 << 20;
/// The largest `--window` (iperf3's `MAX_TCP_BUFFER`).
pub const MAX_WINDOW: u64 = 512 << 20;
/// The longest test, and the longest `--omit`, in seconds (iperf3's `MAX_TIME`).
pub const MAX_TIME: u64 = 86_400;

/// A refusal for SERVER_ERROR: iperf3's number and what people read.
#[derive(Debug, PartialEq)]
pub struct Refusal {
    pub i_errno: i32,
    pub why: String,
}

fn refuse(i_errno: i32, why: String) -> Result<(), Refusal> {
    Err(Refusal { i_errno, why })
}

/// Whether a server runs a test with these parameters: the same limits as iperf3's
/// client enforces on itself, since a server must not trust the client to have.
pub fn check(p: &Params) -> Result<(), Refusal> {
    let len = p.block_len();
    match p.protocol() {
        Protocol::Sctp => return refuse(i_errno::IEUNIMP, "SCTP is not supported".into()),
        Protocol::Udp if !(MIN_UDP_LEN..=MAX_UDP_LEN).contains(&len) => {
            return refuse(
                i_errno::IEUDPBLOCKSIZE,
                format!("a UDP length of {len} (from {MIN_UDP_LEN} to {MAX_UDP_LEN})"),
            )
        }
        Protocol::Tcp if !(1..=MAX_TCP_LEN).contains(&len) => {
            return refuse(
                i_errno::IEBLOCKSIZE,
                format!("a TCP length of {len} (from 1 to {MAX_TCP_LEN})"),
            )
        }
        _ => {}
    }
    if !(1..=MAX_PARALLEL).contains(&p.parallel) {
        return refuse(
            i_errno::IENUMSTREAMS,
            format!("{} streams (1 to {MAX_PARALLEL})", p.parallel),
        );
    }
    if p.time > MAX_TIME {
        return refuse(
            i_errno::IEDURATION,
            format!("{} s (at most {MAX_TIME})", p.time),
        );
    }
    if p.omit > MAX_TIME {
        return refuse(
            i_errno::IEOMIT,
            format!("--omit {} s (at most {MAX_TIME})", p.omit),
        );
    }
    if p.window.is_some_and(|w| w > MAX_WINDOW) {
        return refuse(
            i_errno::IEBUFSIZE,
            format!(
                "a window of {} bytes (at most {MAX_WINDOW})",
                p.window.unwrap_or(0)
            ),
        );
    }
    if p.authtoken.is_some() {
        return refuse(
            i_errno::IEAUTHTEST,
            "a test with credentials: sockit has no --authorized-users".into(),
        );
    }
    if p.sockit_latency && (p.reverse || p.bidirectional) {
        return refuse(
            i_errno::IEUNIMP,
            "--latency with --reverse or --bidir".into(),
        );
    }
    Ok(())
}

/// The bytes a test's streams write: random, or `0123456789` repeated
/// (`repeating_payload`), made once for the whole test.
pub fn payload(len: usize, repeating: bool) -> Arc<[u8]> {
    let mut bytes = vec![0u8; len];
    if repeating {
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = b'0' + (i % 10) as u8;
        }
    } else {
        rand::rng().fill_bytes(&mut bytes);
    }
    bytes.into()
}

/// How this side's sending and receiving threads work. `client`: this side is the
/// client (it alone enforces `num`/`blockcount`, section 5, on what it sends or, in a
/// reverse test, on what it reads).
pub fn loads(p: &Params, client: bool) -> (Load, Load, Option<Arc<Limit>>) {
    let len = p.block_len() as usize;
    let limit = match (client, p.num, p.blockcount) {
        (false, _, _) => None,
        (true, n, _) if n > 0 => Some(Limit::bytes(n)),
        (true, _, k) if k > 0 => Some(Limit::blocks(k)),
        _ => None,
    };
    let (send_work, recv_work) = match (p.sockit_latency, client) {
        (false, _) => (Work::Flow, Work::Flow),
        (true, true) => (Work::Ask, Work::Flow),
        (true, false) => (Work::Flow, Work::Echo),
    };
    let base = Load {
        work: Work::Flow,
        len,
        bitrate: p.bandwidth.unwrap_or(0),
        wide: p.udp_counters_64bit,
        payload: payload(len.max(16), p.repeating_payload),
        zerocopy: p.zerocopy && p.protocol() == Protocol::Tcp,
        limit: None,
    };
    let counts_received = p.reverse && !p.bidirectional;
    let send = Load {
        work: send_work,
        limit: limit.clone().filter(|_| !counts_received),
        ..base.clone()
    };
    let recv = Load {
        work: recv_work,
        bitrate: 0,
        limit: limit.clone().filter(|_| counts_received),
        ..base
    };
    (send, recv, limit)
}

/// The data-socket options the parameters ask of the server.
pub fn options(p: &Params) -> sockopt::DataOptions {
    sockopt::DataOptions {
        window: p.window,
        nodelay: p.nodelay || p.sockit_latency,
        mss: p.mss,
        congestion: p.congestion.clone(),
        tos: p.tos,
    }
}

/// The test as `perf_start` tells it, with what the kernel gave this side's first
/// data socket.
pub fn info(p: &Params, cookie: &Cookie, streams: &[Stream], seconds: Option<f64>) -> TestInfo {
    let first = streams.first();
    let (sndbuf, rcvbuf) = first.map_or((0, 0), |s| sockopt::buffers(s.sock.fd()));
    let congestion = first
        .filter(|s| matches!(*s.sock, Sock::Tcp(_)))
        .and_then(|s| sockopt::congestion(s.sock.fd()));
    TestInfo {
        protocol: if p.protocol() == Protocol::Udp {
            "udp"
        } else {
            "tcp"
        },
        streams: p.parallel,
        mode: match (p.bidirectional, p.reverse) {
            (true, _) => "bidir",
            (false, true) => "reverse",
            _ => "normal",
        },
        seconds: seconds.filter(|_| p.num == 0 && p.blockcount == 0),
        bytes: (p.num > 0).then_some(p.num),
        blocks: (p.blockcount > 0 && p.num == 0).then_some(p.blockcount),
        omit: p.omit as f64,
        length: p.block_len(),
        bitrate: p.bandwidth.unwrap_or(0),
        window: p.window,
        sndbuf,
        rcvbuf,
        congestion,
        latency: p.sockit_latency,
        cookie: cookie.text(),
    }
}

/// How long a server lets a test run past its announced end before ending it itself,
/// when the client never says TEST_END (section 5: a 3.12 server waits forever).
pub const SERVER_GRACE: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_refuses_what_iperf3s_client_would_not_send() {
        let ok = Params::new(Protocol::Tcp);
        assert_eq!(check(&ok), Ok(()));
        let many = Params {
            parallel: 129,
            ..ok.clone()
        };
        assert_eq!(check(&many).unwrap_err().i_errno, i_errno::IENUMSTREAMS);
        let huge = Params {
            len: Some(MAX_TCP_LEN + 1),
            ..ok.clone()
        };
        assert_eq!(check(&huge).unwrap_err().i_errno, i_errno::IEBLOCKSIZE);
        let tiny_udp = Params {
            len: Some(8),
            ..Params::new(Protocol::Udp)
        };
        assert_eq!(
            check(&tiny_udp).unwrap_err().i_errno,
            i_errno::IEUDPBLOCKSIZE
        );
        let auth = Params {
            authtoken: Some("x".into()),
            ..ok.clone()
        };
        assert_eq!(check(&auth).unwrap_err().i_errno, i_errno::IEAUTHTEST);
        let sctp = Params { sctp: true, ..ok };
        assert_eq!(check(&sctp).unwrap_err().i_errno, i_errno::IEUNIMP);
    }

    #[test]
    fn only_the_client_counts_toward_the_end_condition() {
        let p = Params {
            num: 1 << 20,
            reverse: true,
            ..Params::new(Protocol::Tcp)
        };
        let (send, recv, limit) = loads(&p, true);
        assert!(limit.is_some() && send.limit.is_none() && recv.limit.is_some());
        let (send, recv, limit) = loads(&p, false);
        assert!(limit.is_none() && send.limit.is_none() && recv.limit.is_none());
    }

    #[test]
    fn repeating_payload_is_digits() {
        assert_eq!(&payload(12, true)[..], b"012345678901");
        assert_ne!(&payload(64, false)[..], &[0u8; 64][..]);
    }
}
