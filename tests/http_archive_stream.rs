//! Issue 18, item 5, continued: archives are made as the client reads them — memory
//! stays flat, a slow client holds the writer back, a file that shrinks cuts the
//! response, and a zip past 4 GiB is zip64 (contents and rules: `http_archive`).

use std::fs;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::*;
use crate::http_client::{get, request};

/// A raw connection that asked for `path` (and to be closed after it), past the head.
fn download(server: &Server, path: &str, recv_buffer: Option<usize>) -> BufReader<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).unwrap();
    }
    socket.connect(&server.addr.into()).unwrap();
    let mut s: TcpStream = socket.into();
    s.set_read_timeout(Some(STEP)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    while line != "\r\n" {
        line.clear();
        r.read_line(&mut line).unwrap();
    }
    r
}

/// Reads a chunked body to its end, handing each chunk to `each`; whether the last
/// (empty) chunk came, that is, whether the archive is complete.
fn read_chunks(r: &mut BufReader<TcpStream>, mut each: impl FnMut(&[u8])) -> bool {
    let mut line = String::new();
    let mut chunk = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return false;
        }
        let size = usize::from_str_radix(line.trim_end(), 16).expect("a chunk size");
        chunk.resize(size + 2, 0);
        if r.read_exact(&mut chunk).is_err() {
            return false;
        }
        if size == 0 {
            return true;
        }
        each(&chunk[..size]);
    }
}

/// The most memory `pid` has held so far (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib << 10
}

/// A folder `big/` holding one sparse file of `size` bytes (zeros, read fast).
fn sparse(size: u64) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join("big")).unwrap();
    let file = tmp.path().join("big/huge.bin");
    fs::File::create(&file).unwrap().set_len(size).unwrap();
    (tmp, file)
}

const MIB: u64 = 1024 * 1024;

#[test]
fn issue18_memory_stays_flat_for_a_folder_of_1_gib() {
    let (tmp, _) = sparse(1024 * MIB);
    let server = Server::start(&["http", "serve", tmp.path().to_str().unwrap()]);
    for kind in ["zip", "tar"] {
        let mut r = download(&server, &format!("/big/?{kind}"), None);
        let mut received = 0u64;
        assert!(
            read_chunks(&mut r, |c| received += c.len() as u64),
            "{kind}"
        );
        assert!(received > 1024 * MIB, "{kind}: {received}");
    }
    let peak = peak_rss(server.pid());
    eprintln!(
        "http serve peak RSS after 2 GiB of archives: {} KiB",
        peak >> 10
    );
    assert!(peak < 64 * MIB, "peak RSS {} MiB", peak / MIB);
}

/// How far `pid` has read `file` (its descriptor's position), if it has it open.
fn read_so_far(pid: u32, file: &Path) -> Option<u64> {
    for fd in fs::read_dir(format!("/proc/{pid}/fd")).ok()?.flatten() {
        if fs::read_link(fd.path()).ok().as_deref() == Some(file) {
            let info =
                fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_str()?))
                    .ok()?;
            let pos = info.lines().find_map(|l| l.strip_prefix("pos:"))?;
            return pos.trim().parse().ok();
        }
    }
    None
}

