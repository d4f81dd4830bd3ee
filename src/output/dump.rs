//! How `http dump` shows raw request bytes to people: line by line with control
//! characters escaped, or as a hex dump (`--hex`).

use std::fmt::Write as _;
use std::net::SocketAddr;

use crate::output::{escape, Payload};

/// `[peer] N bytes:` and then the request, one line per line received.
pub fn dump(peer: SocketAddr, bytes: usize, payload: &Payload, hex: bool) -> String {
    let raw = payload.raw();
    let mut out = format!("[{peer}] {bytes} bytes received:");
    if hex {
        hex_dump(raw, &mut out);
    } else {
        out.push_str(&lines(raw));
    }
    if raw.len() < bytes {
        let _ = write!(out, "\n… {} more bytes not shown", bytes - raw.len());
    }
    out
}

/// Each CRLF-terminated line as it was, CRLF dropped; anything else (a bare LF, a lone
/// CR, a missing line end) stays visible as an escape such as `\n`.
pub fn lines(raw: &[u8]) -> String {
    let mut out = String::new();
    for line in raw.split_inclusive(|&b| b == b'\n') {
        out.push('\n');
        out.push_str("  ");
        match line.strip_suffix(b"\r\n") {
            Some(body) => out.push_str(&escape(body)),
            None => out.push_str(&escape(line)),
        }
    }
    out
}

/// Sixteen bytes a line: offset, hex, and the printable ASCII.
pub fn hex_dump(raw: &[u8], out: &mut String) {
    for (i, row) in raw.chunks(16).enumerate() {
        let _ = write!(out, "\n  {:08x}  ", i * 16);
        for j in 0..16 {
            match row.get(j) {
                Some(b) => {
                    let _ = write!(out, "{b:02x} ");
                }
                None => out.push_str("   "),
            }
            if j == 7 {
                out.push(' ');
            }
        }
        out.push_str(" |");
        out.extend(row.iter().map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        }));
        out.push('|');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_lines_show_plain_and_oddities_show_escaped() {
        let s = lines(b"GET / HTTP/1.1\r\nHost: x\nX: a\x1b[31m\r\n\r\nbody");
        assert_eq!(
            s,
            "\n  GET / HTTP/1.1\n  Host: x\\n\n  X: a\\u{1b}[31m\n  \n  body"
        );
    }

    #[test]
    fn hex_rows() {
        let mut s = String::new();
        hex_dump(b"GET / HTTP/1.1\r\nH", &mut s);
        assert_eq!(
            s,
            "\n  00000000  47 45 54 20 2f 20 48 54  54 50 2f 31 2e 31 0d 0a  |GET / HTTP/1.1..|\
             \n  00000010  48                                                |H|"
        );
    }
}
