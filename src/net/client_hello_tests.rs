//! The unit tests of `client_hello.rs`: JA4's own examples, GREASE, records split across
//! reads, and a real ClientHello from rustls.

use super::*;

/// A ClientHello message body with these suites and extensions (in order), SNI
/// `example.org`, ALPN `alpn`, the signature algorithms `sigs` and TLS 1.3 offered.
fn hello(suites: &[u16], exts: &[u16], alpn: &[&[u8]], sigs: &[u16]) -> Vec<u8> {
    let mut b = vec![0x03, 0x03];
    b.extend([7u8; 32]);
    b.push(32);
    b.extend([9u8; 32]);
    b.extend(((suites.len() * 2) as u16).to_be_bytes());
    for s in suites {
        b.extend(s.to_be_bytes());
    }
    b.extend([1, 0]);
    let mut all = Vec::new();
    for &kind in exts {
        let data: Vec<u8> = match kind {
            SERVER_NAME => {
                let name = b"example.org";
                let mut d = ((name.len() + 3) as u16).to_be_bytes().to_vec();
                d.push(0);
                d.extend((name.len() as u16).to_be_bytes());
                d.extend(name);
                d
            }
            ALPN => {
                let mut list = Vec::new();
                for p in alpn {
                    list.push(p.len() as u8);
                    list.extend(*p);
                }
                let mut d = (list.len() as u16).to_be_bytes().to_vec();
                d.extend(list);
                d
            }
            SIGNATURE_ALGORITHMS => {
                let mut d = ((sigs.len() * 2) as u16).to_be_bytes().to_vec();
                for s in sigs {
                    d.extend(s.to_be_bytes());
                }
                d
            }
            SUPPORTED_VERSIONS => vec![4, 0x7a, 0x7a, 0x03, 0x04],
            _ => Vec::new(),
        };
        all.extend(kind.to_be_bytes());
        all.extend((data.len() as u16).to_be_bytes());
        all.extend(data);
    }
    b.extend((all.len() as u16).to_be_bytes());
    b.extend(all);
    b
}

const SUITES: [u16; 15] = [
    0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c,
    0x009d, 0x002f, 0x0035,
];
const SIGS: [u16; 8] = [
    0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
];

#[test]
fn the_ja4_documents_example_gives_its_fingerprint() {
    // FoxIO's JA4.md: JA4_ro's lists, in their original order.
    let exts = [
        0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012,
        0x002b, 0xff01, 0x000b, 0x000a, 0x0015,
    ];
    let h = ClientHello::parse(&hello(&SUITES, &exts, &[b"h2", b"http/1.1"], &SIGS)).unwrap();
    assert_eq!(h.ja4(), "t13d1516h2_8daaf6152771_e5627efa2ab1");
    assert_eq!(h.server_name.as_deref(), Some("example.org"));
    assert_eq!(h.alpn, [b"h2".to_vec(), b"http/1.1".to_vec()]);
    assert_eq!(h.version(), 0x0304);
    assert_eq!(h.signature_algorithms, SIGS);
}

#[test]
fn a_browsers_published_fingerprint_is_reproduced() {
    // A Chrome 143 ClientHello as a fingerprinting site showed it (ja4 and ja4_ro).
    let exts = [
        0x002d, 0x0033, 0x0010, 0xfe0d, 0x0017, 0x44cd, 0x0000, 0x000b, 0x000a, 0x002b, 0xff01,
        0x0023, 0x0012, 0x0005, 0x000d, 0x001b,
    ];
    let h = ClientHello::parse(&hello(&SUITES, &exts, &[b"h2"], &SIGS)).unwrap();
    assert_eq!(h.ja4(), "t13d1516h2_8daaf6152771_d8a2da3f94cd");
}

