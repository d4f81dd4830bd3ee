//! `http serve`: downloads, listings, Range, conditional requests, and above all that
//! nothing outside the folder is ever read (writes are tested in `http_write`).

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;
use crate::http_client::*;

pub const SECRET: &str = "TOPSECRET";

/// A temp folder: `served/` (the DIR) next to `outside/secret.txt`.
pub struct Tree {
    _tmp: tempfile::TempDir,
    pub served: PathBuf,
}

pub fn tree() -> Tree {
    let tmp = tempfile::tempdir().unwrap();
    let served = tmp.path().join("served");
    fs::create_dir_all(served.join("sub")).unwrap();
    fs::create_dir_all(tmp.path().join("outside")).unwrap();
    fs::write(tmp.path().join("outside/secret.txt"), SECRET).unwrap();
    fs::write(served.join("a.txt"), "hello world\n").unwrap();
    fs::write(served.join("sub/b.txt"), "bee").unwrap();
    fs::write(served.join(".hidden"), SECRET).unwrap();
    fs::write(served.join("<img src=x onerror=alert(1)>.txt"), "x").unwrap();
    symlink(tmp.path().join("outside/secret.txt"), served.join("escape")).unwrap();
    symlink(tmp.path(), served.join("updir")).unwrap();
    symlink("a.txt", served.join("inner")).unwrap();
    Tree { _tmp: tmp, served }
}

pub fn start(t: &Tree, flags: &[&str]) -> Server {
    start_env(t, flags, &[])
}

/// `start` with `env` added (the hidden `SOCKIT_TEST_*` timeouts).
pub fn start_env(t: &Tree, flags: &[&str], env: &[(&str, &str)]) -> Server {
    let dir = t.served.to_str().unwrap();
    let mut args = vec!["http", "serve", dir];
    args.extend(flags);
    Server::start_env(&args, env)
}

pub fn url(server: &Server, path: &str) -> String {
    format!("http://{}{path}", server.addr)
}

#[test]
fn files_are_served_with_type_length_and_head() {
    let t = tree();
    let server = start(&t, &[]);
    let r = get(&url(&server, "/a.txt"));
    assert_eq!((r.status, r.text().as_str()), (200, "hello world\n"));
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    let head = request("HEAD", &url(&server, "/a.txt"), &[], b"");
    assert_eq!(
        (head.status, head.header("content-length")),
        (200, Some("12"))
    );
    assert!(head.body.is_empty());
    assert_eq!(
        get(&url(&server, "/inner")).text(),
        "hello world\n",
        "symlinks inside are fine"
    );
    assert_eq!(get(&url(&server, "/missing")).status, 404);
    let ev = server.wait_for("request");
    assert_eq!(
        (
            ev["method"].as_str(),
            ev["path"].as_str(),
            ev["status"].as_u64()
        ),
        (Some("GET"), Some("/a.txt"), Some(200))
    );
    assert_eq!(ev["bytes"], 12);
}

