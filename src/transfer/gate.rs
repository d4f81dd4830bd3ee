//! The sender's side of the handshake, run on the runtime rather than on threads: a
//! connection waiting to prove the code costs a socket and a few hundred bytes, not a
//! thread, so idle or garbage connections cannot starve the right receiver.
//!
//! Three limits (docs/security.md): each handshake must finish within
//! `HANDSHAKE_TIMEOUT`; at most `MAX_HANDSHAKES` run at once, and when a new connection
//! comes with all of them taken, the oldest one that has not yet offered a proof gives
//! way; and proofs are tested one at a time, with a pause after each wrong one that
//! grows with the count, until `MAX_WRONG_CODES` end the sender. A connection is worth
//! one guess of the code however it behaves, and guesses come no faster than the pauses.

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::code::Code;
use super::pake::{Confirmed, HandshakeError, SenderSteps};
use super::wire::{Conn, Msg, WireError};
use super::TransferError;

/// Wrong codes a sender tolerates before it gives up (see docs/security.md).
pub const MAX_WRONG_CODES: u32 = 10;
/// A handshake (hello to proof) must finish within this long.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; a newcomer beyond it displaces the oldest one that
/// has not offered its proof yet.
pub const MAX_HANDSHAKES: usize = 256;
/// The longest record a handshake reads: a hello or a proof is a few hundred bytes.
const MAX_HANDSHAKE_RECORD: usize = 4096;
/// The longest pause after a wrong code.
const MAX_PAUSE_S: u32 = 5;

/// `HANDSHAKE_TIMEOUT`, or for tests the milliseconds in `SOCKIT_TEST_HANDSHAKE_TIMEOUT`.
fn handshake_timeout() -> Duration {
    static LIMIT: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(|| {
        std::env::var("SOCKIT_TEST_HANDSHAKE_TIMEOUT")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .map_or(HANDSHAKE_TIMEOUT, Duration::from_millis)
    })
}

/// What every handshake of one sender shares.
pub struct Gate {
    /// Wrong codes so far.
    failures: AtomicU32,
    /// When the next proof may be tested; held while one is.
    next_guess: tokio::sync::Mutex<Instant>,
    /// Room for handshakes that have offered a proof and wait for their turn.
    proofs: Semaphore,
    waiting: Mutex<Waiting>,
}

/// Handshakes that have not offered a proof yet, oldest first.
#[derive(Default)]
struct Waiting {
    next_id: u64,
    slots: BTreeMap<u64, CancellationToken>,
}

/// One connection's place among the handshakes; leaving it frees the place.
pub struct Slot {
    id: u64,
    gave_way: CancellationToken,
    gate: Arc<Gate>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.gate.waiting().slots.remove(&self.id);
    }
}

impl Gate {
    pub fn new() -> Arc<Gate> {
        Arc::new(Gate {
            failures: AtomicU32::new(0),
            next_guess: tokio::sync::Mutex::new(Instant::now()),
            proofs: Semaphore::new(MAX_HANDSHAKES),
            waiting: Mutex::default(),
        })
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting
            .lock()
            .expect("never poisoned: no code panics holding it")
    }

    /// A place for a new connection's handshake; when all are taken, the oldest
    /// handshake that has not offered a proof is told to give way.
    pub fn admit(self: &Arc<Self>) -> Slot {
        let mut waiting = self.waiting();
        if waiting.slots.len() >= MAX_HANDSHAKES {
            if let Some((_, oldest)) = waiting.slots.pop_first() {
                oldest.cancel();
            }
        }
        let id = waiting.next_id;
        waiting.next_id += 1;
        let gave_way = CancellationToken::new();
        waiting.slots.insert(id, gave_way.clone());
        Slot {
            id,
            gave_way,
            gate: self.clone(),
        }
    }

    pub fn failures(&self) -> u32 {
        self.failures.load(Ordering::Acquire)
    }
}

