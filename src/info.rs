//! `info`: creates a socket as sockit's own commands do, connects or binds it, and shows
//! what the notes' section 七 reads from one (family, type, addresses, fd, options).

use std::net::SocketAddr;

use crate::ctx::Ctx;
use crate::net::addr::{Endpoint, ANY_HOST, LOCAL_HOST};
use crate::net::dgram::{self, UdpOptions};
use crate::net::sock::{self, describe, SocketInfo};
use crate::output::Event;

/// What `info` is asked to do.
#[derive(Debug, Clone)]
pub struct InfoConfig {
    /// A UDP socket instead of TCP.
    pub udp: bool,
    /// Bind `addr` instead of connecting to it.
    pub listen: bool,
    pub addr: Endpoint,
    /// How long connecting may take.
    pub timeout: std::time::Duration,
}

/// `sockit info`: one `socket` event with `--json`, a table for people.
pub async fn run(args: InfoConfig, ctx: Ctx) -> anyhow::Result<()> {
    let default_host = if args.listen { ANY_HOST } else { LOCAL_HOST };
    let addrs = args
        .addr
        .resolve(default_host)
        .await
        .map_err(|e| anyhow::anyhow!("resolve {}: {}", args.addr, describe(&e)))?;
    let info = match (args.udp, args.listen) {
        (false, false) => SocketInfo::of(&sock::tcp_connect(&addrs, args.timeout).await?),
        (false, true) => SocketInfo::of(&sock::tcp_listener(addrs[0])?),
        (true, false) => SocketInfo::of(&dgram::udp_connect(addrs[0], UdpOptions::default())?),
        (true, true) => SocketInfo::of(&dgram::udp_bind(addrs[0], UdpOptions::default())?),
    };
    if ctx.out.is_json() {
        ctx.out.emit(&Event::Socket(info));
    } else {
        for line in table(&info) {
            ctx.out.raw_line(line);
        }
    }
    Ok(())
}

/// The socket as a table for people: attributes, then each option with its meaning.
pub fn table(info: &SocketInfo) -> Vec<String> {
    let addr = |a: Option<SocketAddr>| a.map_or_else(|| "-".to_owned(), |a| a.to_string());
    let kind = match info.kind {
        "SOCK_STREAM" => "SOCK_STREAM (TCP)",
        _ => "SOCK_DGRAM (UDP)",
    };
    let family = match info.family {
        "AF_INET6" => "AF_INET6 (IPv6)",
        _ => "AF_INET (IPv4)",
    };
    let mut lines = vec![
        format!("family  {family}"),
        format!("type    {kind}"),
        format!("local   {}", addr(info.local)),
        format!("peer    {}", addr(info.peer)),
        format!("fd      {}", info.fd),
        "options".to_owned(),
    ];
    let width = info
        .options
        .0
        .iter()
        .map(|(n, _)| n.len())
        .max()
        .unwrap_or(0);
    let value_width = info
        .options
        .0
        .iter()
        .map(|(_, v)| v.to_string().len())
        .max()
        .unwrap_or(0);
    for (name, value) in &info.options.0 {
        let value = value.to_string();
        lines.push(format!(
            "  {name:width$}  {value:>value_width$}  {}",
            meaning(name)
        ));
    }
    lines
}

/// What an option means, in a few words.
fn meaning(name: &str) -> &'static str {
    match name {
        "SO_REUSEADDR" => "bind the port again at once (old connections in TIME_WAIT)",
        "SO_REUSEPORT" => "several sockets may bind the same port",
        "SO_BROADCAST" => "may send to broadcast addresses",
        "SO_KEEPALIVE" => "probe a connection that has been idle for long",
        "TCP_NODELAY" => "Nagle's algorithm off: small writes leave at once",
        "SO_RCVBUF" => "kernel receive buffer, bytes",
        "SO_SNDBUF" => "kernel send buffer, bytes",
        "IP_TTL" | "IPV6_UNICAST_HOPS" => "routers a packet may cross",
        "TCP_INFO.rtt_us" => "smoothed round-trip time, microseconds",
        "TCP_INFO.snd_cwnd" => "congestion window, segments",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn table_lists_attributes_and_every_option() {
        let s = dgram::udp_connect("127.0.0.1:9".parse().unwrap(), UdpOptions::default()).unwrap();
        let lines = table(&SocketInfo::of(&s));
        assert_eq!(lines[0], "family  AF_INET (IPv4)");
        assert_eq!(lines[1], "type    SOCK_DGRAM (UDP)");
        assert_eq!(lines[3], "peer    127.0.0.1:9");
        for name in ["SO_REUSEADDR", "SO_BROADCAST", "SO_RCVBUF", "IP_TTL"] {
            assert!(
                lines.iter().any(|l| l.trim_start().starts_with(name)),
                "{name} missing: {lines:#?}"
            );
        }
    }
}
