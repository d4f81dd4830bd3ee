//! `http serve --qr`: under `listening`, the URL a phone on the LAN opens, as a QR code
//! and as text, with the machine's other addresses.

use std::net::SocketAddr;

use crate::net::lan;
use crate::output::{qr, Event, Printer};

/// The other addresses listed under the code; more are summed up as `…`.
const MORE_SHOWN: usize = 3;

/// Shows the QR code of the server's first LAN URL (`local` is the bound address). A
/// server bound to loopback gets its code all the same, under a warning that no phone
/// can open it: the person then knows what to change, and the code still works on
/// this machine (a screenshot, a test).
pub fn show(local: SocketAddr, https: bool, out: &Printer) {
    if !out.is_live() {
        return;
    }
    let addrs = lan::reachable(local);
    if let Some(why) = lan::loopback_only(local, addrs[0]) {
        out.emit(&Event::warning(format!("--qr: {why}")));
    }
    let scheme = if https { "https" } else { "http" };
    let urls: Vec<String> = addrs.into_iter().map(|a| url(scheme, a)).collect();
    qr::show(out, &urls[0], &under(&urls));
}

/// `addr` as a URL: IPv6 in brackets, its zone (`%eth0` as a number) escaped as URLs
/// ask (RFC 6874).
fn url(scheme: &str, addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V6(v6) if v6.scope_id() != 0 => {
            format!(
                "{scheme}://[{}%25{}]:{}/",
                v6.ip(),
                v6.scope_id(),
                v6.port()
            )
        }
        _ => format!("{scheme}://{addr}/"),
    }
}

/// The lines under the code: the URL it holds, then the others.
fn under(urls: &[String]) -> Vec<String> {
    let mut lines = vec![format!("  {}", urls[0])];
    let others = &urls[1..];
    if !others.is_empty() {
        let mut also = others[..others.len().min(MORE_SHOWN)].join(", ");
        if others.len() > MORE_SHOWN {
            also.push_str(", …");
        }
        lines.push(format!("  (also {also})"));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue18_urls_name_v4_v6_and_zones_as_browsers_read_them() {
        assert_eq!(
            url("http", "192.168.1.20:8000".parse().unwrap()),
            "http://192.168.1.20:8000/"
        );
        assert_eq!(
            url("http", "[::1]:8000".parse().unwrap()),
            "http://[::1]:8000/"
        );
        assert_eq!(
            url("http", "[fe80::1%2]:8000".parse().unwrap()),
            "http://[fe80::1%252]:8000/"
        );
    }

    #[test]
    fn issue18_under_the_code_its_url_then_at_most_three_others() {
        let urls: Vec<String> = (1..=6).map(|i| format!("http://10.0.0.{i}:80/")).collect();
        assert_eq!(under(&urls[..1]), ["  http://10.0.0.1:80/"]);
        assert_eq!(
            under(&urls),
            [
                "  http://10.0.0.1:80/",
                "  (also http://10.0.0.2:80/, http://10.0.0.3:80/, http://10.0.0.4:80/, …)"
            ]
        );
    }
}
