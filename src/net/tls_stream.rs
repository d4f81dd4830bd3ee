//! A server's connection, in clear or in TLS, as one stream type; and the start of a
//! connection on a TLS port: a plain request told apart from a handshake, the
//! ClientHello read first when it is to be shown, then the handshake, bounded in time.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::client_hello::{self, ClientHello, HelloError, Records, MAX_HELLO};
use super::tls::{starts_tls, ServerTls};

/// A stream that first gives back bytes already read from it (the ClientHello, read
/// before the handshake), then reads on.
pub struct Rewind<S> {
    prefix: Vec<u8>,
    at: usize,
    inner: S,
}

impl<S> Rewind<S> {
    pub fn new(prefix: Vec<u8>, inner: S) -> Self {
        Rewind {
            prefix,
            at: 0,
            inner,
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.at < self.prefix.len() {
            let n = (self.prefix.len() - self.at).min(buf.remaining());
            let at = self.at;
            buf.put_slice(&self.prefix[at..at + n]);
            self.at += n;
            if self.at == self.prefix.len() {
                self.prefix = Vec::new();
                self.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A server's side of a connection, in clear or in TLS.
pub enum MaybeTls {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<Rewind<TcpStream>>>),
}

impl MaybeTls {
    /// The TCP socket under it (its options, its queue).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            MaybeTls::Plain(s) => s,
            MaybeTls::Tls(s) => s.get_ref().0.get_ref(),
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, MaybeTls::Tls(_))
    }
}

macro_rules! both {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            MaybeTls::Plain($s) => $e,
            MaybeTls::Tls($s) => $e,
        }
    };
}

impl AsyncRead for MaybeTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        both!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for MaybeTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        both!(self, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        both!(self, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        both!(self, s => Pin::new(s).poll_shutdown(cx))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        both!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTls::Plain(s) => s.is_write_vectored(),
            MaybeTls::Tls(s) => s.is_write_vectored(),
        }
    }
}

/// How a connection to a TLS port began.
pub enum Arrival {
    /// The handshake completed; with the ClientHello when it was asked for.
    Tls(MaybeTls, Option<Box<ClientHello>>),
    /// The client spoke first, and not TLS (a plain HTTP request): nothing was read,
    /// so the caller may answer it in clear.
    Plain(TcpStream),
    /// The handshake failed or took too long: why, said for people.
    Failed(String),
}

/// Starts a connection on a TLS port: tells a plain request from a handshake (from its
/// first byte, left unread), reads the ClientHello first when `hello` is asked, then
/// completes the handshake, all within `limit`.
pub async fn accept(stream: TcpStream, tls: &ServerTls, hello: bool, limit: Duration) -> Arrival {
    match tokio::time::timeout(limit, start(stream, tls, hello)).await {
        Ok(arrival) => arrival,
        Err(_) => Arrival::Failed(format!("no TLS handshake within {limit:?}")),
    }
}

async fn start(mut stream: TcpStream, tls: &ServerTls, hello: bool) -> Arrival {
    let mut first = [0u8; 1];
    match stream.peek(&mut first).await {
        Ok(0) => return Arrival::Failed("closed before the handshake".into()),
        Ok(_) if !starts_tls(first[0]) => return Arrival::Plain(stream),
        Ok(_) => {}
        Err(e) => return Arrival::Failed(crate::net::sock::describe(&e)),
    }
    let (prefix, parsed) = if hello {
        match read_hello(&mut stream).await {
            Ok((wire, h)) => (wire, Some(Box::new(h))),
            Err(why) => return Arrival::Failed(why),
        }
    } else {
        (Vec::new(), None)
    };
    match tls.acceptor.accept(Rewind::new(prefix, stream)).await {
        Ok(s) => Arrival::Tls(MaybeTls::Tls(Box::new(s)), parsed),
        Err(e) => Arrival::Failed(format!("TLS handshake: {}", crate::net::sock::describe(&e))),
    }
}

/// Reads the records that hold the ClientHello (at most `MAX_HELLO` bytes): what was
/// read, to hand on to the handshake, and the ClientHello parsed.
async fn read_hello(stream: &mut TcpStream) -> Result<(Vec<u8>, ClientHello), String> {
    let mut wire = Vec::with_capacity(2048);
    let mut buf = [0u8; 4096];
    loop {
        match client_hello::from_records(&wire) {
            Ok(Records::Hello(body)) => {
                let parsed = ClientHello::parse(&body).map_err(|e| e.to_string())?;
                return Ok((wire, parsed));
            }
            Ok(Records::More) => {}
            Err(
                e @ (HelloError::NotTls
                | HelloError::NotClientHello(_)
                | HelloError::TooLong
                | HelloError::Malformed(_)),
            ) => return Err(e.to_string()),
        }
        let room = (MAX_HELLO - wire.len()).min(buf.len());
        let n = stream
            .read(&mut buf[..room])
            .await
            .map_err(|e| crate::net::sock::describe(&e))?;
        if n == 0 {
            return Err("closed in the middle of its ClientHello".into());
        }
        wire.extend_from_slice(&buf[..n]);
    }
}
