//! `send --wormhole` and `recv --wormhole`: open the wormhole, then the file-transfer
//! application's messages (file-transfer-protocol.md): an offer, its answer, and for
//! files the transit connection.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{json, Value};

use super::code::WormholeCode;
use super::config::{WormholeRecvConfig, WormholeSendConfig};
use super::file;
use super::hints::PeerHints;
use super::key::{APPID, TRANSIT_PURPOSE};
use super::session::{Bound, Mood, Wormhole};
use super::transit::{Path, Role, Transit};
use super::WormholeError;
use crate::ctx::{Ctx, Interrupted};
use crate::output::{Escaped, Event, Payload};

/// The longest text `send --wormhole --text` sends: it travels through the mailbox,
/// sealed and hex-encoded, within `mailbox::MAX_SERVER_MESSAGE`.
pub const MAX_TEXT: usize = 256 << 10;

/// How long `send --wormhole` waits for a receiver to use its code.
pub const SENDER_WAIT: Duration = Duration::from_secs(60 * 60);

/// How many application messages a side reads before the one it waits for: the
/// protocol needs two or three; more is a peer going round in circles.
pub const MAX_APP_MESSAGES: usize = 16;

/// The `version` message: `app_versions` names sockit, so that two sockits can tell
/// each other apart from other clients (and later speak sockit's own protocol).
fn versions() -> Value {
    json!({"app_versions": {"sockit": {"version": env!("CARGO_PKG_VERSION")}}})
}

/// Who the peer is, from its `app_versions`.
fn peer_name(versions: &Value) -> String {
    match versions.pointer("/app_versions/sockit/version") {
        Some(Value::String(v)) => format!("sockit {}", v.chars().take(32).collect::<String>()),
        Some(_) => "sockit".into(),
        None => "another wormhole client".into(),
    }
}

/// Runs `work` unless Ctrl-C comes first.
async fn or_interrupted<T>(
    ctx: &Ctx,
    what: &str,
    work: impl Future<Output = Result<T, WormholeError>>,
) -> anyhow::Result<T> {
    tokio::select! {
        result = work => Ok(result?),
        _ = ctx.shutdown.cancelled() => Err(Interrupted(what.to_owned()).into()),
    }
}

/// Runs `work` unless Ctrl-C comes first (for work with errors of any kind).
async fn or_stopped<T>(
    ctx: &Ctx,
    what: &str,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::select! {
        result = work => result,
        _ = ctx.shutdown.cancelled() => Err(Interrupted(what.to_owned()).into()),
    }
}

/// Connects to the mailbox and binds; shows the server's message of the day.
async fn bind(ctx: &Ctx, mailbox: &str) -> anyhow::Result<Bound> {
    let mut bound = or_interrupted(ctx, "interrupted", Bound::connect(mailbox, APPID)).await?;
    if let Some(motd) = bound.motd.take() {
        ctx.out
            .emit(&Event::warning(format!("the mailbox server says: {motd}")));
    }
    Ok(bound)
}

/// Opens the wormhole with `code`; a timeout reads as who did not come.
async fn join(
    ctx: &Ctx,
    bound: Bound,
    code: &WormholeCode,
    wait: Duration,
    nobody: &str,
) -> anyhow::Result<Wormhole> {
    let joined = or_interrupted(
        ctx,
        "interrupted",
        bound.join(code, APPID, versions(), wait),
    )
    .await;
    let w = match joined {
        Err(e) if matches!(e.downcast_ref(), Some(WormholeError::Timeout)) => {
            anyhow::bail!("{nobody} within {}", humantime::format_duration(wait))
        }
        other => other?,
    };
    ctx.out.emit(&Event::WormholeVerified {
        verifier: w.verifier(),
        peer: peer_name(&w.peer_versions),
    });
    Ok(w)
}

