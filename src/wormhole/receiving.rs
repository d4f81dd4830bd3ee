//! The receiver's side of the v1 file transfer: answer the sender's transit hints
//! with ours, then take its offer — a text, a file or a folder as a zip — after
//! checking it, or refuse it and say why.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::commands::{next_message, or_interrupted, or_stopped, MAX_APP_MESSAGES};
use super::config::WormholeRecvConfig;
use super::file::{self, MAX_FILE_SIZE};
use super::folder;
use super::hints::PeerHints;
use super::key::TRANSIT_PURPOSE;
use super::native;
use super::sending::{file_event, transit_event};
use super::session::Wormhole;
use super::transit::{Connection, Role, Transit};
use crate::ctx::Ctx;
use crate::output::{Event, Payload};
use crate::transfer::Progress;

/// What was offered, checked and accepted.
enum Accepted {
    File {
        dest: PathBuf,
        size: u64,
    },
    Folder {
        dest: PathBuf,
        zipsize: u64,
        numbytes: u64,
    },
}

/// Reads the sender's messages until its offer, and takes it.
pub async fn receive(
    ctx: &Ctx,
    w: &mut Wormhole,
    config: &WormholeRecvConfig,
) -> anyhow::Result<()> {
    let bind = (!config.relay_only).then_some(&config.bind);
    let transit = Transit::new(bind, &config.servers.relay).await?;
    let mut peer: Option<PeerHints> = None;
    for _ in 0..MAX_APP_MESSAGES {
        let msg = or_interrupted(ctx, "interrupted", next_message(w, config.timeout)).await?;
        if let Some(hints) = msg.get("transit") {
            if peer.is_none() {
                peer = Some(PeerHints::parse(hints));
                w.send_json(&json!({ "transit": transit.message() }))
                    .await?;
            }
        }
        let Some(offer) = msg.get("offer") else {
            continue;
        };
        if let Some(text) = offer.get("message").and_then(Value::as_str) {
            ctx.out.emit(&Event::Text {
                bytes: text.len(),
                payload: Payload::new(text.as_bytes()),
            });
            w.send_json(&json!({"answer": {"message_ack": "ok"}}))
                .await?;
            return Ok(());
        }
        if native::is_offer(offer) {
            let Some(peer) = &peer else {
                let refusal = "an offer of files came before any transit hints";
                let _ = w.send_json(&json!({ "error": refusal })).await;
                anyhow::bail!("{refusal}");
            };
            return native::receive(ctx, w, transit, peer, config).await;
        }
        let checked = match &peer {
            None => Err("an offer of bytes came before any transit hints".to_owned()),
            Some(peer) => accept(offer, config).map(|accepted| (peer.clone(), accepted)),
        };
        match checked {
            Ok((peer, accepted)) => {
                w.send_json(&json!({"answer": {"file_ack": "ok"}})).await?;
                return take(ctx, w, transit, &peer, accepted, config).await;
            }
            Err(refusal) => {
                let _ = w.send_json(&json!({ "error": refusal })).await;
                anyhow::bail!("{refusal}");
            }
        }
    }
    anyhow::bail!("the sender sent {MAX_APP_MESSAGES} messages without an offer")
}

/// Checks a file or folder offer and where it would go; the error is the refusal
/// sent to the sender.
fn accept(offer: &Value, config: &WormholeRecvConfig) -> Result<Accepted, String> {
    let number = |v: &Value, key: &str| -> Result<u64, String> {
        let n = v
            .get(key)
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("an offer without a number `{key}`"))?;
        if n > MAX_FILE_SIZE {
            return Err(format!(
                "`{key}` of {n} is over the limit of {MAX_FILE_SIZE}"
            ));
        }
        Ok(n)
    };
    let text = |v: &Value, key: &str| -> Result<String, String> {
        v.get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("an offer without a `{key}`"))
    };
    if let Some(f) = offer.get("file") {
        let (name, size) = (text(f, "filename")?, number(f, "filesize")?);
        let dest = file::destination(&config.output, &name, config.existing)?;
        check_room(&config.output, size)?;
        return Ok(Accepted::File { dest, size });
    }
    if let Some(d) = offer.get("directory") {
        let mode = text(d, "mode")?;
        if !mode.starts_with("zipfile") {
            return Err(format!("an unknown folder mode {:?}", clip_str(&mode)));
        }
        let name = text(d, "dirname")?;
        let (zipsize, numbytes) = (number(d, "zipsize")?, number(d, "numbytes")?);
        let dest = folder::destination(&config.output, &name, config.existing)?;
        check_room(&config.output, zipsize.saturating_add(numbytes))?;
        return Ok(Accepted::Folder {
            dest,
            zipsize,
            numbytes,
        });
    }
    Err("an offer of something this receiver does not know".into())
}

