//! Ctrl-C and graceful drain: one token every task watches, one tracker that says
//! when every task is done.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a server waits for its connections to finish after Ctrl-C.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Cancels `token` on the first Ctrl-C (SIGINT) or SIGTERM.
pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let terminated = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminated => {}
        }
        token.cancel();
    });
}

/// Closes `tracker` and waits for its tasks, at most `timeout`; says whether all ended.
pub async fn drain(tracker: &TaskTracker, timeout: Duration) -> bool {
    tracker.close();
    tokio::time::timeout(timeout, tracker.wait()).await.is_ok()
}
