//! `sockit perf HOST[:PORT]`: the client's side of a test (section 11's checklist),
//! against `sockit perf serve` or a stock `iperf3 -s`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::params::{Params, Protocol, MAX_UDP_LEN};
use super::proto::{self, within, ProtoError};
use super::results::Results;
use super::run::{Reporter, Running};
use super::stream::{stream_id, Dir, Sock, Stream};
use super::{i_errno, iperf_json, plan, sockopt, udp, ClientConfig, Cookie, State};
use crate::ctx::{Ctx, Interrupted};
use crate::net::addr::LOCAL_HOST;
use crate::net::sock::tcp_connect;
use crate::output::perf::{PerfStart, Role};
use crate::output::Event;

/// How long the client waits for each answer of the server outside the test itself.
const STEP: Duration = Duration::from_secs(10);
/// How long a UDP stream's hello waits for its answer (iperf3 waits 30 s).
const HELLO_WAIT: Duration = Duration::from_secs(10);
/// `--latency`: how long the first answer may take before the server is taken for one
/// that does not answer (iperf3's servers only count what they read).
const FIRST_ANSWER: Duration = Duration::from_secs(3);
/// How often the client looks at its streams while the test runs.
const LOOK: Duration = Duration::from_millis(100);

/// Runs one test against the server `cfg.target`.
pub async fn run(cfg: ClientConfig, ctx: Ctx) -> anyhow::Result<()> {
    let mut doc = iperf_json::Doc::default();
    let result = test(&cfg, &ctx, &mut doc).await;
    if cfg.iperf_json {
        if let Err(e) = &result {
            doc.error = Some(crate::net::sock::error_line(e));
        }
        ctx.out.raw_line(doc.render(true));
    }
    result
}

/// A test set up: the control connection, the parameters sent, the streams open and
/// TEST_RUNNING read.
struct Prepared {
    control: TcpStream,
    server: SocketAddr,
    params: Params,
    cookie: Cookie,
    streams: Vec<Stream>,
    /// The control connection's MSS.
    mss: Option<u32>,
}

/// Connects and sets the test up (sections 2 to 4), each step bounded in time.
async fn prepare(cfg: &ClientConfig, ctx: &Ctx) -> anyhow::Result<Prepared> {
    let addrs = cfg.target.resolve(LOCAL_HOST).await?;
    let mut control = tcp_connect(&addrs, cfg.timeout).await?;
    let server = control.peer_addr()?;
    if !cfg.iperf_json {
        let local = control.local_addr()?;
        ctx.out.emit(&Event::Connected {
            peer: server,
            local,
        });
    }
    let cookie = Cookie::generate();
    proto::write_cookie(&mut control, &cookie).await?;
    expect(
        &mut control,
        State::ParamExchange,
        "an answer to the cookie",
    )
    .await?;
    let mss = sockopt::mss(&control);
    let params = cfg.params(mss);
    proto::write_json(&mut control, &params).await?;
    expect(
        &mut control,
        State::CreateStreams,
        "an answer to the parameters",
    )
    .await?;
    let streams = open_streams(cfg, &params, server, &cookie)
        .await
        .context("open the data streams")?;
    expect(&mut control, State::TestStart, "the start of the test").await?;
    expect(&mut control, State::TestRunning, "the start of the test").await?;
    Ok(Prepared {
        control,
        server,
        params,
        cookie,
        streams,
        mss,
    })
}

