//! The head of one HTTP/1.x request, parsed from raw bytes for `http dump`.
//!
//! httparse does the tokenising; the framing rules that decide where the body ends
//! (and that request smugglers play with) are checked here, by hand, because `http dump`
//! must see the bytes exactly as they came and no HTTP library hands those over.

use thiserror::Error;

/// The largest request head (request line, headers, blank line) accepted; more is 431.
pub const MAX_HEAD: usize = 64 * 1024;

/// The most header fields in one request; more is 431.
pub const MAX_HEADERS: usize = 128;

/// How the body of a request is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body (no Content-Length, no Transfer-Encoding).
    Empty,
    Length(u64),
    Chunked,
}

/// A request line and its headers, in order and with their case as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    pub target: String,
    /// The minor version: `HTTP/1.0` is 0, `HTTP/1.1` is 1.
    pub minor: u8,
    pub headers: Vec<(String, Vec<u8>)>,
    /// Bytes of the head, blank line included.
    pub len: usize,
    pub body: BodyKind,
    pub expect_continue: bool,
    /// Whether the connection stays open after the answer.
    pub keep_alive: bool,
}

/// Why a request is refused; each maps to one status code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HeadError {
    #[error("request head over the {MAX_HEAD}-byte limit")]
    HeadTooLarge,
    #[error("more than {MAX_HEADERS} header fields")]
    TooManyHeaders,
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("HTTP/1.1 request without a Host header")]
    MissingHost,
    #[error("more than one Host header")]
    DuplicateHost,
    #[error("both Content-Length and Transfer-Encoding (a request smuggling pattern)")]
    LengthAndChunked,
    #[error("Content-Length headers that differ")]
    ConflictingLength,
    #[error("invalid Content-Length {0:?}")]
    BadLength(String),
    #[error("unsupported Transfer-Encoding {0:?} (only chunked is understood)")]
    BadTransferEncoding(String),
}

impl HeadError {
    pub fn status(&self) -> u16 {
        match self {
            HeadError::HeadTooLarge | HeadError::TooManyHeaders => 431,
            HeadError::BadTransferEncoding(_) => 501,
            _ => 400,
        }
    }
}

impl Head {
    /// Parses the head at the start of `buf`: `Ok(None)` while it is incomplete.
    pub fn parse(buf: &[u8]) -> Result<Option<Head>, HeadError> {
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut fields);
        let len = match req.parse(buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => {
                return Err(HeadError::HeadTooLarge)
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
            Err(e) => return Err(HeadError::Malformed(malformed(e))),
        };
        if len > MAX_HEAD {
            return Err(HeadError::HeadTooLarge);
        }
        let headers: Vec<(String, Vec<u8>)> = req
            .headers
            .iter()
            .map(|h| (h.name.to_owned(), h.value.to_vec()))
            .collect();
        let mut head = Head {
            method: req.method.unwrap_or_default().to_owned(),
            target: req.path.unwrap_or_default().to_owned(),
            minor: req.version.unwrap_or(1),
            headers,
            len,
            body: BodyKind::Empty,
            expect_continue: false,
            keep_alive: true,
        };
        head.check()?;
        Ok(Some(head))
    }

    /// Every value of header `name` (case-insensitive), in order.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Comma-separated tokens of every `name` header, trimmed and lower-cased.
    fn tokens(&self, name: &str) -> Vec<String> {
        self.values(name)
            .flat_map(|v| {
                String::from_utf8_lossy(v)
                    .split(',')
                    .map(|t| t.trim().to_ascii_lowercase())
                    .collect::<Vec<_>>()
            })
            .filter(|t| !t.is_empty())
            .collect()
    }

