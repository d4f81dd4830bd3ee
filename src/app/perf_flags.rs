//! The flags of `perf` and `perf serve` (clap types), named as iperf3's where iperf3
//! has the option (with its short letters), and their translation into configurations.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::ctx::UsageError;
use crate::net::addr::{parse_duration, parse_size, AddrError, Endpoint};
use crate::perf::{self, multicast, plan, sockopt};

/// `sockit perf HOST[:PORT]` and `sockit perf serve`.
#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Perf {
    #[command(subcommand)]
    pub serve: Option<PerfCommand>,

    #[command(flatten)]
    pub client: PerfClient,
}

#[derive(Debug, Clone, Subcommand)]
pub enum PerfCommand {
    /// Serve perf tests (and iperf3 clients): any number at once.
    #[command(
        after_help = "Examples:\n  sockit perf serve                       # port 5201, like iperf3 -s\n  sockit perf serve --bind 127.0.0.1:0 --one-off\n  sockit perf serve --multicast 239.1.2.3 # also count a multicast sender's datagrams"
    )]
    Serve(PerfServe),
}

#[derive(Debug, Clone, Args)]
pub struct PerfServe {
    /// The address to listen on (TCP, and UDP on the same port).
    #[arg(long, default_value = "0.0.0.0:5201", value_name = "ADDR")]
    pub bind: Endpoint,

    /// Tests served at once; one more is told the server is busy.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub max_clients: usize,

    /// Report every DUR (0: only the end of each test).
    #[arg(short, long, default_value = "1s", value_parser = parse_duration, value_name = "DUR")]
    pub interval: Duration,

    /// Serve one test, then exit (iperf3's -1).
    #[arg(short = '1', long)]
    pub one_off: bool,

    /// Print each test's iperf3 -J document, one line per test, instead of events.
    #[arg(short = 'J', long)]
    pub iperf_json: bool,

    /// Also join this multicast group on the server's port and report what each
    /// `perf --multicast` sender's datagrams did.
    #[arg(long, value_name = "GROUP")]
    pub multicast: Option<Ipv4Addr>,

    /// Join the group on this interface only (default: every up interface).
    #[arg(long, value_name = "NAME", requires = "multicast")]
    pub iface: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct PerfClient {
    /// The server: HOST, HOST:PORT or [v6]:PORT (port 5201 unless given).
    #[arg(
        required_unless_present = "multicast",
        value_parser = parse_target,
        value_name = "HOST[:PORT]"
    )]
    pub target: Option<Endpoint>,

    /// UDP instead of TCP (at 1 Mbit/s per stream unless --bitrate says otherwise).
    #[arg(short, long)]
    pub udp: bool,

    /// How long the test runs.
    #[arg(short, long, default_value = "10s", value_parser = parse_duration, value_name = "DUR")]
    pub time: Duration,

    /// End after SIZE bytes in all instead of after --time.
    #[arg(short = 'n', long, value_parser = parse_size, value_name = "SIZE", conflicts_with = "blocks")]
    pub bytes: Option<u64>,

    /// End after N writes (datagrams) in all instead of after --time.
    #[arg(short = 'k', long, value_name = "N")]
    pub blocks: Option<u64>,

    /// Streams (per direction).
    #[arg(short = 'P', long, default_value_t = 1, value_name = "N")]
    pub parallel: u32,

    /// The server sends, the client receives.
    #[arg(short = 'R', long, conflicts_with = "bidir")]
    pub reverse: bool,

    /// Both send at once (--parallel streams each way).
    #[arg(long)]
    pub bidir: bool,

    /// Report every DUR (0: only the end).
    #[arg(short, long, default_value = "1s", value_parser = parse_duration, value_name = "DUR")]
    pub interval: Duration,

    /// Run the first N seconds without counting them (TCP's slow start, say).
    #[arg(short = 'O', long, default_value_t = 0, value_name = "N")]
    pub omit: u64,

    /// Bytes per write (TCP, default 128KiB), per datagram (UDP, default the path's
    /// MSS) or per request (--latency, default 1).
    #[arg(short, long, value_parser = parse_size, value_name = "SIZE")]
    pub length: Option<u64>,

    /// SO_SNDBUF and SO_RCVBUF of both sides' data sockets (what the kernel gave is
    /// reported).
    #[arg(short, long, value_parser = parse_size, value_name = "SIZE")]
    pub window: Option<u64>,

    /// Pace each stream at RATE bits per second: 100M, 1.5G, 800k (0: as fast as it goes).
    #[arg(short, long, value_parser = parse_bitrate, value_name = "RATE")]
    pub bitrate: Option<u64>,

    /// TCP_NODELAY on the data sockets.
    #[arg(short = 'N', long)]
    pub no_delay: bool,

    /// TCP congestion control of the data sockets (e.g. cubic, bbr, reno).
    #[arg(short = 'C', long, value_name = "ALGO")]
    pub congestion: Option<String>,

    /// TCP maximum segment size of the data sockets.
    #[arg(short = 'M', long, value_name = "BYTES")]
    pub mss: Option<u32>,

    /// IP type of service (DSCP << 2), e.g. 0x10.
    #[arg(short = 'S', long, value_parser = parse_tos, value_name = "TOS")]
    pub tos: Option<u32>,

    /// Send with sendfile() from memory instead of copying each write (TCP).
    #[arg(short = 'Z', long)]
    pub zerocopy: bool,

    /// 64-bit UDP sequence numbers (needed past 4 billion datagrams).
    #[arg(long)]
    pub udp_counters_64bit: bool,

    /// Send 0123456789… instead of random bytes.
    #[arg(long)]
    pub repeating_payload: bool,

    /// Round trips instead of a flow: a request of --length bytes, the answer, again;
    /// prints p50/p90/p99/max (needs `sockit perf serve`).
    #[arg(long, conflicts_with_all = ["reverse", "bidir"])]
    pub latency: bool,

    /// Send UDP to this multicast group (GROUP or GROUP:PORT, port 5201 unless given);
    /// each member (`perf serve --multicast GROUP`) reports what it received.
    #[arg(long, value_parser = parse_group, value_name = "GROUP[:PORT]")]
    pub multicast: Option<SocketAddrV4>,

    /// Multicast hops (IP_MULTICAST_TTL): 1 stays on the local network.
    #[arg(long, default_value_t = 1, requires = "multicast")]
    pub ttl: u32,

    /// Send multicast out of this interface.
    #[arg(long, value_name = "NAME", requires = "multicast")]
    pub iface: Option<String>,

    /// Print iperf3's -J document at the end (and nothing else), for scripts written
    /// against iperf3.
    #[arg(short = 'J', long)]
    pub iperf_json: bool,

    /// Give up connecting, or waiting for an answer of the server, after DUR.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DUR")]
    pub timeout: Duration,
}

