//! The member's side of `perf --multicast` (`perf serve --multicast GROUP`): it joins
//! the group on the server's port, follows every sender it hears by sequence number,
//! shows each one's intervals, and at a sender's end marker sends it its figures
//! (`multicast.rs` has the sender and the datagrams' layout).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use socket2::SockRef;

use super::clock;
use super::meter::{percent, rate};
use super::multicast::{parse, Report, MAX_SESSIONS, SESSION_IDLE};
use super::summary::received_end;
use super::udp::UdpStats;
use crate::ctx::{Ctx, UsageError};
use crate::net::dgram::{self, UdpOptions};
use crate::output::perf::{Figures, Member, PerfInterval, PerfMember, Role, Way};
use crate::output::Event;

/// Joins `group` on the server's port and follows every sender there.
pub fn spawn_member(
    group: Ipv4Addr,
    iface: Option<String>,
    port: u16,
    every: Option<Duration>,
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
    let group = SocketAddr::from((group, port));
    tokio::spawn(member(socket, group, every, ctx.clone()));
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

/// Follows every sender until Ctrl-C; shows each one's intervals every `every`.
async fn member(
    socket: tokio::net::UdpSocket,
    group: SocketAddr,
    every: Option<Duration>,
    ctx: Ctx,
) {
    let mut sessions: HashMap<(IpAddr, u64), Session> = HashMap::new();
    let mut ended: VecDeque<(IpAddr, u64)> = VecDeque::new();
    let mut buf = vec![0u8; 65536];
    // Idle senders are looked for every second, or at each interval.
    let mut tick = tokio::time::interval(every.unwrap_or(Duration::from_secs(1)));
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
                for s in sessions.values_mut().filter(|_| every.is_some()) {
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
