//! What a mailbox server and a wormhole peer send is parsed without panicking: server
//! messages (`mailbox::parse`), transit hints (`PeerHints::parse`, within its bounds),
//! and codes as typed (one that parses prints back as itself). And transit's secretbox
//! (sockit's own) seals exactly as `crypto_secretbox` does and opens only what it
//! sealed: the input's first 32 bytes are the key, the next 24 the nonce, the rest the
//! message.

use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use sockit::wormhole::hints::{PeerHints, MAX_PEER_HINTS};
use sockit::wormhole::mailbox::parse;
use sockit::wormhole::secretbox;
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
    if data.len() >= 56 {
        sealed_as_the_reference(&data[..32], &data[32..56], &data[56..]);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(code) = text.parse::<WormholeCode>() {
            assert_eq!(code.to_string().parse::<WormholeCode>(), Ok(code.clone()));
            assert!(code.as_str().starts_with(code.nameplate()));
        }
    }
    Ok(())
}

fn sealed_as_the_reference(key: &[u8], nonce: &[u8], message: &[u8]) {
    let key: [u8; 32] = key.try_into().expect("32 bytes");
    let nonce: [u8; 24] = nonce.try_into().expect("24 bytes");
    let mut ours = message.to_vec();
    let tag = secretbox::seal_in_place(&key, &nonce, &mut ours);
    let mut theirs = message.to_vec();
    let their_tag = XSalsa20Poly1305::new(&key.into())
        .encrypt_in_place_detached(&nonce.into(), b"", &mut theirs)
        .expect("in memory");
    assert_eq!(ours, theirs, "ciphertext");
    assert_eq!(tag.as_slice(), their_tag.as_slice(), "tag");
    let mut forged = tag;
    forged[0] ^= 1;
    let mut kept = ours.clone();
    assert!(secretbox::open_in_place(&key, &nonce, &mut kept, &forged).is_err());
    assert_eq!(kept, ours, "a forged box is left as it was");
    secretbox::open_in_place(&key, &nonce, &mut ours, &tag).expect("its own tag");
    assert_eq!(ours, message);
}
