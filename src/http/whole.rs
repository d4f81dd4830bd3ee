//! Whole-file downloads: the whole file or 304, for requests without Range and without
//! preconditions beyond `If-None-Match`/`If-Modified-Since`. Everything else (ranges,
//! `If-Match`, `If-Range`…) goes to tower-http.
//!
//! Why by hand: tower-http makes a blocking-pool round trip for each open, metadata and
//! read, and copies every chunk once more; for a small file those round trips were most
//! of a download's time (figures: docs/benchmarks.md, "HTTP"). Here open, fstat and the
//! read of a file of at most `CHUNK` bytes run inline on the worker (larger files go out
//! by `sendfile`, see `sendfile.rs`), as nginx does without aio: for a page-cached file
//! that is microseconds (a cold file on a slow disk holds that worker for the read;
//! tokio's other workers take over its queued connections). The validators are built
//! exactly as tower-http builds them, so caches see one server.

use std::cell::RefCell;
use std::ffi::OsString;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;

use super::sendfile::Files;
use super::serve::{full, Body};

/// Files up to this size are read in one go; larger ones go out by `sendfile`.
pub const CHUNK: u64 = 1024 * 1024;

/// The response for `path`, or `None` to let tower-http answer. A large file goes out by
/// `sendfile` through `files`.
pub fn try_serve<B>(path: &Path, req: &Request<B>, files: &Files) -> Option<Response<Body>> {
    if !is_simple(req) {
        return None;
    }
    // Non-blocking so that a FIFO cannot hold the open; reads from files are unchanged.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    try_serve_open(file, &meta, path, req, files)
}

/// Whether `req` is one this module answers (no Range, no rarer preconditions).
pub fn is_simple<B>(req: &Request<B>) -> bool {
    let h = req.headers();
    let complex = [
        header::RANGE,
        header::IF_MATCH,
        header::IF_UNMODIFIED_SINCE,
        header::IF_RANGE,
    ];
    !complex.iter().any(|name| h.contains_key(name))
}

/// `try_serve` for a file already open (`meta` is its `fstat`).
pub fn try_serve_open<B>(
    file: std::fs::File,
    meta: &std::fs::Metadata,
    path: &Path,
    req: &Request<B>,
    files: &Files,
) -> Option<Response<Body>> {
    if !meta.is_file() || !is_simple(req) {
        return None;
    }
    let h = req.headers();
    let modified = meta.modified().ok()?;
    let (etag, last_modified) = validators(meta.len(), modified)?;
    let not_modified = match h.get(header::IF_NONE_MATCH) {
        Some(v) => etag_matches(v, etag.to_str().ok()?),
        None => h
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| httpdate::parse_http_date(v.to_str().ok()?).ok())
            .is_some_and(|since| secs(modified) <= secs(since)),
    };
    let length = meta.len();
    let small_get = !not_modified && req.method() != Method::HEAD && length <= CHUNK;
    let large_get = !not_modified && req.method() != Method::HEAD && length > CHUNK;
    if large_get && !files.sends() {
        // No sendfile on this connection (TLS): tower-http streams it.
        return None;
    }
    let data = if small_get {
        Some(read_whole(&file, length as usize)?)
    } else {
        None
    };
    // Judged before the file moves into the body; a small file's bytes are at hand.
    let kind = (!not_modified).then(|| content_type(path, &file, data.as_deref()));
    let (status, body) = if not_modified {
        (StatusCode::NOT_MODIFIED, full(Bytes::new()))
    } else if let Some(data) = data {
        (StatusCode::OK, full(data))
    } else if req.method() == Method::HEAD {
        (StatusCode::OK, full(Bytes::new()))
    } else {
        (StatusCode::OK, files.body(file, length).boxed_unsync())
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let headers = r.headers_mut();
    if let Some(kind) = kind {
        headers.insert(header::CONTENT_TYPE, kind);
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        headers.insert(header::CONTENT_LENGTH, length.into());
    }
    headers.insert(header::ETAG, etag);
    headers.insert(header::LAST_MODIFIED, last_modified);
    Some(r)
}

/// Exactly `len` bytes of `file` from its start, read into memory that is not zeroed
/// first (for a small file the memset was a real part of the cost: see
/// docs/benchmarks.md, "HTTP"); `None` if the file ended sooner. Bytes past `len` (the
/// file grew) are not sent.
fn read_whole(file: &std::fs::File, len: usize) -> Option<Vec<u8>> {
    let mut data = Vec::with_capacity(len);
    while data.len() < len {
        match rustix::io::read(file, rustix::buffer::spare_capacity(&mut data)) {
            Ok(0) => return None,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return None,
        }
    }
    data.truncate(len);
    Some(data)
}

thread_local! {
    /// The validators of the last file this thread served, with its size and time:
    /// the same files are asked for again and again, and formatting the two headers
    /// anew showed in a small download's CPU profile (docs/benchmarks.md, "HTTP").
    static VALIDATORS: RefCell<Option<(u64, SystemTime, HeaderValue, HeaderValue)>> =
        const { RefCell::new(None) };
    /// The content types of the last file extension this thread looked up.
    static CONTENT_TYPE: RefCell<(OsString, Types)> =
        RefCell::new((OsString::new(), Types::of(None)));
}

