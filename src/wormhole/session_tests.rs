//! Two sessions through a mailbox of the test's own on loopback that does what the
//! protocol allows a mailbox to do: echo each side's messages back to it, deliver
//! every message twice, and hold back phase `0` until phase `1` has gone.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::*;
use crate::wormhole::key::APPID;

type Outboxes = Arc<Mutex<Vec<mpsc::UnboundedSender<String>>>>;

/// Starts the mailbox; returns its URL.
async fn unruly_mailbox() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/v1", listener.local_addr().unwrap());
    let outboxes: Outboxes = Arc::default();
    let held: Arc<Mutex<Option<String>>> = Arc::default();
    tokio::spawn(async move {
        for _ in 0..2 {
            let (tcp, _) = listener.accept().await.unwrap();
            let (outboxes, held) = (outboxes.clone(), held.clone());
            tokio::spawn(async move {
                let ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
                let (mut sink, mut stream) = ws.split();
                let (tx, mut rx) = mpsc::unbounded_channel::<String>();
                outboxes.lock().unwrap().push(tx.clone());
                tokio::spawn(async move {
                    while let Some(text) = rx.recv().await {
                        if sink.send(Message::text(text)).await.is_err() {
                            break;
                        }
                    }
                });
                let _ = tx.send(json!({"type": "welcome", "welcome": {}}).to_string());
                let mut side = String::new();
                while let Some(Ok(msg)) = stream.next().await {
                    let Ok(text) = msg.to_text() else { continue };
                    let Ok(cmd) = serde_json::from_str::<Value>(text) else {
                        continue;
                    };
                    let reply = |v: Value| {
                        let _ = tx.send(v.to_string());
                    };
                    reply(json!({"type": "ack", "id": cmd["id"]}));
                    match cmd["type"].as_str().unwrap_or_default() {
                        "bind" => side = cmd["side"].as_str().unwrap_or_default().to_owned(),
                        "allocate" => reply(json!({"type": "allocated", "nameplate": "1"})),
                        "claim" => reply(json!({"type": "claimed", "mailbox": "mb"})),
                        "release" => reply(json!({"type": "released"})),
                        "close" => reply(json!({"type": "closed"})),
                        "add" => {
                            let message = json!({"type": "message", "side": side,
                                "phase": cmd["phase"], "body": cmd["body"]})
                            .to_string();
                            let mut out = vec![message.clone(), message];
                            if cmd["phase"] == "0" {
                                *held.lock().unwrap() = Some(out.pop().unwrap());
                                out.clear();
                            } else if cmd["phase"] == "1" {
                                out.extend(held.lock().unwrap().take());
                            }
                            for to in outboxes.lock().unwrap().iter() {
                                for m in &out {
                                    let _ = to.send(m.clone());
                                }
                            }
                        }
                        _ => {}
                    }
                }
            });
        }
    });
    url
}

const WAIT: Duration = Duration::from_secs(10);

async fn pair(
    url: &str,
    a_code: &str,
    b_code: &str,
) -> (
    Result<Wormhole, WormholeError>,
    Result<Wormhole, WormholeError>,
) {
    let a = Bound::connect(url, APPID).await.unwrap();
    let b = Bound::connect(url, APPID).await.unwrap();
    let (a_code, b_code): (WormholeCode, WormholeCode) =
        (a_code.parse().unwrap(), b_code.parse().unwrap());
    let versions = json!({"app_versions": {"test": {}}});
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::join!(
        a.join(&a_code, APPID, versions.clone(), WAIT, &stop),
        b.join(&b_code, APPID, versions.clone(), WAIT, &stop)
    )
}

#[tokio::test]
async fn messages_arrive_once_and_in_order_through_an_unruly_mailbox() {
    let url = unruly_mailbox().await;
    let (a, b) = pair(&url, "1-aardvark-adroitness", "1-aardvark-adroitness").await;
    let (mut a, mut b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.verifier(), b.verifier());
    assert_eq!(a.peer_versions["app_versions"], json!({"test": {}}));
    a.send_json(&json!({"n": 0})).await.unwrap();
    a.send_json(&json!({"n": 1})).await.unwrap();
    a.send_json(&json!({"n": 2})).await.unwrap();
    for n in 0..3 {
        assert_eq!(b.recv_json(WAIT).await.unwrap(), json!({ "n": n }));
    }
    // Our own echoes and the duplicates were dropped: nothing more is waiting.
    assert!(matches!(
        b.recv_json(Duration::from_millis(200)).await,
        Err(WormholeError::Timeout)
    ));
    // The other way too (two messages: this mailbox holds any phase 0 until a 1).
    b.send_json(&json!({"back": 0})).await.unwrap();
    b.send_json(&json!({"back": 1})).await.unwrap();
    assert_eq!(a.recv_json(WAIT).await.unwrap(), json!({"back": 0}));
    assert_eq!(a.recv_json(WAIT).await.unwrap(), json!({"back": 1}));
    a.close(Mood::Happy).await;
    b.close(Mood::Happy).await;
}

#[tokio::test]
async fn a_wrong_code_fails_both_sides_as_a_wrong_code() {
    let url = unruly_mailbox().await;
    let (a, b) = pair(&url, "1-aardvark-adroitness", "1-aardvark-aftermath").await;
    assert!(matches!(a, Err(WormholeError::WrongCode)), "{:?}", a.err());
    assert!(matches!(b, Err(WormholeError::WrongCode)), "{:?}", b.err());
}
