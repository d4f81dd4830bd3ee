//! Issue 18, item 5: `GET /folder/?zip` and `?tar` stream a folder as one archive, by
//! the rules single files follow (dotfiles, symlinks out of the folder, special files),
//! made as the client reads it: memory stays flat whatever the folder's size.
//! Archives are checked with python's `zipfile` and `tarfile`, which share no code
//! with sockit.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::harness::*;
use crate::http_client::*;

/// What an archive holds: each name, with `None` for a folder and the SHA-256 of its
/// bytes for a file.
type Entries = BTreeMap<String, Option<String>>;

/// Lists an archive (file `argv[1]`, kind `argv[2]`) as JSON `Entries`, checking each
/// zip entry's CRC and that a tar holds only files and folders.
const LIST: &str = r#"
import hashlib, json, sys, tarfile, zipfile
path, kind = sys.argv[1], sys.argv[2]
out = {}
sha = lambda b: hashlib.sha256(b).hexdigest()
if kind == "zip":
    z = zipfile.ZipFile(path)
    assert z.testzip() is None, "a bad CRC"
    for i in z.infolist():
        out[i.filename] = None if i.is_dir() else sha(z.read(i))
else:
    t = tarfile.open(path, encoding="utf-8")
    for m in t:
        assert m.isdir() or m.isfile(), m.name
        out[m.name + "/" if m.isdir() else m.name] = None if m.isdir() else sha(t.extractfile(m).read())
print(json.dumps(out))
"#;

