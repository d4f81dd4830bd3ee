//! Runs the real `sockit` binary: servers bound to `127.0.0.1:0` whose address is read
//! from their `listening` event, and one-shot commands with a time bound.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use serde_json::Value;

/// The longest any single step may take before a test fails instead of hanging.
pub const STEP: Duration = Duration::from_secs(20);

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sockit"))
}

/// `sockit --json ARGS`, ready to spawn.
pub fn sockit(args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.arg("--json").args(args).env("NO_COLOR", "1");
    cmd
}

/// A running server; killed when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    events: Receiver<Value>,
    stderr: Receiver<String>,
}

impl Server {
    /// Starts `sockit --json ARGS --bind 127.0.0.1:0` and waits for its `listening` line.
    pub fn start(args: &[&str]) -> Server {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--bind", "127.0.0.1:0"]);
        Server::start_exact(&all)
    }

    /// `start`, with `env` added to the environment (the hidden `SOCKIT_TEST_*`
    /// timeouts, in milliseconds).
    pub fn start_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--bind", "127.0.0.1:0"]);
        let mut cmd = sockit(&all);
        cmd.envs(env.iter().copied());
        Server::start_command(cmd)
    }

    /// Starts `sockit --json ARGS` as given (the caller chooses the bind address).
    pub fn start_exact(args: &[&str]) -> Server {
        Server::start_command(sockit(args))
    }

    /// Starts `cmd` (which runs sockit with `--json`, perhaps through a wrapper such as
    /// `ip netns exec`) and waits for its `listening` line.
    pub fn start_command(mut cmd: Command) -> Server {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sockit");
        let events = lines_of(child.stdout.take().unwrap(), true);
        let stderr = lines_of_text(child.stderr.take().unwrap());
        let mut server = Server {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            events,
            stderr,
        };
        let first = server.next_event();
        assert_eq!(first["event"], "listening", "first line: {first}");
        server.addr = first["addr"].as_str().unwrap().parse().unwrap();
        server
    }

    pub fn port(&self) -> String {
        self.addr.port().to_string()
    }

    /// The next event; fails the test if none comes within `STEP`.
    pub fn next_event(&self) -> Value {
        match self.events.recv_timeout(STEP) {
            Ok(v) => documented(v),
            Err(_) => panic!("no event within {STEP:?}; stderr: {}", self.stderr_text()),
        }
    }

    /// The next event if one comes within `d`.
    pub fn event_within(&self, d: Duration) -> Option<Value> {
        self.events.recv_timeout(d).ok().map(documented)
    }

    /// The events printed so far and not yet read.
    pub fn events_so_far(&self) -> Vec<Value> {
        self.events.try_iter().map(documented).collect()
    }

    /// Skips events until one named `name` arrives, and returns it.
    pub fn wait_for(&self, name: &str) -> Value {
        loop {
            let ev = self.next_event();
            if ev["event"] == name {
                return ev;
            }
        }
    }

    /// Skips events until `pred` holds.
    pub fn wait_until(&self, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let ev = self.next_event();
            if pred(&ev) {
                return ev;
            }
        }
    }

    /// Sends SIGINT (Ctrl-C) and waits for the exit; returns the status and every event
    /// printed after the ones already read.
    pub fn interrupt(mut self) -> (ExitStatus, Vec<Value>) {
        signal(&self.child, libc::SIGINT);
        let status = wait_bounded(&mut self.child);
        let rest = self.events.try_iter().map(documented).collect();
        (status, rest)
    }

    /// Waits (at most `STEP`) for the server to exit by itself; returns the status and
    /// every event printed after the ones already read.
    pub fn wait_exit(mut self) -> (ExitStatus, Vec<Value>) {
        let status = wait_bounded(&mut self.child);
        let rest = self.events.try_iter().map(documented).collect();
        (status, rest)
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.try_iter().collect::<Vec<_>>().join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
}

/// Waits for `child` to exit; kills it and fails the test if it has not within `STEP`.
pub fn wait_bounded(child: &mut Child) -> ExitStatus {
    let deadline = std::time::Instant::now() + STEP;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process did not exit within {STEP:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn lines_of(stream: impl Read + Send + 'static, json: bool) -> Receiver<Value> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let value = if json {
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
            } else {
                Value::String(line)
            };
            if tx.send(value).is_err() {
                break;
            }
        }
    });
    rx
}

