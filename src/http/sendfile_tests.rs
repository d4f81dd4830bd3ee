//! Tests of `sendfile.rs`: the copying fallback, the cork, the placeholders through a
//! real hyper connection (the behaviour the trick rests on) and each step check.

use std::convert::Infallible;
use std::io::Write;
use std::path::{Path, PathBuf};

use http::{Request, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::http::{serve, whole};

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

/// A connected pair of loopback TCP sockets: (client, server).
async fn pair() -> (TcpStream, TcpStream) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

/// `len` bytes that differ from file to file (by `seed`) and are not zeros.
fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 31 + seed * 101) % 251 + 1) as u8)
        .collect()
}

/// Writes `pattern(len, seed)` to `dir/name` and returns it.
fn write_file(dir: &Path, name: &str, len: usize, seed: usize) -> Vec<u8> {
    let data = pattern(len, seed);
    std::fs::write(dir.join(name), &data).unwrap();
    data
}

/// A temp file holding `data`, for a job.
fn temp_file(data: &[u8]) -> File {
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(data).unwrap();
    file
}

/// Serves the files of `dir` over one connection as `http serve` does: hyper set up by
/// `builder`, answers from `whole` (a large file by placeholders), the socket in `Stream`.
async fn serve_connection(
    server: TcpStream,
    dir: PathBuf,
    builder: http1::Builder,
) -> Result<(), hyper::Error> {
    let files = Files::default();
    let stream = Stream::new(server, files.clone());
    let service = service_fn(move |req: Request<Incoming>| {
        let path = dir.join(req.uri().path().trim_start_matches('/'));
        let files = files.clone();
        async move {
            let r = whole::try_serve(&path, &req, &files)
                .unwrap_or_else(|| serve::text(StatusCode::NOT_FOUND, "not here\n"));
            Ok::<_, Infallible>(r)
        }
    });
    builder
        .serve_connection(TokioIo::new(stream), service)
        .await
}

/// GET requests for `paths`, pipelined; the last one closes the connection.
fn requests(paths: &[&str]) -> Vec<u8> {
    let mut wire = String::new();
    for (i, path) in paths.iter().enumerate() {
        let close = if i + 1 == paths.len() {
            "connection: close\r\n"
        } else {
            ""
        };
        wire += &format!("GET {path} HTTP/1.1\r\nhost: test\r\n{close}\r\n");
    }
    wire.into_bytes()
}

/// Everything the server sends until it closes (a reset ends it too).
async fn read_all(client: &mut TcpStream) -> Vec<u8> {
    let mut wire = Vec::new();
    let mut buf = vec![0; 1 << 16];
    while let Ok(n @ 1..) = client.read(&mut buf).await {
        wire.extend_from_slice(&buf[..n]);
    }
    wire
}

/// One response as the client received it.
struct Response {
    status: u16,
    announced: usize,
    body: Vec<u8>,
}

/// The responses in `wire`, in order; the last one may be cut short.
fn responses(mut wire: &[u8]) -> Vec<Response> {
    let mut got = Vec::new();
    while !wire.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut r = httparse::Response::new(&mut headers);
        let httparse::Status::Complete(head) = r.parse(wire).unwrap() else {
            panic!("a response head cut short");
        };
        let announced: usize = r
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .map(|h| std::str::from_utf8(h.value).unwrap().parse().unwrap())
            .unwrap();
        let end = wire.len().min(head + announced);
        got.push(Response {
            status: r.code.unwrap(),
            announced,
            body: wire[head..end].to_vec(),
        });
        wire = &wire[end..];
    }
    got
}

/// Where `got` first differs from `want`, for a readable failure.
fn first_difference(got: &[u8], want: &[u8]) -> Option<usize> {
    (0..got.len().max(want.len())).find(|&i| got.get(i) != want.get(i))
}

/// What an error says, with its sources.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text += &format!(": {s}");
        source = s.source();
    }
    text
}

#[tokio::test]
async fn hyper_passes_placeholders_through_so_clients_get_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_file(dir.path(), "a", 3 * PLACEHOLDER + 12345, 1);
    let small = write_file(dir.path(), "small", 5000, 2);
    let b = write_file(dir.path(), "b", 2 * PLACEHOLDER + 7, 3);
    let (mut client, server) = pair().await;
    let server = tokio::spawn(serve_connection(
        server,
        dir.path().into(),
        serve::builder(),
    ));
    // Pipelined: b is queued while a may still be on its way.
    client
        .write_all(&requests(&["/a", "/small", "/b"]))
        .await
        .unwrap();
    let wire = read_all(&mut client).await;
    server.await.unwrap().unwrap();
    let got = responses(&wire);
    assert_eq!(got.len(), 3, "three responses");
    for (r, (name, want)) in got.iter().zip([("a", &a), ("small", &small), ("b", &b)]) {
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(r.announced, want.len(), "{name}");
        assert!(
            r.body == *want,
            "{name}: {} bytes of {}, first wrong byte at {:?}",
            r.body.len(),
            want.len(),
            first_difference(&r.body, want)
        );
    }
}

