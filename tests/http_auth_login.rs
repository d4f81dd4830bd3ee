//! `http serve --auth` (issue 18, item 3): logging in — failed logins limited, Basic auth
//! only over TLS unless the risk is accepted, auth files, and a refused upload whose
//! body is never read.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::*;
use crate::http_auth::{basic, folder, send, serve};
use crate::http_client::*;

#[test]
fn issue18_the_eleventh_wrong_password_within_a_second_is_429() {
    let f = folder();
    let server = serve(&f, &["--auth-over-http", "--auth", "alice:right"]);
    let wrong = basic("alice", "wrong");
    let started = Instant::now();
    for i in 1..=10 {
        let r = send(&server, Some(&wrong), "GET", "/a.txt", &[], b"");
        assert_eq!(r.status, 401, "failure {i}");
    }
    let r = send(&server, Some(&wrong), "GET", "/a.txt", &[], b"");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "too slow to tell"
    );
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    // Checked before the password: the right one waits too.
    let right = basic("alice", "right");
    assert_eq!(
        send(&server, Some(&right), "GET", "/a.txt", &[], b"").status,
        429
    );
    // Reading without credentials is not a login.
    assert_eq!(send(&server, None, "GET", "/a.txt", &[], b"").status, 401);
    std::thread::sleep(Duration::from_millis(1100));
    let r = send(&server, Some(&right), "GET", "/a.txt", &[], b"");
    assert_eq!((r.status, r.text().as_str()), (200, "top\n"));
    let events = server.events_so_far();
    assert!(events
        .iter()
        .any(|e| e["status"] == 429 && e["user"] == "alice"));
}

#[test]
fn issue18_passwords_over_plain_http_need_auth_over_http() {
    let f = folder();
    let dir = f.dir.to_str().unwrap();
    let out = run(
        &[
            "http",
            "serve",
            dir,
            "--bind",
            "127.0.0.1:0",
            "--auth",
            "alice:secret",
        ],
        b"",
    );
    assert_eq!(out.code(), 2, "{}", out.stderr);
    assert!(out.stderr.contains("--auth-over-http"), "{}", out.stderr);
    assert!(!out.stderr.contains("secret"), "{}", out.stderr);
    assert!(out.stdout.is_empty(), "nothing listened");
    let server = serve(&f, &["--auth-over-http", "--auth", "alice:secret"]);
    let warning = server.wait_for("warning");
    assert!(
        warning["message"].as_str().unwrap().contains("in clear"),
        "{warning}"
    );
    let alice = basic("alice", "secret");
    assert_eq!(
        send(&server, Some(&alice), "GET", "/a.txt", &[], b"").status,
        200
    );
    // Anyone's access needs no password, so no TLS.
    let public = serve(&f, &["--auth", "@/public:ro"]);
    assert_eq!(
        send(&public, None, "GET", "/public/pub.txt", &[], b"").status,
        200
    );
    assert_eq!(send(&public, None, "GET", "/a.txt", &[], b"").status, 401);
    // Mistakes are usage errors that name the rule but not its password.
    for (rule, says) in [
        ("alice:pw@/x:rx", "unknown mode"),
        ("alice:sha256:12", "64 hex digits"),
        ("alice", "expected USER:PASS"),
    ] {
        let out = run(
            &[
                "http",
                "serve",
                dir,
                "--bind",
                "127.0.0.1:0",
                "--tls-self-signed",
                "--auth",
                rule,
            ],
            b"",
        );
        assert_eq!(out.code(), 2, "{rule}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{rule}: {}", out.stderr);
    }
    let out = run(
        &[
            "http",
            "serve",
            dir,
            "--bind",
            "127.0.0.1:0",
            "--auth-over-http",
            "--auth",
            "bob:1",
            "--auth",
            "bob:2@/x",
        ],
        b"",
    );
    assert_eq!(out.code(), 2);
    assert!(out.stderr.contains("given twice"), "{}", out.stderr);
}

/// `curl` over HTTPS trusting `cert`: the status, then the body.
fn curl(cert: &str, url: &str, extra: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "20",
            "--cacert",
            cert,
            "-w",
            "\n%{http_code}",
        ])
        .args(extra)
        .arg(url)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap_or(0), body.to_owned())
}