fn lines_of_text(stream: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The events and fields docs/events.md lists: each `### \`name\`` heading and the
/// `| \`field\` |` rows of its table.
fn contract() -> &'static std::collections::HashMap<String, Vec<String>> {
    static CONTRACT: std::sync::OnceLock<std::collections::HashMap<String, Vec<String>>> =
        std::sync::OnceLock::new();
    CONTRACT.get_or_init(|| {
        let doc = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/events.md"),
        )
        .expect("docs/events.md");
        let mut events = std::collections::HashMap::new();
        let mut current: Option<String> = None;
        for line in doc.lines() {
            if let Some(name) = line.strip_prefix("### `").and_then(|l| l.strip_suffix('`')) {
                events.insert(name.to_owned(), Vec::new());
                current = Some(name.to_owned());
            } else if let (Some(name), Some(cell)) = (&current, line.strip_prefix("| `")) {
                let first = cell.split(" |").next().unwrap_or_default();
                let fields = events.get_mut(name).expect("inserted");
                for field in first.split('/') {
                    fields.push(field.trim().trim_matches('`').to_owned());
                }
            }
        }
        events
    })
}

/// `ev` itself, once it is checked against docs/events.md: the suite fails on an event
/// or a field the contract does not list, so the page stays true.
pub fn documented(ev: Value) -> Value {
    let Some(object) = ev.as_object() else {
        return ev;
    };
    let name = object["event"].as_str().expect("every event has a name");
    let Some(fields) = contract().get(name) else {
        panic!("event {name:?} is not in docs/events.md: {ev}");
    };
    for key in object.keys().filter(|k| *k != "event") {
        assert!(
            fields.contains(key),
            "field {key:?} of {name:?} is not in docs/events.md: {ev}"
        );
    }
    ev
}

