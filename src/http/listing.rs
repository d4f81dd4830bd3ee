//! Folder listings: an HTML page that works on a phone (name, size, modified; sortable;
//! upload form with `--upload`, for those who may write there) and JSON for
//! `Accept: application/json` or `?json`.

use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use http::{header, Request, Response, StatusCode};
use indicatif::HumanBytes;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;

use super::auth::Access;
use super::response::{empty, typed, with_header, Body};
use super::safepath::{Child, Root};
use super::serve::State;
use super::whole;

/// Folder entries looked at for one listing (dotfiles included): a folder with more
/// shows the ones the file system returns first, sorted, and says it is cut short. This
/// bounds the time and memory one request can take (a page is ~300 bytes per entry).
pub const MAX_ENTRIES: usize = 10_000;

/// Bytes kept as they are in links; everything else is percent-encoded.
const LINK: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub name: String,
    #[serde(skip)]
    raw: Vec<u8>,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub size: u64,
    /// Seconds since the Unix epoch.
    pub modified: Option<u64>,
}

/// What a listing shows.
pub struct Listing {
    pub entries: Vec<Entry>,
    /// The folder holds more than `MAX_ENTRIES` entries and only that many were read.
    pub truncated: bool,
}

/// The entries of `dir` (a canonical path inside the root, as `Root::find` gives) that
/// may be shown: no dotfiles unless `--hidden`, no symlinks leading outside unless
/// `--follow-symlinks`, no broken ones. Folders first.
pub async fn read(root: &Root, dir: &Path) -> io::Result<Listing> {
    let root = root.clone();
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || read_blocking(&root, &dir))
        .await
        .map_err(io::Error::other)?
}

fn read_blocking(root: &Root, dir: &Path) -> io::Result<Listing> {
    let mut entries = Vec::new();
    let mut truncated = false;
    for (seen, item) in std::fs::read_dir(dir)?.enumerate() {
        if seen == MAX_ENTRIES {
            truncated = true;
            break;
        }
        let Ok(item) = item else { continue };
        let Some(Child {
            name: raw, meta, ..
        }) = root.child(&item)
        else {
            continue;
        };
        entries.push(Entry {
            name: String::from_utf8_lossy(&raw).into_owned(),
            raw,
            kind: if meta.is_dir() { "dir" } else { "file" },
            size: if meta.is_dir() { 0 } else { meta.len() },
            modified: meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs()),
        });
    }
    entries.sort_by(|a, b| {
        (b.kind == "dir")
            .cmp(&(a.kind == "dir"))
            .then(a.name.cmp(&b.name))
    });
    Ok(Listing { entries, truncated })
}

/// A listing `body` as answered to `req`: with a strong `ETag` made from its bytes, so
/// that a cache told to revalidate (`no-cache`) gets a 304 while nothing listed has
/// changed. A folder has no one time of change that a `Last-Modified` could give: its
/// own changes when names come and go, not when a file in it is rewritten.
pub fn page<B>(req: &Request<B>, body: String, content_type: &'static str) -> Response<Body> {
    let hash = blake3::hash(body.as_bytes()).to_hex();
    let etag = format!("\"{}\"", &hash[..32]);
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| whole::etag_matches(v, &etag));
    let r = if unchanged {
        empty(StatusCode::NOT_MODIFIED)
    } else {
        typed(body, content_type)
    };
    with_header(r, header::ETAG, &etag)
}

/// `?json` in the query, or JSON preferred in `Accept`.
pub fn wants_json<B>(req: &Request<B>) -> bool {
    let query = req.uri().query().unwrap_or_default();
    if query
        .split('&')
        .any(|p| p == "json" || p.starts_with("json="))
    {
        return true;
    }
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json") && !a.contains("text/html"))
}

pub fn json(url_path: &str, listing: &Listing) -> String {
    let path = percent_encoding::percent_decode_str(url_path).decode_utf8_lossy();
    let mut s = serde_json::to_string(&serde_json::json!({
        "path": path,
        "entries": listing.entries,
        "truncated": listing.truncated,
        // The whole folder as one download (`archive`).
        "archives": {"zip": format!("{url_path}?zip"), "tar": format!("{url_path}?tar")},
    }))
    .expect("JSON values always serialize");
    s.push('\n');
    s
}

/// Escapes text for HTML content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn date(secs: Option<u64>) -> String {
    let Some(secs) = secs else {
        return String::new();
    };
    let t = UNIX_EPOCH + Duration::from_secs(secs);
    let s = humantime::format_rfc3339_seconds(t).to_string();
    s.replace('T', " ")
        .trim_end_matches('Z')
        .get(..16)
        .unwrap_or_default()
        .to_owned()
}

