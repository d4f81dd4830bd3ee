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

#[test]
fn connect_sends_stdin_lines_and_prints_the_default_acknowledgement() {
    let server = Server::start(&["tcp", "serve", "--framing", "line"]);
    let out = run(
        &[
            "tcp",
            "connect",
            &server.addr.to_string(),
            "--framing",
            "line",
        ],
        "hello\n粘包\r\n".as_bytes(),
    );
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let replies: Vec<_> = out
        .events_named("message")
        .iter()
        .map(|e| e["text"].clone())
        .collect();
    // Issue 12: the count says what the wire carried too (the client sends "\n" for "\r\n").
    assert_eq!(
        replies,
        [
            "received 5 bytes (6 on the wire)",
            "received 6 bytes (7 on the wire)"
        ]
    );
    assert_eq!(out.events_named("message")[0]["wire"], 33);
    assert_eq!(out.events_named("disconnect")[0]["reason"], "closed");

    assert_eq!(server.wait_for("connect")["clients"], 1);
    let first = server.wait_for("message");
    assert_eq!(
        (
            first["text"].as_str(),
            first["bytes"].as_u64(),
            first["wire"].as_u64()
        ),
        (Some("hello"), Some(5), Some(6))
    );
    assert_eq!(server.wait_for("message")["text"], "粘包");
    assert_eq!(server.wait_for("disconnect")["reason"], "closed");
}

