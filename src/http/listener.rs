//! The accept loop shared by `http dump` and `http serve`: TCP_NODELAY, a connection
//! limit, back-off on failed accepts, and a drain on Ctrl-C.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::sleep;
use tokio_util::task::TaskTracker;

use crate::addr::{Endpoint, ANY_HOST};
use crate::event::{Event, Proto};
use crate::run::Ctx;
use crate::shutdown::{drain, DRAIN_TIMEOUT};
use crate::sock::{self, describe, SocketInfo};

/// Connections served at once; more are accepted and closed at once.
pub const MAX_CONNECTIONS: usize = 1024;

/// Binds `bind` (SO_REUSEADDR), prints the `listening` event, and returns the listener.
pub async fn bind(bind: &Endpoint, ctx: &Ctx) -> anyhow::Result<TcpListener> {
    let addrs = bind
        .resolve(ANY_HOST)
        .await
        .map_err(|e| anyhow::anyhow!("resolve {bind}: {}", describe(&e)))?;
    let listener = sock::tcp_listener(addrs[0])?;
    ctx.out.emit(&Event::Listening {
        proto: Proto::Http,
        addr: listener.local_addr()?,
    });
    if ctx.verbose {
        ctx.out.emit(&Event::Socket(SocketInfo::of(&listener)));
    }
    Ok(listener)
}

/// Accepts connections until `ctx.shutdown` and runs `serve` on each in its own task;
/// then stops accepting and waits (at most `DRAIN_TIMEOUT`) for the tasks, which watch
/// the same token and finish the request they are in.
pub async fn accept_loop<F, Fut>(listener: TcpListener, ctx: &Ctx, serve: F)
where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let tracker = TaskTracker::new();
    let mut pause = Duration::from_millis(10);
    loop {
        let accepted = tokio::select! {
            _ = ctx.shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors, say: report and retry later instead of spinning.
                ctx.out
                    .emit(&Event::warning(format!("accept: {}", describe(&e))));
                sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        pause = Duration::from_millis(10);
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            ctx.out.emit(&Event::Rejected {
                peer,
                reason: format!("server full ({MAX_CONNECTIONS} connections)"),
            });
            continue;
        };
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
        let task = serve(stream, peer);
        tracker.spawn(async move {
            task.await;
            drop(permit);
        });
    }
    drop(listener);
    ctx.out.emit(&Event::Shutdown {
        clients: tracker.len(),
    });
    if !drain(&tracker, DRAIN_TIMEOUT).await {
        ctx.out.emit(&Event::warning(
            "connections still open after the drain; closing them",
        ));
    }
}