fn listed(body: &[u8], kind: &str) -> Entries {
    let file = tempfile::NamedTempFile::new().unwrap();
    fs::write(file.path(), body).unwrap();
    let out = Command::new("python3")
        .args(["-c", LIST, file.path().to_str().unwrap(), kind])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "python3 ({kind}): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The expected entries: `(name, None)` for a folder, `(name, Some(bytes))` for a file.
fn entries(items: &[(&str, Option<&[u8]>)]) -> Entries {
    items
        .iter()
        .map(|(name, bytes)| (name.to_string(), bytes.map(sha)))
        .collect()
}

const SECRET: &[u8] = b"TOPSECRET";
const NON_ASCII: &str = "数据 ü.txt";

/// Bytes that no run of zeros or repeated block could stand in for.
fn varied(len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

/// `served/docs/` with nested and empty folders, a non-ASCII name, a file of a few
/// MiB, dotfiles, symlinks inside and out, and a loop; `outside/` next to `served/`.
struct Tree {
    _tmp: tempfile::TempDir,
    served: PathBuf,
    big: Vec<u8>,
}

fn tree() -> Tree {
    let tmp = tempfile::tempdir().unwrap();
    let served = tmp.path().join("served");
    let docs = served.join("docs");
    fs::create_dir_all(docs.join("nested/deeper")).unwrap();
    fs::create_dir_all(docs.join("empty")).unwrap();
    fs::create_dir_all(docs.join(".git")).unwrap();
    fs::create_dir_all(tmp.path().join("outside")).unwrap();
    fs::write(tmp.path().join("outside/secret.txt"), SECRET).unwrap();
    let big = varied(3 * 1024 * 1024 + 5);
    fs::write(docs.join("big.bin"), &big).unwrap();
    fs::write(docs.join("readme.txt"), "read me\n").unwrap();
    fs::write(docs.join("nested/deeper/leaf.txt"), "leaf").unwrap();
    fs::write(docs.join(NON_ASCII), "非 ASCII").unwrap();
    fs::write(docs.join(".env"), SECRET).unwrap();
    fs::write(docs.join(".git/config"), SECRET).unwrap();
    symlink(tmp.path().join("outside/secret.txt"), docs.join("escape")).unwrap();
    symlink(tmp.path().join("outside"), docs.join("outdir")).unwrap();
    symlink("readme.txt", docs.join("inner")).unwrap();
    symlink("nested", docs.join("nested-link")).unwrap();
    symlink("../..", docs.join("nested/deeper/up")).unwrap();
    Tree {
        _tmp: tmp,
        served,
        big,
    }
}

fn start(t: &Tree, flags: &[&str]) -> Server {
    let mut args = vec!["http", "serve", t.served.to_str().unwrap()];
    args.extend(flags);
    Server::start(&args)
}

fn url(server: &Server, path: &str) -> String {
    format!("http://{}{path}", server.addr)
}

/// What `/docs/` holds by default: symlinks inside are archived as what they lead to
/// (a loop is left out), dotfiles and symlinks out of the folder are not.
fn docs_by_default(t: &Tree) -> Vec<(&'static str, Option<Vec<u8>>)> {
    vec![
        ("docs/", None),
        ("docs/big.bin", Some(t.big.clone())),
        ("docs/empty/", None),
        ("docs/inner", Some(b"read me\n".to_vec())),
        ("docs/nested/", None),
        ("docs/nested/deeper/", None),
        ("docs/nested/deeper/leaf.txt", Some(b"leaf".to_vec())),
        ("docs/nested-link/", None),
        ("docs/nested-link/deeper/", None),
        ("docs/nested-link/deeper/leaf.txt", Some(b"leaf".to_vec())),
        ("docs/readme.txt", Some(b"read me\n".to_vec())),
        ("docs/数据 ü.txt", Some("非 ASCII".as_bytes().to_vec())),
    ]
}

fn expect(items: &[(&str, Option<Vec<u8>>)]) -> Entries {
    let borrowed: Vec<(&str, Option<&[u8]>)> =
        items.iter().map(|(n, b)| (*n, b.as_deref())).collect();
    entries(&borrowed)
}

#[test]
fn issue18_zip_and_tar_hold_exactly_the_folder() {
    let t = tree();
    let server = start(&t, &[]);
    let expected = expect(&docs_by_default(&t));
    for (kind, content_type) in [("zip", "application/zip"), ("tar", "application/x-tar")] {
        let path = format!("/docs/?{kind}");
        let r = get(&url(&server, &path));
        assert_eq!(r.status, 200, "{kind}: {}", r.text());
        assert_eq!(r.header("content-type"), Some(content_type));
        let disposition = format!("attachment; filename=\"docs.{kind}\"");
        assert_eq!(r.header("content-disposition"), Some(disposition.as_str()));
        assert_eq!(r.header("content-length"), None, "{kind}");
        assert_eq!(r.header("transfer-encoding"), Some("chunked"));
        assert_eq!(listed(&r.body, kind), expected, "{kind}");
        // Logged once the body has gone out, with what was sent.
        let ev = server.wait_until(|e| e["event"] == "request" && e["path"] == path.as_str());
        assert_eq!(ev["status"], 200);
        assert_eq!(ev["bytes"].as_u64(), Some(r.body.len() as u64), "{kind}");
    }
}

#[test]
fn issue18_an_empty_folder_and_a_non_ascii_folder_name() {
    let t = tree();
    let photos = t.served.join("相册");
    fs::create_dir_all(&photos).unwrap();
    fs::write(photos.join("a.jpg"), "jpeg").unwrap();
    let server = start(&t, &[]);
    for kind in ["zip", "tar"] {
        let r = get(&url(&server, &format!("/docs/empty/?{kind}")));
        assert_eq!(
            listed(&r.body, kind),
            entries(&[("empty/", None)]),
            "{kind}"
        );
        let r = get(&url(&server, &format!("/%E7%9B%B8%E5%86%8C/?{kind}")));
        assert_eq!(
            listed(&r.body, kind),
            entries(&[("相册/", None), ("相册/a.jpg", Some(b"jpeg"))]),
            "{kind}"
        );
        let disposition = format!(
            "attachment; filename=\"__.{kind}\"; filename*=UTF-8''%E7%9B%B8%E5%86%8C.{kind}"
        );
        assert_eq!(r.header("content-disposition"), Some(disposition.as_str()));
    }
    // The served folder itself is named after it.
    let r = request("HEAD", &url(&server, "/?tar"), &[], b"");
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"served.tar\"")
    );
}

