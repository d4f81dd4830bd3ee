//! The v1 file transfer's bytes over transit (file-transfer-protocol.md): the sender
//! writes exactly the size it offered, in records; the receiver writes them to a
//! partial file, hashes them, answers with `{"ack": "ok", "sha256": …}` and only then
//! gives the file its name.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt as _;

use std::time::Duration;

use super::record::{RecordError, RECORD_PLAIN};
use super::transit::Connection;
use crate::transfer::{check_path, existing, free_name, part_path, Existing, Progress, Target};

/// The largest file offered that `recv --wormhole` accepts: what the wire's size field
/// can say, bounded so that sizes stay exact in the JSON numbers the other clients
/// use (2^53, where doubles stop counting every integer).
pub const MAX_FILE_SIZE: u64 = 1 << 53;

/// How long a transfer waits for the peer to take or give the next record before it
/// gives up (as `recv`'s own protocol does): a connection that went silent never
/// leaves a side waiting for ever.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(60);

/// `io`, unless the peer stays silent for `SILENCE_LIMIT`.
async fn within<T>(
    what: &str,
    io: impl std::future::Future<Output = Result<T, RecordError>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout(SILENCE_LIMIT, io).await {
        Ok(result) => Ok(result?),
        Err(_) => anyhow::bail!("{what}: nothing moved for {} s", SILENCE_LIMIT.as_secs()),
    }
}

/// What a file transfer moved: the numbers of the `file` event.
pub struct Moved {
    pub bytes: u64,
    pub sha256: String,
    pub blake3: String,
}

/// Sends `size` bytes of `path` through `conn`, then checks the receiver's ack.
pub async fn send_file(
    conn: &mut Connection,
    path: &Path,
    size: u64,
    progress: &mut Progress,
) -> anyhow::Result<Moved> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    send_bytes(conn, file, size, &path.display().to_string(), progress).await
}

/// Sends exactly `size` bytes of `from` (called `what` in errors), then checks the
/// receiver's ack.
pub async fn send_bytes(
    conn: &mut Connection,
    mut from: impl tokio::io::AsyncRead + Unpin,
    size: u64,
    what: &str,
    progress: &mut Progress,
) -> anyhow::Result<Moved> {
    let (mut sha, mut b3) = (Sha256::new(), blake3::Hasher::new());
    let mut buf = vec![0u8; RECORD_PLAIN];
    let mut sent = 0u64;
    while sent < size {
        let want = usize::try_from(size - sent).map_or(buf.len(), |left| left.min(buf.len()));
        let n = from.read(&mut buf[..want]).await?;
        if n == 0 {
            anyhow::bail!("{what} shrank while it was sent ({sent} of {size} bytes)");
        }
        sha.update(&buf[..n]);
        b3.update(&buf[..n]);
        within("sending", conn.writer.send(&buf[..n])).await?;
        sent += n as u64;
        progress.add(n as u64);
    }
    conn.writer.flush().await?;
    let sha256 = hex::encode(sha.finalize());
    let ack = within(
        "waiting for the receiver's acknowledgement",
        conn.reader.recv(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("the receiver did not acknowledge: {e}"))?;
    check_ack(ack, &sha256)?;
    Ok(Moved {
        bytes: sent,
        sha256,
        blake3: b3.finalize().to_hex().to_string(),
    })
}

/// The receiver's final record: `ack` must be `ok`, and its `sha256` (when given, as
/// every client gives it) what was sent.
fn check_ack(record: &[u8], sha256: &str) -> anyhow::Result<()> {
    let ack: Value = serde_json::from_slice(record)
        .map_err(|_| anyhow::anyhow!("the receiver's acknowledgement is not JSON"))?;
    if ack.get("ack").and_then(Value::as_str) != Some("ok") {
        let said: String = ack.to_string().chars().take(200).collect();
        anyhow::bail!(
            "the receiver did not accept the file: {}",
            crate::output::Escaped(said.as_bytes())
        );
    }
    match ack.get("sha256").and_then(Value::as_str) {
        Some(theirs) if !theirs.eq_ignore_ascii_case(sha256) => anyhow::bail!(
            "the receiver got other bytes than were sent (SHA-256 {}, sent {sha256})",
            crate::output::Escaped(&theirs.as_bytes()[..theirs.len().min(64)])
        ),
        _ => Ok(()),
    }
}

/// Where an offered file goes: its name checked as one path component under
/// `output`, and the policy for a file already there applied. An error here is sent
/// to the sender as the reason for refusing.
pub fn destination(
    output: &Path,
    name: &str,
    policy: Existing,
) -> Result<std::path::PathBuf, String> {
    let parts = check_path(name).map_err(|e| format!("refusing the name {name:?}: {e}"))?;
    if parts.len() != 1 {
        return Err(format!(
            "refusing the name {name:?}: it is not a plain file name"
        ));
    }
    let target = Target::new(output).map_err(|e| e.to_string())?;
    let dest = target.resolve(name).map_err(|e| e.to_string())?;
    match (existing(&dest), policy) {
        (None, _) => Ok(dest),
        // Said by name only: the reason goes to the sender too, and the path of the
        // output folder is nothing it needs to know.
        (Some(m), _) if m.is_dir() || m.file_type().is_symlink() => {
            Err(format!("{name} is already there and is not a file"))
        }
        (Some(_), Existing::Overwrite) => Ok(dest),
        (Some(_), Existing::Rename) => Ok(free_name(&dest)),
        (Some(_), Existing::Refuse) => Err(format!(
            "{name} is already there (--overwrite replaces it, --rename keeps both)"
        )),
    }
}

/// Receives `size` bytes into the partial file of `dest`, acknowledges them with
/// their SHA-256, then renames the partial file to `dest`.
pub async fn receive_file(
    conn: &mut Connection,
    dest: &Path,
    size: u64,
    progress: &mut Progress,
) -> anyhow::Result<Moved> {
    let part = part_path(dest);
    // A received file gets the mode a new file gets here (the v1 offer has none).
    let mut file = create_part(&part, 0o644)?;
    // The v1 transfer cannot resume: a partial file that failed is of no further use.
    let moved = match receive_bytes(conn, &mut file, &part, size, progress).await {
        Ok(moved) => moved,
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
    };
    acknowledge(conn, &moved.sha256).await?;
    std::fs::rename(&part, dest).map_err(|e| anyhow::anyhow!("naming {}: {e}", dest.display()))?;
    Ok(moved)
}

/// A partial file, created (with `mode`, less the umask) or emptied, never through a
/// symlink.
pub fn create_part(part: &Path, mode: u32) -> anyhow::Result<std::fs::File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(mode)
        .open(part)
        .map_err(|e| anyhow::anyhow!("creating {}: {e}", part.display()))
}