#[tokio::test]
async fn a_hyper_that_copies_chunks_cuts_the_response_short_instead_of_sending_zeros() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_file(dir.path(), "a", 3 * PLACEHOLDER + 12345, 1);
    let (mut client, server) = pair().await;
    // Without writev hyper copies every chunk into one buffer: what a hyper that copied
    // would do.
    let mut copying = serve::builder();
    copying.writev(false);
    let server = tokio::spawn(serve_connection(server, dir.path().into(), copying));
    client.write_all(&requests(&["/a"])).await.unwrap();
    let wire = read_all(&mut client).await;
    let error = server.await.unwrap().unwrap_err();
    assert!(chain(&error).contains("out of step"), "{}", chain(&error));
    assert!(
        out_of_step_in(&error).is_some(),
        "http serve tells this error from a client that left"
    );
    let left = io::Error::from(io::ErrorKind::ConnectionReset);
    assert!(out_of_step_in(&left).is_none());
    let got = responses(&wire);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].announced, a.len());
    assert!(
        got[0].body.len() < a.len(),
        "the response is cut short, so the client knows"
    );
}

/// A stream over a loopback pair with `files` queued, and its client end.
async fn stream_with(files: &Files) -> (Stream, TcpStream) {
    let (client, server) = pair().await;
    (Stream::new(server, files.clone()), client)
}

/// What `client` got once `stream` is gone.
async fn received(stream: Stream, mut client: TcpStream) -> Vec<u8> {
    drop(stream);
    read_all(&mut client).await
}

fn out_of_step_error(r: io::Result<usize>, why: &str) {
    let e = r.expect_err("an out-of-step write must fail");
    assert!(e.to_string().contains(why), "{e}");
}

#[tokio::test]
async fn a_placeholder_with_no_file_queued_fails_the_write() {
    let (mut stream, client) = stream_with(&Files::default()).await;
    out_of_step_error(
        stream.write(&PLACEHOLDER_BYTES[..10]).await,
        "no file queued",
    );
    assert_eq!(received(stream, client).await, b"", "no zeros on the wire");
}

#[tokio::test]
async fn a_placeholder_not_where_its_file_stands_fails_the_write() {
    let data = pattern(3000, 1);
    let files = Files::default();
    let _body = files.body(temp_file(&data), data.len() as u64);
    let (mut stream, client) = stream_with(&files).await;
    let wrong = "not where its file stands";
    out_of_step_error(stream.write(&PLACEHOLDER_BYTES[5..100]).await, wrong);
    stream.write_all(&PLACEHOLDER_BYTES[..1000]).await.unwrap();
    out_of_step_error(stream.write(&PLACEHOLDER_BYTES[..100]).await, wrong);
    out_of_step_error(stream.write(&PLACEHOLDER_BYTES[1000..3001]).await, wrong);
    assert_eq!(received(stream, client).await, &data[..1000]);
}

#[tokio::test]
async fn other_bytes_in_the_middle_of_a_file_fail_the_write() {
    let data = pattern(3000, 1);
    let files = Files::default();
    let _body = files.body(temp_file(&data), data.len() as u64);
    let (mut stream, client) = stream_with(&files).await;
    stream.write_all(b"head ").await.unwrap();
    stream.write_all(&PLACEHOLDER_BYTES[..1000]).await.unwrap();
    out_of_step_error(
        stream.write(b"HTTP/1.1 200 OK\r\n").await,
        "middle of a file",
    );
    stream
        .write_all(&PLACEHOLDER_BYTES[1000..3000])
        .await
        .unwrap();
    stream.write_all(b" next").await.unwrap();
    let mut want = b"head ".to_vec();
    want.extend_from_slice(&data);
    want.extend_from_slice(b" next");
    assert_eq!(received(stream, client).await, want);
}

#[tokio::test]
async fn a_body_asked_for_more_before_its_bytes_were_sent_fails() {
    let data = pattern(2 * PLACEHOLDER + 5, 1);
    let files = Files::default();
    let mut unsent = files.body(temp_file(&data), data.len() as u64);
    let first = unsent.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first.len(), PLACEHOLDER);
    let Some(Err(e)) = unsent.frame().await else {
        panic!("a second chunk handed out before the first was sent");
    };
    assert!(e.to_string().contains("before its bytes were sent"), "{e}");

    let files = Files::default();
    let mut sent = files.body(temp_file(&data), data.len() as u64);
    let (mut stream, mut client) = stream_with(&files).await;
    let reader = tokio::spawn(async move { read_all(&mut client).await });
    let mut n = 0;
    while let Some(frame) = sent.frame().await {
        let chunk = frame.unwrap().into_data().unwrap();
        stream.write_all(&chunk).await.unwrap();
        n += 1;
    }
    assert_eq!(n, 3, "asked again once each chunk was sent");
    drop(stream);
    assert!(reader.await.unwrap() == data);
}

#[tokio::test]
async fn a_body_dropped_before_it_was_sent_fails_the_next_files_write() {
    let a = pattern(3000, 1);
    let b = pattern(3000, 2);
    let files = Files::default();
    // As for a response that carries no body (HEAD): a's bytes stay queued.
    drop(files.body(temp_file(&a), a.len() as u64));
    let _b = files.body(temp_file(&b), b.len() as u64);
    let (mut stream, client) = stream_with(&files).await;
    out_of_step_error(
        stream.write(&PLACEHOLDER_BYTES[..3000]).await,
        "dropped before it was sent",
    );
    assert_eq!(received(stream, client).await, b"", "not a's bytes for b");
}