#[test]
fn issue18_dotfiles_and_symlinks_out_of_the_folder_follow_the_flags() {
    let t = tree();
    let by_default = expect(&docs_by_default(&t));
    let mut hidden = docs_by_default(&t);
    hidden.extend([
        ("docs/.env", Some(SECRET.to_vec())),
        ("docs/.git/", None),
        ("docs/.git/config", Some(SECRET.to_vec())),
    ]);
    let mut followed = docs_by_default(&t);
    followed.extend([
        ("docs/escape", Some(SECRET.to_vec())),
        ("docs/outdir/", None),
        ("docs/outdir/secret.txt", Some(SECRET.to_vec())),
    ]);
    for (flags, expected) in [
        (&[][..], by_default),
        (&["--hidden"][..], expect(&hidden)),
        (&["--follow-symlinks"][..], expect(&followed)),
    ] {
        let server = start(&t, flags);
        for kind in ["zip", "tar"] {
            let r = get(&url(&server, &format!("/docs/?{kind}")));
            assert_eq!(listed(&r.body, kind), expected, "{kind} {flags:?}");
        }
    }
    // Nor can a hidden folder or one out of the folder be asked for by name.
    let server = start(&t, &[]);
    assert_eq!(get(&url(&server, "/docs/.git/?zip")).status, 404);
    assert_eq!(get(&url(&server, "/docs/outdir/?zip")).status, 403);
    // (Sent raw: a client library would resolve the dots itself.)
    let dots = raw(
        server.addr,
        b"GET /docs/%2e%2e/?zip HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status_of(&dots), 403, "{dots}");
}

#[test]
fn issue18_a_fifo_in_the_folder_does_not_hang_the_download() {
    let t = tree();
    let docs = t.served.join("docs");
    let fifo = std::ffi::CString::new(docs.join("pipe").to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) on a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    symlink("pipe", docs.join("to-pipe")).unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(docs.join("sock")).unwrap();
    symlink("/dev/zero", docs.join("zero")).unwrap();
    let expected = expect(&docs_by_default(&t));
    let server = start(&t, &["--hidden", "--follow-symlinks"]);
    let started = Instant::now();
    for kind in ["zip", "tar"] {
        let r = get(&url(&server, &format!("/docs/?{kind}")));
        let mut got = listed(&r.body, kind);
        got.retain(|name, _| expected.contains_key(name));
        assert_eq!(got, expected, "{kind}");
        let names = listed(&r.body, kind);
        for name in ["docs/pipe", "docs/to-pipe", "docs/sock", "docs/zero"] {
            assert!(!names.contains_key(name), "{name} in the {kind}");
        }
    }
    assert!(started.elapsed() < STEP, "{:?}", started.elapsed());
}

#[test]
fn issue18_archives_of_files_and_other_methods_are_refused_clearly() {
    let t = tree();
    let server = start(&t, &["--upload"]);
    let r = get(&url(&server, "/docs/readme.txt?zip"));
    assert_eq!(r.status, 400);
    assert!(r.text().contains("is a file"), "{}", r.text());
    for method in ["POST", "PUT", "DELETE"] {
        let r = request(method, &url(&server, "/docs/?zip"), &[], b"x");
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.header("allow"), Some("GET, HEAD"), "{method}");
        assert!(r.text().contains("GET or HEAD"), "{method}: {}", r.text());
    }
    assert_eq!(get(&url(&server, "/docs/?zip&tar")).status, 400);
    assert_eq!(get(&url(&server, "/nothing/?tar")).status, 404);
    let head = request("HEAD", &url(&server, "/docs/?zip"), &[], b"");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("application/zip"));
    assert!(head.body.is_empty());
    // Without the trailing slash too: the archive does not need the listing's URL.
    assert_eq!(get(&url(&server, "/docs?tar")).status, 200);
}

#[test]
fn issue18_listings_link_the_archives() {
    let t = tree();
    let server = start(&t, &[]);
    let page = get(&url(&server, "/docs/")).text();
    assert!(page.contains("Download as"), "{page}");
    for link in ["href=\"?zip\"", "href=\"?tar\""] {
        assert!(page.contains(link), "{link} in {page}");
    }
    let json: Value = serde_json::from_str(&get(&url(&server, "/docs/?json")).text()).unwrap();
    assert_eq!(json["archives"]["zip"], "/docs/?zip");
    assert_eq!(json["archives"]["tar"], "/docs/?tar");
}

