//! Transit hints: where each side can be reached (`direct-tcp-v1`) and which relays it
//! uses (`relay-v1`), as the file transfer's `transit` message carries them
//! (file-transfer-protocol.md, "Transit"). Hints from the peer are untrusted: bounded in
//! number, each checked, malformed ones dropped.

use std::net::SocketAddr;

use serde_json::{json, Value};

/// The most hints of each kind taken from the peer: a real client offers one per
/// interface address and one or two relays.
pub const MAX_PEER_HINTS: usize = 16;

/// The longest host name taken from a hint (DNS's limit).
pub const MAX_HOST: usize = 253;

/// A TCP endpoint from a hint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Hint {
    pub host: String,
    pub port: u16,
}

impl Hint {
    /// `HOST:PORT`, with an IPv6 address in brackets: what `TcpStream::connect` takes.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// A relay given as `HOST:PORT` (`--relay`).
    pub fn parse(hostport: &str) -> Option<Hint> {
        let (host, port) = hostport.rsplit_once(':')?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        checked(host, port.parse().ok()?)
    }
}

fn checked(host: &str, port: u16) -> Option<Hint> {
    let plausible = !host.is_empty()
        && host.len() <= MAX_HOST
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'_'));
    (plausible && port != 0).then(|| Hint {
        host: host.to_owned(),
        port,
    })
}

/// One hint object (`hostname`, `port`), if it is well formed.
fn endpoint(hint: &Value) -> Option<Hint> {
    let host = hint.get("hostname")?.as_str()?;
    let port = u16::try_from(hint.get("port")?.as_u64()?).ok()?;
    checked(host, port)
}

/// What the peer's `transit` message offers.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PeerHints {
    pub direct: Vec<Hint>,
    pub relays: Vec<Hint>,
}

impl PeerHints {
    /// The hints of a `transit` message's value (`abilities-v1`, `hints-v1`). Unknown
    /// types (`tor-tcp-v1`) and malformed hints are left out; at most `MAX_PEER_HINTS`
    /// of each kind are kept.
    pub fn parse(transit: &Value) -> PeerHints {
        let mut hints = PeerHints::default();
        let Some(list) = transit.get("hints-v1").and_then(Value::as_array) else {
            return hints;
        };
        for hint in list.iter().take(MAX_PEER_HINTS * 4) {
            match hint.get("type").and_then(Value::as_str) {
                Some("direct-tcp-v1") => {
                    if let Some(h) = endpoint(hint) {
                        push(&mut hints.direct, h);
                    }
                }
                Some("relay-v1") => {
                    let inner = hint.get("hints").and_then(Value::as_array);
                    for relay in inner.into_iter().flatten().take(MAX_PEER_HINTS) {
                        if let Some(h) = endpoint(relay) {
                            push(&mut hints.relays, h);
                        }
                    }
                }
                _ => {}
            }
        }
        hints
    }
}

fn push(list: &mut Vec<Hint>, hint: Hint) {
    if list.len() < MAX_PEER_HINTS && !list.contains(&hint) {
        list.push(hint);
    }
}

/// Our `transit` message's value: both abilities, a direct hint per address in
/// `direct`, and `relay` (when there is one).
pub fn ours(direct: &[SocketAddr], relay: Option<&Hint>) -> Value {
    let mut hints: Vec<Value> = direct
        .iter()
        .map(|a| {
            json!({"type": "direct-tcp-v1", "priority": 0.0,
                   "hostname": a.ip().to_string(), "port": a.port()})
        })
        .collect();
    if let Some(r) = relay {
        hints.push(json!({"type": "relay-v1", "hints": [
            {"type": "direct-tcp-v1", "priority": 0.0, "hostname": r.host, "port": r.port}
        ]}));
    }
    json!({
        "abilities-v1": [{"type": "direct-tcp-v1"}, {"type": "relay-v1"}],
        "hints-v1": hints,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_python_clients_hints_parse() {
        let transit = json!({
            "abilities-v1": [{"type": "direct-tcp-v1"}, {"type": "relay-v1"}],
            "hints-v1": [
                {"type": "direct-tcp-v1", "priority": 0.0, "hostname": "192.168.1.5", "port": 40001},
                {"type": "direct-tcp-v1", "priority": 0.0, "hostname": "fe80::1", "port": 40001},
                {"type": "tor-tcp-v1", "hostname": "x.onion", "port": 80},
                {"type": "relay-v1", "hints": [
                    {"type": "direct-tcp-v1", "priority": 0.0, "hostname": "relay.example", "port": 4001}
                ]}
            ]
        });
        let hints = PeerHints::parse(&transit);
        assert_eq!(hints.direct.len(), 2);
        assert_eq!(hints.direct[1].addr(), "[fe80::1]:40001");
        assert_eq!(
            hints.relays,
            vec![Hint::parse("relay.example:4001").unwrap()]
        );
        // Ours reads back the same way.
        let addr: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let back = PeerHints::parse(&ours(&[addr], hints.relays.first()));
        assert_eq!(back.direct[0].addr(), "127.0.0.1:5000");
        assert_eq!(back.relays, hints.relays);
    }

    #[test]
    fn malformed_or_too_many_hints_are_dropped() {
        let mut list = vec![
            json!({"type": "direct-tcp-v1", "hostname": "a b", "port": 1}),
            json!({"type": "direct-tcp-v1", "hostname": "h", "port": 0}),
            json!({"type": "direct-tcp-v1", "hostname": "h", "port": 70000}),
            json!({"type": "direct-tcp-v1", "hostname": "h", "port": "1"}),
            json!({"type": "direct-tcp-v1", "hostname": "x".repeat(MAX_HOST + 1), "port": 1}),
            json!({"type": "direct-tcp-v1", "hostname": "h\n", "port": 1}),
            json!({"type": "relay-v1", "hints": "nope"}),
            json!("not an object"),
        ];
        for port in 1..100u16 {
            list.push(json!({"type": "direct-tcp-v1", "hostname": "h", "port": port}));
        }
        let hints = PeerHints::parse(&json!({ "hints-v1": list }));
        assert_eq!(hints.direct.len(), MAX_PEER_HINTS);
        assert!(hints.direct.iter().all(|h| h.host == "h"));
        assert!(hints.relays.is_empty());
        assert_eq!(PeerHints::parse(&json!(null)), PeerHints::default());
    }
}
