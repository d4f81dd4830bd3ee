//! A load generator for `len`-framed TCP servers (`sockit tcp serve --framing len`):
//! round trips per second and their latency with N clients, or N idle clients held
//! while new clients are timed. Loopback only; every run is bounded in count and time.
//!
//! ```sh
//! cargo run --release --example loadgen -- --addr 127.0.0.1:PORT --clients 100 --duration 10s
//! cargo run --release --example loadgen -- --addr 127.0.0.1:PORT --idle 10000 --pid SERVER_PID
//! ```

use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use futures::stream::{self, StreamExt, TryStreamExt};
use hdrhistogram::Histogram;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

/// The most clients one run opens.
const MAX_CLIENTS: usize = 100_000;
/// The largest message sent.
const MAX_SIZE: usize = 1 << 20;
/// The longest run (`--duration`) and hold (`--hold`).
const MAX_TIME: Duration = Duration::from_secs(600);
/// The most new clients timed in `--idle` mode.
const MAX_PROBES: usize = 1000;
/// A reply longer than this is a broken server, not a reply to read.
const MAX_REPLY: usize = 16 << 20;
/// One round trip (or connect) taking longer than this fails the client.
const STEP_LIMIT: Duration = Duration::from_secs(10);
/// Connections opened at once while filling up the idle clients: enough to be quick,
/// few enough not to overflow the server's accept queue.
const CONNECT_PARALLEL: usize = 64;
/// Bytes of the `len` framing's length prefix.
const PREFIX: usize = 4;

#[derive(Debug, Parser)]
#[command(
    about = "Round trips/s and latency of a len-framed TCP echo server, or the cost of idle clients"
)]
struct Args {
    /// The server, on loopback: 127.0.0.1:PORT or [::1]:PORT.
    #[arg(long)]
    addr: SocketAddr,
    /// Clients, each with one message outstanding at a time.
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// How long to measure round trips.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Payload bytes per message (the 4-byte length prefix comes on top).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Instead of round trips: open N connections, leave them idle, and time how fast a
    /// new client connects and gets one reply meanwhile.
    #[arg(long, value_name = "N")]
    idle: Option<usize>,
    /// New clients timed in --idle mode.
    #[arg(long, default_value_t = 20)]
    probes: usize,
    /// In --idle mode, keep the connections this long after reporting, to look at the
    /// server meanwhile (Ctrl-C or SIGTERM end it sooner; 0s: not at all).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    hold: Duration,
    /// In --idle mode, the server's process id: its memory and open files are read from
    /// /proc while the idle clients are held.
    #[arg(long, value_name = "PID")]
    pid: Option<u32>,
    /// Tokio worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    check(&args)?;
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        rt.worker_threads(n);
    }
    let rt = rt.enable_all().build()?;
    let report = rt.block_on(async {
        match args.idle {
            Some(n) => idle(&args, n).await,
            None => round_trips(&args).await,
        }
    })?;
    // A closed stdout (`| head -1`) is not a failure of the run.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", report.human).and_then(|_| writeln!(out, "{}", report.json));
    drop(out);
    if !report.held.is_empty() {
        rt.block_on(hold(args.hold));
    }
    if report.errors > 0 {
        bail!("{} of the clients failed", report.errors);
    }
    Ok(())
}

fn check(args: &Args) -> anyhow::Result<()> {
    // A load generator pointed at someone else's machine is an attack: loopback only.
    if !args.addr.ip().is_loopback() {
        bail!("--addr must be a loopback address, not {}", args.addr);
    }
    let count = args.idle.unwrap_or(args.clients);
    if count == 0 || count > MAX_CLIENTS {
        bail!("clients must be 1 to {MAX_CLIENTS}, not {count}");
    }
    if args.size > MAX_SIZE {
        bail!("--size must be at most {MAX_SIZE} bytes");
    }
    if args.duration > MAX_TIME || args.hold > MAX_TIME || args.duration.is_zero() {
        bail!("--duration must be above zero and, like --hold, at most {MAX_TIME:?}");
    }
    if args.probes == 0 || args.probes > MAX_PROBES {
        bail!("--probes must be 1 to {MAX_PROBES}");
    }
    Ok(())
}

/// What a run prints: one line for people, one JSON object for scripts.
struct Report {
    human: String,
    json: serde_json::Value,
    errors: usize,
    /// The idle connections, kept open until the report is printed and `--hold` passed.
    held: Vec<Client>,
}

/// A connection that sends length-prefixed messages and reads the replies.
struct Client {
    stream: BufReader<TcpStream>,
    reply: Vec<u8>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> io::Result<Client> {
        let stream = timeout(STEP_LIMIT, TcpStream::connect(addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream: BufReader::new(stream),
            reply: Vec::new(),
        })
    }

