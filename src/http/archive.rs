//! Folder downloads: `GET /folder/?zip` and `?tar` stream the folder as one archive,
//! made while the client reads it (never in memory or on disk). Its entries are what
//! the listings show, all the way down (`archive_walk`); a thread writes them
//! (`archive_write`) into a bounded queue that the response body drains.
//!
//! The folder is walked once before the answer, to check the limits (`MAX_ENTRIES`,
//! `MAX_DEPTH`): a folder too large is refused with a status, not cut short after a
//! `200`. Then it is walked again as it is written.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::archive_walk::{folder_name, Walk, WalkError};
pub use super::archive_write::Format;
use super::archive_write::{write, Chunk, QUEUE_CHUNKS};
use super::response::{empty, text, with_header, Body, Failure};
use super::safepath::Root;
use crate::output::{Event, Printer};

/// Archives made at once by this server: each holds a blocking thread and about 1 MiB
/// of buffers while its client reads, plus its walk's names (~0.15 KiB per entry of the
/// folder being walked) and for a zip its central directory (~0.35 KiB per entry until
/// the end): measured ~15 MiB for a tar and ~50 MiB for a zip of a folder of 99,000
/// files. More are refused with 503 until one ends.
pub const MAX_ARCHIVES: usize = 8;

static RUNNING: Semaphore = Semaphore::const_new(MAX_ARCHIVES);

/// How long a client refused for `MAX_ARCHIVES` is asked to wait, in seconds.
const RETRY_AFTER: &str = "5";

/// The archive the query asks for (`?zip`, `?tar`, also as `zip=…`), if any.
pub fn asked<B>(req: &Request<B>) -> Option<Result<Format, Failure>> {
    let query = req.uri().query()?;
    let is = |name: &str, p: &str| p == name || p.starts_with(&format!("{name}="));
    let mut found = query.split('&').filter_map(|p| {
        if is("zip", p) {
            Some(Format::Zip)
        } else if is("tar", p) {
            Some(Format::Tar)
        } else {
            None
        }
    });
    let first = found.next()?;
    Some(match found.next() {
        Some(_) => Err(Failure::new(
            StatusCode::BAD_REQUEST,
            "ask for one archive: ?zip or ?tar",
        )),
        None => Ok(first),
    })
}

/// Answers a request for the archive of a folder.
pub async fn serve<B>(
    root: &Root,
    out: &Printer,
    req: &Request<B>,
    format: Format,
) -> Result<Response<Body>, Failure> {
    let method = req.method();
    if method != Method::GET && method != Method::HEAD {
        let why = format!(
            "{method} with ?{}: a folder's archive is only downloaded, with GET or HEAD\n",
            format.extension()
        );
        let r = text(StatusCode::METHOD_NOT_ALLOWED, why);
        return Ok(with_header(r, header::ALLOW, "GET, HEAD"));
    }
    let url_path = req.uri().path();
    let (dir, is_dir) = root.find(url_path)?;
    if !is_dir {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            format!(
                "?{} downloads a folder, and {url_path} is a file",
                format.extension()
            ),
        ));
    }
    let name = folder_name(root, &root.segments(url_path)?);
    let Ok(permit) = RUNNING.try_acquire() else {
        let why = format!("{MAX_ARCHIVES} archives are being made already; try again shortly\n");
        let r = text(StatusCode::SERVICE_UNAVAILABLE, why);
        return Ok(with_header(r, header::RETRY_AFTER, RETRY_AFTER));
    };
    let job = Job {
        root: root.clone(),
        dir,
        name,
        format,
        head: method == Method::HEAD,
        out: out.clone(),
        url_path: url_path.to_owned(),
    };
    let (checked_tx, checked) = oneshot::channel();
    let (tx, rx) = mpsc::channel(QUEUE_CHUNKS);
    let disposition = disposition(&job.file_name());
    let head = job.head;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        job.run(checked_tx, tx)
    });
    match checked.await {
        Ok(Ok(_)) => {}
        Ok(Err(WalkError::Unreadable(e))) => return Err(Failure::io(e)),
        Ok(Err(e)) => return Err(Failure::new(StatusCode::FORBIDDEN, e.to_string())),
        Err(_) => {
            return Err(Failure::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the archive's thread ended unexpectedly",
            ))
        }
    }
    let response = if head {
        empty(StatusCode::OK)
    } else {
        let body = ArchiveBody {
            rx,
            sent: 0,
            cut: None,
            log: Log::default(),
            out: out.clone(),
        };
        let log = body.log.clone();
        let mut r = Response::new(body.boxed_unsync());
        r.extensions_mut().insert(log);
        r
    };
    let r = with_header(response, header::CONTENT_TYPE, format.content_type());
    Ok(with_header(r, header::CONTENT_DISPOSITION, &disposition))
}

/// One archive, as its thread makes it.
struct Job {
    root: Root,
    /// The folder (canonical).
    dir: PathBuf,
    /// Its name in the archive.
    name: Vec<u8>,
    format: Format,
    /// Only the checks: a HEAD request.
    head: bool,
    out: Printer,
    url_path: String,
}

