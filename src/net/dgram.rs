//! UDP sockets: builders for servers, clients, broadcast and multicast, and a receive
//! that reports truncation with the datagram's real size (Linux `MSG_TRUNC`) and the
//! socket's count of datagrams the kernel dropped (`SO_RXQ_OVFL`).
//!
//! Kept apart from `sock.rs` (TCP and `SocketInfo`) so UDP code has one home.

use std::io::{self, IoSliceMut};
use std::mem::MaybeUninit;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;

use rustix::net::{RecvAncillaryBuffer, RecvFlags};

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use anyhow::Context as _;

use crate::ctx::UsageError;
use crate::net::sock::{describe, NetError};

/// The largest UDP payload over IPv4: 65535 minus the 20-byte IP and 8-byte UDP headers.
pub const MAX_PAYLOAD_V4: usize = 65_507;
/// The largest UDP payload over IPv6 (without jumbograms): 65535 minus the UDP header.
pub const MAX_PAYLOAD_V6: usize = 65_527;

/// The largest payload one datagram to `addr` can carry.
pub fn max_payload(addr: SocketAddr) -> usize {
    match addr {
        SocketAddr::V4(_) => MAX_PAYLOAD_V4,
        SocketAddr::V6(_) => MAX_PAYLOAD_V6,
    }
}

/// Options a UDP socket gets before it is bound.
#[derive(Debug, Clone, Copy, Default)]
pub struct UdpOptions {
    /// `SO_REUSEADDR` + `SO_REUSEPORT`: several listeners on one port, each receiving
    /// every broadcast and multicast datagram.
    pub shared: bool,
    /// `SO_BROADCAST`: may send to (and, on some systems, receive) broadcast addresses.
    pub broadcast: bool,
}

/// A UDP socket bound to `addr`.
pub fn udp_bind(addr: SocketAddr, opts: UdpOptions) -> Result<UdpSocket, NetError> {
    let fail = |e| NetError::new(format!("bind udp {addr}"), e);
    let socket = new_udp(addr, opts).map_err(fail)?;
    if let SocketAddr::V6(v6) = addr {
        if v6.ip().is_unspecified() {
            socket.set_only_v6(false).map_err(fail)?;
        }
    }
    socket
        .bind(&addr.into())
        .map_err(|e| NetError::bind(format!("bind udp {addr}"), addr, false, e))?;
    UdpSocket::from_std(socket.into()).map_err(fail)
}

/// A UDP socket on an ephemeral port of `peer`'s family, connected to `peer` so that the
/// kernel drops datagrams from anyone else and reports ICMP "port unreachable" as
/// `ECONNREFUSED` on the next call.
pub fn udp_connect(peer: SocketAddr, opts: UdpOptions) -> Result<UdpSocket, NetError> {
    let socket = udp_unconnected(peer, opts)?;
    SockRef::from(&socket)
        .connect(&peer.into())
        .map_err(|e| NetError::new(format!("connect udp {peer}"), e))?;
    Ok(socket)
}

