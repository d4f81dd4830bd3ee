//! The fuzz targets' properties (`fuzz/props/`), replayed by a plain `cargo test` on
//! every input kept in the repository: each target's seed corpus (`fuzz/corpus/TARGET/`)
//! and every crash or failure a fuzzer ever found (`fuzz/regressions/TARGET/`, where
//! `.ci/run` saves them). How to fuzz for hours: docs/fuzzing.md.

use std::path::Path;

#[path = "../fuzz/props/addr.rs"]
mod addr;
#[path = "../fuzz/props/chunked.rs"]
mod chunked;
#[path = "../fuzz/props/client_hello.rs"]
mod client_hello;
#[path = "../fuzz/props/framing.rs"]
mod framing;
#[path = "../fuzz/props/http_request.rs"]
mod http_request;
#[path = "../fuzz/props/manifest.rs"]
mod manifest;
#[path = "../fuzz/props/perf.rs"]
mod perf;
#[path = "../fuzz/props/safepath.rs"]
mod safepath;
#[path = "../fuzz/props/wire.rs"]
mod wire;
#[path = "../fuzz/props/wormhole.rs"]
mod wormhole;

/// Runs `check` on every file kept for `target`; says how many there were.
fn replay(target: &str, check: fn(&[u8]) -> arbitrary::Result<()>) -> usize {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut count = 0;
    for kind in ["corpus", "regressions"] {
        let Ok(dir) = std::fs::read_dir(fuzz.join(kind).join(target)) else {
            continue;
        };
        for entry in dir {
            let path = entry.unwrap().path();
            let input = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| check(&input));
            assert!(outcome.is_ok(), "{target}: {} fails", path.display());
            count += 1;
        }
    }
    count
}

macro_rules! replays {
    ($($target:ident),*) => {$(
        #[test]
        fn $target() {
            let count = replay(stringify!($target), $target::check);
            assert!(count > 0, "no seed corpus for {}", stringify!($target));
        }
    )*};
}

replays!(
    addr,
    chunked,
    client_hello,
    framing,
    http_request,
    manifest,
    perf,
    safepath,
    wire,
    wormhole
);
