//! The transfer protocol's control messages (JSON, tagged by `type`) and the errors of
//! its wire (docs/protocol.md).

use std::io;

use serde::{Deserialize, Serialize};

use super::crypto::Tampered;
use super::manifest::Entry;
use super::wire::silence_limit;

/// Which side of a transfer a peer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Send,
    Recv,
}

/// What the receiver already has of one file: a partial file's prefix to resume, or (with
/// `complete`) a finished file that must be identical to be left alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Have {
    pub index: u64,
    pub size: u64,
    pub blake3: String,
    #[serde(default)]
    pub complete: bool,
    /// With `complete`: when the file differs, send it anyway (the receiver keeps both,
    /// `--rename`) instead of stopping the transfer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub send_if_differs: bool,
}

/// Every control message, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Msg {
    Hello {
        app: String,
        version: u32,
        role: Role,
        pake: String,
        encrypt: bool,
    },
    Confirm {
        mac: String,
    },
    Manifest {
        entries: Vec<Entry>,
    },
    ManifestEnd {
        count: u64,
        bytes: u64,
    },
    Plan {
        have: Vec<Have>,
    },
    PlanEnd,
    File {
        index: u64,
        offset: u64,
        restart: bool,
    },
    Skip {
        index: u64,
    },
    FileEnd {
        index: u64,
        blake3: String,
    },
    Done {
        files: u64,
        bytes: u64,
    },
    Result {
        files: u64,
        bytes: u64,
    },
    Error {
        message: String,
    },
}

impl Msg {
    pub fn name(&self) -> &'static str {
        match self {
            Msg::Hello { .. } => "hello",
            Msg::Confirm { .. } => "confirm",
            Msg::Manifest { .. } => "manifest",
            Msg::ManifestEnd { .. } => "manifest_end",
            Msg::Plan { .. } => "plan",
            Msg::PlanEnd => "plan_end",
            Msg::File { .. } => "file",
            Msg::Skip { .. } => "skip",
            Msg::FileEnd { .. } => "file_end",
            Msg::Done { .. } => "done",
            Msg::Result { .. } => "result",
            Msg::Error { .. } => "error",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("{}", crate::net::sock::describe(.0))]
    Io(io::Error),
    /// A read or write waited longer than `silence_limit()`.
    #[error(
        "the other side went silent: nothing could be read from it or written to it for {} s",
        silence_limit().as_secs_f64()
    )]
    Silent,
    #[error("the peer closed the connection before the transfer ended")]
    Closed,
    #[error("the connection ended inside a frame")]
    Truncated,
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        len: usize,
        max: usize,
        /// The frame header as it arrived (all zero for a record's inner limit).
        header: [u8; 4],
    },
    #[error(transparent)]
    Tampered(#[from] Tampered),
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("expected {expected}, got {got}")]
    Unexpected { expected: &'static str, got: String },
    #[error("the other side reports: {0}")]
    Peer(String),
}

impl From<io::Error> for WireError {
    /// A socket timeout (`EAGAIN` on a blocking socket with `SO_RCVTIMEO`/`SO_SNDTIMEO`)
    /// is said as what it means.
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => WireError::Silent,
            _ => WireError::Io(e),
        }
    }
}
