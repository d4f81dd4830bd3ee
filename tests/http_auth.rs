//! `http serve --auth` (issue 18, item 3): the permission matrix — who may do what with
//! each method, listings (HTML and JSON), ranges, archives, uploads and deletes — and
//! the upload form shown only to those who may write. Rules for anyone and per path:
//! `http_auth_rules.rs`; logins, TLS and files: `http_auth_login.rs`.

use std::fs;
use std::path::PathBuf;

use base64::Engine as _;
use serde_json::Value;

use crate::harness::*;
use crate::http_client::*;

/// A served folder: `a.txt`, `photos/p.txt`, `public/pub.txt`.
pub struct Folder {
    _tmp: tempfile::TempDir,
    pub dir: PathBuf,
}

pub fn folder() -> Folder {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("served");
    fs::create_dir_all(dir.join("photos")).unwrap();
    fs::create_dir_all(dir.join("public")).unwrap();
    fs::write(dir.join("a.txt"), "top\n").unwrap();
    fs::write(dir.join("photos/p.txt"), "photo bytes\n").unwrap();
    fs::write(dir.join("public/pub.txt"), "for anyone\n").unwrap();
    Folder { _tmp: tmp, dir }
}

pub fn serve(f: &Folder, flags: &[&str]) -> Server {
    let mut args = vec!["http", "serve", f.dir.to_str().unwrap()];
    args.extend(flags);
    Server::start(&args)
}

/// `http serve` of `f` on a free loopback port with `flags`, for a command that should
/// refuse to start: its outcome once it has ended.
pub fn start_refused(f: &Folder, flags: &[&str]) -> Output {
    let mut args = vec![
        "http",
        "serve",
        f.dir.to_str().unwrap(),
        "--bind",
        "127.0.0.1:0",
    ];
    args.extend(flags);
    run(&args, b"")
}

pub fn basic(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

/// `method path` as `who` (None: no credentials), with extra headers and a body.
pub fn send(
    server: &Server,
    who: Option<&str>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    if let Some(who) = who {
        all.push(("Authorization", who));
    }
    request(method, &format!("http://{}{path}", server.addr), &all, body)
}

/// One request as `who` (None: no credentials) and the status it must get:
/// `(who, method, path, body, status)`.
pub type Case<'a> = (Option<&'a str>, &'a str, &'a str, &'a [u8], u16);

/// Sends each case in order and checks its status.
pub fn expect(server: &Server, cases: &[Case<'_>]) {
    for &(who, method, path, body, status) in cases {
        let got = send(server, who, method, path, &[], body).status;
        assert_eq!(got, status, "{method} {path} as {who:?}");
    }
}

/// The events up to the first that `last` matches, read as they come (a request's event
/// is printed as it is answered, so it may reach the test after the response).
pub fn events_until(server: &Server, last: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let ev = server.next_event();
        let done = last(&ev);
        seen.push(ev);
        if done {
            return seen;
        }
    }
}

pub const BOUNDARY: &str = "AuThBoUnDaRy";

pub fn form(name: &str) -> Vec<u8> {
    format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\r\nform\r\n--{BOUNDARY}--\r\n"
    )
    .into_bytes()
}

