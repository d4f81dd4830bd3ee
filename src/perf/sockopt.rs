//! The options of data sockets (section 4.2): each side applies them to its own sockets,
//! the client from its flags and the server from the parameters, and reads back what
//! the kernel really gave.

use std::io;
use std::os::fd::AsFd;

use rustix::net::sockopt;

use super::i_errno;

/// What a test asks of its data sockets.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DataOptions {
    /// SO_SNDBUF and SO_RCVBUF (`--window`), bytes.
    pub window: Option<u64>,
    pub nodelay: bool,
    /// TCP_MAXSEG.
    pub mss: Option<u32>,
    /// TCP_CONGESTION.
    pub congestion: Option<String>,
    /// IP_TOS / IPV6_TCLASS.
    pub tos: Option<u32>,
}

/// The receive buffer a UDP receiver asks for when no `--window` is given: bursts then
/// wait in the kernel instead of being dropped. Linux caps it at
/// `net.core.rmem_max` unless the process may exceed it (root: SO_RCVBUFFORCE).
pub const UDP_RCVBUF: usize = 4 << 20;

/// An option the kernel refused, with iperf3's number for it (for SERVER_ERROR).
#[derive(Debug)]
pub struct Refused {
    pub i_errno: i32,
    pub what: String,
    pub io: io::Error,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.what, crate::net::sock::describe(&self.io))
    }
}

impl std::error::Error for Refused {}

fn refused(i_errno: i32, what: impl Into<String>) -> impl FnOnce(rustix::io::Errno) -> Refused {
    let what = what.into();
    move |e| Refused {
        i_errno,
        what,
        io: e.into(),
    }
}

/// Applies what must be set before `connect` (buffers, so the window scale is
/// negotiated for them; the MSS) and the rest.
pub fn apply(sock: impl AsFd, o: &DataOptions, tcp: bool) -> Result<(), Refused> {
    let fd = sock.as_fd();
    if let Some(w) = o.window {
        let w = usize::try_from(w).unwrap_or(usize::MAX);
        sockopt::set_socket_send_buffer_size(fd, w)
            .map_err(refused(i_errno::IESETBUF, "SO_SNDBUF"))?;
        sockopt::set_socket_recv_buffer_size(fd, w)
            .map_err(refused(i_errno::IESETBUF, "SO_RCVBUF"))?;
    }
    if let Some(tos) = o.tos {
        let v6 = matches!(
            rustix::net::getsockname(fd),
            Ok(a) if a.address_family() == rustix::net::AddressFamily::INET6
        );
        if v6 {
            sockopt::set_ipv6_tclass(fd, tos).map_err(refused(i_errno::IESETTOS, "IPV6_TCLASS"))?;
        } else {
            sockopt::set_ip_tos(fd, tos as u8).map_err(refused(i_errno::IESETTOS, "IP_TOS"))?;
        }
    }
    if !tcp {
        return Ok(());
    }
    if o.nodelay {
        sockopt::set_tcp_nodelay(fd, true)
            .map_err(refused(i_errno::IESETNODELAY, "TCP_NODELAY"))?;
    }
    if let Some(mss) = o.mss {
        socket2::SockRef::from(&fd)
            .set_mss(mss)
            .map_err(|io| Refused {
                i_errno: i_errno::IESETMSS,
                what: "TCP_MAXSEG".into(),
                io,
            })?;
    }
    if let Some(cc) = &o.congestion {
        sockopt::set_tcp_congestion(fd, cc).map_err(refused(
            i_errno::IESETCONGESTION,
            format!(
                "TCP_CONGESTION {cc:?} (see /proc/sys/net/ipv4/tcp_available_congestion_control)"
            ),
        ))?;
    }
    Ok(())
}

/// A UDP receiver's buffer without `--window`: `UDP_RCVBUF`, forced past the system's
/// cap where this process may, else as much as the cap allows. Best effort.
pub fn widen_udp_receive(sock: impl AsFd) {
    let fd = sock.as_fd();
    if sockopt::set_socket_recv_buffer_size_force(fd, UDP_RCVBUF).is_err() {
        let _ = sockopt::set_socket_recv_buffer_size(fd, UDP_RCVBUF);
    }
}

/// The largest window TCP advertises when nobody clamps it (65535 << 14), what a
/// listener's TCP_WINDOW_CLAMP is set back to.
pub const DEFAULT_WINDOW_CLAMP: u32 = (u16::MAX as u32) << 14;

/// Sets what connections a listener accepts from now on inherit from it: the largest
/// window they advertise, from their very first segment on (TCP_WINDOW_CLAMP), and
/// their MSS (TCP_MAXSEG; 0 is the route's). A receive buffer shrunk only after the
/// handshake comes too late: the larger window the handshake announced lets in more
/// than the buffer holds, and the flow collapses (seen: 0.5 Mbit/s instead of 4 Gbit/s
/// for `-w 4K`). iperf3 re-creates its listener with the buffers set instead, which a
/// server running several tests at once cannot do.
pub fn shape_listener(listener: impl AsFd, window_clamp: u32, mss: u32) -> io::Result<()> {
    let fd = listener.as_fd();
    let clamp = libc::c_int::try_from(window_clamp).unwrap_or(libc::c_int::MAX);
    // SAFETY: `fd` is an open socket; the option value is a c_int whose size is passed.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            libc::IPPROTO_TCP,
            libc::TCP_WINDOW_CLAMP,
            (&clamp as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    socket2::SockRef::from(&fd).set_mss(mss)
}

/// SO_SNDBUF and SO_RCVBUF as the kernel set them (Linux doubles what is asked, for its
/// own bookkeeping).
pub fn buffers(sock: impl AsFd) -> (u64, u64) {
    let fd = sock.as_fd();
    (
        sockopt::socket_send_buffer_size(fd).unwrap_or(0) as u64,
        sockopt::socket_recv_buffer_size(fd).unwrap_or(0) as u64,
    )
}

/// The congestion control of a TCP socket.
pub fn congestion(sock: impl AsFd) -> Option<String> {
    sockopt::tcp_congestion(sock.as_fd()).ok()
}

/// The MSS of a TCP socket.
pub fn mss(sock: impl AsFd) -> Option<u32> {
    socket2::SockRef::from(&sock.as_fd()).mss().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_is_applied_and_read_back_as_the_kernel_set_it() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let o = DataOptions {
            window: Some(64 * 1024),
            ..DataOptions::default()
        };
        apply(&s, &o, false).unwrap();
        let (snd, rcv) = buffers(&s);
        assert_eq!((snd, rcv), (128 * 1024, 128 * 1024), "Linux doubles");
    }

    #[test]
    fn an_unknown_congestion_control_is_refused_with_its_number() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let o = DataOptions {
            congestion: Some("no-such-algorithm".into()),
            ..DataOptions::default()
        };
        let e = apply(&l, &o, true).unwrap_err();
        assert_eq!(e.i_errno, i_errno::IESETCONGESTION);
        assert!(e.to_string().contains("no-such-algorithm"), "{e}");
        assert!(congestion(&l).is_some());
    }
}
