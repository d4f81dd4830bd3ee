//! Multiple byte ranges in one request (`Range: bytes=0-9,20-29`), answered as
//! `multipart/byteranges`. tower-http serves single ranges but refuses several, so
//! this part is written here; its preconditions (ETag, Last-Modified) are still
//! tower-http's, asked with a HEAD.

use std::io::{self, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::serve::{full, text, Body, Failure};

/// The most ranges answered in one response; a request with more gets the whole file
/// (RFC 9110 lets a server ignore Range), so overlapping ranges cannot multiply the
/// bytes sent without bound.
pub const MAX_RANGES: usize = 16;

/// Whether `req` asks for more than one range.
pub fn is_multiple<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains(','))
}

pub async fn serve<B: Send + 'static>(
    path: &Path,
    req: Request<B>,
) -> Result<Response<Body>, Failure> {
    let range = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let is_head = req.method() == Method::HEAD;
    let (mut parts, body) = req.into_parts();
    parts.headers.remove(header::RANGE);
    parts.method = Method::HEAD;
    let probe = super::file::by_tower_http(path, Request::from_parts(parts.clone(), ())).await;
    if probe.status() != StatusCode::OK {
        return Ok(probe);
    }
    let size = tokio::fs::metadata(path).await.map_err(Failure::io)?.len();
    let ranges = match http_range_header::parse_range_header(&range).and_then(|r| r.validate(size))
    {
        Ok(r) if r.len() <= MAX_RANGES => r,
        Ok(_) => {
            // Too many: the whole file instead, as a plain GET.
            parts.method = if is_head { Method::HEAD } else { Method::GET };
            return Ok(super::file::by_tower_http(path, Request::from_parts(parts, body)).await);
        }
        Err(_) => {
            let mut r = text(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable\n");
            if let Ok(v) = format!("bytes */{size}").parse() {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(r);
        }
    };
    let content_type = probe
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let boundary = boundary();
    let heads: Vec<Bytes> = ranges
        .iter()
        .map(|r| {
            Bytes::from(format!(
                "\r\n--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: bytes {}-{}/{size}\r\n\r\n",
                r.start(),
                r.end()
            ))
        })
        .collect();
    let tail = Bytes::from(format!("\r\n--{boundary}--\r\n"));
    let length: u64 = heads.iter().map(|h| h.len() as u64).sum::<u64>()
        + ranges.iter().map(|r| r.end() - r.start() + 1).sum::<u64>()
        + tail.len() as u64;

    let mut response = Response::new(full(Bytes::new()));
    *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    let headers = response.headers_mut();
    for name in [header::ETAG, header::LAST_MODIFIED, header::ACCEPT_RANGES] {
        if let Some(v) = probe.headers().get(&name) {
            headers.insert(name, v.clone());
        }
    }
    if let Ok(v) = format!("multipart/byteranges; boundary={boundary}").parse() {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(header::CONTENT_LENGTH, length.into());
    if is_head {
        return Ok(response);
    }

    // One file handle per range, each read in chunks: memory stays constant.
    let path = path.to_owned();
    let pieces: Vec<BoxStream<'static, io::Result<Bytes>>> = heads
        .into_iter()
        .zip(ranges)
        .map(|(head, range)| {
            let path = path.clone();
            let data = stream::once(async move {
                let mut f = tokio::fs::File::open(&path).await?;
                f.seek(SeekFrom::Start(*range.start())).await?;
                Ok::<_, io::Error>(ReaderStream::new(f.take(range.end() - range.start() + 1)))
            })
            .try_flatten();
            stream::once(async move { Ok(head) }).chain(data).boxed()
        })
        .chain(std::iter::once(
            stream::once(async move { Ok(tail) }).boxed(),
        ))
        .collect();
    let body = StreamBody::new(stream::iter(pieces).flatten().map_ok(Frame::data));
    *response.body_mut() = body.boxed_unsync();
    Ok(response)
}

/// A boundary that cannot occur in the parts' headers and is unlikely in the data.
fn boundary() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "sockit-{nanos:08x}{:08x}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