/// A UDP socket on an ephemeral port of `peer`'s family, not connected: it may send to
/// any address and hears whoever answers (replies to a broadcast come from unicast
/// addresses, which a connected socket would drop).
pub fn udp_unconnected(peer: SocketAddr, opts: UdpOptions) -> Result<UdpSocket, NetError> {
    let local: SocketAddr = match peer {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let fail = |e| NetError::new(format!("open udp socket for {peer}"), e);
    let socket = new_udp(local, opts).map_err(fail)?;
    socket.bind(&local.into()).map_err(fail)?;
    UdpSocket::from_std(socket.into()).map_err(fail)
}

fn new_udp(addr: SocketAddr, opts: UdpOptions) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if opts.shared {
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
    }
    if opts.broadcast {
        socket.set_broadcast(true)?;
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// Asks for a receive buffer of `size` bytes; returns a warning when the kernel gave
/// less (it caps the request at `net.core.rmem_max`, then doubles it for bookkeeping).
pub fn set_recv_buffer(socket: &UdpSocket, size: u64) -> Result<Option<String>, NetError> {
    let s = SockRef::from(socket);
    let want = usize::try_from(size)
        .unwrap_or(usize::MAX)
        .min(i32::MAX as usize / 2);
    s.set_recv_buffer_size(want)
        .map_err(|e| NetError::new("SO_RCVBUF", e))?;
    let got = s
        .recv_buffer_size()
        .map_err(|e| NetError::new("SO_RCVBUF", e))?;
    Ok((got < want).then(|| {
        format!("SO_RCVBUF is {got} bytes, not {want}: the kernel caps it at net.core.rmem_max")
    }))
}

/// One datagram as received: `len` bytes are in the buffer, `size` is its real length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub peer: SocketAddr,
    /// Bytes placed in the buffer (at most its length).
    pub len: usize,
    /// The datagram's length on the wire; larger than `len` when it was truncated.
    pub size: usize,
    /// With `count_kernel_drops`: how many datagrams the kernel had dropped on this
    /// socket (its receive queue full) when this one was queued; a 32-bit counter that
    /// wraps. `None` until the first drop.
    pub kernel_drops: Option<u32>,
}

// The asm-generic values (x86, arm, riscv, …); libc 0.2 exports neither for glibc.
const SO_RXQ_OVFL: libc::c_int = 40;
const SO_MEMINFO: libc::c_int = 55;

/// Asks the kernel to attach its count of dropped datagrams to each one received
/// (`SO_RXQ_OVFL`), so that `recv` can report what a full receive queue lost.
pub fn count_kernel_drops(socket: &UdpSocket) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor, and a pointer to an int with its true size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_RXQ_OVFL,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The socket's drop counter as it is now (`SO_MEMINFO`), including drops after the
/// last datagram received, which no control message has reported yet.
pub fn kernel_drops_now(socket: &UdpSocket) -> io::Result<u32> {
    let mut info = [0u32; libc::SK_MEMINFO_DROPS as usize + 1];
    let mut len = std::mem::size_of_val(&info) as libc::socklen_t;
    // SAFETY: a valid socket descriptor; `info` is writable for `len` bytes, and the
    // kernel writes at most `len` (fewer fields on older kernels, which `len` says).
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_MEMINFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    if (len as usize) < std::mem::size_of_val(&info) {
        return Err(io::Error::other("SO_MEMINFO without a drop count"));
    }
    Ok(info[libc::SK_MEMINFO_DROPS as usize])
}

impl Received {
    pub fn truncated(&self) -> bool {
        self.size > self.len
    }
}

/// Receives one datagram into `buf`. With `MSG_TRUNC` (rustix's `RecvFlags::TRUNC`)
/// Linux returns the datagram's real length even when only `buf.len()` bytes fit, so truncation is reported instead of
/// silently cutting the message as `recvfrom(1024)` does.
pub async fn recv(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<Received> {
    // ERROR too: an ICMP "port unreachable" wakes the socket with EPOLLERR alone, and
    // only the recv that follows reports it (as ECONNREFUSED).
    socket
        .async_io(Interest::READABLE.add(Interest::ERROR), || {
            recv_now(socket, buf)
        })
        .await
}

/// Like `recv`, but only what is already queued: `WouldBlock` when nothing is.
pub fn try_recv(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<Received> {
    socket.try_io(Interest::READABLE, || recv_now(socket, buf))
}

fn recv_now(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<Received> {
    // Room for a few control messages; zeroed, so that the bytes after the last message
    // the kernel writes read as a header of length 0, which ends the walk.
    let mut control = Control([MaybeUninit::new(0); CONTROL_LEN]);
    let got = rustix::net::recvmsg(
        socket,
        &mut [IoSliceMut::new(buf)],
        &mut RecvAncillaryBuffer::new(&mut control.0),
        RecvFlags::TRUNC,
    )?;
    // SAFETY: every byte of `control` was initialised (zeroed) above, and the kernel
    // writes only initialised bytes into it.
    let control: [u8; CONTROL_LEN] = control.0.map(|b| unsafe { b.assume_init() });
    let peer = got
        .address
        .and_then(|a| SocketAddr::try_from(a).ok())
        .ok_or_else(|| io::Error::other("datagram from a non-IP address"))?;
    Ok(Received {
        peer,
        len: got.bytes.min(buf.len()),
        size: got.bytes,
        kernel_drops: rxq_ovfl(&control),
    })
}

const CONTROL_LEN: usize = 64;

/// The control-message area, aligned as `cmsghdr` is (rustix would otherwise skip
/// bytes to align it, and the walk below would start at the wrong place).
#[repr(C, align(8))]
struct Control([MaybeUninit<u8>; CONTROL_LEN]);

/// The drop counter of an `SO_RXQ_OVFL` control message among those in `control`.
/// By hand: rustix parses only `SCM_RIGHTS` and `SCM_CREDENTIALS`, socket2 none. Each
/// message is a `cmsghdr` (`cmsg_len: usize`, `cmsg_level: c_int`, `cmsg_type: c_int`)
/// then its data, the next one aligned to a `usize`; read as bytes, so no `unsafe`.
fn rxq_ovfl(control: &[u8]) -> Option<u32> {
    const WORD: usize = std::mem::size_of::<usize>();
    const INT: usize = std::mem::size_of::<libc::c_int>();
    const HEADER: usize = WORD + 2 * INT;
    let int = |b: &[u8]| libc::c_int::from_ne_bytes(b[..INT].try_into().unwrap());
    let mut at = 0;
    let mut drops = None;
    while let Some(header) = control.get(at..at + HEADER) {
        let len = usize::from_ne_bytes(header[..WORD].try_into().unwrap());
        if len < HEADER || at + len > control.len() {
            break;
        }
        let (level, kind) = (int(&header[WORD..]), int(&header[WORD + INT..]));
        if level == libc::SOL_SOCKET && kind == SO_RXQ_OVFL && len >= HEADER + 4 {
            let data = &control[at + HEADER..at + HEADER + 4];
            drops = Some(u32::from_ne_bytes(data.try_into().unwrap()));
        }
        at += len.div_ceil(WORD) * WORD;
    }
    drops
}

/// The IPv4 address of the interface named `name`, for multicast membership and
/// `IP_MULTICAST_IF`.
pub fn interface_v4(name: &str) -> io::Result<Ipv4Addr> {
    if_addrs::get_if_addrs()?
        .into_iter()
        .find_map(|i| match i.addr {
            if_addrs::IfAddr::V4(v4) if i.name == name => Some(v4.ip),
            _ => None,
        })
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no interface named {name} with an IPv4 address"),
            )
        })
}

/// The IPv4 address of every up, non-loopback interface.
pub fn up_interfaces_v4() -> io::Result<Vec<(String, if_addrs::Ifv4Addr)>> {
    Ok(if_addrs::get_if_addrs()?
        .into_iter()
        .filter(|i| i.is_oper_up() && !i.is_loopback())
        .filter_map(|i| match i.addr {
            if_addrs::IfAddr::V4(v4) => Some((i.name, v4)),
            if_addrs::IfAddr::V6(_) => None,
        })
        .collect())
}

/// The directed broadcast address of every up, non-loopback IPv4 interface, at `port`.
pub fn broadcast_addresses(port: u16) -> io::Result<Vec<SocketAddr>> {
    let mut dests: Vec<SocketAddr> = up_interfaces_v4()?
        .into_iter()
        .filter_map(|(_, v4)| directed_broadcast(v4.ip, v4.netmask))
        .map(|b| SocketAddr::from((b, port)))
        .collect();
    dests.sort();
    dests.dedup();
    Ok(dests)
}

/// The directed broadcast address of `ip`'s subnet, computed from the netmask. What the
/// interface reports is not used: an address configured without `brd` (`ip addr add
/// 10.1.2.3/24 dev eth0`) reports none, or its own address, and sending there would
/// only reach this host; where it is right, it equals this. `None` for /31 and /32,
/// which have no broadcast address (RFC 3021).
pub fn directed_broadcast(ip: Ipv4Addr, netmask: Ipv4Addr) -> Option<Ipv4Addr> {
    let mask = u32::from(netmask);
    if mask.leading_ones() >= 31 || mask.count_ones() != mask.leading_ones() {
        return None;
    }
    Some(Ipv4Addr::from(u32::from(ip) | !mask))
}

/// Joins `group` on `iface`, or else on every up interface (returning a warning for each
/// that refused); fails when no interface joined.
pub fn join_v4(
    socket: &UdpSocket,
    group: Ipv4Addr,
    iface: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    if !group.is_multicast() {
        return Err(UsageError(format!(
            "--group {group} is not a multicast address (224.0.0.0 to 239.255.255.255)"
        ))
        .into());
    }
    let s = SockRef::from(socket);
    let what = |on: &str| format!("join {group} on {on}");
    if let Some(name) = iface {
        let ip = interface_v4(name).with_context(|| format!("--iface {name}"))?;
        s.join_multicast_v4(&group, &ip)
            .map_err(|e| NetError::new(what(name), e))?;
        return Ok(Vec::new());
    }
    let mut warnings = Vec::new();
    let mut joined = 0;
    for (name, v4) in up_interfaces_v4().context("list network interfaces")? {
        match s.join_multicast_v4(&group, &v4.ip) {
            Ok(()) => joined += 1,
            Err(e) => warnings.push(format!("{}: {}", what(&name), describe(&e))),
        }
    }
    if joined == 0 {
        // No usable interface listed: let the kernel pick the one its routes lead to.
        s.join_multicast_v4(&group, &Ipv4Addr::UNSPECIFIED)
            .map_err(|e| NetError::new(what("the default interface"), e))?;
    }
    Ok(warnings)
}

#[cfg(test)]
#[path = "dgram_tests.rs"]
mod tests;
