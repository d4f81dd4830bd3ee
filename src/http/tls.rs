//! The start of a connection on an HTTPS port (`--tls-cert`, `--tls-self-signed`): the
//! handshake, or a clear answer to a request sent in plain HTTP (browsers and curl
//! otherwise show a garbled error), shared by `http serve` and `http dump`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::request::request_line;
use super::slow::limits;
use crate::net::client_hello::ClientHello;
use crate::net::tls::ServerTls;
use crate::net::tls_stream::{accept, Arrival, MaybeTls};
use crate::output::{Event, Printer};

/// How much of a plain request is read to find its `Host` (for the answer's URL).
const PLAIN_HEAD: usize = 8 * 1024;

/// The connection ready for HTTP: in clear without `tls`, else after the handshake
/// (with the ClientHello when `hello`). `None` when there is nothing to serve: a plain
/// request was answered, or the handshake failed (said as a warning, dropped first
/// when output is slow).
pub async fn open(
    stream: TcpStream,
    tls: Option<&ServerTls>,
    hello: bool,
    peer: SocketAddr,
    out: &Printer,
) -> Option<(MaybeTls, Option<Box<ClientHello>>)> {
    let Some(tls) = tls else {
        return Some((MaybeTls::Plain(stream), None));
    };
    match accept(stream, tls, hello, limits().head).await {
        Arrival::Tls(s, hello) => Some((s, hello)),
        Arrival::Plain(s) => {
            refuse_plain(s, peer, out).await;
            None
        }
        Arrival::Failed(why) => {
            out.offer(&Event::warning(format!("[{peer}] {why}")));
            None
        }
    }
}

/// Answers a plain-HTTP request on the HTTPS port with a 400 that says which URL to use
/// (`https://` and the host the client asked for), and logs it.
async fn refuse_plain(mut stream: TcpStream, peer: SocketAddr, out: &Printer) {
    let started = Instant::now();
    let mut head = vec![0u8; PLAIN_HEAD];
    let n = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut head))
        .await
        .map_or(0, |r| r.unwrap_or(0));
    head.truncate(n);
    let host = host_of(&head).unwrap_or_else(|| {
        stream
            .local_addr()
            .map_or_else(|_| "this-host".to_owned(), |a| a.to_string())
    });
    let (method, path) = request_line(&head);
    let target = if path.starts_with('/') {
        path.clone()
    } else {
        "/".to_owned()
    };
    let body = format!(
        "This port speaks HTTPS: the request came in plain HTTP.\nUse https://{host}{target}\n"
    );
    let reply = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
    out.offer(&Event::Request {
        peer,
        method,
        path,
        status: 400,
        bytes: body.len() as u64,
        duration_ms: super::millis(started.elapsed()),
        user: None,
    });
}

/// The `Host` of a request head, if it is a plausible host (letters, digits, `.-:[]`).
fn host_of(head: &[u8]) -> Option<String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let _ = req.parse(head);
    let host = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("host"))?
        .value;
    let ok = |b: &u8| b.is_ascii_alphanumeric() || b".-:[]".contains(b);
    (!host.is_empty() && host.len() < 256 && host.iter().all(ok))
        .then(|| String::from_utf8_lossy(host).into_owned())
}

/// The `client_hello` event of a ClientHello.
pub fn seen(peer: SocketAddr, h: &ClientHello) -> crate::output::tls::ClientHelloSeen {
    use crate::net::client_hello::{
        cipher_name, extension_name, group_name, is_grease, signature_name, version_name,
    };
    use crate::output::tls::{Code, ExtensionSeen};
    let named =
        |v: u16, name: Option<&str>| Code::new(v, if is_grease(v) { Some("GREASE") } else { name });
    let versions = if h.supported_versions.is_empty() {
        vec![h.legacy_version]
    } else {
        h.supported_versions.clone()
    };
    crate::output::tls::ClientHelloSeen {
        peer,
        server_name: h.server_name.clone(),
        alpn: h
            .alpn
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect(),
        version: version_name(h.version()),
        versions: versions.into_iter().map(version_name).collect(),
        cipher_suites: h
            .cipher_suites
            .iter()
            .map(|&c| named(c, cipher_name(c)))
            .collect(),
        extensions: h
            .extensions
            .iter()
            .map(|e| ExtensionSeen {
                code: named(e.kind, extension_name(e.kind)),
                length: e.data.len(),
            })
            .collect(),
        signature_algorithms: h
            .signature_algorithms
            .iter()
            .map(|&s| named(s, signature_name(s)).to_string())
            .collect(),
        supported_groups: h
            .supported_groups
            .iter()
            .map(|&g| named(g, group_name(g)).to_string())
            .collect(),
        ja4: h.ja4(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_asked_for_is_used_when_plausible() {
        assert_eq!(
            host_of(b"GET / HTTP/1.1\r\nHost: example.org:8443\r\n\r\n").as_deref(),
            Some("example.org:8443")
        );
        assert_eq!(host_of(b"GET / HTTP/1.1\r\nHost: <script>\r\n\r\n"), None);
        assert_eq!(host_of(b"GET / HTTP/1.1\r\n\r\n"), None);
    }
}