/// The peer's next message that matters, `error` turned into an error.
async fn next_message(w: &mut Wormhole, wait: Duration) -> Result<Value, WormholeError> {
    let msg = w.recv_json(wait).await?;
    if let Some(error) = msg.get("error") {
        let why = match error {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let why: String = why.chars().take(1024).collect();
        return Err(WormholeError::Remote(Escaped(why.as_bytes()).to_string()));
    }
    Ok(msg)
}

/// `sockit send --wormhole`.
pub async fn send(config: WormholeSendConfig, ctx: Ctx) -> anyhow::Result<()> {
    let what = match &config.text {
        Some(text) if text.len() > MAX_TEXT => anyhow::bail!(
            "the text is {} bytes; a wormhole text message is at most {MAX_TEXT}",
            text.len()
        ),
        Some(text) => Sending::Text(text.clone()),
        None => Sending::File(offer_file(&config.paths)?),
    };
    let mailbox = config.servers.mailbox.as_str();
    let mut bound = bind(&ctx, mailbox).await?;
    let code = match config.code {
        Some(code) => code,
        None => {
            let nameplate = or_interrupted(&ctx, "interrupted", bound.allocate()).await?;
            WormholeCode::new_random(&nameplate)
                .context("the mailbox allocated an unusable nameplate")?
        }
    };
    ctx.out.emit(&Event::WormholeCode {
        code: code.to_string(),
        mailbox: mailbox.to_owned(),
    });
    let mut w = join(&ctx, bound, &code, SENDER_WAIT, "no receiver came").await?;
    let result = match what {
        Sending::Text(text) => send_text(&ctx, &mut w, &text).await,
        Sending::File(file) => {
            let bind = (!config.relay_only).then_some(&config.bind);
            let transit = Transit::new(bind, &config.servers.relay).await;
            match transit {
                Ok(transit) => send_one(&ctx, &mut w, transit, &file).await,
                Err(e) => Err(e.into()),
            }
        }
    };
    finish(w, result).await
}

/// What `send --wormhole` sends.
enum Sending {
    Text(String),
    File(Offered),
}

/// A file to offer: where it is, the name it is offered under, its size.
struct Offered {
    path: PathBuf,
    name: String,
    size: u64,
}

/// The one regular file `send --wormhole` offers (folders come later).
fn offer_file(paths: &[PathBuf]) -> anyhow::Result<Offered> {
    let [path] = paths else {
        anyhow::bail!("a wormhole carries one file: give one path (or --text)");
    };
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    if !meta.is_file() {
        anyhow::bail!(
            "{}: sending folders through a wormhole is not implemented yet",
            path.display()
        );
    }
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow::anyhow!("{}: the name is not UTF-8", path.display()))?
        .to_owned();
    Ok(Offered {
        path: path.clone(),
        name,
        size: meta.len(),
    })
}

/// The sender's side of a file: our hints and the offer, then the peer's hints and
/// answer, then the bytes over transit.
async fn send_one(
    ctx: &Ctx,
    w: &mut Wormhole,
    transit: Transit,
    file: &Offered,
) -> anyhow::Result<()> {
    w.send_json(&json!({ "transit": transit.message() }))
        .await?;
    w.send_json(&json!({"offer": {"file": {"filename": file.name, "filesize": file.size}}}))
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
                anyhow::bail!("the receiver did not accept the file: {}", clip(answer));
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
    let moved = or_stopped(
        ctx,
        "interrupted while sending",
        file::send_file(&mut conn, &file.path, file.size),
    )
    .await?;
    report(ctx, &file.name, &moved, started);
    Ok(())
}

