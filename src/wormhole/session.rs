//! One wormhole between two clients: bind to the mailbox, allocate or claim the
//! nameplate, open the mailbox, exchange the PAKE and the versions, then sealed
//! application messages delivered in phase order (client-protocol.md).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::code::WormholeCode;
use super::key::{self, Key, Pake};
use super::mailbox::{FromServer, Mailbox, RESPONSE_TIMEOUT};
use super::WormholeError;

/// Messages from the peer kept until they can be read: sealed ones that came before
/// the key, and numbered ones ahead of the next expected phase (the mailbox may
/// reorder). A peer needs a few; more is a flood.
pub const MAX_PENDING: usize = 32;

/// The longest wait for the server's `closed` when closing.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How the session ended, for the server's statistics (server-protocol.md, "moods").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mood {
    /// The key worked and the peer's messages decrypted.
    Happy,
    /// No peer came.
    Lonely,
    /// A message did not decrypt: a wrong code, or a guess.
    Scary,
    /// Anything else.
    Errory,
}

impl Mood {
    fn as_str(self) -> &'static str {
        match self {
            Mood::Happy => "happy",
            Mood::Lonely => "lonely",
            Mood::Scary => "scary",
            Mood::Errory => "errory",
        }
    }
}

/// Connected and bound to the server, before the code is known.
pub struct Bound {
    mailbox: Mailbox,
    side: String,
    /// The server's message of the day, to show the user.
    pub motd: Option<String>,
}

impl Bound {
    /// Connects to the mailbox server at `url`, waits for its welcome and binds to
    /// `appid` with a fresh random side.
    pub async fn connect(url: &str, appid: &str) -> Result<Bound, WormholeError> {
        let mut mailbox = Mailbox::connect(url).await?;
        let motd = loop {
            match mailbox.next(RESPONSE_TIMEOUT).await? {
                FromServer::Welcome { error: Some(e), .. } => {
                    return Err(WormholeError::Server(e));
                }
                FromServer::Welcome { motd, .. } => break motd,
                FromServer::Error { error } => return Err(WormholeError::Server(error)),
                _ => continue,
            }
        };
        // Five random bytes, as the Python client's sides are: they only tell the two
        // clients' messages apart.
        let side = hex::encode(rand::random::<[u8; 5]>());
        let version = json!(["rust-sockit", env!("CARGO_PKG_VERSION")]);
        mailbox
            .send(
                "bind",
                json!({"appid": appid, "side": side, "client_version": version}),
            )
            .await?;
        Ok(Bound {
            mailbox,
            side,
            motd,
        })
    }

    /// Asks the server for a free nameplate.
    pub async fn allocate(&mut self) -> Result<String, WormholeError> {
        self.mailbox.send("allocate", json!({})).await?;
        loop {
            match self.mailbox.next(RESPONSE_TIMEOUT).await? {
                FromServer::Allocated { nameplate } => return Ok(nameplate),
                FromServer::Error { error } => return Err(WormholeError::Server(error)),
                _ => continue,
            }
        }
    }

    /// Claims the code's nameplate, opens its mailbox and runs the PAKE and the version
    /// exchange with whoever has the same code, waiting for them at most `wait`.
    ///
    /// Once the nameplate is claimed, `stop` ends the wait politely: the nameplate is
    /// released and the mailbox closed (mood `lonely`) before `Cancelled` is returned.
    pub async fn join(
        mut self,
        code: &WormholeCode,
        appid: &str,
        versions: Value,
        wait: Duration,
        stop: &CancellationToken,
    ) -> Result<Wormhole, WormholeError> {
        let nameplate = code.nameplate().to_owned();
        self.mailbox
            .send("claim", json!({"nameplate": nameplate}))
            .await?;
        let mailbox_id = loop {
            match self.mailbox.next(RESPONSE_TIMEOUT).await? {
                FromServer::Claimed { mailbox } => break mailbox,
                FromServer::Error { error } => return Err(WormholeError::Server(error)),
                _ => continue,
            }
        };
        self.mailbox
            .send("open", json!({"mailbox": mailbox_id}))
            .await?;
        let (pake, msg) = Pake::start(code.password(), appid);
        let body = json!({"pake_v1": hex::encode(msg)}).to_string();
        self.add("pake", body.as_bytes()).await?;
        let mut w = Wormhole {
            mailbox: self.mailbox,
            side: self.side,
            peer: String::new(),
            key: [0; 32],
            nameplate: Some(nameplate),
            mailbox_id,
            next_out: 0,
            next_in: 0,
            pending: BTreeMap::new(),
            peer_versions: Value::Null,
        };
        let handshake = tokio::select! {
            done = w.handshake(pake, versions, wait) => done,
            _ = stop.cancelled() => Err(WormholeError::Cancelled),
        };
        match handshake {
            Ok(()) => Ok(w),
            Err(e) => {
                w.close(e.mood()).await;
                Err(e)
            }
        }
    }

