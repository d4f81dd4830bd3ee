//! `tcp serve`: a `Listener` accept loop and one `Handler` task per client.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{sleep_until, Instant};
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::broker::{Broker, Inbox, Pending, SLOW_AFTER};
use crate::ctx::Ctx;
use crate::framing::{Frame, FrameCodec, FrameError, Framing};
use crate::net::accept::Backoff;
use crate::net::addr::Endpoint;
use crate::net::listen;
use crate::net::shutdown::drain;
use crate::net::sock::{describe, SocketInfo};
use crate::net::tls::{Identity, ServerTls};
use crate::output::printer::Stream;
use crate::output::{Event, Printer, Proto, Reason};

/// How a server answers each message.
#[derive(Debug, Clone)]
pub enum Reply {
    /// "received N bytes", like the notes' server.
    Ack,
    Text(Bytes),
    Echo,
    /// Relay to every other client.
    Broker,
    Silent,
}

/// How long Ctrl-C waits for clients to close after being told.
const DRAIN: Duration = Duration::from_secs(2);

/// Everything a server needs besides its socket.
#[derive(Clone)]
pub struct Server {
    pub codec: FrameCodec,
    pub reply: Reply,
    pub max_clients: usize,
    pub idle_timeout: Option<Duration>,
}

/// What `tcp serve` is asked to do.
#[derive(Clone)]
pub struct ServeConfig {
    pub bind: Endpoint,
    pub server: Server,
    /// `--tls`: every client's connection starts with a TLS handshake.
    pub tls: Option<Identity>,
}

/// How long a client has for its TLS handshake.
pub const TLS_HANDSHAKE: Duration = Duration::from_secs(10);

/// `sockit tcp serve`: binds, announces, serves until Ctrl-C.
pub async fn serve(config: ServeConfig, ctx: Ctx) -> anyhow::Result<()> {
    let tls = config
        .tls
        .as_ref()
        .map(|id| crate::net::tls::server(id, crate::net::tls::NO_ALPN))
        .transpose()?;
    let proto = if tls.is_some() {
        Proto::Tls
    } else {
        Proto::Tcp
    };
    let listener = listen::tcp(&config.bind, proto, &ctx).await?;
    if let Some(tls) = &tls {
        ctx.out.emit_all(&tls.events());
    }
    config.server.run_tls(listener, tls, ctx).await;
    Ok(())
}

impl Server {
    /// Serves clients of an already bound `listener` until `ctx.shutdown`, then tells
    /// every client (by closing its write side) and waits for them to finish.
    pub async fn run(self, listener: TcpListener, ctx: Ctx) {
        self.run_tls(listener, None, ctx).await
    }

    /// `run`, every connection starting with a TLS handshake when `tls` is given.
    pub async fn run_tls(self, listener: TcpListener, tls: Option<ServerTls>, ctx: Ctx) {
        let broker = matches!(self.reply, Reply::Broker).then(Arc::<Broker>::default);
        let listener = Listener {
            listener,
            tls,
            server: Arc::new(self),
            limit: Arc::new(Semaphore::new(0)),
            broker,
            clients: Arc::new(AtomicUsize::new(0)),
            next_id: AtomicU64::new(0),
            tracker: TaskTracker::new(),
            ctx,
        };
        listener.limit.add_permits(listener.server.max_clients);
        listener.run().await;
    }
}

struct Listener {
    listener: TcpListener,
    tls: Option<ServerTls>,
    server: Arc<Server>,
    /// One permit per client slot: taken on accept, returned when the handler ends.
    limit: Arc<Semaphore>,
    broker: Option<Arc<Broker>>,
    clients: Arc<AtomicUsize>,
    next_id: AtomicU64,
    tracker: TaskTracker,
    ctx: Ctx,
}

