//! TLS on loopback (issue 18, items 1 and 2): `http serve` and `http dump` over HTTPS
//! with a certificate from files or made for this machine, the plain request on the
//! TLS port, the ClientHello shown, and `tcp serve`/`tcp connect` with TLS. The client
//! here is rustls itself; curl, openssl, ncat and Chromium are in `gated.rs`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::harness::*;

/// A state folder of the test's own, where `--tls-self-signed` keeps its certificate.
fn state() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn env(dir: &Path) -> [(&'static str, String); 1] {
    [("SOCKIT_STATE_DIR", dir.display().to_string())]
}

/// `sockit --json ARGS --bind 127.0.0.1:0` with its state in `dir`.
fn start(args: &[&str], dir: &Path) -> Server {
    let e = env(dir);
    Server::start_env(args, &[(e[0].0, e[0].1.as_str())])
}

/// The self-signed certificate a server keeps in `dir`.
fn self_signed(dir: &Path) -> PathBuf {
    dir.join("tls/self-signed.pem")
}

/// A rustls client that trusts only `ca` (ring, as sockit: see `net::tls::provider`).
#[allow(deprecated)]
fn client_config(ca: &Path) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// `GET path` over TLS to `server`, naming it `host`: the status, the body, the ALPN
/// agreed and the certificate's DER.
fn https_get(
    server: &Server,
    host: &str,
    path: &str,
    ca: &Path,
) -> (u16, Vec<u8>, Option<Vec<u8>>, Vec<u8>) {
    let name = rustls::pki_types::ServerName::try_from(host.to_owned()).unwrap();
    let conn = rustls::ClientConnection::new(client_config(ca), name).unwrap();
    let tcp = std::net::TcpStream::connect(server.addr).unwrap();
    tcp.set_read_timeout(Some(STEP)).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = Vec::new();
    let _ = tls.read_to_end(&mut reply);
    let alpn = tls.conn.alpn_protocol().map(<[u8]>::to_vec);
    let cert = tls.conn.peer_certificates().unwrap()[0].to_vec();
    let split = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8_lossy(&reply[..split]);
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, reply[split + 4..].to_vec(), alpn, cert)
}

fn served_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "hello over tls\n").unwrap();
    std::fs::write(dir.path().join("big.bin"), pattern(3 << 20)).unwrap();
    dir
}

#[test]
fn issue18_http_serve_over_tls_with_a_certificate_kept_across_restarts() {
    let (www, st) = (served_folder(), state());
    let root = www.path().display().to_string();
    let server = start(&["http", "serve", &root, "--tls-self-signed"], st.path());
    // `listening` said https (checked by the harness's first read); the certificate:
    let cert = server.wait_for("certificate");
    assert_eq!(cert["self_signed"], true);
    let names: Vec<&str> = cert["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"localhost") && names.contains(&"127.0.0.1"),
        "{cert}"
    );
    let ca = self_signed(st.path());
    for host in ["localhost", "127.0.0.1"] {
        let (status, body, alpn, der) = https_get(&server, host, "/a.txt", &ca);
        assert_eq!(
            (status, body.as_slice()),
            (200, &b"hello over tls\n"[..]),
            "{host}"
        );
        assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
        assert_eq!(sockit::net::tls::fingerprint(&der), cert["fingerprint"]);
    }
    // A large file goes out without sendfile, intact.
    let (status, body, _, _) = https_get(&server, "localhost", "/big.bin", &ca);
    assert_eq!(status, 200);
    assert!(body == pattern(3 << 20), "{} bytes", body.len());
    drop(server);
    let again = start(&["http", "serve", &root, "--tls"], st.path());
    assert_eq!(
        again.wait_for("certificate")["fingerprint"],
        cert["fingerprint"]
    );
}

#[test]
fn issue18_a_plain_request_on_the_tls_port_is_told_to_use_https() {
    let (www, st) = (served_folder(), state());
    let root = www.path().display().to_string();
    let server = start(&["http", "serve", &root, "--tls"], st.path());
    let url = format!("http://127.0.0.1:{}/a.txt", server.port());
    let err = ureq::get(&url).call().unwrap_err();
    let ureq::Error::Status(400, response) = err else {
        panic!("{err}");
    };
    let text = response.into_string().unwrap();
    assert!(
        text.contains(&format!("https://127.0.0.1:{}/a.txt", server.port())),
        "{text}"
    );
    let logged = server.wait_for("request");
    assert_eq!(logged["status"], 400);
    assert_eq!(logged["path"], "/a.txt");
}

