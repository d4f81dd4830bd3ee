//! `perf --multicast GROUP`: UDP to a multicast group, and every member's own count of
//! what it received (iperf3 has no multicast; iperf issues #27, #1913).
//!
//! The sender writes iperf3's datagrams (section 4.3) whose payload starts with
//! `MAGIC`, a session number and the UDP port its reports go to; at the end it sends
//! an end marker (sequence number 0) with its count, three times. Each member
//! (`perf serve --multicast GROUP`) counts every sender's datagrams by sequence number,
//! shows them per interval, and at the end marker sends the sender its figures, which
//! the sender prints one line per member (`perf_member`). The layout is in
//! docs/perf-protocol.md, "sockit's additions".

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use socket2::SockRef;

use super::run::{Reporter, Running};
use super::stream::{Dir, Limit, Load, Sock, Stream, Work};
use super::udp::{Header, HEADER_LEN_32};
use super::{clock, plan, ClientConfig, DEFAULT_UDP_BITRATE};
use crate::ctx::{Ctx, UsageError};
use crate::net::dgram::{self};
use crate::output::perf::{Member, PerfMember, PerfStart, Role, TestInfo};
use crate::output::Event;

/// Where a multicast test goes.
#[derive(Debug, Clone)]
pub struct Group {
    pub addr: SocketAddrV4,
    /// IP_MULTICAST_TTL: 1 stays on the local network.
    pub ttl: u32,
    /// Send out of this interface (IP_MULTICAST_IF) instead of the routed one.
    pub iface: Option<String>,
}

const MAGIC: [u8; 4] = *b"SKMC";
/// The header, the magic, the session, the report port, and (end marker) the count.
const END_LEN: usize = HEADER_LEN_32 + 4 + 8 + 2 + 8;
/// The smallest datagram a multicast test sends.
pub const MIN_LEN: u64 = END_LEN as u64;
/// A multicast test's datagram size when none is given: fits an Ethernet frame.
pub const DEFAULT_LEN: u64 = 1400;
/// How long the sender waits for the members' reports after its end markers.
pub const REPORT_WAIT: Duration = Duration::from_secs(2);
/// Senders a member follows at once; others are ignored until one ends.
pub const MAX_SESSIONS: usize = 64;
/// A sender silent this long is taken to have ended (its end markers were lost).
pub const SESSION_IDLE: Duration = Duration::from_secs(10);
/// Members' reports a sender prints, at most.
pub const MAX_MEMBERS: usize = 1024;

/// What a member sends back.
#[derive(Serialize, Deserialize)]
pub(super) struct Report {
    pub sockit_member: u8,
    pub session: u64,
    #[serde(flatten)]
    pub figures: Member,
}

/// The payload after the header: magic, session, report port (and the count).
fn mark(buf: &mut [u8], session: u64, port: u16) {
    buf[HEADER_LEN_32..HEADER_LEN_32 + 4].copy_from_slice(&MAGIC);
    buf[HEADER_LEN_32 + 4..HEADER_LEN_32 + 12].copy_from_slice(&session.to_be_bytes());
    buf[HEADER_LEN_32 + 12..HEADER_LEN_32 + 14].copy_from_slice(&port.to_be_bytes());
}

/// A datagram's session and report port, if it is one of ours.
pub fn parse(buf: &[u8]) -> Option<(Header, u64, u16, Option<u64>)> {
    if buf.len() < HEADER_LEN_32 + 14 || buf[HEADER_LEN_32..HEADER_LEN_32 + 4] != MAGIC {
        return None;
    }
    let h = Header::decode(buf, false)?;
    let at = |i: usize, n: usize| &buf[HEADER_LEN_32 + i..HEADER_LEN_32 + i + n];
    let session = u64::from_be_bytes(at(4, 8).try_into().ok()?);
    let port = u16::from_be_bytes(at(12, 2).try_into().ok()?);
    let count = (h.seq == 0 && buf.len() >= END_LEN)
        .then(|| u64::from_be_bytes(at(14, 8).try_into().unwrap_or_default()));
    Some((h, session, port, count))
}