#[test]
fn reply_text_echo_and_silent() {
    let server = Server::start(&["tcp", "serve", "--reply", "OK", "--framing", "line"]);
    let out = run(
        &[
            "tcp",
            "connect",
            &server.port(),
            "--framing",
            "line",
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

    let server = Server::start(&["tcp", "serve", "--echo", "--framing", "line"]);
    let out = run(
        &["tcp", "connect", &server.port(), "--framing", "line"],
        b"one\ntwo\n",
    );
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
    assert_eq!(
        server.wait_for("message")["text"],
        "quiet\n",
        "raw: as typed"
    );
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
    let server = Server::start(&[
        "tcp",
        "serve",
        "--framing",
        "line",
        "--max-frame",
        "16",
        "--echo",
    ]);
    let mut c = LineClient::connect(&server);
    c.send(&"x".repeat(40));
    c.send("fine");
    assert_eq!(c.recv(), "fine");
    assert_eq!(server.wait_for("oversized")["max"], 16);
    assert_eq!(server.wait_for("message")["text"], "fine");
}

#[test]
fn custom_delimiter() {
    // Issue 12: a delimiter implies line framing (raw is the default otherwise).
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
    let err = out.stderr.trim();
    assert_eq!(err.lines().count(), 1, "{err}");
    // Issue 12: who holds the port, and what SO_REUSEADDR does and does not do.
    assert!(
        err.starts_with(&format!(
            "sockit: bind {}: address already in use; another program listens on TCP port {}",
            server.addr,
            server.port()
        )) && err.contains("SO_REUSEADDR"),
        "{err}"
    );
}

#[test]
fn issue12_usage_slips_get_a_way_out() {
    for (args, want) in [
        (
            &["tcp", "connect", "127.0.0.1", "8888"][..],
            "write 127.0.0.1:8888",
        ),
        (&["tcp", "connect", "::1:8888"], "[::1]:8888"),
        (
            &["tcp", "connect", "300.1.1.1:80"],
            "not a valid IPv4 address",
        ),
        (
            &["tcp", "serve", "--max-frame", "0"],
            "0 would refuse every message",
        ),
        (
            &["tcp", "serve", "--max-clients", "0"],
            "0 would refuse every client",
        ),
        (&["broadcast", "send", "--count", "-1"], "leave --count out"),
        (
            &["tcp", "serve", "--framing", "raw", "--delimiter", ";"],
            "--delimiter is used only by --framing line",
        ),
    ] {
        let out = run(args, b"");
        assert_eq!(out.code(), 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(want), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn refused_connection_is_one_clear_line() {
    let closed = closed_tcp_port();
    let port = closed.port;
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
    let (done, client_gone) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
        // Keeps the connection open until the client has gone (or STEP passed).
        let _ = client_gone.recv_timeout(STEP);
    });
    let started = std::time::Instant::now();
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
    let took = started.elapsed();
    assert_eq!(out.code(), 0, "{}", out.stderr);
    // The server never closes: only --wait can have ended the client.
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(3),
        "--wait 200ms took {took:?}"
    );
    drop(done);
    holder.join().unwrap();
}

#[test]
fn interval_paces_messages_in_order() {
    let server = Server::start(&["tcp", "serve", "--echo"]);
    let started = std::time::Instant::now();
    let out = run(
        &["tcp", "connect", &server.port(), "--interval", "100ms"],
        b"1\n2\n3\n",
    );
    let took = started.elapsed();
    let texts: Vec<_> = out
        .events_named("message")
        .iter()
        .map(|e| e["text"].clone())
        .collect();
    assert_eq!(texts, ["1\n", "2\n", "3\n"], "raw: each line as typed");
    // Two pauses between three messages (sent at once they would also arrive apart
    // often enough: only the time shows the pacing).
    assert!(
        took >= Duration::from_millis(200),
        "3 messages 100 ms apart took {took:?}"
    );
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
    // Bounded: a server that did not notice would otherwise hang the suite, not fail.
    let status = wait_bounded(&mut child);
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

/// The notes' TCP server (day 3, "示例：udp服务端编程", which is TCP), verbatim but for its
/// bind line: tests use no fixed port, so it binds 127.0.0.1:0 and prints the port it got.
const NOTES_SERVER: &str = r#"import socket
# 创建套接字
sockfd = socket.socket(socket.AF_INET, socket.SOCK_STREAM)

# 设置绑定地址
sockfd.bind(('0.0.0.0', 8888))

# 设置监听
sockfd.listen(5)

print('等待客户端连接...')
while True:

    # 等待处理客户端的连接
    connfd, addr = sockfd.accept()
    print('Connect from', addr)  # 客户端地址
    while True:
    
        # 收发消息
        data = connfd.recv(1024)
        if not data:
            break
        print('Receive message:\n', data.decode())
        
        n = connfd.send('信息以接收'.encode())
        print('Send %d bytes' % n)

    # 关闭套接字
    connfd.close()
sockfd.close()
"#;

/// The notes' TCP client ("示例：udp客户端编程", also TCP), verbatim but for what the notes
/// lost: the import and `socket()` lines, and the `server_addr` name cut to `ddr`. Its port
/// 8888 is replaced by the test's server's port.
const NOTES_CLIENT: &str = r#"import socket
sockfd = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server_addr=('127.0.0.1',8888)
sockfd.connect(server_addr)
while True:
    #发／收消息
    data=input('>>')
    if not data:
        break
    sockfd.send(data.encode())
    data=sockfd.recv(1024)
    print('服务器:',data.decode())
    
sockfd.close()
"#;

/// A child process whose stdout lines arrive on a channel; killed when dropped.
struct Proc {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Proc {
    fn spawn(mut cmd: std::process::Command) -> Proc {
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let stdout = child.stdout.take().unwrap();
        // Its stderr goes to the test's output as it comes (shown when a test fails).
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[child stderr] {line}");
            }
        });
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc { child, lines }
    }

    /// The notes' server, started; returns it and the port it bound.
    fn notes_server() -> (Proc, u16) {
        let script = NOTES_SERVER.replace(
            "sockfd.bind(('0.0.0.0', 8888))",
            "sockfd.bind(('127.0.0.1', 0)); print(sockfd.getsockname()[1])",
        );
        let mut cmd = std::process::Command::new("python3");
        cmd.arg("-u").arg("-c").arg(script);
        let py = Proc::spawn(cmd);
        let port = py.next_line().trim().parse().expect("the port");
        (py, port)
    }

    /// The notes' client, connected to `port`.
    fn notes_client(port: u16) -> Proc {
        let script = NOTES_CLIENT.replace("8888", &port.to_string());
        let mut cmd = std::process::Command::new("python3");
        cmd.arg("-u").arg("-c").arg(script);
        Proc::spawn(cmd)
    }

    fn next_line(&self) -> String {
        match self.lines.recv_timeout(STEP) {
            Ok(line) => line,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("no line within {STEP:?}"),
            Err(_) => panic!("stdout closed (pid {})", self.child.id()),
        }
    }

    /// Lines until one contains `needle`; returns that one.
    fn line_with(&self, needle: &str) -> String {
        loop {
            let line = self.next_line();
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// NDJSON events until one named `name`.
    fn event(&self, name: &str) -> serde_json::Value {
        loop {
            let v: serde_json::Value = serde_json::from_str(&self.next_line()).unwrap();
            if v["event"] == name {
                return v;
            }
        }
    }

    fn type_line(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    fn end_input(&mut self) {
        drop(self.child.stdin.take());
    }

    fn wait(mut self) -> (std::process::ExitStatus, String) {
        let deadline = std::time::Instant::now() + STEP;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, "(stderr is in the test's output)".into());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no exit within {STEP:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn issue12_notes_server_against_sockit_connect_with_defaults() {
    let (py, port) = Proc::notes_server();
    let mut client = Proc::spawn(sockit(&["tcp", "connect", &format!("127.0.0.1:{port}")]));
    client.event("connected");
    client.type_line("你好\n");
    // The answer shows while input is still open (it has no newline to wait for).
    assert_eq!(client.event("message")["text"], "信息以接收");
    assert!(py.line_with("你好").contains("你好"));
    client.type_line("again\n");
    assert_eq!(client.event("message")["text"], "信息以接收");
    py.line_with("again");
    client.end_input();
    assert_eq!(client.event("disconnect")["reason"], "closed");
    let (status, err) = client.wait();
    assert!(status.success(), "{err}");
}

#[test]
fn issue12_notes_client_against_sockit_serve_with_defaults() {
    let server = Server::start(&["tcp", "serve"]);
    let mut py = Proc::notes_client(server.addr.port());
    py.type_line("hello\n");
    assert!(py.line_with("服务器").ends_with("服务器: received 5 bytes"));
    py.type_line("粘包\n");
    assert!(py.line_with("服务器").ends_with("服务器: received 6 bytes"));
    py.type_line("\n");
    let (status, err) = py.wait();
    assert!(status.success(), "{err}");
    let first = server.wait_for("message");
    assert_eq!(
        (first["text"].as_str(), first["bytes"].as_u64()),
        (Some("hello"), Some(5))
    );
    assert!(
        first.get("wire").is_none(),
        "raw framing adds nothing: {first}"
    );
    assert_eq!(server.wait_for("message")["text"], "粘包");
    assert_eq!(server.wait_for("disconnect")["reason"], "closed");
}

#[test]
fn issue12_line_framing_hints_when_no_delimiter_comes() {
    // Server side: the notes' client sends no newline; a line server says why it waits.
    let server = Server::start(&["tcp", "serve", "--framing", "line"]);
    let mut py = Proc::notes_client(server.addr.port());
    py.type_line("hello\n");
    let hint = server.wait_for("hint");
    assert_eq!(
        hint["message"],
        "5 bytes wait for '\\n'; the peer may not send delimiters: try --framing raw"
    );
    drop(py);
    assert_eq!(
        server.wait_for("disconnect")["reason"],
        "closed",
        "one hint only"
    );

    // Client side: the notes' server answers without a newline.
    let (_py, port) = Proc::notes_server();
    let mut client = Proc::spawn(sockit(&[
        "tcp",
        "connect",
        &format!("127.0.0.1:{port}"),
        "--framing",
        "line",
    ]));
    client.type_line("hi\n");
    let hint = client.event("hint");
    assert!(
        hint["message"]
            .as_str()
            .unwrap()
            .starts_with("15 bytes wait for '\\n'"),
        "{hint}"
    );
}

#[test]
fn issue12_len_framing_against_a_text_server_names_the_mismatch() {
    let (_py, port) = Proc::notes_server();
    let out = run(
        &[
            "tcp",
            "connect",
            &format!("127.0.0.1:{port}"),
            "--framing",
            "len",
            "--send",
            "hi",
        ],
        b"",
    );
    assert_eq!(out.code(), 1, "{}", out.stderr);
    let err = out.stderr.trim();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("plain text") && err.contains("--framing raw") && !err.contains("exceeds"),
        "{err}"
    );
}

/// `sockit tcp serve ARGS --bind 127.0.0.1:0` printing for people; returns it and its
/// address.
fn human_server(args: &[&str]) -> (Proc, std::net::SocketAddr) {
    let mut cmd = std::process::Command::new(bin());
    cmd.args(["tcp", "serve", "--bind", "127.0.0.1:0"])
        .args(args)
        .env("NO_COLOR", "1");
    let server = Proc::spawn(cmd);
    let first = server.next_line();
    let addr = first
        .strip_prefix("listening on tcp://")
        .unwrap_or_else(|| panic!("first line: {first}"))
        .parse()
        .unwrap();
    (server, addr)
}

#[test]
fn issue12_people_see_a_preview_of_a_large_message() {
    let (server, addr) = human_server(&["--silent"]);
    let mut line = vec![b'x'; 1 << 20];
    line.push(b'\n');
    let mut binary: Vec<u8> = (0..2u32 << 20).map(|i| (i % 251) as u8 | 0x80).collect();
    binary[0] = 0xff;
    for payload in [&line, &binary] {
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(payload).unwrap();
        drop(c);
        // Raw framing: however the reads fall, each is one line of about 200 characters.
        let mut seen = 0;
        while seen < payload.len() {
            let shown = server.next_line();
            if shown.contains("connected") {
                continue;
            }
            assert!(
                shown.chars().count() < 1200,
                "{} chars",
                shown.chars().count()
            );
            let n: usize = shown.split(' ').nth(1).unwrap().parse().unwrap();
            if n > 200 {
                assert!(
                    shown.ends_with(&format!("… ({} more bytes)", n - 200))
                        || shown.contains("more bytes)"),
                    "{shown}"
                );
            }
            seen += n;
        }
        assert_eq!(seen, payload.len());
    }
    // --json keeps every byte.
    let json = Server::start(&["tcp", "serve", "--silent"]);
    let mut c = TcpStream::connect(json.addr).unwrap();
    c.write_all(&line).unwrap();
    drop(c);
    let mut text = String::new();
    while text.len() < line.len() {
        text.push_str(json.wait_for("message")["text"].as_str().unwrap());
    }
    assert_eq!(text.as_bytes(), &line[..]);
}

#[test]
fn issue12_a_reset_is_reported_once() {
    let (server, addr) = human_server(&["--silent"]);
    let c = TcpStream::connect(addr).unwrap();
    server.line_with("connected");
    let _ = (&c).write_all(b"x");
    server.line_with("1 byte: x");
    socket2::SockRef::from(&c)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(c);
    let line = server.line_with("disconnected");
    assert!(
        line.ends_with("disconnected: connection reset by peer"),
        "{line}"
    );
}

/// The notes' lesson 七 program (socket attributes), verbatim but for its bind address:
/// `'176.234.96.87 '` (a trailing space, and another machine's address) becomes
/// 127.0.0.1, and port 8888 becomes 0 (tests use no fixed port); it prints the port.
const NOTES_ATTRIBUTES: &str = r#"from socket import *
s=socket()

#设置端口可以立即重用
s.setsockopt(SOL_SOCKET,SO_REUSEADDR,1)
#套接字地址族
print(s.family)
#套接字类型
print(s.type)
s.bind(('176.234.96.87 ',8888))
#获取套接字绑定地址
print(s.getsockname())
#获取套接字的文件描述符
print(s.fileno())
s.listen(6)
c,addr=s.accept()
#获取客户端连接套接字的对应地址
print(c.getpeername())
#获取套接字选项值
print(s.getsockopt(SOL_SOCKET,SO_REUSEADDR))
c.recv(1024)
c.close()
s.close()
"#;

#[test]
fn issue12_notes_attributes_server_against_sockit_connect_with_defaults() {
    let script = NOTES_ATTRIBUTES.replace("('176.234.96.87 ',8888)", "('127.0.0.1',0)");
    let mut cmd = std::process::Command::new("python3");
    cmd.arg("-u").arg("-c").arg(script);
    let py = Proc::spawn(cmd);
    let name = py.line_with("('127.0.0.1', ");
    let port = name
        .trim_end_matches(')')
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned();
    // The script prints its address before it calls listen().
    wait_listening(port.parse().unwrap());
    let out = run(&["tcp", "connect", &port, "--send", "hi"], b"");
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(out.events_named("disconnect")[0]["reason"], "closed");
    assert_eq!(py.line_with("127.0.0.1"), py_peer(&out));
    assert_eq!(py.next_line(), "1", "SO_REUSEADDR is on");
    let (status, err) = py.wait();
    assert!(status.success(), "{err}");
}

/// `('127.0.0.1', PORT)`: the client's address as Python's getpeername prints it.
fn py_peer(out: &Output) -> String {
    let local: std::net::SocketAddr = out.events_named("connected")[0]["local"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    format!("('127.0.0.1', {})", local.port())
}
