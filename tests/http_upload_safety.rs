//! `http serve --upload`: an upload's temporary file is out of every request's reach,
//! and a failed upload leaves nothing behind, neither file nor folder.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::harness::*;
use crate::http_client::*;
use crate::http_serve::{start, tree, url};

/// Everything under `dir`, relative, sorted.
fn all_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.symlink_metadata().unwrap().is_dir() {
                todo.push(p.clone());
            }
            found.push(p.strip_prefix(dir).unwrap().to_path_buf());
        }
    }
    found.sort();
    found
}

/// Starts `PUT path` with `Expect: 100-continue`: once the 100 arrives the server is
/// reading the body, so its temporary file exists. Sends `first` of the body.
fn start_upload(server: &Server, path: &str, len: usize, first: &[u8]) -> TcpStream {
    let mut s = connect(server.addr);
    write!(
        s,
        "PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\nExpect: 100-continue\r\n\r\n"
    )
    .unwrap();
    let mut interim = [0u8; 25];
    s.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(first).unwrap();
    s
}

fn part_in(dir: &Path) -> String {
    let parts: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".sockit-upload-"))
        .collect();
    assert_eq!(parts.len(), 1, "{parts:?}");
    parts[0].clone()
}

#[test]
fn an_uploads_temporary_is_never_listed_served_or_written_even_with_hidden() {
    let t = tree();
    let server = start(&t, &["--upload", "--hidden", "--delete"]);
    let mut victim = start_upload(&server, "/victim.txt", 10, b"hello");
    let part = part_in(&t.served);
    // Unpredictable: 128 random bits, not a pid and a counter.
    assert_eq!(part.len(), ".sockit-upload-.part".len() + 32, "{part}");

    let listing: Value = serde_json::from_slice(&get(&url(&server, "/?json")).body).unwrap();
    let names: Vec<&str> = listing["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&".hidden"),
        "--hidden lists dotfiles: {names:?}"
    );
    assert!(
        !names.iter().any(|n| n.starts_with(".sockit-upload-")),
        "{names:?}"
    );
    assert!(!get(&url(&server, "/")).text().contains(".sockit-upload-"));

    let at = format!("/{part}");
    assert_eq!(get(&url(&server, &at)).status, 404);
    assert_eq!(request("HEAD", &url(&server, &at), &[], b"").status, 404);
    assert_eq!(
        request("PUT", &url(&server, &at), &[], b"EVIL!").status,
        404
    );
    assert_eq!(request("DELETE", &url(&server, &at), &[], b"").status, 404);
    let form = "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"".to_owned()
        + &part
        + "\"\r\n\r\nEVIL!\r\n--b--\r\n";
    let r = request(
        "POST",
        &url(&server, "/"),
        &[("Content-Type", "multipart/form-data; boundary=b")],
        form.as_bytes(),
    );
    assert_eq!(r.status, 403, "{}", r.text());

    victim.write_all(b"world").unwrap();
    assert_eq!(status_of(&read_response(&mut victim)), 201);
    assert_eq!(
        fs::read_to_string(t.served.join("victim.txt")).unwrap(),
        "helloworld"
    );
    assert!(!all_under(&t.served)
        .iter()
        .any(|p| p.to_string_lossy().contains(".sockit-upload-")));
}

#[test]
fn an_upload_dropped_mid_body_leaves_no_file_and_no_new_folder() {
    let t = tree();
    let before = all_under(&t.served);
    let server = start(&t, &["--upload"]);
    let s = start_upload(&server, "/new/deep/f.bin", 1000, &[7u8; 10]);
    part_in(&t.served.join("new/deep"));
    drop(s);
    let ev = server.wait_for("request");
    assert_eq!(ev["status"], 400, "{ev}");
    assert_eq!(all_under(&t.served), before);

    // Into a folder that exists: it stays, the ones made for the upload go.
    let s = start_upload(&server, "/sub/x/y/f.bin", 1000, &[7u8; 10]);
    drop(s);
    assert_eq!(server.wait_for("request")["status"], 400);
    assert_eq!(all_under(&t.served), before);
}

#[test]
fn an_oversized_upload_leaves_no_file_and_no_new_folder() {
    let t = tree();
    let before = all_under(&t.served);
    let server = start(&t, &["--upload", "--max-upload", "1KiB"]);
    // Chunked: the size is only known once it is too late.
    let mut s = connect(server.addr);
    s.write_all(b"PUT /big/deep/f.bin HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    for _ in 0..3 {
        s.write_all(b"200\r\n").unwrap();
        s.write_all(&[1u8; 512]).unwrap();
        s.write_all(b"\r\n").unwrap();
    }
    s.write_all(b"0\r\n\r\n").unwrap();
    assert_eq!(status_of(&read_response(&mut s)), 413);
    assert_eq!(server.wait_for("request")["status"], 413);
    assert_eq!(all_under(&t.served), before);
}

#[test]
fn put_refuses_control_characters_in_names() {
    let t = tree();
    let before = all_under(&t.served);
    let server = start(&t, &["--upload"]);
    for path in [
        "/a%0Ab.txt",
        "/bell%07.txt",
        "/dir%1B/x.txt",
        "/c1%C2%9B.txt",
    ] {
        let r = request("PUT", &url(&server, path), &[], b"x");
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        assert!(r.text().contains("control characters"), "{}", r.text());
    }
    assert_eq!(all_under(&t.served), before);
    assert_eq!(
        request("PUT", &url(&server, "/ok%20name.txt"), &[], b"x").status,
        201
    );
}
