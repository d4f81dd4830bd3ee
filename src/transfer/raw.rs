//! `--raw`: the notes' homework protocol, for interop with `nc` and the notes' Python
//! programs. The sender writes one file's bytes to each client and closes; the
//! receiver writes everything until the end of the stream. There is no name, no
//! size, no code and no verification: the BLAKE3 and SHA-256 shown are for comparing
//! by hand (`sha256sum`, Python's `hashlib`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;

use sha2::{Digest, Sha256};

use super::files::{self, Existing};
use super::wire::{is_hello, silence_limit, HELLO_SNIFF};
use crate::ctx::{Ctx, Interrupted, UsageError};
use crate::net::accept::Backoff;
use crate::net::addr::{Endpoint, LOCAL_HOST};
use crate::net::sock::{self, describe, NetError, SocketInfo};
use crate::net::{lan, listen};
use crate::output::{Event, Proto};

/// Bytes moved per read (each client being sent to holds one such buffer).
const BUF: usize = 256 << 10;

/// Clients served at once by `send --raw --keep`; more wait in the listen queue.
pub const MAX_RAW_CLIENTS: usize = 128;

/// `send --raw FILE`: serves the file to each client that connects, several at once
/// (a client that does not read delays only itself, and is given up after the silence
/// limit); without `keep`, the first client that gets the whole file ends the command.
/// With `qr`, the command that receives it is shown as a QR code.
pub async fn send(
    path: &Path,
    bind: &Endpoint,
    keep: bool,
    qr: bool,
    ctx: Ctx,
) -> anyhow::Result<()> {
    if !std::fs::metadata(path)
        .with_context(|| path.display().to_string())?
        .is_file()
    {
        return Err(UsageError(format!(
            "--raw sends exactly one file; {} is not a file",
            path.display()
        ))
        .into());
    }
    let listener = listen::tcp(bind, Proto::Tcp, &ctx).await?;
    let local = listener.local_addr()?;
    let addrs = lan::reachable(local);
    ctx.out.emit(&Event::Ready {
        addr: local,
        addrs: addrs.clone(),
        code: None,
    });
    if qr {
        super::qr::show(local, &addrs, super::qr::Needs::Raw, &ctx.out);
    }
    // Opened once: every client reads it at its own offset, so a client costs the
    // server one descriptor, its socket, whatever the file.
    let file =
        Arc::new(std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?);
    let mut clients = JoinSet::new();
    let mut backoff = Backoff::default();
    loop {
        tokio::select! {
            _ = ctx.shutdown.cancelled() => return Ok(()),
            (stream, peer) = backoff.accept(&listener, &ctx.out), if clients.len() < MAX_RAW_CLIENTS => {
                if ctx.verbose {
                    ctx.out.emit(&Event::Socket(SocketInfo::of(&stream)));
                }
                let (file, shown) = (file.clone(), path.display().to_string());
                clients.spawn(async move { (peer, serve_one(file, shown, stream).await) });
            }
            Some(joined) = clients.join_next() => match joined? {
                (_, Ok((file, bytes, started))) => {
                    // The same hashes `recv --raw`, `sha256sum` or `hashlib` show on
                    // the other side, for comparing by hand.
                    ctx.out.emit(&file);
                    ctx.out.emit(&done(1, bytes, started));
                    if !keep {
                        return Ok(());
                    }
                }
                (peer, Err(e)) => ctx.out.emit(&Event::warning(format!("[{peer}] {e:#}"))),
            },
        }
    }
}

/// Sends the whole file to one client; returns its `file` event, the bytes and when
/// it started.
async fn serve_one(
    file: Arc<std::fs::File>,
    shown: String,
    mut stream: tokio::net::TcpStream,
) -> anyhow::Result<(Event, u64, std::time::Instant)> {
    let started = std::time::Instant::now();
    let mut hashes = Hashes::new();
    let sent = send_hashed(file, &mut stream, &mut hashes).await;
    let _ = stream.shutdown().await;
    let bytes = sent?;
    Ok((hashes.file_event(shown, bytes), bytes, started))
}

/// BLAKE3 and SHA-256 of the bytes that went by: the raw protocol verifies nothing, so
/// both sides show them (SHA-256 for `sha256sum` and Python's `hashlib`).
struct Hashes {
    blake3: blake3::Hasher,
    sha256: Sha256,
}

impl Hashes {
    fn new() -> Hashes {
        Hashes {
            blake3: blake3::Hasher::new(),
            sha256: Sha256::new(),
        }
    }

    fn update(&mut self, data: &[u8]) {
        self.blake3.update(data);
        self.sha256.update(data);
    }

    fn file_event(self, path: String, bytes: u64) -> Event {
        Event::File {
            path,
            bytes,
            blake3: self.blake3.finalize().to_hex().to_string(),
            resumed: 0,
            unchanged: false,
            sha256: Some(hex::encode(self.sha256.finalize())),
        }
    }
}

