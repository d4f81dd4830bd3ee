//! `--raw`: the notes' homework protocol, for interop with `nc` and the notes' Python
//! programs. The sender writes one file's bytes to each client and closes; the
//! receiver writes everything until the end of the stream. There is no name, no
//! size, no code and no verification: the BLAKE3 shown is for comparing by hand.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::addr::{Endpoint, ANY_HOST, LOCAL_HOST};
use crate::event::{Event, Proto};
use crate::run::{Ctx, UsageError};
use crate::sock::{self, describe, NetError, SocketInfo};

/// Bytes moved per read.
const BUF: usize = 1 << 20;

/// `send --raw FILE`: serves the file to each client that connects (one, or any
/// number with `keep`).
pub async fn send(path: &Path, bind: &Endpoint, keep: bool, ctx: Ctx) -> anyhow::Result<()> {
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
    let addrs = bind
        .resolve(ANY_HOST)
        .await
        .map_err(|e| NetError::new(format!("resolve {bind}"), e))?;
    let listener = sock::tcp_listener(addrs[0])?;
    let local = listener.local_addr()?;
    ctx.out.emit(&Event::Listening {
        proto: Proto::Tcp,
        addr: local,
    });
    ctx.out.emit(&Event::Ready {
        addr: local,
        code: None,
    });
    loop {
        let (mut stream, peer) = tokio::select! {
            _ = ctx.shutdown.cancelled() => return Ok(()),
            accepted = listener.accept() => accepted.map_err(|e| NetError::new("accept", e))?,
        };
        if ctx.verbose {
            ctx.out.emit(&Event::Socket(SocketInfo::of(&stream)));
        }
        let started = std::time::Instant::now();
        let mut file = tokio::fs::File::open(path)
            .await
            .with_context(|| format!("open {}", path.display()))?;
        let sent = tokio::io::copy_buf(
            &mut tokio::io::BufReader::with_capacity(BUF, &mut file),
            &mut stream,
        )
        .await;
        let _ = stream.shutdown().await;
        match sent {
            Ok(bytes) => {
                ctx.out.emit(&done(1, bytes, started));
                if !keep {
                    return Ok(());
                }
            }
            Err(e) => ctx
                .out
                .emit(&Event::warning(format!("[{peer}] {}", describe(&e)))),
        }
    }
}

/// `recv --raw HOST:PORT -o FILE`: everything until the end of the stream, written to
/// `FILE.part` and renamed when the sender closes cleanly.
pub async fn recv(
    target: &Endpoint,
    output: &Path,
    to_stdout: bool,
    ctx: Ctx,
) -> anyhow::Result<()> {
    if !to_stdout && output.is_dir() {
        return Err(UsageError(format!(
            "with --raw, -o names the file to write (the raw protocol carries no name); {} is a folder",
            output.display()
        ))
        .into());
    }
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
    let part = PathBuf::from(format!("{}{}", output.display(), super::files::PART_SUFFIX));
    let mut sink: Box<dyn tokio::io::AsyncWrite + Unpin + Send> = if to_stdout {
        Box::new(tokio::io::stdout())
    } else {
        Box::new(
            tokio::fs::File::create(&part)
                .await
                .with_context(|| format!("create {}", part.display()))?,
        )
    };
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; BUF];
    let mut bytes = 0u64;
    loop {
        let n = tokio::select! {
            _ = ctx.shutdown.cancelled() => anyhow::bail!("interrupted; {} holds what arrived", part.display()),
            n = stream.read(&mut buf) => n.map_err(|e| NetError::new(format!("receive from {peer}"), e))?,
        };
        if n == 0 {
            break;
        }
        sink.write_all(&buf[..n])
            .await
            .with_context(|| format!("write {}", part.display()))?;
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    sink.flush().await?;
    drop(sink);
    let shown = if to_stdout {
        "-".to_owned()
    } else {
        tokio::fs::rename(&part, output)
            .await
            .with_context(|| format!("rename {} to {}", part.display(), output.display()))?;
        output.display().to_string()
    };
    let blake3 = hasher.finalize().to_hex().to_string();
    ctx.out.emit(&Event::File {
        path: shown,
        bytes,
        blake3,
        resumed: 0,
        unchanged: false,
    });
    ctx.out.emit(&done(1, bytes, started));
    Ok(())
}

fn done(files: u64, bytes: u64, started: std::time::Instant) -> Event {
    let seconds = started.elapsed().as_secs_f64();
    Event::Done {
        files,
        bytes,
        seconds,
        rate: bytes as f64 / seconds.max(1e-9),
    }
}
