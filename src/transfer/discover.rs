//! Finding a sender on the LAN: `send` broadcasts a small announcement (app, protocol
//! version, the code's public number, its TCP port) about once a second; `recv` listens
//! for the one whose number matches. Nothing secret is ever announced.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::pake::APP;
use super::wire::VERSION;
use crate::net::dgram::{self, UdpOptions};
use crate::net::sock::NetError;

/// The UDP port announcements go to unless `--port` says otherwise.
pub const DEFAULT_PORT: u16 = 9999;
/// How often a sender announces itself.
pub const EVERY: Duration = Duration::from_secs(1);
/// Announcements larger than this are ignored unread.
pub const MAX_ANNOUNCEMENT: usize = 512;

/// What a sender broadcasts. A spoofed one can only lead a receiver to a PAKE that
/// fails: discovery never bypasses the code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    pub app: String,
    pub version: u32,
    pub nameplate: u32,
    pub port: u16,
}

/// Where announcements go: `--to` (an IP, or IP:PORT), or else the directed broadcast
/// address of every up IPv4 interface that is not loopback.
pub fn destinations(to: Option<&str>, port: u16) -> anyhow::Result<Vec<SocketAddr>> {
    if let Some(to) = to {
        if let Ok(addr) = to.parse::<SocketAddr>() {
            return Ok(vec![addr]);
        }
        let ip: IpAddr = to.parse().map_err(|_| {
            anyhow::anyhow!("--to {to:?}: expected an IP address, optionally with :PORT")
        })?;
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    Ok(dgram::broadcast_addresses(port)?)
}

/// Announces `ann` to `dests` every `EVERY` until `stop`.
pub async fn announce(
    ann: Announcement,
    dests: Vec<SocketAddr>,
    stop: CancellationToken,
) -> Result<(), NetError> {
    let any = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
    let socket = dgram::udp_bind(
        any,
        UdpOptions {
            broadcast: true,
            ..UdpOptions::default()
        },
    )?;
    let datagram = serde_json::to_vec(&ann).expect("announcements serialize");
    loop {
        for dest in &dests {
            // A network that refuses one destination must not stop the others.
            let _ = socket.send_to(&datagram, dest).await;
        }
        tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}

/// The most distinct announcers with the right number one search remembers (beyond
/// it, a flood of spoofed sources could grow the set without bound; those after it are
/// still tried, but may be tried again).
pub const MAX_CANDIDATES: usize = 1024;

/// Listens for the senders that announce `nameplate`, and gives each address once: a
/// spoofed announcement (a closed port, an impostor) costs the receiver one failed
/// attempt, after which it goes on to the next announcer.
pub struct Finder {
    socket: tokio::net::UdpSocket,
    nameplate: u32,
    port: u16,
    seen: HashSet<SocketAddr>,
}

impl Finder {
    pub fn bind(nameplate: u32, port: u16) -> Result<Finder, NetError> {
        // Shared: other receivers (or `broadcast listen`) may watch the same port.
        let shared = UdpOptions {
            shared: true,
            ..UdpOptions::default()
        };
        let socket = dgram::udp_bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)), shared)?;
        Ok(Finder {
            socket,
            nameplate,
            port,
            seen: HashSet::new(),
        })
    }

    /// The UDP port listened on.
    pub fn port(&self) -> u16 {
        self.socket.local_addr().map_or(self.port, |a| a.port())
    }

    /// The next announcer of the nameplate not given before: the announcement's source
    /// address with its TCP port.
    pub async fn next(&mut self) -> Result<SocketAddr, NetError> {
        let mut buf = [0u8; MAX_ANNOUNCEMENT];
        loop {
            let (n, from) = self.socket.recv_from(&mut buf).await.map_err(|e| {
                NetError::new(format!("listen for senders on UDP port {}", self.port), e)
            })?;
            let Some(ann) = parse(&buf[..n]) else {
                continue;
            };
            let candidate = SocketAddr::new(from.ip(), ann.port);
            if ann.nameplate != self.nameplate || self.seen.contains(&candidate) {
                continue;
            }
            if self.seen.len() < MAX_CANDIDATES {
                self.seen.insert(candidate);
            }
            return Ok(candidate);
        }
    }
}

/// An announcement of this app and protocol version, or `None` for anything else.
pub fn parse(datagram: &[u8]) -> Option<Announcement> {
    let ann: Announcement = serde_json::from_slice(datagram).ok()?;
    (ann.app == APP && ann.version == VERSION && ann.port != 0).then_some(ann)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_carry_no_secret_and_parse_back() {
        let ann = Announcement {
            app: APP.into(),
            version: VERSION,
            nameplate: 7,
            port: 4000,
        };
        let json = String::from_utf8(serde_json::to_vec(&ann).unwrap()).unwrap();
        assert_eq!(
            json,
            r#"{"app":"sockit","version":1,"nameplate":7,"port":4000}"#
        );
        assert_eq!(parse(json.as_bytes()), Some(ann));
        assert_eq!(
            parse(br#"{"app":"other","version":1,"nameplate":7,"port":1}"#),
            None
        );
        assert_eq!(parse(b"\xff garbage"), None);
    }

    #[test]
    fn to_overrides_the_interfaces() {
        assert_eq!(
            destinations(Some("127.255.255.255"), 9).unwrap(),
            ["127.255.255.255:9".parse().unwrap()]
        );
        assert_eq!(
            destinations(Some("127.0.0.1:7"), 9).unwrap(),
            ["127.0.0.1:7".parse().unwrap()]
        );
        assert!(destinations(Some("nowhere"), 9).is_err());
    }
}
