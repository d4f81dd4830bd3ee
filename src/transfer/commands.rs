//! The `send` and `recv` commands: sockets, discovery, Ctrl-C and the rate limit on
//! wrong codes around the blocking sessions of `sender` and `receiver`.

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, IsTerminal};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use tokio::task::JoinSet;

use super::code::Code;
use super::config::{RecvConfig, SendConfig};
use super::discover::{self, Announcement};
use super::files;
use super::gate::{self, Gate, Slot, MAX_WRONG_CODES};
use super::manifest::Offer;
use super::pake::{Session, APP};
use super::receiver::{self, RecvJob};
use super::sender::{self, SendJob};
use super::wire::{silence_limit, Conn, VERSION};
use super::{qr, raw, TransferError};
use crate::ctx::{Ctx, Interrupted, UsageError};
use crate::net::accept::Backoff;
use crate::net::addr::LOCAL_HOST;
use crate::net::sock::{self, NetError, SocketInfo};
use crate::net::{lan, listen};
use crate::output::{Event, Proto};

/// Socket buffers in user space, large enough for whole chunks.
const IO_BUF: usize = 256 << 10;

pub(super) type StdConn = Conn<BufReader<TcpStream>, BufWriter<TcpStream>>;

pub(super) fn conn(stream: &TcpStream) -> std::io::Result<StdConn> {
    Ok(Conn::new(
        BufReader::with_capacity(IO_BUF, stream.try_clone()?),
        BufWriter::with_capacity(IO_BUF, stream.try_clone()?),
    ))
}