/// The sender's side.
pub async fn send(cfg: &ClientConfig, group: Group, ctx: Ctx) -> anyhow::Result<()> {
    if !group.addr.ip().is_multicast() {
        return Err(UsageError(format!(
            "--multicast {}: not a multicast group",
            group.addr.ip()
        ))
        .into());
    }
    let reports = tokio::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).await?;
    let report_port = reports.local_addr()?.port();
    let data = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    let s = SockRef::from(&data);
    s.set_multicast_ttl_v4(group.ttl)?;
    if let Some(name) = &group.iface {
        let ip = dgram::interface_v4(name).with_context(|| format!("--iface {name}"))?;
        s.set_multicast_if_v4(&ip)?;
    }
    data.connect(group.addr)
        .with_context(|| format!("send to {}", group.addr))?;
    let len = cfg
        .length
        .unwrap_or(DEFAULT_LEN)
        .clamp(MIN_LEN, super::params::MAX_UDP_LEN) as usize;
    let session = rand::random::<u64>();
    let mut payload = plan::payload(len, cfg.repeating_payload).to_vec();
    mark(&mut payload, session, report_port);
    let bitrate = cfg.bitrate.unwrap_or(DEFAULT_UDP_BITRATE);
    let limit = cfg
        .bytes
        .map(Limit::bytes)
        .or(cfg.blocks.map(Limit::blocks));
    let load = Load {
        work: Work::Flow,
        len,
        bitrate,
        wide: false,
        payload: payload.into(),
        zerocopy: false,
        limit: limit.clone(),
    };
    let peer = SocketAddr::V4(group.addr);
    ctx.out.emit(&Event::PerfStart(Box::new(PerfStart {
        peer,
        role: Role::Client,
        test: None,
        info: TestInfo {
            protocol: "udp",
            streams: 1,
            mode: "multicast",
            seconds: Some(cfg.time.as_secs_f64()).filter(|_| limit.is_none()),
            bytes: cfg.bytes,
            blocks: cfg.blocks,
            omit: 0.0,
            length: len as u64,
            bitrate,
            window: None,
            sndbuf: super::sockopt::buffers(&data).0,
            rcvbuf: super::sockopt::buffers(&data).1,
            congestion: None,
            latency: false,
            cookie: format!("{session:016x}"),
        },
    })));
    let stream = Stream::new(1, Dir::Send, Sock::Udp(data));
    let reporter = Reporter {
        out: ctx.out.clone(),
        peer,
        role: Role::Client,
        test: None,
        bidir: false,
        latency: false,
        udp: true,
        quiet: false,
    };
    let mut running = Running::start(
        vec![stream.clone()],
        &load,
        &load,
        Duration::ZERO,
        cfg.interval,
        false,
        reporter,
    )?;
    let deadline = tokio::time::Instant::from_std(running.start + cfg.time);
    let reached = async {
        match &limit {
            Some(l) => l.reached.notified().await,
            None => tokio::time::sleep_until(deadline).await,
        }
    };
    let interrupted = tokio::select! {
        _ = reached => false,
        _ = ctx.shutdown.cancelled() => true,
    };
    running.stop_senders().await;
    running.last_interval(Instant::now());
    let sent = stream.counters.blocks.load(Relaxed);
    let mut end = vec![0u8; END_LEN];
    let (sec, usec) = clock::stamp();
    Header { sec, usec, seq: 0 }.encode(&mut end, false);
    mark(&mut end, session, report_port);
    end[HEADER_LEN_32 + 14..].copy_from_slice(&sent.to_be_bytes());
    if let Sock::Udp(s) = &*stream.sock {
        for _ in 0..3 {
            let _ = s.send(&end);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    running.finish().await;
    if interrupted {
        return Err(crate::ctx::Interrupted(format!(
            "sent {sent} datagrams; members were not asked for their counts"
        ))
        .into());
    }
    let members = collect(&reports, session, peer, &ctx).await;
    if members == 0 {
        ctx.out.emit(&Event::warning(format!(
            "no member of {} reported within {} s: is `sockit perf serve --multicast {}` running where the group reaches (TTL {})?",
            group.addr.ip(),
            REPORT_WAIT.as_secs(),
            group.addr.ip(),
            group.ttl
        )));
    }
    Ok(())
}

/// The members' reports for `session`, printed as they come; how many came.
async fn collect(
    reports: &tokio::net::UdpSocket,
    session: u64,
    group: SocketAddr,
    ctx: &Ctx,
) -> usize {
    let until = tokio::time::Instant::now() + REPORT_WAIT;
    let mut buf = vec![0u8; 4096];
    let mut heard = Vec::new();
    while heard.len() < MAX_MEMBERS {
        let got = tokio::select! {
            r = tokio::time::timeout_at(until, reports.recv_from(&mut buf)) => r,
            _ = ctx.shutdown.cancelled() => break,
        };
        let Ok(Ok((n, from))) = got else { break };
        let Ok(report) = serde_json::from_slice::<Report>(&buf[..n]) else {
            continue;
        };
        if report.session != session || heard.contains(&from) {
            continue;
        }
        heard.push(from);
        ctx.out.emit(&Event::PerfMember(Box::new(PerfMember {
            peer: from,
            group,
            figures: report.figures,
        })));
    }
    heard.len()
}
