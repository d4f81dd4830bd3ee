//! `http dump`: prints every request exactly as its bytes arrived and answers with it:
//! a page showing the raw request to a client that prefers HTML (a browser, see
//! `dump_page`), a JSON echo to everything else.
//!
//! Raw capture on tokio with httparse, by hand: an HTTP library would normalise header
//! case and order and hide the framing, which is what this command is for.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::net::tls_stream::MaybeTls;
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::chunked::ChunkedDecoder;
use super::dump_page;
use super::request::{request_line, BodyKind, Head, HeadError};
use super::slow::{limits, BodyClock, Slot};
use crate::ctx::Ctx;
use crate::net::addr::Endpoint;
use crate::output::{Event, Payload, Printer};

/// How long a client may take to send a complete request head; then 408.
pub use super::slow::HEAD_TIMEOUT;

/// Bytes of each request shown in its `dump` event; the rest is counted, not shown.
pub const SHOWN: usize = 64 * 1024;

/// Raw chunked bytes (sizes, extensions, data) may be at most this many times
/// `--max-body`, so that tiny chunks cannot make the buffer grow without bound.
pub const CHUNK_OVERHEAD: u64 = 2;

/// What `http dump` is asked to do.
#[derive(Debug, Clone)]
pub struct DumpConfig {
    pub bind: Endpoint,
    /// Hex dumps instead of escaped lines.
    pub hex: bool,
    /// The largest (decoded) body accepted; larger ones are answered 413.
    pub max_body: u64,
    /// Serve HTTPS with this certificate.
    pub tls: Option<crate::net::tls::Identity>,
    /// Show each TLS connection's ClientHello.
    pub client_hello: bool,
}

/// `sockit http dump`.
pub async fn dump(config: DumpConfig, ctx: Ctx) -> anyhow::Result<()> {
    let tls = super::listener::tls(config.tls.as_ref())?.map(Arc::new);
    let listener = super::listener::bind(&config.bind, tls.as_deref(), &ctx).await?;
    let config = Arc::new(config);
    super::listener::accept_loop(listener, &ctx, |stream, peer, slot| {
        let (config, tls) = (config.clone(), tls.clone());
        let (out, shutdown) = (ctx.out.clone(), ctx.shutdown.clone());
        async move {
            let hello = config.client_hello;
            let Some((stream, seen)) =
                super::tls::open(stream, tls.as_deref(), hello, peer, &out).await
            else {
                return;
            };
            if let Some(h) = seen {
                out.offer(&Event::ClientHello(Box::new(super::tls::seen(peer, &h))));
            }
            let conn = Connection {
                slot,
                stream,
                peer,
                buf: BytesMut::with_capacity(8192),
                config,
                out,
                shutdown,
                started: None,
            };
            conn.run().await
        }
    })
    .await;
    Ok(())
}

/// A request the server refuses: its status, the reason sent in the body, and its
/// method and target when its head was parsed.
struct Refusal {
    status: u16,
    reason: String,
    line: Option<(String, String)>,
}

impl From<HeadError> for Refusal {
    fn from(e: HeadError) -> Self {
        refuse(e.status(), e.to_string())
    }
}

impl Refusal {
    fn of(mut self, head: &Head) -> Self {
        self.line = Some((head.method.clone(), head.target.clone()));
        self
    }
}

fn refuse(status: u16, reason: impl Into<String>) -> Refusal {
    Refusal {
        status,
        reason: reason.into(),
        line: None,
    }
}

/// One client connection: requests are read one after another from `buf`, so pipelined
/// requests are answered in order.
struct Connection {
    /// What the fair connection limit knows of this connection.
    slot: Arc<Slot>,
    stream: MaybeTls,
    peer: SocketAddr,
    buf: BytesMut,
    config: Arc<DumpConfig>,
    out: Printer,
    shutdown: CancellationToken,
    /// When the first byte of the request being read arrived (`None` while idle), so
    /// that `duration_ms` leaves out the wait between keep-alive requests.
    started: Option<Instant>,
}

/// What reading from the client gave.
enum Read {
    Data,
    /// End of stream or an I/O error: the connection is over.
    Closed,
    TimedOut,
}

