//! The accept loop shared by `http dump` and `http serve`: TCP_NODELAY, a fair
//! connection limit (`slow`), back-off on failed accepts, and a drain on Ctrl-C.

use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::task::TaskTracker;

use super::slow::{Conns, Slot, MAX_CONNECTIONS};
use crate::ctx::Ctx;
use crate::net::accept::Backoff;
use crate::net::addr::Endpoint;
use crate::net::listen;
use crate::net::shutdown::{drain, DRAIN_TIMEOUT};
use crate::net::sock::describe;
use crate::net::tls::{Identity, ServerTls};
use crate::output::{Event, Proto, SocketInfo};

/// Raises the open-file limit, binds `bind` and announces it (`https` with `tls`,
/// followed by the certificate).
pub async fn bind(
    bind: &Endpoint,
    tls: Option<&ServerTls>,
    ctx: &Ctx,
) -> anyhow::Result<TcpListener> {
    if let Some(e) = super::slow::raise_nofile() {
        ctx.out.emit(&Event::warning(format!(
            "could not raise the open-file limit: {e}"
        )));
    }
    let proto = if tls.is_some() {
        Proto::Https
    } else {
        Proto::Http
    };
    let listener = listen::tcp(bind, proto, ctx).await?;
    if let Some(tls) = tls {
        ctx.out.emit_all(&tls.events());
    }
    Ok(listener)
}

/// An HTTP server's TLS, offering HTTP/1.1 by ALPN.
pub fn tls(identity: Option<&Identity>) -> anyhow::Result<Option<ServerTls>> {
    Ok(identity
        .map(|id| crate::net::tls::server(id, &[b"http/1.1"]))
        .transpose()?)
}

/// What the accept loops of one server share: the connection limit and the tracker of
/// the connection tasks (on whichever thread they run).
#[derive(Clone)]
struct Shared {
    conns: Arc<Conns>,
    tracker: TaskTracker,
    /// Whether an accept error is being reported (`Backoff::sharing`).
    accept_errors: Arc<AtomicBool>,
}

impl Shared {
    fn new() -> Self {
        Shared {
            conns: Conns::new(),
            tracker: TaskTracker::new(),
            accept_errors: Arc::default(),
        }
    }
}

/// Accepts connections until `ctx.shutdown` and runs `serve` on each in its own task;
/// then stops accepting and waits (at most `DRAIN_TIMEOUT`) for the tasks, which watch
/// the same token and finish the request they are in.
pub async fn accept_loop<F, Fut>(listener: TcpListener, ctx: &Ctx, serve: F)
where
    F: Fn(TcpStream, SocketAddr, Arc<Slot>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let shared = Shared::new();
    accept(listener, ctx, &shared, &serve).await;
    finish(ctx, &shared).await;
}

/// `accept_loop` on one single-threaded runtime per core, all accepting from the same
/// socket: a connection then lives on the thread that accepted it, and a request costs
/// no cross-thread wake-up or work-stealing (what tokio's shared scheduler spends per
/// request was a large share of the server's user time for small files: figures in
/// docs/benchmarks.md, "HTTP"). A slow request
/// holds up only the connections of its own thread.
pub async fn accept_loop_per_core<F, Fut>(
    listener: TcpListener,
    ctx: &Ctx,
    serve: F,
) -> anyhow::Result<()>
where
    F: Fn(TcpStream, SocketAddr, Arc<Slot>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores == 1 {
        accept_loop(listener, ctx, serve).await;
        return Ok(());
    }
    let shared = Shared::new();
    let listener = listener.into_std()?;
    let mut threads = Vec::with_capacity(cores);
    for i in 0..cores {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = listener.try_clone()?;
        let (ctx, shared, serve) = (ctx.clone(), shared.clone(), serve.clone());
        let thread = std::thread::Builder::new()
            .name(format!("http-{i}"))
            .spawn(move || {
                runtime.block_on(async {
                    match TcpListener::from_std(listener) {
                        Ok(l) => accept(l, &ctx, &shared, &serve).await,
                        Err(e) => ctx
                            .out
                            .emit(&Event::warning(format!("accept: {}", describe(&e)))),
                    }
                    // Keeps this thread's connections running until the drain ends.
                    drain(&shared.tracker, DRAIN_TIMEOUT).await
                })
            })?;
        threads.push(thread);
    }
    drop(listener);
    ctx.shutdown.cancelled().await;
    finish(ctx, &shared).await;
    let _ =
        tokio::task::spawn_blocking(move || threads.into_iter().for_each(|t| drop(t.join()))).await;
    Ok(())
}

/// Accepts until `ctx.shutdown`.
async fn accept<F, Fut>(listener: TcpListener, ctx: &Ctx, shared: &Shared, serve: &F)
where
    F: Fn(TcpStream, SocketAddr, Arc<Slot>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut backoff = Backoff::sharing(shared.accept_errors.clone());
    loop {
        let (stream, peer) = tokio::select! {
            _ = ctx.shutdown.cancelled() => break,
            accepted = backoff.accept(&listener, &ctx.out) => accepted,
        };
        let (admitted, evicted) = match shared.conns.admit(stream.as_raw_fd(), peer) {
            Ok(a) => a,
            Err(busy) => {
                ctx.out.offer(&Event::Rejected {
                    peer,
                    reason: format!("server full ({MAX_CONNECTIONS} connections: {busy})"),
                });
                continue;
            }
        };
        if let Some(e) = evicted {
            ctx.out.offer(&Event::warning(format!(
                "[{}] closed to make room for {peer} ({MAX_CONNECTIONS} connections): {}",
                e.peer, e.why
            )));
        }
        // Without it a response's last segment can wait ~40 ms for the client's delayed ACK.
        if let Err(e) = stream.set_nodelay(true) {
            ctx.out.emit(&Event::warning(format!(
                "[{peer}] TCP_NODELAY: {}",
                describe(&e)
            )));
        }
        if ctx.verbose {
            ctx.out.emit(&Event::Socket(SocketInfo::of(&stream)));
        }
        let task = serve(stream, peer, admitted.slot.clone());
        let id = admitted.id();
        let handle = shared.tracker.spawn(async move {
            task.await;
            drop(admitted);
        });
        shared.conns.set_abort(id, handle.abort_handle());
    }
}

/// Says how many connections are still open and waits for them (at most `DRAIN_TIMEOUT`).
async fn finish(ctx: &Ctx, shared: &Shared) {
    ctx.out.emit(&Event::Shutdown {
        clients: shared.tracker.len(),
    });
    if !drain(&shared.tracker, DRAIN_TIMEOUT).await {
        ctx.out.emit(&Event::warning(
            "connections still open after the drain; closing them",
        ));
    }
}
