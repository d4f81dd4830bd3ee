//! How fast transit's secretbox (`sockit::wormhole::secretbox`) seals and opens beside
//! the `crypto_secretbox` crate, the reference it matches byte for byte: 1 GiB in
//! records of 64 KiB (what sockit writes), the median of five runs each.
//!
//! Usage: cargo run --release --example secretbox_speed
//!
//! Each open first copies the sealed record into place, as a receiver reads it in, for
//! both alike.

use std::time::{Duration, Instant};

use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use sockit::wormhole::secretbox::{open_in_place, seal_in_place};

/// The bytes each run seals or opens.
const TOTAL: usize = 1 << 30;
/// One record's plaintext.
const RECORD: usize = 64 << 10;
/// Runs per figure.
const RUNS: usize = 5;

/// MB/s (10^6 bytes) of `run` over `TOTAL`, the median of `RUNS`.
fn median_speed(mut run: impl FnMut()) -> f64 {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            run();
            started.elapsed()
        })
        .collect();
    times.sort();
    TOTAL as f64 / times[RUNS / 2].as_secs_f64() / 1e6
}

fn main() {
    let key: [u8; 32] = rand::random();
    let nonce: [u8; 24] = rand::random();
    let records = TOTAL / RECORD;
    let mut buf: Vec<u8> = (0..RECORD).map(|_| rand::random()).collect();
    let mut sealed = buf.clone();
    let tag = seal_in_place(&key, &nonce, &mut sealed);
    let reference = XSalsa20Poly1305::new((&key).into());

    let seal_old = median_speed(|| {
        for _ in 0..records {
            let tag = reference.encrypt_in_place_detached((&nonce).into(), b"", &mut buf);
            std::hint::black_box(tag.expect("in memory"));
        }
    });
    let seal_new = median_speed(|| {
        for _ in 0..records {
            std::hint::black_box(seal_in_place(&key, &nonce, &mut buf));
        }
    });
    let open_old = median_speed(|| {
        for _ in 0..records {
            buf.copy_from_slice(&sealed);
            let opened =
                reference.decrypt_in_place_detached((&nonce).into(), b"", &mut buf, (&tag).into());
            assert!(opened.is_ok());
        }
    });
    let open_new = median_speed(|| {
        for _ in 0..records {
            buf.copy_from_slice(&sealed);
            assert!(open_in_place(&key, &nonce, &mut buf, &tag).is_ok());
        }
    });
    println!(
        "1 GiB in {} KiB records, MB/s (median of {RUNS}):\n\
         seal: crypto_secretbox {seal_old:.0}, sockit {seal_new:.0} ({:.2}x)\n\
         open: crypto_secretbox {open_old:.0}, sockit {open_new:.0} ({:.2}x)",
        RECORD >> 10,
        seal_new / seal_old,
        open_new / open_old,
    );
}