const DEFAULT_TYPE: &str = "application/octet-stream";

/// The bytes at the start of a text file that its charset is judged from: one page,
/// read again for HEAD, ranges and large files so that every answer for a file agrees.
pub const SNIFF: usize = 4096;

/// `ETag` and `Last-Modified` for a file of `size` bytes modified at `modified`.
pub fn validators(size: u64, modified: SystemTime) -> Option<(HeaderValue, HeaderValue)> {
    VALIDATORS.with_borrow_mut(|last| {
        if let Some((s, m, etag, date)) = last.as_ref() {
            if (*s, *m) == (size, modified) {
                return Some((etag.clone(), date.clone()));
            }
        }
        let etag = HeaderValue::from_str(&etag(size, modified)?).ok()?;
        let date = HeaderValue::from_str(&httpdate::fmt_http_date(modified)).ok()?;
        *last = Some((size, modified, etag.clone(), date.clone()));
        Some((etag, date))
    })
}

/// The `Content-Type` for `path`: the type by its extension, and for text a charset
/// judged from the file's first `SNIFF` bytes (`sample` when the caller has read them,
/// else read from `file` here). Other types never cost a look at the bytes.
pub fn content_type(path: &Path, file: &std::fs::File, sample: Option<&[u8]>) -> HeaderValue {
    let ext = path.extension().unwrap_or_default();
    CONTENT_TYPE.with_borrow_mut(|(last, types)| {
        if last != ext {
            *types = Types::of(mime_guess::from_ext(&ext.to_string_lossy()).first_raw());
            *last = ext.to_owned();
        }
        let Some(utf8) = &types.utf8 else {
            return types.plain.clone();
        };
        let mut page = [0u8; SNIFF];
        let sample = match sample {
            Some(data) => &data[..data.len().min(SNIFF)],
            None => match rustix::io::pread(file, &mut page[..], 0) {
                Ok(n) => &page[..n],
                Err(_) => return types.plain.clone(),
            },
        };
        match Charset::of(sample) {
            Charset::Utf8 => utf8.clone(),
            Charset::Unknown => types.plain.clone(),
            other => types.with(other.name()),
        }
    })
}

/// `content_type` for a file known only by its path (the answers tower-http builds).
pub fn content_type_at(path: &Path) -> Option<HeaderValue> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    file.metadata()
        .ok()?
        .is_file()
        .then(|| content_type(path, &file, None))
}

/// The `Content-Type` values of one extension: the type as guessed, and for text types
/// the same with `charset=utf-8` (`None` for the others).
struct Types {
    plain: HeaderValue,
    utf8: Option<HeaderValue>,
}

impl Types {
    fn of(mime: Option<&'static str>) -> Types {
        let mime = mime.unwrap_or(DEFAULT_TYPE);
        let plain = HeaderValue::from_static(mime);
        let mut types = Types { plain, utf8: None };
        if is_text(mime) {
            types.utf8 = Some(types.with("utf-8"));
        }
        types
    }

    fn with(&self, charset: &str) -> HeaderValue {
        let mime = self.plain.to_str().unwrap_or(DEFAULT_TYPE);
        HeaderValue::from_str(&format!("{mime}; charset={charset}"))
            .unwrap_or_else(|_| self.plain.clone())
    }
}

/// Whether a browser decodes files of type `mime` as text with a charset: `text/*`,
/// JavaScript, JSON, XML and their `+json`/`+xml` kin (SVG, web manifests).
pub fn is_text(mime: &str) -> bool {
    mime.starts_with("text/")
        || mime.ends_with("+xml")
        || mime.ends_with("+json")
        || matches!(
            mime,
            "application/javascript"
                | "application/ecmascript"
                | "application/json"
                | "application/xml"
                | "application/x-sh"
                | "application/x-subrip"
        )
}

/// What the first bytes of a text file say about its encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// Valid UTF-8 (ASCII included), with or without a BOM.
    Utf8,
    Utf16Le,
    Utf16Be,
    /// Neither: most likely a legacy code page such as GBK. No charset is sent, and the
    /// browser guesses from its locale as it would for a file opened from disk.
    Unknown,
}

impl Charset {
    /// Judges `sample`, the first bytes of a file (at most `SNIFF`).
    pub fn of(sample: &[u8]) -> Charset {
        if sample.starts_with(b"\xEF\xBB\xBF") {
            return Charset::Utf8;
        }
        if sample.starts_with(b"\xFF\xFE") {
            return Charset::Utf16Le;
        }
        if sample.starts_with(b"\xFE\xFF") {
            return Charset::Utf16Be;
        }
        match std::str::from_utf8(sample) {
            Ok(_) => Charset::Utf8,
            // A character cut by the end of a full sample is no sign of another encoding.
            Err(e) if e.error_len().is_none() && sample.len() == SNIFF => Charset::Utf8,
            Err(_) => Charset::Unknown,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Charset::Utf8 => "utf-8",
            Charset::Utf16Le => "utf-16le",
            Charset::Utf16Be => "utf-16be",
            Charset::Unknown => "",
        }
    }
}

