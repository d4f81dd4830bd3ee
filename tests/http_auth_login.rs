//! `http serve --auth` (issue 18, item 3): logging in — failed logins limited, Basic auth
//! only over TLS unless the risk is accepted, auth files, and a refused upload whose
//! body is never read.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;
use crate::http_auth::{basic, events_until, expect, folder, send, serve, start_refused};
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
    // Once per lockout, the event that says so; the refusals themselves are requests.
    let events = events_until(&server, |e| e["status"] == 429 && e["user"] == "alice");
    let limited: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "login_limited")
        .collect();
    assert_eq!(limited.len(), 1, "{events:?}");
    assert_eq!(limited[0]["failures"], 10);
    assert_eq!(limited[0]["retry_after_s"], 1);
    assert_eq!(
        limited[0]["peer"].as_str().unwrap().split(':').next(),
        Some("127.0.0.1")
    );
    // The wait is one refill (FAILURE_REFILL): time itself is what is tested here.
    std::thread::sleep(Duration::from_millis(1100));
    let r = send(&server, Some(&right), "GET", "/a.txt", &[], b"");
    assert_eq!((r.status, r.text().as_str()), (200, "top\n"));
    // After a refill, the client has one or two failures left (as time went by), not
    // a new burst: the count goes on from 10.
    let refused = (0..5)
        .map(|_| send(&server, Some(&wrong), "GET", "/a.txt", &[], b"").status)
        .position(|s| s == 429);
    assert!(matches!(refused, Some(1..=3)), "{refused:?}");
    let again = server.wait_for("login_limited");
    assert!(again["failures"].as_u64().unwrap() > 10, "{again}");
}

#[test]
fn issue18_passwords_over_plain_http_need_auth_over_http() {
    let f = folder();
    let out = start_refused(&f, &["--auth", "alice:secret"]);
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
        let out = start_refused(&f, &["--auth-over-http", "--auth", rule]);
        assert_eq!(out.code(), 2, "{rule}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{rule}: {}", out.stderr);
    }
    let out = start_refused(
        &f,
        &["--auth-over-http", "--auth", "bob:1", "--auth", "bob:2@/x"],
    );
    assert_eq!(out.code(), 2);
    assert!(out.stderr.contains("given twice"), "{}", out.stderr);
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
            "--delete",
            "--auth",
            "alice:s3cret",
            "--auth",
            "@/public:ro",
        ],
        &[("SOCKIT_STATE_DIR", state.path().to_str().unwrap())],
    );
    let ca = std::path::PathBuf::from(server.wait_for("certificate")["path"].as_str().unwrap());
    let get = |path: &str, who: Option<&str>| {
        let auth: Vec<(&str, &str)> = who.map(|w| ("Authorization", w)).into_iter().collect();
        https(server.addr, &ca, "GET", path, &auth, b"")
    };
    let alice = basic("alice", "s3cret");
    let r = get("/public/pub.txt", None);
    assert_eq!((r.status, r.text().as_str()), (200, "for anyone\n"));
    let r = get("/a.txt", None);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"sockit\", charset=\"UTF-8\"")
    );
    let r = get("/a.txt", Some(&alice));
    assert_eq!((r.status, r.text().as_str()), (200, "top\n"));
    let r = https(
        server.addr,
        &ca,
        "GET",
        "/a.txt",
        &[("Authorization", &alice), ("Range", "bytes=1-2")],
        b"",
    );
    assert_eq!((r.status, r.text().as_str()), (206, "op"));
    assert_eq!(get("/a.txt", Some(&basic("alice", "nope"))).status, 401);
    // The listing offers uploads to alice only.
    let page = get("/public/", None);
    assert_eq!(page.status, 200);
    assert!(!page.text().contains("multipart/form-data"));
    assert!(page.text().contains("href=\"?login\""));
    let page = get("/", Some(&alice));
    assert!(page.text().contains("multipart/form-data"));
    assert!(page.text().contains("class=del"));
    let put =
        |who: &[(&str, &str)]| https(server.addr, &ca, "PUT", "/new.txt", who, b"new\n").status;
    assert_eq!(put(&[]), 401);
    assert!(!f.dir.join("new.txt").exists());
    assert_eq!(put(&[("Authorization", &alice)]), 201);
    assert_eq!(
        std::fs::read_to_string(f.dir.join("new.txt")).unwrap(),
        "new\n"
    );
    let delete =
        |who: &[(&str, &str)]| https(server.addr, &ca, "DELETE", "/new.txt", who, b"").status;
    assert_eq!(delete(&[]), 401);
    assert_eq!(delete(&[("Authorization", &alice)]), 204);
    assert!(!f.dir.join("new.txt").exists());
    let events = events_until(&server, |e| e["method"] == "DELETE" && e["status"] == 204);
    assert!(
        events.iter().all(|e| e["event"] != "warning"),
        "no warning over TLS: {events:?}"
    );
    assert_eq!(events.last().unwrap()["user"], "alice");
}

