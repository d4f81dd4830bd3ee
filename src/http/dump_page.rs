//! The page `http dump` answers a browser with: the request exactly as its bytes
//! arrived, one row per line, each part named as the course names it, with CR and LF
//! shown as `\r` `\n` (as Python's `print(data)` shows them in the lesson).

use std::fmt::Write as _;
use std::net::SocketAddr;

use super::dump::SHOWN;
use super::request::Head;

/// Whether the client prefers HTML to JSON by its `Accept` header (RFC 9110: the most
/// specific range that matches decides, `q` ranks). A browser's Accept puts
/// `text/html` first; curl's `*/*`, no header at all, and ties keep the JSON echo.
pub fn prefers_html(head: &Head) -> bool {
    let ranges: Vec<MediaRange> = head
        .values("accept")
        .flat_map(|v| {
            String::from_utf8_lossy(v)
                .split(',')
                .filter_map(MediaRange::parse)
                .collect::<Vec<_>>()
        })
        .collect();
    quality(&ranges, "text", "html") > quality(&ranges, "application", "json")
}

/// One member of an `Accept` list, lower-cased.
struct MediaRange {
    ty: String,
    sub: String,
    q: f32,
}

impl MediaRange {
    fn parse(member: &str) -> Option<MediaRange> {
        let mut params = member.split(';');
        let (ty, sub) = params.next()?.trim().split_once('/')?;
        let mut q = 1.0;
        for p in params {
            if let Some((name, value)) = p.split_once('=') {
                if name.trim().eq_ignore_ascii_case("q") {
                    // A malformed weight counts as "not acceptable" rather than "best".
                    q = value.trim().parse::<f32>().unwrap_or(0.0).clamp(0.0, 1.0);
                }
            }
        }
        Some(MediaRange {
            ty: ty.trim().to_ascii_lowercase(),
            sub: sub.trim().to_ascii_lowercase(),
            q,
        })
    }
}

/// The weight `ranges` give `ty/sub`: that of the most specific range that matches.
fn quality(ranges: &[MediaRange], ty: &str, sub: &str) -> f32 {
    ranges
        .iter()
        .filter_map(|r| {
            let specific = match (r.ty.as_str(), r.sub.as_str()) {
                (t, s) if t == ty && s == sub => 2,
                (t, "*") if t == ty => 1,
                ("*", "*") => 0,
                _ => return None,
            };
            Some((specific, r.q))
        })
        .max_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)))
        .map_or(0.0, |(_, q)| q)
}

/// The page for one request: `raw` is every byte of it as received (its first
/// `SHOWN` are shown), `head` says where the head ends.
pub fn page(raw: &[u8], head: &Head, peer: SocketAddr) -> String {
    let shown = &raw[..raw.len().min(SHOWN)];
    let (head_bytes, body) = shown.split_at(head.len.min(shown.len()));
    let mut rows = String::new();
    for (i, line) in head_bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        let (class, label) = if i == 0 {
            ("line", "request line · 请求行")
        } else if line == b"\r\n" || line == b"\n" {
            ("blank", "blank line · 空行")
        } else {
            ("header", "header · 请求头")
        };
        row(&mut rows, class, label, line);
    }
    for (i, line) in body.split_inclusive(|&b| b == b'\n').enumerate() {
        row(
            &mut rows,
            "body",
            if i == 0 { "body · 请求体" } else { "" },
            line,
        );
    }
    let mut title = String::new();
    bytes_html(
        &mut title,
        format!("{} {}", head.method, head.target).as_bytes(),
        false,
    );
    let more = if raw.len() > shown.len() {
        format!(
            "<p class=\"more\">… {} more bytes not shown</p>\n",
            raw.len() - shown.len()
        )
    } else {
        String::new()
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · sockit http dump</title><style>{STYLE}</style></head><body>\n\
         <h1>The request as it arrived</h1>\n\
         <p>{bytes} bytes from {peer}, in order and case as sent. \
         <span class=\"eol\">\\r\\n</span> (CR LF) ends each line; the blank line ends the head.</p>\n\
         <table id=\"request\">\n{rows}</table>\n{more}\
         <p class=\"foot\">sockit http dump: curl, or any client that does not prefer \
         <code>text/html</code>, gets this request as JSON.</p>\n</body></html>\n",
        bytes = raw.len(),
    )
}

