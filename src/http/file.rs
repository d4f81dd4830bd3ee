//! A file's answer: a whole one by hand (`whole`), with `If-Range` and the range unit
//! settled first (`range_request`); one range, and preconditions beyond
//! `If-None-Match`/`If-Modified-Since`, by tower-http's `ServeFile`; several ranges by
//! `ranges`.

use http::{header, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use super::response::{Body, Failure};
use super::sendfile::Files;
use super::{range_request, ranges, whole};

/// The size of each read from a file when tower-http serves it (ranges).
const FILE_CHUNK: usize = 1024 * 1024;

/// A file: whole ones by hand, anything with ranges or rarer preconditions by tower-http.
pub async fn serve(
    path: &std::path::Path,
    mut req: Request<Incoming>,
    files: &Files,
) -> Result<Response<Body>, Failure> {
    let h = req.headers();
    if h.contains_key(header::RANGE) || h.contains_key(header::IF_RANGE) {
        let meta = std::fs::metadata(path).map_err(Failure::io)?;
        range_request::settle(&mut req, &meta);
    }
    if let Some(r) = whole::try_serve(path, &req, files) {
        return Ok(r);
    }
    if ranges::is_multiple(&req) {
        return ranges::serve(path, req).await;
    }
    Ok(by_tower_http(path, req).await)
}

/// A file answered by tower-http: Range, conditional requests, content type, HEAD.
pub async fn by_tower_http<B: Send + 'static>(
    path: &std::path::Path,
    req: Request<B>,
) -> Response<Body> {
    match ServeFile::new(path)
        .with_buf_chunk_size(FILE_CHUNK)
        .oneshot(req)
        .await
    {
        Ok(mut r) => {
            // tower-http's type has no charset; text gets the one `whole` gives it.
            if r.status().is_success() && r.headers().contains_key(header::CONTENT_TYPE) {
                if let Some(kind) = whole::content_type_at(path) {
                    r.headers_mut().insert(header::CONTENT_TYPE, kind);
                }
            }
            r.map(|b| b.boxed_unsync())
        }
        Err(never) => match never {},
    }
}