impl Listener {
    async fn run(self) {
        let shutdown = self.ctx.shutdown.clone();
        let mut backoff = Backoff::default();
        loop {
            let (stream, peer) = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = self.accept(&mut backoff) => accepted,
            };
            self.admit(stream, peer);
        }
        drop(self.listener);
        self.ctx.out.emit(&Event::Shutdown {
            clients: self.clients.load(Ordering::Relaxed),
        });
        if !drain(&self.tracker, DRAIN).await {
            self.ctx.out.emit(&Event::warning(
                "clients still connected after the drain; closing them",
            ));
        }
    }

    /// The next connection (see `Backoff::accept`).
    async fn accept(&self, backoff: &mut Backoff) -> (TcpStream, SocketAddr) {
        backoff.accept(&self.listener, &self.ctx.out).await
    }

    fn admit(&self, stream: TcpStream, peer: SocketAddr) {
        let out = &self.ctx.out;
        let Ok(permit) = self.limit.clone().try_acquire_owned() else {
            let reason = format!(
                "server full ({} clients, --max-clients)",
                self.server.max_clients
            );
            out.emit(&Event::Rejected { peer, reason });
            return;
        };
        if let Err(e) = stream.set_nodelay(true) {
            out.emit(&Event::warning(format!(
                "[{peer}] TCP_NODELAY: {}",
                describe(&e)
            )));
        }
        if self.ctx.verbose {
            out.emit(&Event::Socket(SocketInfo::of(&stream)));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let Some(tls) = self.tls.clone() else {
            let (rd, wr) = stream.into_split();
            let handler = self.handler(id, peer, rd, wr);
            return self.start(handler, permit);
        };
        // The handshake runs in the client's task: a slow one holds its slot, not the
        // accept loop.
        let (server, broker, clients) = (
            self.server.clone(),
            self.broker.clone(),
            self.clients.clone(),
        );
        let (out, shutdown) = (out.clone(), self.ctx.shutdown.clone());
        self.tracker.spawn(async move {
            let mut first = [0u8; 1];
            let spoke = tokio::time::timeout(TLS_HANDSHAKE, stream.peek(&mut first)).await;
            if matches!(spoke, Ok(Ok(1))) && !crate::net::tls::starts_tls(first[0]) {
                let detail = "the client spoke in clear, not TLS".to_owned();
                out.emit(&Event::Disconnect {
                    peer,
                    reason: Reason::Protocol,
                    detail: Some(detail),
                });
                return;
            }
            let accepted = tokio::select! {
                r = tokio::time::timeout(TLS_HANDSHAKE, tls.acceptor.accept(stream)) => r,
                _ = shutdown.cancelled() => return,
            };
            let stream = match accepted {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    let detail = format!("TLS handshake: {}", describe(&e));
                    out.emit(&Event::Disconnect {
                        peer,
                        reason: Reason::Protocol,
                        detail: Some(detail),
                    });
                    return;
                }
                Err(_) => {
                    let detail = format!("no TLS handshake within {TLS_HANDSHAKE:?}");
                    out.emit(&Event::Disconnect {
                        peer,
                        reason: Reason::Timeout,
                        detail: Some(detail),
                    });
                    return;
                }
            };
            let (rd, wr) = tokio::io::split(stream);
            let handler = Handler::new(id, peer, rd, wr, server, broker, out.clone(), shutdown);
            let count = clients.fetch_add(1, Ordering::Relaxed) + 1;
            out.emit(&Event::Connect {
                peer,
                clients: count,
            });
            handler.run().await;
            clients.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }

    fn handler<R, W>(&self, id: u64, peer: SocketAddr, rd: R, wr: W) -> Handler<R, W> {
        Handler::new(
            id,
            peer,
            rd,
            wr,
            self.server.clone(),
            self.broker.clone(),
            self.ctx.out.clone(),
            self.ctx.shutdown.clone(),
        )
    }

    /// Runs a client's handler in a task of its own, counted among the clients.
    fn start<R, W>(&self, handler: Handler<R, W>, permit: tokio::sync::OwnedSemaphorePermit)
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        // Announced only once subscribed to the broker: whoever reacts to this event
        // (a test, a script) can rely on the new client hearing every later relay.
        let clients = self.clients.fetch_add(1, Ordering::Relaxed) + 1;
        self.ctx.out.emit(&Event::Connect {
            peer: handler.peer,
            clients,
        });
        let count = self.clients.clone();
        self.tracker.spawn(async move {
            handler.run().await;
            count.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
}

/// One client's connection (its halves: a TCP socket's, or a TLS stream's).
struct Handler<R, W> {
    id: u64,
    peer: SocketAddr,
    reader: FramedRead<R, FrameCodec>,
    writer: FramedWrite<W, FrameCodec>,
    server: Arc<Server>,
    /// `--broker`: this client's queue of messages from the others, and the broker.
    inbox: Option<Inbox>,
    broker: Option<Arc<Broker>>,
    /// A relayed message some clients had no room for: the next frame waits for it.
    pending: Option<Pending>,
    out: Printer,
    /// This connection's share of the printer's queue.
    stream: Stream,
    shutdown: CancellationToken,
}

/// How a connection ended, as reported in its `disconnect` event.
type Ending = (Reason, Option<String>);

impl<R, W> Handler<R, W> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        id: u64,
        peer: SocketAddr,
        rd: R,
        wr: W,
        server: Arc<Server>,
        broker: Option<Arc<Broker>>,
        out: Printer,
        shutdown: CancellationToken,
    ) -> Self {
        Handler {
            id,
            peer,
            reader: FramedRead::new(rd, server.codec.clone()),
            writer: FramedWrite::new(wr, server.codec.clone()),
            inbox: broker.as_ref().map(|b| b.join(id)),
            broker,
            server,
            pending: None,
            out,
            stream: Stream::default(),
            shutdown,
        }
    }
}

impl<R, W> Handler<R, W>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    async fn run(mut self) {
        let (reason, detail) = self.exchange().await;
        if reason == Reason::Shutdown {
            self.close_gracefully().await;
        } else {
            // Over TLS this says close_notify before the connection closes.
            let _ = tokio::time::timeout(DRAIN, self.writer.get_mut().shutdown()).await;
        }
        // What was waiting for this client is freed now, not when its task ends.
        self.inbox = None;
        self.out.emit(&Event::Disconnect {
            peer: self.peer,
            reason,
            detail,
        });
    }

    async fn exchange(&mut self) -> Ending {
        let idle = self.server.idle_timeout;
        // Both futures live as long as the connection: made once, not once per message.
        let shutdown = self.shutdown.clone().cancelled_owned();
        let timeout = sleep_until(idle.map_or_else(far_future, |d| Instant::now() + d));
        let slow = self.inbox.as_ref().map(Inbox::slow);
        let slow = async move {
            match slow {
                Some(token) => token.cancelled_owned().await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(shutdown, timeout, slow);
        let mut watch = super::DelimiterWatch::new(self.reader.decoder());
        let mut ticker = super::watch_ticker(&watch);
        loop {
            tokio::select! {
                _ = &mut shutdown => return (Reason::Shutdown, None),
                _ = &mut slow => return slow_ending(),
                _ = &mut timeout, if idle.is_some() => return (Reason::Timeout, None),
                _ = super::watch_tick(&mut ticker, &watch) => {
                    let held = self.reader.read_buffer().len();
                    if let Some(message) = watch.as_mut().and_then(|w| w.check(held, Instant::now())) {
                        self.out.emit(&Event::Hint { peer: self.peer, message });
                    }
                }
                Some(msg) = recv_relay(&mut self.inbox) => {
                    // Writing to a client that does not read waits for ever: the
                    // broker's verdict must still end it.
                    let ending = tokio::select! {
                        _ = &mut slow => Some(slow_ending()),
                        ending = self.relay(msg) => ending,
                    };
                    if let Some(ending) = ending {
                        return ending;
                    }
                }
                _ = wait_pending(&mut self.pending), if self.pending.is_some() => {
                    self.pending = None;
                }
                frame = self.reader.next(), if self.pending.is_none() => {
                    if let Some(d) = idle {
                        timeout.as_mut().reset(Instant::now() + d);
                    }
                    if let (Some(w), Some(Ok(Frame::Message(_)))) = (watch.as_mut(), &frame) {
                        w.delimited();
                    }
                    if let Some(ending) = self.on_frame(frame).await {
                        return ending;
                    }
                }
            }
        }
    }

    async fn on_frame(&mut self, frame: Option<Result<Frame, FrameError>>) -> Option<Ending> {
        let msg = match frame {
            None => return Some((Reason::Closed, None)),
            Some(Ok(Frame::Message(msg))) => msg,
            Some(Ok(Frame::TooLong { max })) => {
                self.out.emit(&Event::Oversized {
                    peer: self.peer,
                    max,
                });
                return None;
            }
            Some(Err(FrameError::Io(e))) => return Some(super::ending_of(&e)),
            Some(Err(e)) => return Some((Reason::Protocol, Some(e.to_string()))),
        };
        let wire = self.reader.decoder().last_wire();
        self.out
            .emit_paced(
                &self.stream,
                &Event::message(self.peer, msg.clone()).on_wire(wire),
            )
            .await;
        let answer = match &self.server.reply {
            Reply::Ack => ack(&msg, wire, self.server.codec.framing()),
            Reply::Text(t) => t.clone(),
            Reply::Echo => msg,
            Reply::Broker => {
                if let Some(broker) = &self.broker {
                    self.pending = broker.relay(self.id, msg);
                }
                return None;
            }
            Reply::Silent => return None,
        };
        self.send(answer).await
    }

    async fn relay(&mut self, msg: Bytes) -> Option<Ending> {
        let len = msg.len();
        let ending = self.send(msg).await;
        if let Some(inbox) = &self.inbox {
            inbox.written(len);
        }
        ending
    }

    async fn send(&mut self, msg: Bytes) -> Option<Ending> {
        match self.writer.send(msg.clone()).await {
            Ok(()) => {
                let wire = self.writer.encoder().wire_len(msg.len());
                self.out
                    .emit_paced(&self.stream, &Event::reply(self.peer, msg).on_wire(wire))
                    .await;
                None
            }
            Err(FrameError::Io(e)) => Some(super::ending_of(&e)),
            Err(e) => {
                self.out.emit(&Event::warning(format!(
                    "[{}] reply not sent: {e}",
                    self.peer
                )));
                None
            }
        }
    }

    /// Tells the client the server is going (FIN), then reads until it closes, so that
    /// unread bytes do not turn the close into a reset.
    async fn close_gracefully(&mut self) {
        let _ = self.writer.get_mut().shutdown().await;
        let _ = tokio::time::timeout(DRAIN, async {
            while let Some(Ok(_)) = self.reader.next().await {}
        })
        .await;
    }
}

async fn wait_pending(pending: &mut Option<Pending>) {
    if let Some(p) = pending {
        p.wait().await;
    }
}

async fn recv_relay(inbox: &mut Option<Inbox>) -> Option<Bytes> {
    match inbox {
        Some(inbox) => inbox.recv().await,
        None => std::future::pending().await,
    }
}

/// The end of a client that fell `BROKER_BACKLOG` behind what the others sent.
fn slow_ending() -> Ending {
    let detail = format!(
        "its backlog of relayed messages ({} MiB, BROKER_BACKLOG) had no room for {} s",
        super::broker::BROKER_BACKLOG >> 20,
        SLOW_AFTER.as_secs()
    );
    (Reason::Slow, Some(detail))
}

/// The default answer, "received N bytes" like the notes' server, with what the wire
/// carried when framing added to it. In `raw` framing a message that ends a line gets
/// an answer that ends one too, so that `nc` shows each answer on a line of its own.
fn ack(msg: &[u8], wire: usize, framing: Framing) -> Bytes {
    let n = msg.len();
    let mut text = format!("received {n} {}", if n == 1 { "byte" } else { "bytes" });
    if wire != n {
        text.push_str(&format!(" ({wire} on the wire)"));
    }
    if framing == Framing::Raw {
        if msg.ends_with(b"\r\n") {
            text.push_str("\r\n");
        } else if msg.ends_with(b"\n") {
            text.push('\n');
        }
    }
    Bytes::from(text)
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86400 * 365)
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
