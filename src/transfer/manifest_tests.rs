//! The unit tests of `manifest.rs`.

use super::*;

fn entry(path: &str, kind: Kind) -> Entry {
    Entry {
        path: path.into(),
        kind,
        size: Some(0),
        mode: 0o644,
        mtime: 0,
        mtime_ns: 0,
        target: None,
    }
}

#[test]
fn names_that_read_as_other_names_are_refused_but_joiners_are_not() {
    assert_eq!(
        check_path("invoice\u{202e}txt.exe"),
        Err(BadEntry::Deceptive('\u{202e}'))
    );
    assert_eq!(
        check_path("a/\u{feff}b"),
        Err(BadEntry::Deceptive('\u{feff}'))
    );
    assert_eq!(
        check_link_target("x\u{200f}", 0),
        Err(BadEntry::Deceptive('\u{200f}'))
    );
    assert!(BadEntry::Deceptive('\u{202e}')
        .to_string()
        .contains("U+202E"));
    // A family emoji and a Persian word with a zero-width non-joiner.
    assert!(check_path("\u{1f468}\u{200d}\u{1f469}\u{200d}\u{1f467}.jpg").is_ok());
    assert!(check_path("\u{645}\u{6cc}\u{200c}\u{62e}\u{648}\u{627}\u{647}\u{645}").is_ok());
}

#[test]
fn hostile_paths_are_refused() {
    let deep = vec!["d"; MAX_DEPTH + 1].join("/");
    let long = "x".repeat(MAX_PATH_BYTES + 1);
    for (path, why) in [
        ("", BadEntry::Empty),
        ("/etc/x", BadEntry::Absolute),
        ("../x", BadEntry::DotOrEmpty),
        ("a/../../b", BadEntry::DotOrEmpty),
        ("a//b", BadEntry::DotOrEmpty),
        ("./a", BadEntry::DotOrEmpty),
        ("a/", BadEntry::DotOrEmpty),
        ("C:\\x", BadEntry::Backslash),
        ("a\0b", BadEntry::Control),
        ("a\nb", BadEntry::Control),
        ("a\x1b[2Jb", BadEntry::Control),
        (deep.as_str(), BadEntry::TooDeep),
        (long.as_str(), BadEntry::TooLong(MAX_PATH_BYTES + 1)),
    ] {
        assert_eq!(check_path(path), Err(why), "{path:?}");
    }
    assert_eq!(
        check_path("dir/粘包 (1).txt").unwrap(),
        ["dir", "粘包 (1).txt"]
    );
    assert!(
        check_path("..foo/...").is_ok(),
        "dots inside names are fine"
    );
}

#[test]
fn link_targets_must_stay_inside() {
    assert!(check_link_target("b.txt", 0).is_ok());
    assert!(check_link_target("../b.txt", 1).is_ok());
    assert!(check_link_target("./sub/b", 0).is_ok());
    assert_eq!(
        check_link_target("sub/../b", 0),
        Err(BadEntry::LinkClimbsAfterName)
    );
    assert_eq!(
        check_link_target("up/..", 0),
        Err(BadEntry::LinkClimbsAfterName)
    );
    assert_eq!(check_link_target("../x", 0), Err(BadEntry::LinkEscapes));
    assert_eq!(
        check_link_target("a/../../x", 0),
        Err(BadEntry::LinkClimbsAfterName)
    );
    assert_eq!(
        check_link_target("/etc/passwd", 3),
        Err(BadEntry::LinkEscapes)
    );
}

#[test]
fn nothing_may_sit_beneath_a_link_or_a_file() {
    let mut link = entry("d/l", Kind::Symlink);
    link.target = Some("..".into());
    let m = vec![entry("d", Kind::Dir), link, entry("d/l/x", Kind::File)];
    assert_eq!(
        check_manifest(&m),
        Err(("d/l/x".into(), BadEntry::ThroughLink))
    );
    let m = vec![entry("f", Kind::File), entry("f/x", Kind::File)];
    assert_eq!(
        check_manifest(&m),
        Err(("f/x".into(), BadEntry::ThroughLink))
    );
    let m = vec![entry("a", Kind::File), entry("a", Kind::File)];
    assert_eq!(check_manifest(&m), Err(("a".into(), BadEntry::Duplicate)));
    let m = vec![
        entry("d", Kind::Dir),
        entry("d/x", Kind::File),
        entry("dx", Kind::File),
    ];
    assert!(check_manifest(&m).is_ok());
}

#[test]
fn the_encoded_manifest_decodes_to_every_entry_in_order() {
    let mut offer = Offer::default();
    for i in 0..20_000 {
        offer
            .entries
            .push(entry(&format!("d/粘包 \"{i}\".bin"), Kind::File));
    }
    let messages = offer.encoded_manifest();
    assert!(messages.len() > 1, "batched");
    let mut back = Vec::new();
    for m in messages {
        assert!(m.len() < super::super::wire::MAX_CONTROL);
        match serde_json::from_slice(m).unwrap() {
            super::super::wire::Msg::Manifest { entries } => back.extend(entries),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(back, offer.entries);
    assert!(Offer::default().encoded_manifest().is_empty());
}

#[test]
fn offer_walks_a_tree_in_order_with_empty_folders_and_inner_links() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    fs::create_dir_all(root.join("sub/empty")).unwrap();
    fs::write(root.join("b.txt"), "bb").unwrap();
    fs::write(root.join("sub/a.bin"), [0u8, 1, 2]).unwrap();
    std::os::unix::fs::symlink("../b.txt", root.join("sub/link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("escape")).unwrap();
    let offer = Offer::from_paths(&[root]).unwrap();
    let paths: Vec<_> = offer
        .entries
        .iter()
        .map(|e| (e.path.as_str(), e.kind))
        .collect();
    assert_eq!(
        paths,
        [
            ("tree", Kind::Dir),
            ("tree/b.txt", Kind::File),
            ("tree/sub", Kind::Dir),
            ("tree/sub/a.bin", Kind::File),
            ("tree/sub/empty", Kind::Dir),
            ("tree/sub/link", Kind::Symlink),
        ]
    );
    assert_eq!(offer.total_bytes(), 5);
    assert_eq!(offer.sources.len(), offer.entries.len());
    assert_eq!(offer.skipped.len(), 1, "{:?}", offer.skipped);
    assert!(check_manifest(&offer.entries).is_ok());
}
