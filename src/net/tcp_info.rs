//! `TCP_INFO`: what the kernel knows of one TCP connection (RTT, congestion window,
//! retransmits), read with `getsockopt` because neither socket2 nor rustix expose it.

use std::os::fd::{AsFd, AsRawFd};

/// The fields sockit shows, from the kernel's `struct tcp_info`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpInfo {
    /// Smoothed round-trip time and its variation, µs.
    pub rtt_us: u32,
    pub rttvar_us: u32,
    /// The receiver's estimate of the RTT (µs), from the data it receives; 0 until known.
    pub rcv_rtt_us: u32,
    /// Congestion window, in segments of `snd_mss` bytes.
    pub snd_cwnd: u32,
    pub snd_mss: u32,
    /// The peer's advertised receive window, bytes (0 on kernels before 6.2).
    pub snd_wnd: u32,
    /// Segments retransmitted over the connection's life.
    pub total_retrans: u32,
    pub pmtu: u32,
}

impl TcpInfo {
    /// The congestion window in bytes.
    pub fn cwnd_bytes(&self) -> u64 {
        u64::from(self.snd_cwnd) * u64::from(self.snd_mss)
    }
}

/// Reads `TCP_INFO` of a TCP socket; `None` when the socket has none (not TCP, closed).
pub fn read(socket: &impl AsFd) -> Option<TcpInfo> {
    // SAFETY: tcp_info is plain integers, for which all zeroes is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    let mut len = size;
    // SAFETY: `info` is a writable tcp_info and `len` its size; the kernel writes at most
    // `len` bytes and reports how many it wrote.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_fd().as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return None;
    }
    // An older kernel writes a shorter struct: what it left out stays zero.
    Some(TcpInfo {
        rtt_us: info.tcpi_rtt,
        rttvar_us: info.tcpi_rttvar,
        rcv_rtt_us: info.tcpi_rcv_rtt,
        snd_cwnd: info.tcpi_snd_cwnd,
        snd_mss: info.tcpi_snd_mss,
        snd_wnd: info.tcpi_snd_wnd,
        total_retrans: info.tcpi_total_retrans,
        pmtu: info.tcpi_pmtu,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connected_socket_has_an_mss_and_a_window() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let info = read(&c).expect("TCP_INFO");
        assert!(info.snd_mss > 0 && info.snd_cwnd > 0, "{info:?}");
        assert!(info.cwnd_bytes() >= u64::from(info.snd_mss));
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(read(&udp), None);
    }
}
