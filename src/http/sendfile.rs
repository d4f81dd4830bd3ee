//! Large downloads with `sendfile(2)`: the kernel moves the file's pages to the socket,
//! with no copy into sockit and out again; that pair of copies was most of the CPU a
//! large download cost (figures: docs/benchmarks.md, "HTTP").
//!
//! Why this shape: hyper writes every byte of a response itself and has no file-body
//! hook. So a large file's body is made of *placeholder* chunks — slices of one static
//! buffer that is never sent — and the connection's socket is wrapped in `Stream`, which
//! writes everything else as usual but turns each placeholder byte hyper asks it to write
//! into the next byte of the file, sent by `sendfile`. Placeholders are recognised by
//! address, and bytes leave in order, so the Nth placeholder byte written is the Nth byte
//! of the queued files; a placeholder with no file queued is an error, never zeros on
//! the wire. hyper keeps the length accounting, keep-alive and pipelining as before. On
//! a file system without `sendfile` the same bytes are copied through a buffer instead.
//!
//! This rests on a hyper behaviour no document promises: with `.writev(true)` body chunks
//! reach `poll_write_vectored` as they are, uncopied, and hyper asks a body for its next
//! chunk only once less than its buffer limit waits to be written (400 KiB by default,
//! never raised here: less than one 1 MiB chunk). Its version is pinned in Cargo.toml,
//! `sendfile_tests.rs` checks the behaviour through a real connection, and every write
//! checks that placeholders and queue are still in step: a placeholder with no file
//! queued or not where the file stands, other bytes in the middle of a file, a body asked
//! for more before its bytes left, or a body dropped before it was sent (its file would
//! lend its bytes to the next response) all fail the connection. The client then sees a
//! response cut short, never a complete one of zeros or of another file's bytes.
//!
//! While file bytes are queued the socket is corked (`TCP_CORK`), from the response head
//! to the file's last byte: every segment then leaves full. Without it, each `sendfile`
//! that the socket cut short ended in a partial segment pushed at once (`TCP_NODELAY`),
//! and large downloads over loopback were far slower (figures: docs/benchmarks.md,
//! "HTTP", "Corking a large file"). The last byte uncorks, which sends the tail at once:
//! nothing waits for the kernel's 200 ms cork timer.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, IoSlice};
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use rustix::io::Errno;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// The most one placeholder chunk (and so one `sendfile` call) covers.
const PLACEHOLDER: usize = 1024 * 1024;

/// Stands for file bytes in hyper's write queue; its contents are never written.
static PLACEHOLDER_BYTES: [u8; PLACEHOLDER] = [0; PLACEHOLDER];

/// The files whose bytes a connection's placeholders stand for, oldest first (a
/// pipelined response can be queued before the previous one is fully written).
#[derive(Clone, Default)]
pub struct Files(Arc<Mutex<Queue>>);

#[derive(Default)]
struct Queue {
    /// A connection whose writes do not go through `Stream` (TLS): no placeholder may
    /// ever be made for it.
    off: bool,
    jobs: VecDeque<Job>,
    /// How many files were ever queued: a body finds its job by this number.
    queued: u64,
    /// Set once a body was dropped with bytes it never handed out: its file stays
    /// queued, so no later placeholder means what it should.
    broken: Option<&'static str>,
}

struct Job {
    id: u64,
    file: File,
    /// Where the next byte is read from: also how many bytes were sent.
    offset: u64,
    left: u64,
}

impl Files {
    /// For a connection whose bytes do not pass through `Stream` (TLS encrypts them in
    /// this process): large files go out the ordinary way (`whole` leaves them to
    /// tower-http), and a placeholder body made by mistake fails instead of sending zeros.
    pub fn off() -> Files {
        Files(Arc::new(Mutex::new(Queue {
            off: true,
            ..Queue::default()
        })))
    }

