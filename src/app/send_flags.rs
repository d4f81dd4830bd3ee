//! The flags of `send` and `recv` (clap types).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::net::addr::{parse_duration, Endpoint};

#[derive(Debug, Clone, Args)]
pub struct SendArgs {
    /// Files and folders to send, or `-` for stdin (with --name).
    #[arg(required_unless_present = "text", value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// The name stdin's data is received under.
    #[arg(long)]
    pub name: Option<String>,

    /// The TCP address to listen on (default: any free port; with --raw, the notes'
    /// port: 0.0.0.0:8888).
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<Endpoint>,

    /// Use this code instead of a random one (NUMBER-secret-words; with --wormhole,
    /// NAMEPLATE-WORD-WORD, as `wormhole send --code`).
    #[arg(long, value_name = "CODE")]
    pub code: Option<String>,

    /// Serve any number of receivers, at the same time too, until Ctrl-C.
    #[arg(long)]
    pub keep: bool,

    /// Do not announce this sender on the LAN (receivers then need HOST:PORT).
    #[arg(long, conflicts_with = "to")]
    pub no_announce: bool,

    /// Send announcements only to this address (IP or IP:PORT) instead of every
    /// interface's broadcast address.
    #[arg(long, value_name = "ADDR")]
    pub to: Option<String>,

    /// The UDP port announcements go to.
    #[arg(long, default_value_t = crate::transfer::ANNOUNCE_PORT)]
    pub port: u16,

    /// Speak the notes' homework protocol: the bytes of one file, then close.
    #[arg(long, conflicts_with_all = ["code", "plain", "name"])]
    pub raw: bool,

    /// Do not encrypt (the code is still checked); both sides must say so.
    #[arg(long)]
    pub plain: bool,

    /// On a terminal, show the `sockit recv` command to run elsewhere as a QR code.
    #[arg(long, conflicts_with = "wormhole")]
    pub qr: bool,

    /// Send through a magic-wormhole mailbox, to `sockit recv --wormhole` or any
    /// wormhole client (`wormhole receive`), across the internet.
    #[arg(long, conflicts_with_all = ["raw", "keep", "plain", "no_announce", "to", "name"])]
    pub wormhole: bool,

    /// With --wormhole: send this text message instead of files.
    #[arg(
        long,
        value_name = "MSG",
        requires = "wormhole",
        conflicts_with = "paths"
    )]
    pub text: Option<String>,

    /// With --wormhole: no direct connection either way (nor this machine's addresses
    /// told to the peer): the file goes through the relay.
    #[arg(long, requires = "wormhole")]
    pub relay_only: bool,

    #[command(flatten)]
    pub servers: ServerArgs,
}

/// The servers of `--wormhole` (ignored without it, so that the environment variables
/// may stay set).
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// With --wormhole: the mailbox server's URL [default: the public one,
    /// ws://relay.magic-wormhole.io:4000/v1].
    #[arg(long, value_name = "URL", env = "WORMHOLE_RELAY_URL")]
    pub mailbox: Option<String>,

    /// With --wormhole: the transit relay, HOST:PORT or tcp:HOST:PORT [default: the
    /// public one, transit.magic-wormhole.io:4001].
    #[arg(long, value_name = "HOST:PORT", env = "WORMHOLE_TRANSIT_HELPER")]
    pub relay: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct RecvArgs {
    /// The sender's address (without it, the sender is found by its announcements);
    /// with --wormhole, the wormhole code.
    #[arg(value_name = "HOST:PORT|CODE")]
    pub target: Option<String>,

    /// The code the sender printed (asked for on the terminal when missing).
    #[arg(long, value_name = "CODE")]
    pub code: Option<String>,

    /// The folder to write into (with --raw: the file to write, or a folder to write
    /// `received` into).
    #[arg(short = 'o', long = "output", default_value = ".", value_name = "DIR")]
    pub output: PathBuf,

    /// Replace files that already exist.
    #[arg(long, conflicts_with = "rename")]
    pub overwrite: bool,

    /// Keep existing files and save new ones as `name (1).ext`.
    #[arg(long)]
    pub rename: bool,

    /// Write the (single) file to stdout; events go to stderr.
    #[arg(long, conflicts_with_all = ["overwrite", "rename"])]
    pub stdout: bool,

    /// Speak the notes' homework protocol: read until the sender closes.
    #[arg(long, conflicts_with_all = ["code", "plain"])]
    pub raw: bool,

    /// Accept an unencrypted session (the sender must use --plain too).
    #[arg(long)]
    pub plain: bool,

    /// How long to look for the sender's announcement.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DUR")]
    pub timeout: Duration,

    /// The UDP port to listen for announcements on.
    #[arg(long, default_value_t = crate::transfer::ANNOUNCE_PORT)]
    pub port: u16,

    /// Receive through a magic-wormhole mailbox, from `sockit send --wormhole` or any
    /// wormhole client (`wormhole send`).
    #[arg(long, conflicts_with_all = ["raw", "plain", "stdout"])]
    pub wormhole: bool,

    /// With --wormhole: the address the transit listener binds (its addresses are
    /// offered to the sender for a direct connection) [default: 0.0.0.0:0].
    #[arg(long, value_name = "ADDR", requires = "wormhole")]
    pub bind: Option<Endpoint>,

    /// With --wormhole: no direct connection either way (nor this machine's addresses
    /// told to the peer): the file comes through the relay.
    #[arg(long, requires = "wormhole", conflicts_with = "bind")]
    pub relay_only: bool,

    #[command(flatten)]
    pub servers: ServerArgs,
}

impl SendArgs {
    /// `--bind`, or the default: any free port, or with `--raw` the notes' port 8888
    /// (their homework client connects there).
    pub fn bind_addr(&self) -> Endpoint {
        self.bind.clone().unwrap_or_else(|| {
            let port = if self.raw { 8888 } else { 0 };
            format!("0.0.0.0:{port}").parse().expect("a valid address")
        })
    }
}
