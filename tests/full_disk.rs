//! A disk that fills up mid-transfer: a tmpfs of 2 MiB mounted for the test. The receiver
//! fails clearly, keeps its `.part`, and resumes once the disk has room.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use crate::harness::*;

const CODE: &str = "64-copper-meadow";

/// A tmpfs of its own under a temporary folder; unmounted when dropped.
struct Tmpfs {
    _dir: tempfile::TempDir,
    mnt: PathBuf,
}

fn mount(args: &[&str]) {
    let out = Command::new("mount")
        .args(args)
        .output()
        .expect("run mount");
    assert!(
        out.status.success(),
        "mount {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Tmpfs {
    fn new(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let mnt = dir.path().join("small");
        fs::create_dir(&mnt).unwrap();
        let opts = format!("size={size}");
        mount(&[
            "-t",
            "tmpfs",
            "-o",
            &opts,
            "sockit-test",
            &mnt.display().to_string(),
        ]);
        Tmpfs { _dir: dir, mnt }
    }

    /// Grows (or shrinks) the filesystem in place; its files stay.
    fn resize(&self, size: &str) {
        let opts = format!("remount,size={size}");
        mount(&["-o", &opts, &self.mnt.display().to_string()]);
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mnt).status();
    }
}

pub fn a_full_disk_fails_clearly_keeps_the_part_and_resumes_once_there_is_room() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("big.bin");
    let data = pattern(5 << 20);
    fs::write(&file, &data).unwrap();
    let server = transfer_sender(CODE, &file);
    let disk = Tmpfs::new("2m");

    let out = transfer_recv(&server, &disk.mnt, CODE);
    assert_eq!(out.code(), 1);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(lines[0].contains("no space left on device"), "{}", lines[0]);
    assert!(!disk.mnt.join("big.bin").exists());
    let kept = partial(&disk.mnt, "big.bin")
        .expect("partial state kept")
        .len();
    assert!(kept > 0, "the .part is kept");

    disk.resize("16m");
    let out = transfer_recv(&server, &disk.mnt, CODE);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(out.events_named("file")[0]["resumed"], kept);
    assert!(fs::read(disk.mnt.join("big.bin")).unwrap() == data);
    assert_eq!(partial(&disk.mnt, "big.bin"), None);
}
