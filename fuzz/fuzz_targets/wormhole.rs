#![no_main]
//! The property is in `fuzz/props/wormhole.rs`, shared with `cargo test`
//! (tests/fuzz_cases.rs), which replays the seed corpus and every saved regression case.

#[path = "../props/wormhole.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = props::check(data);
});
