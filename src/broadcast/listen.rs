//! `broadcast listen`: a port shared with other listeners on this host (every one of
//! them receives each broadcast), optionally a member of a multicast group.

use std::net::{Ipv4Addr, SocketAddr};

use socket2::SockRef;

use crate::ctx::Ctx;
use crate::net::addr::Endpoint;
use crate::net::dgram::{self, UdpOptions};
use crate::net::listen;
use crate::net::sock::NetError;
use crate::output::{Event, Proto};
use crate::udp::{Receiver, UdpReply, MAX_BUFFER};

/// What `broadcast listen` is asked to do.
#[derive(Debug, Clone)]
pub struct ListenConfig {
    /// The port to receive on, on every interface.
    pub port: u16,
    /// An exact address instead of `port`.
    pub bind: Option<Endpoint>,
    /// A multicast group to join.
    pub group: Option<Ipv4Addr>,
    /// The interface to join it on (default: every up one).
    pub iface: Option<String>,
}

/// `sockit broadcast listen`.
pub async fn listen(args: ListenConfig, ctx: Ctx) -> anyhow::Result<()> {
    let bind = match &args.bind {
        Some(ep) => listen::bind_addr(ep).await?,
        None => SocketAddr::from((Ipv4Addr::UNSPECIFIED, args.port)),
    };
    // SO_REUSEADDR + SO_REUSEPORT: a second listener on this host shares the port, and
    // the kernel gives each of them every broadcast and multicast datagram.
    let socket = dgram::udp_bind(
        bind,
        UdpOptions {
            shared: true,
            broadcast: true,
        },
    )?;
    let mut warnings = Vec::new();
    if bind.is_ipv4() {
        // Linux otherwise delivers every group that any socket on the host joined to
        // each socket bound to the port: a non-member would hear the group.
        SockRef::from(&socket)
            .set_multicast_all_v4(false)
            .map_err(|e| NetError::new("IP_MULTICAST_ALL", e))?;
    }
    if let Some(group) = args.group {
        warnings = dgram::join_v4(&socket, group, args.iface.as_deref())?;
    }
    // Printed only once the socket is bound and a member: a sender may start right away.
    listen::announce(&socket, Proto::Udp, &ctx)?;
    for w in warnings {
        ctx.out.emit(&Event::warning(w));
    }
    let receiver = Receiver {
        socket,
        buffer: MAX_BUFFER,
        reply: UdpReply::Silent,
        out: ctx.out.clone(),
    };
    let totals = receiver.run(&ctx.shutdown).await;
    ctx.out.emit(&totals);
    Ok(())
}
