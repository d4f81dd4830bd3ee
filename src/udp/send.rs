//! `udp send`: the words given (or each stdin line) as datagrams, printing replies until
//! `--wait` has passed after the last one.

use std::io;
use std::net::SocketAddr;

use anyhow::Context as _;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::UdpSocket;

use crate::ctx::Ctx;
use crate::net::addr::{Endpoint, LOCAL_HOST};
use crate::net::dgram::{self, UdpOptions};
use crate::net::exchange::exchange;
use crate::net::sock::{describe, NetError, SocketInfo};
use crate::output::{Event, Printer};

/// What `udp send` is asked to do.
#[derive(Debug, Clone)]
pub struct SendConfig {
    pub target: Endpoint,
    /// The words of one datagram; none: each stdin line is one.
    pub message: Vec<String>,
    /// How long replies are printed after the last datagram.
    pub wait: std::time::Duration,
    /// Whether a broadcast destination is allowed (SO_BROADCAST).
    pub broadcast: bool,
}

/// `sockit udp send`.
pub async fn send(args: SendConfig, ctx: Ctx) -> anyhow::Result<()> {
    let addrs = args
        .target
        .resolve(LOCAL_HOST)
        .await
        .map_err(|e| anyhow::anyhow!("resolve {}: {}", args.target, describe(&e)))?;
    let peer = addrs[0];
    let limit = dgram::max_payload(peer);
    // The notes' sys.argv sender: the shell splits the words, one datagram carries them.
    let words = (!args.message.is_empty()).then(|| args.message.join(" "));
    if let Some(w) = words.as_ref().filter(|w| w.len() > limit) {
        let what = format!("the message ({} bytes)", w.len());
        return Err(too_big(&what, limit, peer)).with_context(|| format!("send to {peer}"));
    }
    let opts = UdpOptions {
        shared: false,
        broadcast: args.broadcast,
    };
    // A broadcast is answered from unicast addresses, which a connected socket drops.
    let socket = if args.broadcast {
        dgram::udp_unconnected(peer, opts)?
    } else {
        dgram::udp_connect(peer, opts).map_err(|e| match e.kind() {
            io::ErrorKind::PermissionDenied => {
                anyhow::anyhow!("{e} (a broadcast address needs --broadcast)")
            }
            _ => e.into(),
        })?
    };
    if ctx.verbose {
        ctx.out.emit(&Event::Socket(SocketInfo::of(&socket)));
    }

    let receiving = receive(&socket, peer, ctx.out.clone());
    let sending = async {
        match words {
            Some(w) => send_one(&socket, peer, w.as_bytes(), &ctx.out).await,
            None => send_lines(&socket, peer, limit, &ctx.out).await,
        }
    };
    exchange(sending, receiving, Some(args.wait), &ctx.shutdown).await
}

/// The one line shown when the kernel has been told (ICMP port unreachable) that
/// nothing receives at `peer`.
fn refused(peer: SocketAddr) -> anyhow::Error {
    anyhow::anyhow!("no one is listening at {peer} (connection refused)")
}

/// Refuses a message before sending: the kernel would fail with "message too long".
fn too_big(what: &str, limit: usize, peer: SocketAddr) -> anyhow::Error {
    let family = if peer.is_ipv4() { "IPv4" } else { "IPv6" };
    anyhow::anyhow!(
        "{what} is over the maximum UDP payload of {limit} bytes ({family}); it was not sent"
    )
}

async fn send_one(
    socket: &UdpSocket,
    peer: SocketAddr,
    msg: &[u8],
    out: &Printer,
) -> anyhow::Result<()> {
    // Linux lets a connected UDP socket name its own peer, so one call fits both kinds.
    match socket.send_to(msg, peer).await {
        Ok(n) => {
            out.emit(&Event::Sent { to: peer, bytes: n });
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Err(refused(peer)),
        Err(e) => Err(NetError::new(format!("send to {peer}"), e).into()),
    }
}

/// Sends each stdin line (without its line ending) as one datagram.
async fn send_lines(
    socket: &UdpSocket,
    peer: SocketAddr,
    limit: usize,
    out: &Printer,
) -> anyhow::Result<()> {
    let mut input = BufReader::new(tokio::io::stdin());
    let mut line = Vec::new();
    for number in 1.. {
        match read_line(&mut input, limit, &mut line).await {
            Ok(Line::End) => return Ok(()),
            Ok(Line::Read) => send_one(socket, peer, &line, out).await?,
            Ok(Line::TooLong) => {
                let what = format!("stdin line {number}");
                return Err(too_big(&what, limit, peer)).with_context(|| format!("send to {peer}"));
            }
            Err(e) => return Err(e).context("read stdin"),
        }
    }
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum Line {
    Read,
    TooLong,
    End,
}

/// Reads one line into `line` without its `\n` or `\r\n`, holding at most `limit` bytes
/// of it (plus the line ending) in memory.
async fn read_line(
    input: &mut (impl AsyncBufRead + Unpin),
    limit: usize,
    line: &mut Vec<u8>,
) -> io::Result<Line> {
    line.clear();
    let n = (&mut *input)
        .take(limit as u64 + 2)
        .read_until(b'\n', line)
        .await?;
    if n == 0 {
        return Ok(Line::End);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    Ok(if line.len() > limit {
        Line::TooLong
    } else {
        Line::Read
    })
}

/// Prints every reply; ends only with an error.
async fn receive(socket: &UdpSocket, peer: SocketAddr, out: Printer) -> anyhow::Result<()> {
    let mut buf = vec![0u8; super::MAX_BUFFER];
    loop {
        match dgram::recv(socket, &mut buf).await {
            Ok(d) => {
                out.offer(&Event::datagram(d.peer, &buf[..d.len], d.size));
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => return Err(refused(peer)),
            Err(e) => return Err(NetError::new(format!("receive from {peer}"), e).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], limit: usize) -> Vec<(Line, Vec<u8>)> {
        let mut r = input;
        let mut out = Vec::new();
        let mut line = Vec::new();
        loop {
            let l = read_line(&mut r, limit, &mut line).await.unwrap();
            if l == Line::End {
                return out;
            }
            out.push((l, line.clone()));
        }
    }

    #[tokio::test]
    async fn lines_lose_their_endings_and_are_bounded() {
        let got = lines(b"a\r\n\nbcd\nxyz", 3).await;
        assert_eq!(
            got,
            [
                (Line::Read, b"a".to_vec()),
                (Line::Read, b"".to_vec()),
                (Line::Read, b"bcd".to_vec()),
                (Line::Read, b"xyz".to_vec()),
            ]
        );
        let got = lines(b"abcdef\n", 3).await;
        assert_eq!(got[0].0, Line::TooLong);
    }

    #[test]
    fn the_limit_is_named() {
        let peer = "127.0.0.1:9".parse().unwrap();
        let err = too_big("stdin line 2", 65_507, peer).to_string();
        assert_eq!(
            err,
            "stdin line 2 is over the maximum UDP payload of 65507 bytes (IPv4); it was not sent"
        );
    }
}
