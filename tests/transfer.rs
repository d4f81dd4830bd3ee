//! `send` / `recv`: round trips, conflicts, resume, discovery on loopback, raw interop.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::harness::*;

/// A sender for `paths`, not announcing, with a fixed code; returns it and the code.
fn sender(paths: &[&Path], extra: &[&str]) -> Server {
    let mut args: Vec<String> = vec!["send".into()];
    args.extend(paths.iter().map(|p| p.display().to_string()));
    args.extend(["--no-announce".into(), "--code".into(), CODE.into()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start(&args);
    let ready = server.wait_for("ready");
    assert_eq!(ready["code"], CODE);
    server
}

const CODE: &str = "42-amber-lantern";

fn recv(server: &Server, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["recv", "--code", CODE, "-o"];
    let out = out.display().to_string();
    args.push(&out);
    let addr = server.addr.to_string();
    args.push(&addr);
    args.extend(extra);
    run(&args, b"")
}

/// Every file, folder and link under `root`, with contents, modes and link targets.
fn snapshot(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let meta = fs::symlink_metadata(&path).unwrap();
            let what = if meta.file_type().is_symlink() {
                format!("link {}", fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                stack.push(path.clone());
                format!("dir {:o}", meta.permissions().mode() & 0o777)
            } else {
                let hash = blake3::hash(&fs::read(&path).unwrap());
                // Nanoseconds too (issue 12: they used to be lost).
                format!(
                    "file {:o} {}.{:09} {}",
                    meta.permissions().mode() & 0o777,
                    meta.mtime(),
                    meta.mtime_nsec(),
                    hash
                )
            };
            out.push((rel, what));
        }
    }
    out.sort();
    out
}

fn make_tree(root: &Path) {
    fs::create_dir_all(root.join("docs/empty")).unwrap();
    fs::write(root.join("notes.txt"), "sticky packets 粘包\n").unwrap();
    let when = std::time::UNIX_EPOCH + std::time::Duration::new(1_600_000_000, 987_654_321);
    fs::File::options()
        .write(true)
        .open(root.join("notes.txt"))
        .unwrap()
        .set_modified(when)
        .unwrap();
    let binary: Vec<u8> = (0..2_500_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
        .collect();
    fs::write(root.join("docs/photo.bin"), &binary).unwrap();
    fs::write(root.join("docs/中文 名字.txt"), "你好").unwrap();
    fs::write(root.join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(root.join("secret.txt"), "s").unwrap();
    fs::set_permissions(root.join("secret.txt"), fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink("../notes.txt", root.join("docs/link")).unwrap();
    fs::create_dir(root.join("many")).unwrap();
    for i in 0..1000 {
        fs::write(root.join(format!("many/{i:04}.txt")), format!("file {i}\n")).unwrap();
    }
}

#[test]
fn a_tree_arrives_identical_with_modes_times_links_and_empty_folders() {
    let src = tempfile::tempdir().unwrap();
    let tree = src.path().join("tree");
    make_tree(&tree);
    let server = sender(&[&tree], &[]);
    let dst = tempfile::tempdir().unwrap();
    let out = recv(&server, dst.path(), &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(snapshot(&tree), snapshot(&dst.path().join("tree")));
    let files = out.events_named("file");
    assert_eq!(files.len(), 1005);
    let photo = files
        .iter()
        .find(|f| f["path"] == "tree/docs/photo.bin")
        .unwrap();
    assert_eq!(photo["bytes"], 2_500_000);
    let expected = blake3::hash(&fs::read(tree.join("docs/photo.bin")).unwrap())
        .to_hex()
        .to_string();
    assert_eq!(photo["blake3"], expected);
    let done = &out.events_named("done")[0];
    assert_eq!(done["files"], 1005);
    assert_eq!(out.events_named("verified")[0]["encrypted"], true);
    server.wait_for("done");
    let many = dst.path().join("tree/many");
    assert!((0..1000).all(|i| partial(&many, &format!("{i:04}.txt")).is_none()));
}

#[test]
fn the_sender_exits_after_one_receiver_unless_keep() {
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("a.txt"), "a").unwrap();
    let server = sender(&[&src.path().join("a.txt")], &[]);
    let dst = tempfile::tempdir().unwrap();
    assert_eq!(recv(&server, dst.path(), &[]).code(), 0);
    let (status, _) = server.wait_exit();
    assert_eq!(status.code(), Some(0));
}

/// Both arrive whole; that they are served at once (not one after the other) is
/// checked by `interrupted::keep_serves_a_second_receiver_while_the_first_is_stalled_midway`.
#[test]
fn keep_serves_two_receivers_started_together() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("big.bin");
    fs::write(&file, vec![7u8; 5_000_000]).unwrap();
    let server = sender(&[&file], &["--keep"]);
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let spawn = |dir: &Path| {
        sockit(&[
            "recv",
            "--code",
            CODE,
            "-o",
            &dir.display().to_string(),
            &server.addr.to_string(),
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
    };
    let (mut a, mut b) = (spawn(d1.path()), spawn(d2.path()));
    assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
    assert_eq!(
        fs::read(d1.path().join("big.bin")).unwrap(),
        fs::read(&file).unwrap()
    );
    assert_eq!(
        fs::read(d2.path().join("big.bin")).unwrap(),
        fs::read(&file).unwrap()
    );
    server.wait_for("done");
    server.wait_for("done");
}

#[test]
fn stdin_to_stdout() {
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut child = sockit(&[
        "send",
        "-",
        "--name",
        "data.bin",
        "--no-announce",
        "--code",
        CODE,
        "--bind",
        "127.0.0.1:0",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    // The sender reads stdin only once a receiver is there: feed it from a thread.
    let mut stdin = child.stdin.take().unwrap();
    let input = data.clone();
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    lines.read_line(&mut first).unwrap();
    let addr = serde_json::from_str::<Value>(&first).unwrap()["addr"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = run(&["recv", "--stdout", "--code", CODE, &addr], b"");
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(out.stdout == data, "stdout carries exactly the data");
    assert!(
        out.stderr.contains(r#""event":"done""#),
        "events go to stderr: {}",
        out.stderr
    );
    assert!(child.wait().unwrap().success());
    feeder.join().unwrap().unwrap();
}

#[test]
fn an_existing_different_file_stops_before_anything_is_sent() {
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("a.txt"), "new contents").unwrap();
    let dst = tempfile::tempdir().unwrap();
    fs::write(dst.path().join("a.txt"), "old").unwrap();
    let server = sender(&[&src.path().join("a.txt")], &["--keep"]);

    let out = recv(&server, dst.path(), &[]);
    assert_eq!(out.code(), 1);
    assert!(
        out.stderr.contains("already exists") && out.stderr.contains("--overwrite"),
        "{}",
        out.stderr
    );
    assert_eq!(fs::read_to_string(dst.path().join("a.txt")).unwrap(), "old");
    assert_eq!(partial(dst.path(), "a.txt"), None);

    let out = recv(&server, dst.path(), &["--rename"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(
        fs::read_to_string(dst.path().join("a (1).txt")).unwrap(),
        "new contents"
    );
    assert_eq!(fs::read_to_string(dst.path().join("a.txt")).unwrap(), "old");

    let out = recv(&server, dst.path(), &["--overwrite"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(
        fs::read_to_string(dst.path().join("a.txt")).unwrap(),
        "new contents"
    );

    // Now identical: left alone and reported unchanged.
    let out = recv(&server, dst.path(), &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(out.events_named("file")[0]["unchanged"], true);
}

#[test]
fn a_verified_part_file_resumes_and_a_stale_one_starts_over() {
    resumes_and_starts_over(&[]);
}

/// The same in a plain session.
#[test]
fn a_verified_part_file_resumes_and_a_stale_one_starts_over_in_plain() {
    resumes_and_starts_over(&["--plain"]);
}

fn resumes_and_starts_over(mode: &[&str]) {
    let src = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(7919) >> 3) as u8)
        .collect();
    fs::write(src.path().join("f.bin"), &data).unwrap();
    let server = sender(&[&src.path().join("f.bin")], &[mode, &["--keep"]].concat());

    let dst = tempfile::tempdir().unwrap();
    plant_partial(dst.path(), "f.bin", &data[..1_234_567]);
    let out = recv(&server, dst.path(), mode);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(out.events_named("file")[0]["resumed"], 1_234_567);
    assert!(fs::read(dst.path().join("f.bin")).unwrap() == data);
    // Issue 12: the rate counts only what travelled, not the prefix already on disk.
    let done = &out.events_named("done")[0];
    assert_eq!(done["bytes"], 3_000_000);
    assert_eq!(done["existing"], 1_234_567);
    let moved = done["rate"].as_f64().unwrap() * done["seconds"].as_f64().unwrap();
    // `seconds` is printed to the microsecond.
    assert!(
        (moved - 1_765_433.0).abs() < 1_765_433.0 * 1e-3,
        "rate × seconds = {moved}"
    );
    assert_eq!(partial(dst.path(), "f.bin"), None);

    let dst = tempfile::tempdir().unwrap();
    let mut stale = data[..1_000_000].to_vec();
    stale[500] ^= 1;
    plant_partial(dst.path(), "f.bin", &stale);
    let out = recv(&server, dst.path(), mode);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(out.events_named("warning")[0]["message"]
        .as_str()
        .unwrap()
        .contains("starting over"));
    assert!(out.events_named("file")[0].get("resumed").is_none());
    assert!(fs::read(dst.path().join("f.bin")).unwrap() == data);
}

#[test]
fn a_wrong_code_fails_on_both_sides_and_the_sender_carries_on() {
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("a.txt"), "a").unwrap();
    let server = sender(&[&src.path().join("a.txt")], &[]);
    let dst = tempfile::tempdir().unwrap();
    let out = run(
        &[
            "recv",
            "--code",
            "42-amber-lanterns",
            "-o",
            &dst.path().display().to_string(),
            &server.addr.to_string(),
        ],
        b"",
    );
    assert_eq!(out.code(), 1);
    assert!(out.stderr.contains("wrong code"), "{}", out.stderr);
    assert!(out.events_named("file").is_empty());
    let rejected = server.wait_for("rejected");
    assert!(rejected["reason"].as_str().unwrap().contains("wrong code"));
    let out = recv(&server, dst.path(), &[]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
}

#[test]
fn plain_must_be_agreed_and_is_announced() {
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("a.txt"), "a").unwrap();
    let server = sender(&[&src.path().join("a.txt")], &["--plain", "--keep"]);
    let dst = tempfile::tempdir().unwrap();
    let out = recv(&server, dst.path(), &[]);
    assert_eq!(out.code(), 1);
    assert!(out.stderr.contains("--plain"), "{}", out.stderr);
    let out = recv(&server, dst.path(), &["--plain"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(out.events_named("verified")[0]["encrypted"], false);
}

#[test]
fn discovery_on_loopback_finds_the_sender_by_its_number() {
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("found.txt"), "found").unwrap();
    let held = shared_udp_port();
    let port = held.port.to_string();
    let path = src.path().join("found.txt").display().to_string();
    let server = Server::start(&[
        "send",
        &path,
        "--code",
        CODE,
        "--to",
        "127.255.255.255",
        "--port",
        &port,
    ]);
    server.wait_for("ready");
    let dst = tempfile::tempdir().unwrap();
    let out = run(
        &[
            "recv",
            "--code",
            CODE,
            "--port",
            &port,
            "--timeout",
            "15s",
            "-o",
            &dst.path().display().to_string(),
        ],
        b"",
    );
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(
        fs::read_to_string(dst.path().join("found.txt")).unwrap(),
        "found"
    );
}

#[test]
fn no_sender_found_is_a_clear_error() {
    let held = shared_udp_port();
    let port = held.port.to_string();
    let out = run(
        &[
            "recv",
            "--code",
            "913-no-one",
            "--port",
            &port,
            "--timeout",
            "300ms",
        ],
        b"",
    );
    assert_eq!(out.code(), 1);
    assert!(
        out.stderr.contains("no sender with code 913-… found"),
        "{}",
        out.stderr
    );
}

#[test]
fn announcements_never_carry_the_secret_words() {
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("a"), "a").unwrap();
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(STEP)).unwrap();
    let to = sock.local_addr().unwrap().to_string();
    let path = src.path().join("a").display().to_string();
    let _server = Server::start(&["send", &path, "--code", CODE, "--to", &to]);
    let mut buf = [0u8; 1024];
    let (n, _) = sock.recv_from(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    let ann: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(ann["app"], "sockit");
    assert_eq!(ann["nameplate"], 42);
    assert!(
        !text.contains("amber") && !text.contains("lantern"),
        "{text}"
    );
}

/// The notes' homework server (image version), only its file and address changed.
const NOTES_FILE_SERVER: &str = r#"
from socket import *
import sys
file=open(sys.argv[1],'rb')
s=socket()
s.setsockopt(SOL_SOCKET,SO_REUSEADDR,1)
s.bind(('127.0.0.1',0))
s.listen(5)
print(s.getsockname()[1], flush=True)
c,addr=s.accept()
while True:
    f=file.readline()
    if not f:
        break
    c.send(f)
c.close()
s.close()
file.close()
"#;

/// The notes' homework client (image version), only its file and address changed.
const NOTES_FILE_CLIENT: &str = r#"
from socket import *
import sys
file=open(sys.argv[2],'wb')
s=socket()
s.connect(('127.0.0.1',int(sys.argv[1])))
while True:
    data=s.recv(4096)
    if not data:
        break
    file.write(data)
s.close()
file.close()
"#;

#[test]
fn raw_interop_with_the_notes_homework_programs() {
    let dir = tempfile::tempdir().unwrap();
    let image: Vec<u8> = (0..500_000u32)
        .map(|i| (i.wrapping_mul(31) >> 2) as u8)
        .collect();
    let text = "第一行\nsecond line\n".repeat(1000);
    for (name, data) in [
        ("O.PNG", image.clone()),
        ("o.txt", text.clone().into_bytes()),
    ] {
        let file = dir.path().join(name);
        fs::write(&file, &data).unwrap();

        // sockit send --raw → the notes' client.
        let server = Server::start(&["send", "--raw", &file.display().to_string()]);
        let got = dir.path().join(format!("client-{name}"));
        let out = python(
            NOTES_FILE_CLIENT,
            &[&server.port(), &got.display().to_string()],
            b"",
        );
        assert!(out.status.success(), "{}", out.stderr);
        assert!(
            fs::read(&got).unwrap() == data,
            "{name} via the notes' client"
        );

        // The notes' server → sockit recv --raw.
        let mut py = Command::new("python3")
            .arg("-c")
            .arg(NOTES_FILE_SERVER)
            .arg(&file)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut port = String::new();
        BufReader::new(py.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        let got = dir.path().join(format!("recv-{name}"));
        let out = run(
            &[
                "recv",
                "--raw",
                &format!("127.0.0.1:{}", port.trim()),
                "-o",
                &got.display().to_string(),
            ],
            b"",
        );
        assert!(py.wait().unwrap().success());
        assert_eq!(out.code(), 0, "{}", out.stderr);
        assert!(
            fs::read(&got).unwrap() == data,
            "{name} via the notes' server"
        );
    }
}

/// `python3 hashlib`'s SHA-256 of `path`, as `sha256sum` prints it.
fn hashlib_sha256(path: &Path) -> String {
    let out = python(
        "import hashlib,sys;print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())",
        &[&path.display().to_string()],
        b"",
    );
    assert!(out.status.success(), "{}", out.stderr);
    out.stdout_text().trim().to_owned()
}

/// Issue 12: `recv --raw HOST:PORT` without `-o` writes `received` in the current
/// folder, then `received (1)`: never over a file that is there. The SHA-256 beside
/// the BLAKE3 is the one stock tools compute.
#[test]
fn raw_recv_without_o_writes_received_here_and_never_clobbers() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("homework.png");
    fs::write(&file, b"\x89PNG not really an image").unwrap();
    let here = tempfile::tempdir().unwrap();
    for (i, name) in ["received", "received (1)"].iter().enumerate() {
        let server = Server::start(&["send", "--raw", &file.display().to_string()]);
        let mut cmd = sockit(&["recv", "--raw", &server.addr.to_string()]);
        cmd.current_dir(here.path());
        let out = run_with(cmd, b"");
        assert_eq!(out.code(), 0, "{i}: {}", out.stderr);
        let written = here.path().join(name);
        assert_eq!(fs::read(&written).unwrap(), fs::read(&file).unwrap());
        let ev = &out.events_named("file")[0];
        assert_eq!(ev["path"], format!("./{name}"), "says where the file went");
        assert_eq!(ev["sha256"], hashlib_sha256(&written));
        assert_eq!(
            ev["blake3"],
            blake3::hash(&fs::read(&file).unwrap()).to_hex().to_string()
        );
        // The sender shows the same hashes, for the other machine to compare with.
        let sent = server.wait_for("file");
        assert_eq!(sent["sha256"], ev["sha256"]);
        assert_eq!(sent["path"], file.display().to_string());
    }
    // People see both hashes too.
    let server = Server::start(&["send", "--raw", &file.display().to_string()]);
    let mut cmd = Command::new(bin());
    cmd.args(["recv", "--raw", &server.addr.to_string()])
        .current_dir(here.path());
    let out = run_with(cmd, b"");
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let line = out.stdout_text();
    let sha = hashlib_sha256(&file);
    assert!(line.contains("./received (2)"), "{line}");
    assert!(line.contains(&format!("sha256:{}", &sha[..16])), "{line}");
}

/// Issue 12: with an explicit `-o FILE` that exists, `recv --raw` stops before it
/// connects unless `--overwrite` (or `--rename`).
#[test]
fn raw_recv_refuses_an_existing_file_unless_overwrite_or_rename() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("new.txt");
    fs::write(&file, "new").unwrap();
    let dst = tempfile::tempdir().unwrap();
    let old = dst.path().join("old.txt");
    fs::write(&old, "old").unwrap();
    let o = old.display().to_string();
    let server = Server::start(&["send", "--raw", &file.display().to_string(), "--keep"]);
    let addr = server.addr.to_string();
    let out = run(&["recv", "--raw", &addr, "-o", &o], b"");
    assert_eq!(out.code(), 1);
    assert!(
        out.stderr.contains("already exists") && out.stderr.contains("--overwrite"),
        "{}",
        out.stderr
    );
    assert_eq!(fs::read_to_string(&old).unwrap(), "old");
    let out = run(&["recv", "--raw", &addr, "-o", &o, "--rename"], b"");
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(
        fs::read_to_string(dst.path().join("old (1).txt")).unwrap(),
        "new"
    );
    let out = run(&["recv", "--raw", &addr, "-o", &o, "--overwrite"], b"");
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(fs::read_to_string(&old).unwrap(), "new");
}

/// Issue 12: `recv --raw` from a normal `send` recognises sockit's hello, names the
/// fix, and writes nothing (it used to write a 0-byte file and exit 0).
#[test]
fn raw_recv_from_a_normal_send_names_the_fix_and_writes_nothing() {
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("a.txt"), "a").unwrap();
    let server = sender(&[&src.path().join("a.txt")], &[]);
    let dst = tempfile::tempdir().unwrap();
    let o = dst.path().join("got.txt");
    let started = std::time::Instant::now();
    let out = run(
        &[
            "recv",
            "--raw",
            &server.addr.to_string(),
            "-o",
            &o.display().to_string(),
        ],
        b"",
    );
    assert_eq!(out.code(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("without --raw") && out.stderr.contains("--code"),
        "{}",
        out.stderr
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "at once, not after a timeout"
    );
    assert_eq!(
        fs::read_dir(dst.path()).unwrap().count(),
        0,
        "nothing written"
    );
    // The sender says what connected, and still serves a real receiver.
    let warning = server.wait_for("warning");
    assert!(
        warning["message"].as_str().unwrap().contains("hello"),
        "{warning}"
    );
    assert_eq!(recv(&server, dst.path(), &[]).code(), 0);
}

/// Issue 12: `recv --raw` from a sender that sends nothing fails and writes nothing.
#[test]
fn raw_recv_of_nothing_is_an_error_not_an_empty_file() {
    let src = tempfile::tempdir().unwrap();
    let empty = src.path().join("empty");
    fs::write(&empty, "").unwrap();
    let server = Server::start(&["send", "--raw", &empty.display().to_string()]);
    let o = src.path().join("got");
    let out = run(
        &[
            "recv",
            "--raw",
            &server.addr.to_string(),
            "-o",
            &o.display().to_string(),
        ],
        b"",
    );
    assert_eq!(out.code(), 1);
    assert!(
        out.stderr.contains("without sending anything"),
        "{}",
        out.stderr
    );
    assert!(!o.exists() && partial(src.path(), "got").is_none());
}

/// Issue 12: a normal `recv` from `send --raw` says the peer is no sockit sender and
/// which flag takes its bytes (it used to say `frame of 1751477356 bytes exceeds …`).
#[test]
fn normal_recv_from_send_raw_says_the_bytes_are_not_sockits_hello() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("o.txt");
    fs::write(&file, "hello, this is the homework\n".repeat(100)).unwrap();
    let server = Server::start(&["send", "--raw", &file.display().to_string()]);
    let dst = tempfile::tempdir().unwrap();
    let out = recv(&server, dst.path(), &[]);
    assert_eq!(out.code(), 1);
    let err = out.stderr.trim();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("not a `sockit send`") && err.contains("recv --raw"),
        "{err}"
    );
    assert!(err.contains(r#"began with "hell""#), "{err}");
    assert_eq!(
        fs::read_dir(dst.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

/// Issue 12: `recv -o FILE` where FILE is a file is a clear usage error, at once.
#[test]
fn recv_o_naming_a_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.txt");
    fs::write(&file, "mine").unwrap();
    let out = run(
        &[
            "recv",
            "--code",
            CODE,
            "-o",
            &file.display().to_string(),
            "127.0.0.1:9",
        ],
        b"",
    );
    assert_eq!(out.code(), 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("is a file") && out.stderr.contains("folder"),
        "{}",
        out.stderr
    );
    assert_eq!(fs::read_to_string(&file).unwrap(), "mine");
}

/// Issue 12: discovery says what it is doing, and Ctrl-C ends it at once with 130
/// (it used to wait for --timeout).
#[test]
fn ctrl_c_during_discovery_ends_it_at_once_with_130() {
    let held = shared_udp_port();
    let port = held.port.to_string();
    let mut child = sockit(&[
        "recv",
        "--code",
        "913-no-one",
        "--port",
        &port,
        "--timeout",
        "5m",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let looking: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(looking["event"], "looking", "{first}");
    assert_eq!(looking["nameplate"], 913);
    assert_eq!(looking["port"].to_string(), port);
    let started = std::time::Instant::now();
    signal(&child, libc::SIGINT);
    let status = child.wait().unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(status.code(), Some(130));
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("interrupted"), "{err}");
}

/// Drives `sockit recv` on a pseudo-terminal: an empty line and a malformed code ask
/// again; Ctrl-C at the prompt exits 130 at once. Prints the exit code, then what the
/// terminal showed.
const PROMPT_ON_A_PTY: &str = r#"
import os, pty, signal, sys
signal.alarm(20)
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], 'recv', '--port', sys.argv[2], '--timeout', '5m'])
seen = b''
def until(s):
    global seen
    buf = b''
    while s not in buf:
        buf += os.read(fd, 1024)
    seen += buf
until(b'code: ')
os.write(fd, b'\n')
until(b'code: ')
os.write(fd, b'not a code\n')
until(b'code: ')
os.write(fd, b'\x03')
_, status = os.waitpid(pid, 0)
print(os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status))
try:
    while True:
        chunk = os.read(fd, 1024)
        if not chunk:
            break
        seen += chunk
except OSError:
    pass
print(seen.decode(errors='replace'))
"#;

/// Issue 12: Ctrl-C at the `code:` prompt ends `recv` at once (exit 130); an empty or
/// malformed code asks again instead of failing or becoming the code.
#[test]
fn the_code_prompt_asks_again_and_ctrl_c_ends_it() {
    let held = shared_udp_port();
    let port = held.port.to_string();
    let out = python(PROMPT_ON_A_PTY, &[&bin().display().to_string(), &port], b"");
    assert!(out.status.success(), "{}", out.stderr);
    let text = out.stdout_text();
    let (code, shown) = text.split_once('\n').unwrap();
    assert_eq!(code, "130", "{shown}");
    assert_eq!(shown.matches("code: ").count(), 3, "{shown}");
    assert!(shown.contains("like 7-amber-lantern"), "{shown}");
    assert!(shown.contains("invalid code \"not a code\""), "{shown}");
    assert!(shown.contains("interrupted"), "{shown}");
}

/// Issue 12: `--rename` leaves an identical file alone (as the README says) and keeps
/// both only when they differ, also when the sizes are the same.
#[test]
fn rename_leaves_identical_files_alone_and_renames_only_those_that_differ() {
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("same.txt"), "same contents").unwrap();
    fs::write(src.path().join("other.txt"), "new!").unwrap();
    let dst = tempfile::tempdir().unwrap();
    fs::write(dst.path().join("same.txt"), "same contents").unwrap();
    fs::write(dst.path().join("other.txt"), "old!").unwrap();
    let server = sender(
        &[&src.path().join("same.txt"), &src.path().join("other.txt")],
        &[],
    );
    let out = recv(&server, dst.path(), &["--rename"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let files = out.events_named("file");
    let same = files.iter().find(|f| f["path"] == "same.txt").unwrap();
    assert_eq!(same["unchanged"], true, "{files:?}");
    assert!(
        !dst.path().join("same (1).txt").exists(),
        "an identical file is not copied"
    );
    assert_eq!(
        fs::read_to_string(dst.path().join("other (1).txt")).unwrap(),
        "new!"
    );
    assert_eq!(
        fs::read_to_string(dst.path().join("other.txt")).unwrap(),
        "old!"
    );
}