/// The page of a folder for a viewer with `access` (none: no forms, no buttons).
pub fn html(url_path: &str, listing: &Listing, state: &State, access: Option<&Access>) -> String {
    let writes = |path: &str| access.is_some_and(|a| a.writes(path));
    let entries = &listing.entries;
    let shown = percent_encoding::percent_decode_str(url_path).decode_utf8_lossy();
    let title = escape_html(&shown);
    let mut rows = String::new();
    if url_path != "/" {
        rows.push_str("<tr class=up><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n");
    }
    for e in entries {
        let dir = e.kind == "dir";
        let href = format!(
            "{}{}",
            percent_encoding::percent_encode(&e.raw, LINK),
            if dir { "/" } else { "" }
        );
        let name = format!("{}{}", escape_html(&e.name), if dir { "/" } else { "" });
        let delete = if state.delete && writes(&format!("{url_path}{href}")) {
            format!("<button class=del data-href=\"{href}\" title=\"Delete\">✕</button>")
        } else {
            String::new()
        };
        let _ = writeln!(
            rows,
            "<tr><td data-v=\"{kind}{sort}\"><a href=\"{href}\"{dl}>{name}</a>{delete}</td>\
             <td data-v=\"{size}\" title=\"{size} bytes\">{hsize}</td>\
             <td data-v=\"{mtime}\">{date}</td></tr>",
            kind = if dir { 0 } else { 1 },
            sort = escape_html(&e.name.to_lowercase()),
            dl = if dir { "" } else { " download" },
            size = e.size,
            hsize = if dir {
                "—".to_owned()
            } else {
                HumanBytes(e.size).to_string()
            },
            mtime = e.modified.unwrap_or(0),
            date = date(e.modified),
        );
    }
    let form = if state.upload && writes(url_path) {
        "<form method=post enctype=\"multipart/form-data\" id=upload>\
         <input type=file name=file multiple required id=file>\
         <button type=submit>Upload</button></form>"
    } else if access.is_some_and(|a| a.can_log_in) {
        // A browser reading anonymously never offers its stored password by itself.
        "<p id=login><a href=\"?login\">Log in</a></p>"
    } else {
        ""
    };
    let who = match access.and_then(|a| a.user.as_deref()) {
        Some(user) => format!(" · {}", escape_html(user)),
        None => String::new(),
    };
    PAGE.replace("{title}", &title)
        .replace("{form}", form)
        .replace("{rows}", &rows)
        .replace("{count}", &format!("{}{who}", count(listing)))
}

fn count(listing: &Listing) -> String {
    if listing.truncated {
        format!(
            "{} entries shown; the folder holds more than {MAX_ENTRIES}, the rest are not listed",
            listing.entries.len()
        )
    } else {
        format!("{} entries", listing.entries.len())
    }
}

/// The page: small CSS that reflows on narrow screens, and a few lines of script to
/// sort by a column and to delete.
const PAGE: &str = r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Index of {title}</title>
<style>
:root{color-scheme:light dark;font-family:system-ui,-apple-system,"Segoe UI",sans-serif}
body{margin:0 auto;max-width:60rem;padding:1rem}
h1{font-size:1.25rem;word-break:break-all;margin:.5rem 0 .25rem}
.dl{margin:0 0 1rem;font-size:.9rem;opacity:.8}
table{width:100%;border-collapse:collapse}
th,td{padding:.55rem .5rem;text-align:left;border-bottom:1px solid #8883}
th{cursor:pointer;user-select:none;white-space:nowrap;font-weight:600}
th:after{content:" ↕";opacity:.35}
td:nth-child(2),th:nth-child(2){text-align:right;white-space:nowrap}
td:nth-child(3){white-space:nowrap;opacity:.8}
td:first-child{word-break:break-word}
a{text-decoration:none;color:#2563eb}a:hover{text-decoration:underline}
tr:hover td{background:#8881}
form{display:flex;gap:.5rem;flex-wrap:wrap;margin:0 0 1rem;padding:.75rem;border:1px dashed #8886;border-radius:.5rem}
input[type=file]{flex:1;min-width:0}
button{padding:.4rem .9rem;border-radius:.4rem;border:1px solid #8888;background:#2563eb;color:#fff;font-size:1rem}
button.del{background:none;color:#c33;border:none;padding:0 .5rem;margin-left:.25rem;font-size:.9rem;cursor:pointer}
footer{margin-top:1rem;opacity:.6;font-size:.85rem}
@media (max-width:600px){body{padding:.5rem}th,td{padding:.7rem .3rem;font-size:.95rem}td:nth-child(3){font-size:.8rem}}
</style></head><body>
<h1>Index of {title}</h1>
<p class=dl>Download as <a href="?zip" download>.zip</a> · <a href="?tar" download>.tar</a></p>
{form}
<table id=list><thead><tr><th data-k=0>Name</th><th data-k=1>Size</th><th data-k=2>Modified</th></tr></thead>
<tbody>
{rows}</tbody></table>
<footer>{count} · sockit http serve</footer>
<script>
document.querySelectorAll("th").forEach(function(th){th.onclick=function(){
var k=+th.dataset.k,b=document.querySelector("#list tbody"),asc=th.dataset.asc!=="1";
document.querySelectorAll("th").forEach(function(o){delete o.dataset.asc});th.dataset.asc=asc?"1":"0";
var rows=[].slice.call(b.querySelectorAll("tr:not(.up)"));
rows.sort(function(x,y){var a=x.children[k].dataset.v,c=y.children[k].dataset.v;
var r=k?(+a)-(+c):a.localeCompare(c);return asc?r:-r});
rows.forEach(function(r){b.appendChild(r)})}});
document.querySelectorAll("button.del").forEach(function(btn){btn.onclick=function(){
if(confirm("Delete "+decodeURIComponent(btn.dataset.href)+"?"))
fetch(btn.dataset.href,{method:"DELETE"}).then(function(){location.reload()})}});
</script>
</body></html>
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped() {
        assert_eq!(
            escape_html("<img src=x onerror='a()'>&\""),
            "&lt;img src=x onerror=&#39;a()&#39;&gt;&amp;&quot;"
        );
    }

    #[test]
    fn sizes_for_people() {
        // indicatif's, as the transfer progress bars: binary units, two decimals.
        let size = |n| HumanBytes(n).to_string();
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1536), "1.50 KiB");
        assert_eq!(size(5 << 30), "5.00 GiB");
    }

    #[test]
    fn dates_are_minutes() {
        assert_eq!(date(Some(0)), "1970-01-01 00:00");
        assert_eq!(date(None), "");
    }
}