#[test]
fn issue18_an_auth_file_with_comments() {
    let f = folder();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("accounts");
    use sha2::Digest;
    let bob = hex::encode(sha2::Sha256::digest(b"bob-pw"));
    // As `htpasswd -nbB` writes it ($2y$), with a path after it.
    let carol = bcrypt::hash_with_salt("carol-pw", 4, *b"sixteen byte slt")
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY);
    std::fs::write(
        &file,
        format!("# the team\nalice:secret@/:rw\n\n   # bob only sees photos\nbob:sha256:{bob}@/photos\ncarol:{carol}@/public:rw\n# and anyone the public folder\n@/public:ro\n"),
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let path = file.to_str().unwrap();
    let server = serve(&f, &["--upload", "--auth-over-http", "--auth-file", path]);
    let alice = basic("alice", "secret");
    let bob = basic("bob", "bob-pw");
    let carol = basic("carol", "carol-pw");
    let (alice, bob, carol) = (
        Some(alice.as_str()),
        Some(bob.as_str()),
        Some(carol.as_str()),
    );
    expect(
        &server,
        &[
            (alice, "PUT", "/in.txt", b"in", 201),
            (bob, "GET", "/photos/p.txt", b"", 200),
            (bob, "GET", "/a.txt", b"", 403),
            (bob, "PUT", "/photos/b.txt", b"b", 403),
            (None, "GET", "/public/pub.txt", b"", 200),
            (carol, "PUT", "/public/c.txt", b"c", 201),
            (carol, "PUT", "/photos/c.txt", b"c", 403),
        ],
    );
    let events = events_until(&server, |e| e["user"] == "carol" && e["status"] == 403);
    let warnings: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "warning")
        .map(|e| e["message"].to_string())
        .filter(|m| m.contains("accounts"))
        .collect();
    assert!(warnings.is_empty(), "a file of mode 600: {warnings:?}");
    // Readable by others while it holds a password in clear: said at start.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let server = serve(&f, &["--auth-over-http", "--auth-file", path]);
    let w = server.wait_until(|e| {
        e["event"] == "warning" && e["message"].as_str().unwrap().contains("chmod 600")
    });
    assert!(w["message"].as_str().unwrap().contains("accounts"), "{w}");
    // A user in both the file and --auth is a mistake; a missing file a failure.
    let out = start_refused(
        &f,
        &["--auth-over-http", "--auth-file", path, "--auth", "alice:x"],
    );
    assert_eq!(out.code(), 2, "{}", out.stderr);
    let missing = tmp.path().join("none");
    let out = start_refused(&f, &["--auth-file", missing.to_str().unwrap()]);
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

#[test]
fn issue18_a_bad_auth_file_line_is_named_by_its_number() {
    let f = folder();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("accounts");
    let path = file.to_str().unwrap();
    for (text, says) in [
        ("# ok\nalice:pw\nbob\n", ":3: expected USER:PASS"),
        ("\n\n@/x:rx\n", ":3: path \"/x\": unknown mode \"rx\""),
        (
            "alice:pw\n# c\ncarol:$2y$05$short\n",
            ":3: password: not a valid bcrypt hash",
        ),
        (
            "alice:$argon2id$v=19$m=1\n",
            ":1: password: not a valid argon2 hash",
        ),
        (
            "alice:sha256:abcd@/:rw\n",
            ":1: password: sha256: must be followed by 64 hex digits",
        ),
        (
            "alice:one\nalice:two@/x\n",
            ":2: user \"alice\" is given twice",
        ),
    ] {
        std::fs::write(&file, text).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let out = start_refused(&f, &["--auth-over-http", "--auth-file", path]);
        assert_eq!(out.code(), 2, "{text:?}: {}", out.stderr);
        let want = format!("{path}{says}");
        assert!(
            out.stderr.contains(&want),
            "{text:?}: want {want:?} in {}",
            out.stderr
        );
        assert!(
            out.stdout.is_empty(),
            "nothing listened: {}",
            out.stdout_text()
        );
    }
}
