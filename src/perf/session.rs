//! One test on the server (section 11, the server's checklist): parameters, data
//! streams, the test, the results exchange; every step bounded in time, so that no
//! client can hold the server's resources for longer than its test.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::params::{Params, Protocol};
use super::proto::{self, within, Cookie, ProtoError, State};
use super::results::Results;
use super::run::{Reporter, Running};
use super::server::{Accepted, Shared};
use super::stream::{stream_id, Dir, Sock, Stream};
use super::{i_errno, iperf_json, plan, sockopt};
use crate::ctx::Ctx;
use crate::output::perf::{PerfStart, Role};
use crate::output::Event;

/// How long the client may take to send its parameters, to open its data streams (all
/// of them) and to send its results.
pub const PARAMS_TIMEOUT: Duration = Duration::from_secs(10);
pub const STREAMS_TIMEOUT: Duration = Duration::from_secs(10);
pub const RESULTS_TIMEOUT: Duration = Duration::from_secs(10);
/// A test that ends by bytes or blocks (no time) is ended by the server when no data
/// has moved for this long.
pub const STALL_LIMIT: Duration = Duration::from_secs(60);

/// Runs the test whose control connection is `control`; what went wrong is reported,
/// never returned (the server goes on).
pub async fn run(
    mut control: TcpStream,
    peer: SocketAddr,
    cookie: Cookie,
    number: u64,
    shared: &std::sync::Arc<Shared>,
    ctx: &Ctx,
) {
    let mut doc = iperf_json::Doc::default();
    let result = test(&mut control, peer, cookie, number, shared, ctx, &mut doc).await;
    let _ = control.shutdown().await;
    if let Err(e) = result {
        let why = crate::net::sock::error_line(&e);
        if !shared.cfg.iperf_json {
            ctx.out.emit(&Event::warning(format!(
                "#{number} [{peer}] test ended: {why}"
            )));
        }
        doc.error = Some(why);
    }
    if shared.cfg.iperf_json {
        ctx.out.raw_line(doc.render(false));
    }
}

/// How the test ended on the server's side.
enum Ending {
    /// TEST_END: exchange results.
    Normal,
    /// The client went away, was interrupted, or never ended the test.
    Cut(anyhow::Error),
    /// The server is stopping.
    Shutdown,
}

/// A test set up on the server: its parameters and streams, and what it holds of the
/// server (its share of the budget, its cookie in the registry) until it ends.
struct Prepared {
    params: Params,
    streams: Vec<Stream>,
    _budget: super::server::Budget,
    _registered: super::server::Registration,
}

/// Reads the parameters, checks them, and accepts the test's streams (sections 3 and 4),
/// each step bounded in time.
async fn prepare(
    control: &mut TcpStream,
    peer: SocketAddr,
    cookie: Cookie,
    shared: &std::sync::Arc<Shared>,
    ctx: &Ctx,
) -> anyhow::Result<Prepared> {
    proto::write_state(control, State::ParamExchange).await?;
    let params: Params = within("the parameters", PARAMS_TIMEOUT, proto::read_json(control))
        .await
        .context("unable to receive parameters from client")?;
    if let Err(r) = plan::check(&params) {
        proto::write_server_error(control, r.i_errno, 0).await?;
        bail!("refused {}", r.why);
    }
    let udp = params.protocol() == Protocol::Udp;
    if let (true, Some(e)) = (udp, shared.hub.unavailable()) {
        let errno = e.raw_os_error().unwrap_or(0);
        proto::write_server_error(control, i_errno::IESTREAMLISTEN, errno).await?;
        bail!("refused a UDP test: the UDP port could not be bound");
    }
    let (n_recv, n_send) = params.server_streams();
    let total = n_recv + n_send;
    let Some(budget) = shared.budget(total, params.block_len()) else {
        proto::write_server_error(control, i_errno::IEACCESSDENIED, 0).await?;
        bail!("refused {total} streams: the server's streams or buffers are all in use");
    };
    let mut turn = match udp {
        true => Some(
            within("a turn to open UDP streams", STREAMS_TIMEOUT, async {
                Ok(shared.hub.turn(peer.ip()).await)
            })
            .await?,
        ),
        false => None,
    };
    let setup_turn = match udp {
        true => None,
        false => Some(
            within("a turn to open TCP streams", STREAMS_TIMEOUT, async {
                Ok(shared.setup_turn(params.window, params.mss).await?)
            })
            .await?,
        ),
    };
    let (tx, mut rx) = mpsc::channel(total as usize);
    let registered = shared.register(cookie, tx);
    proto::write_state(control, State::CreateStreams).await?;
    let incoming = Incoming {
        tcp: &mut rx,
        udp: turn.as_mut(),
        local: control.local_addr()?.ip(),
        opts: plan::options(&params),
    };
    let streams = tokio::time::timeout(
        STREAMS_TIMEOUT,
        incoming.accept(shared, n_recv as usize, total as usize, ctx),
    )
    .await
    .map_err(|_| anyhow!("not all {total} data streams came within {STREAMS_TIMEOUT:?}"))?
    .context("unable to accept stream connection")?;
    drop(setup_turn);
    proto::write_state(control, State::TestStart).await?;
    proto::write_state(control, State::TestRunning).await?;
    Ok(Prepared {
        params,
        streams,
        _budget: budget,
        _registered: registered,
    })
}