/// Runs the sender's handshake on `stream`. On a wrong code, `wrong_codes` holds how
/// many there have been so far, this one included.
pub async fn handshake(
    stream: &mut TcpStream,
    slot: Slot,
    code: &Code,
    encrypt: bool,
    wrong_codes: &mut u32,
) -> Result<Confirmed, TransferError> {
    let gate = slot.gate.clone();
    if gate.failures() >= MAX_WRONG_CODES {
        // Said, not just closed: a close before any hello reads as "not a sockit".
        tell(stream, "too many wrong codes: this sender is giving up").await;
        return Err(TransferError::Refused("too many wrong codes".into()));
    }
    let limit = handshake_timeout();
    let deadline = Instant::now() + limit;
    let (steps, hello) = SenderSteps::start(code, encrypt);
    let until_proof = async {
        write_msg(stream, &hello, false).await?;
        let awaiting = steps.on_hello(read_msg(stream).await)?;
        let proof = read_msg(stream).await;
        Ok::<_, HandshakeError>((awaiting, proof))
    };
    let (awaiting, proof) = tokio::select! {
        done = tokio::time::timeout_at(deadline, until_proof) => match done {
            Ok(Ok(got)) => got,
            Ok(Err(e)) => return Err(refuse(stream, e).await),
            Err(_) => return Err(HandshakeError::TimedOut(limit.as_secs_f64()).into()),
        },
        _ = slot.gave_way.cancelled() => return Err(HandshakeError::GaveWay(MAX_HANDSHAKES).into()),
    };
    // From here on this handshake has offered its guess: it no longer gives way, and
    // waits its turn among a bounded number of others.
    drop(slot);
    let Ok(_turn) = gate.proofs.try_acquire() else {
        return Err(HandshakeError::GaveWay(MAX_HANDSHAKES).into());
    };
    let verdict = {
        let mut next_guess = gate.next_guess.lock().await;
        tokio::time::sleep_until(*next_guess).await;
        if gate.failures() >= MAX_WRONG_CODES {
            tell(stream, "too many wrong codes: this sender is giving up").await;
            return Err(TransferError::Refused("too many wrong codes".into()));
        }
        let verdict = awaiting.on_confirm(proof);
        if matches!(verdict, Err(HandshakeError::WrongCode)) {
            *wrong_codes = gate.failures.fetch_add(1, Ordering::AcqRel) + 1;
            let pause = (*wrong_codes).min(MAX_PAUSE_S);
            *next_guess = Instant::now() + Duration::from_secs(u64::from(pause));
        }
        verdict
    };
    let confirmed = match verdict {
        Ok(confirmed) => confirmed,
        Err(e) => return Err(refuse(stream, e).await),
    };
    match tokio::time::timeout(limit, write_msg(stream, &confirmed.reply, false)).await {
        Ok(Ok(())) => Ok(confirmed),
        Ok(Err(e)) => Err(TransferError::Wire(e)),
        Err(_) => Err(HandshakeError::TimedOut(limit.as_secs_f64()).into()),
    }
}

/// Tells the receiver why, when `e` is something it should hear, and returns `e`.
async fn refuse(stream: &mut TcpStream, e: HandshakeError) -> TransferError {
    if let Some(why) = e.for_peer() {
        tell(stream, &why).await;
    }
    e.into()
}

/// Sends an `error` record and closes gracefully, best effort and briefly: the peer
/// may be gone or not reading.
async fn tell(stream: &mut TcpStream, why: &str) {
    let msg = Msg::Error {
        message: why.to_owned(),
    };
    let _ = tokio::time::timeout(LINGER, write_msg(stream, &msg, true)).await;
    linger(stream).await;
}

/// How long a refused connection is drained before it is closed.
const LINGER: Duration = Duration::from_secs(1);
/// The most bytes drained from it.
const LINGER_BYTES: usize = 256 << 10;

/// Ends the sending side, then reads and discards what the peer still sends (for
/// `LINGER` at most), as a web server's lingering close does: closing a socket with
/// unread bytes makes the kernel send a reset, which can destroy the refusal before
/// the peer reads it.
async fn linger(stream: &mut TcpStream) {
    let _ = stream.shutdown().await;
    let drain = async {
        let mut buf = [0u8; 16 << 10];
        let mut drained = 0;
        while drained < LINGER_BYTES {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => drained += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

async fn write_msg(stream: &mut TcpStream, msg: &Msg, last: bool) -> Result<(), WireError> {
    let mut encoder = Conn::new(io::empty(), Vec::new());
    if last {
        encoder.send_last(msg)?;
    } else {
        encoder.send(msg)?;
    }
    stream.write_all(encoder.writer()).await?;
    Ok(())
}

/// Reads one record of at most `MAX_HANDSHAKE_RECORD` bytes and decodes it with the
/// record layer's own rules (the connection is not sealed yet).
async fn read_msg(stream: &mut TcpStream) -> Result<Msg, WireError> {
    let mut record = vec![0u8; 4];
    if let Err(e) = stream.read_exact(&mut record).await {
        return Err(closed_or(e, WireError::Closed));
    }
    let header: [u8; 4] = record[..4].try_into().expect("4 bytes");
    let len = (u32::from_be_bytes(header) & !(1 << 31)) as usize;
    if len > MAX_HANDSHAKE_RECORD {
        return Err(WireError::TooLarge {
            len,
            max: MAX_HANDSHAKE_RECORD,
            header,
        });
    }
    record.resize(4 + len, 0);
    if let Err(e) = stream.read_exact(&mut record[4..]).await {
        return Err(closed_or(e, WireError::Truncated));
    }
    Conn::new(&record[..], io::sink()).recv_msg()
}

fn closed_or(e: io::Error, closed: WireError) -> WireError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        closed
    } else {
        e.into()
    }
}