/// The receiver's last word: the SHA-256 of everything it received.
pub async fn acknowledge(conn: &mut Connection, sha256: &str) -> anyhow::Result<()> {
    let ack = json!({"ack": "ok", "sha256": sha256}).to_string();
    conn.writer.send(ack.as_bytes()).await?;
    conn.writer.flush().await?;
    Ok(())
}

/// How many bytes the receiver gathers before handing them to its writer.
const WRITE_BUF: usize = 1 << 20;

/// Batches in flight to the writer: bounds the memory a fast sender can fill
/// (`WRITE_BATCHES` × `WRITE_BUF`) while the disk catches up.
const WRITE_BATCHES: usize = 4;

/// Receives exactly `size` bytes into `file` (at `path`, for errors) and syncs it.
/// Decrypting runs here; hashing and writing, on a thread of their own, so that the
/// two overlap (one core each, where the v1 transfer's ciphers would otherwise hold
/// one core for everything).
pub async fn receive_bytes(
    conn: &mut Connection,
    file: &mut std::fs::File,
    path: &Path,
    size: u64,
    progress: &mut Progress,
) -> anyhow::Result<Moved> {
    let writing_error = |e: std::io::Error| anyhow::anyhow!("writing {}: {e}", path.display());
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(WRITE_BATCHES);
    let mut out = file.try_clone().map_err(writing_error)?;
    let writer = tokio::task::spawn_blocking(move || {
        let (mut sha, mut b3) = (Sha256::new(), blake3::Hasher::new());
        while let Some(batch) = rx.blocking_recv() {
            sha.update(&batch);
            b3.update(&batch);
            out.write_all(&batch)?;
        }
        out.sync_all()?;
        Ok::<_, std::io::Error>((
            hex::encode(sha.finalize()),
            b3.finalize().to_hex().to_string(),
        ))
    });
    let mut got = 0u64;
    let mut batch = Vec::with_capacity(WRITE_BUF);
    let reading = async {
        while got < size {
            let record = within("receiving", conn.reader.recv())
                .await
                .map_err(|e| anyhow::anyhow!("after {got} of {size} bytes: {e}"))?;
            if record.len() as u64 > size - got {
                anyhow::bail!("the sender sent more than the {size} bytes it offered");
            }
            got += record.len() as u64;
            progress.add(record.len() as u64);
            batch.extend_from_slice(record);
            if batch.len() >= WRITE_BUF || got == size {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(WRITE_BUF));
                if tx.send(full).await.is_err() {
                    break; // the writer failed: its error is the one to report
                }
            }
        }
        Ok(())
    };
    let read = reading.await;
    drop(tx);
    let written = writer.await?.map_err(writing_error);
    read?;
    let (sha256, blake3) = written?;
    Ok(Moved {
        bytes: got,
        sha256,
        blake3,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offered_names_are_checked_and_existing_files_kept() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        assert_eq!(
            destination(out, "a.txt", Existing::Refuse).unwrap(),
            out.join("a.txt")
        );
        for bad in [
            "../a",
            "/etc/passwd",
            "a/b",
            "",
            ".",
            "..",
            "a\nb",
            ".sockit-part-x",
        ] {
            assert!(destination(out, bad, Existing::Refuse).is_err(), "{bad:?}");
        }
        std::fs::write(out.join("a.txt"), "old").unwrap();
        let refused = destination(out, "a.txt", Existing::Refuse).unwrap_err();
        assert!(refused.contains("--overwrite"), "{refused}");
        assert_eq!(
            destination(out, "a.txt", Existing::Overwrite).unwrap(),
            out.join("a.txt")
        );
        assert_eq!(
            destination(out, "a.txt", Existing::Rename).unwrap(),
            out.join("a (1).txt")
        );
        std::os::unix::fs::symlink("/etc/passwd", out.join("link")).unwrap();
        assert!(destination(out, "link", Existing::Overwrite).is_err());
    }

    #[test]
    fn the_ack_must_say_ok_with_the_same_hash() {
        let sha = "ab".repeat(32);
        assert!(check_ack(
            format!(r#"{{"ack":"ok","sha256":"{sha}"}}"#).as_bytes(),
            &sha
        )
        .is_ok());
        assert!(check_ack(br#"{"ack":"ok"}"#, &sha).is_ok());
        assert!(check_ack(br#"{"ack":"ok","sha256":"00"}"#, &sha).is_err());
        assert!(check_ack(br#"{"ack":"no"}"#, &sha).is_err());
        assert!(check_ack(b"garbage", &sha).is_err());
    }
}