    /// Whether file bodies may be placeholders (`sendfile` on this connection).
    pub fn sends(&self) -> bool {
        self.0.lock().is_ok_and(|q| !q.off)
    }

    /// Queues `len` bytes of `file` from its start and returns the body that stands
    /// for them.
    pub fn body(&self, file: File, len: u64) -> PlaceholderBody {
        let mut id = 0;
        if let Ok(mut queue) = self.0.lock() {
            queue.queued += 1;
            id = queue.queued;
            queue.jobs.push_back(Job {
                id,
                file,
                offset: 0,
                left: len,
            });
        }
        PlaceholderBody {
            files: self.clone(),
            id,
            len,
            left: len,
        }
    }

    /// How many bytes of job `id` have been sent, while it is queued.
    fn sent(&self, id: u64) -> Option<u64> {
        let queue = self.0.lock().ok()?;
        queue.jobs.iter().find(|j| j.id == id).map(|j| j.offset)
    }
}

/// Placeholders and queued files that no longer match (see the module comment): a bug,
/// which ends the connection rather than send wrong bytes.
#[derive(Debug, thiserror::Error)]
#[error("sendfile placeholders out of step: {0}")]
pub struct OutOfStep(String);

/// The error that ends a connection whose placeholders and queued files no longer
/// match.
fn out_of_step(why: &str) -> io::Error {
    io::Error::other(OutOfStep(why.to_owned()))
}

/// The `OutOfStep` that ended a connection, if that is what `e` (hyper's error, or an
/// I/O error) comes from: `http serve` says it, where other connection errors (a client
/// that left) are not worth a line.
pub fn out_of_step_in<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a OutOfStep> {
    let mut at = Some(e);
    while let Some(err) = at {
        if let Some(inner) = err.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            if let Some(o) = inner.downcast_ref::<OutOfStep>() {
                return Some(o);
            }
        }
        at = err.source();
    }
    None
}

/// A response body of placeholder chunks for job `id` of `files`: `len` bytes in all,
/// `left` of them not handed to hyper yet.
pub struct PlaceholderBody {
    files: Files,
    id: u64,
    len: u64,
    left: u64,
}

impl http_body::Body for PlaceholderBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        if !self.files.sends() {
            let why = "a file body on a connection that does not send files (TLS)";
            return Poll::Ready(Some(Err(out_of_step(why))));
        }
        // hyper asks again only once less than a chunk is waiting: a whole chunk's
        // bytes not sent means its placeholder was copied or lost on the way.
        let handed = self.len - self.left;
        let in_step = |sent| sent <= handed && handed - sent < PLACEHOLDER as u64;
        if handed > 0 && !self.files.sent(self.id).is_some_and(in_step) {
            let why = "a file body asked for more before its bytes were sent";
            return Poll::Ready(Some(Err(out_of_step(why))));
        }
        let n = self.left.min(PLACEHOLDER as u64) as usize;
        self.left -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(
            &PLACEHOLDER_BYTES[..n],
        )))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

impl Drop for PlaceholderBody {
    fn drop(&mut self) {
        if self.left > 0 {
            if let Ok(mut queue) = self.files.0.lock() {
                queue.broken = Some("a file body was dropped before it was sent");
            }
        }
    }
}

fn is_placeholder(slice: &[u8]) -> bool {
    let start = PLACEHOLDER_BYTES.as_ptr() as usize;
    let at = slice.as_ptr() as usize;
    !slice.is_empty() && (start..start + PLACEHOLDER).contains(&at)
}

/// A connection's socket as hyper sees it: placeholder bytes go out by `sendfile`.
pub struct Stream {
    tcp: TcpStream,
    files: Files,
    corked: bool,
    /// The oldest queued file is partly sent: until its last byte, only placeholders
    /// may be written.
    in_file: bool,
}

impl Stream {
    pub fn new(tcp: TcpStream, files: Files) -> Self {
        Stream {
            tcp,
            files,
            corked: false,
            in_file: false,
        }
    }