    fn check(&mut self) -> Result<(), HeadError> {
        let hosts = self.values("host").count();
        if hosts > 1 {
            return Err(HeadError::DuplicateHost);
        }
        if hosts == 0 && self.minor >= 1 {
            return Err(HeadError::MissingHost);
        }
        let mut length: Option<u64> = None;
        for v in self.values("content-length") {
            // A list ("5, 5") is allowed by RFC 9110 only when every member is equal.
            for part in String::from_utf8_lossy(v).split(',') {
                let part = part.trim();
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(HeadError::BadLength(part.to_owned()));
                }
                let n: u64 = part
                    .parse()
                    .map_err(|_| HeadError::BadLength(part.to_owned()))?;
                match length {
                    Some(m) if m != n => return Err(HeadError::ConflictingLength),
                    _ => length = Some(n),
                }
            }
        }
        let codings = self.tokens("transfer-encoding");
        let has_te = self.values("transfer-encoding").next().is_some();
        if has_te && length.is_some() {
            return Err(HeadError::LengthAndChunked);
        }
        self.body = if has_te {
            if codings != ["chunked"] || self.minor == 0 {
                return Err(HeadError::BadTransferEncoding(codings.join(", ")));
            }
            BodyKind::Chunked
        } else {
            match length {
                Some(0) | None => BodyKind::Empty,
                Some(n) => BodyKind::Length(n),
            }
        };
        self.expect_continue = self.tokens("expect").iter().any(|t| t == "100-continue");
        let connection = self.tokens("connection");
        self.keep_alive = if self.minor == 0 {
            connection.iter().any(|t| t == "keep-alive")
        } else {
            !connection.iter().any(|t| t == "close")
        };
        Ok(())
    }
}

/// The method and target of a request line that arrived whole, for the log of a request
/// refused before its head could be parsed; `-` for what is not there. The target is
/// what lies between the first and the last space, as sent (the printer escapes it).
pub fn request_line(buf: &[u8]) -> (String, String) {
    let dash = || ("-".to_owned(), "-".to_owned());
    let Some(end) = buf.iter().position(|&b| b == b'\n') else {
        return dash();
    };
    let line = buf[..end].strip_suffix(b"\r").unwrap_or(&buf[..end]);
    let (Some(first), Some(last)) = (
        line.iter().position(|&b| b == b' '),
        line.iter().rposition(|&b| b == b' '),
    ) else {
        return dash();
    };
    let method = &line[..first];
    if first == last || method.is_empty() || !method.iter().all(u8::is_ascii_graphic) {
        return dash();
    }
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (text(method), text(&line[first + 1..last]))
}

