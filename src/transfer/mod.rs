//! File transfer (`send` / `recv`): discovery by code, SPAKE2 authentication, an
//! encrypted record stream, verified and resumable files, and the raw homework protocol.
//! The wire format is specified in docs/protocol.md.

mod body;
mod code;
mod commands;
mod config;
mod crypto;
mod discover;
mod files;
mod gate;
pub mod keyed;
mod manifest;
mod mapped;
mod messages;
mod pake;
mod plan;
mod progress;
mod qr;
mod raw;
mod receiver;
mod sender;
mod survey;
mod wire;
mod writer;

pub use code::Code;
pub use commands::{ask_typed, recv, send};
pub use config::{RecvConfig, SendConfig};
pub use discover::{parse as parse_announcement, Announcement, DEFAULT_PORT as ANNOUNCE_PORT};
pub use files::{existing, free_name, Existing, Target};
pub use files::{part_path, PART_PREFIX};
pub use gate::{HANDSHAKE_TIMEOUT, MAX_HANDSHAKES, MAX_WRONG_CODES};
pub use manifest::{
    check_manifest, check_path, Entry, Kind, Offer, MAX_DEPTH, MAX_ENTRIES, MAX_PATH_BYTES,
};
pub use mapped::install_fault_handler;
pub use pake::{as_receiver, as_sender, HandshakeError, Session};
pub use progress::Progress;
pub use wire::{
    Conn, Have, Msg, Record, Role, WireError, CHUNK, MAX_CONTROL, MAX_FRAME, MAX_PEER_TEXT, VERSION,
};

use std::io;

use crate::net::sock::describe;

/// Why a transfer session failed.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Handshake(#[from] pake::HandshakeError),
    #[error(transparent)]
    Wire(#[from] WireError),
    /// Something from the peer this side will not accept (the peer was told).
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Conflict(String),
    /// The data does not match what was announced (size or BLAKE3).
    #[error("{0}")]
    Verify(String),
    #[error("{what}: {}", describe(.io))]
    Disk { what: String, io: io::Error },
}

impl TransferError {
    /// Whether a wrong code caused this (the sender counts those).
    pub fn is_wrong_code(&self) -> bool {
        matches!(
            self,
            TransferError::Handshake(pake::HandshakeError::WrongCode)
        )
    }
}

/// Control messages carry lists in batches of about this many bytes of JSON, so each
/// stays well under `MAX_CONTROL` however many entries there are.
const BATCH_BYTES: usize = 256 << 10;

fn batches<T: serde::Serialize>(items: &[T]) -> Vec<&[T]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        let size = serde_json::to_vec(item).map(|v| v.len()).unwrap_or(0) + 1;
        if bytes + size > BATCH_BYTES && i > start {
            out.push(&items[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < items.len() {
        out.push(&items[start..]);
    }
    out
}
