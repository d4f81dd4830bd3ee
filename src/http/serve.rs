//! `http serve`: hyper serves the connections; this module routes methods after `auth`
//! has let the request through, and `file`, `listing`, `archive`, `upload` and
//! `safepath` do the rest.

use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::{Body as _, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::auth::{Access, AuthConfig, Gate};
use super::request::request_line;
pub use super::response::{empty, full, text, typed, with_header, Body, Failure};
use super::safepath::{PathError, Root};
use super::sendfile::{self, Files, Stream};
use super::slow::{limits, Slot};
use super::{archive, file, listing, range_request, upload, whole};
use crate::ctx::{Ctx, UsageError};
use crate::net::addr::Endpoint;
use crate::net::shutdown::DRAIN_TIMEOUT;
use crate::net::sock::describe;
use crate::net::tls::{Identity, ServerTls};
use crate::output::{Event, Printer};

/// The page a folder shows instead of its listing (unless JSON is asked for).
pub const INDEX: &str = "index.html";

/// The `Cache-Control` of an answer with a validator (`ETag`): a cache may keep it but
/// must ask again before each use (a 304 when nothing changed). The folder is live, files
/// are edited in place, and without it caches pick a lifetime of their own (RFC 9111
/// §4.2.2): a browser would show a stylesheet as it was before an edit.
const REVALIDATE: HeaderValue = HeaderValue::from_static("no-cache");

/// The `Cache-Control` of an answer without one (archives, redirects, errors): a cache
/// could not revalidate it, so it keeps nothing. (A kept 301 from `/dir` to `/dir/` would
/// outlive the folder becoming a file.)
const DO_NOT_KEEP: HeaderValue = HeaderValue::from_static("no-store");

/// What every request handler can see.
pub struct State {
    pub root: Root,
    pub upload: bool,
    pub delete: bool,
    pub max_upload: u64,
    out: Printer,
    /// HTTPS: every connection starts with a handshake.
    tls: Option<ServerTls>,
    /// Accounts: every request passes here before it is routed.
    auth: Gate,
}

/// What `http serve` is asked to do.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The folder served; nothing outside it is read or written.
    pub dir: std::path::PathBuf,
    pub bind: Endpoint,
    /// Accept PUT and the listing's upload form.
    pub upload: bool,
    /// Accept DELETE.
    pub delete: bool,
    /// List and serve dotfiles.
    pub hidden: bool,
    /// Serve symlinks that point outside `dir`.
    pub follow_symlinks: bool,
    /// The largest file one upload may write.
    pub max_upload: u64,
    /// Serve HTTPS with this certificate.
    pub tls: Option<Identity>,
    /// Show the LAN URL as a QR code (on a terminal).
    pub qr: bool,
    /// `--auth`, `--auth-file`, `--auth-over-http`.
    pub auth: AuthConfig,
}

/// `sockit http serve`.
pub async fn serve(args: ServeConfig, ctx: Ctx) -> anyhow::Result<()> {
    let root = Root::new(&args.dir, args.hidden, args.follow_symlinks)
        .map_err(|e| anyhow::anyhow!("serve {}: {}", args.dir.display(), describe(&e)))?;
    readable(root.dir()).map_err(|e| anyhow::anyhow!("serve {}: {}", args.dir.display(), e))?;
    let auth = Gate::load(&args.auth, args.tls.is_some()).map_err(|e| match e.is_usage() {
        true => anyhow::Error::new(UsageError(e.to_string())),
        false => e.into(),
    })?;
    let tls = super::listener::tls(args.tls.as_ref())?;
    let listener = super::listener::bind(&args.bind, tls.as_ref(), &ctx).await?;
    for warning in auth.warnings {
        ctx.out.emit(&Event::warning(warning));
    }
    if args.qr {
        super::qr::show(listener.local_addr()?, tls.is_some(), &ctx.out);
    }
    let state = Arc::new(State {
        root,
        upload: args.upload,
        delete: args.delete,
        max_upload: args.max_upload,
        out: ctx.out.clone(),
        tls,
        auth: auth.gate,
    });
    let stop = ctx.shutdown.clone();
    super::listener::accept_loop_per_core(listener, &ctx, move |stream, peer, slot| {
        connection(stream, peer, slot, state.clone(), stop.clone())
    })
    .await
}

