//! Socket construction through `socket2` (listeners, clients, options), and reading a
//! socket's attributes into an `output::SocketInfo`.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::net::{TcpListener, TcpStream};

pub use crate::output::{OptValue, Options, SocketInfo};

/// A failed socket operation: what was being done, and the OS's reason.
///
/// Shown as `connect to 127.0.0.1:9: connection refused`; callers branch on `kind()`.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {}{}", describe(.io), .hint.as_deref().map(|h| format!("; {h}")).unwrap_or_default())]
pub struct NetError {
    pub what: String,
    pub io: io::Error,
    /// What the person can do about it, when sockit can tell.
    pub hint: Option<String>,
}

impl NetError {
    pub fn new(what: impl Into<String>, io: io::Error) -> Self {
        NetError {
            what: what.into(),
            io,
            hint: None,
        }
    }

    /// A failed bind of `addr` (TCP or UDP), with a hint for the two failures people
    /// meet: a port in use, and a port below 1024 without the privilege.
    pub fn bind(what: impl Into<String>, addr: SocketAddr, tcp: bool, io: io::Error) -> Self {
        let hint = match io.kind() {
            io::ErrorKind::AddrInUse => Some(in_use_hint(addr.port(), tcp)),
            io::ErrorKind::PermissionDenied if addr.port() < 1024 => Some(format!(
                "ports below 1024 are reserved for root (or CAP_NET_BIND_SERVICE); pick a port \
                 from 1024 up, such as {}, or run with that privilege",
                8000 + addr.port()
            )),
            _ => None,
        };
        NetError {
            hint,
            ..NetError::new(what, io)
        }
    }

    pub fn kind(&self) -> io::ErrorKind {
        self.io.kind()
    }
}

/// The OS's reason in the words people expect: `address already in use`, without
/// Rust's `(os error 98)` suffix.
pub fn describe(e: &io::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" (os error ") {
        Some(i) if e.raw_os_error().is_some() => &text[..i],
        _ => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Who holds a port, as /proc/net/{tcp,tcp6,udp,udp6} tell: whether a listener (or, for
/// UDP, any socket) is bound to it, and how many TCP connections on it sit in TIME_WAIT.
fn port_holders(port: u16, tcp: bool) -> (bool, usize) {
    let files: &[&str] = if tcp {
        &["/proc/net/tcp", "/proc/net/tcp6"]
    } else {
        &["/proc/net/udp", "/proc/net/udp6"]
    };
    let (mut bound, mut time_wait) = (false, 0);
    for file in files {
        let Ok(table) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in table.lines().skip(1) {
            let mut fields = line.split_whitespace();
            let (Some(local), Some(_remote), Some(state)) =
                (fields.nth(1), fields.next(), fields.next())
            else {
                continue;
            };
            let on_port = local
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
                == Some(port);
            match state {
                _ if !on_port => {}
                "0A" if tcp => bound = true,   // TCP_LISTEN
                "06" if tcp => time_wait += 1, // TCP_TIME_WAIT
                _ if !tcp => bound = true,
                _ => {}
            }
        }
    }
    (bound, time_wait)
}

/// Why a port is in use, in the words of the notes' lesson on SO_REUSEADDR.
fn in_use_hint(port: u16, tcp: bool) -> String {
    let (bound, time_wait) = port_holders(port, tcp);
    let (proto, ss) = if tcp {
        ("TCP", "-ltnp")
    } else {
        ("UDP", "-lunp")
    };
    let who = if bound {
        format!(
            "another program listens on {proto} port {port} (`ss {ss} 'sport = :{port}'` names it)"
        )
    } else if time_wait > 0 {
        format!("{time_wait} recent connection(s) on port {port} wait in TIME_WAIT")
    } else {
        format!("another socket holds {proto} port {port}")
    };
    if tcp {
        format!(
            "{who}; sockit sets SO_REUSEADDR, which lets a server bind past connections left \
             in TIME_WAIT (the notes' lesson 七), but not past a listener: stop it or pick \
             another port"
        )
    } else {
        format!("{who}: stop it or pick another port")
    }
}

/// An error and its causes as the one line `main` prints (`a: b: c`): OS errors in
/// `describe`'s words, no `(os error N)` tails, and no part said twice in a row
/// (`connection reset by peer: Connection reset by peer`).
pub fn error_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = match cause.downcast_ref::<io::Error>() {
            Some(io) => describe(io),
            None => cause.to_string(),
        };
        for part in strip_os_error(&text).split(": ") {
            let repeated = parts
                .last()
                .is_some_and(|last| last.to_lowercase() == part.to_lowercase());
            if !repeated {
                parts.push(part.to_owned());
            }
        }
    }
    parts.join(": ")
}

