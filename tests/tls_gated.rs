//! TLS against the tools people check it with (issue 18, items 1 and 2): curl trusting
//! the certificate or pinning its key, openssl s_client and s_server, ncat --ssl in
//! both roles, and Chromium trusting the certificate by its key's pin.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;
use crate::ns::Lan;

fn env(dir: &Path) -> (&'static str, String) {
    ("SOCKIT_STATE_DIR", dir.display().to_string())
}

/// `sockit --json ARGS --bind 127.0.0.1:0` with its TLS state in `dir`.
fn start(args: &[&str], dir: &Path) -> Server {
    let (k, v) = env(dir);
    Server::start_env(args, &[(k, v.as_str())])
}

fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "hello over tls\n").unwrap();
    dir
}

fn cert_of(state: &Path) -> String {
    state.join("tls/self-signed.pem").display().to_string()
}

pub fn curl_trusts_http_serve_by_its_certificate_or_its_pin() {
    let (www, state) = (folder(), tempfile::tempdir().unwrap());
    let root = www.path().display().to_string();
    let server = start(&["http", "serve", &root, "--tls"], state.path());
    let pin = server.wait_for("certificate")["pin"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!("https://localhost:{}/a.txt", server.port());
    let curl = |args: &[&str]| {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "10"]).args(args).arg(&url);
        run_with(cmd, b"")
    };
    let ca = cert_of(state.path());
    let out = curl(&["--cacert", &ca]);
    assert_eq!(
        (out.code(), out.stdout_text().as_str()),
        (0, "hello over tls\n"),
        "{}",
        out.stderr
    );
    let out = curl(&[]);
    assert_eq!(
        out.code(),
        60,
        "an unknown certificate is refused: {}",
        out.stderr
    );
    let out = curl(&["-k", "--pinnedpubkey", &pin]);
    assert_eq!(out.stdout_text(), "hello over tls\n", "{}", out.stderr);
    let wrong = "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    assert_eq!(curl(&["-k", "--pinnedpubkey", wrong]).code(), 90);
    // HTTP/1.1 by ALPN, although curl offers h2 first.
    let out = curl(&["--cacert", &ca, "-o", "/dev/null", "-w", "%{http_version}"]);
    assert_eq!(out.stdout_text(), "1.1");
}

/// `openssl s_client -connect 127.0.0.1:PORT ARGS` fed `input`: what it printed by the
/// time the output ends with `until` (or the server closed, or 10 s passed). s_client
/// keeps reading after its input ends, so it is stopped here rather than waited for.
fn s_client(port: u16, args: &[&str], input: &[u8], until: &str) -> String {
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-quiet",
        ])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_client");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = stdout.read(&mut buf) {
            if tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).ends_with(until) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(bytes) => seen.extend(bytes),
            Err(_) => break,
        }
    }
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    String::from_utf8_lossy(&seen).into_owned()
}

pub fn openssl_s_client_talks_to_http_serve_and_tcp_serve() {
    let (www, state) = (folder(), tempfile::tempdir().unwrap());
    let root = www.path().display().to_string();
    let ca = cert_of(state.path());
    let http = start(&["http", "serve", &root, "--tls"], state.path());
    let reply = s_client(
        http.addr.port(),
        &[
            "-CAfile",
            &ca,
            "-verify_return_error",
            "-alpn",
            "http/1.1",
            "-servername",
            "localhost",
        ],
        b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        "hello over tls\n",
    );
    assert!(
        reply.starts_with("HTTP/1.1 200 OK") && reply.ends_with("hello over tls\n"),
        "{reply}"
    );
    let tcp = start(
        &["tcp", "serve", "--tls", "--echo", "--framing", "line"],
        state.path(),
    );
    let reply = s_client(
        tcp.addr.port(),
        &["-CAfile", &ca, "-verify_return_error"],
        b"ping\n",
        "ping\n",
    );
    assert_eq!(reply, "ping\n");
    tcp.wait_until(|e| e["event"] == "message" && e["text"] == "ping");
}

