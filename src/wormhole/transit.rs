//! Transit (transit.md): one TCP connection between the two sides, found by racing
//! every way there is — the peer connecting to our listener, us connecting to each of
//! its direct hints, and, a little later, both connecting to a relay — and keeping the
//! first that completes the handshake. The sender decides which wins (`go`).

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::hints::{self, Hint, PeerHints};
use super::key::{self, Key};
use super::record::{RecordReader, RecordWriter};
use crate::net::addr::Endpoint;

/// How long the relay waits behind the direct hints when there are some: direct
/// connections are faster and cost the relay's operator nothing (the Python client
/// waits the same).
pub const RELAY_DELAY: Duration = Duration::from_secs(2);

/// The longest wait for any connection to complete its handshake.
pub const TRANSIT_TIMEOUT: Duration = Duration::from_secs(120);

/// The longest one connection attempt (TCP, relay and transit handshakes) may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// The most connections accepted on our listener while racing: anyone may connect
/// to a hint; the handshake sends strangers away, and this bounds how many try.
pub const MAX_INBOUND: usize = 32;

/// The reading buffer under the records: one `read` takes many records (the Python
/// client's are 16 KiB), instead of two per record.
const READ_BUF: usize = 256 << 10;

/// Which end of the transfer this side is: the sender leads the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Sender,
    Receiver,
}

/// How the connection was made, for the `transit` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Path {
    Direct(SocketAddr),
    Relay(String),
}

/// The encrypted record pipe over the winning connection.
pub struct Connection {
    pub reader: RecordReader<BufReader<tokio::net::tcp::OwnedReadHalf>>,
    pub writer: RecordWriter<tokio::net::tcp::OwnedWriteHalf>,
    pub path: Path,
}

/// Why no connection was made.
#[derive(Debug, thiserror::Error)]
pub enum TransitError {
    /// Every way failed, or `TRANSIT_TIMEOUT` passed.
    #[error("no transit connection could be made ({tried})")]
    Failed { tried: String },
    #[error("transit listener on {addr}: {io}")]
    Listen { addr: String, io: std::io::Error },
}

/// This side's transit before connecting: its listener (unless relay-only) and relay.
pub struct Transit {
    /// `None`: relay only (no listener, no direct connections either way).
    listener: Option<TcpListener>,
    direct: Vec<SocketAddr>,
    relay: Option<Hint>,
    /// Eight random bytes in hex: tells the relay our two sides apart.
    side: String,
}

impl Transit {
    /// Listens on `bind`; `None` is relay only: no listener, and the peer's direct
    /// hints are not tried either. `relay` is ours, `HOST:PORT`.
    pub async fn new(bind: Option<&Endpoint>, relay: &str) -> Result<Transit, TransitError> {
        let (listener, direct) = match bind {
            Some(bind) => {
                let addr = match bind.host {
                    Some(_) => bind.to_string(),
                    None => format!("0.0.0.0:{}", bind.port),
                };
                let listener =
                    TcpListener::bind(&addr)
                        .await
                        .map_err(|io| TransitError::Listen {
                            addr: addr.clone(),
                            io,
                        })?;
                let local = listener
                    .local_addr()
                    .map_err(|io| TransitError::Listen { addr, io })?;
                (Some(listener), direct_hints(local))
            }
            None => (None, Vec::new()),
        };
        Ok(Transit {
            listener,
            direct,
            relay: Hint::parse(relay),
            side: hex::encode(rand::random::<[u8; 8]>()),
        })
    }

    /// The value of our `transit` message.
    pub fn message(&self) -> Value {
        hints::ours(&self.direct, self.relay.as_ref())
    }

    /// Races every way to the peer; the first connection through the handshake wins.
    /// The bytes after it are the file transfer's records.
    pub async fn connect(
        self,
        transit_key: &Key,
        role: Role,
        peer: &PeerHints,
    ) -> Result<Connection, TransitError> {
        let (stream, path) = self.link(transit_key, role, peer).await?;
        let (read, write) = stream.into_split();
        let (send_key, recv_key) = Handshakes::new(transit_key, role, "").record_keys();
        Ok(Connection {
            reader: RecordReader::new(BufReader::with_capacity(READ_BUF, read), &recv_key),
            writer: RecordWriter::new(write, &send_key),
            path,
        })
    }