/// `text` without Rust's ` (os error 104)` tails, wherever they are.
fn strip_os_error(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(" (os error ") {
        let tail = &rest[i + " (os error ".len()..];
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && tail[digits..].starts_with(')') {
            out.push_str(&rest[..i]);
            rest = &tail[digits + 1..];
        } else {
            out.push_str(&rest[..i + 1]);
            rest = &rest[i + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// How many connections may wait for `accept` (the kernel caps it at somaxconn).
const LISTEN_BACKLOG: i32 = 4096;

/// A TCP listener bound to `addr`.
pub fn tcp_listener(addr: SocketAddr) -> Result<TcpListener, NetError> {
    let fail = |e| NetError::new(format!("bind {addr}"), e);
    let socket =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(fail)?;
    let fail = |e| NetError::bind(format!("bind {addr}"), addr, true, e);
    // A server restarted right after it stops must bind again at once, although its old
    // connections still sit in TIME_WAIT on this port.
    socket.set_reuse_address(true).map_err(fail)?;
    dual_stack_if_asked(&socket, addr).map_err(fail)?;
    socket.set_nonblocking(true).map_err(fail)?;
    socket.bind(&addr.into()).map_err(fail)?;
    socket.listen(LISTEN_BACKLOG).map_err(fail)?;
    TcpListener::from_std(socket.into()).map_err(fail)
}

/// `[::]` asks for every address, IPv4 ones included; Linux may default to v6-only.
fn dual_stack_if_asked(socket: &Socket, addr: SocketAddr) -> io::Result<()> {
    match addr {
        SocketAddr::V6(v6) if v6.ip().is_unspecified() => socket.set_only_v6(false),
        _ => Ok(()),
    }
}

/// Connects to the first of `addrs` that answers, within `timeout` each, and turns
/// Nagle's algorithm off: a message exchange must not wait for the peer's delayed ACK.
pub async fn tcp_connect(addrs: &[SocketAddr], timeout: Duration) -> Result<TcpStream, NetError> {
    let mut last = None;
    for &addr in addrs {
        let fail = |e| NetError::new(format!("connect to {addr}"), e);
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                stream.set_nodelay(true).map_err(fail)?;
                return Ok(stream);
            }
            Ok(Err(e)) => last = Some(fail(e)),
            Err(_) => last = Some(fail(io::ErrorKind::TimedOut.into())),
        }
    }
    Err(last.unwrap_or_else(|| NetError::new("connect", io::ErrorKind::NotFound.into())))
}

impl SocketInfo {
    /// Reads the attributes of any socket; options the OS refuses to report are left out.
    pub fn of(socket: &impl AsFd) -> SocketInfo {
        let s = SockRef::from(socket);
        let local = s.local_addr().ok().and_then(|a| a.as_socket());
        let peer = s.peer_addr().ok().and_then(|a| a.as_socket());
        let stream = s.r#type().map(|t| t == Type::STREAM).unwrap_or(false);
        let v6 = matches!(local, Some(SocketAddr::V6(_)));
        let mut opts = Vec::new();
        let mut flag = |name, v: io::Result<bool>| {
            if let Ok(v) = v {
                opts.push((name, OptValue::Flag(v)));
            }
        };
        flag("SO_REUSEADDR", s.reuse_address());
        flag("SO_REUSEPORT", s.reuse_port());
        flag("SO_BROADCAST", s.broadcast());
        flag("SO_KEEPALIVE", s.keepalive());
        if stream {
            flag("TCP_NODELAY", s.nodelay());
        }
        let mut int = |name, v: io::Result<u64>| {
            if let Ok(v) = v {
                opts.push((name, OptValue::Int(v)));
            }
        };
        int("SO_RCVBUF", s.recv_buffer_size().map(|n| n as u64));
        int("SO_SNDBUF", s.send_buffer_size().map(|n| n as u64));
        if v6 {
            int("IPV6_UNICAST_HOPS", s.unicast_hops_v6().map(u64::from));
        } else {
            int("IP_TTL", s.ttl().map(u64::from));
        }
        if stream && peer.is_some() {
            if let Some((rtt_us, cwnd)) = tcp_rtt_cwnd(socket) {
                int("TCP_INFO.rtt_us", Ok(rtt_us.into()));
                int("TCP_INFO.snd_cwnd", Ok(cwnd.into()));
            }
        }
        SocketInfo {
            family: if v6 { "AF_INET6" } else { "AF_INET" },
            kind: if stream { "SOCK_STREAM" } else { "SOCK_DGRAM" },
            fd: socket.as_fd().as_raw_fd(),
            local,
            peer,
            options: Options(opts),
        }
    }
}

/// The kernel's smoothed RTT (µs) and congestion window (segments) of a TCP socket.
fn tcp_rtt_cwnd(socket: &impl AsFd) -> Option<(u32, u32)> {
    super::tcp_info::read(socket).map(|i| (i.rtt_us, i.snd_cwnd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_drops_the_os_error_suffix() {
        let e = io::Error::from_raw_os_error(libc::EADDRINUSE);
        assert_eq!(describe(&e), "address already in use");
        let e = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(describe(&e), "connection refused");
    }

    #[test]
    fn issue12_error_lines_say_things_once_without_os_error_tails() {
        let io = io::Error::from_raw_os_error(libc::ECONNRESET);
        let e = anyhow::Error::from(io).context("connection reset by peer");
        assert_eq!(error_line(&e), "connection reset by peer");
        let e = anyhow::anyhow!("getpeername: Transport endpoint is not connected (os error 107)")
            .context("connect");
        assert_eq!(
            error_line(&e),
            "connect: getpeername: Transport endpoint is not connected"
        );
        let e = anyhow::Error::from(NetError::new(
            "bind 1.2.3.4:5",
            io::Error::from_raw_os_error(libc::EADDRNOTAVAIL),
        ));
        assert_eq!(
            error_line(&e),
            "bind 1.2.3.4:5: cannot assign requested address"
        );
    }

    #[test]
    fn issue12_a_port_in_use_names_its_listener_and_so_reuseaddr() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let (bound, _) = port_holders(port, true);
        assert!(bound, "the listener shows in /proc/net/tcp");
        let hint = in_use_hint(port, true);
        assert!(
            hint.contains(&format!("listens on TCP port {port}")) && hint.contains("SO_REUSEADDR"),
            "{hint}"
        );
        let e = NetError::bind(
            "bind",
            "0.0.0.0:80".parse().unwrap(),
            true,
            io::Error::from_raw_os_error(libc::EACCES),
        );
        assert!(
            e.to_string()
                .contains("permission denied; ports below 1024"),
            "{e}"
        );
        let e = NetError::bind(
            "bind",
            "0.0.0.0:8080".parse().unwrap(),
            true,
            io::Error::from_raw_os_error(libc::EACCES),
        );
        assert_eq!(e.to_string(), "bind: permission denied");
    }

    #[tokio::test]
    async fn listener_reports_reuseaddr_and_a_second_bind_fails_clearly() {
        let l = tcp_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let info = SocketInfo::of(&l);
        assert_eq!(info.option("SO_REUSEADDR"), Some(&OptValue::Flag(true)));
        assert_eq!(info.kind, "SOCK_STREAM");
        assert_eq!(info.family, "AF_INET");
        let err = tcp_listener(l.local_addr().unwrap()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        assert!(
            err.to_string()
                .contains(": address already in use; another program listens"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn connected_socket_shows_peer_nodelay_and_rtt() {
        let l = tcp_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = l.local_addr().unwrap();
        let c = tcp_connect(&[addr], Duration::from_secs(5)).await.unwrap();
        let info = SocketInfo::of(&c);
        assert_eq!(info.peer, Some(addr));
        assert_eq!(info.option("TCP_NODELAY"), Some(&OptValue::Flag(true)));
        assert!(info.option("TCP_INFO.rtt_us").is_some());
        let json = serde_json::to_value(&info).unwrap();
        assert_eq!(json["options"]["TCP_NODELAY"], true);
        assert_eq!(json["type"], "SOCK_STREAM");
    }
}
