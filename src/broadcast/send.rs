//! `broadcast send`: a datagram to every local network's broadcast address (or to a
//! multicast group), again every `--interval`, each one reported with its destination.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::Context as _;
use socket2::SockRef;
use tokio::time::MissedTickBehavior;

use crate::ctx::{Ctx, UsageError};
use crate::net::addr::Endpoint;
use crate::net::dgram::{self, UdpOptions, MAX_PAYLOAD_V4};
use crate::net::sock::{describe, NetError, SocketInfo};
use crate::output::Event;

/// The shortest `--interval`: faster broadcasts make every host on the network handle
/// them, the broadcast storm the notes warn about.
pub const MIN_INTERVAL: Duration = Duration::from_millis(50);

/// What `broadcast send` is asked to do.
#[derive(Debug, Clone)]
pub struct SendConfig {
    /// The text sent (default: "sockit broadcast N").
    pub message: Option<String>,
    pub port: u16,
    /// The pause between rounds, at least `MIN_INTERVAL`.
    pub interval: Duration,
    /// Rounds to send (`None`: until Ctrl-C).
    pub count: Option<u64>,
    /// One destination (an IP, or HOST:PORT) instead of every broadcast address.
    pub to: Option<String>,
    /// A multicast group instead of broadcasting.
    pub group: Option<Ipv4Addr>,
    /// Multicast hops (IP_MULTICAST_TTL).
    pub ttl: u8,
    /// The interface multicast leaves by (IP_MULTICAST_IF).
    pub iface: Option<String>,
}

