//! What `send` and `recv` are asked to do.

use std::path::PathBuf;
use std::time::Duration;

use super::code::Code;
use super::files::Existing;
use crate::net::addr::Endpoint;

/// What `send` is asked to do.
#[derive(Debug, Clone)]
pub struct SendConfig {
    /// Files and folders, or `-` for stdin.
    pub paths: Vec<PathBuf>,
    /// The name stdin's data is received under.
    pub name: Option<String>,
    /// Where to listen.
    pub bind: Endpoint,
    /// The code to use instead of a random one.
    pub code: Option<Code>,
    /// Serve any number of receivers until Ctrl-C.
    pub keep: bool,
    /// Whether to announce this sender on the LAN.
    pub announce: bool,
    /// The one address announcements go to, instead of every broadcast address.
    pub to: Option<String>,
    /// The UDP port announcements go to.
    pub port: u16,
    /// The notes' homework protocol: one file's bytes, then close.
    pub raw: bool,
    /// Unencrypted (the code is still checked).
    pub plain: bool,
    /// Show the `recv` command as a QR code (on a terminal).
    pub qr: bool,
}

/// What `recv` is asked to do.
#[derive(Debug, Clone)]
pub struct RecvConfig {
    /// The sender's address; `None`: found by its announcements.
    pub target: Option<Endpoint>,
    /// `None`: asked for on the terminal.
    pub code: Option<Code>,
    /// The folder to write into (with `raw`: a file, or a folder for `received`).
    pub output: PathBuf,
    /// What to do with a file that is already there.
    pub existing: Existing,
    /// Write the single file to stdout.
    pub stdout: bool,
    /// The notes' homework protocol: read until the sender closes.
    pub raw: bool,
    /// Accept an unencrypted session.
    pub plain: bool,
    /// How long to look for the sender's announcement.
    pub timeout: Duration,
    /// The UDP port announcements are listened for on.
    pub port: u16,
}
