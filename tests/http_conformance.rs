//! `http serve` against the rules REDbot and careful clients check (issue 18, item 6):
//! `If-Range`, range units, `Vary` and an `ETag` on folders, `Cache-Control` on every
//! answer. The runs of REDbot, rclone, wget and aria2c themselves are in
//! `conformance_gated.rs`.

use std::fs;

use crate::harness::*;
use crate::http_client::*;
use crate::http_serve::{start, tree, url};

/// A file larger than `whole::CHUNK`, which goes out by sendfile rather than from memory.
const LARGE: usize = 3 << 20;

#[test]
fn if_range_naming_another_version_gets_the_whole_file() {
    let t = tree();
    fs::write(t.served.join("large.bin"), pattern(LARGE)).unwrap();
    let server = start(&t, &[]);
    for (path, size) in [("/a.txt", 12), ("/large.bin", LARGE)] {
        let first = get(&url(&server, path));
        let etag = first.header("etag").unwrap().to_owned();
        let date = first.header("last-modified").unwrap().to_owned();
        let ranged = |if_range: &str, range: &str| {
            request(
                "GET",
                &url(&server, path),
                &[("Range", range), ("If-Range", if_range)],
                b"",
            )
        };
        for current in [etag.as_str(), date.as_str()] {
            let r = ranged(current, "bytes=2-5");
            assert_eq!(
                (r.status, r.body.len()),
                (206, 4),
                "{path} If-Range {current}"
            );
            assert_eq!(
                r.header("content-range"),
                Some(format!("bytes 2-5/{size}").as_str())
            );
        }
        let weak = format!("W/{etag}");
        for stale in [
            "\"0.00000000-1\"",
            weak.as_str(),
            "Thu, 01 Jan 1970 00:00:01 GMT",
        ] {
            for range in ["bytes=2-5", "bytes=0-1,4-5"] {
                let r = ranged(stale, range);
                assert_eq!(
                    (r.status, r.body.len(), r.header("content-range")),
                    (200, size, None),
                    "{path} If-Range {stale} Range {range}: the whole file"
                );
                assert_eq!(r.body, first.body);
            }
        }
    }
}

#[test]
fn a_range_in_a_unit_other_than_bytes_is_ignored() {
    let t = tree();
    let server = start(&t, &[]);
    let r = request(
        "GET",
        &url(&server, "/a.txt"),
        &[("Range", "items=0-3")],
        b"",
    );
    assert_eq!((r.status, r.text().as_str()), (200, "hello world\n"));
    let r = request(
        "GET",
        &url(&server, "/a.txt"),
        &[("Range", "Bytes=0-4")],
        b"",
    );
    assert_eq!(
        (r.status, r.text().as_str()),
        (206, "hello"),
        "units are case-insensitive"
    );
}

#[test]
fn folders_vary_by_accept_and_caches_revalidate_or_keep_nothing() {
    let t = tree();
    fs::create_dir(t.served.join("site")).unwrap();
    fs::write(t.served.join("site/index.html"), "<p>home</p>").unwrap();
    fs::write(t.served.join("large.bin"), pattern(LARGE)).unwrap();
    let server = start(&t, &[]);
    let json = [("Accept", "application/json")];
    for (path, headers) in [
        ("/sub/", &[][..]),
        ("/sub/", &json[..]),
        ("/site/", &[][..]),
        ("/site/", &json[..]),
    ] {
        let r = request("GET", &url(&server, path), headers, b"");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("vary"), Some("accept"), "{path} {headers:?}");
        assert_eq!(r.header("cache-control"), Some("no-cache"));
    }
    let index = get(&url(&server, "/site/"));
    let etag = index.header("etag").unwrap();
    let not_modified = request(
        "GET",
        &url(&server, "/site/"),
        &[("If-None-Match", etag)],
        b"",
    );
    assert_eq!(not_modified.status, 304);
    assert_eq!(
        (
            not_modified.header("vary"),
            not_modified.header("cache-control")
        ),
        (Some("accept"), Some("no-cache")),
        "a 304 has the headers its 200 would have"
    );

    for path in ["/a.txt", "/large.bin"] {
        let whole = get(&url(&server, path));
        let etag = whole.header("etag").unwrap();
        // Each status, by the path that answers it (by hand, or by tower-http when
        // `If-Match` is present).
        // `no-store` where there is no validator to revalidate with.
        for (headers, status, keep) in [
            (vec![], 200, "no-cache"),
            (vec![("Range", "bytes=0-3")], 206, "no-cache"),
            (vec![("Range", "bytes=0-1,3-4")], 206, "no-cache"),
            (vec![("If-None-Match", etag)], 304, "no-cache"),
            (
                vec![("If-Match", etag), ("If-None-Match", etag)],
                304,
                "no-cache",
            ),
            (vec![("Range", "bytes=99999999-")], 416, "no-cache"),
            (vec![("If-Match", "\"other\"")], 412, "no-store"),
        ] {
            let r = request("GET", &url(&server, path), &headers, b"");
            assert_eq!(r.status, status, "{path} {headers:?}");
            assert_eq!(r.header("cache-control"), Some(keep), "{path} {headers:?}");
            assert_eq!(r.header("vary"), None, "a file does not vary");
        }
    }
    let moved = get(&url(&server, "/sub"));
    assert_eq!(
        (moved.status, moved.header("cache-control")),
        (301, Some("no-store")),
        "a folder may become a file: its redirect is not kept"
    );
    let zip = get(&url(&server, "/sub/?zip"));
    assert_eq!(
        (zip.status, zip.header("cache-control")),
        (200, Some("no-store"))
    );
    let missing = get(&url(&server, "/missing"));
    assert_eq!(
        (missing.status, missing.header("cache-control")),
        (404, Some("no-store"))
    );
}

#[test]
fn a_listing_has_an_etag_and_is_304_until_the_folder_changes() {
    let t = tree();
    let server = start(&t, &[]);
    let json = [("Accept", "application/json")];
    let page = get(&url(&server, "/sub/"));
    let listing = request("GET", &url(&server, "/sub/"), &json, b"");
    let etag = page.header("etag").expect("a listing's ETag").to_owned();
    assert!(etag.starts_with('"') && !etag.starts_with("W/"), "{etag}");
    assert_ne!(
        listing.header("etag"),
        Some(etag.as_str()),
        "HTML and JSON are different bytes"
    );
    let again = request(
        "GET",
        &url(&server, "/sub/"),
        &[("If-None-Match", &etag)],
        b"",
    );
    assert_eq!((again.status, again.body.len()), (304, 0));
    assert_eq!(
        (
            again.header("etag"),
            again.header("vary"),
            again.header("cache-control")
        ),
        (Some(etag.as_str()), Some("accept"), Some("no-cache"))
    );
    fs::write(t.served.join("sub/new.txt"), "new").unwrap();
    let changed = request(
        "GET",
        &url(&server, "/sub/"),
        &[("If-None-Match", &etag)],
        b"",
    );
    assert_eq!(changed.status, 200);
    assert!(changed.text().contains("new.txt"));
    assert_ne!(changed.header("etag"), Some(etag.as_str()));
}
