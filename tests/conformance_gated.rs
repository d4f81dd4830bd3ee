//! `http serve` checked by the tools people check servers with (issue 18, item 6):
//! REDbot over HTTP and HTTPS (files, a folder, ranges, 304s), rclone's `http` backend
//! listing and copying a tree, `wget -c` resuming and `aria2c -x 4` splitting a download.
//! REDbot must report no error; each warning it still gives must be listed with its
//! reason in docs/http-conformance.md.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::Value;

use crate::harness::*;

/// A Python that can import REDbot: `SOCKIT_REDBOT_PYTHON`, else the venv `.ci/run`
/// makes (`/opt/redbot`).
pub fn redbot_python() -> PathBuf {
    std::env::var_os("SOCKIT_REDBOT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/redbot/bin/python"))
}

pub fn have_redbot() -> bool {
    Command::new(redbot_python())
        .args(["-c", "import redbot.resource"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `program` with no proxy from the environment: every request here goes to loopback.
fn tool(program: &str) -> Command {
    let mut cmd = Command::new(program);
    for var in [
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn manifest(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The `request` events for `path` that the server prints until `enough` holds of them
/// (or `STEP` passes: they are printed as each response starts, before its body).
fn requests_for(server: &Server, path: &str, enough: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + STEP;
    let mut seen = Vec::new();
    while !enough(&seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        match server.event_within(left) {
            Some(ev) if ev["event"] == "request" && ev["path"] == path => seen.push(ev),
            Some(_) => {}
            None => break,
        }
    }
    seen
}

// ---- REDbot -------------------------------------------------------------------------

/// What REDbot said of one request.
struct Verdict {
    status: u64,
    headers: Vec<(String, String)>,
    /// `(level, id, summary)` of every note and subnote.
    notes: Vec<(String, String, String)>,
}

impl Verdict {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} in {:?}", self.headers))
    }
}

fn flatten(note: &Value, into: &mut Vec<(String, String, String)>) {
    let text = |k: &str| note[k].as_str().unwrap_or_default().to_owned();
    into.push((text("level"), text("id"), text("summary")));
    for sub in note["subnotes"].as_array().into_iter().flatten() {
        flatten(sub, into);
    }
}

/// REDbot on `method url` with `headers` (tests/conformance/redbot_check.py).
fn redbot(url: &str, method: &str, headers: &[String]) -> Verdict {
    let mut cmd = tool(&redbot_python().display().to_string());
    cmd.arg(manifest("tests/conformance/redbot_check.py"))
        .args([url, "--method", method]);
    for h in headers {
        cmd.args(["--header", h]);
    }
    let out = run_with(cmd, b"");
    assert_eq!(out.code(), 0, "redbot {url}: {}", out.stderr);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("redbot {url}: not JSON ({e}): {}", out.stdout_text()));
    assert_eq!(v["complete"], true, "redbot {url}: {v}");
    let mut notes = Vec::new();
    for n in v["notes"].as_array().unwrap() {
        flatten(n, &mut notes);
    }
    Verdict {
        status: v["status"].as_u64().unwrap(),
        headers: v["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h[0].as_str().unwrap().into(), h[1].as_str().unwrap().into()))
            .collect(),
        notes,
    }
}

/// A folder with what REDbot is pointed at: text past its 96-byte range probe, a file
/// of 12 bytes (the warning in the docs), one sent by sendfile, a folder, a site.
fn redbot_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let text: String = (0..64)
        .map(|i| format!("line {i} of the notes\n"))
        .collect();
    fs::write(dir.path().join("notes.txt"), text).unwrap();
    fs::write(dir.path().join("small.txt"), "hello world\n").unwrap();
    fs::write(dir.path().join("data.bin"), pattern(300_000)).unwrap();
    fs::write(dir.path().join("large.bin"), pattern(3 << 20)).unwrap();
    fs::create_dir(dir.path().join("folder")).unwrap();
    fs::write(dir.path().join("folder/a.txt"), "a").unwrap();
    fs::create_dir(dir.path().join("site")).unwrap();
    let page = format!(
        "<!doctype html><title>site</title><p>{}</p>\n",
        "home ".repeat(40)
    );
    fs::write(dir.path().join("site/index.html"), page).unwrap();
    dir
}

/// REDbot on files, a folder, ranges and conditional requests at `base`: no error
/// (`BAD`) note but the one known false alarm, and every warning documented.
fn redbot_finds_no_error_at(base: &str) {
    let docs = fs::read_to_string(manifest("docs/http-conformance.md")).unwrap();
    let mut warnings = BTreeSet::new();
    let mut check = |what: &str, path: &str, method: &str, headers: &[String], status: u64| {
        let v = redbot(&format!("{base}{path}"), method, headers);
        assert_eq!(v.status, status, "{what}: {:?}", v.headers);
        for (level, id, summary) in &v.notes {
            // httplint wants Content-Range on every 206, but a multipart one must not
            // have it (RFC 9110 §15.3.7.2): the parts carry it.
            let false_alarm = id == "PARTIAL_WITHOUT_RANGE"
                && v.header("content-type").starts_with("multipart/byteranges");
            assert!(
                level != "BAD" || false_alarm,
                "{what} ({method} {path} {headers:?}): REDbot says {id}: {summary}"
            );
            if level == "WARN" || false_alarm {
                warnings.insert((id.clone(), summary.clone()));
            }
        }
        v
    };
    let file = check("a text file", "/notes.txt", "GET", &[], 200);
    check("a small file", "/small.txt", "GET", &[], 200);
    check("a binary file", "/data.bin", "GET", &[], 200);
    check("a file sent by sendfile", "/large.bin", "GET", &[], 200);
    check("HEAD of a file", "/notes.txt", "HEAD", &[], 200);
    let folder = check("a folder", "/folder/", "GET", &[], 200);
    check("a folder as JSON", "/folder/?json", "GET", &[], 200);
    check("a folder as a zip", "/folder/?zip", "GET", &[], 200);
    check("a folder with an index page", "/site/", "GET", &[], 200);
    let range = ["Range: bytes=1000-1999".to_owned()];
    check("a range", "/data.bin", "GET", &range, 206);
    check("a range of a large file", "/large.bin", "GET", &range, 206);
    let ranges = ["Range: bytes=0-9,100-199".to_owned()];
    check("two ranges", "/data.bin", "GET", &ranges, 206);
    let etag = format!("If-None-Match: {}", file.header("etag"));
    check("If-None-Match", "/notes.txt", "GET", &[etag], 304);
    let since = format!("If-Modified-Since: {}", file.header("last-modified"));
    check("If-Modified-Since", "/notes.txt", "GET", &[since], 304);
    let etag = format!("If-None-Match: {}", folder.header("etag"));
    check("a folder's If-None-Match", "/folder/", "GET", &[etag], 304);
    check("a folder without its slash", "/folder", "GET", &[], 301);
    check("a missing file", "/missing", "GET", &[], 404);
    for (id, summary) in &warnings {
        eprintln!("{base}: REDbot warns {id}: {summary}");
    }
    let unlisted: Vec<_> = warnings
        .iter()
        .filter(|(id, _)| !docs.contains(&format!("`{id}`")))
        .collect();
    assert!(
        unlisted.is_empty(),
        "not listed with a reason in docs/http-conformance.md: {unlisted:?}"
    );
}

pub fn redbot_finds_no_error_over_http() {
    let www = redbot_folder();
    let server = Server::start(&["http", "serve", www.path().to_str().unwrap()]);
    redbot_finds_no_error_at(&format!("http://{}", server.addr));
}

pub fn redbot_finds_no_error_over_https() {
    let (www, state) = (redbot_folder(), tempfile::tempdir().unwrap());
    let server = Server::start_env(
        &["http", "serve", www.path().to_str().unwrap(), "--tls"],
        &[("SOCKIT_STATE_DIR", state.path().to_str().unwrap())],
    );
    // By address: REDbot resolves names through DNS alone, and the certificate names
    // 127.0.0.1 too (REDbot's client does not check certificates in any case).
    redbot_finds_no_error_at(&format!("https://{}", server.addr));
}

// ---- rclone, wget, aria2c -------------------------------------------------------------

/// The files of a tree whose names a client must encode right: spaces, Chinese, an
/// emoji, `%`, `#`, `?`, `+`, `&` and `=`, nested, and one file sent by sendfile.
const TREE: &[(&str, usize)] = &[
    ("a b.txt", 10),
    ("100% #1?.txt", 3),
    ("a+b&c=d.txt", 5),
    ("dir one/中文 名.txt", 200),
    ("dir one/深 层/big file.bin", 3 << 20),
    ("dir one/深 层/émoji 😀.txt", 7),
];

fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (i, (name, size)) in TREE.iter().enumerate() {
        let path = dir.path().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut bytes = pattern(size + i);
        bytes.drain(..i);
        fs::write(path, bytes).unwrap();
    }
    fs::create_dir(dir.path().join("empty folder")).unwrap();
    // Not served (dotfiles are hidden by default), so not copied.
    fs::write(dir.path().join("dir one/.hidden"), "secret").unwrap();
    dir
}

fn rclone(args: &[&str]) -> Output {
    let mut cmd = tool("rclone");
    // No configuration file: the remote is `:http:` with its URL given here.
    cmd.args(["--config", "/dev/null", "--retries", "1"])
        .args([
            "--low-level-retries",
            "1",
            "--contimeout",
            "5s",
            "--timeout",
            "10s",
        ])
        .args(args);
    let out = run_with(cmd, b"");
    assert_eq!(out.code(), 0, "rclone {args:?}: {}", out.stderr);
    out
}

pub fn rclone_lists_and_copies_a_tree_bit_exact() {
    let www = tree();
    let server = Server::start(&["http", "serve", www.path().to_str().unwrap()]);
    let url = format!("http://{}/", server.addr);
    let listed: BTreeSet<String> = rclone(&["lsf", "-R", "--http-url", &url, ":http:"])
        .stdout_text()
        .lines()
        .map(str::to_owned)
        .collect();
    let mut want: BTreeSet<String> = TREE.iter().map(|(n, _)| n.to_string()).collect();
    let folders = ["dir one/", "dir one/深 层/", "empty folder/"];
    want.extend(folders.map(str::to_owned));
    assert_eq!(listed, want);

    let out = tempfile::tempdir().unwrap();
    let dest = out.path().to_str().unwrap();
    let copy = [
        "copy",
        "--create-empty-src-dirs",
        "--http-url",
        &url,
        ":http:",
        dest,
    ];
    rclone(&copy);
    // Every file and folder, folders with a `/` as `lsf` shows them.
    let mut copied = BTreeSet::new();
    let mut dirs = vec![out.path().to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.strip_prefix(out.path()).unwrap().to_str().unwrap();
            if path.is_dir() {
                copied.insert(format!("{name}/"));
                dirs.push(path);
            } else {
                copied.insert(name.to_owned());
            }
        }
    }
    assert_eq!(copied, want);
    for (name, _) in TREE {
        let (a, b) = (www.path().join(name), out.path().join(name));
        assert!(
            fs::read(a).unwrap() == fs::read(b).unwrap(),
            "{name} differs"
        );
    }
}

pub fn wget_c_resumes_a_partial_download() {
    let www = tree();
    let server = Server::start(&["http", "serve", www.path().to_str().unwrap()]);
    let name = "dir one/深 层/big file.bin";
    let path = "/dir%20one/%E6%B7%B1%20%E5%B1%82/big%20file.bin";
    let whole = fs::read(www.path().join(name)).unwrap();
    let out = tempfile::tempdir().unwrap();
    let part = out.path().join("big file.bin");
    let had = 1_234_567;
    fs::write(&part, &whole[..had]).unwrap();
    let wget = || {
        let mut cmd = tool("wget");
        cmd.args(["-c", "-q", "--tries=1", "--timeout=10", "-O"])
            .arg(&part)
            .arg(format!("http://{}{path}", server.addr));
        run_with(cmd, b"")
    };
    let run = wget();
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(
        fs::read(&part).unwrap() == whole,
        "the resumed file differs"
    );
    let asked = requests_for(&server, path, |seen| !seen.is_empty());
    assert_eq!(
        (asked[0]["status"].as_u64(), asked[0]["bytes"].as_u64()),
        (Some(206), Some((whole.len() - had) as u64)),
        "only the missing part is sent"
    );
    // Nothing left to fetch: 416, and wget leaves the file as it is.
    let again = wget();
    assert_eq!(again.code(), 0, "{}", again.stderr);
    let asked = requests_for(&server, path, |seen| !seen.is_empty());
    assert_eq!(asked[0]["status"], 416);
    assert!(fs::read(&part).unwrap() == whole);
}

/// `aria2c -x 4 -s 4` on an 8 MiB file at `url`: bit-exact, and at least two of its
/// connections got a range.
fn aria2c_splits(server: &Server, url: &str, want: &[u8], extra: &[&str]) {
    let out = tempfile::tempdir().unwrap();
    let mut cmd = tool("aria2c");
    cmd.args([
        "--no-conf=true",
        "-x",
        "4",
        "-s",
        "4",
        "--min-split-size=1M",
    ])
    .args(["--max-tries=1", "--connect-timeout=5", "--timeout=10"])
    .args(["--console-log-level=warn", "--summary-interval=0"])
    .args(["--download-result=hide", "--file-allocation=none", "-d"])
    .arg(out.path())
    .args(["-o", "got.bin"])
    .args(extra)
    .arg(url);
    let run = run_with(cmd, b"");
    assert_eq!(run.code(), 0, "{}{}", run.stdout_text(), run.stderr);
    assert!(
        fs::read(out.path().join("got.bin")).unwrap() == want,
        "{url}: the download differs"
    );
    let ranged_peers = |seen: &[Value]| {
        seen.iter()
            .filter(|e| e["status"] == 206)
            .map(|e| e["peer"].as_str().unwrap().to_owned())
            .collect::<BTreeSet<_>>()
    };
    let asked = requests_for(server, "/eight.bin", |seen| ranged_peers(seen).len() >= 2);
    assert!(
        ranged_peers(&asked).len() >= 2,
        "{url}: ranges on two connections at least: {asked:?}"
    );
}

pub fn aria2c_splits_a_download_over_http_and_https_bit_exact() {
    let www = tempfile::tempdir().unwrap();
    let data = pattern(8 << 20);
    fs::write(www.path().join("eight.bin"), &data).unwrap();
    let root = www.path().to_str().unwrap();
    let http = Server::start(&["http", "serve", root]);
    aria2c_splits(
        &http,
        &format!("http://{}/eight.bin", http.addr),
        &data,
        &[],
    );

    let state = tempfile::tempdir().unwrap();
    let https = Server::start_env(
        &["http", "serve", root, "--tls"],
        &[("SOCKIT_STATE_DIR", state.path().to_str().unwrap())],
    );
    let ca = format!(
        "--ca-certificate={}",
        state.path().join("tls/self-signed.pem").display()
    );
    let url = format!("https://{}/eight.bin", https.addr);
    aria2c_splits(&https, &url, &data, &[&ca]);
}
