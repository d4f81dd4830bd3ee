//! Whole-file downloads: the whole file or 304, for requests without Range and without
//! preconditions beyond `If-None-Match`/`If-Modified-Since`. Everything else (ranges,
//! `If-Match`, `If-Range`…) goes to tower-http.
//!
//! Why by hand: tower-http makes a blocking-pool round trip for each open, metadata and
//! read, and copies every chunk once more; that cost three quarters of the time of a
//! 4 KiB download and half the speed of a large one. Here open, fstat and each read of
//! at most `CHUNK` bytes run inline on the worker, as nginx does without aio: for a
//! page-cached file that is microseconds (a cold file on a slow disk holds that worker
//! for the read; tokio's other workers take over its queued connections). The
//! validators are built exactly as tower-http builds them, so caches see one server.

use std::io::{self, Read};
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use std::os::fd::AsRawFd;

use super::serve::{full, Body};

/// Files up to this size are read in one go; larger ones stream in reads of this size.
pub const CHUNK: u64 = 1024 * 1024;

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
    if !meta.is_file() {
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
    let length = meta.len();
    let (status, body) = if not_modified {
        (StatusCode::NOT_MODIFIED, full(Bytes::new()))
    } else if req.method() == Method::HEAD {
        (StatusCode::OK, full(Bytes::new()))
    } else if length <= CHUNK {
        // Exactly the announced size: one read, no probing for the end.
        let mut data = vec![0; length as usize];
        file.read_exact(&mut data).ok()?;
        (StatusCode::OK, full(data))
    } else {
        (
            StatusCode::OK,
            FileBody {
                file,
                left: length,
                buf: BytesMut::new(),
            }
            .boxed_unsync(),
        )
    };
    let mut r = Response::new(body);
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

/// A file streamed in reads of `CHUNK` bytes; `left` bounds it to the size announced in
/// Content-Length even if the file grows meanwhile.
struct FileBody {
    file: std::fs::File,
    left: u64,
    buf: BytesMut,
}

impl http_body::Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let want = self.left.min(CHUNK) as usize;
        // The buffer is reused once hyper has written (and dropped) the previous chunk,
        // so a download makes no allocation, page fault or memset per chunk.
        let this = &mut *self;
        this.buf.reserve(want);
        let fd = this.file.as_raw_fd();
        let spare = this.buf.spare_capacity_mut();
        // SAFETY: read(2) writes at most `want` bytes into this spare capacity, which has
        // at least `want` bytes; only the `n` bytes it reports are marked initialised.
        let n = unsafe { libc::read(fd, spare.as_mut_ptr().cast(), want) };
        Poll::Ready(match n {
            // A file that shrank meanwhile ends the response early: the client sees
            // fewer bytes than Content-Length said, never made-up ones.
            0 => Some(Err(io::ErrorKind::UnexpectedEof.into())),
            n if n < 0 => Some(Err(io::Error::last_os_error())),
            n => {
                // SAFETY: read(2) initialised exactly `n` bytes.
                unsafe { this.buf.set_len(n as usize) };
                this.left -= n as u64;
                Some(Ok(Frame::data(this.buf.split().freeze())))
            }
        })
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
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