impl Connection {
    async fn run(mut self) {
        loop {
            self.started = None;
            self.slot.waiting(Instant::now());
            match self.exchange().await {
                Ok(true) => continue,
                Ok(false) => break,
                Err(refusal) => {
                    self.refuse(refusal).await;
                    break;
                }
            }
        }
        let _ = self.stream.shutdown().await;
    }

    /// Reads, shows and answers one request; says whether the connection stays open.
    async fn exchange(&mut self) -> Result<bool, Refusal> {
        let Some(head) = self.read_head().await? else {
            return Ok(false);
        };
        self.slot.busy();
        let (raw_len, body) = self.read_body(&head).await.map_err(|r| r.of(&head))?;
        let raw = self.buf.split_to(raw_len);
        self.show(&raw);
        let keep_alive = head.keep_alive && !self.shutdown.is_cancelled();
        let (headers, answer) = if dump_page::prefers_html(&head) {
            // The page repeats what the client sent: no script or resource may load.
            (
                "Content-Type: text/html; charset=utf-8\r\n\
                 Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n\
                 X-Content-Type-Options: nosniff\r\n",
                dump_page::page(&raw, &head, self.peer),
            )
        } else {
            (
                "Content-Type: application/json\r\n",
                echo(&head, &body, self.peer),
            )
        };
        let body_len = answer.len() as u64;
        let mut response = format!(
            "HTTP/1.1 200 OK\r\n{headers}Content-Length: {body_len}\r\nConnection: {}\r\n\r\n",
            if keep_alive { "keep-alive" } else { "close" }
        )
        .into_bytes();
        if head.method != "HEAD" {
            response.extend_from_slice(answer.as_bytes());
        }
        if self.stream.write_all(&response).await.is_err() {
            return Ok(false);
        }
        self.report(&head.method, &head.target, 200, body_len);
        Ok(keep_alive)
    }

    /// The next request head: `None` when the client closed (or idled, or the server is
    /// stopping) between requests.
    async fn read_head(&mut self) -> Result<Option<Head>, Refusal> {
        let head_timeout = limits().head;
        let deadline = tokio::time::Instant::now() + head_timeout;
        loop {
            if self.started.is_none() && !self.buf.is_empty() {
                self.started = Some(Instant::now());
            }
            if !self.buf.is_empty() {
                if let Some(head) = Head::parse(&self.buf)? {
                    return Ok(Some(head));
                }
            }
            let idle = self.buf.is_empty();
            let shutdown = self.shutdown.clone();
            let read = tokio::select! {
                _ = shutdown.cancelled(), if idle => return Ok(None),
                r = self.read_until(deadline) => r,
            };
            match read {
                Read::Data => {}
                Read::Closed if idle => return Ok(None),
                Read::Closed => {
                    return Err(refuse(400, "connection closed inside the request head"))
                }
                Read::TimedOut if idle => return Ok(None),
                Read::TimedOut => {
                    return Err(refuse(
                        408,
                        format!("request head not complete within {head_timeout:?}"),
                    ))
                }
            }
        }
    }

    /// Reads the body (answering `Expect: 100-continue` first); returns the length of
    /// the raw request in `buf` and the decoded body.
    async fn read_body(&mut self, head: &Head) -> Result<(usize, Vec<u8>), Refusal> {
        let max = self.config.max_body;
        let too_large = || refuse(413, format!("body over the {max}-byte limit (--max-body)"));
        if let BodyKind::Length(n) = head.body {
            if n > max {
                return Err(too_large());
            }
        }
        if head.expect_continue && head.body != BodyKind::Empty && self.buf.len() == head.len {
            let _ = self
                .stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await;
        }
        let mut clock = BodyClock::start();
        if head.body != BodyKind::Empty {
            self.slot.body(&clock);
        }
        match head.body {
            BodyKind::Empty => Ok((head.len, Vec::new())),
            BodyKind::Length(n) => {
                let end = head.len + n as usize;
                while self.buf.len() < end {
                    self.read_body_bytes(&mut clock).await?;
                }
                Ok((end, self.buf[head.len..end].to_vec()))
            }
            BodyKind::Chunked => {
                let mut decoder = ChunkedDecoder::new(max);
                let mut body = Vec::new();
                let mut pos = head.len;
                loop {
                    pos += decoder.feed(&self.buf[pos..], &mut body).map_err(|e| {
                        let status = if matches!(e, super::chunked::ChunkError::TooLarge(_)) {
                            413
                        } else {
                            400
                        };
                        refuse(status, e.to_string())
                    })?;
                    if decoder.is_done() {
                        return Ok((pos, body));
                    }
                    if (pos - head.len) as u64 > max.saturating_mul(CHUNK_OVERHEAD) {
                        return Err(too_large());
                    }
                    self.read_body_bytes(&mut clock).await?;
                }
            }
        }
    }

