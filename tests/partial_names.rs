//! Issue 14, items 1 and 2: a file still being received is kept under a hidden name
//! of its own (`sockit::transfer::part_path`), never `NAME.part`, so a real file named
//! like a partial download is never taken for one, truncated or renamed over, and a
//! name of any legal length can be received and resumed.

use std::fs;
use std::path::Path;

use crate::harness::*;

const CODE: &str = "14-quiet-harbour";

/// `sockit send PATHS… --no-announce --code CODE`, ready.
fn sender(paths: &[&Path]) -> Server {
    let mut args = vec!["send".to_owned()];
    args.extend(paths.iter().map(|p| p.display().to_string()));
    args.extend(["--no-announce", "--code", CODE].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start(&args);
    server.wait_for("ready");
    server
}

#[test]
fn a_file_and_its_namesake_dot_part_both_arrive_whole() {
    let src = tempfile::tempdir().unwrap();
    let (x, x_part) = (src.path().join("x"), src.path().join("x.part"));
    fs::write(&x, pattern(3 << 20)).unwrap();
    fs::write(&x_part, b"a browser's partial download, kept on purpose").unwrap();
    let server = sender(&[&x_part, &x]);
    let dst = tempfile::tempdir().unwrap();
    let out = transfer_recv(&server, dst.path(), CODE);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(out.events_named("file").len(), 2);
    assert!(fs::read(dst.path().join("x")).unwrap() == pattern(3 << 20));
    assert_eq!(
        fs::read(dst.path().join("x.part")).unwrap(),
        b"a browser's partial download, kept on purpose"
    );
}

#[test]
fn a_users_own_dot_part_file_is_neither_resumed_nor_touched() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("video.mkv");
    fs::write(&file, pattern(2 << 20)).unwrap();
    let dst = tempfile::tempdir().unwrap();
    // The user's own file, and one an earlier transfer delivered, both named as a
    // partial download of the file now arriving; one is even a prefix of it.
    let prefix = &pattern(2 << 20)[..1 << 20];
    fs::write(dst.path().join("video.mkv.part"), prefix).unwrap();
    let server = sender(&[&file]);
    let out = transfer_recv(&server, dst.path(), CODE);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let resumed = out.events_named("file")[0]["resumed"].as_u64().unwrap_or(0);
    assert_eq!(resumed, 0, "taken for a prefix");
    assert!(fs::read(dst.path().join("video.mkv")).unwrap() == pattern(2 << 20));
    assert!(fs::read(dst.path().join("video.mkv.part")).unwrap() == prefix);
}

#[test]
fn names_of_251_to_255_bytes_are_received_and_resumed() {
    let src = tempfile::tempdir().unwrap();
    let names: Vec<String> = (251..=255).map(|n| "n".repeat(n - 4) + ".bin").collect();
    let paths: Vec<_> = names.iter().map(|n| src.path().join(n)).collect();
    for p in &paths {
        fs::write(p, pattern(300_000)).unwrap();
    }
    let refs: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
    let server = sender(&refs);
    let dst = tempfile::tempdir().unwrap();
    // One of them was interrupted before: its partial state is resumed.
    plant_partial(dst.path(), &names[4], &pattern(300_000)[..100_000]);
    let out = transfer_recv(&server, dst.path(), CODE);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let files = out.events_named("file");
    assert_eq!(files.len(), 5);
    for name in &names {
        assert!(
            fs::read(dst.path().join(name)).unwrap() == pattern(300_000),
            "{name}"
        );
    }
    let resumed: Vec<_> = files
        .iter()
        .map(|f| f["resumed"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(
        resumed.iter().filter(|&&r| r == 100_000).count(),
        1,
        "{resumed:?}"
    );
    assert!(
        partial(dst.path(), &names[4]).is_none(),
        "the partial file is gone"
    );
    // Nothing but the five files is left in the folder.
    assert_eq!(fs::read_dir(dst.path()).unwrap().count(), 5);
}