    async fn add(&mut self, phase: &str, body: &[u8]) -> Result<(), WormholeError> {
        add(&mut self.mailbox, phase, body).await
    }
}

async fn add(mailbox: &mut Mailbox, phase: &str, body: &[u8]) -> Result<(), WormholeError> {
    mailbox
        .send("add", json!({"phase": phase, "body": hex::encode(body)}))
        .await
}

/// An open wormhole: both sides hold the same key.
pub struct Wormhole {
    mailbox: Mailbox,
    side: String,
    /// The peer's side (known from its first message).
    peer: String,
    key: Key,
    /// The nameplate while this side still holds it.
    nameplate: Option<String>,
    mailbox_id: String,
    next_out: u64,
    next_in: u64,
    /// Sealed numbered messages from the peer, by phase.
    pending: BTreeMap<u64, Vec<u8>>,
    /// What the peer said about itself in its `version` message.
    pub peer_versions: Value,
}

impl Wormhole {
    /// PAKE, then versions: done once the peer's version decrypts.
    async fn handshake(
        &mut self,
        pake: Pake,
        versions: Value,
        wait: Duration,
    ) -> Result<(), WormholeError> {
        let deadline = Instant::now() + wait;
        let mut pake = Some(pake);
        let mut their_version: Option<Vec<u8>> = None;
        loop {
            let (phase, body) = self.next_from_peer(deadline).await?;
            match phase.as_str() {
                "pake" => {
                    let Some(pake) = pake.take() else {
                        continue; // a duplicate
                    };
                    self.key = finish_pake(pake, &body)?;
                    // The peer has found the mailbox: the nameplate can go to others.
                    self.release().await?;
                    let ours = key::phase_key(&self.key, &self.side, "version");
                    let sealed = key::seal(&ours, versions.to_string().as_bytes());
                    add(&mut self.mailbox, "version", &sealed).await?;
                }
                "version" => their_version = Some(body),
                _ => self.keep(&phase, body)?,
            }
            if let (None, Some(sealed)) = (&pake, &their_version) {
                let theirs = key::phase_key(&self.key, &self.peer, "version");
                let plain = key::open(&theirs, sealed).map_err(|_| WormholeError::WrongCode)?;
                self.peer_versions = serde_json::from_slice(&plain)
                    .ok()
                    .filter(Value::is_object)
                    .ok_or_else(|| {
                        WormholeError::Peer("its version is not a JSON object".into())
                    })?;
                return Ok(());
            }
        }
    }

