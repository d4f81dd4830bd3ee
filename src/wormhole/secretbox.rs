//! NaCl secretbox (XSalsa20-Poly1305) for transit's records, sealed and opened in
//! place with the tag apart, byte for byte as `crypto_secretbox` and libsodium do.
//!
//! Written by hand rather than taken from `crypto_secretbox` because its Salsa20 makes
//! one 64-byte block at a time: on a bulk transfer that keystream was ~40 % of the
//! receiver's CPU, against a Python peer whose libsodium uses SIMD. Here the keystream
//! is made several blocks at a time, one block per vector lane, from plain loops the
//! compiler vectorises; the MAC is the `poly1305` crate's (AVX2 where the CPU has it).
//! The mailbox messages, a few per wormhole, keep `crypto_secretbox` (key.rs).

use poly1305::universal_hash::{KeyInit, UniversalHash};
use poly1305::Poly1305;
use subtle::ConstantTimeEq;

use super::key::{Key, NONCE_LEN, TAG_LEN};

/// A secretbox nonce: the first 16 bytes pick the subkey (HSalsa20), the last 8 are
/// Salsa20's nonce under it.
pub type Nonce = [u8; NONCE_LEN];

/// A Poly1305 tag.
pub type Tag = [u8; TAG_LEN];

/// A sealed message that fails its tag: altered, or sealed under another key or nonce.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the secretbox's tag does not match")]
pub struct Forged;

/// Encrypts `buf` in place under `key` and `nonce`; returns its tag.
pub fn seal_in_place(key: &Key, nonce: &Nonce, buf: &mut [u8]) -> Tag {
    let (salsa, mac) = start(key, nonce);
    salsa.xor(buf);
    tag_of(mac, buf)
}

/// Checks `tag` against the ciphertext `buf` and, only if it matches, decrypts `buf`
/// in place. On `Forged`, `buf` is left as it was.
pub fn open_in_place(key: &Key, nonce: &Nonce, buf: &mut [u8], tag: &Tag) -> Result<(), Forged> {
    let (salsa, mac) = start(key, nonce);
    if !bool::from(tag_of(mac, buf).ct_eq(tag)) {
        return Err(Forged);
    }
    salsa.xor(buf);
    Ok(())
}

/// Bytes of a Salsa20 block.
const BLOCK_LEN: usize = 64;

/// Bytes at the start of keystream block 0 that are Poly1305's one-time key, not
/// keystream for the message.
const MAC_KEY_LEN: usize = 32;

/// How much of the message block 0 covers (the rest of it after the MAC key).
const FIRST_BLOCK_TEXT: usize = BLOCK_LEN - MAC_KEY_LEN;

/// Salsa20's double rounds (20 rounds: column round then row round, ten times).
const DOUBLE_ROUNDS: usize = 10;

/// "expand 32-byte k" as four little-endian words, at state words 0, 5, 10 and 15.
const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// The state words the constants, key, nonce and block counter sit at.
const SIGMA_WORDS: [usize; 4] = [0, 5, 10, 15];
const KEY_WORDS: [usize; 8] = [1, 2, 3, 4, 11, 12, 13, 14];
const NONCE_WORDS: [usize; 2] = [6, 7];
const COUNTER_LOW: usize = 8;
const COUNTER_HIGH: usize = 9;

/// What HSalsa20 takes of its permuted state: the words not under the attacker's
/// control before permuting (the constants) and those they chose (the nonce).
const HSALSA_OUTPUT_WORDS: [usize; 8] = [0, 5, 10, 15, 6, 7, 8, 9];

/// The message's keystream and its MAC, keyed by the first 32 bytes of block 0.
fn start(key: &Key, nonce: &Nonce) -> (Keystream, Poly1305) {
    let (head, tail) = nonce.split_at(16);
    let subkey = hsalsa20(key, head.try_into().expect("16 bytes"));
    let salsa = Salsa20::new(&subkey, tail.try_into().expect("8 bytes"));
    let block0 = salsa.block(0);
    let (mac_key, first) = block0.split_at(MAC_KEY_LEN);
    let mac = Poly1305::new(poly1305::Key::from_slice(mac_key));
    let first = first.try_into().expect("the rest of the block");
    (Keystream { salsa, first }, mac)
}

/// The keystream a message is XORed with: the second half of block 0, then blocks 1,
/// 2, … whole.
struct Keystream {
    salsa: Salsa20,
    first: [u8; FIRST_BLOCK_TEXT],
}

