//! A hostile sender (and a hostile receiver) written here: they pass the real handshake
//! through the library's own `Conn`, then send what an attacker would, to the real
//! `sockit recv` (and `sockit send --keep`). Each attack must be refused with one clear
//! line, nothing may appear outside `-o`, and nothing unverified may get a final name.
//! The hostile receiver is in `hostile_receiver.rs`.

use std::fs;
use std::io::{BufReader, BufWriter, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};

use sockit::transfer::{
    as_sender, Code, Conn, Entry, Have, Kind, Msg, MAX_DEPTH, MAX_ENTRIES, PART_PREFIX,
};

use crate::harness::*;

pub const CODE: &str = "5-amber-lantern";

pub type Tcp = Conn<BufReader<TcpStream>, BufWriter<TcpStream>>;

pub fn conn(s: &TcpStream) -> Tcp {
    s.set_read_timeout(Some(STEP)).unwrap();
    s.set_write_timeout(Some(STEP)).unwrap();
    Conn::new(
        BufReader::new(s.try_clone().unwrap()),
        BufWriter::new(s.try_clone().unwrap()),
    )
}

pub fn code() -> Code {
    CODE.parse().unwrap()
}

pub fn file(path: &str, size: u64) -> Entry {
    Entry {
        path: path.into(),
        kind: Kind::File,
        size: Some(size),
        mode: 0o644,
        mtime: 0,
        mtime_ns: 0,
        target: None,
    }
}

fn dir(path: &str) -> Entry {
    Entry {
        kind: Kind::Dir,
        size: None,
        mode: 0o755,
        ..file(path, 0)
    }
}

fn link(path: &str, target: &str) -> Entry {
    Entry {
        kind: Kind::Symlink,
        size: None,
        target: Some(target.into()),
        ..file(path, 0)
    }
}

/// Sends the manifest and reads the plan; `None` if the receiver refused it.
pub fn manifest(c: &mut Tcp, entries: Vec<Entry>) -> Option<Vec<Have>> {
    let count = entries.len() as u64;
    let bytes = entries.iter().filter_map(|e| e.size).sum();
    c.send(&Msg::Manifest { entries }).ok()?;
    c.send(&Msg::ManifestEnd { count, bytes }).ok()?;
    c.flush().ok()?;
    let mut have = Vec::new();
    loop {
        match c.recv_msg().ok()? {
            Msg::Plan { have: h } => have.extend(h),
            Msg::PlanEnd => return Some(have),
            _ => return None,
        }
    }
}

/// One file body: `file`, the data, `file_end` with `hash` (or the data's real BLAKE3).
fn body(c: &mut Tcp, index: u64, data: &[u8], hash: Option<&str>) {
    let real = blake3::hash(data).to_hex().to_string();
    let _ = c.send(&Msg::File {
        index,
        offset: 0,
        restart: false,
    });
    for chunk in data.chunks(64 << 10) {
        let _ = c.send_data(chunk);
    }
    let _ = c.send(&Msg::FileEnd {
        index,
        blake3: hash.unwrap_or(&real).to_owned(),
    });
    let _ = c.flush();
}

fn done(c: &mut Tcp) {
    let _ = c.send_last(&Msg::Done { files: 0, bytes: 0 });
    let _ = c.recv_msg();
}

/// Every path under `root` with what it is and holds, for before/after comparisons.
fn tree(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            let what = if m.is_dir() {
                stack.push(p.clone());
                "dir".to_owned()
            } else if m.file_type().is_symlink() {
                format!("link {:?}", fs::read_link(&p).unwrap())
            } else {
                format!("file {}", blake3::hash(&fs::read(&p).unwrap()))
            };
            out.push(format!("{} {what}", p.display()));
        }
    }
    out.sort();
    out
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Sealed {
    Yes,
    No,
}

/// A parent folder holding the receiver's `-o out`, a sibling folder and a file; all but
/// `out` must be the same after every attack.
struct Scene {
    base: tempfile::TempDir,
    before: Vec<String>,
}

impl Scene {
    fn new() -> Scene {
        let base = tempfile::tempdir().unwrap();
        fs::create_dir(base.path().join("out")).unwrap();
        fs::create_dir(base.path().join("sibling")).unwrap();
        fs::write(base.path().join("sibling/keep.txt"), "keep").unwrap();
        fs::write(base.path().join("x"), "parent's own x").unwrap();
        Scene {
            before: Vec::new(),
            base,
        }
    }

