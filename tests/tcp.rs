//! `tcp serve` and `tcp connect`, against each other, raw sockets and the notes' programs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

use crate::harness::*;

/// A plain TCP client speaking `line` framing, for driving a server step by step.
struct LineClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl LineClient {
    fn connect(server: &Server) -> LineClient {
        let stream = TcpStream::connect(server.addr).unwrap();
        stream.set_read_timeout(Some(STEP)).unwrap();
        LineClient {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
    }

    fn recv(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        line.trim_end_matches('\n').to_owned()
    }

    /// Reads until the server closes; returns what was left unread.
    fn rest(&mut self) -> String {
        let mut rest = String::new();
        self.reader.read_to_string(&mut rest).unwrap();
        rest
    }
}

/// A port on which nobody listens (bound, then released).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn connect_sends_stdin_lines_and_prints_the_default_acknowledgement() {
    let server = Server::start(&["tcp", "serve"]);
    let out = run(
        &["tcp", "connect", &server.addr.to_string()],
        "hello\n粘包\r\n".as_bytes(),
    );
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let replies: Vec<_> = out
        .events_named("message")
        .iter()
        .map(|e| e["text"].clone())
        .collect();
    assert_eq!(replies, ["received 5 bytes", "received 6 bytes"]);
    assert_eq!(out.events_named("disconnect")[0]["reason"], "closed");

    assert_eq!(server.wait_for("connect")["clients"], 1);
    let first = server.wait_for("message");
    assert_eq!(
        (first["text"].as_str(), first["bytes"].as_u64()),
        (Some("hello"), Some(5))
    );
    assert_eq!(server.wait_for("message")["text"], "粘包");
    assert_eq!(server.wait_for("disconnect")["reason"], "closed");
}

#[test]
fn reply_text_echo_and_silent() {
    let server = Server::start(&["tcp", "serve", "--reply", "OK"]);
    let out = run(
        &[
            "tcp",
            "connect",
            &server.port(),
            "--send",
            "a",
            "--send",
            "b",
        ],
        b"",
    );
    let texts: Vec<_> = out
        .events_named("message")
        .iter()
        .map(|e| e["text"].clone())
        .collect();
    assert_eq!(texts, ["OK", "OK"]);

    let server = Server::start(&["tcp", "serve", "--echo"]);
    let out = run(&["tcp", "connect", &server.port()], b"one\ntwo\n");
    let texts: Vec<_> = out
        .events_named("message")
        .iter()
        .map(|e| e["text"].clone())
        .collect();
    assert_eq!(texts, ["one", "two"]);

    let server = Server::start(&["tcp", "serve", "--silent"]);
    let out = run(&["tcp", "connect", &server.port()], b"quiet\n");
    assert_eq!(out.code(), 0);
    assert!(out.events_named("message").is_empty());
    assert_eq!(server.wait_for("message")["text"], "quiet");
}

#[test]
fn python_struct_pack_client_against_len_framing() {
    let server = Server::start(&["tcp", "serve", "--echo", "--framing", "len"]);
    let script = r#"
import socket, struct, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
msgs = [b'hello', b'', 'sticky 粘包'.encode(), bytes(range(256)) * 40]
s.sendall(b''.join(struct.pack('!I', len(m)) + m for m in msgs))  # one send: they stick
def recv_exact(n):
    buf = b''
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        assert chunk, 'closed early'
        buf += chunk
    return buf
for m in msgs:
    (n,) = struct.unpack('!I', recv_exact(4))
    assert recv_exact(n) == m, m[:20]
print('ok')
"#;
    let out = python(script, &[&server.port()], b"");
    assert_eq!(out.stdout_text().trim(), "ok", "{}", out.stderr);
    let sizes: Vec<_> = (0..4)
        .map(|_| server.wait_for("message")["bytes"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, [5, 0, 13, 10240]);
}

#[test]
fn connect_speaks_len_framing_to_a_python_struct_server() {
    let script = r#"
import socket, struct, sys
l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(1)
print(l.getsockname()[1], flush=True)
c, _ = l.accept()
buf = b''
while True:
    d = c.recv(4096)
    if not d: break
    buf += d
msgs = []
while buf:
    (n,) = struct.unpack('!I', buf[:4]); msgs.append(buf[4:4+n]); buf = buf[4+n:]
for m in msgs:
    c.sendall(struct.pack('!I', len(m)) + m.upper())
c.close()
"#;
    let mut py = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    BufReader::new(py.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    let out = run(
        &["tcp", "connect", port.trim(), "--framing", "len"],
        b"abc\nde\n",
    );
    let _ = py.wait();
    let texts: Vec<_> = out
        .events_named("message")
        .iter()
        .map(|e| e["text"].clone())
        .collect();
    assert_eq!(texts, ["ABC", "DE"], "{}", out.stderr);
}

#[test]
fn raw_framing_delivers_every_byte_however_reads_fall() {
    let server = Server::start(&["tcp", "serve", "--framing", "raw", "--silent"]);
    let mut c = TcpStream::connect(server.addr).unwrap();
    for part in ["one", "two", "three"] {
        c.write_all(part.as_bytes()).unwrap();
    }
    c.shutdown(Shutdown::Write).unwrap();
    let mut seen = String::new();
    loop {
        let ev = server.next_event();
        match ev["event"].as_str() {
            Some("message") => seen.push_str(ev["text"].as_str().unwrap()),
            Some("disconnect") => break,
            _ => {}
        }
    }
    assert_eq!(seen, "onetwothree");
}

#[test]
fn raw_connect_streams_binary_stdin_unchanged_like_nc() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let sink = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        got
    });
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let out = run(
        &["tcp", "connect", &addr.to_string(), "--framing", "raw"],
        &data,
    );
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(sink.join().unwrap() == data, "bytes differ");
}