async fn test(
    control: &mut TcpStream,
    peer: SocketAddr,
    cookie: Cookie,
    number: u64,
    shared: &std::sync::Arc<Shared>,
    ctx: &Ctx,
    doc: &mut iperf_json::Doc,
) -> anyhow::Result<()> {
    // A server that stops drops tests still setting up; running ones are told.
    let p = tokio::select! {
        p = prepare(control, peer, cookie, shared, ctx) => p?,
        _ = ctx.shutdown.cancelled() => bail!("the server is shutting down"),
    };
    let params = &p.params;
    let quiet = shared.cfg.iperf_json;
    let info = plan::info(params, &cookie, &p.streams, Some(params.time as f64));
    doc.start = iperf_json::start(&iperf_json::Start {
        role: Role::Server,
        peer,
        params,
        info: &info,
        streams: &p.streams,
        mss: sockopt::mss(&*control),
    });
    if !quiet {
        ctx.out.emit(&Event::PerfStart(Box::new(PerfStart {
            peer,
            role: Role::Server,
            test: Some(number),
            info,
        })));
    }
    let (send, recv, _) = plan::loads(params, false);
    let reporter = Reporter {
        out: ctx.out.clone(),
        peer,
        role: Role::Server,
        test: Some(number),
        bidir: params.bidirectional,
        latency: false,
        udp: params.protocol() == Protocol::Udp,
        quiet,
    };
    let omit = Duration::from_secs(params.omit);
    let every = shared.cfg.interval;
    let streams = p.streams.clone();
    let mut running = Running::start(streams, &send, &recv, omit, every, quiet, reporter)?;
    let ending = wait(control, &running, params, omit, ctx).await;
    running.stop_senders().await;
    let now = Instant::now();
    running.last_interval(now);
    match ending {
        Ending::Normal => {}
        Ending::Shutdown => {
            let _ = proto::write_state(control, State::ServerTerminate).await;
            running.finish().await;
            bail!("the server is shutting down");
        }
        Ending::Cut(e) => {
            running.finish().await;
            return Err(e);
        }
    }
    let at_end = running.totals(now);
    let finished = running.conclude(at_end, now).await;
    proto::write_state(control, State::ExchangeResults).await?;
    let theirs: Results = within(
        "the client's results",
        RESULTS_TIMEOUT,
        proto::read_json(control),
    )
    .await
    .context("unable to receive results")?;
    proto::write_json(control, &finished.results(Some(&theirs))).await?;
    proto::write_state(control, State::DisplayResults).await?;
    // IPERF_DONE, or the end of the connection: either way the test is over.
    let _ = within("IPERF_DONE", RESULTS_TIMEOUT, proto::read_state(control)).await;
    finished.close(&theirs, doc);
    Ok(())
}

