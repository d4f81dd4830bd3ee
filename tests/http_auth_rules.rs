//! `http serve --auth` (issue 18, item 3): what the rules mean — public read with
//! authenticated write (miniserve #1516), methods the server lacks, the most specific
//! path, archives under a deeper rule, and writes from another site's page.

use std::fs;

use crate::http_auth::{basic, folder, form, send, serve, BOUNDARY};

#[test]
fn issue18_public_read_authenticated_write() {
    // miniserve #1516: anyone reads, only a user writes; the listing offers to log in.
    let f = folder();
    let server = serve(
        &f,
        &[
            "--upload",
            "--delete",
            "--auth-over-http",
            "--auth",
            "@/:ro",
            "--auth",
            "alice:pw",
        ],
    );
    let page = send(&server, None, "GET", "/", &[], b"");
    assert_eq!(page.status, 200);
    assert!(
        !page.text().contains("multipart/form-data"),
        "no upload form for anyone"
    );
    assert!(
        !page.text().contains("class=del"),
        "no delete buttons for anyone"
    );
    assert!(page.text().contains("href=\"?login\""), "a way to log in");
    let login = send(&server, None, "GET", "/?login", &[], b"");
    assert_eq!(
        login.status, 401,
        "?login asks the browser for the password"
    );
    assert!(login.header("www-authenticate").is_some());
    let alice = basic("alice", "pw");
    let page = send(&server, Some(&alice), "GET", "/?login", &[], b"");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("multipart/form-data"));
    assert!(page.text().contains("class=del"));
    assert!(
        page.text().contains(" · alice"),
        "the page says who is logged in"
    );
    assert_eq!(send(&server, None, "PUT", "/x.txt", &[], b"x").status, 401);
    assert_eq!(
        send(&server, Some(&alice), "PUT", "/x.txt", &[], b"x").status,
        201
    );
    assert_eq!(send(&server, None, "GET", "/x.txt", &[], b"").status, 200);
    assert_eq!(
        send(&server, None, "DELETE", "/x.txt", &[], b"").status,
        401
    );
    assert_eq!(
        send(&server, Some(&alice), "DELETE", "/x.txt", &[], b"").status,
        204
    );
    let options = send(&server, None, "OPTIONS", "/", &[], b"");
    assert_eq!(options.status, 204);
    // Another site's page cannot upload through alice's browser (CSRF); this one can.
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    let host = server.addr.to_string();
    let ours = format!("http://{host}");
    for (origin, fetch_site, status) in [
        ("https://evil.example", "cross-site", 403),
        ("null", "cross-site", 403),
        (ours.as_str(), "same-origin", 201),
    ] {
        let headers = [
            ("Content-Type", ct.as_str()),
            ("Origin", origin),
            ("Sec-Fetch-Site", fetch_site),
        ];
        let r = send(
            &server,
            Some(&alice),
            "POST",
            "/",
            &headers,
            &form("csrf.txt"),
        );
        assert_eq!(r.status, status, "from {origin}: {}", r.text());
    }
    let r = send(
        &server,
        Some(&alice),
        "DELETE",
        "/csrf.txt",
        &[("Origin", "https://evil.example")],
        b"",
    );
    assert_eq!(r.status, 403);
    assert!(f.dir.join("csrf.txt").exists());
}

#[test]
fn issue18_auth_never_enables_a_method_the_server_lacks() {
    let f = folder();
    let server = serve(
        &f,
        &[
            "--upload",
            "--auth-over-http",
            "--auth",
            "alice:pw",
            "--auth",
            "reader:pw@/:ro",
        ],
    );
    let alice = basic("alice", "pw");
    assert_eq!(
        send(&server, Some(&alice), "PUT", "/n.txt", &[], b"n").status,
        201
    );
    let r = send(&server, Some(&alice), "DELETE", "/n.txt", &[], b"");
    assert_eq!(r.status, 405, "rw, but no --delete");
    assert!(r.text().contains("--delete"));
    let reader = basic("reader", "pw");
    assert_eq!(
        send(&server, Some(&reader), "DELETE", "/n.txt", &[], b"").status,
        403
    );
    assert_eq!(
        send(&server, None, "DELETE", "/n.txt", &[], b"").status,
        401
    );
    assert!(f.dir.join("n.txt").exists());
    let page = send(&server, Some(&alice), "GET", "/", &[], b"").text();
    assert!(
        !page.contains("class=del"),
        "no delete buttons without --delete"
    );
    let r = send(&server, Some(&alice), "PATCH", "/n.txt", &[], b"");
    assert_eq!(r.status, 405);
}

#[test]
fn issue18_a_deeper_rule_changes_the_mode_below_it() {
    let f = folder();
    let server = serve(
        &f,
        &[
            "--upload",
            "--delete",
            "--auth-over-http",
            "--auth",
            "alice:pw@/:rw,/photos:ro",
            "--auth",
            "bob:pw@/photos/deep:rw",
        ],
    );
    let alice = basic("alice", "pw");
    let bob = basic("bob", "pw");
    fs::create_dir_all(f.dir.join("photos/deep")).unwrap();
    fs::write(f.dir.join("photos/deep/d.txt"), "deep\n").unwrap();
    // An archive is a read of its folder: alice may take /photos whole; bob only what
    // is under his one folder, not the folder above it.
    for (who, path, status) in [
        (&alice, "/photos/?zip", 200),
        (&alice, "/?tar", 200),
        (&bob, "/photos/deep/?zip", 200),
        (&bob, "/photos/?zip", 403),
        (&bob, "/?tar", 403),
    ] {
        let r = send(&server, Some(who), "GET", path, &[], b"");
        assert_eq!(r.status, status, "{path}");
    }
    let deep = send(&server, Some(&bob), "GET", "/photos/deep/", &[], b"").text();
    assert!(deep.contains("multipart/form-data"), "bob may upload there");
    assert_eq!(
        send(&server, Some(&bob), "PUT", "/photos/deep/b.txt", &[], b"b").status,
        201
    );
    assert_eq!(
        send(&server, Some(&bob), "PUT", "/photos/b.txt", &[], b"b").status,
        403
    );
    let top = send(&server, Some(&alice), "GET", "/", &[], b"").text();
    assert!(top.contains("multipart/form-data"));
    assert!(top.contains("data-href=\"a.txt\""), "a.txt may be deleted");
    assert!(
        !top.contains("data-href=\"photos/\""),
        "photos is read-only: no button"
    );
    let photos = send(&server, Some(&alice), "GET", "/photos/", &[], b"").text();
    assert!(!photos.contains("multipart/form-data"));
    assert_eq!(
        send(&server, Some(&alice), "PUT", "/photos/x", &[], b"x").status,
        403
    );
    assert_eq!(
        send(&server, Some(&alice), "PUT", "/photosx", &[], b"x").status,
        201,
        "segments, not prefixes of names"
    );
    // Another spelling of the path reaches the same rule.
    assert_eq!(
        send(&server, Some(&alice), "PUT", "//photos/./%78", &[], b"x").status,
        403
    );
    assert_eq!(
        send(&server, Some(&alice), "PUT", "/%70hotos/x", &[], b"x").status,
        403
    );
}
