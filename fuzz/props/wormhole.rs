//! What a mailbox server and a wormhole peer send is parsed without panicking: server
//! messages (`mailbox::parse`), transit hints (`PeerHints::parse`, within its bounds),
//! and codes as typed (one that parses prints back as itself).

use sockit::wormhole::hints::{PeerHints, MAX_PEER_HINTS};
use sockit::wormhole::mailbox::parse;
use sockit::wormhole::WormholeCode;

pub fn check(data: &[u8]) -> arbitrary::Result<()> {
    let _ = parse(data);
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let hints = PeerHints::parse(&value);
        assert!(hints.direct.len() <= MAX_PEER_HINTS && hints.relays.len() <= MAX_PEER_HINTS);
        for hint in hints.direct.iter().chain(&hints.relays) {
            assert!(hint.port != 0 && !hint.host.is_empty());
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(code) = text.parse::<WormholeCode>() {
            assert_eq!(code.to_string().parse::<WormholeCode>(), Ok(code.clone()));
            assert!(code.as_str().starts_with(code.nameplate()));
        }
    }
    Ok(())
}