#[test]
fn issue18_a_folder_past_the_limits_is_refused_before_any_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let mut deep = tmp.path().join("deep");
    for _ in 0..66 {
        deep.push("d");
    }
    fs::create_dir_all(&deep).unwrap();
    let many = tmp.path().join("many");
    fs::create_dir(&many).unwrap();
    for i in 0..=100_000 {
        fs::File::create(many.join(i.to_string())).unwrap();
    }
    let server = Server::start(&["http", "serve", tmp.path().to_str().unwrap()]);
    let r = get(&url(&server, "/deep/?zip"));
    assert_eq!(r.status, 403);
    assert!(r.text().contains("more than 64 deep"), "{}", r.text());
    let r = get(&url(&server, "/many/?tar"));
    assert_eq!(r.status, 403);
    assert!(
        r.text().contains("more than 100000 entries"),
        "{}",
        r.text()
    );
}

/// A raw connection that asked for `path` (and to be closed after it), past the head.
fn download(server: &Server, path: &str, recv_buffer: Option<usize>) -> BufReader<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).unwrap();
    }
    socket.connect(&server.addr.into()).unwrap();
    let mut s: TcpStream = socket.into();
    s.set_read_timeout(Some(STEP)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    while line != "\r\n" {
        line.clear();
        r.read_line(&mut line).unwrap();
    }
    r
}

/// Reads a chunked body to its end, handing each chunk to `each`; whether the last
/// (empty) chunk came, that is, whether the archive is complete.
fn read_chunks(r: &mut BufReader<TcpStream>, mut each: impl FnMut(&[u8])) -> bool {
    let mut line = String::new();
    let mut chunk = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return false;
        }
        let size = usize::from_str_radix(line.trim_end(), 16).expect("a chunk size");
        chunk.resize(size + 2, 0);
        if r.read_exact(&mut chunk).is_err() {
            return false;
        }
        if size == 0 {
            return true;
        }
        each(&chunk[..size]);
    }
}

/// The most memory `pid` has held so far (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib << 10
}

/// A folder `big/` holding one sparse file of `size` bytes (zeros, read fast).
fn sparse(size: u64) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join("big")).unwrap();
    let file = tmp.path().join("big/huge.bin");
    fs::File::create(&file).unwrap().set_len(size).unwrap();
    (tmp, file)
}

const MIB: u64 = 1024 * 1024;

#[test]
fn issue18_memory_stays_flat_for_a_folder_of_1_gib() {
    let (tmp, _) = sparse(1024 * MIB);
    let server = Server::start(&["http", "serve", tmp.path().to_str().unwrap()]);
    for kind in ["zip", "tar"] {
        let mut r = download(&server, &format!("/big/?{kind}"), None);
        let mut received = 0u64;
        assert!(
            read_chunks(&mut r, |c| received += c.len() as u64),
            "{kind}"
        );
        assert!(received > 1024 * MIB, "{kind}: {received}");
    }
    let peak = peak_rss(server.pid());
    eprintln!(
        "http serve peak RSS after 2 GiB of archives: {} KiB",
        peak >> 10
    );
    assert!(peak < 64 * MIB, "peak RSS {} MiB", peak / MIB);
}

/// How far `pid` has read `file` (its descriptor's position), if it has it open.
fn read_so_far(pid: u32, file: &Path) -> Option<u64> {
    for fd in fs::read_dir(format!("/proc/{pid}/fd")).ok()?.flatten() {
        if fs::read_link(fd.path()).ok().as_deref() == Some(file) {
            let info =
                fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_str()?))
                    .ok()?;
            let pos = info.lines().find_map(|l| l.strip_prefix("pos:"))?;
            return pos.trim().parse().ok();
        }
    }
    None
}