async fn test(cfg: &ClientConfig, ctx: &Ctx, doc: &mut iperf_json::Doc) -> anyhow::Result<()> {
    // Ctrl-C while setting up ends at once; once data flows the server is told.
    let p = tokio::select! {
        p = prepare(cfg, ctx) => p?,
        _ = ctx.shutdown.cancelled() => {
            return Err(Interrupted("before the test started".into()).into());
        }
    };
    let Prepared {
        mut control,
        server,
        params,
        ..
    } = p;
    let quiet = cfg.iperf_json;
    let info = plan::info(&params, &p.cookie, &p.streams, Some(cfg.time.as_secs_f64()));
    doc.start = iperf_json::start(&iperf_json::Start {
        role: Role::Client,
        peer: server,
        params: &params,
        info: &info,
        streams: &p.streams,
        mss: p.mss,
    });
    if !quiet {
        ctx.out.emit(&Event::PerfStart(Box::new(PerfStart {
            peer: server,
            role: Role::Client,
            test: None,
            info,
        })));
    }
    let (send, recv, limit) = plan::loads(&params, true);
    let reporter = Reporter {
        out: ctx.out.clone(),
        peer: server,
        role: Role::Client,
        test: None,
        bidir: params.bidirectional,
        latency: params.sockit_latency,
        udp: params.protocol() == Protocol::Udp,
        quiet,
    };
    let omit = Duration::from_secs(params.omit);
    let mut running = Running::start(p.streams, &send, &recv, omit, cfg.interval, quiet, reporter)?;
    let why = wait_end(cfg, &mut control, &running, limit.as_deref(), omit, ctx).await;
    running.stop_senders().await;
    let now = Instant::now();
    running.last_interval(now);
    let at_end = running.totals(now);
    match why {
        Why::Done => {}
        Why::Interrupted => {
            let _ = proto::write_state(&mut control, State::ClientTerminate).await;
            let _ = control.shutdown().await;
            let ran = now.duration_since(running.start).as_secs_f64();
            running.finish().await;
            let moved: u64 = at_end.iter().map(|t| t.bytes).sum();
            let verb = if params.reverse { "received" } else { "moved" };
            return Err(Interrupted(format!(
                "the test was cut short after {ran:.1} s, {} {verb} ({}); no results were \
                 exchanged",
                crate::output::perf_table::Bytes(moved),
                crate::output::perf_table::Rate(super::meter::rate(moved, ran)),
            ))
            .into());
        }
        Why::Ended(e) => {
            let _ = proto::write_state(&mut control, State::IperfDone).await;
            running.finish().await;
            return Err(e);
        }
    }
    proto::write_state(&mut control, State::TestEnd).await?;
    // Receivers keep reading until the server answers, so that a server blocked on a
    // full socket gets to read TEST_END (section 5).
    expect(&mut control, State::ExchangeResults, "the results exchange").await?;
    let finished = running.conclude(at_end, now).await;
    proto::write_json(&mut control, &finished.results(None)).await?;
    let theirs: Results = within("the server's results", STEP, proto::read_json(&mut control))
        .await
        .context("read the server's results")?;
    expect(&mut control, State::DisplayResults, "the end of the test").await?;
    finished.close(&theirs, doc);
    proto::write_state(&mut control, State::IperfDone).await?;
    let _ = control.shutdown().await;
    if let Some((id, why)) = finished.failure {
        bail!("stream {id} stopped early: {why}");
    }
    if params.sockit_latency && finished.totals.iter().all(|t| t.blocks == 0) {
        bail!("{}", NO_ANSWERS);
    }
    Ok(())
}

const NO_ANSWERS: &str = "no round trip came back: --latency needs `sockit perf serve` \
     (an iperf3 server reads what it is sent and answers nothing)";

/// Why the test stopped, seen from the client.
enum Why {
    /// The time, the byte count or a stream's failure: end normally.
    Done,
    Interrupted,
    /// The server ended it, or the control connection broke.
    Ended(anyhow::Error),
}

async fn wait_end(
    cfg: &ClientConfig,
    control: &mut TcpStream,
    running: &Running,
    limit: Option<&super::stream::Limit>,
    omit: Duration,
    ctx: &Ctx,
) -> Why {
    let timed = limit.is_none();
    let deadline = tokio::time::Instant::from_std(running.start + omit + cfg.time);
    let reached = async {
        match limit {
            Some(l) => l.reached.notified().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(reached);
    let mut look = tokio::time::interval(LOOK);
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline), if timed => return Why::Done,
            _ = &mut reached => return Why::Done,
            _ = ctx.shutdown.cancelled() => return Why::Interrupted,
            state = proto::read_state(control) => return Why::Ended(match state {
                Ok(State::ServerTerminate) => anyhow!("the server has terminated the test"),
                Ok(other) => anyhow!("the server sent {other:?} during the test"),
                Err(ProtoError::Closed) => anyhow!("the server closed the control connection"),
                Err(e) => anyhow::Error::from(e).context("the control connection"),
            }),
            _ = look.tick() => {
                if running.failure().is_some() || running.threads_done() {
                    return Why::Done;
                }
                let waited = running.start.elapsed();
                if cfg.latency && waited >= FIRST_ANSWER.min(cfg.time) && running.moved().1 == 0 {
                    return Why::Ended(anyhow!("{}", NO_ANSWERS));
                }
            }
        }
    }
}