    /// Races every way to the peer, as `connect` does, and gives the winning
    /// connection as it is past the handshake, for a protocol of the caller's.
    pub async fn link(
        self,
        transit_key: &Key,
        role: Role,
        peer: &PeerHints,
    ) -> Result<(TcpStream, Path), TransitError> {
        let hs = Handshakes::new(transit_key, role, &self.side);
        let (tx, mut rx) = mpsc::channel::<Attempt>(MAX_INBOUND);
        let mut tasks = JoinSet::new();
        let direct: &[Hint] = match self.listener {
            Some(listener) => {
                tasks.spawn(accept(listener, hs.clone(), tx.clone()));
                &peer.direct
            }
            None => &[],
        };
        for hint in direct {
            let (hs, tx, hint) = (hs.clone(), tx.clone(), hint.clone());
            tasks.spawn(async move {
                let _ = tx.send(attempt(&hs, &hint, false).await).await;
            });
        }
        let delay = if direct.is_empty() {
            Duration::ZERO
        } else {
            RELAY_DELAY
        };
        let mut relays: Vec<Hint> = self.relay.into_iter().collect();
        for r in &peer.relays {
            if !relays.contains(r) {
                relays.push(r.clone());
            }
        }
        for relay in relays {
            let (hs, tx) = (hs.clone(), tx.clone());
            tasks.spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = tx.send(attempt(&hs, &relay, true).await).await;
            });
        }
        drop(tx);
        let mut failures = Vec::new();
        let deadline = tokio::time::Instant::now() + TRANSIT_TIMEOUT;
        loop {
            let next = tokio::time::timeout_at(deadline, rx.recv()).await;
            let (stream, path) = match next {
                Ok(Some(Ok(won))) => won,
                Ok(Some(Err(why))) => {
                    if failures.len() < 8 {
                        failures.push(why);
                    }
                    continue;
                }
                Ok(None) | Err(_) => {
                    let waited = match next {
                        Err(_) => format!("waited {} s", TRANSIT_TIMEOUT.as_secs()),
                        Ok(_) => "no other way left".to_owned(),
                    };
                    failures.push(waited);
                    return Err(TransitError::Failed {
                        tried: failures.join("; "),
                    });
                }
            };
            // The sender chose this one; the others are dropped (closed) with the tasks.
            let mut stream = stream;
            if role == Role::Sender && stream.write_all(b"go\n").await.is_err() {
                failures.push("the winning connection closed before `go`".into());
                continue;
            }
            tasks.abort_all();
            let _ = stream.set_nodelay(true);
            return Ok((stream, path));
        }
    }
}

/// What one attempt gives: a connection past the handshake, or why not.
type Attempt = Result<(TcpStream, Path), String>;

/// The addresses to offer for a listener on `local`: itself when bound to one
/// address; for a wildcard, every interface's address but loopback (unless there is
/// no other), as the other clients offer.
fn direct_hints(local: SocketAddr) -> Vec<SocketAddr> {
    let all = crate::net::lan::reachable(local);
    let outside: Vec<SocketAddr> = all
        .iter()
        .copied()
        .filter(|a| !a.ip().is_loopback())
        .collect();
    if outside.is_empty() {
        all
    } else {
        outside
    }
}

/// The handshake strings of one transfer, from the transit key.
#[derive(Clone)]
struct Handshakes {
    role: Role,
    key: Key,
    /// What we write, and what we must read, once connected to the peer.
    ours: Vec<u8>,
    theirs: Vec<u8>,
    relay: Vec<u8>,
}

impl Handshakes {
    fn new(transit_key: &Key, role: Role, side: &str) -> Handshakes {
        let line = |who: &str| {
            let id = key::derive(transit_key, format!("transit_{who}").as_bytes());
            format!("transit {who} {} ready\n\n", hex::encode(id)).into_bytes()
        };
        let (sender, receiver) = (line("sender"), line("receiver"));
        let token = key::derive(transit_key, b"transit_relay_token");
        let relay = format!("please relay {} for side {side}\n", hex::encode(token));
        let (ours, theirs) = match role {
            Role::Sender => (sender, receiver),
            Role::Receiver => (receiver, sender),
        };
        Handshakes {
            role,
            key: *transit_key,
            ours,
            theirs,
            relay: relay.into_bytes(),
        }
    }

    /// (the key we seal with, the key we open with).
    fn record_keys(&self) -> (Key, Key) {
        let sender = key::derive(&self.key, b"transit_record_sender_key");
        let receiver = key::derive(&self.key, b"transit_record_receiver_key");
        match self.role {
            Role::Sender => (sender, receiver),
            Role::Receiver => (receiver, sender),
        }
    }

    /// Both sides write their line, then read the other's; the receiver then waits for
    /// the sender's `go` (anything else, or a close, means another connection won).
    async fn run(&self, stream: &mut TcpStream) -> Result<(), String> {
        stream
            .write_all(&self.ours)
            .await
            .map_err(|e| e.to_string())?;
        expect(stream, &self.theirs, "the peer's transit handshake").await?;
        if self.role == Role::Receiver {
            expect(stream, b"go\n", "`go`").await?;
        }
        Ok(())
    }
}

/// Reads exactly `want.len()` bytes and checks they are `want`.
async fn expect(stream: &mut TcpStream, want: &[u8], what: &str) -> Result<(), String> {
    let mut got = vec![0u8; want.len()];
    stream
        .read_exact(&mut got)
        .await
        .map_err(|e| format!("waiting for {what}: {e}"))?;
    if got != want {
        return Err(format!("not {what}"));
    }
    Ok(())
}

