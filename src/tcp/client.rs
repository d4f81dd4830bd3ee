//! `tcp connect`: sends stdin (or `--send`) as framed messages while printing replies
//! as they arrive.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::ctx::Ctx;
use crate::framing::{Frame, FrameCodec, FrameError, Framing};
use crate::net::addr::{Endpoint, LOCAL_HOST};
use crate::net::exchange::exchange;
use crate::net::sock::{self, describe, NetError, SocketInfo};
use crate::net::tls::ClientOptions;
use crate::output::printer::Stream;
use crate::output::{Event, Printer, Reason};

/// Bytes read from stdin at a time in `raw` framing.
const RAW_CHUNK: usize = 64 * 1024;

/// What `tcp connect` is asked to do.
#[derive(Debug, Clone)]
pub struct ConnectConfig {
    pub target: Endpoint,
    pub codec: FrameCodec,
    /// Messages to send instead of reading stdin.
    pub send: Vec<String>,
    /// How long to wait for replies after the last message (`None`: until the server
    /// closes).
    pub wait: Option<Duration>,
    /// The pause between messages.
    pub interval: Option<Duration>,
    /// How long connecting may take.
    pub timeout: Duration,
    /// `--tls`: how the server's certificate is checked.
    pub tls: Option<ClientOptions>,
}

/// `sockit tcp connect`.
pub async fn connect(args: ConnectConfig, ctx: Ctx) -> anyhow::Result<()> {
    let addrs = args
        .target
        .resolve(LOCAL_HOST)
        .await
        .map_err(|e| anyhow::anyhow!("resolve {}: {}", args.target, describe(&e)))?;
    let stream = sock::tcp_connect(&addrs, args.timeout).await?;
    let peer = stream.peer_addr().context("getpeername")?;
    if ctx.verbose {
        ctx.out.emit(&Event::Socket(SocketInfo::of(&stream)));
    }
    ctx.out.emit(&Event::Connected {
        peer,
        local: stream.local_addr().context("getsockname")?,
    });

    let codec = args.codec.clone();
    let Some(options) = &args.tls else {
        let (rd, wr) = stream.into_split();
        let receiving = receive(FramedRead::new(rd, codec.clone()), peer, ctx.out.clone());
        let sending = send(FramedWrite::new(wr, codec), &args, peer);
        return exchange(sending, receiving, args.wait, &ctx.shutdown).await;
    };
    let host = args.target.host_or(LOCAL_HOST).to_owned();
    let tls = crate::net::tls::client(options, &host, crate::net::tls::NO_ALPN)?;
    let stream = tokio::time::timeout(args.timeout, tls.connector.connect(tls.server_name, stream))
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "TLS handshake with {peer}: no answer within {:?}",
                args.timeout
            )
        })?
        .map_err(|e| {
            anyhow::anyhow!(
                "TLS handshake with {peer}: {}",
                crate::net::tls::handshake_error(&e)
            )
        })?;
    ctx.out
        .emit(&session(peer, stream.get_ref().1, options.insecure));
    let (rd, wr) = tokio::io::split(stream);
    let receiving = receive(FramedRead::new(rd, codec.clone()), peer, ctx.out.clone());
    let sending = send(FramedWrite::new(wr, codec), &args, peer);
    exchange(sending, receiving, args.wait, &ctx.shutdown).await
}

/// The `tls` event of a client's session: what was agreed, and the server's
/// certificate's fingerprint.
fn session(peer: SocketAddr, c: &rustls::ClientConnection, insecure: bool) -> Event {
    Event::Tls {
        peer,
        version: c
            .protocol_version()
            .map_or_else(String::new, |v| format!("{v:?}")),
        cipher: c
            .negotiated_cipher_suite()
            .map_or_else(String::new, |s| format!("{:?}", s.suite())),
        alpn: c
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        fingerprint: c
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map_or_else(String::new, |cert| crate::net::tls::fingerprint(cert)),
        verified: !insecure,
    }
}