/// HOST, HOST:PORT, [v6]:PORT or a bare IPv6 address; the port is 5201 when not given.
pub fn parse_target(s: &str) -> Result<Endpoint, String> {
    match s.parse::<Endpoint>() {
        Ok(ep) => Ok(ep),
        Err(AddrError::MissingPort(host)) => {
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            Ok(Endpoint {
                host: Some(host),
                port: perf::DEFAULT_PORT,
            })
        }
        Err(e) => Err(e.to_string()),
    }
}

/// GROUP or GROUP:PORT (IPv4 multicast).
fn parse_group(s: &str) -> Result<SocketAddrV4, String> {
    let (ip, port) = match s.split_once(':') {
        Some((ip, port)) => (
            ip,
            port.parse::<u16>()
                .map_err(|_| format!("bad port in {s:?}"))?,
        ),
        None => (s, perf::DEFAULT_PORT),
    };
    let ip: Ipv4Addr = ip
        .parse()
        .map_err(|_| format!("{ip:?} is not an IPv4 address"))?;
    if !ip.is_multicast() {
        return Err(format!(
            "{ip} is not a multicast group (224.0.0.0 to 239.255.255.255)"
        ));
    }
    Ok(SocketAddrV4::new(ip, port))
}

/// RATE in bits per second: a number with an optional k, M, G or T (decimal, as
/// iperf3 reads -b) and an optional `bit/s`, `bps` or `b`.
pub fn parse_bitrate(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let t = ["bit/s", "bits/s", "bps", "b"]
        .iter()
        .find_map(|suffix| lower.strip_suffix(suffix))
        .unwrap_or(&lower)
        .trim();
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1e3),
        Some('m') => (&t[..t.len() - 1], 1e6),
        Some('g') => (&t[..t.len() - 1], 1e9),
        Some('t') => (&t[..t.len() - 1], 1e12),
        _ => (t, 1.0),
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v >= 0.0 && (v * mult) < 1e15 => Ok((v * mult).round() as u64),
        _ => Err(format!(
            "{s:?} is not a bitrate (examples: 100M, 1.5G, 800k, 0)"
        )),
    }
}

