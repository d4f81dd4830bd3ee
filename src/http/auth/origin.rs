//! Cross-site writes refused: a browser sends the Basic password it remembers with a
//! form that another site's page submits to this server, so without this check any
//! page a logged-in user opens could upload through them (CSRF). Browsers say where a
//! request comes from (`Origin` on every POST, PUT and DELETE they send, and
//! `Sec-Fetch-Site`); clients that are not browsers send neither and are not affected.

use http::{header, Request};

/// Whether a browser sent `req` on behalf of a page of another origin than this server.
pub fn cross_site<B>(req: &Request<B>) -> bool {
    let headers = req.headers();
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    let authority = origin.to_str().ok().and_then(|o| {
        o.strip_prefix("https://")
            .or_else(|| o.strip_prefix("http://"))
    });
    // `Origin: null` (a sandboxed frame, a file: page) is another origin too.
    match (authority, host) {
        (Some(authority), Some(host)) => !authority.eq_ignore_ascii_case(host),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::post("/inbox/");
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn issue18_a_form_from_another_site_is_cross_site_and_ours_is_not() {
        let host = ("Host", "192.168.1.5:8000");
        assert!(!cross_site(&req(&[host])), "curl sends no Origin");
        assert!(!cross_site(&req(&[
            host,
            ("Origin", "https://192.168.1.5:8000"),
            ("Sec-Fetch-Site", "same-origin"),
        ])));
        assert!(!cross_site(&req(&[
            ("Host", "LOCALHOST:8000"),
            ("Origin", "http://localhost:8000")
        ])));
        for origin in [
            "https://evil.example",
            "http://192.168.1.5:8001",
            "null",
            "http://192.168.1.5:8000.evil.example",
        ] {
            assert!(cross_site(&req(&[host, ("Origin", origin)])), "{origin}");
        }
        assert!(cross_site(&req(&[host, ("Sec-Fetch-Site", "cross-site")])));
    }
}