/// `sockit broadcast send`.
pub async fn send(args: SendConfig, ctx: Ctx) -> anyhow::Result<()> {
    if args.interval < MIN_INTERVAL {
        return Err(UsageError(format!(
            "--interval {:?} is under {MIN_INTERVAL:?}: broadcasting that often floods every \
             host on the network (a broadcast storm)",
            args.interval
        ))
        .into());
    }
    if let Some(m) = args.message.as_ref().filter(|m| m.len() > MAX_PAYLOAD_V4) {
        return Err(UsageError(format!(
            "the message ({} bytes) is over the maximum UDP payload of {MAX_PAYLOAD_V4} bytes",
            m.len()
        ))
        .into());
    }
    let dests = destinations(&args).await?;
    let socket = dgram::udp_unconnected(
        dests[0],
        UdpOptions {
            shared: false,
            broadcast: true,
        },
    )?;
    if args.group.is_some() {
        multicast_options(&socket, &args)?;
    }
    if ctx.verbose {
        ctx.out.emit(&Event::Socket(SocketInfo::of(&socket)));
    }

    let mut ticks = tokio::time::interval(args.interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    for round in 1.. {
        if args.count.is_some_and(|n| round > n) {
            break;
        }
        tokio::select! {
            _ = ctx.shutdown.cancelled() => break,
            _ = ticks.tick() => {}
        }
        let text = args
            .message
            .clone()
            .unwrap_or_else(|| format!("sockit broadcast {round}"));
        let mut failures = Vec::new();
        for &to in &dests {
            match socket.send_to(text.as_bytes(), to).await {
                Ok(bytes) => ctx.out.emit(&Event::Sent { to, bytes }),
                Err(e) => failures.push(NetError::new(format!("send to {to}"), e)),
            }
        }
        // One network down is worth a warning; all of them, an error (said once, not
        // also as a warning).
        if failures.len() == dests.len() {
            if let Some(e) = failures.pop() {
                return Err(e.into());
            }
        }
        for e in failures {
            ctx.out.emit(&Event::warning(e.to_string()));
        }
    }
    Ok(())
}

fn multicast_options(socket: &tokio::net::UdpSocket, args: &SendConfig) -> anyhow::Result<()> {
    let s = SockRef::from(socket);
    s.set_multicast_ttl_v4(args.ttl.into())
        .map_err(|e| NetError::new("IP_MULTICAST_TTL", e))?;
    if let Some(name) = &args.iface {
        let ip = dgram::interface_v4(name).with_context(|| format!("--iface {name}"))?;
        s.set_multicast_if_v4(&ip)
            .map_err(|e| NetError::new(format!("IP_MULTICAST_IF {name}"), e))?;
    }
    Ok(())
}

/// Where each round goes: the multicast group, `--to`, or else the broadcast address of
/// every up, non-loopback IPv4 interface.
pub async fn destinations(args: &SendConfig) -> anyhow::Result<Vec<SocketAddr>> {
    if let Some(group) = args.group {
        if !group.is_multicast() {
            return Err(UsageError(format!(
                "--group {group} is not a multicast address (224.0.0.0 to 239.255.255.255)"
            ))
            .into());
        }
        return Ok(vec![(group, args.port).into()]);
    }
    if let Some(to) = &args.to {
        return Ok(vec![parse_to(to, args.port).await?]);
    }
    let dests = dgram::broadcast_addresses(args.port).context("list network interfaces")?;
    if dests.is_empty() {
        anyhow::bail!(
            "no up, non-loopback IPv4 interface has a broadcast address; name one with --to ADDR"
        );
    }
    Ok(dests)
}

/// `--to`: an IP address (the port is `--port`) or HOST:PORT.
async fn parse_to(to: &str, port: u16) -> anyhow::Result<SocketAddr> {
    if let Ok(ip) = to.parse::<IpAddr>() {
        return Ok((ip, port).into());
    }
    let ep: Endpoint = to
        .parse()
        .map_err(|e| UsageError(format!("--to {to}: {e}")))?;
    let addrs = ep
        .resolve(&Ipv4Addr::BROADCAST.to_string())
        .await
        .map_err(|e| anyhow::anyhow!("resolve {to}: {}", describe(&e)))?;
    Ok(addrs[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults of the command line, with `--to`, `--port` or `--group` set.
    fn args(line: &[&str]) -> SendConfig {
        let mut c = SendConfig {
            message: None,
            port: 9999,
            interval: Duration::from_secs(2),
            count: None,
            to: None,
            group: None,
            ttl: 1,
            iface: None,
        };
        for pair in line.chunks(2) {
            match pair {
                ["--to", v] => c.to = Some((*v).to_owned()),
                ["--port", v] => c.port = v.parse().unwrap(),
                ["--group", v] => c.group = Some(v.parse().unwrap()),
                _ => unreachable!("{pair:?}"),
            }
        }
        c
    }

    #[tokio::test]
    async fn to_takes_an_ip_or_host_port() {
        let d = destinations(&args(&["--to", "127.255.255.255"]))
            .await
            .unwrap();
        assert_eq!(d, ["127.255.255.255:9999".parse().unwrap()]);
        let d = destinations(&args(&["--to", "127.0.0.1:5", "--port", "7"]))
            .await
            .unwrap();
        assert_eq!(d, ["127.0.0.1:5".parse().unwrap()]);
        let d = destinations(&args(&["--to", ":6"])).await.unwrap();
        assert_eq!(d, ["255.255.255.255:6".parse().unwrap()]);
    }

    #[tokio::test]
    async fn group_must_be_multicast() {
        let d = destinations(&args(&["--group", "239.1.2.3"]))
            .await
            .unwrap();
        assert_eq!(d, ["239.1.2.3:9999".parse().unwrap()]);
        let e = destinations(&args(&["--group", "10.0.0.1"]))
            .await
            .unwrap_err();
        assert!(e.downcast_ref::<UsageError>().is_some(), "{e}");
    }

    #[tokio::test]
    async fn default_destinations_are_broadcast_addresses_of_real_interfaces() {
        // Lists destinations only; nothing is sent.
        if let Ok(dests) = destinations(&args(&[])).await {
            for d in dests {
                assert!(!d.ip().is_loopback(), "{d}");
                assert_eq!(d.port(), 9999);
            }
        }
    }
}
