//! `http dump`'s request-head parser: a head it accepts never has both Content-Length
//! and Transfer-Encoding, nor more than one Host (counted here from the raw bytes, not
//! from the parser's own view); the verdict is the same with bytes after the head; and
//! every shorter prefix of an accepted head is "incomplete", never a verdict of its own.

use arbitrary::{Result, Unstructured};
use sockit::http::request::Head;

/// Header-ish pieces the fuzzer can combine into plausible heads.
const PIECES: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\n",
    b"POST /form HTTP/1.1\r\n",
    b"GET / HTTP/1.0\r\n",
    b"Host: a\r\n",
    b"host: b\r\n",
    b"Content-Length: 5\r\n",
    b"content-length: 5\r\n",
    b"Content-Length: 6\r\n",
    b"Content-Length: 5, 5\r\n",
    b"Content-Length: +5\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"transfer-encoding: gzip, chunked\r\n",
    b"Transfer-Encoding : chunked\r\n",
    b"Expect: 100-continue\r\n",
    b"Connection: close\r\n",
    b" folded\r\n",
    b"X: \x00\r\n",
    b"\r\n",
    b"\n",
    b"hello",
];

pub fn check(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let mut buf = Vec::new();
    for _ in 0..u.int_in_range(0..=12)? {
        if u.ratio(1, 8)? {
            let n = u.int_in_range(0..=16)?;
            buf.extend_from_slice(u.bytes(n)?);
        } else {
            buf.extend_from_slice(u.choose(PIECES)?);
        }
    }
    let trailing = u.take_rest();

    let verdict = Head::parse(&buf);
    if let Ok(Some(head)) = &verdict {
        let raw = &buf[..head.len];
        let count = |name: &str| {
            header_names(raw)
                .filter(|n| n.eq_ignore_ascii_case(name))
                .count()
        };
        assert!(
            count("content-length") == 0 || count("transfer-encoding") == 0,
            "accepted both Content-Length and Transfer-Encoding: {:?}",
            String::from_utf8_lossy(raw)
        );
        assert!(
            count("host") <= 1,
            "accepted {} Host headers",
            count("host")
        );
        for cut in 0..head.len {
            assert_eq!(
                Head::parse(&buf[..cut]),
                Ok(None),
                "a prefix of {cut} of an accepted {}-byte head",
                head.len
            );
        }
    }
    if !matches!(verdict, Ok(None)) {
        let mut longer = buf.clone();
        longer.extend_from_slice(trailing);
        assert_eq!(
            Head::parse(&longer),
            verdict,
            "trailing bytes changed the verdict"
        );
    }
    Ok(())
}

/// The names of the header lines of a raw head (between the request line and the blank
/// line), as written.
fn header_names(raw: &[u8]) -> impl Iterator<Item = String> + '_ {
    raw.split(|&b| b == b'\n').skip(1).filter_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        Some(String::from_utf8_lossy(&line[..colon]).trim().to_owned())
    })
}
