//! What part of a file a request really asks for, once `If-Range` and the range unit are
//! taken into account (RFC 9110 §13.1.5 and §14.2). tower-http reads `Range` alone: a
//! client resuming with a stale `If-Range` would get a piece of a file that has changed
//! since, and be left with a file spliced from two versions.

use std::fs::Metadata;

use http::{header, HeaderValue, Request};

use super::whole;

/// Rewrites `req`'s `Range` to what should be answered: removed when `If-Range` names a
/// version other than the file's current one (the whole file is sent instead), or when
/// its unit is not `bytes` (RFC 9110 §14.2: an unknown unit is ignored); its unit spelled
/// `bytes` (units are case-insensitive). `If-Range` is removed: it has been answered, and
/// without `Range` it means nothing.
pub fn settle<B>(req: &mut Request<B>, meta: &Metadata) {
    let headers = req.headers_mut();
    let if_range = headers.remove(header::IF_RANGE);
    let Some(range) = headers.get(header::RANGE) else {
        return;
    };
    let answered = match in_bytes(range) {
        Some(range) if if_range.is_none_or(|v| is_current(&v, meta)) => Some(range),
        _ => None,
    };
    match answered {
        Some(range) => headers.insert(header::RANGE, range),
        None => headers.remove(header::RANGE),
    };
}

/// `range` with its unit written `bytes`, or `None` if it names another unit. A value
/// without `=` is kept as it is: malformed, it is refused with 416 as before.
fn in_bytes(range: &HeaderValue) -> Option<HeaderValue> {
    let v = range.as_bytes();
    let Some(eq) = v.iter().position(|&b| b == b'=') else {
        return Some(range.clone());
    };
    let unit = v[..eq].trim_ascii();
    if unit == b"bytes" {
        Some(range.clone())
    } else if unit.eq_ignore_ascii_case(b"bytes") {
        let mut spelled = b"bytes=".to_vec();
        spelled.extend_from_slice(&v[eq + 1..]);
        HeaderValue::from_bytes(&spelled).ok()
    } else {
        None
    }
}

/// Whether an `If-Range` value names the file as it is now: an entity tag by strong
/// comparison (a weak tag never matches), a date by exact match with `Last-Modified`.
fn is_current(if_range: &HeaderValue, meta: &Metadata) -> bool {
    let Some((etag, last_modified)) = meta
        .modified()
        .ok()
        .and_then(|m| whole::validators(meta.len(), m))
    else {
        return false;
    };
    let v = if_range.as_bytes().trim_ascii();
    if v.starts_with(b"\"") {
        return v == etag.as_bytes();
    }
    if v.starts_with(b"W/") {
        return false;
    }
    let date = |h: &[u8]| {
        std::str::from_utf8(h)
            .ok()
            .and_then(|s| httpdate::parse_http_date(s).ok())
    };
    date(v).is_some_and(|d| Some(d) == date(last_modified.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settled(headers: &[(&str, &str)], meta: &Metadata) -> Option<String> {
        let mut req = Request::new(());
        for (name, value) in headers {
            req.headers_mut().insert(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        settle(&mut req, meta);
        assert!(!req.headers().contains_key(header::IF_RANGE));
        req.headers()
            .get(header::RANGE)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    #[test]
    fn if_range_keeps_the_range_only_for_the_current_version() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "0123456789").unwrap();
        let meta = std::fs::metadata(file.path()).unwrap();
        let (etag, date) = whole::validators(meta.len(), meta.modified().unwrap()).unwrap();
        let (etag, date) = (etag.to_str().unwrap(), date.to_str().unwrap());
        let range = ("Range", "bytes=2-5");
        let kept = Some("bytes=2-5".to_owned());
        assert_eq!(settled(&[range], &meta), kept);
        assert_eq!(settled(&[range, ("If-Range", etag)], &meta), kept);
        assert_eq!(settled(&[range, ("If-Range", date)], &meta), kept);
        assert_eq!(settled(&[range, ("If-Range", "\"other\"")], &meta), None);
        let weak = format!("W/{etag}");
        assert_eq!(
            settled(&[range, ("If-Range", &weak)], &meta),
            None,
            "If-Range compares strongly"
        );
        assert_eq!(
            settled(
                &[range, ("If-Range", "Thu, 01 Jan 1970 00:00:01 GMT")],
                &meta
            ),
            None
        );
        assert_eq!(settled(&[range, ("If-Range", "not a date")], &meta), None);
        assert_eq!(
            settled(&[("If-Range", etag)], &meta),
            None,
            "no Range, nothing to keep"
        );
    }

    #[test]
    fn only_the_bytes_unit_is_answered() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let meta = std::fs::metadata(file.path()).unwrap();
        let range = |v| settled(&[("Range", v)], &meta);
        assert_eq!(range("items=0-3"), None);
        assert_eq!(range("Bytes=0-3"), Some("bytes=0-3".to_owned()));
        assert_eq!(range("BYTES =0-3,5-"), Some("bytes=0-3,5-".to_owned()));
        assert_eq!(
            range("0-3"),
            Some("0-3".to_owned()),
            "malformed: still refused"
        );
    }
}