#[test]
fn traversal_attempts_never_reach_outside_the_folder() {
    let t = tree();
    let server = start(&t, &[]);
    let targets = [
        "/../outside/secret.txt",
        "/sub/../../outside/secret.txt",
        "/%2e%2e/outside/secret.txt",
        "/%2E%2E/%2E%2E/outside/secret.txt",
        "/..%2foutside%2fsecret.txt",
        "/sub%2f..%2f..%2foutside/secret.txt",
        "/..%5coutside%5csecret.txt",
        "/..\\outside\\secret.txt",
        "/a.txt%00.png",
        "/escape",
        "/updir/outside/secret.txt",
        "//outside/secret.txt",
        "http://x/../outside/secret.txt",
        "/.hidden",
        "/%2ehidden",
        "/sub/%2e%2e/%2e%2e/outside/secret.txt",
    ];
    for target in targets {
        let response = raw(
            server.addr,
            format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        let status = status_of(&response);
        assert!((400..500).contains(&status), "{target} -> {response}");
        assert!(!response.contains(SECRET), "{target} leaked: {response}");
    }
}

#[test]
fn flags_open_hidden_files_and_outside_symlinks() {
    let t = tree();
    let server = start(&t, &["--hidden", "--follow-symlinks"]);
    assert_eq!(get(&url(&server, "/.hidden")).status, 200);
    assert_eq!(get(&url(&server, "/escape")).text(), SECRET);
    let list: Value = serde_json::from_slice(&get(&url(&server, "/?json")).body).unwrap();
    let names: Vec<&str> = list["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&".hidden") && names.contains(&"escape"),
        "{names:?}"
    );
}

#[test]
fn listings_are_json_or_escaped_html_without_hidden_or_escaping_entries() {
    let t = tree();
    let server = start(&t, &[]);
    let by_query: Value = serde_json::from_slice(&get(&url(&server, "/?json")).body).unwrap();
    let accept = request(
        "GET",
        &url(&server, "/"),
        &[("Accept", "application/json")],
        b"",
    );
    assert_eq!(accept.header("content-type"), Some("application/json"));
    let by_accept: Value = serde_json::from_slice(&accept.body).unwrap();
    assert_eq!(by_query, by_accept);
    let names: Vec<&str> = by_query["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["sub", "<img src=x onerror=alert(1)>.txt", "a.txt", "inner"]
    );
    let a = &by_query["entries"][2];
    assert_eq!(
        (a["type"].as_str(), a["size"].as_u64()),
        (Some("file"), Some(12))
    );
    assert!(a["modified"].as_u64().unwrap() > 1_600_000_000);

    let html = get(&url(&server, "/"));
    assert!(html
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    let page = html.text();
    assert!(!page.contains("<img"), "names must be escaped");
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;.txt"));
    assert!(
        page.contains("href=\"%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.txt\""),
        "{page}"
    );
    assert!(!page.contains(".hidden") && !page.contains("escape"));
    assert!(page.contains("name=\"viewport\""));
    assert!(!page.contains("<form"), "no upload form without --upload");

    let redirect = get(&url(&server, "/sub"));
    assert_eq!(
        (redirect.status, redirect.header("location")),
        (301, Some("/sub/"))
    );
    assert!(get(&url(&server, "/sub/")).text().contains("b.txt"));
}

#[test]
fn ranges_single_and_multiple_are_206() {
    let t = tree();
    let server = start(&t, &[]);
    let one = request(
        "GET",
        &url(&server, "/a.txt"),
        &[("Range", "bytes=0-4")],
        b"",
    );
    assert_eq!((one.status, one.text().as_str()), (206, "hello"));
    assert_eq!(one.header("content-range"), Some("bytes 0-4/12"));
    let two = request(
        "GET",
        &url(&server, "/a.txt"),
        &[("Range", "bytes=0-4,6-10")],
        b"",
    );
    assert_eq!(two.status, 206);
    let ct = two.header("content-type").unwrap();
    let boundary = ct
        .strip_prefix("multipart/byteranges; boundary=")
        .expect(ct);
    let body = two.text();
    assert_eq!(
        two.header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap(),
        body.len()
    );
    assert!(
        body.contains("Content-Range: bytes 0-4/12\r\n\r\nhello\r\n"),
        "{body}"
    );
    assert!(
        body.contains("Content-Range: bytes 6-10/12\r\n\r\nworld\r\n"),
        "{body}"
    );
    assert!(body.ends_with(&format!("--{boundary}--\r\n")));
    let bad = request(
        "GET",
        &url(&server, "/a.txt"),
        &[("Range", "bytes=50-60,70-80")],
        b"",
    );
    assert_eq!(
        (bad.status, bad.header("content-range")),
        (416, Some("bytes */12"))
    );
}

#[test]
fn etag_and_last_modified_give_304() {
    let t = tree();
    let server = start(&t, &[]);
    let first = get(&url(&server, "/a.txt"));
    let etag = first.header("etag").unwrap().to_owned();
    let modified = first.header("last-modified").unwrap().to_owned();
    let r = request(
        "GET",
        &url(&server, "/a.txt"),
        &[("If-None-Match", &etag)],
        b"",
    );
    assert_eq!((r.status, r.body.len()), (304, 0));
    let r = request(
        "GET",
        &url(&server, "/a.txt"),
        &[("If-Modified-Since", &modified)],
        b"",
    );
    assert_eq!(r.status, 304);
    let r = request(
        "GET",
        &url(&server, "/a.txt"),
        &[("If-None-Match", "\"other\"")],
        b"",
    );
    assert_eq!(r.status, 200);
}

#[test]
fn many_requests_on_one_keep_alive_connection_do_not_wait_for_delayed_acks() {
    let t = tree();
    let server = start(&t, &[]);
    let mut s = connect(server.addr);
    const N: usize = 200;
    let started = Instant::now();
    for _ in 0..N {
        s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let response = read_response(&mut s);
        assert_eq!(status_of(&response), 200);
    }
    let per_request = started.elapsed().as_secs_f64() * 1000.0 / N as f64;
    eprintln!("keep-alive: {per_request:.2} ms per request");
    // Nagle + delayed ACK would cost ~40 ms each.
    assert!(per_request < 10.0, "{per_request} ms per request");
}

/// Ctrl-C in the middle of a download: the download still arrives whole, an idle
/// connection does not hold up the exit, and the exit is 0.
#[test]
fn ctrl_c_drains_and_exits_0() {
    let t = tree();
    // Far more than the socket buffers hold: the response is still being written.
    let big = pattern(32 << 20);
    fs::write(t.served.join("big.bin"), &big).unwrap();
    let server = start(&t, &[]);
    let _idle = connect(server.addr);
    assert_eq!(get(&url(&server, "/a.txt")).status, 200);
    server.wait_for("request");
    let mut s = connect(server.addr);
    s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "closed inside the head");
        head.push(byte[0]);
    }
    // SAFETY: kill(2) on the server, our own child, still running.
    unsafe { libc::kill(server.pid() as i32, libc::SIGINT) };
    server.wait_for("shutdown");
    let stopping = Instant::now();
    // Only now is the body read: all of it must still come.
    let mut body = Vec::new();
    s.read_to_end(&mut body).unwrap();
    assert_eq!(body.len(), big.len(), "the download was cut short");
    assert!(body == big);
    let (status, _) = server.wait_exit();
    assert!(status.success(), "{status:?}");
    let took = stopping.elapsed();
    assert!(
        took < Duration::from_secs(4),
        "the idle connection held up the exit: {took:?}"
    );
}