/// Fails unless this user can list `dir` and open what is in it: a folder that would
/// start and then answer every request with 403 is a mistake worth saying at once.
fn readable(dir: &std::path::Path) -> Result<(), String> {
    let why = |e: io::Error, what: &str| {
        if e.kind() == io::ErrorKind::PermissionDenied {
            format!("permission denied: this user cannot {what} (see `ls -ld`)")
        } else {
            describe(&e)
        }
    };
    std::fs::read_dir(dir).map_err(|e| why(e, "list the folder"))?;
    rustix::fs::access(dir, rustix::fs::Access::EXEC_OK)
        .map_err(|e| why(e.into(), "open what is in the folder (it lacks the x bit)"))
}

/// What the service returns per request: boxed so the connection is `Unpin`, which
/// `poll_without_shutdown` needs to hand the socket back after a timeout.
type Reply = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

/// One connection: in clear, its large files go out by `sendfile` through `Stream`; over
/// TLS (whose bytes are encrypted here) by ordinary reads.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    slot: Arc<Slot>,
    state: Arc<State>,
    stop: CancellationToken,
) {
    if state.tls.is_none() {
        let files = Files::default();
        let stream = Stream::new(stream, files.clone());
        return keep_alive(stream, files, peer, slot, state, stop).await;
    }
    let out = state.out.clone();
    if let Some((stream, _)) = super::tls::open(stream, state.tls.as_ref(), false, peer, &out).await
    {
        keep_alive(stream, Files::off(), peer, slot, state, stop).await;
    }
}

/// Serves one keep-alive connection; on Ctrl-C finishes the request in flight, then closes.
async fn keep_alive<IO>(
    stream: IO,
    files: Files,
    peer: SocketAddr,
    slot: Arc<Slot>,
    state: Arc<State>,
    stop: CancellationToken,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let out = state.out.clone();
    let service = service_fn(move |req: Request<Incoming>| -> Reply {
        let (state, files, slot) = (state.clone(), files.clone(), slot.clone());
        Box::pin(async move { Ok(state.handle(req, peer, &files, &slot).await) })
    });
    let mut conn = builder().serve_connection(TokioIo::new(stream), service);
    let done = tokio::select! {
        r = poll_fn(|cx| conn.poll_without_shutdown(cx)) => r,
        _ = stop.cancelled() => {
            Pin::new(&mut conn).graceful_shutdown();
            match tokio::time::timeout(DRAIN_TIMEOUT, poll_fn(|cx| conn.poll_without_shutdown(cx))).await {
                Ok(r) => r,
                Err(_) => return,
            }
        }
    };
    if let Some(bug) = done
        .as_ref()
        .err()
        .and_then(|e| sendfile::out_of_step_in(e))
    {
        out.emit(&Event::warning(format!(
            "[{peer}] connection closed: {bug} (a bug in sockit: please report it)"
        )));
    }
    let parts = conn.into_parts();
    let mut stream = parts.io.into_inner();
    // hyper closes a connection whose head is late without a word; a client that sent
    // part of one is owed a 408 (an idle keep-alive connection just closes, as nginx does).
    let refused = match done {
        Err(e) if e.is_timeout() && !parts.read_buf.is_empty() => {
            let head_timeout = limits().head;
            let reason = format!("request head not complete within {head_timeout:?}\n");
            let head = format!(
                "HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n",
                reason.len()
            );
            let _ = stream.write_all((head + &reason).as_bytes()).await;
            Some((408, reason.len() as u64, head_timeout))
        }
        // hyper has answered a head it could not parse (with an empty body): log it too.
        Err(e) if e.is_parse_too_large() => Some((431, 0, Duration::ZERO)),
        Err(e) if e.is_parse() => Some((400, 0, Duration::ZERO)),
        _ => None,
    };
    if let Some((status, bytes, took)) = refused {
        // What of the request line arrived is logged; `-` for what did not.
        let (method, path) = request_line(&parts.read_buf);
        out.offer(&Event::Request {
            peer,
            method,
            path,
            status,
            bytes,
            duration_ms: super::millis(took),
            user: None,
        });
    }
    let _ = stream.shutdown().await;
}