#[test]
fn oversized_len_frame_closes_only_that_connection() {
    let server = Server::start(&[
        "tcp",
        "serve",
        "--framing",
        "len",
        "--max-frame",
        "1KiB",
        "--echo",
    ]);
    let mut bad = TcpStream::connect(server.addr).unwrap();
    bad.write_all(&0xffff_ffffu32.to_be_bytes()).unwrap();
    let ev = server.wait_for("disconnect");
    assert_eq!(ev["reason"], "protocol");
    assert!(
        ev["detail"]
            .as_str()
            .unwrap()
            .contains("exceeds the 1024-byte limit"),
        "{ev}"
    );
    let mut rest = Vec::new();
    bad.set_read_timeout(Some(STEP)).unwrap();
    let _ = bad.read_to_end(&mut rest);
    assert!(rest.is_empty());

    let out = run(
        &[
            "tcp",
            "connect",
            &server.port(),
            "--framing",
            "len",
            "--send",
            "still here",
        ],
        b"",
    );
    assert_eq!(out.events_named("message")[0]["text"], "still here");
}

#[test]
fn over_long_line_is_reported_and_the_connection_goes_on() {
    let server = Server::start(&["tcp", "serve", "--max-frame", "16", "--echo"]);
    let mut c = LineClient::connect(&server);
    c.send(&"x".repeat(40));
    c.send("fine");
    assert_eq!(c.recv(), "fine");
    assert_eq!(server.wait_for("oversized")["max"], 16);
    assert_eq!(server.wait_for("message")["text"], "fine");
}

#[test]
fn custom_delimiter() {
    let server = Server::start(&["tcp", "serve", "--delimiter", "<END>", "--echo"]);
    let mut c = TcpStream::connect(server.addr).unwrap();
    c.write_all(b"a<END>b\nc<END>").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut echoed = String::new();
    c.read_to_string(&mut echoed).unwrap();
    assert_eq!(echoed, "a<END>b\nc<END>");
}

#[test]
fn broker_relays_to_every_other_client() {
    let server = Server::start(&["tcp", "serve", "--broker"]);
    let mut alice = LineClient::connect(&server);
    server.wait_for("connect");
    let mut bob = LineClient::connect(&server);
    let mut carol = LineClient::connect(&server);
    server.wait_until(|e| e["event"] == "connect" && e["clients"] == 3);
    alice.send("hi all");
    assert_eq!(bob.recv(), "hi all");
    assert_eq!(carol.recv(), "hi all");
    bob.send("hi alice");
    assert_eq!(
        alice.recv(),
        "hi alice",
        "alice gets bob's message, not her own"
    );
}

#[test]
fn max_clients_rejects_with_an_event_and_frees_the_slot() {
    let server = Server::start(&["tcp", "serve", "--max-clients", "1", "--echo"]);
    let mut first = LineClient::connect(&server);
    first.send("one");
    assert_eq!(first.recv(), "one");
    let mut second = LineClient::connect(&server);
    let ev = server.wait_for("rejected");
    assert!(
        ev["reason"].as_str().unwrap().contains("--max-clients"),
        "{ev}"
    );
    assert_eq!(second.rest(), "", "the rejected client is closed");
    drop(first);
    server.wait_for("disconnect");
    let out = run(&["tcp", "connect", &server.port(), "--send", "again"], b"");
    assert_eq!(out.events_named("message")[0]["text"], "again");
}

