//! What `send --wormhole` and `recv --wormhole` are asked to do, and the servers.

use std::path::PathBuf;
use std::time::Duration;

use super::code::WormholeCode;
use crate::net::addr::Endpoint;
use crate::transfer::Existing;

/// The public mailbox server every wormhole client uses by default (run by the
/// magic-wormhole project). Overridden by `--mailbox` or `WORMHOLE_RELAY_URL`.
pub const DEFAULT_MAILBOX: &str = "ws://relay.magic-wormhole.io:4000/v1";

/// The public transit relay (run by the magic-wormhole project). Overridden by
/// `--relay` or `WORMHOLE_TRANSIT_HELPER`.
pub const DEFAULT_RELAY: &str = "transit.magic-wormhole.io:4001";

/// The servers a wormhole goes through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Servers {
    /// The mailbox's WebSocket URL (`ws://HOST:PORT/v1`).
    pub mailbox: String,
    /// The transit relay, `HOST:PORT`.
    pub relay: String,
}

/// A relay as `HOST:PORT`, or as the Python client writes it, `tcp:HOST:PORT`.
pub fn parse_relay(text: &str) -> Result<String, String> {
    let text = text.trim();
    let hostport = text.strip_prefix("tcp:").unwrap_or(text);
    let (host, port) = hostport
        .rsplit_once(':')
        .ok_or_else(|| format!("relay {text:?}: expected HOST:PORT (or tcp:HOST:PORT)"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(format!(
            "relay {text:?}: expected HOST:PORT (or tcp:HOST:PORT)"
        ));
    }
    Ok(hostport.to_owned())
}

/// What `send --wormhole` is asked to do.
#[derive(Debug, Clone)]
pub struct WormholeSendConfig {
    pub servers: Servers,
    /// A text message (`--text`) instead of files.
    pub text: Option<String>,
    /// The file or folder to send.
    pub paths: Vec<PathBuf>,
    /// The code to use instead of one with an allocated nameplate.
    pub code: Option<WormholeCode>,
    /// Where the transit listener binds (its addresses are the direct hints).
    pub bind: Endpoint,
    /// No listener and no direct connections: through the relay only.
    pub relay_only: bool,
}

/// What `recv --wormhole` is asked to do.
#[derive(Debug, Clone)]
pub struct WormholeRecvConfig {
    pub servers: Servers,
    /// `None`: asked for on the terminal.
    pub code: Option<WormholeCode>,
    /// The folder to write into.
    pub output: PathBuf,
    pub existing: Existing,
    /// How long to wait for the sender at each step.
    pub timeout: Duration,
    /// Where the transit listener binds.
    pub bind: Endpoint,
    /// No listener and no direct connections: through the relay only.
    pub relay_only: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relays_are_host_port_with_or_without_tcp() {
        assert_eq!(parse_relay("127.0.0.1:4001").unwrap(), "127.0.0.1:4001");
        assert_eq!(
            parse_relay("tcp:relay.example:4001").unwrap(),
            "relay.example:4001"
        );
        assert_eq!(parse_relay("[::1]:4001").unwrap(), "[::1]:4001");
        for bad in ["", "host", "host:", ":4001", "tcp:host:0", "host:99999"] {
            assert!(parse_relay(bad).is_err(), "{bad}");
        }
    }
}
