//! The unit tests of `tls.rs`: made certificates, files read back, a handshake.

use super::*;

fn temp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn a_made_certificate_names_this_machine_and_is_kept() {
    let dir = temp();
    let (certs, _) = self_signed(dir.path(), &mut Vec::new()).unwrap();
    let names = certificate_names(&certs[0]);
    assert!(names.contains(&"localhost".to_owned()), "{names:?}");
    assert!(names.contains(&"127.0.0.1".to_owned()), "{names:?}");
    let again = self_signed(dir.path(), &mut Vec::new()).unwrap().0;
    assert_eq!(
        fingerprint(&again[0]),
        fingerprint(&certs[0]),
        "kept, not made again"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join(KEY_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the key is its owner's alone");
}

/// Keeps a certificate valid from `from` to `until` days from now in `dir`.
fn keep(dir: &Path, from: i64, until: i64) -> String {
    let (pem, key) = make_certificate(&["localhost".to_owned()], from, until).unwrap();
    std::fs::write(dir.join(CERT_FILE), &pem).unwrap();
    write_private(&dir.join(KEY_FILE), key.as_bytes()).unwrap();
    fingerprint(&read_certs(&dir.join(CERT_FILE)).unwrap()[0])
}

#[test]
fn validity_tells_valid_from_ending_soon_from_expired() {
    let check = |from, until| {
        let (pem, _) = make_certificate(&["localhost".to_owned()], from, until).unwrap();
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        validity(&der)
    };
    assert!(matches!(check(-1, 825), Validity::Valid));
    assert!(matches!(check(-1, 10), Validity::ExpiresSoon));
    assert!(matches!(check(-30, -2), Validity::Expired));
    assert!(matches!(check(2, 100), Validity::Expired), "not yet valid");
}

#[test]
fn an_expired_kept_certificate_is_made_anew_with_a_note() {
    let dir = temp();
    let old = keep(dir.path(), -30, -2);
    let mut notes = Vec::new();
    let (certs, _) = self_signed(dir.path(), &mut notes).unwrap();
    assert_ne!(fingerprint(&certs[0]), old, "renewed");
    assert!(matches!(validity(&certs[0]), Validity::Valid));
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("had expired"), "{notes:?}");
}

#[test]
fn a_kept_certificate_ending_soon_is_kept_with_a_warning() {
    let dir = temp();
    let old = keep(dir.path(), -1, 10);
    let mut notes = Vec::new();
    let (certs, _) = self_signed(dir.path(), &mut notes).unwrap();
    assert_eq!(fingerprint(&certs[0]), old, "kept");
    assert!(notes[0].contains("expires within 30 days"), "{notes:?}");
}

#[test]
fn a_certificate_without_this_machines_addresses_is_warned_about() {
    let note = unnamed_addresses(&["localhost".to_owned()], Path::new("c.pem")).unwrap();
    assert!(note.contains("127.0.0.1"), "{note}");
    assert!(unnamed_addresses(&local_names(), Path::new("c.pem")).is_none());
}

#[test]
fn presented_names_are_shown_bare() {
    assert_eq!(presented_name("DnsName(\"localhost\")"), "localhost");
    assert_eq!(presented_name("IpAddress(0::1)"), "0::1");
    assert_eq!(presented_name("other"), "other");
}

#[test]
fn fingerprints_read_as_openssl_prints_them() {
    let f = fingerprint(b"");
    assert_eq!(f.len(), 32 * 3 - 1);
    assert!(f.starts_with("E3:B0:C4:42"), "{f}");
}

#[test]
fn files_that_are_not_a_certificate_or_do_not_match_are_refused_clearly() {
    let dir = temp();
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    let (pem, key_pem) = make_self_signed(&["localhost".into()]).unwrap();
    let (_, other_key) = make_self_signed(&["localhost".into()]).unwrap();
    std::fs::write(&cert, &pem).unwrap();
    std::fs::write(&key, &other_key).unwrap();
    let files = Identity::Files {
        cert: cert.clone(),
        key: key.clone(),
    };
    let e = server(&files, NO_ALPN).err().unwrap().to_string();
    assert!(e.contains("the key is not the certificate's"), "{e}");
    std::fs::write(&key, &key_pem).unwrap();
    assert!(server(&files, NO_ALPN).is_ok());
    std::fs::write(&cert, "not a certificate").unwrap();
    let e = server(&files, NO_ALPN).err().unwrap().to_string();
    assert!(e.contains("no certificate"), "{e}");
    let missing = Identity::Files {
        cert: dir.path().join("none"),
        key,
    };
    let e = server(&missing, NO_ALPN).err().unwrap().to_string();
    assert!(e.contains("no such file"), "{e}");
}

#[tokio::test]
async fn a_client_with_the_certificate_as_its_ca_completes_a_handshake() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = temp();
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    let (pem, key_pem) = make_self_signed(&["localhost".into(), "127.0.0.1".into()]).unwrap();
    std::fs::write(&cert, &pem).unwrap();
    std::fs::write(&key, &key_pem).unwrap();
    let tls = server(
        &Identity::Files {
            cert: cert.clone(),
            key,
        },
        &[b"http/1.1"],
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tls.acceptor.clone();
    let served = tokio::spawn(async move {
        for _ in 0..2 {
            let (s, _) = listener.accept().await.unwrap();
            let mut s = acceptor.accept(s).await.unwrap();
            s.write_all(b"hello").await.unwrap();
            s.shutdown().await.unwrap();
        }
    });
    for (o, host) in [
        (
            ClientOptions {
                ca: Some(cert.clone()),
                ..Default::default()
            },
            "127.0.0.1",
        ),
        (
            ClientOptions {
                insecure: true,
                ..Default::default()
            },
            "example.org",
        ),
    ] {
        let c = client(&o, host, &[b"http/1.1"]).unwrap();
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut s = match c.connector.connect(c.server_name, tcp).await {
            Ok(s) => s,
            Err(e) => panic!("{host}: {e}"),
        };
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"hello");
        assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    }
    served.await.unwrap();
    // A client that trusts another certificate refuses this one.
    let c = client(
        &ClientOptions {
            ca: Some(cert),
            server_name: Some("wrong.example".into()),
            ..Default::default()
        },
        "127.0.0.1",
        NO_ALPN,
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tls.acceptor.clone();
    tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        let _ = acceptor.accept(s).await;
    });
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let e = c
        .connector
        .connect(c.server_name, tcp)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("certificate"), "{e}");
}
