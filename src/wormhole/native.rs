//! sockit to sockit: when the peer's `version` message says it speaks sockit's transfer
//! protocol, the sender offers `{"sockit": …}` instead of a file or a zipped folder, and
//! once transit has connected the two run sockit's own transfer over that connection
//! (`transfer::keyed`): folders without a zip, modes and mtimes, BLAKE3 per file, and
//! a transfer that was cut off resumes from what the receiver verified.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Value};

use super::commands::or_stopped;
use super::config::WormholeRecvConfig;
use super::hints::PeerHints;
use super::key::TRANSIT_PURPOSE;
use super::sending::{answer_and_hints, transit_event};
use super::session::Wormhole;
use super::transit::{Role, Transit};
use crate::ctx::Ctx;
use crate::output::Event;
use crate::transfer::{keyed, Offer, VERSION};

/// The purpose the secret of sockit's records is derived with from the wormhole's key.
const PURPOSE: &str = "sockit/transfer";

/// What this side's `app_versions` says under `sockit`: its version, and the transfer
/// protocol it speaks over transit.
pub fn versions() -> Value {
    json!({"version": env!("CARGO_PKG_VERSION"), "transfer": VERSION})
}

/// Whether the peer (by its `version` message) speaks this side's transfer protocol.
pub fn speaks(peer_versions: &Value) -> bool {
    peer_versions
        .pointer("/app_versions/sockit/transfer")
        .and_then(Value::as_u64)
        == Some(u64::from(VERSION))
}

/// The keys of sockit's records, from the wormhole's shared key.
fn keys(w: &Wormhole) -> keyed::SharedKeys {
    keyed::SharedKeys::from_secret(&w.derive(PURPOSE))
}

/// The offer of `paths`, being listed meanwhile: started before the peer is known, it
/// is ready by the time a sockit peer answers (a walk of the folders' metadata; unused
/// when the peer is another client).
pub type Listing = tokio::task::JoinHandle<std::io::Result<Offer>>;

/// Starts listing `paths` for sockit's protocol.
pub fn list(paths: &[PathBuf]) -> Listing {
    let paths = paths.to_vec();
    tokio::task::spawn_blocking(move || {
        Offer::from_paths(&paths).inspect(|offer| {
            offer.encoded_manifest();
        })
    })
}

/// Offers what `listing` lists to a sockit receiver and sends it with sockit's protocol.
pub async fn send(
    ctx: &Ctx,
    w: &mut Wormhole,
    transit: Transit,
    listing: Listing,
) -> anyhow::Result<()> {
    let offer = listing.await??;
    for skipped in &offer.skipped {
        ctx.out
            .emit(&Event::warning(format!("not sent: {skipped}")));
    }
    w.send_json(&json!({ "transit": transit.message() }))
        .await?;
    let summary = json!({
        "files": offer.files(),
        "bytes": offer.total_bytes(),
    });
    w.send_json(&json!({"offer": {"sockit": summary}})).await?;
    let peer = answer_and_hints(ctx, w, "sockit_ack").await?;
    let key = w.derive(TRANSIT_PURPOSE);
    let (stream, path) = or_stopped(ctx, "interrupted", async {
        Ok(transit.link(&key, Role::Sender, &peer).await?)
    })
    .await?;
    ctx.out.emit(&transit_event(&path));
    let done = keyed::send(stream, &keys(w), Arc::new(offer), ctx).await?;
    ctx.out.emit(&done);
    Ok(())
}

/// Whether `offer` is sockit's, from a sockit sender.
pub fn is_offer(offer: &Value) -> bool {
    offer.get("sockit").is_some()
}

/// Accepts a sockit offer and receives it with sockit's protocol into `-o`.
pub async fn receive(
    ctx: &Ctx,
    w: &mut Wormhole,
    transit: Transit,
    peer: &PeerHints,
    config: &WormholeRecvConfig,
) -> anyhow::Result<()> {
    w.send_json(&json!({"answer": {"sockit_ack": "ok"}}))
        .await?;
    let key = w.derive(TRANSIT_PURPOSE);
    let (stream, path) = or_stopped(ctx, "interrupted", async {
        Ok(transit.link(&key, Role::Receiver, peer).await?)
    })
    .await?;
    ctx.out.emit(&transit_event(&path));
    let done = keyed::receive(stream, &keys(w), &config.output, config.existing, ctx).await?;
    ctx.out.emit(&done);
    Ok(())
}