fn clip_str(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Refuses an offer larger than the free space under `output` (said before any byte
/// travels, as the Python client does).
fn check_room(output: &Path, bytes: u64) -> Result<(), String> {
    let Ok(fs) = rustix::fs::statvfs(output) else {
        return Ok(()); // unknown: the write will say
    };
    let free = fs.f_bavail.saturating_mul(fs.f_frsize);
    if bytes > free {
        return Err(format!(
            "not enough room: {bytes} bytes offered, {free} free on the receiver"
        ));
    }
    Ok(())
}

/// The accepted offer's bytes: transit, then the file written or the folder extracted.
async fn take(
    ctx: &Ctx,
    w: &mut Wormhole,
    transit: Transit,
    peer: &PeerHints,
    accepted: Accepted,
    config: &WormholeRecvConfig,
) -> anyhow::Result<()> {
    let key = w.derive(TRANSIT_PURPOSE);
    let mut conn = or_stopped(ctx, "interrupted", async {
        Ok(transit.connect(&key, Role::Receiver, peer).await?)
    })
    .await?;
    ctx.out.emit(&transit_event(&conn.path));
    match accepted {
        Accepted::File { dest, size } => {
            let shown = dest
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let mut progress = Progress::new(ctx.out.clone(), Some(size), 1);
            progress.start_file(&shown);
            let moved = or_stopped(
                ctx,
                "interrupted while receiving",
                file::receive_file(&mut conn, &dest, size, &mut progress),
            )
            .await?;
            progress.file(file_event(&shown, &moved));
            ctx.out.emit(&progress.done());
        }
        Accepted::Folder {
            dest,
            zipsize,
            numbytes,
        } => {
            let receiving = take_folder(ctx, &mut conn, config, dest, zipsize, numbytes);
            or_stopped(ctx, "interrupted while receiving", receiving).await?;
        }
    }
    Ok(())
}

/// A folder: the zip into a partial file beside it, checked and extracted, and only
/// then acknowledged (as the Python client does: a sender told `ok` may forget).
async fn take_folder(
    ctx: &Ctx,
    conn: &mut Connection,
    config: &WormholeRecvConfig,
    dest: PathBuf,
    zipsize: u64,
    numbytes: u64,
) -> anyhow::Result<()> {
    let part = crate::transfer::part_path(&dest);
    let mut zip = file::create_part(&part, 0o600)?;
    let shown = dest
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let mut progress = Progress::new(ctx.out.clone(), Some(zipsize), 1);
    progress.start_file(&format!("{shown}/ (zip)"));
    let moved = file::receive_bytes(conn, &mut zip, &part, zipsize, &mut progress).await;
    let moved = match moved {
        Ok(m) => m,
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
    };
    let (output, existing) = (config.output.clone(), config.existing);
    let extracting = tokio::task::spawn_blocking(move || {
        use std::io::Seek as _;
        zip.rewind()?;
        folder::extract(zip, &output, &dest, numbytes, existing)
    });
    let extracted = extracting.await;
    let _ = std::fs::remove_file(&part);
    let files = extracted??;
    file::acknowledge(conn, &moved.sha256).await?;
    // The bar and the rate are of the zip that travelled; the events, of each file.
    let done = progress.done();
    for f in &files {
        ctx.out.emit(&Event::File {
            path: f.path.clone(),
            bytes: f.bytes,
            blake3: f.blake3.clone(),
            resumed: 0,
            unchanged: false,
            sha256: None,
        });
    }
    if let Event::Done { seconds, rate, .. } = done {
        ctx.out.emit(&Event::Done {
            files: files.len() as u64,
            bytes: files.iter().map(|f| f.bytes).sum(),
            existing: 0,
            seconds,
            rate,
        });
    }
    Ok(())
}
