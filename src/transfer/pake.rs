//! The handshake: SPAKE2 over the code, key confirmation, and the session keys.
//!
//! Neither side learns anything that lets it test a second guess of the code offline:
//! each connection is worth one online guess, which the sender rate-limits.

use std::io::{Read, Write};

use base64::Engine as _;
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use spake2::{Ed25519Group, Identity, Password, Spake2};
use subtle::ConstantTimeEq;

use super::code::Code;
use super::wire::{unexpected, Conn, Msg, Role, WireError, VERSION};

/// The `app` every hello carries.
pub const APP: &str = "sockit";
/// The sender's answer to a receiver whose code does not match.
pub const WRONG_CODE: &str = "wrong code";

#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("wrong code")]
    WrongCode,
    #[error(
        "the other side's confirmation does not match: it is not the sender this code belongs to"
    )]
    BadConfirmation,
    #[error("{0}")]
    Incompatible(String),
    /// The peer's first bytes are not a sockit hello: it is another program, or a
    /// sockit speaking `--raw`.
    #[error("{0}")]
    NotSockit(String),
    #[error("the handshake did not finish within {0} s")]
    TimedOut(f64),
    #[error("{0} handshakes were already waiting: the oldest gave way to a newer connection")]
    GaveWay(usize),
    #[error(transparent)]
    Wire(#[from] WireError),
}

/// What a successful handshake gives both sides.
pub struct Session {
    /// Whether records are now sealed.
    pub encrypted: bool,
    /// A few words both sides can compare out of band (`-v`).
    pub verify: String,
}

/// Derived secrets, each from its own HKDF label.
struct Secrets {
    confirm_recv: [u8; 32],
    confirm_send: [u8; 32],
    key_to_recv: [u8; 32],
    key_to_send: [u8; 32],
    verify: [u8; 4],
}

fn derive(shared: &[u8], recv_msg: &[u8], send_msg: &[u8], encrypt: bool) -> Secrets {
    // The salt binds the keys to this exchange: both PAKE messages and the mode.
    let mut transcript = Sha256::new();
    transcript.update(b"sockit/1 transcript");
    for part in [recv_msg, send_msg] {
        transcript.update((part.len() as u32).to_be_bytes());
        transcript.update(part);
    }
    transcript.update([u8::from(encrypt)]);
    let salt = transcript.finalize();
    let hk = Hkdf::<Sha256>::new(Some(&salt), shared);
    let expand = |label: &str| {
        let mut out = [0u8; 32];
        hk.expand(label.as_bytes(), &mut out)
            .expect("32 bytes is a valid HKDF length");
        out
    };
    let verify = expand("sockit/1 verify");
    Secrets {
        confirm_recv: expand("sockit/1 confirm recv"),
        confirm_send: expand("sockit/1 confirm send"),
        key_to_recv: expand("sockit/1 key send->recv"),
        key_to_send: expand("sockit/1 key recv->send"),
        verify: verify[..4].try_into().expect("4 bytes"),
    }
}

fn spake(code: &Code, role: Role) -> (Spake2<Ed25519Group>, Vec<u8>) {
    let password = Password::new(code.password().as_bytes());
    let (a, b) = (Identity::new(b"sockit-send"), Identity::new(b"sockit-recv"));
    match role {
        Role::Send => Spake2::<Ed25519Group>::start_a(&password, &a, &b),
        Role::Recv => Spake2::<Ed25519Group>::start_b(&password, &a, &b),
    }
}

fn hello(role: Role, pake: &[u8], encrypt: bool) -> Msg {
    Msg::Hello {
        app: APP.into(),
        version: VERSION,
        role,
        pake: base64::engine::general_purpose::STANDARD.encode(pake),
        encrypt,
    }
}

/// Checks the peer's hello and returns its PAKE message and mode.
fn read_hello(msg: Result<Msg, WireError>, want: Role) -> Result<(Vec<u8>, bool), HandshakeError> {
    let msg = msg?;
    let Msg::Hello {
        app,
        version,
        role,
        pake,
        encrypt,
    } = msg
    else {
        return Err(unexpected("hello", &msg).into());
    };
    if app != APP || role != want {
        return Err(HandshakeError::Incompatible(format!(
            "the peer is not a sockit {want:?} side"
        )));
    }
    if version != VERSION {
        return Err(HandshakeError::Incompatible(format!(
            "the peer speaks transfer protocol version {version}, this sockit speaks {VERSION}"
        )));
    }
    let pake = base64::engine::general_purpose::STANDARD
        .decode(pake)
        .map_err(|_| WireError::Malformed("hello.pake is not base64".into()))?;
    Ok((pake, encrypt))
}

