//! Issue 12, the HTTP side: what a newcomer meets first. Text files carry their charset.

use std::fs;

use crate::harness::*;
use crate::http_client::*;
use crate::http_serve::{start, tree, url};

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