/// Copies `file` to `stream`, hashing what goes; returns the bytes sent. A client
/// that takes nothing for the silence limit is given up.
async fn send_hashed(
    file: Arc<std::fs::File>,
    stream: &mut tokio::net::TcpStream,
    hashes: &mut Hashes,
) -> anyhow::Result<u64> {
    let mut buf = vec![0u8; BUF];
    let mut bytes = 0u64;
    loop {
        // A positioned read on the blocking pool, as tokio::fs does for its reads.
        let (n, back) = {
            let file = file.clone();
            tokio::task::spawn_blocking(move || {
                let n = std::os::unix::fs::FileExt::read_at(&*file, &mut buf, bytes);
                (n, buf)
            })
            .await?
        };
        buf = back;
        let n = n.context("read the file")?;
        if n == 0 {
            return Ok(bytes);
        }
        hashes.update(&buf[..n]);
        let mut done = 0;
        while done < n {
            match tokio::time::timeout(silence_limit(), stream.write(&buf[done..n])).await {
                Ok(Ok(0)) => anyhow::bail!("the client closed the connection"),
                Ok(Ok(written)) => done += written,
                Ok(Err(e)) => anyhow::bail!("{}", describe(&e)),
                Err(_) => anyhow::bail!(
                    "the client took nothing for {} s: given up after {} bytes",
                    silence_limit().as_secs_f64(),
                    bytes + done as u64
                ),
            }
        }
        bytes += n as u64;
    }
}

/// The file `recv --raw` writes into a folder (the default `-o .`): the raw protocol
/// carries no name. Never an existing file: `received (1)`, `received (2)`, … instead.
pub const DEFAULT_NAME: &str = "received";

/// Where `recv --raw` writes: into a folder as `DEFAULT_NAME` (the first free one,
/// unless `--overwrite`), or the file `-o` names, which must not exist unless
/// `--overwrite` (or `--rename`: the first free `name (N).ext`).
pub fn destination(output: &Path, policy: Existing) -> anyhow::Result<PathBuf> {
    if output.is_dir() {
        let dest = output.join(DEFAULT_NAME);
        return Ok(match policy {
            Existing::Overwrite => dest,
            _ => files::free_name(&dest),
        });
    }
    match (files::existing(output), policy) {
        (None, _) | (Some(_), Existing::Overwrite) => Ok(output.to_owned()),
        (Some(_), Existing::Rename) => Ok(files::free_name(output)),
        (Some(_), Existing::Refuse) => anyhow::bail!(
            "{} already exists (receive with --overwrite or --rename)",
            output.display()
        ),
    }
}

/// `recv --raw HOST:PORT [-o FILE|DIR]`: everything until the end of the stream,
/// written to a partial file beside `FILE` (see `files::part_path`) and renamed when
/// the sender closes cleanly. A sockit sender
/// speaking the transfer protocol, and a sender that sends nothing, are errors: no
/// file is written for them.
pub async fn recv(
    target: &Endpoint,
    output: &Path,
    policy: Existing,
    to_stdout: bool,
    ctx: Ctx,
) -> anyhow::Result<()> {
    let dest = if to_stdout {
        None
    } else {
        Some(destination(output, policy)?)
    };
    let addrs = target
        .resolve(LOCAL_HOST)
        .await
        .map_err(|e| NetError::new(format!("resolve {target}"), e))?;
    let mut stream = sock::tcp_connect(&addrs, std::time::Duration::from_secs(10)).await?;
    let peer = stream.peer_addr()?;
    if ctx.verbose {
        ctx.out.emit(&Event::Socket(SocketInfo::of(&stream)));
    }
    let started = std::time::Instant::now();
    let mut buf = vec![0u8; BUF];
    let read_fail = |e| NetError::new(format!("receive from {peer}"), e);
    // The first bytes decide what the peer is, before any file exists.
    let mut head = 0;
    while head < HELLO_SNIFF {
        let n = tokio::select! {
            _ = ctx.shutdown.cancelled() => return Err(Interrupted("nothing was written".into()).into()),
            n = stream.read(&mut buf[head..]) => n.map_err(read_fail)?,
        };
        if n == 0 {
            break;
        }
        head += n;
    }
    if is_hello(&buf[..head]) {
        anyhow::bail!(
            "{peer} is a sockit sender without --raw: it speaks the transfer protocol, not \
             raw bytes; run `sockit recv {target} --code CODE` (without --raw); nothing was written"
        );
    }
    if head == 0 {
        anyhow::bail!("{peer} closed without sending anything; nothing was written");
    }
    let part = dest.as_deref().map(files::part_path);
    let mut sink: Box<dyn tokio::io::AsyncWrite + Unpin + Send> = match &part {
        None => Box::new(tokio::io::stdout()),
        Some(part) => Box::new(
            tokio::fs::File::create(part)
                .await
                .with_context(|| format!("create {}", part.display()))?,
        ),
    };
    let shown_part = part.as_deref().unwrap_or(Path::new("-")).display();
    let mut hashes = Hashes::new();
    let mut bytes = 0u64;
    let mut n = head;
    while n > 0 {
        sink.write_all(&buf[..n])
            .await
            .with_context(|| format!("write {shown_part}"))?;
        hashes.update(&buf[..n]);
        bytes += n as u64;
        n = tokio::select! {
            _ = ctx.shutdown.cancelled() => return Err(Interrupted(format!("{shown_part} holds what arrived")).into()),
            n = stream.read(&mut buf) => n.map_err(read_fail)?,
        };
    }
    sink.flush().await?;
    drop(sink);
    let shown = match (&part, &dest) {
        (Some(part), Some(dest)) => {
            tokio::fs::rename(part, dest)
                .await
                .with_context(|| format!("rename {} to {}", part.display(), dest.display()))?;
            dest.display().to_string()
        }
        _ => "-".to_owned(),
    };
    ctx.out.emit(&hashes.file_event(shown, bytes));
    ctx.out.emit(&done(1, bytes, started));
    Ok(())
}

fn done(files: u64, bytes: u64, started: std::time::Instant) -> Event {
    let seconds = started.elapsed().as_secs_f64();
    Event::Done {
        files,
        bytes,
        existing: 0,
        seconds,
        rate: bytes as f64 / seconds.max(1e-9),
    }
}
