//! A real browser (headless Chromium driven through chromedriver) against `http serve`
//! and `http dump`. Screenshots land in `target/browser/` for people to look at.
//!
//! The WebDriver client is a dozen JSON calls over ureq, written here: the WebDriver
//! crates would bring a second async HTTP stack (and TLS) into the build for the same calls.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::harness::*;

/// A chromedriver child on a free port and one browser session.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    fn start(downloads: &Path, profile: &Path) -> Browser {
        Browser::start_with(downloads, profile, &[])
    }

    /// A browser with `extra` command-line switches (a certificate's pin to trust).
    pub fn start_with(downloads: &Path, profile: &Path, extra: &[String]) -> Browser {
        let mut driver = Command::new("chromedriver")
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let mut lines = BufReader::new(driver.stdout.take().unwrap()).lines();
        let port = loop {
            let line = lines.next().expect("chromedriver ended").expect("read");
            if let Some(rest) = line.split("started successfully on port ").nth(1) {
                break rest.trim_end_matches('.').to_owned();
            }
        };
        // Keep draining chromedriver's stdout so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let base = format!("http://127.0.0.1:{port}");
        let mut args: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--disable-dev-shm-usage",
            "--window-size=1200,900",
        ]
        .map(String::from)
        .to_vec();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.extend(extra.iter().cloned());
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": args,
                "prefs": {"download.default_directory": downloads.to_str().unwrap(),
                          "download.prompt_for_download": false},
            },
        }}});
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
        };
        let created = browser.call("POST", "/session", caps);
        browser.session = created["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        browser
    }

    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let req = ureq::request(method, &url).timeout(Duration::from_secs(60));
        let resp = match method {
            "GET" | "DELETE" => req.call(),
            _ => req.send_json(body),
        };
        match resp {
            Ok(r) => r.into_json::<Value>().expect("JSON")["value"].take(),
            Err(ureq::Error::Status(code, r)) => {
                panic!(
                    "webdriver {method} {path}: {code} {}",
                    r.into_string().unwrap_or_default()
                )
            }
            Err(e) => panic!("webdriver {method} {path}: {e}"),
        }
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url }));
    }

    fn find(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_owned()
    }

    fn click(&self, css: &str) {
        let id = self.find(css);
        self.call("POST", &format!("/element/{id}/click"), json!({}));
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.call(
            "POST",
            &format!("/element/{id}/value"),
            json!({ "text": text }),
        );
    }

    fn script(&self, js: &str) -> Value {
        self.call("POST", "/execute/sync", json!({"script": js, "args": []}))
    }

    pub fn source(&self) -> String {
        self.call("GET", "/source", json!({}))
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn url(&self) -> String {
        self.call("GET", "/url", json!({}))
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn resize(&self, width: u32, height: u32) {
        self.call(
            "POST",
            "/window/rect",
            json!({"width": width, "height": height}),
        );
    }

    pub fn screenshot(&self, name: &str) -> PathBuf {
        let b64 = self.call("GET", "/screenshot", json!({}));
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/browser");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        fs::write(&path, png).unwrap();
        path
    }

    /// Polls `cond` until it holds, failing after `STEP`.
    fn wait(&self, what: &str, cond: impl Fn(&Browser) -> bool) {
        let deadline = Instant::now() + STEP;
        while !cond(self) {
            assert!(
                Instant::now() < deadline,
                "browser: {what} did not happen within {STEP:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = ureq::delete(&format!("{}/session/{}", self.base, self.session))
                .timeout(Duration::from_secs(10))
                .call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

pub fn a_browser_browses_uploads_and_downloads_through_http_serve() {
    let tmp = tempfile::tempdir().unwrap();
    let served = tmp.path().join("served");
    fs::create_dir_all(served.join("photos")).unwrap();
    fs::write(served.join("notes.txt"), "hello from sockit\n").unwrap();
    fs::write(
        served.join("a much longer file name that wraps on phones.pdf"),
        vec![1u8; 123_456],
    )
    .unwrap();
    fs::write(served.join("photos/cat.jpg"), vec![2u8; 2_000_000]).unwrap();
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let upload = tmp.path().join("upload.bin");
    fs::write(&upload, &payload).unwrap();
    let downloads = tmp.path().join("downloads");
    fs::create_dir_all(&downloads).unwrap();

    let server = Server::start(&[
        "http",
        "serve",
        served.to_str().unwrap(),
        "--upload",
        "--delete",
    ]);
    let browser = Browser::start(&downloads, &tmp.path().join("profile"));
    let root = format!("http://{}/", server.addr);
    browser.goto(&root);
    browser.wait("the listing", |b| b.source().contains("notes.txt"));
    browser.screenshot("serve-listing.png");

    // Sorting by size: ascending puts the folder (size 0) first, descending the big file.
    let first = "return document.querySelector('#list tbody tr:not(.up) a').textContent";
    browser.click("th[data-k='1']");
    assert_eq!(browser.script(first), "photos/");
    browser.click("th[data-k='1']");
    assert_eq!(
        browser.script(first),
        "a much longer file name that wraps on phones.pdf"
    );

    browser.click("a[href='photos/']");
    browser.wait("entering the folder", |b| b.url().ends_with("/photos/"));
    assert!(browser.source().contains("cat.jpg"));

    browser.type_into("#file", upload.to_str().unwrap());
    browser.click("#upload button");
    browser.wait("the upload to be listed", |b| {
        b.source().contains("upload.bin")
    });
    assert_eq!(fs::read(served.join("photos/upload.bin")).unwrap(), payload);
    browser.screenshot("serve-after-upload.png");

    browser.click("a[href='upload.bin']");
    let downloaded = downloads.join("upload.bin");
    browser.wait("the download", |_| {
        fs::read(&downloaded).is_ok_and(|d| d == payload)
    });

    // The folder as one download, by the listing's link (issue 18): the browser keeps
    // the name the server gives it.
    browser.click("a[href='?zip']");
    let zip = downloads.join("photos.zip");
    browser.wait("the folder's zip", |_| {
        fs::read(&zip).is_ok_and(|z| z.starts_with(b"PK\x03\x04") && z.len() > 2_000_000)
    });
    let listed = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; print(*zipfile.ZipFile(sys.argv[1]).namelist())",
        ])
        .arg(&zip)
        .output()
        .expect("python3");
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("photos/cat.jpg photos/upload.bin"),
        "{listed}"
    );

    // Delete through the page's button (and its confirmation dialog).
    browser.click("button.del[data-href='upload.bin']");
    browser.call("POST", "/alert/accept", json!({}));
    browser.wait("the deleted file to leave the listing", |b| {
        !b.source().contains("upload.bin")
    });
    assert!(!served.join("photos/upload.bin").exists());

    browser.resize(390, 844);
    browser.goto(&root);
    browser.wait("the listing on a phone", |b| {
        b.source().contains("notes.txt")
    });
    let width = browser.script("return document.documentElement.scrollWidth");
    let client = browser.script("return document.documentElement.clientWidth");
    assert!(
        width.as_u64() <= client.as_u64(),
        "the page scrolls sideways on a phone: {width} > {client}"
    );
    browser.screenshot("serve-phone.png");
}

pub fn a_browser_sees_its_own_request_in_http_dump() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&["http", "dump"]);
    let browser = Browser::start(tmp.path(), &tmp.path().join("profile"));
    browser.goto(&format!("http://{}/hello?from=browser", server.addr));
    // Issue 12: a browser prefers text/html, so it gets the page, not the JSON echo.
    browser.wait("the page", |b| b.source().contains("request line"));
    let agent = browser.script("return navigator.userAgent");
    let agent = agent.as_str().unwrap();
    browser.screenshot("dump-page.png");
    let rows = browser.script(
        "return [...document.querySelectorAll('#request tr')]\
         .map(r => [r.className, r.querySelector('td').textContent])",
    );
    let rows: Vec<(String, String)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap().into(), r[1].as_str().unwrap().into()))
        .collect();
    // Each line as sent, its CR LF shown as the two characters `\r\n`.
    assert_eq!(
        rows[0],
        (
            "line".into(),
            "GET /hello?from=browser HTTP/1.1\\r\\n".into()
        )
    );
    assert!(
        rows.contains(&("header".into(), format!("User-Agent: {agent}\\r\\n"))),
        "{rows:?}"
    );
    assert_eq!(rows.last().unwrap(), &("blank".into(), "\\r\\n".into()));
    assert!(
        rows.iter().all(|(_, line)| line.ends_with("\\r\\n")),
        "{rows:?}"
    );
    let dump = server.wait_until(|e| {
        e["event"] == "dump" && e["text"].as_str().unwrap_or("").contains("/hello")
    });
    let text = dump["text"].as_str().unwrap();
    assert!(
        text.starts_with("GET /hello?from=browser HTTP/1.1\r\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!("\r\nUser-Agent: {agent}\r\n")),
        "{agent} not in {text}"
    );
    // The page shows the same lines as the dump, in the same order.
    let lines: Vec<String> = text
        .split_inclusive("\r\n")
        .map(|l| l.replace("\r\n", "\\r\\n"))
        .collect();
    let shown: Vec<String> = rows.into_iter().map(|(_, l)| l).collect();
    assert_eq!(shown, lines);
}

pub fn a_browser_shows_chinese_text_files_as_written() {
    let tmp = tempfile::tempdir().unwrap();
    let served = tmp.path().join("served");
    fs::create_dir_all(&served).unwrap();
    fs::write(served.join("hello.txt"), "你好\n").unwrap();
    fs::write(served.join("notes.md"), "# 粘包\n").unwrap();
    let server = Server::start(&["http", "serve", served.to_str().unwrap()]);
    let browser = Browser::start(tmp.path(), &tmp.path().join("profile"));
    for (name, want) in [("hello.txt", "你好"), ("notes.md", "# 粘包")] {
        browser.goto(&format!("http://{}/{name}", server.addr));
        browser.wait(name, |b| b.url().ends_with(name));
        let text = browser.script("return document.body.innerText.trim()");
        assert_eq!(text, want, "{name}");
    }
    browser.screenshot("serve-chinese-text.png");
}
