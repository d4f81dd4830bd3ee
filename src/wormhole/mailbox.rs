//! The mailbox (rendezvous) server's protocol: JSON messages over one WebSocket
//! (server-protocol.md). Everything the server sends is untrusted: each WebSocket
//! message is bounded, parsed into the few shapes this client uses, and checked.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::WormholeError;

/// The largest WebSocket message (and frame) taken from the server. Mailbox messages
/// are small (a PAKE message, versions, transit hints, an offer); a text message is the
/// one that grows, hex-encoded and sealed: this leaves room for about 400 KiB of text.
pub const MAX_SERVER_MESSAGE: usize = 1 << 20;

/// The longest wait for the TCP and WebSocket handshakes with the server.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest wait for the server's direct answer (`welcome`, `allocated`, `claimed`,
/// `closed`).
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// How many messages one session takes from the server before giving up on it: a
/// session needs a few dozen; a server that floods acks or echoes is broken or hostile.
pub const MAX_SERVER_MESSAGES: usize = 10_000;

/// The longest side, phase, nameplate or mailbox id accepted from the server (all are
/// short: 10 hex digits, `version`, a number, a random id).
pub const MAX_ID: usize = 128;

/// One message from the server, in the shapes this client acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromServer {
    Welcome {
        motd: Option<String>,
        error: Option<String>,
    },
    Allocated {
        nameplate: String,
    },
    Claimed {
        mailbox: String,
    },
    /// A client-to-client message: `side` sent `body` (hex-decoded) in `phase`.
    Message {
        side: String,
        phase: String,
        body: Vec<u8>,
    },
    Closed,
    /// The server refused a command.
    Error {
        error: String,
    },
    /// `ack`, `released`, `pong`, `nameplates`, or a type this client does not know:
    /// the protocol says to ignore them.
    Ignored,
}

fn bad(what: impl Into<String>) -> WormholeError {
    WormholeError::MailboxProtocol(what.into())
}

/// A string field that must be there, short and printable.
fn id_field(msg: &Value, key: &str) -> Result<String, WormholeError> {
    let value = msg
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("`{}` without a string `{key}`", kind(msg))))?;
    if value.len() > MAX_ID || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad(format!("a malformed `{key}` in `{}`", kind(msg))));
    }
    Ok(value.to_owned())
}

fn kind(msg: &Value) -> &str {
    msg.get("type").and_then(Value::as_str).unwrap_or("?")
}

/// A free-text field (`motd`, `error`), kept to its first `MAX_ID * 8` characters.
fn text_field(msg: &Value, key: &str) -> Option<String> {
    let text = match msg.get(key)? {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some(text.chars().take(MAX_ID * 8).collect())
}

/// Parses one server message. Unknown types are `Ignored`; a known type missing what
/// this client needs from it is an error.
pub fn parse(bytes: &[u8]) -> Result<FromServer, WormholeError> {
    let msg: Value =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("a message is not JSON: {e}")))?;
    if !msg.is_object() {
        return Err(bad("a message is not a JSON object"));
    }
    Ok(match kind(&msg) {
        "welcome" => {
            let welcome = msg.get("welcome").cloned().unwrap_or(Value::Null);
            FromServer::Welcome {
                motd: text_field(&welcome, "motd"),
                error: text_field(&welcome, "error"),
            }
        }
        "allocated" => {
            let nameplate = id_field(&msg, "nameplate")?;
            if !nameplate.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("an allocated nameplate that is not a number"));
            }
            FromServer::Allocated { nameplate }
        }
        "claimed" => FromServer::Claimed {
            mailbox: id_field(&msg, "mailbox")?,
        },
        "message" => {
            let body = msg
                .get("body")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("`message` without a string `body`"))?;
            FromServer::Message {
                side: id_field(&msg, "side")?,
                phase: id_field(&msg, "phase")?,
                body: hex::decode(body).map_err(|_| bad("a `message` body that is not hex"))?,
            }
        }
        "closed" => FromServer::Closed,
        "error" => FromServer::Error {
            error: text_field(&msg, "error").unwrap_or_else(|| "(no reason given)".into()),
        },
        _ => FromServer::Ignored,
    })
}

/// The WebSocket to the mailbox server.
pub struct Mailbox {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Messages taken so far (`MAX_SERVER_MESSAGES`).
    taken: usize,
}

