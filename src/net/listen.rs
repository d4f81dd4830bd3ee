//! The start of every server: resolve its `--bind` address, bind it, and say
//! `listening` (the line people, scripts and tests wait for), with `-v` followed by the
//! socket's attributes.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;

use socket2::SockRef;
use tokio::net::TcpListener;

use super::addr::{Endpoint, ANY_HOST};
use super::sock::{self, NetError};
use crate::ctx::Ctx;
use crate::output::{Event, Proto, SocketInfo};

/// The address a server binds for `bind`: the first it resolves to, a bare port
/// meaning every interface.
pub async fn bind_addr(bind: &Endpoint) -> Result<SocketAddr, NetError> {
    let addrs = bind
        .resolve(ANY_HOST)
        .await
        .map_err(|e| NetError::new(format!("resolve {bind}"), e))?;
    addrs
        .first()
        .copied()
        .ok_or_else(|| NetError::new(format!("resolve {bind}"), io::ErrorKind::NotFound.into()))
}

/// A TCP listener on `bind`, announced.
pub async fn tcp(bind: &Endpoint, proto: Proto, ctx: &Ctx) -> anyhow::Result<TcpListener> {
    let listener = sock::tcp_listener(bind_addr(bind).await?)?;
    announce(&listener, proto, ctx)?;
    Ok(listener)
}

/// Says `listening` for a socket bound and ready to serve, and with `-v` its
/// attributes; returns its address.
pub fn announce(socket: &impl AsFd, proto: Proto, ctx: &Ctx) -> io::Result<SocketAddr> {
    let addr = SockRef::from(socket)
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("not an IP socket"))?;
    ctx.out.emit(&Event::Listening { proto, addr });
    if ctx.verbose {
        ctx.out.emit(&Event::Socket(SocketInfo::of(socket)));
    }
    Ok(addr)
}
