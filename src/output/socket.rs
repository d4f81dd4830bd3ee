//! `SocketInfo`, a socket's attributes as the notes' section 七 shows them: the data of
//! the `socket` event (read by `net::sock`'s `SocketInfo::of`).

use std::fmt;
use std::net::SocketAddr;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

/// One option's current value, as `getsockopt` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptValue {
    Flag(bool),
    Int(u64),
}

impl Serialize for OptValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            OptValue::Flag(b) => s.serialize_bool(*b),
            OptValue::Int(n) => s.serialize_u64(*n),
        }
    }
}

impl fmt::Display for OptValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptValue::Flag(b) => write!(f, "{}", u8::from(*b)),
            OptValue::Int(n) => write!(f, "{n}"),
        }
    }
}

/// Options in the order they were read, serialized as one JSON object keyed by the
/// usual C names (`SO_REUSEADDR`, `TCP_NODELAY`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options(pub Vec<(&'static str, OptValue)>);

impl Serialize for Options {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// What Python's `s.family`, `s.type`, `getsockname()`, `getpeername()`, `fileno()` and
/// `getsockopt()` tell about a socket.
#[derive(Debug, Clone, Serialize)]
pub struct SocketInfo {
    pub family: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub fd: i32,
    pub local: Option<SocketAddr>,
    pub peer: Option<SocketAddr>,
    pub options: Options,
}

impl SocketInfo {
    /// The value of one option, by its C name.
    pub fn option(&self, name: &str) -> Option<&OptValue> {
        self.options
            .0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }
}

impl fmt::Display for SocketInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let addr = |a: Option<SocketAddr>| a.map_or_else(|| "-".to_owned(), |a| a.to_string());
        write!(
            f,
            "socket fd {}: {} {} local {} peer {}",
            self.fd,
            self.family,
            self.kind,
            addr(self.local),
            addr(self.peer)
        )?;
        for (name, value) in &self.options.0 {
            write!(f, " {name}={value}")?;
        }
        Ok(())
    }
}
