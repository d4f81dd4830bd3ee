//! The secretbox against `crypto_secretbox`, the reference: the same ciphertext and
//! tag, each opening the other's, and nothing altered opening at all.

use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use rand::Rng;

use super::*;

/// Around every edge: the MAC key's half block, block 0, a lane step of each width,
/// Poly1305's 16-byte blocks and the record sizes of both clients.
const LENGTHS: [usize; 14] = [
    0,
    1,
    15,
    31,
    32,
    33,
    63,
    64,
    65,
    255,
    256,
    4095,
    16384,
    65536 + 7,
];

/// How many random lengths up to `LARGEST` are tried besides `LENGTHS`.
const RANDOM_LENGTHS: usize = 4;
const LARGEST: usize = 1 << 20;

fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rand::rng().fill(&mut bytes[..]);
    bytes
}

fn reference_seal(key: &Key, nonce: &Nonce, buf: &mut [u8]) -> Tag {
    XSalsa20Poly1305::new(key.into())
        .encrypt_in_place_detached(nonce.into(), b"", buf)
        .expect("in-memory sealing")
        .into()
}

fn reference_open(key: &Key, nonce: &Nonce, buf: &mut [u8], tag: &Tag) -> bool {
    XSalsa20Poly1305::new(key.into())
        .decrypt_in_place_detached(nonce.into(), b"", buf, tag.into())
        .is_ok()
}

fn all_lengths() -> Vec<usize> {
    let mut rng = rand::rng();
    let mut lengths = LENGTHS.to_vec();
    lengths.extend((0..RANDOM_LENGTHS).map(|_| rng.random_range(0..=LARGEST)));
    lengths
}

#[test]
fn seals_as_crypto_secretbox_does_and_each_opens_the_others() {
    for len in all_lengths() {
        let key: Key = rand::random();
        let nonce: Nonce = rand::random();
        let plain = random_bytes(len);

        let mut ours = plain.clone();
        let our_tag = seal_in_place(&key, &nonce, &mut ours);
        let mut theirs = plain.clone();
        let their_tag = reference_seal(&key, &nonce, &mut theirs);
        assert!(ours == theirs, "ciphertext of {len} bytes differs");
        assert_eq!(our_tag, their_tag, "tag of {len} bytes");

        assert_eq!(open_in_place(&key, &nonce, &mut theirs, &their_tag), Ok(()));
        assert!(theirs == plain, "opened {len} bytes differ");
        assert!(reference_open(&key, &nonce, &mut ours, &our_tag));
        assert!(ours == plain, "{len} bytes opened by the reference differ");
    }
}

#[test]
fn anything_altered_is_refused_and_left_as_it_was() {
    let key: Key = rand::random();
    let nonce: Nonce = rand::random();
    for len in [0, 1, 33, 4095] {
        let mut sealed = random_bytes(len);
        let tag = seal_in_place(&key, &nonce, &mut sealed);

        let mut bad_tag = tag;
        bad_tag[len % TAG_LEN] ^= 0x01;
        let mut buf = sealed.clone();
        assert_eq!(open_in_place(&key, &nonce, &mut buf, &bad_tag), Err(Forged));
        assert!(buf == sealed, "a refused box of {len} bytes was changed");

        if len > 0 {
            let mut buf = sealed.clone();
            buf[len / 2] ^= 0x80;
            let altered = buf.clone();
            assert_eq!(open_in_place(&key, &nonce, &mut buf, &tag), Err(Forged));
            assert!(buf == altered, "a refused box of {len} bytes was changed");
        }

        // Either part of the nonce: the subkey's (HSalsa20) and Salsa20's own.
        for at in [0, NONCE_LEN - 1] {
            let mut other = nonce;
            other[at] ^= 0x01;
            let mut buf = sealed.clone();
            assert_eq!(open_in_place(&key, &other, &mut buf, &tag), Err(Forged));
        }

        let mut other_key = key;
        other_key[31] ^= 0x01;
        let mut buf = sealed.clone();
        assert_eq!(
            open_in_place(&other_key, &nonce, &mut buf, &tag),
            Err(Forged)
        );
    }
}

/// Every lane width makes the same keystream as one block at a time, over partial
/// steps and across the counter's carry into its high word. (The widths the CPU
/// dispatches to run in the tests above, against the reference.)
#[test]
fn every_lane_width_makes_the_same_keystream() {
    let state = Salsa20::new(&rand::random(), &rand::random()).0;
    for first in [1, u64::from(u32::MAX) - 5] {
        for len in [1, 64, 100, 4 * 64, 8 * 64 + 3, 16 * 64, 40 * 64 + 17] {
            let mut one = vec![0u8; len];
            xor_keystream_lanes::<1>(&state, first, &mut one);
            for (lanes, xor) in [
                (
                    4,
                    xor_keystream_lanes::<4> as fn(&[u32; 16], u64, &mut [u8]),
                ),
                (8, xor_keystream_lanes::<8>),
                (16, xor_keystream_lanes::<16>),
            ] {
                let mut wide = vec![0u8; len];
                xor(&state, first, &mut wide);
                assert!(wide == one, "{lanes} lanes, {len} bytes from block {first}");
            }
        }
    }
}