/// Prints every message from the server until it closes the connection.
async fn receive<R: AsyncRead + Unpin>(
    mut reader: FramedRead<R, FrameCodec>,
    peer: SocketAddr,
    out: Printer,
) -> anyhow::Result<()> {
    let stream = Stream::default();
    let mut watch = super::DelimiterWatch::new(reader.decoder());
    let mut ticker = super::watch_ticker(&watch);
    loop {
        let frame = tokio::select! {
            frame = reader.next() => frame,
            _ = super::watch_tick(&mut ticker, &watch) => {
                let held = reader.read_buffer().len();
                let now = tokio::time::Instant::now();
                if let Some(message) = watch.as_mut().and_then(|w| w.check(held, now)) {
                    out.emit(&Event::Hint { peer, message });
                }
                continue;
            }
        };
        match frame {
            Some(Ok(Frame::Message(msg))) => {
                if let Some(w) = watch.as_mut() {
                    w.delimited();
                }
                let wire = reader.decoder().last_wire();
                out.emit_paced(&stream, &Event::message(peer, msg).on_wire(wire))
                    .await;
            }
            Some(Ok(Frame::TooLong { max })) => out.emit(&Event::Oversized { peer, max }),
            None => {
                out.emit(&Event::Disconnect {
                    peer,
                    reason: Reason::Closed,
                    detail: None,
                });
                return Ok(());
            }
            Some(Err(FrameError::Io(e))) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                out.emit(&Event::Disconnect {
                    peer,
                    reason: Reason::Closed,
                    detail: Some(super::WITHOUT_CLOSE_NOTIFY.into()),
                });
                return Ok(());
            }
            Some(Err(FrameError::Io(e))) => {
                return Err(NetError::new(format!("receive from {peer}"), e).into())
            }
            Some(Err(e)) => return Err(anyhow::anyhow!("receive from {peer}: {e}")),
        }
    }
}

/// Sends every message, then shuts our write side (half-close) so the server sees EOF.
async fn send<W: AsyncWrite + Unpin>(
    mut writer: FramedWrite<W, FrameCodec>,
    args: &ConnectConfig,
    peer: SocketAddr,
) -> anyhow::Result<()> {
    let fail = |e: FrameError| match e {
        FrameError::Io(io) => anyhow::Error::from(NetError::new(format!("send to {peer}"), io)),
        other => anyhow::anyhow!("send to {peer}: {other}"),
    };
    if !args.send.is_empty() {
        for (i, msg) in args.send.iter().enumerate() {
            pace(i, args.interval).await;
            writer.send(msg.as_bytes()).await.map_err(fail)?;
        }
    } else if args.codec.framing() == Framing::Raw && args.interval.is_none() {
        copy_raw(tokio::io::stdin(), &mut writer)
            .await
            .map_err(|e| fail(e.into()))?;
    } else {
        let mut lines = BufReader::new(tokio::io::stdin());
        let mut line = Vec::new();
        for i in 0.. {
            line.clear();
            if lines
                .read_until(b'\n', &mut line)
                .await
                .context("read stdin")?
                == 0
            {
                break;
            }
            pace(i, args.interval).await;
            if args.codec.framing() != Framing::Raw {
                strip_newline(&mut line);
            }
            writer.send(&line[..]).await.map_err(fail)?;
        }
    }
    // `send` flushes every message, so nothing is buffered in `writer` now.
    writer
        .get_mut()
        .shutdown()
        .await
        .map_err(|e| NetError::new(format!("shut down sending to {peer}"), e))?;
    Ok(())
}

/// Streams stdin's bytes unchanged, as `nc` does: binary safe, no framing added.
async fn copy_raw<W: AsyncWrite + Unpin>(
    mut input: impl AsyncRead + Unpin,
    writer: &mut FramedWrite<W, FrameCodec>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; RAW_CHUNK];
    loop {
        let n = input.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        writer.get_mut().write_all(&buf[..n]).await?;
    }
}

async fn pace(index: usize, interval: Option<Duration>) {
    if let (true, Some(d)) = (index > 0, interval) {
        tokio::time::sleep(d).await;
    }
}

fn strip_newline(line: &mut Vec<u8>) {
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
}