impl Mailbox {
    /// Connects to `url` (`ws://HOST:PORT/v1`).
    pub async fn connect(url: &str) -> Result<Mailbox, WormholeError> {
        if url.starts_with("wss:") {
            return Err(WormholeError::Connect {
                url: url.to_owned(),
                why: "wss:// (TLS) mailboxes are not supported yet; the public one is ws://".into(),
            });
        }
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_SERVER_MESSAGE))
            .max_frame_size(Some(MAX_SERVER_MESSAGE));
        let connect = tokio_tungstenite::connect_async_with_config(url, Some(config), true);
        let (ws, _) = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| WormholeError::Connect {
                url: url.to_owned(),
                why: format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
            })?
            .map_err(|e| WormholeError::Connect {
                url: url.to_owned(),
                why: e.to_string(),
            })?;
        Ok(Mailbox { ws, taken: 0 })
    }

    /// Sends a command of type `kind` with `fields` (a JSON object) and a random `id`.
    pub async fn send(&mut self, kind: &str, mut fields: Value) -> Result<(), WormholeError> {
        if let Some(map) = fields.as_object_mut() {
            map.insert("type".into(), json!(kind));
            map.insert("id".into(), json!(hex::encode(rand::random::<[u8; 2]>())));
        }
        self.ws
            .send(Message::text(fields.to_string()))
            .await
            .map_err(|e| WormholeError::WebSocket(e.to_string()))
    }

    /// The next message from the server, within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Result<FromServer, WormholeError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            self.taken += 1;
            if self.taken > MAX_SERVER_MESSAGES {
                return Err(bad(format!(
                    "more than {MAX_SERVER_MESSAGES} messages in one session"
                )));
            }
            let frame = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .map_err(|_| WormholeError::Timeout)?;
            let bytes = match frame {
                None => return Err(WormholeError::Lost),
                Some(Err(e)) => return Err(WormholeError::WebSocket(e.to_string())),
                Some(Ok(Message::Text(text))) => text.as_bytes().to_vec(),
                Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
                Some(Ok(Message::Close(_))) => return Err(WormholeError::Lost),
                // Pings are answered by tungstenite itself.
                Some(Ok(_)) => continue,
            };
            return parse(&bytes);
        }
    }

    /// Ends the WebSocket politely (errors ignored: the session is over either way).
    pub async fn shut(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.close(None)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shapes_this_client_uses_parse() {
        let p = |s: &str| parse(s.as_bytes());
        assert_eq!(
            p(r#"{"type":"welcome","welcome":{"motd":"hi"},"server_tx":1.5}"#).unwrap(),
            FromServer::Welcome {
                motd: Some("hi".into()),
                error: None
            }
        );
        assert_eq!(
            p(r#"{"type":"allocated","nameplate":"7"}"#).unwrap(),
            FromServer::Allocated {
                nameplate: "7".into()
            }
        );
        assert_eq!(
            p(r#"{"type":"message","side":"abc","phase":"pake","body":"6869","id":"1"}"#).unwrap(),
            FromServer::Message {
                side: "abc".into(),
                phase: "pake".into(),
                body: b"hi".to_vec()
            }
        );
        assert_eq!(
            p(r#"{"type":"error","error":"crowded","orig":{}}"#).unwrap(),
            FromServer::Error {
                error: "crowded".into()
            }
        );
        for ignored in [r#"{"type":"ack","id":"1"}"#, r#"{"type":"future-thing"}"#] {
            assert_eq!(p(ignored).unwrap(), FromServer::Ignored);
        }
    }

    #[test]
    fn malformed_server_messages_are_errors_not_panics() {
        for bad in [
            "",
            "[1]",
            "{",
            r#"{"type":"allocated"}"#,
            r#"{"type":"allocated","nameplate":"7; rm -rf"}"#,
            r#"{"type":"allocated","nameplate":"x"}"#,
            r#"{"type":"claimed","mailbox":5}"#,
            r#"{"type":"message","side":"a","phase":"pake","body":"zz"}"#,
            r#"{"type":"message","side":"a","phase":"pake"}"#,
            r#"{"type":"message","side":"a\u001b[2J","phase":"pake","body":""}"#,
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
        let long = format!(
            r#"{{"type":"claimed","mailbox":"{}"}}"#,
            "m".repeat(MAX_ID + 1)
        );
        assert!(parse(long.as_bytes()).is_err());
    }
}
