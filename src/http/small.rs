//! Small files answered in one step: whole file or 304, no Range, no preconditions
//! beyond `If-None-Match`/`If-Modified-Since`. Everything else goes to tower-http.
//!
//! Why by hand: tower-http makes three or four blocking-pool round trips per file (open,
//! metadata, read), which cost three quarters of the time of a 4 KiB download. For files
//! of at most `SMALL_FILE` bytes this does open, fstat and read inline on the worker, as
//! nginx does without aio: for a page-cached file that is a few microseconds. The
//! validators are built exactly as tower-http builds them, so caches see one server.

use std::io::Read;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use http::{header, HeaderValue, Method, Request, Response, StatusCode};

use super::serve::{full, Body};

/// The largest file answered here.
pub const SMALL_FILE: u64 = 64 * 1024;

/// The response for `path`, or `None` to let tower-http answer.
pub fn try_serve<B>(path: &Path, req: &Request<B>) -> Option<Response<Body>> {
    let h = req.headers();
    let complex = [
        header::RANGE,
        header::IF_MATCH,
        header::IF_UNMODIFIED_SINCE,
        header::IF_RANGE,
    ];
    if complex.iter().any(|name| h.contains_key(name)) {
        return None;
    }
    let mut file = std::fs::File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > SMALL_FILE {
        return None;
    }
    let modified = meta.modified().ok()?;
    let etag = etag(meta.len(), modified)?;
    let not_modified = match h.get(header::IF_NONE_MATCH) {
        Some(v) => etag_matches(v, &etag),
        None => h
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| httpdate::parse_http_date(v.to_str().ok()?).ok())
            .is_some_and(|since| secs(modified) <= secs(since)),
    };
    let (status, data) = if not_modified {
        (StatusCode::NOT_MODIFIED, Vec::new())
    } else {
        let mut data = Vec::with_capacity(meta.len() as usize);
        file.read_to_end(&mut data).ok()?;
        (StatusCode::OK, data)
    };
    let length = data.len();
    let body = if req.method() == Method::HEAD {
        Vec::new()
    } else {
        data
    };
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    let headers = r.headers_mut();
    if status == StatusCode::OK {
        let mime = mime_guess::from_path(path)
            .first_raw()
            .unwrap_or("application/octet-stream");
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        headers.insert(header::CONTENT_LENGTH, length.into());
    }
    headers.insert(header::ETAG, HeaderValue::from_str(&etag).ok()?);
    headers.insert(
        header::LAST_MODIFIED,
        HeaderValue::from_str(&httpdate::fmt_http_date(modified)).ok()?,
    );
    Some(r)
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
fn etag_matches(header: &HeaderValue, etag: &str) -> bool {
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
}