#[test]
fn issue18_certificate_files_with_a_chain_and_a_mismatched_key() {
    let (www, st) = (served_folder(), state());
    let root = www.path().display().to_string();
    let dir = st.path();
    let (pem, key) = sockit::net::tls::make_self_signed(&["localhost".into()]).unwrap();
    let (other_pem, other_key) = sockit::net::tls::make_self_signed(&["other".into()]).unwrap();
    // A "chain": the leaf, then another certificate after it.
    std::fs::write(dir.join("chain.pem"), format!("{pem}{other_pem}")).unwrap();
    std::fs::write(dir.join("key.pem"), &key).unwrap();
    std::fs::write(dir.join("wrong.pem"), &other_key).unwrap();
    std::fs::write(dir.join("leaf.pem"), &pem).unwrap();
    let (chain, keyf, wrong) = (
        dir.join("chain.pem"),
        dir.join("key.pem"),
        dir.join("wrong.pem"),
    );
    let server = start(
        &[
            "http",
            "serve",
            &root,
            "--tls-cert",
            chain.to_str().unwrap(),
            "--tls-key",
            keyf.to_str().unwrap(),
        ],
        dir,
    );
    assert_eq!(server.wait_for("certificate")["self_signed"], false);
    let (status, _, _, _) = https_get(&server, "localhost", "/a.txt", &dir.join("leaf.pem"));
    assert_eq!(status, 200);
    let out = run(
        &[
            "http",
            "serve",
            &root,
            "--bind",
            "127.0.0.1:0",
            "--tls-cert",
            chain.to_str().unwrap(),
            "--tls-key",
            wrong.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(out.code(), 1);
    assert!(
        out.stderr.contains("the key is not the certificate's"),
        "{}",
        out.stderr
    );
    let out = run(
        &["http", "serve", &root, "--tls-cert", "/nonexistent.pem"],
        b"",
    );
    assert_eq!(out.code(), 2, "--tls-cert needs --tls-key: {}", out.stderr);
}

#[test]
fn issue18_http_dump_over_tls_shows_the_decrypted_request_and_the_client_hello() {
    let st = state();
    let server = start(&["http", "dump", "--tls", "--tls-client-hello"], st.path());
    server.wait_for("certificate");
    let (status, body, _, _) =
        https_get(&server, "localhost", "/secret?x=1", &self_signed(st.path()));
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("/secret?x=1"));
    let hello = server.wait_for("client_hello");
    assert_eq!(hello["server_name"], "localhost");
    assert_eq!(hello["alpn"], serde_json::json!(["http/1.1"]));
    assert_eq!(hello["version"], "TLS 1.3");
    let ja4 = hello["ja4"].as_str().unwrap();
    assert!(ja4.starts_with("t13d") && ja4.len() == 36, "{ja4}");
    assert!(hello["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["name"] == "server_name"));
    let dump = server.wait_for("dump");
    assert!(
        dump["text"]
            .as_str()
            .unwrap()
            .starts_with("GET /secret?x=1 HTTP/1.1\r\n"),
        "{dump}"
    );
}

/// `sockit --json tcp connect ADDR --send MSG ARGS` against a TLS `tcp serve`.
fn tls_connect(server: &Server, args: &[&str]) -> Output {
    let addr = server.addr.to_string();
    let mut all = vec![
        "tcp",
        "connect",
        addr.as_str(),
        "--framing",
        "line",
        "--send",
        "over tls",
    ];
    all.extend(args);
    run(&all, b"")
}

#[test]
fn issue18_tcp_over_tls_with_every_framing_check() {
    let st = state();
    let server = start(
        &["tcp", "serve", "--tls", "--echo", "--framing", "line"],
        st.path(),
    );
    let fingerprint = server.wait_for("certificate")["fingerprint"].clone();
    let ca = self_signed(st.path()).display().to_string();
    let out = tls_connect(&server, &["--tls-ca", &ca]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let session = &out.events_named("tls")[0];
    assert_eq!(
        (session["verified"].clone(), session["fingerprint"].clone()),
        (Value::Bool(true), fingerprint.clone())
    );
    assert_eq!(out.events_named("message")[0]["text"], "over tls");
    // Not trusted: refused, unless the user says so and compares the fingerprint.
    let out = tls_connect(&server, &["--tls"]);
    assert_eq!(out.code(), 1);
    assert!(
        out.stderr
            .contains("not signed by an authority this side trusts")
            && out.stderr.contains("--tls-ca"),
        "says why and what to do: {}",
        out.stderr
    );
    let out = tls_connect(&server, &["--tls-insecure"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(out.events_named("tls")[0]["verified"], false);
    assert_eq!(out.events_named("tls")[0]["fingerprint"], fingerprint);
    // A name the certificate is not for.
    let out = tls_connect(
        &server,
        &["--tls-ca", &ca, "--tls-server-name", "elsewhere.example"],
    );
    assert_eq!(out.code(), 1);
    assert!(
        out.stderr
            .contains("certificate is not for elsewhere.example: it is for localhost, ")
            && out.stderr.contains("127.0.0.1"),
        "names what it is for: {}",
        out.stderr
    );
    // A client in clear is told apart; the server goes on.
    let addr = server.addr.to_string();
    // Its own fate (a reset, or the server's close) is not the point here.
    run(
        &["tcp", "connect", &addr, "--send", "hello", "--wait", "1s"],
        b"",
    );
    let ended = server.wait_until(|e| {
        e["event"] == "disconnect" && e["detail"] == "the client spoke in clear, not TLS"
    });
    assert_eq!(ended["reason"], "protocol");
    assert_eq!(tls_connect(&server, &["--tls-ca", &ca]).code(), 0);
    // A TLS client against a server in clear.
    let plain = start(&["tcp", "serve"], st.path());
    let out = tls_connect(&plain, &["--tls-insecure"]);
    assert_eq!(out.code(), 1);
    assert!(
        out.stderr.contains("did not answer in TLS"),
        "{}",
        out.stderr
    );
}

#[test]
fn issue18_len_framing_over_tls_keeps_message_boundaries() {
    let st = state();
    let server = start(
        &["tcp", "serve", "--tls", "--echo", "--framing", "len"],
        st.path(),
    );
    let ca = self_signed(st.path()).display().to_string();
    let addr = server.addr.to_string();
    let out = run(
        &[
            "tcp",
            "connect",
            &addr,
            "--framing",
            "len",
            "--tls-ca",
            &ca,
            "--send",
            "one",
            "--send",
            "two",
            "--send",
            "three",
        ],
        b"",
    );
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let texts: Vec<Value> = out
        .events_named("message")
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, ["one", "two", "three"]);
}
