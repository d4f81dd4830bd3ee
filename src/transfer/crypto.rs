//! The record cipher: AES-256-GCM in a STREAM construction (per-record counter nonces
//! and a final-record flag), so reordering, replay, tampering and truncation all fail.
//!
//! The AES-GCM itself is ring's (BoringSSL's assembly, AES-NI/VAES with carry-less
//! multiplication): it is much faster than RustCrypto's `aes-gcm` on the benchmark
//! machine, and encryption is otherwise the bottleneck of a transfer (figures:
//! docs/benchmarks.md, "Transfer"; docs/security.md, "Cipher and libraries"). The tests
//! check it against RustCrypto's implementation record by record.

use ring::aead::{Aad, LessSafeKey, Nonce, Tag, UnboundKey, AES_256_GCM};

/// Bytes the AEAD tag adds to every record.
pub const TAG_LEN: usize = 16;

/// Refused to open a record: it was altered, replayed, reordered or forged.
#[derive(Debug, thiserror::Error)]
#[error("a record failed authentication (the stream was altered or is not from this session)")]
pub struct Tampered;

/// The 12-byte nonce of record `counter`: 8 bytes of counter (big-endian), one byte
/// set on the final record, three zero bytes. Each direction has its own key, so a
/// (key, nonce) pair is never used twice.
fn nonce(counter: u64, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    n[..8].copy_from_slice(&counter.to_be_bytes());
    n[8] = u8::from(last);
    Nonce::assume_unique_for_key(n)
}

/// The session key of one direction, for ring.
fn aes_key(bytes: &[u8; 32]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).expect("a 32-byte AES-256 key"))
}

/// Encrypts one direction's records in order.
pub struct Sealer {
    cipher: LessSafeKey,
    counter: u64,
}

impl Sealer {
    pub fn new(key: &[u8; 32]) -> Self {
        Sealer {
            cipher: aes_key(key),
            counter: 0,
        }
    }

    /// Encrypts `buf` in place and returns the tag to send after it.
    pub fn seal(&mut self, buf: &mut [u8], last: bool) -> [u8; TAG_LEN] {
        let n = nonce(self.counter, last);
        self.counter += 1;
        let tag = self
            .cipher
            .seal_in_place_separate_tag(n, Aad::empty(), buf)
            .expect("AES-GCM encrypts any record below 64 GiB");
        tag.as_ref().try_into().expect("AES-GCM tags are 16 bytes")
    }
}

/// Decrypts one direction's records, expecting them in the order they were sealed.
pub struct Opener {
    cipher: LessSafeKey,
    counter: u64,
}

impl Opener {
    pub fn new(key: &[u8; 32]) -> Self {
        Opener {
            cipher: aes_key(key),
            counter: 0,
        }
    }

    /// Decrypts `buf` in place after checking `tag`.
    pub fn open(&mut self, buf: &mut [u8], tag: &[u8], last: bool) -> Result<(), Tampered> {
        if tag.len() != TAG_LEN {
            return Err(Tampered);
        }
        let n = nonce(self.counter, last);
        let tag = Tag::try_from(tag).map_err(|_| Tampered)?;
        self.cipher
            .open_in_place_separate_tag(n, Aad::empty(), tag, buf, 0..)
            .map_err(|_| Tampered)?;
        self.counter += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_open_only_in_order_with_their_flag() {
        let key = [7u8; 32];
        let mut sealer = Sealer::new(&key);
        let mut records = Vec::new();
        for (i, text) in ["one", "two", "end"].iter().enumerate() {
            let mut buf = text.as_bytes().to_vec();
            let tag = sealer.seal(&mut buf, i == 2);
            assert_ne!(buf, text.as_bytes());
            records.push((buf, tag));
        }
        // In order, with the right flags: the plaintext comes back.
        let mut opener = Opener::new(&key);
        for (i, (r, tag)) in records.iter().enumerate() {
            let mut buf = r.clone();
            opener.open(&mut buf, tag, i == 2).unwrap();
            assert_eq!(buf, ["one", "two", "end"][i].as_bytes());
        }
        // Skipping a record, flipping a bit, or claiming an early end: refused.
        let mut opener = Opener::new(&key);
        let (first, tag0) = &records[0];
        assert!(opener
            .open(&mut records[1].0.clone(), &records[1].1, false)
            .is_err());
        let mut flipped = first.clone();
        flipped[0] ^= 1;
        assert!(opener.open(&mut flipped, tag0, false).is_err());
        assert!(opener.open(&mut first.clone(), tag0, true).is_err());
        // The other direction's key opens nothing.
        assert!(Opener::new(&[8u8; 32])
            .open(&mut first.clone(), tag0, false)
            .is_err());
    }

    /// The records are exactly AES-256-GCM as RustCrypto computes it (same nonce
    /// layout, empty associated data, tag after the ciphertext): a second implementation
    /// of docs/protocol.md can use either library.
    #[test]
    fn records_match_rustcrypto_aes_gcm() {
        use aes_gcm::{AeadInOut, Aes256Gcm, KeyInit};
        let key = [0x5au8; 32];
        let reference = Aes256Gcm::new(&key.into());
        let mut sealer = Sealer::new(&key);
        for (counter, len) in [0usize, 1, 15, 16, 17, 4096, 100_003]
            .into_iter()
            .enumerate()
        {
            let last = len == 100_003;
            let plain: Vec<u8> = (0..len).map(|i| (i * 31 + counter) as u8).collect();
            let mut ours = plain.clone();
            let tag = sealer.seal(&mut ours, last);
            let mut n = [0u8; 12];
            n[..8].copy_from_slice(&(counter as u64).to_be_bytes());
            n[8] = u8::from(last);
            let mut theirs = plain.clone();
            let their_tag = reference
                .encrypt_inout_detached(&n.into(), b"", theirs.as_mut_slice().into())
                .unwrap();
            assert_eq!(ours, theirs, "ciphertext of record {counter}");
            assert_eq!(
                tag.as_slice(),
                their_tag.as_slice(),
                "tag of record {counter}"
            );
        }
    }
}
