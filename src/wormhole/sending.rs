//! The sender's side of the v1 file transfer: one file, or one folder as a zip,
//! offered with our transit hints; once the receiver answers, the bytes over transit
//! and the receiver's SHA-256 checked.

use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::{json, Value};

use super::commands::{
    clip, next_message, or_interrupted, or_stopped, MAX_APP_MESSAGES, SENDER_WAIT,
};
use super::file::{self, Moved};
use super::folder::{self, ZIP_MODE};
use super::hints::PeerHints;
use super::key::TRANSIT_PURPOSE;
use super::session::Wormhole;
use super::transit::{Path, Role, Transit};
use crate::ctx::Ctx;
use crate::output::Event;
use crate::transfer::Progress;

/// What is offered, and where its bytes come from.
pub struct Offered {
    /// The name it is offered under.
    name: String,
    /// The bytes that travel (a file's, or the folder's zip).
    source: Source,
    size: u64,
    /// Files in it (1 for a file).
    files: u64,
}

enum Source {
    File(PathBuf),
    Zip(std::fs::File),
}

impl Offered {
    /// The `offer` message's value.
    fn offer(&self, numbytes: u64) -> Value {
        match self.source {
            Source::File(_) => json!({"file": {"filename": self.name, "filesize": self.size}}),
            Source::Zip(_) => json!({"directory": {
                "mode": ZIP_MODE, "dirname": self.name, "zipsize": self.size,
                "numbytes": numbytes, "numfiles": self.files,
            }}),
        }
    }
}

/// The one path a wormhole carries, checked before any code is made: it is a file or
/// a folder, with a name in UTF-8 (the name it is offered under).
pub fn check(paths: &[PathBuf]) -> anyhow::Result<(&PathBuf, std::fs::Metadata, String)> {
    let [path] = paths else {
        anyhow::bail!("a wormhole carries one file or folder: give one path (or --text)");
    };
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    let name = std::fs::canonicalize(path)
        .ok()
        .and_then(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_owned))
        .ok_or_else(|| anyhow::anyhow!("{}: no name that is UTF-8", path.display()))?;
    if !meta.is_file() && !meta.is_dir() {
        anyhow::bail!("{}: not a file or a folder", path.display());
    }
    Ok((path, meta, name))
}

/// The one file or folder to send to another client (a folder zipped now: the offer
/// must say the zip's size). Entries left out of a folder are warned about.
pub async fn prepare(ctx: &Ctx, paths: &[PathBuf]) -> anyhow::Result<(Offered, u64)> {
    let (path, meta, name) = check(paths)?;
    if meta.is_file() {
        return Ok((
            Offered {
                name,
                source: Source::File(path.clone()),
                size: meta.len(),
                files: 1,
            },
            meta.len(),
        ));
    }
    let dir = path.clone();
    let zipped = tokio::task::spawn_blocking(move || folder::zip_folder(&dir)).await??;
    for left in &zipped.left_out {
        ctx.out.emit(&Event::warning(format!("not sent: {left}")));
    }
    Ok((
        Offered {
            name,
            source: Source::Zip(zipped.file),
            size: zipped.zipsize,
            files: zipped.numfiles,
        },
        zipped.numbytes,
    ))
}

/// Our hints and the offer, then the peer's hints and answer, then the bytes.
pub async fn send_offer(
    ctx: &Ctx,
    w: &mut Wormhole,
    transit: Transit,
    (offered, numbytes): (Offered, u64),
) -> anyhow::Result<()> {
    w.send_json(&json!({ "transit": transit.message() }))
        .await?;
    w.send_json(&json!({ "offer": offered.offer(numbytes) }))
        .await?;
    let peer = answer_and_hints(ctx, w, "file_ack").await?;
    let key = w.derive(TRANSIT_PURPOSE);
    let mut conn = or_stopped(ctx, "interrupted", async {
        Ok(transit.connect(&key, Role::Sender, &peer).await?)
    })
    .await?;
    ctx.out.emit(&transit_event(&conn.path));
    let mut progress = Progress::new(ctx.out.clone(), Some(offered.size), 1);
    progress.start_file(&offered.name);
    let sending = async {
        match offered.source {
            Source::File(path) => {
                file::send_file(&mut conn, &path, offered.size, &mut progress).await
            }
            Source::Zip(zip) => {
                let zip = tokio::fs::File::from_std(zip);
                file::send_bytes(&mut conn, zip, offered.size, "the zip", &mut progress).await
            }
        }
    };
    let moved = or_stopped(ctx, "interrupted while sending", sending).await?;
    progress.file(file_event(&offered.name, &moved));
    // For a folder, the one `file` event is its zip; `done` counts the files in it.
    let mut done = progress.done();
    if let Event::Done { files, .. } = &mut done {
        *files = offered.files;
    }
    ctx.out.emit(&done);
    Ok(())
}

/// Reads the receiver's messages until its answer, which must say `ACK: ok`; returns
/// the transit hints it sent on the way.
pub async fn answer_and_hints(ctx: &Ctx, w: &mut Wormhole, ack: &str) -> anyhow::Result<PeerHints> {
    let mut peer = PeerHints::default();
    for _ in 0..MAX_APP_MESSAGES {
        let msg = or_interrupted(ctx, "interrupted", next_message(w, SENDER_WAIT)).await?;
        if let Some(hints) = msg.get("transit") {
            peer = PeerHints::parse(hints);
        }
        if let Some(answer) = msg.get("answer") {
            if answer.get(ack).and_then(Value::as_str) != Some("ok") {
                anyhow::bail!("the receiver did not accept: {}", clip(answer));
            }
            return Ok(peer);
        }
    }
    anyhow::bail!("the receiver sent {MAX_APP_MESSAGES} messages without an answer")
}

/// The `transit` event for the connection made.
pub fn transit_event(path: &Path) -> Event {
    match path {
        Path::Direct(addr) => Event::Transit {
            path: "direct".into(),
            peer: addr.to_string(),
        },
        Path::Relay(relay) => Event::Transit {
            path: "relay".into(),
            peer: relay.clone(),
        },
    }
}

/// The `file` event of what travelled (a file, or a folder's zip).
pub fn file_event(name: &str, moved: &Moved) -> Event {
    Event::File {
        path: name.to_owned(),
        bytes: moved.bytes,
        blake3: moved.blake3.clone(),
        resumed: 0,
        unchanged: false,
        sha256: Some(moved.sha256.clone()),
    }
}