pub fn tcp_connect_talks_to_openssl_s_server() {
    let state = tempfile::tempdir().unwrap();
    let dir = state.path();
    let (pem, key) = sockit::net::tls::make_self_signed(&["localhost".into()]).unwrap();
    std::fs::write(dir.join("c.pem"), pem).unwrap();
    std::fs::write(dir.join("k.pem"), key).unwrap();
    let mut server = Command::new("openssl")
        .args(["s_server", "-accept", "0", "-naccept", "1", "-cert"])
        .arg(dir.join("c.pem"))
        .arg("-key")
        .arg(dir.join("k.pem"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server");
    let _stdin = server.stdin.take();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    // `ACCEPT [::]:PORT` once it listens (the port the kernel picked).
    let port = loop {
        let line = lines.next().expect("s_server ended").unwrap();
        if let Some(p) = line
            .strip_prefix("ACCEPT ")
            .and_then(|a| a.rsplit(':').next())
        {
            break p.to_owned();
        }
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let ca = dir.join("c.pem").display().to_string();
    let out = run(
        &[
            "tcp",
            "connect",
            &format!("127.0.0.1:{port}"),
            "--tls-ca",
            &ca,
            "--tls-server-name",
            "localhost",
            "--send",
            "from sockit",
            "--wait",
            "500ms",
        ],
        b"",
    );
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(out.events_named("tls")[0]["verified"], true);
    let deadline = Instant::now() + STEP;
    loop {
        let line = rx.recv_timeout(STEP).expect("s_server printed what it got");
        if line.contains("from sockit") {
            break;
        }
        assert!(Instant::now() < deadline);
    }
    let _ = server.kill();
    let _ = server.wait();
}

pub fn ncat_ssl_in_both_roles() {
    // ncat as the client of `tcp serve --tls`.
    let state = tempfile::tempdir().unwrap();
    let server = start(
        &["tcp", "serve", "--tls", "--echo", "--framing", "line"],
        state.path(),
    );
    let mut ncat = Command::new("ncat");
    ncat.args([
        "--ssl",
        "--ssl-verify",
        "--ssl-trustfile",
        &cert_of(state.path()),
        "--ssl-servername",
        "localhost",
    ])
    .args([
        "127.0.0.1",
        &server.port(),
        "--wait",
        "5",
        "--idle-timeout",
        "2",
    ]);
    let out = run_with(ncat, b"hi from ncat\n");
    assert_eq!(out.stdout_text(), "hi from ncat\n", "{}", out.stderr);
    // ncat as the server of `tcp connect --tls`, alone in a namespace (it cannot say
    // which port it got, so it takes a fixed one there).
    let lan = Lan::new("tls-ncat", "10.81.0", 1);
    let dir = state.path();
    let (pem, key) = sockit::net::tls::make_self_signed(&["localhost".into()]).unwrap();
    std::fs::write(dir.join("c.pem"), pem).unwrap();
    std::fs::write(dir.join("k.pem"), key).unwrap();
    let mut listener = lan
        .command(0, "ncat")
        .args(["--ssl", "--ssl-cert"])
        .arg(dir.join("c.pem"))
        .arg("--ssl-key")
        .arg(dir.join("k.pem"))
        .args(["-l", "127.0.0.1", "9443"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ncat -l");
    let deadline = Instant::now() + STEP;
    loop {
        let mut ss = lan.command(0, "ss");
        ss.args(["-Hltn", "sport = :9443"]);
        if !run_with(ss, b"").stdout.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "ncat did not listen");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut input = listener.stdin.take().unwrap();
    input.write_all(b"hello from ncat\n").unwrap();
    let ca = dir.join("c.pem").display().to_string();
    let out = run_with(
        lan.sockit(
            0,
            &[
                "tcp",
                "connect",
                "127.0.0.1:9443",
                "--tls-ca",
                &ca,
                "--tls-server-name",
                "localhost",
                "--send",
                "to ncat",
                "--wait",
                "1s",
            ],
        ),
        b"",
    );
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(
        out.events_named("message")
            .iter()
            .any(|m| m["text"] == "hello from ncat\n"),
        "{}",
        out.stdout_text()
    );
    drop(input);
    let mut got = String::new();
    let _ = listener.stdout.take().unwrap().read_to_string(&mut got);
    let _ = listener.kill();
    let _ = listener.wait();
    assert!(got.contains("to ncat"), "{got}");
}

pub fn chromium_opens_https_trusting_the_certificate_by_its_pin() {
    let (www, state) = (folder(), tempfile::tempdir().unwrap());
    let root = www.path().display().to_string();
    let server = start(&["http", "serve", &root, "--tls"], state.path());
    let pin = server.wait_for("certificate")["pin"]
        .as_str()
        .unwrap()
        .to_owned();
    let spki = pin.trim_start_matches("sha256//").to_owned();
    let tmp = tempfile::tempdir().unwrap();
    let browser = crate::browser::Browser::start_with(
        tmp.path(),
        &tmp.path().join("profile"),
        &[format!("--ignore-certificate-errors-spki-list={spki}")],
    );
    browser.goto(&format!("https://localhost:{}/", server.port()));
    let page = browser.source();
    browser.screenshot("https-listing.png");
    assert!(page.contains("a.txt"), "{page}");
    browser.goto(&format!("https://localhost:{}/a.txt", server.port()));
    assert!(browser.source().contains("hello over tls"));
}