    /// Corks or uncorks the socket. A failure only costs speed, so it is not reported.
    fn cork(&mut self, on: bool) {
        if self.corked != on {
            self.corked = on;
            let _ = rustix::net::sockopt::set_tcp_cork(&self.tcp, on);
        }
    }

    /// Sends the bytes of the oldest queued file that `placeholder` stands for (or
    /// the first of them).
    fn poll_sendfile(
        &mut self,
        cx: &mut Context<'_>,
        placeholder: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.tcp.poll_write_ready(cx))?;
            let mut queue = self
                .files
                .0
                .lock()
                .map_err(|_| io::Error::other("file queue poisoned"))?;
            if let Some(why) = queue.broken {
                return Poll::Ready(Err(out_of_step(why)));
            }
            let Some(job) = queue.jobs.front_mut() else {
                let why = "a placeholder with no file queued";
                return Poll::Ready(Err(out_of_step(why)));
            };
            // Each file's chunks start at the buffer's start, so its Nth byte is at
            // N mod PLACEHOLDER; a chunk never reaches past its file's end.
            let at = placeholder.as_ptr() as usize - PLACEHOLDER_BYTES.as_ptr() as usize;
            let count = placeholder.len();
            if at as u64 != job.offset % PLACEHOLDER as u64 || count as u64 > job.left {
                let why = "a placeholder not where its file stands";
                return Poll::Ready(Err(out_of_step(why)));
            }
            let sent = self.tcp.try_io(Interest::WRITABLE, || {
                match rustix::fs::sendfile(&self.tcp, &job.file, Some(&mut job.offset), count) {
                    // A file system without `sendfile` support: the same bytes, copied.
                    Err(e) if e == Errno::INVAL || e == Errno::NOSYS || e == Errno::OPNOTSUPP => {
                        copy_through(&job.file, &mut job.offset, count, &self.tcp)
                    }
                    r => r.map_err(io::Error::from),
                }
            });
            return Poll::Ready(match sent {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => Err(e),
                // The file shrank: the client gets fewer bytes than announced, never
                // made-up ones.
                Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    job.left -= n as u64;
                    self.in_file = job.left > 0;
                    if job.left == 0 {
                        queue.jobs.pop_front();
                        if queue.jobs.is_empty() {
                            drop(queue);
                            self.cork(false);
                        }
                    }
                    Ok(n)
                }
            });
        }
    }
}

/// What `sendfile` does, through a buffer: `pread` at `offset`, one `write`, and the
/// offset moved by what the socket took. At most `FALLBACK_CHUNK` bytes per call.
fn copy_through(
    file: &File,
    offset: &mut u64,
    count: usize,
    socket: impl AsFd,
) -> io::Result<usize> {
    let mut buf = vec![0; count.min(FALLBACK_CHUNK)];
    let n = rustix::io::pread(file, &mut buf, *offset)?;
    if n == 0 {
        return Ok(0);
    }
    let written = rustix::io::write(socket, &buf[..n])?;
    *offset += written as u64;
    Ok(written)
}

/// The most `copy_through` moves in one call.
const FALLBACK_CHUNK: usize = 256 * 1024;

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let plain = bufs.iter().take_while(|b| !is_placeholder(b)).count();
        if this.in_file && bufs[..plain].iter().any(|b| !b.is_empty()) {
            let why = "other bytes written in the middle of a file";
            return Poll::Ready(Err(out_of_step(why)));
        }
        if plain < bufs.len() {
            // File bytes follow: what goes before them (the head) waits to fill a segment.
            this.cork(true);
        }
        match bufs.get(plain) {
            _ if plain > 0 => Pin::new(&mut this.tcp).poll_write_vectored(cx, &bufs[..plain]),
            Some(first) => this.poll_sendfile(cx, first),
            None => Poll::Ready(Ok(0)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[path = "sendfile_tests.rs"]
mod tests;