/// Connects to `hint` (through it, if it is a relay) and runs the handshake.
async fn attempt(hs: &Handshakes, hint: &Hint, relay: bool) -> Attempt {
    let run = async {
        let mut stream = TcpStream::connect(hint.addr())
            .await
            .map_err(|e| e.to_string())?;
        if relay {
            stream
                .write_all(&hs.relay)
                .await
                .map_err(|e| e.to_string())?;
            expect(&mut stream, b"ok\n", "the relay's `ok`").await?;
        }
        hs.run(&mut stream).await?;
        let path = if relay {
            Path::Relay(hint.addr())
        } else {
            Path::Direct(stream.peer_addr().map_err(|e| e.to_string())?)
        };
        Ok((stream, path))
    };
    tokio::time::timeout(ATTEMPT_TIMEOUT, run)
        .await
        .unwrap_or_else(|_| Err("timed out".into()))
        .map_err(|e: String| format!("{}{}: {e}", if relay { "relay " } else { "" }, hint.addr()))
}

/// Accepts connections to our hints and runs the handshake on each (at most
/// `MAX_INBOUND`), reporting every outcome.
async fn accept(listener: TcpListener, hs: Handshakes, tx: mpsc::Sender<Attempt>) {
    let mut handshakes = JoinSet::new();
    for _ in 0..MAX_INBOUND {
        let Ok((mut stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let (hs, tx) = (hs.clone(), tx.clone());
        handshakes.spawn(async move {
            let run = tokio::time::timeout(ATTEMPT_TIMEOUT, hs.run(&mut stream));
            let outcome = match run.await {
                Ok(Ok(())) => Ok((stream, Path::Direct(peer))),
                Ok(Err(e)) => Err(format!("from {peer}: {e}")),
                Err(_) => Err(format!("from {peer}: timed out")),
            };
            let _ = tx.send(outcome).await;
        });
    }
    // Keep the handshakes under way running until the race is decided.
    while handshakes.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The handshake lines and record keys of the Python client's functions
    /// (src/wormhole/testdata/vectors.py), for its transit key.
    #[test]
    fn handshakes_match_the_python_client() {
        let transit: Key =
            hex::decode("9329a646acaba7172c557c7971191ec6a1e287f84abe58c60dce2659c44c2925")
                .unwrap()
                .try_into()
                .unwrap();
        let hs = Handshakes::new(&transit, Role::Sender, "0011223344556677");
        assert_eq!(
            hs.ours,
            b"transit sender 6fa5ad1bb11461d5165ff989e5ce9bf1c2d464385caf06870527e62fc0643f4c ready\n\n"
        );
        assert_eq!(
            hs.theirs,
            b"transit receiver 0b5d03da4672ec8428bd2485e126faf13ef3ffb278196ddc2f95d96d3d82c1fd ready\n\n"
        );
        assert_eq!(
            hs.relay,
            b"please relay ecd85f320731169f5768239a248b8b0f3e7834f1c05937a5939b13d6bfa933e1 for side 0011223344556677\n"
        );
        let (send, recv) = hs.record_keys();
        assert_eq!(
            hex::encode(send),
            "4860c8f20d819f7caff59f3e9c6c90c7d70405c6e1247fc6eebb6686768b0d75"
        );
        assert_eq!(
            hex::encode(recv),
            "31b1d3d847b354590e5db2d5f1fa0c018f175e569925258ecaeb456b3ce7de39"
        );
        let receiver = Handshakes::new(&transit, Role::Receiver, "0011223344556677");
        assert_eq!(receiver.record_keys(), (recv, send));
        assert_eq!((receiver.ours, receiver.theirs), (hs.theirs, hs.ours));
    }

    /// Two sides on loopback, each offering its listener: they meet directly, and a
    /// record goes each way.
    #[tokio::test]
    async fn two_sides_meet_directly_and_exchange_records() {
        let bind: Endpoint = "127.0.0.1:0".parse().unwrap();
        let key: Key = [7; 32];
        let a = Transit::new(Some(&bind), "127.0.0.1:9").await.unwrap();
        let b = Transit::new(Some(&bind), "127.0.0.1:9").await.unwrap();
        let a_hints = PeerHints::parse(&a.message());
        let sender =
            tokio::spawn(async move { a.connect(&key, Role::Sender, &PeerHints::default()).await });
        let mut rx = b.connect(&key, Role::Receiver, &a_hints).await.unwrap();
        let mut tx = sender.await.unwrap().unwrap();
        assert!(matches!(rx.path, Path::Direct(_)));
        tx.writer.send(b"to the receiver").await.unwrap();
        assert_eq!(rx.reader.recv().await.unwrap(), b"to the receiver");
        rx.writer.send(b"ack").await.unwrap();
        assert_eq!(tx.reader.recv().await.unwrap(), b"ack");
    }
}