#[test]
fn grease_changes_nothing_and_odd_alpn_values_read_as_hex() {
    let exts = [0x0a0a, 0x0000, 0x0010, 0x000d, 0x002b, 0x1a1a];
    let mut suites = vec![0x2a2a];
    suites.extend(SUITES);
    let with = ClientHello::parse(&hello(&suites, &exts, &[b"h2"], &SIGS)).unwrap();
    let without = ClientHello::parse(&hello(
        &SUITES,
        &[0x0000, 0x0010, 0x000d, 0x002b],
        &[b"h2"],
        &SIGS,
    ))
    .unwrap();
    assert_eq!(with.ja4(), without.ja4());
    assert!(with.ja4().starts_with("t13d1504h2_"), "{}", with.ja4());
    assert!(is_grease(0xfafa) && !is_grease(0x0a0b) && !is_grease(0x1301));
    assert_eq!(alpn_chars(Some(&vec![0x30, 0xab, 0xcd, 0x31])), "01");
    assert_eq!(alpn_chars(Some(&vec![0xab])), "ab");
    assert_eq!(alpn_chars(Some(&b"http/1.1".to_vec())), "h1");
    assert_eq!(alpn_chars(None), "00");
    let bare = ClientHello::parse(&hello(&SUITES, &[], &[], &[])).unwrap();
    assert!(bare.ja4().ends_with("_000000000000"), "{}", bare.ja4());
    assert!(bare.ja4().starts_with("t12i1500"), "{}", bare.ja4());
}

#[test]
fn records_are_gathered_across_reads_and_records() {
    let body = hello(&SUITES, &[0x0000], &[], &[]);
    let mut message = vec![CLIENT_HELLO];
    message.extend(&(body.len() as u32).to_be_bytes()[1..]);
    message.extend(&body);
    // Split into two records.
    let (one, two) = message.split_at(20);
    let mut wire = Vec::new();
    for part in [one, two] {
        wire.extend([HANDSHAKE, 3, 1]);
        wire.extend((part.len() as u16).to_be_bytes());
        wire.extend(part);
    }
    for cut in 0..wire.len() {
        assert_eq!(
            from_records(&wire[..cut]),
            Ok(Records::More),
            "cut at {cut}"
        );
    }
    assert_eq!(from_records(&wire), Ok(Records::Hello(body)));
    assert_eq!(from_records(b"GET / HTTP/1.1\r\n"), Err(HelloError::NotTls));
    assert_eq!(
        from_records(&[HANDSHAKE, 3, 1, 0, 4, 2, 0, 0, 0]),
        Err(HelloError::NotClientHello(2))
    );
    assert_eq!(
        from_records(&[HANDSHAKE, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff]),
        Err(HelloError::TooLong)
    );
}

#[test]
fn truncated_fields_are_refused_not_panicked_on() {
    let body = hello(&SUITES, &[0x0000, 0x0010, 0x000d], &[b"h2"], &SIGS);
    for cut in 0..body.len() {
        let _ = ClientHello::parse(&body[..cut]);
    }
    assert_eq!(
        ClientHello::parse(&body[..10]),
        Err(HelloError::Malformed("random"))
    );
}

#[tokio::test]
async fn a_rustls_clienthello_is_read() {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = tokio::spawn(async move {
        let tls = crate::net::tls::client(
            &crate::net::tls::ClientOptions {
                insecure: true,
                ..Default::default()
            },
            "sockit.example",
            &[b"http/1.1"],
        )
        .unwrap();
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = tls.connector.connect(tls.server_name, tcp).await;
    });
    let (mut s, _) = listener.accept().await.unwrap();
    let mut wire = Vec::new();
    let body = loop {
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0);
        wire.extend(&buf[..n]);
        if let Records::Hello(body) = from_records(&wire).unwrap() {
            break body;
        }
    };
    drop(s);
    let _ = client.await;
    let h = ClientHello::parse(&body).unwrap();
    assert_eq!(h.server_name.as_deref(), Some("sockit.example"));
    assert_eq!(h.alpn, [b"http/1.1".to_vec()]);
    assert!(h.ja4().starts_with("t13d"), "{}", h.ja4());
    assert!(h.ja4().contains("h1_"), "{}", h.ja4());
}
