//! The sender's side of the v1 file transfer: one file, or one folder as a zip,
//! offered with our transit hints; once the receiver answers, the bytes over transit
//! and the receiver's SHA-256 checked.

use std::path::PathBuf;
use std::time::Instant;

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

/// The one file or folder to send (a folder zipped now: the offer must say the zip's
/// size). Entries left out of a folder are warned about.
pub async fn prepare(ctx: &Ctx, paths: &[PathBuf]) -> anyhow::Result<(Offered, u64)> {
    let [path] = paths else {
        anyhow::bail!("a wormhole carries one file or folder: give one path (or --text)");
    };
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    let name = std::fs::canonicalize(path)
        .ok()
        .and_then(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_owned))
        .ok_or_else(|| anyhow::anyhow!("{}: no name that is UTF-8", path.display()))?;
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
    if !meta.is_dir() {
        anyhow::bail!("{}: not a file or a folder", path.display());
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
    let mut peer = PeerHints::default();
    let mut answered = false;
    for _ in 0..MAX_APP_MESSAGES {
        let msg = or_interrupted(ctx, "interrupted", next_message(w, SENDER_WAIT)).await?;
        if let Some(hints) = msg.get("transit") {
            peer = PeerHints::parse(hints);
        }
        if let Some(answer) = msg.get("answer") {
            if answer.get("file_ack").and_then(Value::as_str) != Some("ok") {
                anyhow::bail!("the receiver did not accept: {}", clip(answer));
            }
            answered = true;
            break;
        }
    }
    if !answered {
        anyhow::bail!("the receiver sent {MAX_APP_MESSAGES} messages without an answer");
    }
    let key = w.derive(TRANSIT_PURPOSE);
    let started = Instant::now();
    let mut conn = or_stopped(ctx, "interrupted", async {
        Ok(transit.connect(&key, Role::Sender, &peer).await?)
    })
    .await?;
    ctx.out.emit(&transit_event(&conn.path));
    let sending = async {
        match offered.source {
            Source::File(path) => file::send_file(&mut conn, &path, offered.size).await,
            Source::Zip(zip) => {
                let zip = tokio::fs::File::from_std(zip);
                file::send_bytes(&mut conn, zip, offered.size, "the zip").await
            }
        }
    };
    let moved = or_stopped(ctx, "interrupted while sending", sending).await?;
    report(ctx, &offered.name, &moved, offered.files, started);
    Ok(())
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

/// The `file` event of what travelled (a file, or a folder's zip) and the `done`
/// event with `files` in all.
pub fn report(ctx: &Ctx, name: &str, moved: &Moved, files: u64, started: Instant) {
    ctx.out.emit(&Event::File {
        path: name.to_owned(),
        bytes: moved.bytes,
        blake3: moved.blake3.clone(),
        resumed: 0,
        unchanged: false,
        sha256: Some(moved.sha256.clone()),
    });
    done(ctx, files, moved.bytes, started);
}

/// The `done` event.
pub fn done(ctx: &Ctx, files: u64, bytes: u64, started: Instant) {
    let seconds = started.elapsed().as_secs_f64();
    ctx.out.emit(&Event::Done {
        files,
        bytes,
        existing: 0,
        seconds,
        rate: bytes as f64 / seconds.max(1e-6),
    });
}