/// A first message that is no sockit frame at all (raw bytes read as a length, JSON
/// that is not ours, or a close before any hello) becomes `NotSockit(why)`, with the
/// first bytes shown when they are text: `frame of 1751477356 bytes` is "hell…".
fn not_sockit(e: HandshakeError, why: &str) -> HandshakeError {
    let began = match &e {
        HandshakeError::Wire(WireError::TooLarge { header, .. }) => {
            let text = header.iter().all(|b| b.is_ascii_graphic() || *b == b' ');
            text.then(|| format!(" (it began with {:?})", String::from_utf8_lossy(header)))
        }
        _ => None,
    };
    match e {
        HandshakeError::Wire(
            WireError::TooLarge { .. }
            | WireError::Malformed(_)
            | WireError::Closed
            | WireError::Truncated
            | WireError::Unexpected { .. },
        ) => HandshakeError::NotSockit(format!("{why}{}", began.unwrap_or_default())),
        other => other,
    }
}

fn read_confirm(msg: Result<Msg, WireError>) -> Result<Vec<u8>, HandshakeError> {
    match msg {
        Ok(Msg::Confirm { mac }) => hex::decode(mac)
            .map_err(|_| WireError::Malformed("confirm.mac is not hex".into()).into()),
        Ok(other) => Err(unexpected("confirm", &other).into()),
        Err(WireError::Peer(m)) if m == WRONG_CODE => Err(HandshakeError::WrongCode),
        Err(e) => Err(e.into()),
    }
}

/// The sender's half: sends its hello, checks the receiver's, and sends nothing more
/// until the receiver has proved it knows the code. What the sender must tell the
/// receiver when it refuses (a wrong code, a mode mismatch) is said before returning.
pub fn as_sender<R: Read, W: Write>(
    conn: &mut Conn<R, W>,
    code: &Code,
    encrypt: bool,
) -> Result<Session, HandshakeError> {
    let tell = |conn: &mut Conn<R, W>, e: HandshakeError| {
        if let Some(why) = e.for_peer() {
            conn.send_error(&why);
        }
        e
    };
    let (steps, hello) = SenderSteps::start(code, encrypt);
    conn.send(&hello)?;
    conn.flush()?;
    let confirm = match steps.on_hello(conn.recv_msg()) {
        Ok(confirm) => confirm,
        Err(e) => return Err(tell(conn, e)),
    };
    let confirmed = match confirm.on_confirm(conn.recv_msg()) {
        Ok(confirmed) => confirmed,
        Err(e) => return Err(tell(conn, e)),
    };
    conn.send(&confirmed.reply)?;
    conn.flush()?;
    Ok(confirmed.apply(conn))
}

/// The sender's half as steps, for a caller that does its own reading and writing
/// (the async gate in `gate.rs`): `start` gives the hello to send first, `on_hello`
/// takes the receiver's, and `on_confirm` tests its proof of the code — the one step
/// that is a guess, which the caller rate-limits.
pub struct SenderSteps {
    state: Spake2<Ed25519Group>,
    ours: Vec<u8>,
    encrypt: bool,
}

/// A sender that has the receiver's hello and waits for its proof of the code.
pub struct AwaitingConfirm {
    secrets: Secrets,
    encrypt: bool,
}

/// A receiver that proved the code: `reply` is the sender's proof to send back, and
/// `apply` turns the connection's encryption on.
pub struct Confirmed {
    pub reply: Msg,
    secrets: Secrets,
    encrypt: bool,
}

impl SenderSteps {
    pub fn start(code: &Code, encrypt: bool) -> (SenderSteps, Msg) {
        // The sender speaks first (its PAKE message does not depend on the receiver's),
        // so a client that reads without writing (`recv --raw`, nc) sees what this is
        // at once.
        let (state, ours) = spake(code, Role::Send);
        let hello = hello(Role::Send, &ours, encrypt);
        (
            SenderSteps {
                state,
                ours,
                encrypt,
            },
            hello,
        )
    }