#[test]
fn issue18_over_tls_basic_auth_needs_no_flag() {
    let f = folder();
    let state = tempfile::tempdir().unwrap();
    let dir = f.dir.to_str().unwrap();
    let server = Server::start_env(
        &[
            "http",
            "serve",
            dir,
            "--tls-self-signed",
            "--upload",
            "--auth",
            "alice:s3cret",
            "--auth",
            "@/public:ro",
        ],
        &[("SOCKIT_STATE_DIR", state.path().to_str().unwrap())],
    );
    let cert = server.wait_for("certificate")["path"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = |p: &str| format!("https://127.0.0.1:{}{p}", server.port());
    assert_eq!(
        curl(&cert, &url("/public/pub.txt"), &[]),
        (200, "for anyone\n".into())
    );
    assert_eq!(curl(&cert, &url("/a.txt"), &[]).0, 401);
    assert_eq!(
        curl(&cert, &url("/a.txt"), &["-u", "alice:s3cret"]),
        (200, "top\n".into())
    );
    assert_eq!(curl(&cert, &url("/a.txt"), &["-u", "alice:nope"]).0, 401);
    let upload = f.dir.join("a.txt");
    let up = upload.to_str().unwrap();
    assert_eq!(curl(&cert, &url("/new.txt"), &["-T", up]).0, 401);
    assert!(!f.dir.join("new.txt").exists());
    assert_eq!(
        curl(&cert, &url("/new.txt"), &["-T", up, "-u", "alice:s3cret"]).0,
        201
    );
    assert_eq!(
        std::fs::read_to_string(f.dir.join("new.txt")).unwrap(),
        "top\n"
    );
}

#[test]
fn issue18_an_auth_file_with_comments() {
    let f = folder();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("accounts");
    use sha2::Digest;
    let bob = hex::encode(sha2::Sha256::digest(b"bob-pw"));
    std::fs::write(
        &file,
        format!("# the team\nalice:secret@/:rw\n\n   # bob only sees photos\nbob:sha256:{bob}@/photos\n# and anyone the public folder\n@/public:ro\n"),
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let path = file.to_str().unwrap();
    let server = serve(&f, &["--upload", "--auth-over-http", "--auth-file", path]);
    let alice = basic("alice", "secret");
    let bob = basic("bob", "bob-pw");
    assert_eq!(
        send(&server, Some(&alice), "PUT", "/in.txt", &[], b"in").status,
        201
    );
    assert_eq!(
        send(&server, Some(&bob), "GET", "/photos/p.txt", &[], b"").status,
        200
    );
    assert_eq!(
        send(&server, Some(&bob), "GET", "/a.txt", &[], b"").status,
        403
    );
    assert_eq!(
        send(&server, Some(&bob), "PUT", "/photos/b.txt", &[], b"b").status,
        403
    );
    assert_eq!(
        send(&server, None, "GET", "/public/pub.txt", &[], b"").status,
        200
    );
    let warnings: Vec<_> = server
        .events_so_far()
        .into_iter()
        .filter(|e| e["event"] == "warning")
        .map(|e| e["message"].to_string())
        .collect();
    assert!(
        warnings.iter().all(|w| !w.contains("chmod")),
        "{warnings:?}"
    );
    // Readable by others while it holds a password in clear: said at start.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let server = serve(&f, &["--auth-over-http", "--auth-file", path]);
    let w = server.wait_until(|e| {
        e["event"] == "warning" && e["message"].as_str().unwrap().contains("chmod 600")
    });
    assert!(w["message"].as_str().unwrap().contains("accounts"), "{w}");
    // A user in both the file and --auth is a mistake; a missing file a failure.
    let dir = f.dir.to_str().unwrap();
    let out = run(
        &[
            "http",
            "serve",
            dir,
            "--bind",
            "127.0.0.1:0",
            "--auth-over-http",
            "--auth-file",
            path,
            "--auth",
            "alice:x",
        ],
        b"",
    );
    assert_eq!(out.code(), 2, "{}", out.stderr);
    let missing = tmp.path().join("none");
    let out = run(
        &[
            "http",
            "serve",
            dir,
            "--bind",
            "127.0.0.1:0",
            "--auth-file",
            missing.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(out.code(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("--auth-file"), "{}", out.stderr);
}

#[test]
fn issue18_a_refused_upload_is_never_read() {
    let f = folder();
    let server = serve(
        &f,
        &[
            "--upload",
            "--auth-over-http",
            "--auth",
            "alice:pw",
            "--auth",
            "reader:pw@/:ro",
        ],
    );
    for (who, status, expect) in [
        (None, "401", ""),
        (Some(basic("reader", "pw")), "403", ""),
        (None, "401", "Expect: 100-continue\r\n"),
    ] {
        let auth = who
            .map(|w| format!("Authorization: {w}\r\n"))
            .unwrap_or_default();
        // 100 MB announced, none sent: the answer must not wait for them.
        let head = format!(
            "PUT /big.bin HTTP/1.1\r\nHost: x\r\n{auth}{expect}Content-Length: 100000000\r\n\r\n"
        );
        let mut s = connect(server.addr);
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&[0u8; 1000]).unwrap();
        let started = Instant::now();
        let mut first = [0u8; 12];
        s.read_exact(&mut first).unwrap();
        assert_eq!(
            &first[..],
            format!("HTTP/1.1 {status}").as_bytes(),
            "no 100 Continue first"
        );
        let rest = read_all(&mut s);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "closed, not drained"
        );
        assert!(!rest.is_empty());
        assert!(!f.dir.join("big.bin").exists());
    }
    let names: Vec<_> = std::fs::read_dir(&f.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 3, "nothing written: {names:?}");
}
