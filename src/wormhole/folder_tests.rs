//! Zipping a folder and extracting one, hostile zips included.

use super::*;

fn zip_of(entries: &[(&str, &[u8])]) -> File {
    let mut zip = ZipWriter::new(tempfile::tempfile().unwrap());
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    for (name, data) in entries {
        if let Some(dir) = name.strip_suffix('/') {
            zip.add_directory(dir, options).unwrap();
        } else {
            zip.start_file(*name, options).unwrap();
            zip.write_all(data).unwrap();
        }
    }
    let mut file = zip.finish().unwrap();
    file.rewind().unwrap();
    file
}

#[test]
fn a_folder_zips_and_extracts_the_same() {
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("album");
    fs::create_dir_all(root.join("sub/deeper")).unwrap();
    fs::create_dir_all(root.join("empty")).unwrap();
    fs::write(root.join("a.txt"), "alpha").unwrap();
    fs::write(root.join("sub/deeper/ünï.bin"), vec![7u8; 100_000]).unwrap();
    fs::set_permissions(root.join("a.txt"), fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("link")).unwrap();
    let zipped = zip_folder(&root).unwrap();
    assert_eq!(zipped.numbytes, 100_005);
    assert_eq!(zipped.numfiles, 2, "a.txt and the .bin");
    assert_eq!(zipped.left_out.len(), 1, "the symlink");
    assert_eq!(zipped.zipsize, zipped.file.metadata().unwrap().len());

    let out = tempfile::tempdir().unwrap();
    let dest = destination(out.path(), "album", Existing::Refuse).unwrap();
    let files = extract(zipped.file, out.path(), &dest, 100_005, Existing::Refuse).unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(fs::read(dest.join("a.txt")).unwrap(), b"alpha");
    let mode = fs::metadata(dest.join("a.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(
        fs::read(dest.join("sub/deeper/ünï.bin")).unwrap(),
        vec![7u8; 100_000]
    );
    assert!(dest.join("empty").is_dir());
    assert!(!dest.join("link").exists());
    // A second time: the folder is there.
    let again = destination(out.path(), "album", Existing::Refuse).unwrap_err();
    assert!(again.contains("--overwrite"), "{again}");
    assert_eq!(
        destination(out.path(), "album", Existing::Rename).unwrap(),
        out.path().join("album (1)")
    );
}

#[test]
fn hostile_zips_are_refused_before_anything_is_written() {
    for (entries, why) in [
        (vec![("../escape.txt", &b"x"[..])], "'..'"),
        (vec![("/etc/cron.d/x", &b"x"[..])], "absolute"),
        (
            vec![("ok.txt", &b"x"[..]), ("a\u{1b}[2J.txt", &b"x"[..])],
            "control",
        ),
        (vec![("a\\..\\..\\b", &b"x"[..])], "backslash"),
        (vec![(".sockit-part-0123", &b"x"[..])], "partial files"),
    ] {
        let out = tempfile::tempdir().unwrap();
        let dest = out.path().join("in");
        let err = extract(
            zip_of(&entries),
            out.path(),
            &dest,
            1 << 20,
            Existing::Refuse,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains(why), "{err} (wanted {why})");
        assert!(!dest.exists(), "nothing written for {entries:?}");
    }
}

#[test]
fn symlinks_and_oversized_zips_are_refused() {
    let mut zip = ZipWriter::new(tempfile::tempfile().unwrap());
    zip.add_symlink("link", "/etc/passwd", SimpleFileOptions::default())
        .unwrap();
    let mut file = zip.finish().unwrap();
    file.rewind().unwrap();
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("in");
    let err = extract(file, out.path(), &dest, 1 << 20, Existing::Refuse)
        .err()
        .unwrap();
    assert!(err.to_string().contains("symlink"), "{err}");

    // More than the offer announced.
    let zip = zip_of(&[("a", &[1u8; 1000][..]), ("b", &[2u8; 1000][..])]);
    let err = extract(zip, out.path(), &dest, 1500, Existing::Refuse)
        .err()
        .unwrap();
    assert!(err.to_string().contains("announced"), "{err}");
    assert!(!dest.exists());

    // Not a zip at all.
    let mut junk = tempfile::tempfile().unwrap();
    junk.write_all(b"not a zip").unwrap();
    junk.rewind().unwrap();
    assert!(extract(junk, out.path(), &dest, 100, Existing::Refuse).is_err());
}

#[test]
fn nothing_is_written_through_a_symlink_in_the_output() {
    let out = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), out.path().join("in")).unwrap();
    let zip = zip_of(&[("a.txt", &b"x"[..])]);
    let dest = out.path().join("in");
    assert!(destination(out.path(), "in", Existing::Overwrite).is_err());
    assert!(extract(zip, out.path(), &dest, 100, Existing::Overwrite).is_err());
    assert_eq!(fs::read_dir(elsewhere.path()).unwrap().count(), 0);
}