/// Waits (at most `STEP`) until a TCP socket listens on `port` of this host, as
/// /proc/net/tcp shows: for programs that print their address before `listen()`.
pub fn wait_listening(port: u16) {
    let deadline = std::time::Instant::now() + STEP;
    let listening = || {
        ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
            std::fs::read_to_string(table)
                .unwrap_or_default()
                .lines()
                .skip(1)
                .any(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    f.len() > 3
                        && f[3] == "0A"
                        && f[1]
                            .rsplit(':')
                            .next()
                            .and_then(|p| u16::from_str_radix(p, 16).ok())
                            == Some(port)
                })
        })
    };
    while !listening() {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing listens on port {port}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A finished one-shot command.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Output {
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }

    /// stdout parsed as NDJSON.
    pub fn events(&self) -> Vec<Value> {
        String::from_utf8_lossy(&self.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .map(documented)
            .collect()
    }

    pub fn events_named(&self, name: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["event"] == name)
            .collect()
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Runs `cmd` with `stdin` as its input and waits at most `STEP` for it.
pub fn run_with(mut cmd: Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let pid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(STEP) {
        Ok(out) => out.expect("wait"),
        Err(_) => {
            // SAFETY: kill(2) on our own child's pid, which has not been reaped yet.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("{cmd:?} did not finish within {STEP:?}");
        }
    };
    let _ = writer.join();
    Output {
        status: out.status,
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `sockit --json ARGS` with `stdin`.
pub fn run(args: &[&str], stdin: &[u8]) -> Output {
    run_with(sockit(args), stdin)
}

/// `python3 -c SCRIPT ARGS…` with `stdin`.
pub fn python(script: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(script).args(args);
    run_with(cmd, stdin)
}

/// Whether this process runs as root (namespaces, tmpfs mounts).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Whether `program` can be found on PATH.
pub fn have_program(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Bytes nobody would mistake for a run of zeros.
pub fn pattern(size: usize) -> Vec<u8> {
    (0..size as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

/// `sockit send FILE --keep --no-announce --code CODE`, once it is ready.
pub fn transfer_sender(code: &str, file: &std::path::Path) -> Server {
    let path = file.display().to_string();
    let server = Server::start(&["send", &path, "--keep", "--no-announce", "--code", code]);
    server.wait_for("ready");
    server
}

/// `sockit recv ADDR --code CODE -o OUT` against `server`.
pub fn transfer_recv(server: &Server, out: &std::path::Path, code: &str) -> Output {
    let out = out.display().to_string();
    let addr = server.addr.to_string();
    run(&["recv", &addr, "--code", code, "-o", &out], b"")
}

/// What a receiver with `-o out` keeps of `path` (relative to `out`) to resume from, if
/// anything: a hidden partial file beside the final name (`sockit::transfer::part_path`).
/// Tests look at partial state only through this and `plant_partial`.
pub fn partial(out: &std::path::Path, path: &str) -> Option<Vec<u8>> {
    std::fs::read(sockit::transfer::part_path(&out.join(path))).ok()
}

/// Leaves `bytes` as the partial state of `path` under `out`, as an interrupted
/// receiver would have.
pub fn plant_partial(out: &std::path::Path, path: &str, bytes: &[u8]) {
    std::fs::write(sockit::transfer::part_path(&out.join(path)), bytes).unwrap();
}

/// Waits (at most `STEP`) until the partial state of `path` under `out` holds `len`
/// bytes, and returns it; fails the test if it grows past `len` or never gets there.
pub fn wait_for_partial(out: &std::path::Path, path: &str, len: usize) -> Vec<u8> {
    let deadline = std::time::Instant::now() + STEP;
    loop {
        let now = partial(out, path).unwrap_or_default();
        assert!(now.len() <= len, "{path}: {} bytes, past {len}", now.len());
        if now.len() == len {
            return now;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path}: {} of {len} bytes after {STEP:?}",
            now.len()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A TCP port on which a connection is refused, for as long as this lives: a socket
/// bound to it that never listens (a SYN to it is answered with RST), so no other
/// program can take the port meanwhile. (Binding, then releasing, raced other tests.)
pub struct ClosedTcpPort {
    _socket: socket2::Socket,
    pub port: u16,
}

pub fn closed_tcp_port() -> ClosedTcpPort {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    socket.bind(&loopback.into()).unwrap();
    let port = socket.local_addr().unwrap().as_socket().unwrap().port();
    ClosedTcpPort {
        _socket: socket,
        port,
    }
}

/// A UDP port on 127.0.0.1 where datagrams find no one, for as long as this lives: a
/// socket bound to it and connected to itself, so the kernel gives it only what it
/// sends itself and answers anyone else with ICMP "port unreachable".
pub struct ClosedUdpPort {
    _socket: std::net::UdpSocket,
    pub port: u16,
}

pub fn closed_udp_port() -> ClosedUdpPort {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    socket.connect(addr).unwrap();
    ClosedUdpPort {
        port: addr.port(),
        _socket: socket,
    }
}

/// A UDP port for `recv`'s discovery, held for as long as this lives: bound to every
/// address without `SO_REUSEADDR` (so the kernel picks a port nobody uses), which is
/// set only then, so that `recv` and `send`, which listen with `SO_REUSEADDR` and
/// `SO_REUSEPORT`, can share it while nobody else can take it. Broadcasts reach every
/// socket on the port; this one just never reads them.
pub struct SharedUdpPort {
    _socket: std::net::UdpSocket,
    pub port: u16,
}

pub fn shared_udp_port() -> SharedUdpPort {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    socket2::SockRef::from(&socket)
        .set_reuse_address(true)
        .unwrap();
    SharedUdpPort {
        port: socket.local_addr().unwrap().port(),
        _socket: socket,
    }
}

/// docs/events.md lists every variant of `Event` (read from src/output/event.rs), including
/// those no test happens to print.
#[test]
fn events_md_lists_every_event() {
    let source = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/output/event.rs"),
    )
    .unwrap();
    let body = source
        .split("pub enum Event {")
        .nth(1)
        .and_then(|rest| rest.split("\n}\n").next())
        .expect("the Event enum");
    let mut names = Vec::new();
    for line in body.lines() {
        let Some(rest) = line.strip_prefix("    ") else {
            continue;
        };
        if !rest.starts_with(|c: char| c.is_ascii_uppercase()) {
            continue;
        }
        let variant: String = rest
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        let mut snake = String::new();
        for (i, c) in variant.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                snake.push('_');
            }
            snake.push(c.to_ascii_lowercase());
        }
        names.push(snake);
    }
    assert!(names.len() > 20, "found only {names:?}");
    for name in &names {
        assert!(
            contract().contains_key(name),
            "{name} is not in docs/events.md"
        );
    }
    assert_eq!(
        contract().len(),
        names.len(),
        "docs/events.md lists events that do not exist"
    );
}
