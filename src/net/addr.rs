//! Parsing of the command line's ADDR, SIZE and DUR values, and name resolution.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

/// A `host:port` as typed by a person: `8888`, `:8888`, `host:8888`, `[::1]:8888`.
///
/// The host is optional so that each command can choose what a bare port means
/// (every interface for a server, this machine for a client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: Option<String>,
    pub port: u16,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AddrError {
    #[error("empty address")]
    Empty,
    #[error("invalid port {0:?} (expected 0-65535)")]
    BadPort(String),
    #[error("missing port in {0:?} (expected HOST:PORT, or [IPv6]:PORT)")]
    MissingPort(String),
    #[error("unclosed '[' in {0:?} (IPv6 addresses are written [::1]:PORT)")]
    UnclosedBracket(String),
    #[error("{0:?} is not a valid IPv4 address (four numbers from 0 to 255, like 127.0.0.1)")]
    BadIpv4(String),
    #[error("[{0}] is not an IPv6 address (brackets hold one, like [::1]:8888)")]
    BadIpv6(String),
    #[error("{0:?} is not a host name or address (letters, digits, '-', '.' and '_')")]
    BadHost(String),
    #[error(
        "{host}:{port} is ambiguous: an IPv6 address with a port is written in brackets, \
         [{host}]:{port}"
    )]
    Ipv6NeedsBrackets { host: String, port: String },
}

/// A host outside brackets is a name or an IPv4 address: what else could reach the
/// resolver (spaces, control characters, `[`) would only come back as "name or service
/// not known", and would not print back as the same address.
fn check_host(host: &str) -> Result<(), AddrError> {
    let name_byte = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_');
    if host.is_empty() || !host.bytes().all(name_byte) {
        return Err(AddrError::BadHost(host.to_owned()));
    }
    check_dotted(host)
}

/// What brackets hold: an IPv6 address, perhaps with a zone (`fe80::1%eth0`).
fn check_ipv6(host: &str) -> Result<(), AddrError> {
    let (addr, zone) = match host.split_once('%') {
        Some((addr, zone)) => (addr, Some(zone)),
        None => (host, None),
    };
    let zone_ok = zone.is_none_or(|z| {
        !z.is_empty()
            && z.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    if addr.parse::<std::net::Ipv6Addr>().is_err() || !zone_ok {
        return Err(AddrError::BadIpv6(host.to_owned()));
    }
    Ok(())
}

/// A host written like an IPv4 address (digits and dots) must be one: `300.1.1.1` would
/// otherwise go to the resolver and come back as "name or service not known".
fn check_dotted(host: &str) -> Result<(), AddrError> {
    let dotted = host.contains('.') && host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if dotted && host.parse::<std::net::Ipv4Addr>().is_err() {
        return Err(AddrError::BadIpv4(host.to_owned()));
    }
    Ok(())
}

impl FromStr for Endpoint {
    type Err = AddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err(AddrError::Empty);
        }
        let port = |p: &str| {
            p.parse::<u16>()
                .map_err(|_| AddrError::BadPort(p.to_owned()))
        };
        if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| AddrError::UnclosedBracket(s.to_owned()))?;
            let p = after
                .strip_prefix(':')
                .ok_or_else(|| AddrError::MissingPort(s.to_owned()))?;
            check_ipv6(host)?;
            return Ok(Endpoint {
                host: Some(host.to_owned()),
                port: port(p)?,
            });
        }
        match s.rsplit_once(':') {
            // `::1:8888`: an IPv6 address and a port, or one IPv6 address? Brackets decide.
            Some((host, p))
                if host != "::"
                    && host.parse::<std::net::Ipv6Addr>().is_ok()
                    && !p.is_empty()
                    && p.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Err(AddrError::Ipv6NeedsBrackets {
                    host: host.to_owned(),
                    port: p.to_owned(),
                })
            }
            // A bare IPv6 address without brackets has several colons and no port.
            Some((host, _)) if host.contains(':') => Err(AddrError::MissingPort(s.to_owned())),
            Some(("", p)) => Ok(Endpoint {
                host: None,
                port: port(p)?,
            }),
            Some((host, p)) => {
                check_host(host)?;
                Ok(Endpoint {
                    host: Some(host.to_owned()),
                    port: port(p)?,
                })
            }
            None if s.bytes().all(|b| b.is_ascii_digit()) => Ok(Endpoint {
                host: None,
                port: port(s)?,
            }),
            None => {
                check_host(s)?;
                Err(AddrError::MissingPort(s.to_owned()))
            }
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host.as_deref() {
            Some(h) if h.contains(':') => write!(f, "[{h}]:{}", self.port),
            Some(h) => write!(f, "{h}:{}", self.port),
            None => write!(f, ":{}", self.port),
        }
    }
}

impl Endpoint {
    /// The host, or `default_host` when only a port was given.
    pub fn host_or<'a>(&'a self, default_host: &'a str) -> &'a str {
        self.host.as_deref().unwrap_or(default_host)
    }

    /// The literal socket address, when the host is an IP address (no lookup needed).
    pub fn literal(&self, default_host: &str) -> Option<SocketAddr> {
        let ip: IpAddr = self.host_or(default_host).parse().ok()?;
        Some(SocketAddr::new(ip, self.port))
    }

