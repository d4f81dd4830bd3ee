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

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use socket2::SockRef;

use super::meter::{percent, rate};
use super::run::{Reporter, Running};
use super::stream::{Dir, Limit, Load, Sock, Stream, Work};
use super::summary::received_end;
use super::udp::{Header, UdpStats, HEADER_LEN_32};
use super::{clock, plan, ClientConfig, DEFAULT_UDP_BITRATE};
use crate::ctx::{Ctx, UsageError};
use crate::net::dgram::{self, UdpOptions};
use crate::output::perf::{
    Figures, Member, PerfInterval, PerfMember, PerfStart, Role, TestInfo, Way,
};
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
struct Report {
    sockit_member: u8,
    session: u64,
    #[serde(flatten)]
    figures: Member,
}

/// The payload after the header: magic, session, report port (and the count).
fn mark(buf: &mut [u8], session: u64, port: u16) {
    buf[HEADER_LEN_32..HEADER_LEN_32 + 4].copy_from_slice(&MAGIC);
    buf[HEADER_LEN_32 + 4..HEADER_LEN_32 + 12].copy_from_slice(&session.to_be_bytes());
    buf[HEADER_LEN_32 + 12..HEADER_LEN_32 + 14].copy_from_slice(&port.to_be_bytes());
}

/// A datagram's session and report port, if it is one of ours.
fn parse(buf: &[u8]) -> Option<(Header, u64, u16, Option<u64>)> {
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
    running.stop_senders();
    let stopped = Instant::now();
    while !running.threads_done() && stopped.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
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

/// Joins `group` on the server's port and follows every sender there.
pub fn spawn_member(
    group: Ipv4Addr,
    iface: Option<String>,
    port: u16,
    ctx: &Ctx,
) -> anyhow::Result<()> {
    if !group.is_multicast() {
        return Err(UsageError(format!("--multicast {group}: not a multicast group")).into());
    }
    let socket = dgram::udp_bind(
        SocketAddr::from((group, port)),
        UdpOptions {
            shared: true,
            broadcast: false,
        },
    )?;
    SockRef::from(&socket).set_multicast_all_v4(false)?;
    for w in dgram::join_v4(&socket, group, iface.as_deref())? {
        ctx.out.emit(&Event::warning(w));
    }
    tokio::spawn(member(socket, SocketAddr::from((group, port)), ctx.clone()));
    Ok(())
}

/// One sender as a member follows it.
struct Session {
    sender: SocketAddr,
    report_to: SocketAddr,
    stats: UdpStats,
    bytes: u64,
    first: Instant,
    last: Instant,
    /// At the last interval: when, bytes, highest number, distinct, late.
    prev: (Instant, u64, u64, u64, u64),
}

impl Session {
    fn figures(&self) -> Member {
        let u = &self.stats;
        let seconds = self.last.duration_since(self.first).as_secs_f64();
        Member {
            seconds,
            bytes: self.bytes,
            bits_per_second: rate(self.bytes, seconds),
            udp: received_end(u, u.max_seq),
        }
    }

    fn interval(&mut self, now: Instant) -> Figures {
        let (at, bytes, max, unique, late) = self.prev;
        let u = &self.stats;
        let packets = u.max_seq - max;
        let lost = packets.saturating_sub(u.unique - unique);
        let f = Figures {
            start: at.duration_since(self.first).as_secs_f64(),
            end: now.duration_since(self.first).as_secs_f64(),
            bytes: self.bytes - bytes,
            bits_per_second: rate(self.bytes - bytes, now.duration_since(at).as_secs_f64()),
            packets: Some(packets),
            lost: Some(lost),
            lost_percent: Some(percent(lost, packets)),
            jitter_ms: Some(u.jitter * 1000.0),
            out_of_order: Some(u.out_of_order - late),
            ..Figures::default()
        };
        self.prev = (now, self.bytes, u.max_seq, u.unique, u.out_of_order);
        f
    }
}

async fn member(socket: tokio::net::UdpSocket, group: SocketAddr, ctx: Ctx) {
    let mut sessions: HashMap<(IpAddr, u64), Session> = HashMap::new();
    let mut ended: VecDeque<(IpAddr, u64)> = VecDeque::new();
    let mut buf = vec![0u8; 65536];
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                let Ok((n, from)) = r else { continue };
                let Some((h, session, port, count)) = parse(&buf[..n]) else { continue };
                let key = (from.ip(), session);
                if ended.contains(&key) {
                    continue;
                }
                let now = Instant::now();
                if let Some(sent) = count {
                    if let Some(s) = sessions.remove(&key) {
                        finish(&socket, s, session, sent, group, &ctx).await;
                        ended.push_back(key);
                        if ended.len() > MAX_SESSIONS {
                            ended.pop_front();
                        }
                    }
                    continue;
                }
                if !sessions.contains_key(&key) && sessions.len() >= MAX_SESSIONS {
                    continue;
                }
                let s = sessions.entry(key).or_insert_with(|| Session {
                    sender: from,
                    report_to: SocketAddr::new(from.ip(), port),
                    stats: UdpStats::default(),
                    bytes: 0,
                    first: now,
                    last: now,
                    prev: (now, 0, 0, 0, 0),
                });
                s.stats.record(&h, clock::now_secs());
                s.bytes += n as u64;
                s.last = now;
            }
            _ = tick.tick() => {
                let now = Instant::now();
                for s in sessions.values_mut() {
                    let sum = s.interval(now);
                    ctx.out.offer(&Event::PerfInterval(Box::new(PerfInterval {
                        peer: s.sender,
                        role: Role::Server,
                        test: None,
                        dir: Way::Recv,
                        omitted: false,
                        bidir: false,
                        sum,
                        streams: Vec::new(),
                    })));
                }
                let idle: Vec<_> = sessions.iter().filter(|(_, s)| now.duration_since(s.last) >= SESSION_IDLE).map(|(k, _)| *k).collect();
                for key in idle {
                    if let Some(s) = sessions.remove(&key) {
                        let sent = s.stats.max_seq;
                        finish(&socket, s, key.1, sent, group, &ctx).await;
                    }
                }
            }
            _ = ctx.shutdown.cancelled() => return,
        }
    }
}

/// A sender ended: its figures against its count, to it and on this side's output.
async fn finish(
    socket: &tokio::net::UdpSocket,
    s: Session,
    session: u64,
    sent: u64,
    group: SocketAddr,
    ctx: &Ctx,
) {
    let mut figures = s.figures();
    figures.udp = received_end(&s.stats, sent);
    let report = Report {
        sockit_member: 1,
        session,
        figures: figures.clone(),
    };
    if let Ok(bytes) = serde_json::to_vec(&report) {
        let _ = socket.send_to(&bytes, s.report_to).await;
    }
    ctx.out.emit(&Event::PerfMember(Box::new(PerfMember {
        peer: s.sender,
        group,
        figures,
    })));
}