/// The same shape as tower-http's: modification time (seconds, nanoseconds) and size.
fn etag(size: u64, modified: SystemTime) -> Option<String> {
    let d = modified.duration_since(UNIX_EPOCH).ok()?;
    Some(format!(
        "\"{:x}.{:08x}-{:x}\"",
        d.as_secs(),
        d.subsec_nanos(),
        size
    ))
}

/// `If-None-Match` uses the weak comparison: `W/` is ignored, `*` matches anything.
pub fn etag_matches(header: &HeaderValue, etag: &str) -> bool {
    let Ok(list) = header.to_str() else {
        return false;
    };
    list.split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_compare_weakly_and_in_lists() {
        let e = "\"1.00000000-4\"";
        assert!(etag_matches(
            &HeaderValue::from_static("\"x\", W/\"1.00000000-4\""),
            e
        ));
        assert!(etag_matches(&HeaderValue::from_static("*"), e));
        assert!(!etag_matches(
            &HeaderValue::from_static("\"1.00000000-5\""),
            e
        ));
        assert_eq!(
            etag(4, UNIX_EPOCH + std::time::Duration::from_secs(1)).unwrap(),
            e
        );
    }

    #[test]
    fn cached_validators_and_types_follow_the_file() {
        let t = |s| UNIX_EPOCH + std::time::Duration::from_secs(s);
        let (a, date_a) = validators(4, t(1)).unwrap();
        assert_eq!(a, "\"1.00000000-4\"");
        assert_eq!(date_a, "Thu, 01 Jan 1970 00:00:01 GMT");
        assert_eq!(validators(4, t(1)).unwrap().0, a);
        assert_eq!(validators(5, t(1)).unwrap().0, "\"1.00000000-5\"");
        let (b, date_b) = validators(5, t(2)).unwrap();
        assert_eq!(b, "\"2.00000000-5\"");
        assert_eq!(date_b, "Thu, 01 Jan 1970 00:00:02 GMT");

        let file = tempfile::tempfile().unwrap();
        let ty = |name: &str, data: &[u8]| content_type(Path::new(name), &file, Some(data));
        for _ in 0..2 {
            assert_eq!(ty("a/index.html", b"<p>"), "text/html; charset=utf-8");
            assert_eq!(ty("b.PNG", b"\xff"), "image/png");
            assert_eq!(ty("no-extension", b""), DEFAULT_TYPE);
            assert_eq!(ty("c.txt", "你好".as_bytes()), "text/plain; charset=utf-8");
            assert_eq!(
                ty("c.txt", b"\xc4\xe3\xba\xc3"),
                "text/plain",
                "GBK: no charset"
            );
            assert_eq!(ty("c.txt", b"\xff\xfe`O}Y"), "text/plain; charset=utf-16le");
        }
        for (name, want) in [
            ("s.css", "text/css; charset=utf-8"),
            ("s.js", "text/javascript; charset=utf-8"),
            ("s.json", "application/json; charset=utf-8"),
            ("s.xml", "text/xml; charset=utf-8"),
            ("s.svg", "image/svg+xml; charset=utf-8"),
            ("s.md", "text/markdown; charset=utf-8"),
            ("s.csv", "text/csv; charset=utf-8"),
            ("s.bin", DEFAULT_TYPE),
            ("s.pdf", "application/pdf"),
        ] {
            assert_eq!(ty(name, b"ok"), want, "{name}");
        }
    }

    #[test]
    fn charsets_are_judged_from_the_first_page() {
        assert_eq!(Charset::of(b""), Charset::Utf8);
        assert_eq!(Charset::of(b"\xEF\xBB\xBFhi"), Charset::Utf8);
        assert_eq!(Charset::of(b"\xFE\xFF\x4f\x60"), Charset::Utf16Be);
        assert_eq!(Charset::of(b"a\xff"), Charset::Unknown);
        let mut page = "好".repeat(SNIFF / 3 + 1).into_bytes();
        page.truncate(SNIFF);
        assert_eq!(
            Charset::of(&page),
            Charset::Utf8,
            "a character cut at the edge"
        );
        assert_eq!(
            Charset::of(&page[..SNIFF - 2]),
            Charset::Unknown,
            "a file that ends cut"
        );
    }

    #[test]
    fn a_whole_read_is_exactly_the_announced_length() {
        use std::io::Write;
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"0123456789").unwrap();
        let read = |len| {
            let f = file.try_clone().unwrap();
            rustix::fs::seek(&f, rustix::fs::SeekFrom::Start(0)).unwrap();
            read_whole(&f, len)
        };
        assert_eq!(read(10).unwrap(), b"0123456789");
        assert_eq!(
            read(4).unwrap(),
            b"0123",
            "a file that grew: only what was announced"
        );
        assert_eq!(read(11), None, "a file that shrank: no made-up bytes");
    }
}