impl Keystream {
    fn xor(&self, buf: &mut [u8]) {
        let (head, rest) = buf.split_at_mut(buf.len().min(FIRST_BLOCK_TEXT));
        for (b, k) in head.iter_mut().zip(&self.first) {
            *b ^= k;
        }
        if !rest.is_empty() {
            xor_keystream(&self.salsa.0, 1, rest);
        }
    }
}

/// Poly1305 of `ciphertext`. The whole 16-byte blocks go through `update_padded` (no
/// padding: they are whole), which hands the AVX2 backend four blocks at a time; the
/// last, short block is padded with 0x01 and zeros, as `compute_unpadded` does.
fn tag_of(mut mac: Poly1305, ciphertext: &[u8]) -> Tag {
    let whole = ciphertext.len() - ciphertext.len() % TAG_LEN;
    mac.update_padded(&ciphertext[..whole]);
    mac.compute_unpadded(&ciphertext[whole..]).into()
}

/// The Salsa20 state before a block counter is put in (words 8 and 9 are zero).
#[derive(Clone, Copy)]
struct Salsa20([u32; 16]);

impl Salsa20 {
    fn new(key: &Key, nonce: &[u8; 8]) -> Self {
        let mut state = [0u32; 16];
        for (word, c) in SIGMA_WORDS.iter().zip(SIGMA) {
            state[*word] = c;
        }
        for (word, bytes) in KEY_WORDS.iter().zip(key.chunks_exact(4)) {
            state[*word] = le_word(bytes);
        }
        for (word, bytes) in NONCE_WORDS.iter().zip(nonce.chunks_exact(4)) {
            state[*word] = le_word(bytes);
        }
        Salsa20(state)
    }

    /// Keystream block `counter`, one at a time (block 0, for the MAC key).
    fn block(&self, counter: u64) -> [u8; BLOCK_LEN] {
        let mut out = [0u8; BLOCK_LEN];
        xor_blocks::<1>(&self.0, counter, &mut out);
        out
    }
}

fn le_word(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes.try_into().expect("4 bytes"))
}

/// HSalsa20: the subkey for the first 16 bytes of an XSalsa20 nonce. The nonce fills
/// words 6 to 9 (where Salsa20 has its nonce and counter), and there is no
/// feed-forward addition: the output is part of the permuted state itself.
fn hsalsa20(key: &Key, nonce: &[u8; 16]) -> Key {
    let mut state = Salsa20::new(key, nonce[..8].try_into().expect("8 bytes")).0;
    state[COUNTER_LOW] = le_word(&nonce[8..12]);
    state[COUNTER_HIGH] = le_word(&nonce[12..16]);
    let mut x = state.map(|w| [w]);
    permute(&mut x);
    let mut subkey = [0u8; 32];
    for (out, word) in subkey.chunks_exact_mut(4).zip(HSALSA_OUTPUT_WORDS) {
        out.copy_from_slice(&x[word][0].to_le_bytes());
    }
    subkey
}

/// XORs `buf` with the keystream starting at block `first`, the widest way this CPU
/// allows. `buf` starts on a block boundary.
fn xor_keystream(state: &[u32; 16], first: u64, buf: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, checked just above, the one precondition
            // of calling a function compiled for it.
            return unsafe { xor_keystream_avx512(state, first, buf) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { xor_keystream_avx2(state, first, buf) };
        }
    }
    xor_keystream_lanes::<PORTABLE_LANES>(state, first, buf);
}

/// Blocks at once with only the baseline instructions (SSE2 on x86-64: four 32-bit
/// lanes per register). On x86-64 this comes out no faster than one block at a time
/// (~700 MB/s, as `crypto_secretbox`): the compiler keeps most of it scalar.
const PORTABLE_LANES: usize = 4;

/// The same loops compiled for AVX2: sixteen blocks, two 256-bit registers per word.
/// (Eight blocks, one register per word, would seem the natural fit, but then the
/// compiler leaves most of the rounds scalar: 650 MB/s against 1,850-2,300.)
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn xor_keystream_avx2(state: &[u32; 16], first: u64, buf: &mut [u8]) {
    xor_keystream_lanes::<16>(state, first, buf);
}