/// Reads the next state and insists it is `want`; SERVER_ERROR and ACCESS_DENIED
/// become the error iperf3 would print.
async fn expect(control: &mut TcpStream, want: State, what: &'static str) -> anyhow::Result<()> {
    let state = within(what, STEP, proto::read_state(control)).await;
    match state {
        Ok(s) if s == want => Ok(()),
        Ok(State::AccessDenied) => bail!("the server is busy running a test; try again later"),
        Ok(State::ServerError) => {
            let (code, errno) = proto::read_server_error(control).await?;
            let msg = i_errno::message(code)
                .map(str::to_owned)
                .unwrap_or_else(|| format!("iperf3 error {code}"));
            match errno.filter(|e| *e != 0) {
                Some(errno) => bail!(
                    "the server refused the test: {msg}: {}",
                    crate::net::sock::describe(&std::io::Error::from_raw_os_error(errno))
                ),
                None => bail!("the server refused the test: {msg}"),
            }
        }
        Ok(State::ServerTerminate) => bail!("the server has terminated"),
        Ok(other) => bail!("expected {want:?} from the server, got {other:?}"),
        Err(ProtoError::Closed) => {
            bail!("the server closed the connection (waiting for {what}): is it an iperf3 server?")
        }
        Err(e) => Err(e.into()),
    }
}

/// Opens the sending streams, then the receiving ones (section 4.1).
async fn open_streams(
    cfg: &ClientConfig,
    params: &Params,
    server: SocketAddr,
    cookie: &Cookie,
) -> anyhow::Result<Vec<Stream>> {
    let n = params.parallel as usize;
    let (sending, receiving) = match (params.bidirectional, params.reverse) {
        (true, _) => (n, n),
        (false, true) => (0, n),
        (false, false) => (n, 0),
    };
    let mut opts = cfg.options.clone();
    opts.nodelay |= params.sockit_latency;
    let mut streams = Vec::with_capacity(sending + receiving);
    for i in 0..sending + receiving {
        let dir = if i < sending { Dir::Send } else { Dir::Recv };
        let sock = match params.protocol() {
            Protocol::Udp => Sock::Udp(udp_stream(server, &opts, dir).await?),
            _ => Sock::Tcp(tcp_stream(server, &opts, cookie, cfg.timeout).await?),
        };
        streams.push(Stream::new(stream_id(i), dir, sock));
    }
    Ok(streams)
}

async fn tcp_stream(
    server: SocketAddr,
    opts: &sockopt::DataOptions,
    cookie: &Cookie,
    timeout: Duration,
) -> anyhow::Result<std::net::TcpStream> {
    let socket = match server {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    sockopt::apply(&socket, opts, true)?;
    let mut stream = tokio::time::timeout(timeout, socket.connect(server))
        .await
        .map_err(|_| anyhow!("connect to {server}: timed out"))?
        .with_context(|| format!("connect to {server}"))?;
    proto::write_cookie(&mut stream, cookie).await?;
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// A UDP stream: connect, say hello, wait for the answer (section 4.3).
async fn udp_stream(
    server: SocketAddr,
    opts: &sockopt::DataOptions,
    dir: Dir,
) -> anyhow::Result<std::net::UdpSocket> {
    let any: SocketAddr = match server {
        SocketAddr::V4(_) => "0.0.0.0:0".parse()?,
        SocketAddr::V6(_) => "[::]:0".parse()?,
    };
    let socket = tokio::net::UdpSocket::bind(any).await?;
    sockopt::apply(&socket, opts, false)?;
    if dir == Dir::Recv && opts.window.is_none() {
        sockopt::widen_udp_receive(&socket);
    }
    socket.connect(server).await?;
    socket.send(&udp::HELLO).await?;
    let mut buf = vec![0u8; MAX_UDP_LEN as usize];
    let mut skipped = 0;
    loop {
        let n = tokio::time::timeout(HELLO_WAIT, socket.recv(&mut buf))
            .await
            .map_err(|_| {
                anyhow!("no answer to the UDP stream's hello from {server} within {HELLO_WAIT:?}")
            })?
            .map_err(|e| {
                anyhow!(
                    "UDP stream to {server}: {} (does the server listen on UDP?)",
                    crate::net::sock::describe(&e)
                )
            })?;
        if udp::is_reply(&buf[..n]) {
            break;
        }
        skipped += 1;
        if n == 4 || skipped > udp::REPLY_SKIP {
            bail!("the server answered the UDP stream's hello with {n} unexpected bytes");
        }
    }
    let socket = socket.into_std()?;
    socket.set_nonblocking(false)?;
    Ok(socket)
}