    fn out(&self) -> PathBuf {
        self.base.path().join("out")
    }

    fn outside(&self) -> Vec<String> {
        let out = self.out().display().to_string();
        tree(self.base.path())
            .into_iter()
            .filter(|l| !l.starts_with(&format!("{out}/")) && !l.starts_with(&format!("{out} ")))
            .collect()
    }

    /// Runs the real `recv` against a sender that does `script` after the handshake.
    fn recv_from(&mut self, script: impl FnOnce(&mut Tcp) + Send + 'static) -> Output {
        self.recv_with(Sealed::Yes, script)
    }

    /// `recv_from`, in a sealed or a `--plain` session.
    fn recv_with(
        &mut self,
        sealed: Sealed,
        script: impl FnOnce(&mut Tcp) + Send + 'static,
    ) -> Output {
        self.before = self.outside();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let hostile = std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            let mut c = conn(&s);
            if as_sender(&mut c, &code(), sealed == Sealed::Yes).is_ok() {
                script(&mut c);
            }
        });
        let out_dir = self.out().display().to_string();
        let mut args = vec!["recv", &addr, "--code", CODE, "-o", &out_dir];
        if sealed == Sealed::No {
            args.push("--plain");
        }
        let out = run(&args, b"");
        hostile.join().unwrap();
        out
    }

    /// The attack failed as it should: exit 1, one line, and the disk is clean.
    fn refused(&self, out: &Output, needle: &str) {
        assert_eq!(out.code(), 1, "stdout: {}", out.stdout_text());
        let lines: Vec<&str> = out.stderr.lines().collect();
        let shown: String = out.stderr.chars().take(300).collect();
        assert_eq!(lines.len(), 1, "one stderr line: {shown:?}");
        assert!(lines[0].starts_with("sockit: "), "{}", lines[0]);
        assert!(lines[0].contains(needle), "{needle:?} not in {}", lines[0]);
        assert!(
            !lines[0].chars().any(char::is_control),
            "raw control characters: {:?}",
            lines[0]
        );
        assert_eq!(self.outside(), self.before, "something changed outside -o");
        for l in tree(&self.out()) {
            let (path, what) = l.split_once(' ').unwrap();
            assert!(
                what == "dir"
                    || Path::new(path)
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(PART_PREFIX)),
                "an unverified final name: {l}"
            );
        }
    }
}