/// Where a test's data streams arrive: TCP connections with its cookie, UDP hellos
/// from its client's address.
struct Incoming<'a> {
    tcp: &'a mut mpsc::Receiver<Accepted>,
    udp: Option<&'a mut super::hub::Turn>,
    /// The address the client reached the server at.
    local: std::net::IpAddr,
    opts: sockopt::DataOptions,
}

impl Incoming<'_> {
    /// The streams in their order of arrival: the first `receiving` are the ones the
    /// server receives on (section 4.1).
    async fn accept(
        mut self,
        shared: &Shared,
        receiving: usize,
        total: usize,
        ctx: &Ctx,
    ) -> anyhow::Result<Vec<Stream>> {
        let mut socks = Vec::with_capacity(total);
        match &mut self.udp {
            // The client opens each UDP stream after the last one's answer: in order.
            Some(turn) => {
                for i in 0..total {
                    let hello = turn.hellos.recv().await.ok_or(ProtoError::Closed)?;
                    let receives = i < receiving;
                    socks.push(Sock::Udp(
                        shared
                            .hub
                            .stream_socket(self.local, hello, &self.opts, receives)?,
                    ));
                }
            }
            None => {
                let mut accepted = Vec::with_capacity(total);
                for _ in 0..total {
                    accepted.push(self.tcp.recv().await.ok_or(ProtoError::Closed)?);
                }
                accepted.sort_by_key(|a| a.order);
                for a in accepted {
                    socks.push(Sock::Tcp(tcp_stream(a.stream, &self.opts, ctx)?));
                }
            }
        }
        Ok(socks
            .into_iter()
            .enumerate()
            .map(|(i, sock)| {
                let dir = if i < receiving { Dir::Recv } else { Dir::Send };
                Stream::new(stream_id(i), dir, sock)
            })
            .collect())
    }
}

/// A data connection with the test's cookie, made ready for its thread: the options
/// of the parameters (an unknown congestion control is only a warning, as in iperf3),
/// blocking.
fn tcp_stream(
    s: TcpStream,
    opts: &sockopt::DataOptions,
    ctx: &Ctx,
) -> anyhow::Result<std::net::TcpStream> {
    if let Err(e) = sockopt::apply(&s, opts, true) {
        if e.i_errno != i_errno::IESETCONGESTION {
            return Err(e.into());
        }
        ctx.out.emit(&Event::warning(e.to_string()));
    }
    let s = s.into_std()?;
    s.set_nonblocking(false)?;
    Ok(s)
}

/// Waits for TEST_END; the server ends the test itself when the client is gone, is
/// overdue, or stalls, and when the server is stopping.
async fn wait(
    control: &mut TcpStream,
    running: &Running,
    params: &Params,
    omit: Duration,
    ctx: &Ctx,
) -> Ending {
    let overdue = (params.time > 0)
        .then(|| running.start + omit + Duration::from_secs(params.time) + plan::SERVER_GRACE);
    let mut look = tokio::time::interval(Duration::from_secs(1));
    let (mut moved, mut since) = (running.moved().0, Instant::now());
    loop {
        tokio::select! {
            state = proto::read_state(control) => match state {
                Ok(State::TestEnd) => return Ending::Normal,
                // 3.12 ignores these from a client.
                Ok(State::TestStart | State::IperfDone) => {}
                Ok(State::ClientTerminate) => return Ending::Cut(anyhow!("the client has terminated")),
                Ok(other) => return Ending::Cut(anyhow!("received an unknown control message ({other:?})")),
                Err(ProtoError::BadState(s)) => return Ending::Cut(anyhow!("received an unknown control message ({s})")),
                Err(_) => return Ending::Cut(anyhow!("the client has unexpectedly closed the connection")),
            },
            _ = ctx.shutdown.cancelled() => return Ending::Shutdown,
            _ = look.tick() => {
                if overdue.is_some_and(|at| Instant::now() >= at) {
                    return Ending::Cut(anyhow!("the client never ended the test"));
                }
                let now = running.moved().0;
                if now != moved {
                    (moved, since) = (now, Instant::now());
                } else if overdue.is_none() && since.elapsed() >= STALL_LIMIT {
                    return Ending::Cut(anyhow!("no data moved for {} s", STALL_LIMIT.as_secs()));
                }
            }
        }
    }
}
