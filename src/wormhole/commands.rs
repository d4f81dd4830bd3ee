//! `send --wormhole` and `recv --wormhole`: open the wormhole, then the file-transfer
//! application's messages (file-transfer-protocol.md): an offer, its answer, and for
//! files the transit connection.

use std::future::Future;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{json, Value};

use super::code::WormholeCode;
use super::config::{WormholeRecvConfig, WormholeSendConfig};
use super::key::APPID;
use super::session::{Bound, Mood, Wormhole};
use super::transit::Transit;
use super::{native, receiving, sending, WormholeError};
use crate::ctx::{Ctx, Interrupted};
use crate::output::{Escaped, Event};

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
    json!({"app_versions": {"sockit": native::versions()}})
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
pub(super) async fn or_interrupted<T>(
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
pub(super) async fn or_stopped<T>(
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
    // Ctrl-C while waiting for the peer lets the session release its nameplate and
    // close the mailbox before the command ends.
    let joined = bound
        .join(code, APPID, versions(), wait, &ctx.shutdown)
        .await;
    let w = match joined {
        Err(WormholeError::Timeout) => {
            anyhow::bail!("{nobody} within {}", humantime::format_duration(wait))
        }
        Err(WormholeError::Cancelled) => {
            return Err(Interrupted(format!("{nobody} before Ctrl-C")).into())
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
pub(super) async fn next_message(w: &mut Wormhole, wait: Duration) -> Result<Value, WormholeError> {
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
        None => {
            sending::check(&config.paths)?;
            Sending::Paths(native::list(&config.paths))
        }
    };
    let mailbox = config.servers.mailbox.as_str();
    let mut bound = bind(&ctx, mailbox).await?;
    let code = match config.code.clone() {
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
        Sending::Paths(listing) => send_paths(&ctx, &mut w, &config, listing).await,
    };
    finish(w, result).await
}

/// The paths, with sockit's protocol to a sockit, else as the file transfer's offer.
async fn send_paths(
    ctx: &Ctx,
    w: &mut Wormhole,
    config: &WormholeSendConfig,
    listing: native::Listing,
) -> anyhow::Result<()> {
    let bind = (!config.relay_only).then_some(&config.bind);
    let transit = Transit::new(bind, &config.servers.relay).await?;
    if native::speaks(&w.peer_versions) {
        return native::send(ctx, w, transit, listing).await;
    }
    let offered = sending::prepare(ctx, &config.paths).await?;
    sending::send_offer(ctx, w, transit, offered).await
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
pub(super) fn clip(value: &Value) -> String {
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
    let result = receiving::receive(&ctx, &mut w, &config).await;
    finish(w, result).await
}

/// What `send --wormhole` sends.
enum Sending {
    Text(String),
    /// `config.paths`, checked, and their listing for a sockit peer.
    Paths(native::Listing),
}