#[test]
fn idle_timeout_disconnects_a_silent_client() {
    let server = Server::start(&["tcp", "serve", "--idle-timeout", "300ms"]);
    let mut c = LineClient::connect(&server);
    assert_eq!(server.wait_for("disconnect")["reason"], "timeout");
    assert_eq!(c.rest(), "");
}

#[test]
fn two_clients_at_once_are_served_independently() {
    let server = Server::start(&["tcp", "serve", "--echo"]);
    let mut a = LineClient::connect(&server);
    let mut b = LineClient::connect(&server);
    b.send("from b");
    a.send("from a");
    assert_eq!(a.recv(), "from a");
    assert_eq!(b.recv(), "from b");
    server.wait_until(|e| e["event"] == "connect" && e["clients"] == 2);
}

#[test]
fn ctrl_c_tells_clients_and_exits_zero() {
    let server = Server::start(&["tcp", "serve", "--echo"]);
    let mut c = LineClient::connect(&server);
    c.send("before");
    assert_eq!(c.recv(), "before");
    let reader = std::thread::spawn(move || c.rest());
    let (status, events) = server.interrupt();
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        reader.join().unwrap(),
        "",
        "the client sees the end of the stream"
    );
    assert!(
        events.iter().any(|e| e["event"] == "shutdown"),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "disconnect" && e["reason"] == "shutdown"),
        "{events:?}"
    );
}

#[test]
fn bind_in_use_is_one_clear_line() {
    let server = Server::start(&["tcp", "serve"]);
    let out = run(&["tcp", "serve", "--bind", &server.addr.to_string()], b"");
    assert_eq!(out.code(), 1);
    assert_eq!(
        out.stderr.trim(),
        format!("sockit: bind {}: address already in use", server.addr)
    );
}

#[test]
fn refused_connection_is_one_clear_line() {
    let port = closed_port();
    let out = run(
        &[
            "tcp",
            "connect",
            &format!("127.0.0.1:{port}"),
            "--send",
            "x",
        ],
        b"",
    );
    assert_eq!(out.code(), 1);
    assert_eq!(
        out.stderr.trim(),
        format!("sockit: connect to 127.0.0.1:{port}: connection refused")
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["tcp", "connect", "nohost"][..],
        &["tcp", "serve", "--framing", "xml"],
        &["tcp", "serve", "--echo", "--silent"],
        &["tcp", "serve", "--max-frame", "lots"],
        &["tcp", "connect", "1", "--interval", "soon"],
    ] {
        let out = run(args, b"");
        assert_eq!(out.code(), 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("error"), "{}", out.stderr);
    }
}

#[test]
fn writing_into_a_reset_connection_fails_with_one_line() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let closer = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        // Linger 0: close with a reset, as a crashed peer's kernel would.
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
    });
    let data = vec![b'z'; 32 << 20];
    let out = run(
        &["tcp", "connect", &addr.to_string(), "--framing", "raw"],
        &data,
    );
    closer.join().unwrap();
    assert_eq!(out.code(), 1, "{}", out.stderr);
    let line = out.stderr.trim();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.contains("broken pipe") || line.contains("connection reset"),
        "one line naming the failure: {line}"
    );
}

#[test]
fn wait_bounds_how_long_replies_are_awaited() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let holder = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
        // Never closes until the client has gone.
        std::thread::sleep(Duration::from_secs(3));
    });
    let out = run(
        &[
            "tcp",
            "connect",
            &addr.to_string(),
            "--send",
            "x",
            "--wait",
            "200ms",
        ],
        b"",
    );
    assert_eq!(out.code(), 0, "{}", out.stderr);
    drop(holder);
}

#[test]
fn interval_paces_messages_in_order() {
    let server = Server::start(&["tcp", "serve", "--echo"]);
    let out = run(
        &["tcp", "connect", &server.port(), "--interval", "50ms"],
        b"1\n2\n3\n",
    );
    let texts: Vec<_> = out
        .events_named("message")
        .iter()
        .map(|e| e["text"].clone())
        .collect();
    assert_eq!(texts, ["1", "2", "3"]);
}