/// The statuses of every kind of request on `dir` (a folder holding `file`) as `who`:
/// GET file, GET listing HTML, GET listing JSON, Range GET, HEAD, `?zip`, `?tar`, PUT,
/// POST form, DELETE (of what the PUT wrote) — then whether the listing had the upload
/// form, and whether it had delete buttons. Every 401 asks for Basic credentials.
fn statuses(server: &Server, who: Option<&str>, dir: &str, file: &str, tag: &str) -> Vec<u16> {
    let target = format!("{dir}{file}");
    let put = format!("{dir}by-{tag}.txt");
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    let get = |path: &str, headers: &[(&str, &str)]| send(server, who, "GET", path, headers, b"");
    let replies = [
        get(&target, &[]),
        get(dir, &[("Accept", "text/html")]),
        get(&format!("{dir}?json"), &[]),
        get(&target, &[("Range", "bytes=0-4")]),
        send(server, who, "HEAD", &target, &[], b""),
        get(&format!("{dir}?zip"), &[]),
        get(&format!("{dir}?tar"), &[]),
        send(server, who, "PUT", &put, &[], b"put"),
        send(
            server,
            who,
            "POST",
            dir,
            &[("Content-Type", &ct)],
            &form(&format!("form-{tag}.txt")),
        ),
        send(server, who, "DELETE", &put, &[], b""),
    ];
    let [whole, html, json, range, _, zip, tar, ..] = &replies;
    if whole.status == 200 {
        assert!(!whole.body.is_empty());
    }
    if json.status == 200 {
        let v: Value = serde_json::from_slice(&json.body).unwrap();
        assert!(v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == file));
    }
    if range.status == 206 {
        assert_eq!(range.body.len(), 5);
    }
    let holds = |body: &[u8]| body.windows(file.len()).any(|w| w == file.as_bytes());
    if zip.status == 200 {
        assert!(
            zip.body.starts_with(b"PK\x03\x04") && holds(&zip.body),
            "{tag}: a zip"
        );
    }
    if tar.status == 200 {
        let blocks = tar.body.len() % 512 == 0;
        assert!(blocks && holds(&tar.body), "{tag}: a tar");
    }
    for r in replies.iter().filter(|r| r.status == 401) {
        assert_eq!(
            r.header("www-authenticate"),
            Some("Basic realm=\"sockit\", charset=\"UTF-8\""),
            "{tag}"
        );
    }
    let mut got: Vec<u16> = replies.iter().map(|r| r.status).collect();
    got.push(u16::from(
        html.text().contains("enctype=\"multipart/form-data\""),
    ));
    got.push(u16::from(html.text().contains("class=del")));
    got
}

/// GET file, listing HTML, JSON, Range, HEAD, ?zip, ?tar.
const READS: [u16; 7] = [200, 200, 200, 206, 200, 200, 200];

/// One row of the matrix: reads, writes (PUT, POST, DELETE), then whether the listing
/// shows the upload form and delete buttons.
fn row(reads: [u16; 7], writes: [u16; 3], form: bool, delete: bool) -> Vec<u16> {
    let mut r = reads.to_vec();
    r.extend(writes);
    r.push(u16::from(form));
    r.push(u16::from(delete));
    r
}

fn hashes() -> (String, String, String) {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::encode_b64(b"a test salt, 16+").unwrap();
    let argon2 = argon2::Argon2::default()
        .hash_password(b"argon-pw", &salt)
        .unwrap()
        .to_string();
    let bcrypt = bcrypt::hash_with_salt("bcrypt-pw", 4, *b"sixteen byte slt")
        .unwrap()
        .format_for_version(bcrypt::Version::TwoB);
    use sha2::Digest;
    let sha = format!("sha256:{}", hex::encode(sha2::Sha256::digest(b"sha-pw")));
    (argon2, bcrypt, sha)
}

