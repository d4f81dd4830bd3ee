//! The `client_hello` event's data (`http dump --tls-client-hello`): a ClientHello's
//! fields in the order sent, with names where they are known, and its JA4.

use std::fmt;

use serde::Serialize;

use super::escape::Escaped;

/// A code from a ClientHello (a cipher suite, an extension) and its name, when known
/// (`GREASE` for RFC 8701's reserved values).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Code {
    /// `0x1301`.
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Code {
    pub fn new(v: u16, name: Option<&str>) -> Code {
        Code {
            code: format!("0x{v:04x}"),
            name: name.map(str::to_owned),
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => f.write_str(n),
            None => f.write_str(&self.code),
        }
    }
}

/// An extension as sent: its code, its name and its length.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExtensionSeen {
    #[serde(flatten)]
    pub code: Code,
    pub length: usize,
}

/// `client_hello`: one connection's ClientHello.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientHelloSeen {
    pub peer: std::net::SocketAddr,
    /// SNI, when sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// ALPN protocols, in order (non-UTF-8 bytes replaced).
    pub alpn: Vec<String>,
    /// The highest version offered, e.g. `TLS 1.3`.
    pub version: String,
    /// `supported_versions` (or the legacy version), in order.
    pub versions: Vec<String>,
    pub cipher_suites: Vec<Code>,
    /// Every extension in the order sent.
    pub extensions: Vec<ExtensionSeen>,
    pub signature_algorithms: Vec<String>,
    pub supported_groups: Vec<String>,
    pub ja4: String,
}

impl fmt::Display for ClientHelloSeen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |items: Vec<String>| items.join(", ");
        // SNI and ALPN are the client's bytes: escaped for the terminal.
        let none = "(none)".to_owned();
        let sni = self.server_name.as_ref().unwrap_or(&none);
        let alpn = if self.alpn.is_empty() {
            none.clone()
        } else {
            self.alpn.join(" ")
        };
        write!(
            f,
            "[{}] ClientHello: {}, SNI {}, ALPN {}",
            self.peer,
            self.version,
            Escaped(sni.as_bytes()),
            Escaped(alpn.as_bytes())
        )?;
        write!(f, "\n  JA4 {}", self.ja4)?;
        write!(f, "\n  versions: {}", self.versions.join(", "))?;
        write!(
            f,
            "\n  cipher suites ({}): {}",
            self.cipher_suites.len(),
            list(self.cipher_suites.iter().map(Code::to_string).collect())
        )?;
        write!(
            f,
            "\n  extensions ({}, in order): {}",
            self.extensions.len(),
            list(self.extensions.iter().map(|e| e.code.to_string()).collect())
        )?;
        write!(
            f,
            "\n  signature algorithms: {}\n  groups: {}",
            self.signature_algorithms.join(", "),
            self.supported_groups.join(", ")
        )
    }
}