const STYLE: &str = "body{font:15px/1.4 system-ui,sans-serif;margin:1em;color:#222}\
    table{border-collapse:collapse;width:100%}\
    th{text-align:left;font-weight:normal;color:#777;white-space:nowrap;padding:.15em 1em .15em 0;vertical-align:top;font-size:13px}\
    td{font-family:ui-monospace,monospace;white-space:pre-wrap;word-break:break-all;padding:.15em 0}\
    tr.line td{font-weight:bold}tr.blank th{color:#c0392b}tr.body td{background:#f6f6f6}\
    .eol{color:#c0392b;font-family:ui-monospace,monospace;font-size:12px}\
    .esc{color:#8e44ad;font-family:ui-monospace,monospace}\
    .foot,.more{color:#777;font-size:13px}\
    @media(max-width:600px){th{display:block;padding:0}td{display:block;padding-bottom:.4em}}";

fn row(out: &mut String, class: &str, label: &str, line: &[u8]) {
    let _ = write!(out, "<tr class=\"{class}\"><th>{label}</th><td>");
    bytes_html(out, line, true);
    out.push_str("</td></tr>\n");
}

/// `bytes` as HTML text: escaped for HTML, CR and LF (when `eol`) as visible `\r` `\n`,
/// other control characters, bidirectional overrides and bytes that are not UTF-8 as
/// escapes (`\t`, `\u{1b}`, `\xff`) in their own colour, so that nothing a client sends
/// is taken as markup or reorders the text around it.
fn bytes_html(out: &mut String, bytes: &[u8], eol: bool) {
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\r' if eol => out.push_str("<span class=\"eol\" title=\"CR\">\\r</span>"),
                '\n' if eol => out.push_str("<span class=\"eol\" title=\"LF\">\\n</span>"),
                '\t' => out.push_str("<span class=\"esc\">\\t</span>"),
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&#39;"),
                c if c.is_control()
                    || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
                {
                    let _ = write!(out, "<span class=\"esc\">\\u{{{:x}}}</span>", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "<span class=\"esc\">\\x{b:02x}</span>");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &[u8]) -> Head {
        Head::parse(raw).unwrap().unwrap()
    }

    fn accepts(accept: &str) -> bool {
        prefers_html(&head(
            format!("GET / HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\n\r\n").as_bytes(),
        ))
    }

    #[test]
    fn browsers_get_html_and_everything_else_json() {
        let chromium = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,\
                        image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7";
        assert!(accepts(chromium));
        assert!(accepts("text/html, application/json;q=0.5"));
        assert!(accepts("text/*"));
        assert!(!accepts("*/*"), "curl");
        assert!(!accepts("application/json"));
        assert!(!accepts("text/html, application/json"), "a tie keeps JSON");
        assert!(!accepts("text/html;q=0, */*"));
        assert!(
            !accepts("image/avif,image/webp,*/*;q=0.8"),
            "a browser's favicon request"
        );
        assert!(!prefers_html(&head(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")));
    }

    #[test]
    fn the_page_shows_every_byte_escaped_with_line_ends_visible() {
        let raw = b"POST /a?<b> HTTP/1.1\r\nHost: x\r\nX-MiXeD: \t\"q\"\xff\r\nContent-Length: 6\r\n\r\n\x1b\xfe<i>\n";
        let page = page(raw, &head(raw), "127.0.0.1:5".parse().unwrap());
        assert!(page.contains("<title>POST /a?&lt;b&gt; · sockit"), "{page}");
        assert!(page.contains(
            "<tr class=\"line\"><th>request line · 请求行</th><td>POST /a?&lt;b&gt; HTTP/1.1\
             <span class=\"eol\" title=\"CR\">\\r</span><span class=\"eol\" title=\"LF\">\\n</span></td></tr>"
        ));
        assert!(page.contains(
            "<td>X-MiXeD: <span class=\"esc\">\\t</span>&quot;q&quot;<span class=\"esc\">\\xff</span><span"
        ));
        assert!(page.contains("<tr class=\"blank\"><th>blank line · 空行</th>"));
        assert!(page.contains(
            "<td><span class=\"esc\">\\u{1b}</span><span class=\"esc\">\\xfe</span>&lt;i&gt;<span"
        ));
        assert!(!page.contains("<i>"));
        assert!(page.contains(&format!("{} bytes from 127.0.0.1:5", raw.len())));
    }
}