/// A tokio stream as a blocking one, for the sessions' sequential code.
pub(super) fn blocking(stream: tokio::net::TcpStream) -> std::io::Result<TcpStream> {
    let s = stream.into_std()?;
    s.set_nonblocking(false)?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// `sockit send`.
pub async fn send(args: SendConfig, ctx: Ctx) -> anyhow::Result<()> {
    if args.raw {
        let [path] = &args.paths[..] else {
            return Err(UsageError("--raw sends exactly one file".into()).into());
        };
        return raw::send(path, &args.bind, args.keep, args.qr, ctx).await;
    }
    let offer = if args.paths.len() == 1 && args.paths[0].as_os_str() == "-" {
        if args.keep {
            return Err(
                UsageError("stdin can be sent only once; --keep needs files".into()).into(),
            );
        }
        Offer::stdin(args.name.as_deref().unwrap_or("stdin"))
    } else {
        let paths = args.paths.clone();
        // The manifest is encoded here, once, rather than while a receiver waits.
        tokio::task::spawn_blocking(move || {
            Offer::from_paths(&paths).inspect(|offer| {
                offer.encoded_manifest();
            })
        })
        .await?
        .context("reading what to send")?
    };
    for skipped in &offer.skipped {
        ctx.out
            .emit(&Event::warning(format!("not sent: {skipped}")));
    }
    let code = args.code.clone().unwrap_or_else(Code::generate);
    let listener = listen::tcp(&args.bind, Proto::Tcp, &ctx).await?;
    let local = listener.local_addr()?;
    let addrs = lan::reachable(local);
    ctx.out.emit(&Event::Ready {
        addr: local,
        addrs: addrs.clone(),
        code: Some(code.to_string()),
    });
    if args.qr {
        let (code, plain) = (&code.to_string(), args.plain);
        qr::show(local, &addrs, qr::Needs::Code { code, plain }, &ctx.out);
    }

    let stop = ctx.shutdown.child_token();
    if args.announce {
        let dests = discover::destinations(args.to.as_deref(), args.port)?;
        if dests.is_empty() {
            ctx.out.emit(&Event::warning(
                "no broadcast-capable network interface: give recv this address instead",
            ));
        }
        let ann = Announcement {
            app: APP.into(),
            version: VERSION,
            nameplate: code.nameplate,
            port: local.port(),
        };
        let (out, stop) = (ctx.out.clone(), stop.clone());
        tokio::spawn(async move {
            if let Err(e) = discover::announce(ann, dests, stop).await {
                out.emit(&Event::warning(e.to_string()));
            }
        });
    }

    let offer = Arc::new(offer);
    let gate = Gate::new();
    // The sockets of transfers under way, closed at the end so that their blocking
    // sessions end too.
    let live = Arc::new(Mutex::new(HashMap::<SocketAddr, TcpStream>::new()));
    let mut sessions = JoinSet::new();
    let mut backoff = Backoff::default();
    let mut completed = 0u32;
    let result = loop {
        tokio::select! {
            _ = ctx.shutdown.cancelled() => {
                break if completed > 0 { Ok(()) } else { Err(Interrupted("before any receiver finished".into()).into()) };
            }
            (stream, peer) = backoff.accept(&listener, &ctx.out) => {
                ctx.out.emit(&Event::Connect { peer, clients: sessions.len() + 1 });
                let slot = gate.admit();
                let job = SendJob { offer: offer.clone(), out: ctx.out.clone() };
                let proof = Proof { code: code.clone(), encrypt: !args.plain };
                let live = live.clone();
                sessions.spawn(async move {
                    let mut wrong_codes = 0;
                    let outcome = serve_one(stream, peer, slot, (proof, job), &live, &mut wrong_codes).await;
                    live.lock().expect("not poisoned").remove(&peer);
                    (peer, outcome, wrong_codes)
                });
            }
            Some(joined) = sessions.join_next() => {
                let (peer, outcome, failures) = joined?;
                match outcome {
                    Ok(done) => {
                        ctx.out.emit(&done);
                        completed += 1;
                        if !args.keep {
                            break Ok(());
                        }
                    }
                    // The count comes from the session: by now others may have added
                    // to the gate's.
                    Err(e) if e.is_wrong_code() => {
                        let reason = format!("wrong code ({failures} of {MAX_WRONG_CODES} allowed)");
                        ctx.out.emit(&Event::Rejected { peer, reason });
                        if failures >= MAX_WRONG_CODES {
                            break Err(anyhow::anyhow!("{MAX_WRONG_CODES} wrong codes: giving up; send again with a new code"));
                        }
                    }
                    Err(e) => ctx.out.emit(&Event::warning(format!("[{peer}] transfer failed: {e}"))),
                }
            }
        }
    };
    stop.cancel();
    for (_, s) in live.lock().expect("not poisoned").drain() {
        let _ = s.shutdown(std::net::Shutdown::Both);
    }
    result
}

/// One receiver, start to end: the handshake on the runtime (see `gate`), then the
/// transfer on a blocking thread of its own. After a wrong code, `wrong_codes` holds
/// how many there have been so far.
async fn serve_one(
    mut stream: tokio::net::TcpStream,
    peer: SocketAddr,
    slot: Slot,
    (proof, job): (Proof, SendJob),
    live: &Mutex<HashMap<SocketAddr, TcpStream>>,
    wrong_codes: &mut u32,
) -> Result<Event, TransferError> {
    let confirmed =
        gate::handshake(&mut stream, slot, &proof.code, proof.encrypt, wrong_codes).await?;
    let io = |e: std::io::Error| TransferError::Wire(e.into());
    let stream = blocking(stream).map_err(io)?;
    stream.set_read_timeout(Some(silence_limit())).map_err(io)?;
    stream
        .set_write_timeout(Some(silence_limit()))
        .map_err(io)?;
    live.lock()
        .expect("not poisoned")
        .insert(peer, stream.try_clone().map_err(io)?);
    tokio::task::spawn_blocking(move || {
        let mut conn = conn(&stream).map_err(io)?;
        let Session { encrypted, verify } = confirmed.apply(&mut conn);
        job.out.emit(&Event::Verified {
            peer,
            encrypted,
            verify,
        });
        sender::serve(&mut conn, &job)
    })
    .await
    .map_err(|e| TransferError::Wire(std::io::Error::other(e).into()))?
}

/// `sockit recv`.
pub async fn recv(args: RecvConfig, ctx: Ctx) -> anyhow::Result<()> {
    if args.raw {
        let target = args
            .target
            .as_ref()
            .ok_or_else(|| UsageError("--raw needs the sender's HOST:PORT".into()))?;
        return raw::recv(target, &args.output, args.existing, args.stdout, ctx).await;
    }
    if !args.stdout && files::existing(&args.output).is_some_and(|m| !m.is_dir()) {
        return Err(UsageError(format!(
            "-o {} is a file: -o names the folder to receive into (one file under a name \
             of your choosing: --stdout > NAME)",
            args.output.display()
        ))
        .into());
    }
    let code = match &args.code {
        Some(code) => code.clone(),
        None => ask_code(&ctx).await?,
    };
    let proof = Proof {
        code,
        encrypt: !args.plain,
    };
    let met = match &args.target {
        Some(target) => {
            let addrs = target
                .resolve(LOCAL_HOST)
                .await
                .map_err(|e| NetError::new(format!("resolve {target}"), e))?;
            meet(&addrs, &proof, &ctx).await?
        }
        None => discover_and_meet(&proof, args.port, args.timeout, &ctx).await?,
    };
    let job = RecvJob {
        root: args.output.clone(),
        policy: args.existing,
        to_stdout: args.stdout,
        out: ctx.out.clone(),
    };
    let peer = met.peer;
    let done = receive(met.conn, met.stream, job, RESUME, &ctx)
        .await
        .with_context(|| format!("receive from {peer}"))?;
    ctx.out.emit(&done);
    Ok(())
}

/// How `recv` resumes an interrupted transfer.
const RESUME: &str = "run the same command again to resume";

/// Runs the receiver's session on a blocking thread; Ctrl-C closes the connection and
/// keeps what arrived (`resume` says how to go on).
pub(super) async fn receive(
    mut conn: StdConn,
    stream: TcpStream,
    job: RecvJob,
    resume: &str,
    ctx: &Ctx,
) -> anyhow::Result<Event> {
    let mut session = tokio::task::spawn_blocking(move || receiver::receive(&mut conn, &job));
    let outcome = tokio::select! {
        joined = &mut session => joined?,
        _ = ctx.shutdown.cancelled() => {
            let _ = stream.shutdown(std::net::Shutdown::Both);
            let _ = session.await;
            return Err(Interrupted(format!("what arrived is kept (hidden, beside each file): {resume}")).into());
        }
    };
    Ok(outcome?)
}

/// What a receiver proves to a sender: the code, and whether it encrypts.
#[derive(Clone)]
struct Proof {
    code: Code,
    encrypt: bool,
}

/// A sender met: the handshake is done and the transfer can start.
struct Met {
    conn: StdConn,
    stream: TcpStream,
    peer: SocketAddr,
}

/// Connects to one of `addrs` and runs the handshake.
async fn meet(addrs: &[SocketAddr], proof: &Proof, ctx: &Ctx) -> anyhow::Result<Met> {
    let stream = tokio::select! {
        stream = sock::tcp_connect(addrs, Duration::from_secs(10)) => stream?,
        _ = ctx.shutdown.cancelled() => return Err(Interrupted("not connected yet".into()).into()),
    };
    let peer: SocketAddr = stream.peer_addr()?;
    ctx.out.emit(&Event::Connected {
        peer,
        local: stream.local_addr()?,
    });
    if ctx.verbose {
        ctx.out.emit(&Event::Socket(SocketInfo::of(&stream)));
    }
    let stream = blocking(stream)?;
    stream.set_read_timeout(Some(silence_limit()))?;
    stream.set_write_timeout(Some(silence_limit()))?;
    let handle = stream.try_clone()?;
    let (proof, out) = (proof.clone(), ctx.out.clone());
    let mut shaking = tokio::task::spawn_blocking(move || {
        let mut conn = conn(&stream).map_err(|e| TransferError::Wire(e.into()))?;
        receiver::handshake(&mut conn, &proof.code, proof.encrypt, peer, &out)?;
        Ok::<_, TransferError>((conn, stream))
    });
    let (conn, stream) = tokio::select! {
        joined = &mut shaking => joined?.with_context(|| format!("receive from {peer}"))?,
        _ = ctx.shutdown.cancelled() => {
            let _ = handle.shutdown(std::net::Shutdown::Both);
            let _ = shaking.await;
            return Err(Interrupted("nothing was received yet".into()).into());
        }
    };
    Ok(Met { conn, stream, peer })
}

/// Listens for announcements of the code's number until `timeout` and tries each
/// announcer once, in the order heard, until one passes the handshake: a spoofed
/// announcement or an impostor costs one failed attempt, not the transfer.
async fn discover_and_meet(
    proof: &Proof,
    port: u16,
    timeout: Duration,
    ctx: &Ctx,
) -> anyhow::Result<Met> {
    let nameplate = proof.code.nameplate;
    let mut finder = discover::Finder::bind(nameplate, port)?;
    ctx.out.emit(&Event::Looking {
        nameplate,
        // The port really listened on: `--port 0` picks a free one.
        port: finder.port(),
        timeout_s: timeout.as_secs_f64(),
    });
    let deadline = tokio::time::Instant::now() + timeout;
    let mut failed: Vec<String> = Vec::new();
    loop {
        let heard = tokio::select! {
            heard = tokio::time::timeout_at(deadline, finder.next()) => heard,
            _ = ctx.shutdown.cancelled() => return Err(Interrupted("no sender was found yet".into()).into()),
        };
        let Ok(candidate) = heard else {
            let waited = humantime::format_duration(timeout);
            if failed.is_empty() {
                anyhow::bail!(
                    "no sender with code {nameplate}-… found within {waited} (is `sockit send` running on this network?)"
                );
            }
            anyhow::bail!(
                "no sender with code {nameplate}-… accepted it within {waited}; tried {}",
                failed.join("; ")
            );
        };
        let candidate = candidate?;
        match meet(&[candidate], proof, ctx).await {
            Ok(met) => return Ok(met),
            Err(e) if e.is::<Interrupted>() => return Err(e),
            Err(e) => {
                ctx.out.emit(&Event::warning(format!(
                    "{e:#}; listening for another sender with code {nameplate}-… (Ctrl-C stops)"
                )));
                failed.push(format!("{candidate}: {e:#}"));
            }
        }
    }
}

/// Asks for the code on the terminal (never from a pipe: a script must pass --code),
/// again after an empty or malformed line.
async fn ask_code(ctx: &Ctx) -> anyhow::Result<Code> {
    ask_typed(
        ctx,
        "--code is required when stdin is not a terminal",
        "the code is what `sockit send` printed, like 7-amber-lantern",
    )
    .await
}

/// Asks for a code (anything parsed from one typed line) on the terminal, again after
/// an empty or malformed line; `missing` is the usage error when stdin is not a
/// terminal, `hint` what an empty line is answered with. Ctrl-C ends it at once: the
/// line is read on a thread of its own, which the process leaves behind.
pub async fn ask_typed<T>(ctx: &Ctx, missing: &str, hint: &str) -> anyhow::Result<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    if !std::io::stdin().is_terminal() {
        return Err(UsageError(missing.into()).into());
    }
    // One line read per request: once the code is taken, nothing more of the terminal's
    // input is consumed.
    let (ask, asked) = std::sync::mpsc::channel::<()>();
    let (tx, mut lines) = tokio::sync::mpsc::channel::<std::io::Result<String>>(1);
    std::thread::spawn(move || {
        while asked.recv().is_ok() {
            let mut line = String::new();
            let read = std::io::stdin().read_line(&mut line).map(|_| line);
            if tx.blocking_send(read).is_err() {
                return;
            }
        }
    });
    loop {
        eprint!("code: ");
        let _ = ask.send(());
        let line = tokio::select! {
            line = lines.recv() => line,
            _ = ctx.shutdown.cancelled() => {
                eprintln!();
                return Err(Interrupted("no code was entered".into()).into());
            }
        };
        let line = match line {
            Some(Ok(line)) if !line.is_empty() => line,
            Some(Err(e)) => return Err(anyhow::Error::new(e).context("read the code")),
            _ => {
                eprintln!();
                anyhow::bail!("no code was entered (end of input)");
            }
        };
        match line.trim() {
            "" => eprintln!("{hint}"),
            typed => match typed.parse::<T>() {
                Ok(code) => return Ok(code),
                Err(e) => eprintln!("{e}"),
            },
        }
    }
}