#[test]
fn verbose_shows_socket_attributes_after_listening() {
    let server = Server::start(&["-v", "tcp", "serve"]);
    let info = server.next_event();
    assert_eq!(info["event"], "socket");
    assert_eq!(info["type"], "SOCK_STREAM");
    assert_eq!(info["local"], server.addr.to_string());
    assert_eq!(info["options"]["SO_REUSEADDR"], true);
    let out = run(
        &["-v", "tcp", "connect", &server.port(), "--send", "x"],
        b"",
    );
    let sock = &out.events_named("socket")[0];
    assert_eq!(sock["peer"], server.addr.to_string());
    assert_eq!(sock["options"]["TCP_NODELAY"], true);
    assert!(sock["fd"].as_i64().unwrap() > 2);
}

#[test]
fn people_output_is_one_line_per_event() {
    let server = Server::start(&["tcp", "serve", "--echo"]);
    let mut cmd = std::process::Command::new(bin());
    cmd.args(["tcp", "connect", &server.port(), "--send", "bell\u{7}"]);
    let out = run_with(cmd, b"");
    let text = out.stdout_text();
    assert!(text.starts_with("connected to 127.0.0.1:"), "{text}");
    assert!(
        text.contains("5 bytes: bell\\u{7}"),
        "control characters escaped: {text}"
    );
    assert!(!text.contains('\u{7}'));
}

#[test]
fn a_closed_stdout_ends_the_server_quietly() {
    let mut child = sockit(&["tcp", "serve", "--bind", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let addr: serde_json::Value = serde_json::from_str(&first).unwrap();
    drop(stdout); // like `| head -1`
    let mut c = TcpStream::connect(addr["addr"].as_str().unwrap()).unwrap();
    let _ = c.write_all(b"ping\n");
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(err, "");
}

/// The notes' TCP server (section 四's first example), only its address changed.
const NOTES_SERVER: &str = r#"
import socket
sockfd = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sockfd.bind(('127.0.0.1', 0))
sockfd.listen(5)
print(sockfd.getsockname()[1], flush=True)
connfd, addr = sockfd.accept()
print('Connect from', addr, flush=True)
while True:
    data = connfd.recv(1024)
    if not data:
        break
    print('Receive message:\n', data.decode(), flush=True)
    n = connfd.send('信息以接收'.encode())
    print('Send %d bytes' % n, flush=True)
connfd.close()
sockfd.close()
"#;

#[test]
fn notes_server_against_sockit_connect() {
    let mut py = std::process::Command::new("python3")
        .arg("-c")
        .arg(NOTES_SERVER)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(py.stdout.take().unwrap());
    let mut port = String::new();
    lines.read_line(&mut port).unwrap();
    // Paced, so that the notes' server (which has no framing) usually sees two reads.
    let out = run(
        &[
            "tcp",
            "connect",
            port.trim(),
            "--framing",
            "raw",
            "--send",
            "你好",
            "--send",
            "again",
            "--interval",
            "200ms",
        ],
        b"",
    );
    assert!(py.wait().unwrap().success());
    let mut printed = String::new();
    lines.read_to_string(&mut printed).unwrap();
    assert!(
        printed.contains("你好") && printed.contains("again"),
        "{printed}"
    );
    // Without framing the two sends may still stick together in one recv: the server
    // answers once per recv, and the client's raw reads may join answers too.
    let recvs = printed.matches("Receive message").count();
    let replies: String = out
        .events_named("message")
        .iter()
        .map(|e| e["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(replies, "信息以接收".repeat(recvs));
}

/// The notes' TCP client (section 四's second example), its socket made TCP and its address
/// passed in.
const NOTES_CLIENT: &str = r#"
import socket, sys
server_addr = ('127.0.0.1', int(sys.argv[1]))
sockfd = socket.socket()
sockfd.connect(server_addr)
while True:
    try:
        data = input('>>')
    except EOFError:
        break
    if not data:
        break
    sockfd.send(data.encode())
    data = sockfd.recv(1024)
    print('服务器:', data.decode())
sockfd.close()
"#;

#[test]
fn notes_client_against_sockit_serve() {
    let server = Server::start(&["tcp", "serve", "--framing", "raw"]);
    let out = python(NOTES_CLIENT, &[&server.port()], "hello\n粘包\n".as_bytes());
    assert!(out.status.success(), "{}", out.stderr);
    let text = out.stdout_text();
    assert!(text.contains("服务器: received 5 bytes"), "{text}");
    assert!(text.contains("服务器: received 6 bytes"), "{text}");
    assert_eq!(server.wait_for("message")["text"], "hello");
}
