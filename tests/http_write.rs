//! `http serve --upload/--delete`: PUT, the upload form, DELETE, and 405 for anything
//! not enabled; nothing outside the folder is ever written.

use std::fs;
use std::path::Path;

use crate::harness::*;
use crate::http_client::*;
use crate::http_serve::{start, start_env, tree, url, SECRET};

#[test]
fn writes_are_405_unless_enabled_and_nothing_is_touched() {
    let t = tree();
    let server = start(&t, &[]);
    for method in ["PUT", "POST", "DELETE", "PATCH", "PROPFIND"] {
        let r = request(method, &url(&server, "/a.txt"), &[], b"changed");
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
    }
    assert_eq!(
        fs::read_to_string(t.served.join("a.txt")).unwrap(),
        "hello world\n"
    );
    let options = request("OPTIONS", &url(&server, "/"), &[], b"");
    assert_eq!(options.header("allow"), Some("GET, HEAD, OPTIONS"));
    let all = start(&t, &["--upload", "--delete"]);
    let options = request("OPTIONS", &url(&all, "/"), &[], b"");
    assert_eq!(
        options.header("allow"),
        Some("GET, HEAD, OPTIONS, PUT, POST, DELETE")
    );
}

/// A request sent as is: clients would normalise `..` away.
fn raw_status(server: &Server, method: &str, target: &str) -> u16 {
    let request = format!(
        "{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx"
    );
    status_of(&raw(server.addr, request.as_bytes()))
}

fn no_part_files(dir: &Path) -> bool {
    fs::read_dir(dir)
        .unwrap()
        .all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(".part"))
}

#[test]
fn put_creates_folders_replaces_files_and_honours_max_upload() {
    let t = tree();
    let server = start(&t, &["--upload", "--max-upload", "1KiB"]);
    let r = request("PUT", &url(&server, "/new/deep/f.bin"), &[], &[7u8; 1000]);
    assert_eq!(r.status, 201);
    assert_eq!(
        fs::read(t.served.join("new/deep/f.bin")).unwrap(),
        vec![7u8; 1000]
    );
    let r = request("PUT", &url(&server, "/new/deep/f.bin"), &[], b"v2");
    assert_eq!(r.status, 204);
    assert_eq!(fs::read(t.served.join("new/deep/f.bin")).unwrap(), b"v2");
    let r = request("PUT", &url(&server, "/big.bin"), &[], &[0u8; 2000]);
    assert_eq!(r.status, 413);
    assert!(!t.served.join("big.bin").exists());
    // Chunked, so the limit is found while streaming, not from Content-Length.
    let response = raw(
        server.addr,
        format!("PUT /big2.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n{}\r\n0\r\n\r\n", "a".repeat(2048))
            .as_bytes(),
    );
    assert_eq!(status_of(&response), 413, "{response}");
    assert!(!t.served.join("big2.bin").exists());
    assert!(no_part_files(&t.served));
    for (target, status) in [
        ("/escape", 403),
        ("/updir/x", 403),
        ("/../x", 403),
        ("/sub", 409),
        ("/.x", 404),
    ] {
        assert_eq!(raw_status(&server, "PUT", target), status, "{target}");
    }
    assert_eq!(
        fs::read_to_string(t.served.parent().unwrap().join("outside/secret.txt")).unwrap(),
        SECRET
    );
}

#[test]
fn the_upload_form_saves_files_into_the_folder() {
    let t = tree();
    let server = start(&t, &["--upload"]);
    assert!(get(&url(&server, "/sub/"))
        .text()
        .contains("enctype=\"multipart/form-data\""));
    let b = "XyZbOuNdArY";
    let body = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"one.txt\"\r\nContent-Type: text/plain\r\n\r\nfirst\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../two.txt\"\r\n\r\nsecond\r\n--{b}--\r\n"
    );
    let ct = format!("multipart/form-data; boundary={b}");
    let r = request(
        "POST",
        &url(&server, "/sub/"),
        &[("Content-Type", &ct), ("Accept", "text/html")],
        body.as_bytes(),
    );
    assert_eq!((r.status, r.header("location")), (303, Some("/sub/")));
    assert_eq!(
        fs::read_to_string(t.served.join("sub/one.txt")).unwrap(),
        "first"
    );
    assert_eq!(
        fs::read_to_string(t.served.join("sub/two.txt")).unwrap(),
        "second",
        "names are reduced to their last part"
    );
    assert!(no_part_files(&t.served.join("sub")));
    let hidden = format!("--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\".bashrc\"\r\n\r\nx\r\n--{b}--\r\n");
    let r = request(
        "POST",
        &url(&server, "/"),
        &[("Content-Type", &ct)],
        hidden.as_bytes(),
    );
    assert_eq!(r.status, 403);
}

#[test]
fn delete_removes_entries_inside_and_only_links_of_escapes() {
    let t = tree();
    let server = start(&t, &["--delete"]);
    assert_eq!(
        request("DELETE", &url(&server, "/a.txt"), &[], b"").status,
        204
    );
    assert!(!t.served.join("a.txt").exists());
    assert_eq!(
        request("DELETE", &url(&server, "/sub"), &[], b"").status,
        204
    );
    assert!(!t.served.join("sub").exists());
    assert_eq!(
        request("DELETE", &url(&server, "/escape"), &[], b"").status,
        204
    );
    assert!(t.served.join("escape").symlink_metadata().is_err());
    assert_eq!(
        fs::read_to_string(t.served.parent().unwrap().join("outside/secret.txt")).unwrap(),
        SECRET
    );
    for (target, status) in [
        ("/", 403),
        ("/../outside/secret.txt", 403),
        ("/updir/outside/secret.txt", 403),
        ("/nothing", 404),
    ] {
        assert_eq!(raw_status(&server, "DELETE", target), status, "{target}");
    }
    assert!(t
        .served
        .parent()
        .unwrap()
        .join("outside/secret.txt")
        .exists());
}

/// With the grace at 300 ms and the pause limit at 3 s (`SOCKIT_TEST_BODY_GRACE`,
/// `SOCKIT_TEST_BODY_IDLE`; 20 s and 30 s in real use): 5 bytes buy 10 ms past the
/// grace, which ends long before the pause limit would.
#[test]
fn a_stalled_upload_is_408_after_the_grace_and_leaves_nothing() {
    let t = tree();
    let env = [
        ("SOCKIT_TEST_BODY_GRACE", "300"),
        ("SOCKIT_TEST_BODY_IDLE", "3000"),
    ];
    let server = start_env(&t, &["--upload"], &env);
    let started = std::time::Instant::now();
    let mut s = connect(server.addr);
    std::io::Write::write_all(
        &mut s,
        b"PUT /stalled.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhalf.",
    )
    .unwrap();
    let response = read_all(&mut s);
    assert_eq!(status_of(&response), 408, "{response}");
    let waited = started.elapsed().as_secs_f64();
    assert!((0.3..3.0).contains(&waited), "408 after {waited} s");
    assert!(
        response.contains("body slower than 500 bytes/s after 300ms (5 bytes in 0.3 s)"),
        "{response}"
    );
    assert!(!t.served.join("stalled.bin").exists());
    assert!(no_part_files(&t.served));
}