impl Job {
    fn file_name(&self) -> String {
        let name = String::from_utf8_lossy(&self.name);
        format!("{name}.{}", self.format.extension())
    }

    fn walk(&self) -> Result<Walk, WalkError> {
        Walk::new(&self.root, self.dir.clone(), &self.name)
    }

    /// Walks the folder to check the limits and says the outcome on `checked`; then
    /// (for GET) writes the archive into `tx`.
    fn run(self, checked: oneshot::Sender<Result<usize, WalkError>>, tx: mpsc::Sender<Chunk>) {
        let counted = self.walk().and_then(Walk::count);
        let fine = counted.is_ok();
        if checked.send(counted).is_err() || !fine || self.head {
            return;
        }
        // A walk that worked a moment ago rarely fails now; if it does, the archive
        // ends with the error like any other.
        let mut walk = match self.walk() {
            Ok(walk) => walk,
            Err(e) => {
                let _ = tx.blocking_send(Err(io::Error::other(e)));
                return;
            }
        };
        write(self.format, &mut walk, tx);
        if let Some(first) = walk.left_out.first {
            self.out.emit(&Event::warning(format!(
                "{}: entries left out of the archive, not readable: {} (the first: {first})",
                self.url_path, walk.left_out.count
            )));
        }
    }
}

/// Bytes kept as they are in `filename*` (RFC 5987's `attr-char`).
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `Content-Disposition` for a download named `file` (RFC 6266): the name in quotes,
/// and for one that is not plain ASCII, an ASCII stand-in there and the real name in
/// `filename*`.
fn disposition(file: &str) -> String {
    let plain: String = file
        .chars()
        .map(|c| match c {
            '"' | '\\' | '%' => '_',
            c if c == ' ' || c.is_ascii_graphic() => c,
            _ => '_',
        })
        .collect();
    if plain == file {
        format!("attachment; filename=\"{file}\"")
    } else {
        let encoded = percent_encoding::percent_encode(file.as_bytes(), ATTR_CHAR);
        format!("attachment; filename=\"{plain}\"; filename*=UTF-8''{encoded}")
    }
}

/// Put on an archive's response for `serve::State::handle`: the `request` event is left
/// to the body, which knows its size only once it is sent.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Option<Event>>>);

impl Log {
    /// The event the body says, with its `bytes` set, when it ends.
    pub fn when_sent(self, event: Event) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(event);
        }
    }
}

/// An archive's body: the chunks its thread writes, counted as they go out.
struct ArchiveBody {
    rx: mpsc::Receiver<Chunk>,
    sent: u64,
    /// Why the archive was cut short, if it was.
    cut: Option<String>,
    log: Log,
    out: Printer,
}

impl http_body::Body for ArchiveBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        Poll::Ready(match ready!(self.rx.poll_recv(cx)) {
            Some(Ok(chunk)) => {
                self.sent += chunk.len() as u64;
                Some(Ok(Frame::data(chunk)))
            }
            Some(Err(e)) => {
                self.cut = Some(e.to_string());
                Some(Err(e))
            }
            None => None,
        })
    }
}

impl Drop for ArchiveBody {
    fn drop(&mut self) {
        let event = self.log.0.lock().ok().and_then(|mut e| e.take());
        let Some(mut event) = event else { return };
        if let Event::Request { bytes, .. } = &mut event {
            *bytes = self.sent;
        }
        if let (Some(why), Event::Request { peer, path, .. }) = (&self.cut, &event) {
            self.out.emit(&Event::warning(format!(
                "[{peer}] {path}: archive cut short after {} bytes: {why}",
                self.sent
            )));
        }
        self.out.offer(&event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked_for(uri: &str) -> Option<Result<Format, StatusCode>> {
        let req = Request::get(uri).body(()).unwrap();
        asked(&req).map(|r| r.map_err(|f| f.status))
    }

    #[test]
    fn the_query_names_the_format() {
        assert_eq!(asked_for("/a/?zip"), Some(Ok(Format::Zip)));
        assert_eq!(asked_for("/a/?x=1&tar"), Some(Ok(Format::Tar)));
        assert_eq!(asked_for("/a/?tar="), Some(Ok(Format::Tar)));
        assert_eq!(asked_for("/a/?zipper"), None);
        assert_eq!(asked_for("/a/"), None);
        assert_eq!(asked_for("/a/?zip&tar"), Some(Err(StatusCode::BAD_REQUEST)));
    }

    #[test]
    fn download_names_follow_rfc_6266() {
        assert_eq!(
            disposition("photos.zip"),
            "attachment; filename=\"photos.zip\""
        );
        assert_eq!(
            disposition("相册 2024.tar"),
            "attachment; filename=\"__ 2024.tar\"; filename*=UTF-8''%E7%9B%B8%E5%86%8C%202024.tar"
        );
        assert_eq!(
            disposition("a\"b%.zip"),
            "attachment; filename=\"a_b_.zip\"; filename*=UTF-8''a%22b%25.zip"
        );
    }
}
