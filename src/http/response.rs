//! The responses `http serve` builds: bodies, statuses with a reason, headers.

use std::convert::Infallible;
use std::io;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};

use super::safepath::PathError;
use crate::net::sock::describe;

/// Every response body: files stream, pages are built in memory.
pub type Body = UnsyncBoxBody<Bytes, io::Error>;

/// A request that ends in an error status with a one-line reason.
#[derive(Debug)]
pub struct Failure {
    pub status: StatusCode,
    pub reason: String,
}

impl Failure {
    pub fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        Failure {
            status,
            reason: reason.into(),
        }
    }

    pub fn io(e: io::Error) -> Self {
        let status = match e.kind() {
            io::ErrorKind::NotFound => StatusCode::NOT_FOUND,
            io::ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Failure::new(status, describe(&e))
    }

    pub(super) fn into_response(self) -> Response<Body> {
        text(self.status, format!("{}\n", self.reason))
    }
}

impl From<PathError> for Failure {
    fn from(e: PathError) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
        Failure::new(status, e.to_string())
    }
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

pub fn empty(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = status;
    r
}

pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = typed(body, "text/plain; charset=utf-8");
    *r.status_mut() = status;
    r
}

pub fn typed(body: impl Into<Bytes>, content_type: &'static str) -> Response<Body> {
    let mut r = Response::new(full(body));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

pub fn with_header(mut r: Response<Body>, name: header::HeaderName, value: &str) -> Response<Body> {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
    r
}