#[test]
fn large_files_stream_whole_and_in_ranges() {
    let t = tree();
    let data: Vec<u8> = (0..3 * 1024 * 1024 + 5)
        .map(|i: u32| (i % 253) as u8)
        .collect();
    fs::write(t.served.join("big.bin"), &data).unwrap();
    let server = start(&t, &[]);
    let r = get(&url(&server, "/big.bin"));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-length"),
        Some(data.len().to_string().as_str())
    );
    assert!(r.body == data, "the streamed body differs");
    let r = request(
        "GET",
        &url(&server, "/big.bin"),
        &[("Range", "bytes=2097150-2097155")],
        b"",
    );
    assert_eq!(
        (r.status, r.body.as_slice()),
        (206, &data[2_097_150..2_097_156])
    );
    assert_eq!(server.wait_for("request")["bytes"], data.len() as u64);
}

#[test]
fn a_folder_with_index_html_serves_it_unless_json_is_asked_for() {
    let t = tree();
    fs::write(t.served.join("sub/index.html"), "<h1>site</h1>").unwrap();
    let server = start(&t, &[]);
    let page = get(&url(&server, "/sub/"));
    assert_eq!(
        (
            page.status,
            page.header("content-type"),
            page.text().as_str()
        ),
        (200, Some("text/html; charset=utf-8"), "<h1>site</h1>")
    );
    for json in [
        get(&url(&server, "/sub/?json")),
        request(
            "GET",
            &url(&server, "/sub/"),
            &[("Accept", "application/json")],
            b"",
        ),
    ] {
        let listing: Value = serde_json::from_slice(&json.body).unwrap();
        let names: Vec<&str> = listing["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["b.txt", "index.html"]);
    }
    // Without an index page the folder is still listed.
    assert!(get(&url(&server, "/")).text().contains("Index of /"));
}

#[test]
fn pipelined_large_and_small_downloads_arrive_whole_and_in_order() {
    let t = tree();
    let big: Vec<u8> = (0..2 * 1024 * 1024 + 7)
        .map(|i: u32| (i % 251) as u8)
        .collect();
    fs::write(t.served.join("big.bin"), &big).unwrap();
    let server = start(&t, &[]);
    let mut s = connect(server.addr);
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    let pipelined = [get("/big.bin"), get("/a.txt"), get("/big.bin")].concat();
    s.write_all(pipelined.as_bytes()).unwrap();
    let mut expect = |body: &[u8]| {
        let response = read_response_bytes(&mut s);
        assert!(response.starts_with(b"HTTP/1.1 200 "));
        assert!(response.ends_with(body) && response.len() < body.len() + 400);
    };
    expect(&big);
    expect(b"hello world\n");
    expect(&big);
}

/// Issue 13: a FIFO in the folder used to hold a blocking thread forever per GET (and
/// then SIGTERM no longer ended the server). FIFOs, sockets and devices are neither
/// served nor listed, however they are reached.
#[test]
fn special_files_are_not_found_and_never_opened_for_reading() {
    let t = tree();
    for fifo in ["pipe", "sub/pipe2"] {
        let path = std::ffi::CString::new(t.served.join(fifo).to_str().unwrap()).unwrap();
        // SAFETY: mkfifo(3) on a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o644) }, 0);
    }
    symlink("pipe", t.served.join("to-pipe")).unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(t.served.join("sock")).unwrap();
    symlink("/dev/zero", t.served.join("zero")).unwrap();
    for flags in [&[][..], &["--follow-symlinks", "--hidden"][..]] {
        let server = start(&t, flags);
        let started = Instant::now();
        for _ in 0..50 {
            for path in ["/pipe", "/sub/pipe2", "/to-pipe", "/sock", "/zero"] {
                let status = get(&url(&server, path)).status;
                assert!(status == 404 || status == 403, "{path} {flags:?}: {status}");
            }
        }
        assert!(started.elapsed() < STEP, "{:?}", started.elapsed());
        let listing = get(&url(&server, "/?json")).text();
        for name in ["\"pipe\"", "\"to-pipe\"", "\"sock\"", "\"zero\""] {
            assert!(!listing.contains(name), "{name} listed: {listing}");
        }
        assert!(listing.contains("a.txt"), "{listing}");
        let sub = get(&url(&server, "/sub/?json")).text();
        assert!(!sub.contains("pipe2"), "{sub}");
        let (status, _) = server.interrupt();
        assert!(status.success(), "{status:?}");
    }
}