    /// Sends `frame` (prefix included) and reads one reply into `self.reply`.
    async fn round_trip(&mut self, frame: &[u8]) -> io::Result<()> {
        let exchange = async {
            self.stream.get_mut().write_all(frame).await?;
            let mut prefix = [0; PREFIX];
            self.stream.read_exact(&mut prefix).await?;
            let len = u32::from_be_bytes(prefix) as usize;
            if len > MAX_REPLY {
                return Err(invalid(format!(
                    "reply of {len} bytes: is this len framing?"
                )));
            }
            self.reply.resize(len, 0);
            self.stream.read_exact(&mut self.reply).await?;
            Ok(())
        };
        timeout(STEP_LIMIT, exchange)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no reply within 10 s"))?
    }

    /// Whether the server still holds this connection: nothing to read, and no end.
    fn is_open(&self) -> bool {
        let mut byte = [0];
        matches!(self.stream.get_ref().try_read(&mut byte),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// A `len` frame of `size` bytes of printable text (so a server printing messages
/// shows text, not base64).
fn frame(size: usize) -> Vec<u8> {
    let mut frame = Vec::with_capacity(PREFIX + size);
    frame.extend_from_slice(&(size as u32).to_be_bytes());
    frame.extend((0..size).map(|i| b'a' + (i % 26) as u8));
    frame
}

/// Latencies in microseconds, from 1 µs to a minute, three significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

fn micros(d: Duration) -> u64 {
    d.as_micros().clamp(1, 60_000_000) as u64
}

/// `--clients` connections each send a message, wait for its echo, and go again until
/// `--duration` has passed.
async fn round_trips(args: &Args) -> anyhow::Result<Report> {
    let clients: Vec<Client> = stream::iter(0..args.clients)
        .map(|_| Client::connect(args.addr))
        .buffer_unordered(CONNECT_PARALLEL)
        .try_collect()
        .await
        .with_context(|| format!("connecting to {}", args.addr))?;
    let frame: Arc<[u8]> = frame(args.size).into();
    let start = Instant::now();
    let deadline = start + args.duration;
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|client| tokio::spawn(exchange(client, frame.clone(), deadline)))
        .collect();

    let mut latency = histogram();
    let (mut done, mut errors) = (0u64, 0usize);
    for task in tasks {
        let run = task.await?;
        latency.add(&run.latency)?;
        done += run.latency.len();
        if let Some(e) = run.error {
            if errors == 0 {
                eprintln!("loadgen: a client failed: {e}");
            }
            errors += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let rate = done as f64 / secs;
    let (p50, p99) = (
        latency.value_at_quantile(0.5),
        latency.value_at_quantile(0.99),
    );
    let max = latency.max();
    Ok(Report {
        human: format!(
            "{} clients, {}-byte messages, {secs:.1} s: {rate:.0} round trips/s, \
             p50 {p50} µs, p99 {p99} µs, max {max} µs, {errors} failed",
            args.clients, args.size
        ),
        json: json!({
            "mode": "round_trips", "addr": args.addr.to_string(), "clients": args.clients,
            "size": args.size, "seconds": secs, "round_trips": done, "per_sec": rate,
            "p50_us": p50, "p99_us": p99, "max_us": max, "errors": errors,
        }),
        errors,
        held: Vec::new(),
    })
}

/// One client's share of a round-trip run.
struct Run {
    latency: Histogram<u64>,
    error: Option<io::Error>,
}

async fn exchange(mut client: Client, frame: Arc<[u8]>, deadline: Instant) -> Run {
    let mut latency = histogram();
    while Instant::now() < deadline {
        let sent = Instant::now();
        let error = match client.round_trip(&frame).await {
            Ok(()) if client.reply[..] == frame[PREFIX..] => None,
            Ok(()) => Some(invalid(
                "the reply differs from the message: not an echo".into(),
            )),
            Err(e) => Some(e),
        };
        if error.is_some() {
            return Run { latency, error };
        }
        latency.saturating_record(micros(sent.elapsed()));
    }
    Run {
        latency,
        error: None,
    }
}

/// Opens `n` connections that each make one round trip (so the server has surely
/// accepted them and given each its handler) and then stay silent; then times
/// `--probes` new clients, one after another, from connect to their first reply.
async fn idle(args: &Args, n: usize) -> anyhow::Result<Report> {
    let frame = frame(args.size);
    let start = Instant::now();
    let held: Vec<Client> = stream::iter(0..n)
        .map(|_| async {
            let mut client = Client::connect(args.addr).await?;
            client.round_trip(&frame).await?;
            io::Result::Ok(client)
        })
        .buffer_unordered(CONNECT_PARALLEL)
        .try_collect()
        .await
        .with_context(|| format!("opening idle connections to {}", args.addr))?;
    let fill_secs = start.elapsed().as_secs_f64();

    let mut probes = Vec::with_capacity(args.probes);
    for _ in 0..args.probes {
        let t = Instant::now();
        let mut client = Client::connect(args.addr).await?;
        client.round_trip(&frame).await?;
        probes.push(micros(t.elapsed()));
    }
    probes.sort_unstable();
    let (median, max) = (probes[probes.len() / 2], probes[probes.len() - 1]);
    let open = held.iter().filter(|c| c.is_open()).count();
    let server = args.pid.map(ServerUsage::read).transpose()?;

    let mut human = format!(
        "{open} of {n} idle connections held (opened in {fill_secs:.1} s); \
         a new client was answered in {median} µs median, {max} µs max ({} probes)",
        args.probes
    );
    let mut json = json!({
        "mode": "idle", "addr": args.addr.to_string(), "idle": n, "open": open,
        "fill_seconds": fill_secs, "probes": args.probes,
        "median_us": median, "max_us": max,
    });
    if let Some(s) = server {
        human += &format!(
            "; server: VmRSS {:.1} MiB, VmHWM {:.1} MiB, {} open files",
            mib(s.rss_kib),
            mib(s.hwm_kib),
            s.fds
        );
        json["server_rss_kib"] = s.rss_kib.into();
        json["server_hwm_kib"] = s.hwm_kib.into();
        json["server_fds"] = s.fds.into();
    }
    Ok(Report {
        human,
        json,
        errors: n - open,
        held,
    })
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Waits `limit`, or less if Ctrl-C or SIGTERM comes first.
async fn hold(limit: Duration) {
    if limit.is_zero() {
        return;
    }
    eprintln!("loadgen: holding the connections for {limit:?} (Ctrl-C to stop)");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::time::sleep(limit) => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// A server's memory and open files, from /proc.
struct ServerUsage {
    rss_kib: u64,
    hwm_kib: u64,
    fds: usize,
}

impl ServerUsage {
    fn read(pid: u32) -> anyhow::Result<ServerUsage> {
        let path = format!("/proc/{pid}/status");
        let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let field = |name: &str| -> anyhow::Result<u64> {
            status
                .lines()
                .find_map(|l| {
                    l.strip_prefix(name)?
                        .trim()
                        .strip_suffix("kB")?
                        .trim()
                        .parse()
                        .ok()
                })
                .with_context(|| format!("{path} has no {name}"))
        };
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))?.count();
        Ok(ServerUsage {
            rss_kib: field("VmRSS:")?,
            hwm_kib: field("VmHWM:")?,
            fds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// An echo server for `len` framing, for the tests only.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut prefix = [0; PREFIX];
                    while s.read_exact(&mut prefix).await.is_ok() {
                        let mut msg = vec![0; u32::from_be_bytes(prefix) as usize];
                        s.read_exact(&mut msg).await.unwrap();
                        s.write_all(&prefix).await.unwrap();
                        s.write_all(&msg).await.unwrap();
                    }
                });
            }
        });
        addr
    }

    fn args(addr: SocketAddr, extra: &[&str]) -> Args {
        let addr = addr.to_string();
        let mut argv = vec!["loadgen", "--addr", &addr];
        argv.extend_from_slice(extra);
        Args::parse_from(argv)
    }

    #[test]
    fn a_frame_is_a_big_endian_length_then_the_payload() {
        assert_eq!(frame(3), b"\0\0\0\x03abc");
        assert_eq!(frame(0), b"\0\0\0\0");
    }

    #[test]
    fn only_loopback_and_bounded_runs_are_accepted() {
        let remote = args("127.0.0.1:1".parse().unwrap(), &[]);
        assert!(check(&remote).is_ok());
        let remote = args("10.0.0.1:1".parse().unwrap(), &[]);
        assert!(check(&remote).is_err());
        let lo = "127.0.0.1:1".parse().unwrap();
        assert!(check(&args(lo, &["--clients", "0"])).is_err());
        assert!(check(&args(lo, &["--idle", "1000000"])).is_err());
        assert!(check(&args(lo, &["--duration", "1h"])).is_err());
        assert!(check(&args(lo, &["--size", "2000000"])).is_err());
    }

    #[tokio::test]
    async fn counts_round_trips_against_an_echo_server() {
        let addr = echo_server().await;
        let r = round_trips(&args(addr, &["--clients", "3", "--duration", "200ms"]))
            .await
            .unwrap();
        assert_eq!(r.errors, 0);
        assert!(r.json["round_trips"].as_u64().unwrap() > 10, "{}", r.human);
        assert!(r.json["p99_us"].as_u64().unwrap() >= r.json["p50_us"].as_u64().unwrap());
    }

    #[tokio::test]
    async fn a_server_that_is_not_an_echo_fails_the_clients() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let _ = s.write_all(b"\0\0\0\x02no").await;
            }
        });
        let r = round_trips(&args(addr, &["--clients", "2", "--duration", "200ms"]))
            .await
            .unwrap();
        assert_eq!(r.errors, 2);
    }

    #[tokio::test]
    async fn idle_mode_holds_clients_and_reports_the_server() {
        let addr = echo_server().await;
        let me = std::process::id().to_string();
        let a = args(
            addr,
            &[
                "--idle", "50", "--probes", "5", "--hold", "0s", "--pid", &me,
            ],
        );
        let r = idle(&a, 50).await.unwrap();
        assert_eq!(r.errors, 0, "{}", r.human);
        assert_eq!(r.json["open"], 50);
        assert!(r.json["server_rss_kib"].as_u64().unwrap() > 0);
        // Our own process holds both ends of every connection.
        assert!(r.json["server_fds"].as_u64().unwrap() >= 100);
    }
}
