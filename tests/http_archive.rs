//! Issue 18, item 5: `GET /folder/?zip` and `?tar` give a folder as one archive, by
//! the rules single files follow (dotfiles, symlinks out of the folder, special files).
//! Archives are checked with python's `zipfile` and `tarfile`, which share no code
//! with sockit. (Streaming, memory and large archives: `http_archive_stream`.)

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

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