#[test]
fn issue18_the_permission_matrix() {
    let f = folder();
    let (argon2, bcrypt, sha) = hashes();
    let rules = [
        "@/public:ro".to_owned(),
        "reader:read-pw@/:ro".to_owned(),
        "writer:write-pw".to_owned(),
        "sub:sub-pw@/photos:rw".to_owned(),
        format!("argon:{argon2}@/:rw"),
        format!("bcrypt:{bcrypt}"),
        format!("sha:{sha}@/photos:rw,/public"),
    ];
    let mut flags = vec!["--upload", "--delete", "--auth-over-http"];
    for r in &rules {
        flags.extend(["--auth", r]);
    }
    let server = serve(&f, &flags);
    let writer = row(READS, [201, 201, 204], true, true);
    let reader = row(READS, [403, 403, 403], false, false);
    let asked = row([401; 7], [401; 3], false, false);
    let cases: Vec<(&str, Option<String>, Vec<u16>)> = vec![
        ("anonymous", None, asked.clone()),
        ("reader", Some(basic("reader", "read-pw")), reader.clone()),
        ("writer", Some(basic("writer", "write-pw")), writer.clone()),
        ("sub", Some(basic("sub", "sub-pw")), writer.clone()),
        ("argon", Some(basic("argon", "argon-pw")), writer.clone()),
        ("bcrypt", Some(basic("bcrypt", "bcrypt-pw")), writer.clone()),
        ("sha", Some(basic("sha", "sha-pw")), writer.clone()),
    ];
    for (tag, who, expected) in &cases {
        let got = statuses(&server, who.as_deref(), "/photos/", "p.txt", tag);
        assert_eq!(&got, expected, "{tag} on /photos/");
    }
    // Anyone may read /public and nothing else; a user with a rule elsewhere only is
    // refused outside it, but may still do what anyone may.
    let public = statuses(&server, None, "/public/", "pub.txt", "anyone");
    assert_eq!(public, row(READS, [401; 3], false, false));
    assert_eq!(
        statuses(&server, None, "/", "a.txt", "anyone"),
        row([401; 7], [401; 3], false, false)
    );
    let sub = basic("sub", "sub-pw");
    assert_eq!(
        statuses(&server, Some(&sub), "/", "a.txt", "sub"),
        row([403; 7], [403; 3], false, false)
    );
    assert_eq!(
        statuses(&server, Some(&sub), "/public/", "pub.txt", "sub"),
        reader,
        "logging in takes nothing away"
    );
    let sha = basic("sha", "sha-pw");
    assert_eq!(
        statuses(&server, Some(&sha), "/public/", "pub.txt", "sha"),
        reader,
        "a rule without a mode reads only"
    );
    assert_eq!(
        fs::read_to_string(f.dir.join("photos/form-writer.txt")).unwrap(),
        "form"
    );
    assert!(!f.dir.join("photos/form-reader.txt").exists());
    assert!(!f.dir.join("photos/form-anonymous.txt").exists());
    // The log names who did it, archives included (logged once they are sent).
    let events = events_until(&server, |e| {
        e["user"] == "writer" && e["method"] == "PUT" && e["status"] == 201
    });
    let by = |user: &str, method: &str, path: &str, status: u16| {
        events.iter().any(|e| {
            e["user"] == user && e["method"] == method && e["path"] == path && e["status"] == status
        })
    };
    assert!(by("reader", "DELETE", "/photos/by-reader.txt", 403));
    assert!(by("reader", "GET", "/photos/?zip", 200));
    assert!(by("reader", "GET", "/photos/?tar", 200));
}

#[test]
fn issue18_wrong_passwords_and_unknown_users_are_asked_again_for_everything() {
    let f = folder();
    let (argon2, _, _) = hashes();
    let argon_rule = format!("argon:{argon2}");
    for (tag, who) in [
        ("wrong", basic("writer", "wrong-pw")),
        ("unknown", basic("mallory", "write-pw")),
        ("argon-wrong", basic("argon", "argon-PW")),
        (
            "no-colon",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("writer")
            ),
        ),
        ("bearer", "Bearer write-pw".to_owned()),
    ] {
        // A server each: the ten failures of `statuses` are as many as one address may
        // make in a row (FAILURE_BURST).
        let server = serve(
            &f,
            &[
                "--upload",
                "--delete",
                "--auth-over-http",
                "--auth",
                "writer:write-pw",
                "--auth",
                &argon_rule,
                "--auth",
                "@/:ro",
            ],
        );
        let got = statuses(&server, Some(&who), "/photos/", "p.txt", tag);
        assert_eq!(got, row([401; 7], [401; 3], false, false), "{tag}");
        // A known name is logged; an unknown one may be a password and is not.
        let events = events_until(&server, |e| e["method"] == "DELETE");
        let named: Vec<&Value> = events.iter().filter(|e| e.get("user").is_some()).collect();
        match tag {
            "wrong" => assert!(named.iter().all(|e| e["user"] == "writer"), "{named:?}"),
            "argon-wrong" => assert!(named.iter().all(|e| e["user"] == "argon"), "{named:?}"),
            _ => assert!(named.is_empty(), "{tag}: {named:?}"),
        }
        if tag == "wrong" {
            assert_eq!(named.len(), 10, "each request names writer");
        }
    }
}