/// The same loops compiled for AVX-512: sixteen blocks, one 512-bit register per
/// word, and rotation is one instruction.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn xor_keystream_avx512(state: &[u32; 16], first: u64, buf: &mut [u8]) {
    xor_keystream_lanes::<16>(state, first, buf);
}

/// XORs `buf` with the keystream from block `first`, `LANES` blocks per step.
#[inline(always)]
fn xor_keystream_lanes<const LANES: usize>(state: &[u32; 16], first: u64, buf: &mut [u8]) {
    let step = LANES * BLOCK_LEN;
    let mut counter = first;
    let mut chunks = buf.chunks_exact_mut(step);
    for chunk in &mut chunks {
        xor_blocks::<LANES>(state, counter, chunk);
        counter += LANES as u64;
    }
    let rest = chunks.into_remainder();
    if !rest.is_empty() {
        // The last, partial step: make whole blocks aside and XOR what is needed.
        let mut pad = [[0u8; BLOCK_LEN]; LANES];
        xor_blocks::<LANES>(state, counter, pad.as_flattened_mut());
        for (b, k) in rest.iter_mut().zip(pad.as_flattened()) {
            *b ^= k;
        }
    }
}

/// XORs `out` (`LANES` blocks long) with keystream blocks `counter`,
/// `counter + 1`, …: block `counter + l` is computed in lane `l` of each word.
#[inline(always)]
fn xor_blocks<const LANES: usize>(state: &[u32; 16], counter: u64, out: &mut [u8]) {
    let out = &mut out[..LANES * BLOCK_LEN];
    let mut input = state.map(|w| [w; LANES]);
    let block = |lane: usize| counter + lane as u64;
    input[COUNTER_LOW] = std::array::from_fn(|lane| block(lane) as u32);
    input[COUNTER_HIGH] = std::array::from_fn(|lane| (block(lane) >> 32) as u32);
    let mut x = input;
    permute(&mut x);
    for (word, (x, input)) in x.iter().zip(&input).enumerate() {
        for lane in 0..LANES {
            let at = lane * BLOCK_LEN + word * 4;
            let key = x[lane].wrapping_add(input[lane]).to_le_bytes();
            for (b, k) in out[at..at + 4].iter_mut().zip(key) {
                *b ^= k;
            }
        }
    }
}

/// Salsa20's 20 rounds on `LANES` states at once (word `i` of state `l` is
/// `x[i][l]`).
#[inline(always)]
fn permute<const LANES: usize>(x: &mut [[u32; LANES]; 16]) {
    for _ in 0..DOUBLE_ROUNDS {
        // Column round: each column, from its diagonal word down.
        quarter_round(x, [0, 4, 8, 12]);
        quarter_round(x, [5, 9, 13, 1]);
        quarter_round(x, [10, 14, 2, 6]);
        quarter_round(x, [15, 3, 7, 11]);
        // Row round: each row, from its diagonal word rightwards.
        quarter_round(x, [0, 1, 2, 3]);
        quarter_round(x, [5, 6, 7, 4]);
        quarter_round(x, [10, 11, 8, 9]);
        quarter_round(x, [15, 12, 13, 14]);
    }
}

/// The quarter-round on words (y0, y1, y2, y3), in every lane:
/// y1 ^= (y0 + y3) <<< 7, y2 ^= (y1 + y0) <<< 9, y3 ^= (y2 + y1) <<< 13,
/// y0 ^= (y3 + y2) <<< 18.
#[inline(always)]
fn quarter_round<const LANES: usize>(x: &mut [[u32; LANES]; 16], [y0, y1, y2, y3]: [usize; 4]) {
    step(x, y1, y0, y3, 7);
    step(x, y2, y1, y0, 9);
    step(x, y3, y2, y1, 13);
    step(x, y0, y3, y2, 18);
}

/// `x[target] ^= (x[a] + x[b]) <<< bits`, lane by lane: the loop the compiler turns
/// into vector instructions. (Indexed: it reads two words of `x` while writing a third.)
#[inline(always)]
#[allow(clippy::needless_range_loop)]
fn step<const LANES: usize>(
    x: &mut [[u32; LANES]; 16],
    target: usize,
    a: usize,
    b: usize,
    bits: u32,
) {
    for lane in 0..LANES {
        x[target][lane] ^= x[a][lane].wrapping_add(x[b][lane]).rotate_left(bits);
    }
}

#[cfg(test)]
#[path = "secretbox_tests.rs"]
mod tests;