    /// Resolves the host (a name or a literal) to every address it has.
    pub async fn resolve(&self, default_host: &str) -> std::io::Result<Vec<SocketAddr>> {
        if let Some(addr) = self.literal(default_host) {
            return Ok(vec![addr]);
        }
        let host = self.host_or(default_host);
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, self.port)).await?.collect();
        if addrs.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{host} has no address"),
            ));
        }
        Ok(addrs)
    }
}

/// The default host of a server: every IPv4 interface.
pub const ANY_HOST: &str = "0.0.0.0";
/// The default host of a client given only a port: this machine.
pub const LOCAL_HOST: &str = "127.0.0.1";

/// Parses SIZE: `1024`, `64KiB`, `8MiB`, `1.5GB` (clap value parser).
pub fn parse_size(s: &str) -> Result<u64, String> {
    parse_size::Config::new()
        .with_binary()
        .parse_size(s.trim())
        .map_err(|e| format!("{e} (examples: 1024, 64KiB, 8MiB)"))
}

/// Parses DUR: `500ms`, `2s`, `5m`, `1h` (clap value parser). A bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|e| e.to_string());
    }
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 500ms, 2s, 5m)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(host: Option<&str>, port: u16) -> Endpoint {
        Endpoint {
            host: host.map(str::to_owned),
            port,
        }
    }

    #[test]
    fn endpoints_in_every_written_form() {
        assert_eq!("8888".parse(), Ok(ep(None, 8888)));
        assert_eq!(":8888".parse(), Ok(ep(None, 8888)));
        assert_eq!("localhost:80".parse(), Ok(ep(Some("localhost"), 80)));
        assert_eq!("127.0.0.1:0".parse(), Ok(ep(Some("127.0.0.1"), 0)));
        assert_eq!("[::1]:8888".parse(), Ok(ep(Some("::1"), 8888)));
        assert_eq!("[::]:1".parse(), Ok(ep(Some("::"), 1)));
    }

    #[test]
    fn endpoint_errors_name_the_problem() {
        assert_eq!("".parse::<Endpoint>(), Err(AddrError::Empty));
        assert_eq!(
            "host".parse::<Endpoint>(),
            Err(AddrError::MissingPort("host".into()))
        );
        assert_eq!(
            "h:99999".parse::<Endpoint>(),
            Err(AddrError::BadPort("99999".into()))
        );
        assert_eq!(
            "::1".parse::<Endpoint>(),
            Err(AddrError::MissingPort("::1".into()))
        );
        assert!(matches!(
            "[::1:80".parse::<Endpoint>(),
            Err(AddrError::UnclosedBracket(_))
        ));
        assert!(matches!(
            "[::1]".parse::<Endpoint>(),
            Err(AddrError::MissingPort(_))
        ));
    }

    #[test]
    fn issue12_slips_in_addresses_say_how_to_write_them() {
        let e = "::1:8888".parse::<Endpoint>().unwrap_err();
        assert!(
            e.to_string().ends_with("written in brackets, [::1]:8888"),
            "{e}"
        );
        for bad in ["300.1.1.1", "300.1.1.1:80", "1.2.3.4.5:1"] {
            let e = bad.parse::<Endpoint>().unwrap_err();
            assert!(matches!(e, AddrError::BadIpv4(_)), "{bad}: {e}");
            assert!(e.to_string().contains("not a valid IPv4 address"), "{e}");
        }
        assert_eq!("1.2.3.4:5".parse(), Ok(ep(Some("1.2.3.4"), 5)));
    }

    #[test]
    fn endpoint_display_round_trips() {
        for s in [
            "h:1",
            "[::1]:2",
            ":3",
            "[fe80::1%eth0]:4",
            "my_host-2.lan:5",
        ] {
            assert_eq!(s.parse::<Endpoint>().unwrap().to_string(), s);
        }
    }

    /// Issue 15: what brackets hold must be an IPv6 address, and a host a host, or the
    /// endpoint would not print back as itself (`[]:80` printed as `:80`).
    #[test]
    fn brackets_hold_ipv6_and_hosts_are_hosts() {
        for bad in ["[[x]:40", "[]:80", "[x]:1", "[1.2.3.4]:5", "[::1%]:6"] {
            let e = bad.parse::<Endpoint>().unwrap_err();
            assert!(matches!(e, AddrError::BadIpv6(_)), "{bad}: {e}");
        }
        for bad in ["a b:1", "\x01h:2", "h\t:3", "[x:4]:5x", "é:6", "a/b:7"] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad:?}");
        }
        assert_eq!(" h:1 ".parse(), Ok(ep(Some("h"), 1)));
    }

    #[test]
    fn literal_uses_default_host() {
        let e: Endpoint = "9".parse().unwrap();
        assert_eq!(e.literal(LOCAL_HOST), Some("127.0.0.1:9".parse().unwrap()));
        assert_eq!(
            "name:9".parse::<Endpoint>().unwrap().literal(LOCAL_HOST),
            None
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("64KiB"), Ok(64 * 1024));
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert_eq!(parse_size("1k"), Ok(1024));
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1").is_err());
    }
}