#[test]
fn issue18_a_slow_client_holds_the_archive_back() {
    let (tmp, file) = sparse(256 * MIB);
    let file = file.canonicalize().unwrap();
    let server = Server::start(&["http", "serve", tmp.path().to_str().unwrap()]);
    for kind in ["zip", "tar"] {
        let mut r = download(&server, &format!("/big/?{kind}"), Some(64 * 1024));
        let mut first = vec![0u8; MIB as usize];
        r.read_exact(&mut first).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let ahead = read_so_far(server.pid(), &file).expect("the file is open");
        // What the client has not read lies in socket buffers (a few MiB on loopback at
        // most), hyper's write buffer and the archive's queue: nowhere else.
        eprintln!(
            "{kind}: the server read {} KiB ahead of the client",
            ahead >> 10
        );
        assert!(
            ahead < 16 * MIB,
            "{kind}: the server read {} MiB ahead",
            ahead / MIB
        );
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(
            read_so_far(server.pid(), &file),
            Some(ahead),
            "{kind}: it waits"
        );
        // A client that leaves ends the archive: its file is closed.
        drop(r);
        let deadline = Instant::now() + STEP;
        while read_so_far(server.pid(), &file).is_some() {
            assert!(Instant::now() < deadline, "{kind}: still open");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn issue18_a_file_that_shrinks_cuts_the_archive_short() {
    let (tmp, file) = sparse(256 * MIB);
    let server = Server::start(&["http", "serve", tmp.path().to_str().unwrap()]);
    for kind in ["zip", "tar"] {
        fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_len(256 * MIB)
            .unwrap();
        let mut r = download(&server, &format!("/big/?{kind}"), Some(64 * 1024));
        let mut first = vec![0u8; MIB as usize];
        r.read_exact(&mut first).unwrap();
        fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_len(1000)
            .unwrap();
        let mut rest = Vec::new();
        let _ = r.read_to_end(&mut rest);
        assert!(
            !rest.ends_with(b"\r\n0\r\n\r\n"),
            "{kind}: a cut archive must not end as a complete one"
        );
        let path = format!("/big/?{kind}");
        let warning = server.wait_until(|e| e["event"] == "warning");
        let message = warning["message"].as_str().unwrap_or_default();
        assert!(message.contains("cut short"), "{message}");
        assert!(message.contains("big/huge.bin shrank"), "{message}");
        let ev = server.wait_until(|e| e["event"] == "request" && e["path"] == path.as_str());
        assert!(ev["bytes"].as_u64().unwrap() < 256 * MIB, "{ev}");
    }
}

/// A zip of more than 4 GiB, with a file of more than 4 GiB and an entry after it:
/// zip64 sizes and offsets. Written sparse on the client's side, so it costs the
/// transfer's time, not the disk.
#[test]
fn issue18_a_zip_over_4_gib_uses_zip64() {
    let (tmp, _) = sparse(4100 * MIB);
    fs::write(tmp.path().join("big/z.txt"), "after").unwrap();
    let server = Server::start(&["http", "serve", tmp.path().to_str().unwrap()]);
    let mut r = download(&server, "/big/?zip", None);
    let out = tempfile::NamedTempFile::new().unwrap();
    let mut file = out.reopen().unwrap();
    let mut written = 0u64;
    let complete = read_chunks(&mut r, |c| {
        if c.iter().all(|&b| b == 0) {
            file.seek(SeekFrom::Current(c.len() as i64)).unwrap();
        } else {
            file.write_all(c).unwrap();
        }
        written += c.len() as u64;
    });
    assert!(complete);
    file.set_len(written).unwrap();
    let check = r#"
import sys, zipfile, zlib
z = zipfile.ZipFile(sys.argv[1])
huge = z.getinfo("big/huge.bin")
assert huge.file_size == 4100 << 20, huge.file_size
assert huge.header_offset < 1 << 32
after = z.getinfo("big/z.txt")
assert after.header_offset > 1 << 32, after.header_offset
assert z.read("big/z.txt") == b"after"
crc, zeros = 0, bytes(16 << 20)
for _ in range(4100 // 16):
    crc = zlib.crc32(zeros, crc)
if 4100 % 16:
    crc = zlib.crc32(bytes((4100 % 16) << 20), crc)
assert huge.CRC == crc, (huge.CRC, crc)
"#;
    let status = Command::new("python3")
        .args(["-c", check, out.path().to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// `archive::MAX_ARCHIVES`: each archive holds a thread while its client reads, so a
/// ninth at once is refused with 503 and `Retry-After` until one ends.
#[test]
fn issue18_at_most_8_archives_are_made_at_once() {
    let (tmp, _) = sparse(256 * MIB);
    let server = Server::start(&["http", "serve", tmp.path().to_str().unwrap()]);
    let mut slow: Vec<_> = (0..8)
        .map(|_| download(&server, "/big/?tar", Some(64 * 1024)))
        .collect();
    let refused = get(&format!("http://{}/big/?zip", server.addr));
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(refused.header("retry-after"), Some("5"));
    assert!(refused.text().contains("8 archives"), "{}", refused.text());
    // Listings and files are not held up meanwhile.
    let listing = get(&format!("http://{}/big/", server.addr));
    assert_eq!(listing.status, 200);
    drop(slow.pop());
    let deadline = Instant::now() + STEP;
    loop {
        let head = request(
            "HEAD",
            &format!("http://{}/big/?zip", server.addr),
            &[],
            b"",
        );
        if head.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "still {}", head.status);
        std::thread::sleep(Duration::from_millis(20));
    }
}