fn malformed(e: httparse::Error) -> String {
    match e {
        httparse::Error::HeaderName => "invalid header name (obs-fold or a stray character)",
        httparse::Error::HeaderValue => "invalid header value (a control character?)",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status",
        httparse::Error::Token => "invalid character in the request line (method or target)",
        httparse::Error::Version => "invalid HTTP version",
        httparse::Error::TooManyHeaders => "too many headers",
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Option<Head>, HeadError> {
        Head::parse(s.as_bytes())
    }

    #[test]
    fn a_browser_request_keeps_order_and_case() {
        let raw = "GET /a?b=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\nX-Mixed-CASE: v\r\n\r\nrest";
        let h = parse(raw).unwrap().unwrap();
        assert_eq!(
            (h.method.as_str(), h.target.as_str(), h.minor),
            ("GET", "/a?b=1", 1)
        );
        let names: Vec<_> = h.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Host", "User-Agent", "X-Mixed-CASE"]);
        assert_eq!(h.len, raw.len() - 4);
        assert_eq!(h.body, BodyKind::Empty);
        assert!(h.keep_alive);
    }

    #[test]
    fn request_lines_of_refused_requests() {
        let line = |s: &str| {
            let (m, t) = request_line(s.as_bytes());
            format!("{m} {t}")
        };
        assert_eq!(line("GET /a?b=1 HTTP/1.1\r\nHost"), "GET /a?b=1");
        assert_eq!(line("GET /a b HTTP/1.1\n"), "GET /a b");
        assert_eq!(line("GET /a HTTP/1.1"), "- -", "not whole yet");
        assert_eq!(line("garbage\r\n"), "- -");
        assert_eq!(line("GET /x\r\n"), "- -");
        assert_eq!(line(" /x HTTP/1.1\r\n"), "- -");
    }

    #[test]
    fn incomplete_heads_wait_for_more() {
        assert_eq!(parse("GET / HTTP/1.1\r\nHost: x\r\n"), Ok(None));
        assert_eq!(parse("GE"), Ok(None));
    }

    #[test]
    fn any_method_token_is_accepted() {
        for m in ["PROPFIND", "BREW", "CONNECT", "TRACE", "OPTIONS"] {
            let h = parse(&format!("{m} / HTTP/1.1\r\nHost: x\r\n\r\n"))
                .unwrap()
                .unwrap();
            assert_eq!(h.method, m);
        }
    }

    #[test]
    fn body_framing() {
        let h = parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.body, BodyKind::Length(5));
        let h =
            parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n")
                .unwrap()
                .unwrap();
        assert_eq!(h.body, BodyKind::Length(5));
        let h = parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.body, BodyKind::Chunked);
    }

    #[test]
    fn smuggling_shapes_are_refused() {
        let cases = [
            (
                "Content-Length: 5\r\nTransfer-Encoding: chunked",
                HeadError::LengthAndChunked,
            ),
            (
                "Content-Length: 5\r\nContent-Length: 6",
                HeadError::ConflictingLength,
            ),
            ("Content-Length: 5, 6", HeadError::ConflictingLength),
            ("Content-Length: +5", HeadError::BadLength("+5".into())),
            (
                "Content-Length: 99999999999999999999999",
                HeadError::BadLength("99999999999999999999999".into()),
            ),
            (
                "Transfer-Encoding: gzip, chunked",
                HeadError::BadTransferEncoding("gzip, chunked".into()),
            ),
            (
                "Transfer-Encoding: chunked, identity",
                HeadError::BadTransferEncoding("chunked, identity".into()),
            ),
        ];
        for (headers, want) in cases {
            let raw = format!("POST / HTTP/1.1\r\nHost: x\r\n{headers}\r\n\r\n");
            assert_eq!(parse(&raw), Err(want), "{headers}");
        }
    }

    #[test]
    fn host_is_required_once_in_http_1_1() {
        assert_eq!(parse("GET / HTTP/1.1\r\n\r\n"), Err(HeadError::MissingHost));
        assert_eq!(
            parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            Err(HeadError::DuplicateHost)
        );
        let h = parse("GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive);
    }

    #[test]
    fn malformed_lines_are_400_with_a_reason() {
        for raw in [
            "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n folded\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n",
            "GET / HTTP/9.9\r\nHost: x\r\n\r\n",
            "G(T / HTTP/1.1\r\nHost: x\r\n\r\n",
        ] {
            let err = parse(raw).unwrap_err();
            assert!(matches!(err, HeadError::Malformed(_)), "{raw:?}: {err}");
            assert_eq!(err.status(), 400);
        }
    }

    #[test]
    fn oversized_heads_are_431() {
        let big = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n",
            "a".repeat(MAX_HEAD)
        );
        assert_eq!(parse(&big), Err(HeadError::HeadTooLarge));
        let many: String = (0..MAX_HEADERS + 1)
            .map(|i| format!("X{i}: v\r\n"))
            .collect();
        let err = parse(&format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n")).unwrap_err();
        assert_eq!(err.status(), 431);
    }

    #[test]
    fn expect_and_connection() {
        let h = parse("PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nConnection: close\r\nContent-Length: 1\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.expect_continue);
        assert!(!h.keep_alive);
    }

    proptest::proptest! {
        /// A prefix of a request is "incomplete", never an error or another request.
        #[test]
        fn prefixes_are_incomplete(cut in 0usize..80) {
            let raw = b"POST /x?y HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nX-Y: z\r\n\r\nabc";
            let cut = cut.min(raw.len() - 4);
            let parsed = Head::parse(&raw[..cut]).unwrap();
            let whole = Head::parse(raw).unwrap().unwrap();
            proptest::prop_assert!(parsed.is_none() || parsed.as_ref() == Some(&whole));
        }

        /// Arbitrary bytes never panic the parser.
        #[test]
        fn garbage_is_an_error_not_a_panic(raw in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = Head::parse(&raw);
        }
    }
}