/// The `transit` event for the connection made.
fn transit_event(path: &Path) -> Event {
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

/// The `file` and `done` events of a file that was moved.
fn report(ctx: &Ctx, name: &str, moved: &file::Moved, started: Instant) {
    let seconds = started.elapsed().as_secs_f64();
    ctx.out.emit(&Event::File {
        path: name.to_owned(),
        bytes: moved.bytes,
        blake3: moved.blake3.clone(),
        resumed: 0,
        unchanged: false,
        sha256: Some(moved.sha256.clone()),
    });
    ctx.out.emit(&Event::Done {
        files: 1,
        bytes: moved.bytes,
        existing: 0,
        seconds,
        rate: moved.bytes as f64 / seconds.max(1e-6),
    });
}

async fn send_text(ctx: &Ctx, w: &mut Wormhole, text: &str) -> anyhow::Result<()> {
    let exchange = async {
        w.send_json(&json!({"offer": {"message": text}})).await?;
        for _ in 0..MAX_APP_MESSAGES {
            let msg = next_message(w, SENDER_WAIT).await?;
            let Some(answer) = msg.get("answer") else {
                continue;
            };
            return match answer.get("message_ack").and_then(Value::as_str) {
                Some("ok") => Ok(()),
                _ => Err(WormholeError::Peer(format!(
                    "the text was not acknowledged: {}",
                    clip(answer)
                ))),
            };
        }
        Err(WormholeError::Peer("no answer to the text".into()))
    };
    or_interrupted(
        ctx,
        "interrupted before the text was acknowledged",
        exchange,
    )
    .await?;
    ctx.out.emit(&Event::TextSent { bytes: text.len() });
    Ok(())
}

/// Closes the wormhole with the mood `result` calls for, and passes `result` on.
async fn finish(w: Wormhole, result: anyhow::Result<()>) -> anyhow::Result<()> {
    let mood = match &result {
        Ok(()) => Mood::Happy,
        Err(e) => e
            .downcast_ref::<WormholeError>()
            .map_or(Mood::Errory, WormholeError::mood),
    };
    w.close(mood).await;
    result
}

/// A peer's JSON value for an error message: at most 200 characters, escaped for a
/// terminal.
fn clip(value: &Value) -> String {
    let text: String = value.to_string().chars().take(200).collect();
    Escaped(text.as_bytes()).to_string()
}

/// `sockit recv --wormhole`.
pub async fn recv(mut config: WormholeRecvConfig, ctx: Ctx) -> anyhow::Result<()> {
    let code =
        match config.code.take() {
            Some(code) => code,
            None => crate::transfer::ask_typed::<WormholeCode>(
                &ctx,
                "the code is required when stdin is not a terminal: sockit recv --wormhole CODE",
                "the code is what the sender printed, like 7-guitarist-revenge",
            )
            .await?,
        };
    let bound = bind(&ctx, &config.servers.mailbox).await?;
    let mut w = join(
        &ctx,
        bound,
        &code,
        config.timeout,
        &format!("no sender with code {}-… came", code.nameplate()),
    )
    .await?;
    let result = receive(&ctx, &mut w, &config).await;
    finish(w, result).await
}

async fn receive(ctx: &Ctx, w: &mut Wormhole, config: &WormholeRecvConfig) -> anyhow::Result<()> {
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
        let refusal = match (offer.get("file"), &peer) {
            (Some(_), None) => "a file offer came before any transit hints".to_owned(),
            (Some(f), Some(peer)) => match file_offer(f) {
                Ok((name, size)) => match file::destination(&config.output, &name, config.existing)
                {
                    Ok(dest) => {
                        w.send_json(&json!({"answer": {"file_ack": "ok"}})).await?;
                        return receive_one(ctx, w, transit, peer, &name, &dest, size).await;
                    }
                    Err(why) => why,
                },
                Err(why) => why,
            },
            (None, _) => format!(
                "receiving {} through a wormhole is not implemented yet",
                if offer.get("directory").is_some() {
                    "folders"
                } else {
                    "this offer"
                }
            ),
        };
        let _ = w.send_json(&json!({ "error": refusal })).await;
        anyhow::bail!("{refusal}");
    }
    anyhow::bail!("the sender sent {MAX_APP_MESSAGES} messages without an offer")
}

/// A file offer's name and size, checked.
fn file_offer(offer: &Value) -> Result<(String, u64), String> {
    let name = offer
        .get("filename")
        .and_then(Value::as_str)
        .ok_or("a file offer without a filename")?;
    let size = offer
        .get("filesize")
        .and_then(Value::as_u64)
        .ok_or("a file offer without a filesize")?;
    if size > file::MAX_FILE_SIZE {
        return Err(format!(
            "a file of {size} bytes is over the limit of {}",
            file::MAX_FILE_SIZE
        ));
    }
    Ok((name.to_owned(), size))
}

/// The receiver's side of a file, once accepted: transit, then the bytes.
async fn receive_one(
    ctx: &Ctx,
    w: &mut Wormhole,
    transit: Transit,
    peer: &PeerHints,
    name: &str,
    dest: &std::path::Path,
    size: u64,
) -> anyhow::Result<()> {
    let key = w.derive(TRANSIT_PURPOSE);
    let started = Instant::now();
    let mut conn = or_stopped(ctx, "interrupted", async {
        Ok(transit.connect(&key, Role::Receiver, peer).await?)
    })
    .await?;
    ctx.out.emit(&transit_event(&conn.path));
    let moved = or_stopped(
        ctx,
        "interrupted while receiving (the partial file is kept)",
        file::receive_file(&mut conn, dest, size),
    )
    .await?;
    let shown = dest
        .file_name()
        .map_or_else(|| name.to_owned(), |n| n.to_string_lossy().into_owned());
    report(ctx, &shown, &moved, started);
    Ok(())
}
