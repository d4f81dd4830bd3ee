//! A client's exchange, as `tcp connect` and `udp send` run it: send everything while
//! printing replies as they come, then keep printing replies for a while.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Runs `sending` and `receiving` together. When the sending ends, replies may still be
/// on their way: `receiving` goes on for `wait` (`None`: until it ends by itself, when
/// the peer closes). Ctrl-C (`shutdown`) ends it all at once, successfully; the first
/// error of either side ends it with that error.
pub async fn exchange(
    sending: impl Future<Output = anyhow::Result<()>>,
    receiving: impl Future<Output = anyhow::Result<()>>,
    wait: Option<Duration>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let mut receiving = std::pin::pin!(receiving);
    tokio::select! {
        _ = shutdown.cancelled() => return Ok(()),
        received = &mut receiving => return received,
        sent = sending => sent?,
    }
    let waited = async {
        match wait {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = shutdown.cancelled() => Ok(()),
        _ = waited => Ok(()),
        received = receiving => received,
    }
}