#[test]
fn hostile_names_are_refused_before_anything_is_written() {
    let deep = "d/".repeat(100_000) + "f";
    let too_deep = vec!["d"; MAX_DEPTH + 1].join("/");
    let scene_abs = Scene::new();
    let absolute = scene_abs.base.path().join("x").display().to_string();
    for (path, why) in [
        ("../x", "'..'"),
        ("/etc/x", "absolute"),
        (absolute.as_str(), "absolute"),
        ("a/../../b", "'..'"),
        ("C:\\x", "backslash"),
        ("a\0b", "control character"),
        ("a\nb\x1b[2J", "control character"),
        ("invoice\u{202e}txt.exe", "U+202E"),
        // A name in the partial files' namespace, as another entry's partial file.
        (
            ".sockit-part-00112233445566778899aabbccddeeff",
            "partial files use",
        ),
        ("d/pay\u{200b}ment.pdf", "U+200B"),
        ("\u{2066}a", "U+2066"),
        (deep.as_str(), "longer than"),
        (too_deep.as_str(), "deeper than"),
    ] {
        let mut scene = Scene::new();
        let p = path.to_owned();
        let out = scene.recv_from(move |c| {
            if manifest(c, vec![file(&p, 2)]).is_some() {
                body(c, 0, b"hi", None);
                done(c);
            }
        });
        scene.refused(&out, why);
        assert!(
            out.stderr.contains("refusing the transfer"),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn links_that_lead_outside_or_are_written_through_are_refused() {
    let cases: Vec<(Vec<Entry>, &str)> = vec![
        // A link out of the tree, then a file through it.
        (
            vec![link("l", "../sibling"), file("l/keep.txt", 2)],
            "symlink target leaves",
        ),
        (vec![link("l", "/tmp")], "symlink target leaves"),
        // A link inside the tree, then a file through it.
        (
            vec![dir("d"), link("l", "d"), file("l/x", 2)],
            "through a symlink",
        ),
        // Each link stays inside when read on its own, but the second climbs through
        // the first: `a/up` is the root, so `a/up/..` is the root's parent.
        (
            vec![dir("a"), link("a/up", ".."), link("b", "a/up/..")],
            "symlink target",
        ),
    ];
    for (entries, why) in cases {
        let mut scene = Scene::new();
        let out = scene.recv_from(move |c| {
            if manifest(c, entries).is_some() {
                done(c);
            }
        });
        scene.refused(&out, why);
    }
}

#[test]
fn links_already_in_the_output_folder_are_not_followed() {
    // A link planted in `-o` (or left by an earlier transfer) is never written through,
    // and a new link may not climb through it either.
    for (entries, why) in [
        (vec![file("evil/keep.txt", 2)], "in the way"),
        (vec![link("b", "up/..")], "symlink target"),
    ] {
        let mut scene = Scene::new();
        std::os::unix::fs::symlink("../sibling", scene.out().join("evil")).unwrap();
        std::os::unix::fs::symlink(".", scene.out().join("up")).unwrap();
        let out = scene.recv_from(move |c| {
            if manifest(c, entries).is_some() {
                body(c, 0, b"hi", None);
                done(c);
            }
        });
        // The planted links are the only names besides partial files, and still as planted.
        for (name, to) in [("evil", "../sibling"), ("up", ".")] {
            let planted = scene.out().join(name);
            assert_eq!(fs::read_link(&planted).unwrap(), Path::new(to));
            fs::remove_file(planted).unwrap();
        }
        scene.refused(&out, why);
    }
}

#[test]
fn millions_of_entries_are_refused_at_the_limit() {
    let mut scene = Scene::new();
    let out = scene.recv_from(|c| {
        // Batches of short folder names until the receiver hangs up; bounded at twice
        // the limit in case it never does.
        let per_batch = 20_000;
        for b in 0..(2 * MAX_ENTRIES / per_batch) {
            let entries = (0..per_batch)
                .map(|i| dir(&format!("{:x}", b * per_batch + i)))
                .collect();
            if c.send(&Msg::Manifest { entries }).is_err() || c.flush().is_err() {
                return;
            }
        }
    });
    scene.refused(&out, &format!("more than {MAX_ENTRIES} entries"));
}

#[test]
fn more_or_fewer_bytes_or_a_wrong_hash_fail_the_file() {
    type Attack = fn(&mut Tcp);
    let attacks: [(Attack, &str); 3] = [
        (|c| body(c, 0, b"0123456789A", None), "more bytes"),
        (
            |c| body(c, 0, b"012345678", None),
            "9 bytes arrived, 10 were announced",
        ),
        (
            |c| body(c, 0, b"0123456789", Some(&"0".repeat(64))),
            "BLAKE3 mismatch",
        ),
    ];
    for (attack, why) in attacks {
        let mut scene = Scene::new();
        let out = scene.recv_from(move |c| {
            if manifest(c, vec![file("f.txt", 10)]).is_some() {
                attack(c);
                done(c);
            }
        });
        scene.refused(&out, why);
        assert!(!scene.out().join("f.txt").exists());
    }
}

/// A large file takes another path through the receiver than a small one (the session
/// thread writes it, not the disk thread); sizes and hashes must be checked the same
/// way, sealed or plain.
#[test]
fn a_large_file_with_more_or_fewer_bytes_or_a_wrong_hash_fails_sealed_or_plain() {
    const SIZE: usize = 3 << 20;
    type Attack = fn(&mut Tcp);
    let attacks: [(Attack, &str); 3] = [
        (|c| body(c, 0, &vec![1; SIZE + 1], None), "more bytes"),
        (
            |c| body(c, 0, &vec![1; SIZE - 1], None),
            "3145727 bytes arrived, 3145728 were announced",
        ),
        (
            |c| body(c, 0, &vec![1; SIZE], Some(&"0".repeat(64))),
            "BLAKE3 mismatch",
        ),
    ];
    for sealed in [Sealed::Yes, Sealed::No] {
        for (attack, why) in attacks {
            let mut scene = Scene::new();
            let out = scene.recv_with(sealed, move |c| {
                if manifest(c, vec![file("f.bin", SIZE as u64)]).is_some() {
                    attack(c);
                    done(c);
                }
            });
            scene.refused(&out, why);
            assert!(!scene.out().join("f.bin").exists(), "{sealed:?}: {why}");
        }
    }
}

#[test]
fn out_of_order_indexes_stray_data_and_huge_frames_are_refused() {
    type Attack = fn(&mut Tcp);
    let attacks: [(Attack, &str); 5] = [
        // Entry 2 is fine and verified; going back to entry 1 is not.
        (
            |c| {
                body(c, 2, b"bb", None);
                body(c, 1, b"aa", None);
            },
            "not the next file",
        ),
        (|c| body(c, 0, b"", None), "not the next file"),
        (|c| body(c, 9, b"aa", None), "not the next file"),
        (
            |c| {
                let _ = c.send_data(b"stray");
                let _ = c.flush();
            },
            "got file data",
        ),
        (
            |c| {
                let _ = c.writer().write_all(&0x7fff_ffffu32.to_be_bytes());
                let _ = c.flush();
            },
            "exceeds the",
        ),
    ];
    for (attack, why) in attacks {
        let mut scene = Scene::new();
        let out = scene.recv_from(move |c| {
            let m = vec![dir("d"), file("d/a", 2), file("d/b", 2)];
            if manifest(c, m).is_some() {
                attack(c);
                done(c);
            }
        });
        // d/b arrives verified in the first attack: that final name is allowed.
        if let Ok(b) = fs::read(scene.out().join("d/b")) {
            assert_eq!(b, b"bb");
            fs::remove_file(scene.out().join("d/b")).unwrap();
        }
        scene.refused(&out, why);
    }
}

#[test]
fn a_peer_error_message_cannot_paint_the_terminal() {
    let mut scene = Scene::new();
    let out = scene.recv_from(|c| {
        let long = "z".repeat(100_000);
        c.send_error(&format!("bad\n\x1b[31mred\r{long}"));
    });
    scene.refused(&out, "the other side reports: bad");
    assert!(out.stderr.len() < 1000, "{} bytes", out.stderr.len());
}

/// Issue 12: the count in a wrong `manifest_end` is shown with its right plural.
#[test]
fn a_wrong_manifest_count_says_1_entry() {
    let mut scene = Scene::new();
    let out = scene.recv_from(|c| {
        let _ = c.send(&Msg::Manifest {
            entries: vec![file("a", 1), file("b", 1)],
        });
        let _ = c.send(&Msg::ManifestEnd { count: 1, bytes: 2 });
        let _ = c.flush();
        let _ = c.recv_msg();
    });
    scene.refused(&out, "manifest_end counts 1 entry, 2 arrived");
}

/// Issue 14, items 1 and 2, from a scripted sender: `a.part` then `a` in one transfer
/// (the order in which `NAME.part` partial files destroyed the first), a name of 255
/// bytes, and a user's own `b.part` already in `-o`: all arrive or stay as they were.
#[test]
fn dot_part_names_and_255_byte_names_arrive_beside_a_users_own_part_file() {
    let long = "l".repeat(251) + ".txt";
    let mut scene = Scene::new();
    fs::write(scene.out().join("b.part"), "the user's own").unwrap();
    let names = ["a.part".to_owned(), "a".to_owned(), long.clone()];
    let script_names = names.clone();
    let out = scene.recv_from(move |c| {
        let entries = script_names
            .iter()
            .map(|n| file(n, n.len() as u64))
            .collect();
        if manifest(c, entries).is_some() {
            for (i, n) in script_names.iter().enumerate() {
                body(c, i as u64, n.as_bytes(), None);
            }
            let bytes = script_names.iter().map(|n| n.len() as u64).sum();
            let _ = c.send_last(&Msg::Done { files: 3, bytes });
            let _ = c.recv_msg();
        }
    });
    assert_eq!(out.code(), 0, "{}", out.stderr);
    for n in &names {
        assert_eq!(fs::read_to_string(scene.out().join(n)).unwrap(), *n);
    }
    assert_eq!(
        fs::read_to_string(scene.out().join("b.part")).unwrap(),
        "the user's own"
    );
    assert_eq!(
        fs::read_dir(scene.out()).unwrap().count(),
        4,
        "nothing else left"
    );
}
