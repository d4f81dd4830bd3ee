//! Issue 12, the HTTP side: what a newcomer meets first. Text files carry their charset,
//! `http dump` answers a browser with a page, the log says what happened (query string,
//! refused requests, durations without idle time), and mistakes are named: a 405 says
//! which flag enables the method, a folder that cannot be served stops the start.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;
use crate::http_client::*;
use crate::http_serve::{start, tree, url};

/// A browser's Accept header (Chromium's, as it sends it for a page).
pub const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,\
    image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7";

#[test]
fn issue12_text_files_are_sent_with_their_charset() {
    let t = tree();
    let s = &t.served;
    fs::write(s.join("hello.txt"), "你好\n").unwrap();
    // 你好 in GBK, as Windows Notepad in a Chinese locale saves it: not UTF-8.
    fs::write(s.join("gbk.txt"), b"\xc4\xe3\xba\xc3\r\n").unwrap();
    fs::write(s.join("utf16.txt"), b"\xff\xfe\x60\x4f\x7d\x59").unwrap();
    // Over 1 MiB: sent by sendfile, its charset judged from a read of its first page.
    let mut big = "你好".repeat(200_000).into_bytes();
    big.push(b'\n');
    fs::write(s.join("big.txt"), &big).unwrap();
    for (name, body) in [
        ("page.html", "<p>你好</p>"),
        ("style.css", "p{}"),
        ("app.js", "let a='你好'"),
        ("data.json", "{\"a\":\"你好\"}"),
        ("notes.md", "# 你好"),
        ("table.csv", "a,你好"),
        ("feed.xml", "<a>你好</a>"),
    ] {
        fs::write(s.join(name), body).unwrap();
    }
    fs::write(s.join("blob.bin"), b"\xff\x00").unwrap();
    let server = start(&t, &[]);
    let ty = |method: &str, name: &str, headers: &[(&str, &str)]| {
        let r = request(method, &url(&server, &format!("/{name}")), headers, b"");
        assert!(
            r.status == 200 || r.status == 206,
            "{method} {name}: {}",
            r.status
        );
        r.header("content-type").unwrap_or_default().to_owned()
    };
    for (name, want) in [
        ("hello.txt", "text/plain; charset=utf-8"),
        ("big.txt", "text/plain; charset=utf-8"),
        ("gbk.txt", "text/plain"),
        ("utf16.txt", "text/plain; charset=utf-16le"),
        ("page.html", "text/html; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("data.json", "application/json; charset=utf-8"),
        ("notes.md", "text/markdown; charset=utf-8"),
        ("table.csv", "text/csv; charset=utf-8"),
        ("feed.xml", "text/xml; charset=utf-8"),
        ("blob.bin", "application/octet-stream"),
    ] {
        // Every way to ask for a file gives the same type: whole, HEAD, one range
        // (tower-http), several ranges (multipart, whose parts carry it).
        assert_eq!(ty("GET", name, &[]), want, "GET {name}");
        assert_eq!(ty("HEAD", name, &[]), want, "HEAD {name}");
        assert_eq!(
            ty("GET", name, &[("Range", "bytes=0-0")]),
            want,
            "range {name}"
        );
    }
    let multi = request(
        "GET",
        &url(&server, "/hello.txt"),
        &[("Range", "bytes=0-0,2-3")],
        b"",
    );
    assert!(
        multi
            .text()
            .contains("Content-Type: text/plain; charset=utf-8\r\n"),
        "{}",
        multi.text()
    );
}

#[test]
fn issue12_a_405_names_the_flag_and_allow_is_true() {
    let t = tree();
    let server = start(&t, &[]);
    for (method, flag) in [
        ("PUT", "PUT needs --upload"),
        ("POST", "POST needs --upload"),
        ("DELETE", "DELETE needs --delete"),
        ("PATCH", "PATCH is not supported"),
    ] {
        let r = request(method, &url(&server, "/a.txt"), &[], b"x");
        assert_eq!(r.status, 405, "{method}");
        assert!(r.text().starts_with(flag), "{method}: {}", r.text());
        assert!(
            r.text().contains("allows GET, HEAD, OPTIONS"),
            "{}",
            r.text()
        );
    }
    // Allow is true: every method it names is answered, none with 405.
    for flags in [&[][..], &["--upload", "--delete"][..]] {
        let server = start(&t, flags);
        let allow = request("OPTIONS", &url(&server, "/"), &[], b"")
            .header("allow")
            .unwrap()
            .to_owned();
        for method in allow.split(", ") {
            let (path, body): (&str, &[u8]) = match method {
                "PUT" => ("/new.txt", b"new"),
                "POST" => ("/sub/", b""),
                "DELETE" => ("/sub/b.txt", b""),
                _ => ("/a.txt", b""),
            };
            let r = request(method, &url(&server, path), &[], body);
            assert_ne!(r.status, 405, "{flags:?}: Allow names {method}");
        }
    }
}

/// `sockit --json http serve DIR --bind 127.0.0.1:0`, as user `nobody` when asked.
fn serve_once(dir: &std::path::Path, as_nobody: bool) -> Output {
    let mut cmd = sockit(&["http", "serve"]);
    cmd.arg(dir).args(["--bind", "127.0.0.1:0"]);
    if as_nobody {
        // SAFETY: between fork and exec only async-signal-safe calls, on the child.
        unsafe {
            cmd.pre_exec(|| {
                const NOBODY: u32 = 65534;
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(NOBODY) != 0
                    || libc::setuid(NOBODY) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    run_with(cmd, b"")
}

fn assert_refused(out: &Output, dir: &std::path::Path, why: &str) {
    assert_eq!(out.code(), 1, "{dir:?}: {out:?}");
    assert!(
        out.events_named("listening").is_empty(),
        "{dir:?} listened: {out:?}"
    );
    let want = format!("sockit: serve {}: {why}", dir.display());
    assert!(
        out.stderr.starts_with(&want),
        "{want:?} not in {}",
        out.stderr
    );
}

#[test]
fn issue12_serve_refuses_a_folder_it_cannot_serve_before_listening() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    assert_refused(&serve_once(&missing, false), &missing, "no such file");
    let file = tmp.path().join("file.txt");
    fs::write(&file, "x").unwrap();
    assert_refused(&serve_once(&file, false), &file, "not a directory");

    // Root reads any folder: the unreadable ones are tried as nobody.
    let as_nobody = is_root();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    for (name, mode, why) in [
        (
            "locked",
            0o000,
            "permission denied: this user cannot list the folder",
        ),
        (
            "no-x",
            0o644,
            "permission denied: this user cannot open what is in",
        ),
    ] {
        let dir = tmp.path().join(name);
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("f.txt"), "x").unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
        assert_refused(&serve_once(&dir, as_nobody), &dir, why);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
fn issue12_serve_logs_the_query_string() {
    let t = tree();
    let server = start(&t, &[]);
    assert_eq!(get(&url(&server, "/a.txt?v=1&q=%E4%BD%A0")).status, 200);
    let ev = server.wait_for("request");
    assert_eq!(ev["path"], "/a.txt?v=1&q=%E4%BD%A0");
    assert_ms(&ev);
}

/// `duration_ms` is milliseconds to the microsecond (three decimals at most).
fn assert_ms(ev: &Value) {
    let ms = ev["duration_ms"].as_f64().unwrap();
    assert_eq!((ms * 1000.0).round() / 1000.0, ms, "{ev}");
}

#[test]
fn issue12_dump_times_a_request_from_its_first_byte_not_from_the_idle_connection() {
    let server = Server::start(&["http", "dump"]);
    let mut s = connect(server.addr);
    s.write_all(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    read_response(&mut s);
    server.wait_for("request");
    // The connection idles between the two requests: that is not the second's time.
    std::thread::sleep(Duration::from_millis(600));
    s.write_all(b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    read_response(&mut s);
    let ev = server.wait_for("request");
    assert_eq!(ev["path"], "/2");
    let ms = ev["duration_ms"].as_f64().unwrap();
    assert!(ms < 300.0, "the idle time was counted: {ms} ms");
    assert_ms(&ev);
}

#[test]
fn issue12_refused_requests_log_their_method_and_path() {
    let server = Server::start(&["http", "dump", "--max-body", "1KiB"]);
    for (request, status, method, path) in [
        (
            "POST /big?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n",
            413,
            "POST",
            "/big?x=1",
        ),
        ("GET /no-host HTTP/1.1\r\n\r\n", 400, "GET", "/no-host"),
        (
            "PUT /te HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
            501,
            "PUT",
            "/te",
        ),
        ("garbage\r\n\r\n", 400, "-", "-"),
    ] {
        assert_eq!(status_of(&raw(server.addr, request.as_bytes())), status);
        let ev = server.wait_for("request");
        assert_eq!(
            (
                ev["method"].as_str(),
                ev["path"].as_str(),
                ev["status"].as_u64()
            ),
            (Some(method), Some(path), Some(status as u64)),
            "{request:?}"
        );
    }

    // `http serve`: hyper answers a head it cannot parse; that is logged as well.
    let t = tree();
    let server = start(&t, &[]);
    // More header fields than hyper takes (100): small, so it is all written at once.
    let mut big = b"GET /big?x HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..200 {
        big.extend(format!("X-{i}: v\r\n").as_bytes());
    }
    big.extend(b"\r\n");
    let bad: &[u8] = b"GET /a?q=1 HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n";
    for (request, status, method, path) in [
        (bad, 400, "GET", "/a?q=1"),
        (&big[..], 431, "GET", "/big?x"),
        (&b"garbage\r\n\r\n"[..], 400, "-", "-"),
    ] {
        assert_eq!(status_of(&raw(server.addr, request)), status);
        let ev = server.wait_for("request");
        assert_eq!(
            (
                ev["method"].as_str(),
                ev["path"].as_str(),
                ev["status"].as_u64()
            ),
            (Some(method), Some(path), Some(status as u64)),
        );
    }
}

#[test]
fn issue12_dump_answers_a_browser_with_the_raw_request_and_others_with_json() {
    let server = Server::start(&["http", "dump"]);
    let page = request(
        "POST",
        &url(&server, "/form?a=1&b=2"),
        &[("Accept", BROWSER_ACCEPT), ("X-MiXeD-Case", "yes")],
        b"a=1",
    );
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = page.text();
    let eol =
        "<span class=\"eol\" title=\"CR\">\\r</span><span class=\"eol\" title=\"LF\">\\n</span>";
    assert!(
        html.contains(&format!("<td>POST /form?a=1&amp;b=2 HTTP/1.1{eol}</td>")),
        "{html}"
    );
    assert!(
        html.contains(&format!("<td>X-MiXeD-Case: yes{eol}</td>")),
        "{html}"
    );
    assert!(html.contains(&format!("<th>blank line · 空行</th><td>{eol}</td>")));
    assert!(
        html.contains("<th>body · 请求体</th><td>a=1</td>"),
        "{html}"
    );

    // Everything that does not prefer HTML keeps the JSON echo: no Accept, curl's */*.
    for accept in [None, Some("*/*"), Some("application/json")] {
        let headers: Vec<(&str, &str)> = accept.iter().map(|a| ("Accept", *a)).collect();
        let r = request("GET", &url(&server, "/j"), &headers, b"");
        assert_eq!(
            r.header("content-type"),
            Some("application/json"),
            "{accept:?}"
        );
        let echo: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(echo["target"], "/j");
    }
    if have_program("curl") {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "20", &url(&server, "/curl")])
            .output()
            .unwrap();
        let echo: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(echo["target"], "/curl");
    }
}
