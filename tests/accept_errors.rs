//! Issue 13: a server out of file descriptors (`EMFILE`) backs off, says so once, and
//! serves again once connections close.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use crate::harness::*;

/// File descriptors the server may hold: its own few plus a couple of dozen clients.
const FD_LIMIT: u64 = 48;

/// Starts `sockit ARGS --bind 127.0.0.1:0` with RLIMIT_NOFILE lowered to `FD_LIMIT`,
/// opens more connections than it can accept, and checks that the accept error is said
/// once, that the server lives on, and that it accepts again once they are closed;
/// `exchange` then talks to it on a fresh connection.
fn survives_emfile(args: &[&str], exchange: impl Fn(&mut TcpStream)) {
    let mut cmd = sockit(args);
    cmd.args(["--bind", "127.0.0.1:0"]);
    // SAFETY: between fork and exec only setrlimit runs, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: FD_LIMIT,
                rlim_max: FD_LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let server = Server::start_command(cmd);
    // Twice what the server can take: the rest wait in the listen queue.
    let held: Vec<TcpStream> = (0..2 * FD_LIMIT)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    let is_accept_error = |ev: &serde_json::Value| {
        ev["event"] == "warning" && ev["message"].as_str().unwrap().starts_with("accept:")
    };
    let first = server.wait_until(is_accept_error);
    assert!(
        first["message"]
            .as_str()
            .unwrap()
            .contains("too many open files"),
        "{first}"
    );
    // Two seconds of failing accepts (a dozen retries) are not said again.
    let quiet_until = Instant::now() + Duration::from_secs(2);
    while let Some(ev) = server.event_within(quiet_until.saturating_duration_since(Instant::now()))
    {
        assert!(!is_accept_error(&ev), "said twice: {ev}");
    }
    drop(held);
    let again = server.wait_until(|ev| {
        assert!(!is_accept_error(ev), "said twice: {ev}");
        ev["event"] == "warning"
            && ev["message"]
                .as_str()
                .unwrap()
                .starts_with("accepting again")
    });
    eprintln!("{}\n{}", first["message"], again["message"]);
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(STEP)).unwrap();
    exchange(&mut s);
}

#[test]
fn issue13_tcp_serve_out_of_file_descriptors_backs_off_says_so_once_and_serves_again() {
    survives_emfile(&["tcp", "serve"], |s| {
        s.write_all(b"hi\n").unwrap();
        let mut answer = [0u8; 17];
        s.read_exact(&mut answer).unwrap();
        assert_eq!(&answer, b"received 3 bytes\n");
    });
}

#[test]
fn issue13_http_dump_out_of_file_descriptors_backs_off_says_so_once_and_serves_again() {
    survives_emfile(&["http", "dump"], |s| {
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    });
}

#[test]
fn issue13_send_raw_out_of_file_descriptors_backs_off_says_so_once_and_serves_again() {
    // Larger than what the socket buffers of a client that does not read can hold, so
    // that each held client keeps its connection and the file open on the server.
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("big.bin");
    std::fs::write(&file, pattern(32 << 20)).unwrap();
    let path = file.display().to_string();
    survives_emfile(&["send", "--raw", &path, "--keep"], |s| {
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        assert!(
            got == pattern(32 << 20),
            "{} bytes, not the file",
            got.len()
        );
    });
}