    /// More of the body, by its deadline (`slow::BodyClock`: a pause limit and a
    /// minimum rate).
    async fn read_body_bytes(&mut self, clock: &mut BodyClock) -> Result<(), Refusal> {
        let before = self.buf.len();
        match self.read_until(clock.deadline()).await {
            Read::Data => {
                clock.got(self.buf.len() - before);
                self.slot.body_bytes(clock.bytes());
                Ok(())
            }
            Read::Closed => Err(refuse(400, "connection closed inside the body")),
            Read::TimedOut => Err(refuse(408, clock.reason())),
        }
    }

    async fn read_until(&mut self, deadline: tokio::time::Instant) -> Read {
        match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => Read::Closed,
            Ok(Ok(_)) => Read::Data,
            Err(_) => Read::TimedOut,
        }
    }

    fn show(&self, raw: &[u8]) {
        let shown = &raw[..raw.len().min(SHOWN)];
        self.out.offer(&Event::Dump {
            peer: self.peer,
            bytes: raw.len(),
            payload: Payload::new(shown),
            hex: self.config.hex,
        });
    }

    /// The `request` event, timed from the request's first byte to now (its answer sent).
    fn report(&self, method: &str, path: &str, status: u16, bytes: u64) {
        let elapsed = self.started.map_or(Duration::ZERO, |s| s.elapsed());
        self.out.offer(&Event::Request {
            peer: self.peer,
            method: method.to_owned(),
            path: path.to_owned(),
            status,
            bytes,
            duration_ms: super::millis(elapsed),
            user: None,
        });
    }

    /// Shows what arrived, answers `status` with the reason, and lets the client read it
    /// before the connection closes.
    async fn refuse(&mut self, refusal: Refusal) {
        // A head that failed its checks may still have a whole request line to log.
        let (method, target) = refusal.line.unwrap_or_else(|| request_line(&self.buf));
        if !self.buf.is_empty() {
            let raw = std::mem::take(&mut self.buf);
            self.show(&raw);
        }
        let phrase = http::StatusCode::from_u16(refusal.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error");
        let body = format!("{}\n", refusal.reason);
        let response = format!(
            "HTTP/1.1 {} {phrase}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            refusal.status,
            body.len()
        );
        let _ = self.stream.write_all(response.as_bytes()).await;
        self.out.emit(&Event::warning(format!(
            "[{}] refused with {}: {}",
            self.peer, refusal.status, refusal.reason
        )));
        self.report(&method, &target, refusal.status, body.len() as u64);
        // Closing with unread bytes would send a reset that can destroy the answer in
        // flight: half-close, then discard what the client still sends, briefly.
        let _ = self.stream.shutdown().await;
        let mut sink = [0u8; 8192];
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while let Ok(n) = self.stream.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    }
}

/// The JSON echo of a request: method, target, version, headers as ordered pairs, the
/// decoded body, and the client's address. Laid out by hand so that the fields keep this
/// order and each header stays on one line, which reads well in a browser.
fn echo(head: &Head, body: &[u8], peer: SocketAddr) -> String {
    let headers: Vec<String> = head
        .headers
        .iter()
        .map(|(n, v)| {
            format!(
                "    [{}, {}]",
                j(n),
                j(&String::from_utf8_lossy(v).into_owned())
            )
        })
        .collect();
    let headers = if headers.is_empty() {
        "[]".to_owned()
    } else {
        format!("[\n{}\n  ]", headers.join(",\n"))
    };
    format!(
        "{{\n  \"method\": {},\n  \"target\": {},\n  \"version\": {},\n  \"headers\": {headers},\n  \"body\": {},\n  \"client\": {}\n}}\n",
        j(&head.method),
        j(&head.target),
        j(&format!("HTTP/1.{}", head.minor)),
        j(&Payload::new(body)),
        j(&peer.to_string()),
    )
}

/// Any string or payload as compact JSON.
fn j<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).expect("strings and payloads always serialize")
}
