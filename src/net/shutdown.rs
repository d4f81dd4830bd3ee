//! Ctrl-C and graceful drain: one token every task watches, one tracker that says
//! when every task is done.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a server waits for its connections to finish after Ctrl-C.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Cancels `token` on the first Ctrl-C (SIGINT) or SIGTERM. The handlers are in place
/// when this returns (a Ctrl-C right after the first line printed must not kill the
/// process the default way); only the waiting happens in a task.
pub fn cancel_on_signal(token: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt()).ok();
    let mut term = signal(SignalKind::terminate()).ok();
    tokio::spawn(async move {
        tokio::select! {
            _ = next(int.as_mut()) => {}
            _ = next(term.as_mut()) => {}
        }
        token.cancel();
    });
}

/// The next delivery of a signal (never, for one that could not be registered).
async fn next(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// Closes `tracker` and waits for its tasks, at most `timeout`; says whether all ended.
pub async fn drain(tracker: &TaskTracker, timeout: Duration) -> bool {
    tracker.close();
    tokio::time::timeout(timeout, tracker.wait()).await.is_ok()
}