/// hyper's settings for every connection (`sendfile_tests.rs` serves with them too).
pub(super) fn builder() -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits().head)
        // Queued body chunks reach `Stream` as they are (placeholders must not be copied);
        // `max_buf_size` stays below one placeholder chunk (see `sendfile`).
        .writev(true);
    builder
}

impl State {
    /// Answers `req`; a large file's bytes go out through `files` (see `sendfile`).
    async fn handle(
        &self,
        mut req: Request<Incoming>,
        peer: SocketAddr,
        files: &Files,
        slot: &Slot,
    ) -> Response<Body> {
        let started = Instant::now();
        slot.busy();
        let method = req.method().to_string();
        // The query stays in the log (the printer escapes what a terminal must not see).
        let path = req
            .uri()
            .path_and_query()
            .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
        let checked = self.auth.check(&req, peer, &self.root).await;
        let mut response = match checked.verdict {
            Ok(access) => {
                req.extensions_mut().insert(access);
                match self.route(req, files, slot).await {
                    Ok(r) => r,
                    Err(f) => f.into_response(),
                }
            }
            // Dropped unread: hyper reads no more of a refused upload than has arrived,
            // and closes the connection rather than drain the rest.
            Err(refused) => refused,
        };
        let headers = response.headers_mut();
        let keep = match headers.contains_key(header::ETAG) {
            true => REVALIDATE,
            false => DO_NOT_KEEP,
        };
        headers.entry(header::CACHE_CONTROL).or_insert(keep);
        let now = Instant::now();
        slot.waiting(now);
        if let Some(lockout) = checked.lockout {
            self.out.emit(&Event::LoginLimited {
                peer,
                failures: lockout.failures,
                retry_after_s: super::auth::retry_after(lockout.wait),
            });
        }
        let event = Event::Request {
            peer,
            method,
            path,
            status: response.status().as_u16(),
            bytes: body_bytes(&response),
            duration_ms: super::millis(now - started),
            user: checked.user,
        };
        // An archive's size is known once it is sent: its body logs the request then.
        match response.extensions_mut().remove::<archive::Log>() {
            Some(log) => log.when_sent(event),
            None => {
                self.out.offer(&event);
            }
        }
        response
    }

    fn allowed(&self) -> String {
        let mut methods = vec!["GET", "HEAD", "OPTIONS"];
        if self.upload {
            methods.extend(["PUT", "POST"]);
        }
        if self.delete {
            methods.push("DELETE");
        }
        methods.join(", ")
    }

    /// Why `method` is refused, naming the flag that would enable it.
    fn not_allowed(&self, method: &Method) -> String {
        let flag = match *method {
            Method::PUT | Method::POST => Some("--upload"),
            Method::DELETE => Some("--delete"),
            _ => None,
        };
        match flag {
            Some(flag) => format!(
                "{method} needs {flag}: this server was started without it and allows {}\n",
                self.allowed()
            ),
            None => format!(
                "{method} is not supported: this server allows {}\n",
                self.allowed()
            ),
        }
    }

