//! Large downloads with `sendfile(2)`: the kernel moves the file's pages to the socket,
//! with no copy into sockit and out again (that pair of copies was two thirds of the
//! CPU a 1 GiB download cost).
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
//! While file bytes are queued the socket is corked (`TCP_CORK`), from the response head
//! to the file's last byte: every segment then leaves full. Without it, each `sendfile`
//! that the socket cut short ended in a partial segment pushed at once (`TCP_NODELAY`),
//! and a client reading a 1 GiB file over loopback got it at 2.1 GB/s instead of 5–6.
//! The last byte uncorks, which sends the tail at once: nothing waits for the kernel's
//! 200 ms cork timer.

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
pub struct Files(Arc<Mutex<VecDeque<Job>>>);

struct Job {
    file: File,
    offset: u64,
    left: u64,
}

impl Files {
    /// Queues `len` bytes of `file` from its start and returns the body that stands
    /// for them.
    pub fn body(&self, file: File, len: u64) -> PlaceholderBody {
        if let Ok(mut jobs) = self.0.lock() {
            jobs.push_back(Job {
                file,
                offset: 0,
                left: len,
            });
        }
        PlaceholderBody { left: len }
    }
}

/// A response body of placeholder chunks, `left` bytes in all.
pub struct PlaceholderBody {
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
}

impl Stream {
    pub fn new(tcp: TcpStream, files: Files) -> Self {
        Stream {
            tcp,
            files,
            corked: false,
        }
    }

    /// Corks or uncorks the socket. A failure only costs speed, so it is not reported.
    fn cork(&mut self, on: bool) {
        if self.corked != on {
            self.corked = on;
            let _ = rustix::net::sockopt::set_tcp_cork(&self.tcp, on);
        }
    }

    pub fn into_inner(self) -> TcpStream {
        self.tcp
    }

    /// Sends up to `want` bytes of the oldest queued file.
    fn poll_sendfile(&mut self, cx: &mut Context<'_>, want: usize) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.tcp.poll_write_ready(cx))?;
            let mut jobs = self
                .files
                .0
                .lock()
                .map_err(|_| io::Error::other("file queue poisoned"))?;
            let Some(job) = jobs.front_mut() else {
                return Poll::Ready(Err(io::Error::other("file body without a file")));
            };
            let count = want.min(usize::try_from(job.left).unwrap_or(usize::MAX));
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
                    if job.left == 0 {
                        jobs.pop_front();
                        if jobs.is_empty() {
                            drop(jobs);
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
        if plain < bufs.len() {
            // File bytes follow: what goes before them (the head) waits to fill a segment.
            this.cork(true);
        }
        match bufs.get(plain) {
            _ if plain > 0 => Pin::new(&mut this.tcp).poll_write_vectored(cx, &bufs[..plain]),
            Some(first) => this.poll_sendfile(cx, first.len()),
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
mod tests {
    use super::*;

    #[test]
    fn the_copying_fallback_sends_the_bytes_sendfile_would() {
        use std::io::{Read, Write};
        let data: Vec<u8> = (0..FALLBACK_CHUNK + 1000)
            .map(|i| (i % 251) as u8)
            .collect();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&data).unwrap();
        let (tx, mut rx) = std::os::unix::net::UnixStream::pair().unwrap();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            rx.read_to_end(&mut got).unwrap();
            got
        });
        let mut offset = 10;
        while (offset as usize) < data.len() {
            let n = copy_through(&file, &mut offset, data.len(), &tx).unwrap();
            assert!(n > 0 && n <= FALLBACK_CHUNK);
        }
        assert_eq!(copy_through(&file, &mut offset, 100, &tx).unwrap(), 0);
        drop(tx);
        assert_eq!(reader.join().unwrap(), &data[10..]);
    }

    #[tokio::test]
    async fn the_socket_is_corked_from_the_head_to_the_files_last_byte() {
        use std::io::Write;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let data: Vec<u8> = (0..3000).map(|i| (i % 251) as u8).collect();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&data).unwrap();
        let files = Files::default();
        let _body = files.body(file, data.len() as u64);
        let mut stream = Stream::new(server, files);
        let corked = |s: &Stream| rustix::net::sockopt::tcp_cork(&s.tcp).unwrap();

        let head = b"HTTP/1.1 200 OK\r\n\r\n";
        let placeholders = &PLACEHOLDER_BYTES[..data.len()];
        let parts = [IoSlice::new(head), IoSlice::new(placeholders)];
        let n = stream.write_vectored(&parts).await.unwrap();
        assert_eq!(n, head.len(), "the head goes first, on its own");
        assert!(
            corked(&stream),
            "corked before the head, since a file follows"
        );
        stream.write_all(&placeholders[..1000]).await.unwrap();
        assert!(corked(&stream), "still corked inside the file");
        stream.write_all(&placeholders[1000..]).await.unwrap();
        assert!(!corked(&stream), "uncorked by the file's last byte");

        let mut got = vec![0; head.len() + data.len()];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(&got[..head.len()], head);
        assert_eq!(&got[head.len()..], &data[..]);
    }

    #[test]
    fn only_the_static_buffer_is_a_placeholder() {
        let copy = vec![0u8; 16];
        assert!(!is_placeholder(&copy));
        assert!(!is_placeholder(&[]));
        assert!(is_placeholder(&PLACEHOLDER_BYTES[5..9]));
        assert!(is_placeholder(&PLACEHOLDER_BYTES[PLACEHOLDER - 1..]));
    }
}
