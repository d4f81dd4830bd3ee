//! `send --wormhole` and `recv --wormhole`: the magic-wormhole protocol (mailbox,
//! PAKE, transit, file transfer v1), to meet `wormhole send`/`receive` and every other
//! wormhole client. As implemented: docs/protocol.md, "Wormhole".
//!
//! `code` (the PGP-word codes), `key` (PAKE, subkeys, secretbox), `mailbox` (the
//! server's WebSocket protocol), `session` (one wormhole: nameplate, PAKE, versions,
//! ordered sealed messages), `hints` (where each side can be reached), `transit` (the
//! race to one TCP connection), `record` (its encrypted records, sealed by `secretbox`),
//! `commands` (what `send` and `recv` do with it).

pub mod code;
mod commands;
mod config;
mod file;
mod folder;
pub mod hints;
pub mod key;
pub mod mailbox;
mod native;
mod receiving;
pub mod record;
pub mod secretbox;
mod sending;
pub mod session;
pub mod transit;

pub use code::{BadCode, WormholeCode};
pub use commands::{recv, send};
pub use config::{
    parse_relay, Servers, WormholeRecvConfig, WormholeSendConfig, DEFAULT_MAILBOX, DEFAULT_RELAY,
};
pub use session::Mood;

/// Why a wormhole failed.
#[derive(Debug, thiserror::Error)]
pub enum WormholeError {
    /// The peer's sealed messages do not open under our key.
    #[error(
        "the code is wrong on one side (or someone tried to guess it): the peer's messages \
         do not decrypt; nothing was sent; start again with a new code"
    )]
    WrongCode,
    #[error("mailbox server {url}: {why}")]
    Connect { url: String, why: String },
    /// The server refused something, or its welcome said to stop.
    #[error("the mailbox server says: {0}")]
    Server(String),
    #[error("the mailbox server broke the protocol: {0}")]
    MailboxProtocol(String),
    #[error("the mailbox server closed the connection")]
    Lost,
    #[error("mailbox connection: {0}")]
    WebSocket(String),
    /// Stopped by the user (Ctrl-C) while waiting for the peer.
    #[error("interrupted")]
    Cancelled,
    /// A wait ran out; the caller says what for.
    #[error("timed out")]
    Timeout,
    /// The peer's messages broke the protocol.
    #[error("the peer broke the protocol: {0}")]
    Peer(String),
    /// A message after the key was confirmed did not decrypt: not from the peer.
    #[error("a mailbox message did not decrypt ({0}): altered, or not from the peer")]
    Tampered(String),
    /// The peer gave up and said why.
    #[error("the peer gave up: {0}")]
    Remote(String),
}

impl WormholeError {
    /// The mood to close the mailbox with after this error.
    pub fn mood(&self) -> Mood {
        match self {
            WormholeError::WrongCode | WormholeError::Tampered(_) => Mood::Scary,
            WormholeError::Timeout | WormholeError::Cancelled => Mood::Lonely,
            _ => Mood::Errory,
        }
    }
}