/// TOS: decimal, 0x hex or 0 octal, 0 to 255.
fn parse_tos(s: &str) -> Result<u32, String> {
    let v = if let Some(hex) = s.strip_prefix("0x") {
        u32::from_str_radix(hex, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        u32::from_str_radix(&s[1..], 8)
    } else {
        s.parse()
    };
    v.ok()
        .filter(|v| *v <= 255)
        .ok_or_else(|| format!("{s:?} is not a TOS value (0 to 255, e.g. 0x10)"))
}

impl PerfServe {
    pub fn config(self) -> Result<perf::ServeConfig, UsageError> {
        if self.max_clients == 0 {
            return Err(UsageError("--max-clients 0 would refuse every test".into()));
        }
        Ok(perf::ServeConfig {
            bind: self.bind,
            max_clients: self.max_clients,
            interval: Some(self.interval).filter(|d| !d.is_zero()),
            iperf_json: self.iperf_json,
            one_off: self.one_off,
            multicast: self.multicast,
            iface: self.iface,
        })
    }
}

impl PerfClient {
    pub fn config(self) -> Result<perf::ClientConfig, UsageError> {
        let usage = |m: String| Err(UsageError(m));
        if !(1..=plan::MAX_PARALLEL).contains(&self.parallel) {
            return usage(format!(
                "--parallel {}: 1 to {}",
                self.parallel,
                plan::MAX_PARALLEL
            ));
        }
        if self.time.is_zero() && self.bytes.is_none() && self.blocks.is_none() {
            return usage(
                "--time 0 would end the test at once; give a duration, --bytes or --blocks".into(),
            );
        }
        if self.time.as_secs() > plan::MAX_TIME || self.omit > plan::MAX_TIME {
            return usage(format!(
                "--time and --omit are at most {} s",
                plan::MAX_TIME
            ));
        }
        if let Some(len) = self.length {
            let (min, max) = match (self.multicast.is_some(), self.udp, self.latency) {
                (true, _, _) => (multicast::MIN_LEN, perf::params::MAX_UDP_LEN),
                (_, true, _) => (perf::params::MIN_UDP_LEN, perf::params::MAX_UDP_LEN),
                (_, false, _) => (1, plan::MAX_TCP_LEN),
            };
            if !(min..=max).contains(&len) {
                return usage(format!("--length {len}: {min} to {max} bytes here"));
            }
        }
        if self.window.is_some_and(|w| w > plan::MAX_WINDOW) {
            return usage(format!("--window is at most {} bytes", plan::MAX_WINDOW));
        }
        if self.multicast.is_some()
            && (self.reverse || self.bidir || self.latency || self.parallel > 1)
        {
            return usage("--multicast sends one stream to the group: no --reverse, --bidir, --latency or --parallel".into());
        }
        Ok(perf::ClientConfig {
            target: self.target.unwrap_or(Endpoint {
                host: None,
                port: perf::DEFAULT_PORT,
            }),
            udp: self.udp || self.multicast.is_some(),
            time: self.time,
            bytes: self.bytes,
            blocks: self.blocks,
            parallel: self.parallel,
            reverse: self.reverse,
            bidir: self.bidir,
            interval: Some(self.interval).filter(|d| !d.is_zero()),
            omit: self.omit,
            length: self.length,
            bitrate: self.bitrate,
            options: sockopt::DataOptions {
                window: self.window,
                nodelay: self.no_delay,
                mss: self.mss,
                congestion: self.congestion,
                tos: self.tos,
            },
            zerocopy: self.zerocopy,
            udp_64bit: self.udp_counters_64bit,
            repeating_payload: self.repeating_payload,
            latency: self.latency,
            multicast: self.multicast.map(|addr| multicast::Group {
                addr,
                ttl: self.ttl,
                iface: self.iface,
            }),
            iperf_json: self.iperf_json,
            timeout: self.timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitrates_read_as_iperf3_reads_them() {
        assert_eq!(parse_bitrate("10M"), Ok(10_000_000));
        assert_eq!(parse_bitrate("1.5G"), Ok(1_500_000_000));
        assert_eq!(parse_bitrate("800k"), Ok(800_000));
        assert_eq!(parse_bitrate("100Mbit/s"), Ok(100_000_000));
        assert_eq!(parse_bitrate("0"), Ok(0));
        assert_eq!(parse_bitrate("12345"), Ok(12345));
        assert!(parse_bitrate("fast").is_err());
        assert!(parse_bitrate("-1M").is_err());
    }

    #[test]
    fn a_target_without_a_port_is_on_5201() {
        let ep = parse_target("example.org").unwrap();
        assert_eq!((ep.host.as_deref(), ep.port), (Some("example.org"), 5201));
        let ep = parse_target("10.0.0.1:9000").unwrap();
        assert_eq!((ep.host.as_deref(), ep.port), (Some("10.0.0.1"), 9000));
        assert_eq!(parse_target("[::1]:7").unwrap().port, 7);
        assert_eq!(parse_target("::1").unwrap().host.as_deref(), Some("::1"));
    }

    #[test]
    fn groups_must_be_multicast() {
        assert_eq!(parse_group("239.1.2.3").unwrap().port(), 5201);
        assert_eq!(parse_group("239.1.2.3:6000").unwrap().port(), 6000);
        assert!(parse_group("10.0.0.1").is_err());
        assert_eq!(parse_tos("0x10"), Ok(16));
        assert_eq!(parse_tos("020"), Ok(16));
        assert!(parse_tos("256").is_err());
    }
}