    /// `msg` is the receiver's first message (or why none could be read).
    pub fn on_hello(self, msg: Result<Msg, WireError>) -> Result<AwaitingConfirm, HandshakeError> {
        let (theirs, their_encrypt) = read_hello(msg, Role::Recv).map_err(|e| {
            not_sockit(
                e,
                "the client did not start with sockit's hello: not a `sockit recv` \
                 (`recv --raw`, nc or a browser?)",
            )
        })?;
        let encrypt = self.encrypt;
        if their_encrypt != encrypt {
            return Err(HandshakeError::Incompatible(if encrypt {
                "the receiver asked for --plain but this sender encrypts; use --plain on both sides or neither".into()
            } else {
                "this sender uses --plain but the receiver encrypts; use --plain on both sides or neither".into()
            }));
        }
        let shared = self
            .state
            .finish(&theirs)
            .map_err(|_| WireError::Malformed("the receiver's PAKE message is invalid".into()))?;
        Ok(AwaitingConfirm {
            secrets: derive(&shared, &theirs, &self.ours, encrypt),
            encrypt,
        })
    }
}

impl AwaitingConfirm {
    /// `msg` is the receiver's second message: its proof of the code.
    pub fn on_confirm(self, msg: Result<Msg, WireError>) -> Result<Confirmed, HandshakeError> {
        let mac = read_confirm(msg)?;
        if !bool::from(mac.ct_eq(&self.secrets.confirm_recv)) {
            return Err(HandshakeError::WrongCode);
        }
        Ok(Confirmed {
            reply: Msg::Confirm {
                mac: hex::encode(self.secrets.confirm_send),
            },
            secrets: self.secrets,
            encrypt: self.encrypt,
        })
    }
}

impl Confirmed {
    /// Seals `conn`'s records from now on (unless `--plain`).
    pub fn apply<R: Read, W: Write>(self, conn: &mut Conn<R, W>) -> Session {
        finish(conn, &self.secrets, Role::Send, self.encrypt)
    }
}

impl HandshakeError {
    /// What a sender refusing with this error tells the receiver, if anything.
    pub fn for_peer(&self) -> Option<String> {
        match self {
            HandshakeError::WrongCode => Some(WRONG_CODE.into()),
            HandshakeError::Incompatible(why) => Some(why.clone()),
            _ => None,
        }
    }
}

/// The receiver's half: speaks first, proves the code, then checks the sender's proof.
pub fn as_receiver<R: Read, W: Write>(
    conn: &mut Conn<R, W>,
    code: &Code,
    encrypt: bool,
) -> Result<Session, HandshakeError> {
    let (state, ours) = spake(code, Role::Recv);
    conn.send(&hello(Role::Recv, &ours, encrypt))?;
    conn.flush()?;
    let (theirs, their_encrypt) = read_hello(conn.recv_msg(), Role::Send).map_err(|e| {
        not_sockit(
            e,
            "the sender did not answer with sockit's hello: it is not a `sockit send` \
             (`send --raw`, nc or the notes' server?); to take its raw bytes, run \
             `sockit recv --raw HOST:PORT`",
        )
    })?;
    if their_encrypt != encrypt {
        return Err(HandshakeError::Incompatible(if encrypt {
            "this sender uses --plain but this receiver encrypts; use --plain on both sides or neither".into()
        } else {
            "this receiver asked for --plain but the sender encrypts; use --plain on both sides or neither".into()
        }));
    }
    let shared = state
        .finish(&theirs)
        .map_err(|_| WireError::Malformed("the sender's PAKE message is invalid".into()))?;
    let s = derive(&shared, &ours, &theirs, encrypt);
    conn.send(&Msg::Confirm {
        mac: hex::encode(s.confirm_recv),
    })?;
    conn.flush()?;
    let mac = read_confirm(conn.recv_msg())?;
    if !bool::from(mac.ct_eq(&s.confirm_send)) {
        return Err(HandshakeError::BadConfirmation);
    }
    Ok(finish(conn, &s, Role::Recv, encrypt))
}

fn finish<R: Read, W: Write>(
    conn: &mut Conn<R, W>,
    s: &Secrets,
    role: Role,
    encrypt: bool,
) -> Session {
    if encrypt {
        match role {
            Role::Send => conn.encrypt(&s.key_to_recv, &s.key_to_send),
            Role::Recv => conn.encrypt(&s.key_to_send, &s.key_to_recv),
        }
    }
    Session {
        encrypted: encrypt,
        verify: Code::words_for(&s.verify),
    }
}

#[cfg(test)]
#[path = "pake_tests.rs"]
mod tests;
