//! `send --raw` and `recv --raw` against a real `nc` (netcat-openbsd), both ways.

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::harness::*;

pub fn raw_send_to_nc_and_raw_recv_from_nc() {
    let src = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    let file = src.path().join("img.png");
    fs::write(&file, &data).unwrap();
    let server = Server::start(&["send", "--raw", &file.display().to_string()]);
    let got = Command::new("nc")
        .args(["-d", "127.0.0.1", &server.port()])
        .output()
        .unwrap();
    assert!(got.stdout == data, "nc received {} bytes", got.stdout.len());

    // nc as the sender, on a port it picks itself (port 0): its -v line says when it
    // listens, and where.
    let mut nc = Command::new("nc")
        .args(["-v", "-N", "-l", "127.0.0.1", "0"])
        .stdin(fs::File::open(&file).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = String::new();
    BufReader::new(nc.stderr.take().unwrap())
        .read_line(&mut said)
        .unwrap();
    // "Listening on localhost 40123"
    assert!(said.contains("Listening"), "{said}");
    let port = said
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .to_owned();
    assert!(port.parse::<u16>().is_ok_and(|p| p != 0), "{said}");
    let out_file = src.path().join("back.png");
    let out = run(
        &[
            "recv",
            "--raw",
            &format!("127.0.0.1:{port}"),
            "-o",
            &out_file.display().to_string(),
        ],
        b"",
    );
    let _ = nc.wait();
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(fs::read(&out_file).unwrap() == data);
    assert_eq!(
        out.events_named("file")[0]["blake3"],
        blake3::hash(&data).to_hex().to_string()
    );
}