    /// The next message from the peer (its side fixed by the first one), skipping our
    /// own echoes, within `deadline`.
    async fn next_from_peer(
        &mut self,
        deadline: Instant,
    ) -> Result<(String, Vec<u8>), WormholeError> {
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            match self.mailbox.next(wait).await? {
                FromServer::Message { side, phase, body } => {
                    if side == self.side {
                        continue;
                    }
                    if self.peer.is_empty() {
                        self.peer = side;
                    } else if side != self.peer {
                        // A third side: the server should have refused it as crowded.
                        continue;
                    }
                    return Ok((phase, body));
                }
                FromServer::Error { error } => return Err(WormholeError::Server(error)),
                FromServer::Closed => return Err(WormholeError::Lost),
                _ => continue,
            }
        }
    }

    /// Keeps a numbered message for later (out of order, or before the key); other
    /// phases are ignored, as the protocol says.
    fn keep(&mut self, phase: &str, body: Vec<u8>) -> Result<(), WormholeError> {
        let Some(n) = numbered(phase) else {
            return Ok(());
        };
        if n < self.next_in || self.pending.contains_key(&n) {
            return Ok(()); // a duplicate
        }
        if self.pending.len() >= MAX_PENDING {
            return Err(WormholeError::Peer(format!(
                "more than {MAX_PENDING} messages ahead of the one expected"
            )));
        }
        self.pending.insert(n, body);
        Ok(())
    }

    async fn release(&mut self) -> Result<(), WormholeError> {
        if let Some(nameplate) = self.nameplate.take() {
            self.mailbox
                .send("release", json!({"nameplate": nameplate}))
                .await?;
        }
        Ok(())
    }

    /// The verifier both sides can compare.
    pub fn verifier(&self) -> String {
        hex::encode(key::verifier(&self.key))
    }

    /// A subkey of the session key for `purpose` (the transit key).
    pub fn derive(&self, purpose: &str) -> Key {
        key::derive(&self.key, purpose.as_bytes())
    }

    /// Seals and sends one application message, in the next phase.
    pub async fn send_json(&mut self, message: &Value) -> Result<(), WormholeError> {
        let phase = self.next_out.to_string();
        self.next_out += 1;
        let sealed = key::seal(
            &key::phase_key(&self.key, &self.side, &phase),
            message.to_string().as_bytes(),
        );
        add(&mut self.mailbox, &phase, &sealed).await
    }

    /// The peer's next application message (a JSON object), within `wait`.
    pub async fn recv_json(&mut self, wait: Duration) -> Result<Value, WormholeError> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(sealed) = self.pending.remove(&self.next_in) {
                let phase = self.next_in.to_string();
                self.next_in += 1;
                let theirs = key::phase_key(&self.key, &self.peer, &phase);
                let plain = key::open(&theirs, &sealed)
                    .map_err(|_| WormholeError::Tampered(format!("phase {phase}")))?;
                return serde_json::from_slice(&plain)
                    .ok()
                    .filter(Value::is_object)
                    .ok_or_else(|| {
                        WormholeError::Peer(format!("message {phase} is not a JSON object"))
                    });
            }
            let (phase, body) = self.next_from_peer(deadline).await?;
            self.keep(&phase, body)?;
        }
    }

    /// Releases the nameplate if still held, closes the mailbox with `mood` and waits
    /// briefly for the server's `closed`. Errors are ignored: the session is over.
    pub async fn close(mut self, mood: Mood) {
        let _ = self.release().await;
        let sent = self
            .mailbox
            .send(
                "close",
                json!({"mailbox": self.mailbox_id, "mood": mood.as_str()}),
            )
            .await;
        if sent.is_ok() {
            let deadline = Instant::now() + CLOSE_TIMEOUT;
            for _ in 0..MAX_PENDING {
                let wait = deadline.saturating_duration_since(Instant::now());
                match self.mailbox.next(wait).await {
                    Ok(FromServer::Closed) | Err(_) => break,
                    Ok(_) => continue,
                }
            }
        }
        self.mailbox.shut().await;
    }
}

fn finish_pake(pake: Pake, body: &[u8]) -> Result<Key, WormholeError> {
    let msg: Value = serde_json::from_slice(body)
        .map_err(|_| WormholeError::Peer("its PAKE message is not JSON".into()))?;
    let theirs = msg
        .get("pake_v1")
        .and_then(Value::as_str)
        .and_then(|h| hex::decode(h).ok())
        .ok_or_else(|| WormholeError::Peer("its PAKE message has no pake_v1".into()))?;
    pake.finish(&theirs)
        .map_err(|e| WormholeError::Peer(e.to_string()))
}

/// The number of an application phase (`^\d+$`, at most 18 digits so it fits).
fn numbered(phase: &str) -> Option<u64> {
    if phase.is_empty() || phase.len() > 18 || !phase.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    phase.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_phases_are_numbers() {
        assert_eq!(numbered("0"), Some(0));
        assert_eq!(numbered("17"), Some(17));
        for other in [
            "",
            "pake",
            "version",
            "-1",
            "+1",
            "1e3",
            "9999999999999999999",
        ] {
            assert_eq!(numbered(other), None, "{other}");
        }
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod flow_tests;
