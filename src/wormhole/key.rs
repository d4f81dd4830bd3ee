//! The keys of a wormhole: SPAKE2 (symmetric) over the code, HKDF-SHA256 subkeys by
//! purpose, and NaCl secretbox (XSalsa20-Poly1305) for the mailbox messages, each
//! phase and side under a key of its own (client-protocol.md).

use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Nonce, XSalsa20Poly1305};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use spake2::{Ed25519Group, Identity, Password, Spake2};

/// The application id of the file-transfer tool (`wormhole send`). Every client that
/// wants to meet `wormhole receive` binds with it, and its transit key is derived from
/// it whatever application id is in use (magic-wormhole issue 339).
pub const APPID: &str = "lothar.com/wormhole/text-or-file-xfer";

/// The purpose the file transfer's transit key is derived with.
pub const TRANSIT_PURPOSE: &str = "lothar.com/wormhole/text-or-file-xfer/transit-key";

/// Secretbox nonces are this long; a sealed message starts with its nonce.
pub const NONCE_LEN: usize = 24;

/// Poly1305's tag: what sealing adds besides the nonce.
pub const TAG_LEN: usize = 16;

/// A 32-byte key.
pub type Key = [u8; 32];

/// HKDF-SHA256 of `key`, no salt, `purpose` as the info: the one derivation every key
/// of the protocol comes from.
pub fn derive(key: &[u8], purpose: &[u8]) -> Key {
    let mut out = [0u8; 32];
    Hkdf::<Sha256>::new(None, key)
        .expand(purpose, &mut out)
        .expect("32 bytes is a valid HKDF-SHA256 length");
    out
}

/// The key of the message `side` sends in `phase`: the purpose is `wormhole:phase:`
/// followed by the SHA-256 of the side and the SHA-256 of the phase (raw digests).
pub fn phase_key(key: &Key, side: &str, phase: &str) -> Key {
    let mut purpose = b"wormhole:phase:".to_vec();
    purpose.extend_from_slice(&Sha256::digest(side.as_bytes()));
    purpose.extend_from_slice(&Sha256::digest(phase.as_bytes()));
    derive(key, &purpose)
}

/// What both sides can show a person to compare: a match rules out a
/// man-in-the-middle who guessed the code.
pub fn verifier(key: &Key) -> Key {
    derive(key, b"wormhole:verifier")
}

/// Nonce, then the secretbox of `plaintext` under `key` with that nonce.
pub fn seal_with_nonce(key: &Key, nonce: &[u8; NONCE_LEN], plaintext: &[u8]) -> Vec<u8> {
    let sealed = XSalsa20Poly1305::new(key.into())
        .encrypt(Nonce::from_slice(nonce), plaintext)
        .expect("secretbox encryption cannot fail for in-memory data");
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(nonce);
    out.extend_from_slice(&sealed);
    out
}

/// `seal_with_nonce` with a random nonce (mailbox messages: a key is used for one
/// message per side and phase, and random nonces need no state).
pub fn seal(key: &Key, plaintext: &[u8]) -> Vec<u8> {
    seal_with_nonce(key, &rand::random(), plaintext)
}

/// A message that is not sealed under the expected key: a wrong code, or tampering.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("message did not decrypt")]
pub struct Undecryptable;

/// The plaintext of `nonce || box`, if it was sealed under `key`.
pub fn open(key: &Key, sealed: &[u8]) -> Result<Vec<u8>, Undecryptable> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(Undecryptable);
    }
    let (nonce, boxed) = sealed.split_at(NONCE_LEN);
    XSalsa20Poly1305::new(key.into())
        .decrypt(Nonce::from_slice(nonce), boxed)
        .map_err(|_| Undecryptable)
}

/// One side's half of the SPAKE2 exchange (symmetric: both sides do the same).
pub struct Pake(Spake2<Ed25519Group>);

/// The peer's PAKE message was malformed (not a wrong code: that shows later, as a
/// message that does not decrypt).
#[derive(Debug, thiserror::Error)]
#[error("the peer's PAKE message is malformed: {0}")]
pub struct BadPake(String);

impl Pake {
    /// Starts with the code as password and the application id as the symmetric
    /// identity; returns the message for the `pake` phase (its `pake_v1` hex).
    pub fn start(password: &[u8], appid: &str) -> (Pake, Vec<u8>) {
        let (state, msg) = Spake2::<Ed25519Group>::start_symmetric(
            &Password::new(password),
            &Identity::new(appid.as_bytes()),
        );
        (Pake(state), msg)
    }

    #[cfg(test)]
    fn start_with_rng(
        password: &[u8],
        appid: &str,
        rng: impl rand_core::CryptoRng + rand_core::RngCore,
    ) -> (Pake, Vec<u8>) {
        let (state, msg) = Spake2::<Ed25519Group>::start_symmetric_with_rng(
            &Password::new(password),
            &Identity::new(appid.as_bytes()),
            rng,
        );
        (Pake(state), msg)
    }

    /// The shared key, from the peer's message.
    pub fn finish(self, theirs: &[u8]) -> Result<Key, BadPake> {
        let key = self.0.finish(theirs).map_err(|e| BadPake(e.to_string()))?;
        key.try_into()
            .map_err(|k: Vec<u8>| BadPake(format!("a key of {} bytes", k.len())))
    }
}

#[cfg(test)]
#[path = "key_tests.rs"]
mod tests;
