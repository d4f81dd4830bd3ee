//! `tcp serve --broker`: relays each message to every other client through one queue
//! per client, bounded in bytes; a client that falls behind by more is cut off.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, Notify};
use tokio::time::{timeout_at, Instant};
use tokio_util::sync::CancellationToken;

/// Relayed bytes one client may have waiting (queued or being written). A client with
/// nothing waiting always takes the next message, so one client holds at most this plus
/// one `--max-frame`.
pub const BROKER_BACKLOG: usize = 4 << 20;

/// How long a message waits for room in a full backlog before that client is
/// disconnected as `slow`. Meanwhile its sender's next message is not read (TCP flow
/// control slows the sender), so a burst waits for a reader that keeps up.
pub const SLOW_AFTER: Duration = Duration::from_secs(1);

/// Who is connected, and each one's queue.
#[derive(Default)]
pub struct Broker {
    clients: Mutex<HashMap<u64, Arc<Outbox>>>,
}

/// The broker's end of one client's queue.
struct Outbox {
    id: u64,
    // Unbounded in count, bounded in bytes by `waiting` (checked before each send).
    tx: mpsc::UnboundedSender<Bytes>,
    waiting: Arc<AtomicUsize>,
    /// Told each time bytes leave `waiting`.
    room: Arc<Notify>,
    slow: CancellationToken,
}

/// A client's end of its queue. Dropping it leaves the broker and frees what waited.
pub struct Inbox {
    id: u64,
    rx: mpsc::UnboundedReceiver<Bytes>,
    waiting: Arc<AtomicUsize>,
    room: Arc<Notify>,
    slow: CancellationToken,
    broker: Arc<Broker>,
}

/// A relayed message that some clients had no room for yet.
pub struct Pending {
    msg: Bytes,
    to: Vec<Arc<Outbox>>,
    deadline: Instant,
}

impl Broker {
    /// Registers client `id`: every later relay from another client reaches it.
    pub fn join(self: &Arc<Self>, id: u64) -> Inbox {
        let (tx, rx) = mpsc::unbounded_channel();
        let waiting = Arc::new(AtomicUsize::new(0));
        let room = Arc::new(Notify::new());
        let slow = CancellationToken::new();
        let outbox = Outbox {
            id,
            tx,
            waiting: waiting.clone(),
            room: room.clone(),
            slow: slow.clone(),
        };
        self.lock().insert(id, Arc::new(outbox));
        Inbox {
            id,
            rx,
            waiting,
            room,
            slow,
            broker: self.clone(),
        }
    }

    /// Queues `msg` for every client but `from` that has room; the rest, if any, are
    /// what the caller must wait for (`Pending::wait`) before reading its next message.
    pub fn relay(self: &Arc<Self>, from: u64, msg: Bytes) -> Option<Pending> {
        let mut to: Vec<Arc<Outbox>> = self
            .lock()
            .values()
            .filter(|o| o.id != from)
            .cloned()
            .collect();
        to.retain(|o| !o.offer(&msg));
        (!to.is_empty()).then(|| Pending {
            msg,
            to,
            deadline: Instant::now() + SLOW_AFTER,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Outbox>>> {
        // A panic elsewhere cannot leave the map half-changed: use it regardless.
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Outbox {
    /// Queues `msg` if there is room (or the client is gone or cut off: nothing to wait
    /// for); false when it must wait.
    fn offer(&self, msg: &Bytes) -> bool {
        if self.slow.is_cancelled() || self.tx.is_closed() {
            return true;
        }
        let len = msg.len();
        let fits = |held: usize| (held == 0 || held + len <= BROKER_BACKLOG).then_some(held + len);
        if self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, fits)
            .is_err()
        {
            return false;
        }
        // Err only when the client has just gone.
        let _ = self.tx.send(msg.clone());
        true
    }
}

impl Pending {
    /// Waits until every client left has taken the message; one that has no room by
    /// the deadline is told it is slow. Cancel-safe: what was queued stays queued.
    pub async fn wait(&mut self) {
        while let Some(first) = self.to.first().cloned() {
            let room = first.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            if first.offer(&self.msg) {
                self.to.remove(0);
                continue;
            }
            if timeout_at(self.deadline, room).await.is_err() {
                first.slow.cancel();
                self.to.remove(0);
            }
        }
    }
}

impl Inbox {
    /// The next message relayed to this client.
    pub async fn recv(&mut self) -> Option<Bytes> {
        self.rx.recv().await
    }

    /// `len` bytes of a relayed message have been written: they no longer count.
    pub fn written(&self, len: usize) {
        self.waiting.fetch_sub(len, Ordering::AcqRel);
        self.room.notify_waiters();
    }

    /// Cancelled once this client has left a message waiting `SLOW_AFTER` for room.
    pub fn slow(&self) -> CancellationToken {
        self.slow.clone()
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.broker.lock().remove(&self.id);
        // Senders waiting for room here wait no more.
        self.room.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn issue13_a_client_with_no_room_for_slow_after_is_cut_off_and_freed() {
        let broker = Arc::new(Broker::default());
        let mut reader = broker.join(1);
        let stuck = broker.join(2);
        let frame = Bytes::from(vec![0u8; 1 << 20]);
        let mut cut = false;
        for _ in 0..BROKER_BACKLOG / frame.len() + 1 {
            if let Some(mut pending) = broker.relay(0, frame.clone()) {
                let started = Instant::now();
                pending.wait().await;
                assert!(started.elapsed() >= SLOW_AFTER);
                cut = true;
            }
            let got = reader.recv().await.unwrap();
            reader.written(got.len());
        }
        assert!(cut && stuck.slow().is_cancelled());
        assert!(stuck.waiting.load(Ordering::Relaxed) <= BROKER_BACKLOG);
        drop(stuck);
        assert_eq!(broker.lock().len(), 1, "the slow client left the broker");
        assert!(broker.relay(0, frame).is_none());
    }

    #[tokio::test]
    async fn issue13_a_reader_that_catches_up_is_waited_for() {
        let broker = Arc::new(Broker::default());
        let mut a = broker.join(1);
        // One large message always fits an empty backlog.
        assert!(broker
            .relay(2, Bytes::from(vec![0u8; BROKER_BACKLOG * 2]))
            .is_none());
        let mut pending = broker.relay(2, Bytes::from_static(b"next")).unwrap();
        let reader = async {
            tokio::time::sleep(SLOW_AFTER / 2).await;
            let got = a.recv().await.unwrap();
            a.written(got.len());
            a
        };
        let (_, a) = tokio::join!(pending.wait(), reader);
        assert!(!a.slow().is_cancelled());
    }
}