    async fn route(
        &self,
        req: Request<Incoming>,
        files: &Files,
        slot: &Slot,
    ) -> Result<Response<Body>, Failure> {
        let method = req.method().clone();
        if method == Method::OPTIONS {
            return Ok(with_header(
                empty(StatusCode::NO_CONTENT),
                header::ALLOW,
                &self.allowed(),
            ));
        }
        // With accounts, the gate has let this request read the folder; no rule makes
        // anything under a readable folder unreadable (`auth::rules`), so the archive
        // needs no check per entry.
        if let Some(format) = archive::asked(&req) {
            return archive::serve(&self.root, &self.out, &req, format?).await;
        }
        match method {
            Method::GET | Method::HEAD => self.get(req, files).await,
            Method::PUT if self.upload => upload::put(self, req, slot).await,
            Method::POST if self.upload => upload::form(self, req, slot).await,
            Method::DELETE if self.delete => self.remove(req).await,
            _ => Ok(with_header(
                text(StatusCode::METHOD_NOT_ALLOWED, self.not_allowed(&method)),
                header::ALLOW,
                &self.allowed(),
            )),
        }
    }

    async fn get(
        &self,
        mut req: Request<Incoming>,
        files: &Files,
    ) -> Result<Response<Body>, Failure> {
        let (path, is_dir) = match self.root.open_plain(req.uri().path())? {
            Some((path, file)) => {
                let meta = file.metadata().map_err(Failure::io)?;
                // Opened without blocking (`open_plain`); a FIFO, socket or device is
                // never read (`Root::find`).
                if !meta.is_file() && !meta.is_dir() {
                    return Err(PathError::NotFound.into());
                }
                if meta.is_file() {
                    range_request::settle(&mut req, &meta);
                }
                if let Some(r) = whole::try_serve_open(file, &meta, &path, &req, files) {
                    return Ok(r);
                }
                (path, meta.is_dir())
            }
            None => self.root.find(req.uri().path())?,
        };
        if is_dir {
            let url_path = req.uri().path();
            if !url_path.ends_with('/') {
                let mut to = format!("{url_path}/");
                if let Some(q) = req.uri().query() {
                    to = format!("{to}?{q}");
                }
                return Ok(with_header(
                    empty(StatusCode::MOVED_PERMANENTLY),
                    header::LOCATION,
                    &to,
                ));
            }
            let json = listing::wants_json(&req);
            // A folder with an index page is a web site: serve it, as nginx does.
            if !json {
                if let Ok((index, false)) = self.root.find(&format!("{url_path}{INDEX}")) {
                    return Ok(by_accept(file::serve(&index, req, files).await?));
                }
            }
            let found = listing::read(&self.root, &path)
                .await
                .map_err(Failure::io)?;
            return Ok(by_accept(if json {
                listing::page(&req, listing::json(url_path, &found), "application/json")
            } else {
                let access = req.extensions().get::<Access>();
                let html = listing::html(url_path, &found, self, access);
                listing::page(&req, html, "text/html; charset=utf-8")
            }));
        }
        file::serve(&path, req, files).await
    }

    async fn remove(&self, req: Request<Incoming>) -> Result<Response<Body>, Failure> {
        let path = self.root.delete(req.uri().path())?;
        let meta = tokio::fs::symlink_metadata(&path)
            .await
            .map_err(Failure::io)?;
        if meta.is_dir() {
            tokio::fs::remove_dir_all(&path).await
        } else {
            tokio::fs::remove_file(&path).await
        }
        .map_err(Failure::io)?;
        Ok(empty(StatusCode::NO_CONTENT))
    }
}

/// The size of a response's body: its Content-Length when set (files, HEAD), else what
/// the body says of itself.
fn body_bytes(r: &Response<Body>) -> u64 {
    r.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or_else(|| r.body().size_hint().exact().unwrap_or(0))
}

/// A folder's answer, which is its listing as HTML or JSON or its index page, chosen by
/// the request's `Accept`: a cache must not give the JSON to a browser (RFC 9110 §12.5.5).
fn by_accept(mut r: Response<Body>) -> Response<Body> {
    r.headers_mut()
        .append(header::VARY, HeaderValue::from_static("accept"));
    r
}
