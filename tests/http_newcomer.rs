//! Issue 12, the HTTP side: what a newcomer meets first. Text files carry their charset,
//! and mistakes are named: a 405 says which flag enables the method, a folder that
//! cannot be served stops the start.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;

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
