//! sockit's transfer over a connection that another protocol has opened and
//! authenticated (a wormhole's transit connection): no code handshake; the records are
//! sealed from the first under keys derived from a secret both sides already share.
//! Everything after the handshake — manifest, plan, resume, BLAKE3 — is the LAN
//! protocol's (docs/protocol.md).

use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;

use hkdf::Hkdf;
use sha2::Sha256;

use super::commands::{blocking, conn, receive as run_receiver, StdConn};
use super::files::Existing;
use super::manifest::Offer;
use super::receiver::RecvJob;
use super::sender::{self, SendJob};
use super::wire::silence_limit;
use super::TransferError;
use crate::ctx::{Ctx, Interrupted};
use crate::output::Event;

/// The two directions' record keys.
pub struct SharedKeys {
    to_receiver: [u8; 32],
    to_sender: [u8; 32],
}

impl SharedKeys {
    /// Both directions' keys from `secret`, a key only the two sides hold (and that is
    /// used for nothing else).
    pub fn from_secret(secret: &[u8; 32]) -> SharedKeys {
        let hk = Hkdf::<Sha256>::new(None, secret);
        let expand = |label: &[u8]| {
            let mut out = [0u8; 32];
            hk.expand(label, &mut out)
                .expect("32 bytes is a valid HKDF length");
            out
        };
        SharedKeys {
            to_receiver: expand(b"sockit/1 keyed send->recv"),
            to_sender: expand(b"sockit/1 keyed recv->send"),
        }
    }
}

/// A tokio stream as the blocking one the sessions use, with the silence limit, and
/// the record layer on it, sealed from the first record: `send_key` for what this side
/// writes, `recv_key` for what it reads.
fn sealed(
    stream: tokio::net::TcpStream,
    send_key: &[u8; 32],
    recv_key: &[u8; 32],
) -> std::io::Result<(TcpStream, StdConn)> {
    let stream = blocking(stream)?;
    stream.set_read_timeout(Some(silence_limit()))?;
    stream.set_write_timeout(Some(silence_limit()))?;
    let mut conn = conn(&stream)?;
    conn.encrypt(send_key, recv_key);
    Ok((stream, conn))
}

/// Sends `offer` to the receiver at the other end of `stream`; returns the `done`
/// event. Ctrl-C closes the connection (the receiver keeps what arrived).
pub async fn send(
    stream: tokio::net::TcpStream,
    keys: &SharedKeys,
    offer: Arc<Offer>,
    ctx: &Ctx,
) -> anyhow::Result<Event> {
    let (stream, mut conn) = sealed(stream, &keys.to_receiver, &keys.to_sender)?;
    let job = SendJob {
        offer,
        out: ctx.out.clone(),
    };
    let mut session = tokio::task::spawn_blocking(move || sender::serve(&mut conn, &job));
    tokio::select! {
        joined = &mut session => Ok(joined??),
        _ = ctx.shutdown.cancelled() => {
            let _ = stream.shutdown(std::net::Shutdown::Both);
            let _ = session.await;
            Err(Interrupted("the receiver keeps what arrived: send again to resume".into()).into())
        }
    }
}

/// Receives into `root` from the sender at the other end of `stream`; returns the
/// `done` event. What arrived is kept after a failure or Ctrl-C, and the next transfer
/// of the same files resumes from it.
pub async fn receive(
    stream: tokio::net::TcpStream,
    keys: &SharedKeys,
    root: &Path,
    policy: Existing,
    ctx: &Ctx,
) -> anyhow::Result<Event> {
    let (stream, conn) = sealed(stream, &keys.to_sender, &keys.to_receiver)?;
    let job = RecvJob {
        root: root.to_owned(),
        policy,
        to_stdout: false,
        out: ctx.out.clone(),
    };
    let resume = "receive the same files again into the same folder (through a new \
                  wormhole) to resume";
    let received = run_receiver(conn, stream, job, resume, ctx).await;
    if let Err(e) = &received {
        // The connection broke (not a refusal, not Ctrl-C, which says it itself): the
        // way on is not the command run again, as on a LAN, but a new wormhole.
        if let Some(TransferError::Wire(_)) = e.downcast_ref::<TransferError>() {
            ctx.out.emit(&Event::warning(format!(
                "what arrived is kept (hidden, beside each file): {resume}"
            )));
        }
    }
    received
}