#[test]
fn issue18_a_slow_client_holds_the_archive_back() {
    let (tmp, file) = sparse(256 * MIB);
    let file = file.canonicalize().unwrap();
    let server = Server::start(&["http", "serve", tmp.path().to_str().unwrap()]);
    for kind in ["zip", "tar"] {
        let mut r = download(&server, &format!("/big/?{kind}"), Some(64 * 1024));
        let mut first = vec![0u8; MIB as usize];
        r.read_exact(&mut first).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let ahead = read_so_far(server.pid(), &file).expect("the file is open");
        // What the client has not read lies in socket buffers (a few MiB on loopback at
        // most), hyper's write buffer and the archive's queue: nowhere else.
        eprintln!(
            "{kind}: the server read {} KiB ahead of the client",
            ahead >> 10
        );
        assert!(
            ahead < 16 * MIB,
            "{kind}: the server read {} MiB ahead",
            ahead / MIB
        );
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(
            read_so_far(server.pid(), &file),
            Some(ahead),
            "{kind}: it waits"
        );
        // A client that leaves ends the archive: its file is closed.
        drop(r);
        let deadline = Instant::now() + STEP;
        while read_so_far(server.pid(), &file).is_some() {
            assert!(Instant::now() < deadline, "{kind}: still open");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn issue18_a_file_that_shrinks_cuts_the_archive_short() {
    let (tmp, file) = sparse(256 * MIB);
    let server = Server::start(&["http", "serve", tmp.path().to_str().unwrap()]);
    for kind in ["zip", "tar"] {
        fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_len(256 * MIB)
            .unwrap();
        let mut r = download(&server, &format!("/big/?{kind}"), Some(64 * 1024));
        let mut first = vec![0u8; MIB as usize];
        r.read_exact(&mut first).unwrap();
        fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_len(1000)
            .unwrap();
        let mut rest = Vec::new();
        let _ = r.read_to_end(&mut rest);
        assert!(
            !rest.ends_with(b"\r\n0\r\n\r\n"),
            "{kind}: a cut archive must not end as a complete one"
        );
        let path = format!("/big/?{kind}");
        let warning = server.wait_until(|e| e["event"] == "warning");
        let message = warning["message"].as_str().unwrap_or_default();
        assert!(message.contains("cut short"), "{message}");
        assert!(message.contains("big/huge.bin shrank"), "{message}");
        let ev = server.wait_until(|e| e["event"] == "request" && e["path"] == path.as_str());
        assert!(ev["bytes"].as_u64().unwrap() < 256 * MIB, "{ev}");
    }
}

/// A zip of more than 4 GiB, with a file of more than 4 GiB and an entry after it:
/// zip64 sizes and offsets. Written sparse on the client's side, so it costs the
/// transfer's time, not the disk.
#[test]
fn issue18_a_zip_over_4_gib_uses_zip64() {
    let (tmp, _) = sparse(4100 * MIB);
    fs::write(tmp.path().join("big/z.txt"), "after").unwrap();
    let server = Server::start(&["http", "serve", tmp.path().to_str().unwrap()]);
    let mut r = download(&server, "/big/?zip", None);
    let out = tempfile::NamedTempFile::new().unwrap();
    let mut file = out.reopen().unwrap();
    let mut written = 0u64;
    let complete = read_chunks(&mut r, |c| {
        if c.iter().all(|&b| b == 0) {
            file.seek(SeekFrom::Current(c.len() as i64)).unwrap();
        } else {
            file.write_all(c).unwrap();
        }
        written += c.len() as u64;
    });
    assert!(complete);
    file.set_len(written).unwrap();
    let check = r#"
import sys, zipfile, zlib
z = zipfile.ZipFile(sys.argv[1])
huge = z.getinfo("big/huge.bin")
assert huge.file_size == 4100 << 20, huge.file_size
assert huge.header_offset < 1 << 32
after = z.getinfo("big/z.txt")
assert after.header_offset > 1 << 32, after.header_offset
assert z.read("big/z.txt") == b"after"
crc, zeros = 0, bytes(16 << 20)
for _ in range(4100 // 16):
    crc = zlib.crc32(zeros, crc)
if 4100 % 16:
    crc = zlib.crc32(bytes((4100 % 16) << 20), crc)
assert huge.CRC == crc, (huge.CRC, crc)
"#;
    let status = Command::new("python3")
        .args(["-c", check, out.path().to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
}
