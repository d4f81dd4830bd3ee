//! `send --wormhole` / `recv --wormhole` against the real magic-wormhole CLI (issue
//! 19), through a mailbox server and a transit relay of their own on loopback.
//!
//! Nothing here may reach the public servers: every command, sockit's and the Python
//! client's, is built by `local`, which passes the local servers both as flags and in
//! the environment variables the two read, and the Python client never listens
//! (`--no-listen`), so it offers no direct hint to an address off loopback.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Instant;

use serde_json::Value;

use crate::harness::*;

/// Where the wormhole tools are: the venv `.ci/run` makes, or PATH.
pub fn tools() -> Option<PathBuf> {
    let venv = Path::new("/opt/wormhole/bin");
    if ["wormhole", "twist"].iter().all(|t| venv.join(t).is_file()) {
        return Some(venv.to_owned());
    }
    let found = Command::new("sh")
        .args(["-c", "command -v wormhole"])
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8(found.stdout).ok()?.trim());
    let dir = path.parent()?.to_owned();
    dir.join("twist").is_file().then_some(dir)
}

fn tool(name: &str) -> PathBuf {
    tools().expect("the wormhole tools").join(name)
}

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `program` as a command, inside network namespace `ns` when there is one.
fn inside(ns: Option<&str>, program: &Path) -> Command {
    match ns {
        Some(ns) => {
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", ns]).arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

/// `twist PLUGIN --port=tcp:0:interface=127.0.0.1 ARGS` (in `ns`, if given), and the
/// port it listens on, read from its log line `… starting on PORT` (port 0: no port is
/// guessed).
fn twist(ns: Option<&str>, plugin: &str, args: &[&str], marker: &str) -> (Killed, u16) {
    let mut child = inside(ns, &tool("twist"))
        .arg(plugin)
        .arg("--port=tcp:0:interface=127.0.0.1")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn twist");
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                // Keep draining so the server never blocks on a full pipe.
                continue;
            }
        }
    });
    let child = Killed(child);
    let deadline = Instant::now() + STEP;
    let needle = format!("{marker} starting on ");
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("twist {plugin} did not say it listens"));
        if let Some(at) = line.find(&needle) {
            let digits: String = line[at + needle.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            return (child, digits.parse().expect("a port"));
        }
    }
}

/// A mailbox server and a transit relay on loopback, stopped when dropped; the
/// commands made for them run in the same namespace (`None`: this machine's).
pub struct Servers {
    _mailbox: Killed,
    _relay: Killed,
    pub mailbox: String,
    pub relay: String,
    ns: Option<String>,
}

impl Servers {
    pub fn start() -> Servers {
        Servers::start_in(None)
    }

    pub fn start_in(ns: Option<&str>) -> Servers {
        let (mailbox, mailbox_port) = twist(
            ns,
            "wormhole-mailbox",
            &["--channel-db=:memory:"],
            "PrivacyEnhancedSite",
        );
        let (relay, relay_port) = twist(ns, "transitrelay", &[], "ServerFactory");
        Servers {
            _mailbox: mailbox,
            _relay: relay,
            mailbox: format!("ws://127.0.0.1:{mailbox_port}/v1"),
            relay: format!("127.0.0.1:{relay_port}"),
            ns: ns.map(str::to_owned),
        }
    }

    /// `cmd` pointed at these servers only, by its environment as well as its flags.
    fn local(&self, mut cmd: Command) -> Command {
        cmd.env("WORMHOLE_RELAY_URL", &self.mailbox)
            .env("WORMHOLE_TRANSIT_HELPER", format!("tcp:{}", self.relay))
            .env("NO_COLOR", "1");
        cmd
    }

    /// `wormhole --relay-url … --transit-helper … SUBCOMMAND --no-listen ARGS`; in a
    /// namespace of the test's own, without `--no-listen`: its direct hints cannot lead
    /// out of it.
    pub fn python(&self, subcommand: &str, args: &[&str]) -> Command {
        let mut cmd = self.local(inside(self.ns.as_deref(), &tool("wormhole")));
        cmd.args(["--relay-url", &self.mailbox])
            .arg("--transit-helper")
            .arg(format!("tcp:{}", self.relay))
            .arg(subcommand)
            .arg("--hide-progress");
        if self.ns.is_none() {
            cmd.arg("--no-listen");
        }
        cmd.args(args);
        cmd
    }

    /// `sockit --json COMMAND --wormhole --mailbox … --relay … ARGS`.
    pub fn sockit(&self, command: &str, args: &[&str]) -> Command {
        self.sockit_via(&self.relay, command, args)
    }

    /// `sockit`, as `sockit` does, with `relay` as its relay.
    pub fn sockit_via(&self, relay: &str, command: &str, args: &[&str]) -> Command {
        let mut cmd = self.local(inside(self.ns.as_deref(), &bin()));
        cmd.args(["--json", command, "--wormhole"])
            .args(["--mailbox", &self.mailbox, "--relay", relay])
            .args(args);
        cmd
    }
}

/// A running command whose stdout lines and stderr are collected.
struct Running {
    child: Killed,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
}

fn lines(from: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    rx
}

impl Running {
    fn spawn(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let stdout = lines(child.stdout.take().unwrap());
        let stderr = lines(child.stderr.take().unwrap());
        Running {
            child: Killed(child),
            stdout,
            stderr,
        }
    }

    /// The first line of `stream` for which `pick` gives a value, within `STEP`.
    fn find<T>(stream: &Receiver<String>, what: &str, pick: impl Fn(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match stream.recv_timeout(left) {
                Ok(line) => {
                    if let Some(v) = pick(&line) {
                        return v;
                    }
                }
                Err(_) => panic!("no {what} within {STEP:?}"),
            }
        }
    }

    /// sockit's next event named `name` (stdout is NDJSON).
    fn event(&self, name: &str) -> Value {
        Running::find(&self.stdout, name, |line| {
            let ev = documented(serde_json::from_str::<Value>(line).ok()?);
            (ev["event"] == name).then_some(ev)
        })
    }

    /// The code `wormhole send` printed on stderr.
    fn python_code(&self) -> String {
        Running::find(&self.stderr, "wormhole code", |line| {
            line.strip_prefix("Wormhole code is: ")
                .map(|c| c.trim().to_owned())
        })
    }

    /// Waits for the exit (at most `STEP`); returns the exit code, the rest of stdout
    /// and all of stderr not read yet.
    fn finish(mut self) -> (i32, String, String) {
        let status = wait_bounded(&mut self.child.0);
        let out: Vec<String> = self.stdout.try_iter().collect();
        let err: Vec<String> = self.stderr.try_iter().collect();
        (status.code().unwrap_or(-1), out.join("\n"), err.join("\n"))
    }
}

/// The code of a sockit sender's `wormhole_code` event.
fn sockit_code(sender: &Running) -> String {
    sender.event("wormhole_code")["code"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `wormhole receive --accept-file CODE` into a fresh folder; the folder and the outcome.
fn python_receives(servers: &Servers, code: &str) -> (tempfile::TempDir, Output) {
    let out_dir = tempfile::tempdir().unwrap();
    let mut receive = servers.python("receive", &["--accept-file", code]);
    receive.current_dir(out_dir.path());
    (out_dir, run_with(receive, b""))
}

/// The events of a finished sockit's stdout.
fn events(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .map(documented)
        .collect()
}

const TEXT: &str = "hello through the wormhole, ünïcödé\nand a second line";

pub fn sockit_sends_text_to_wormhole_receive() {
    let servers = Servers::start();
    let sender = Running::spawn(servers.sockit("send", &["--text", TEXT]));
    let code = sockit_code(&sender);
    let out = run_with(servers.python("receive", &[&code]), b"");
    assert_eq!(out.code(), 0, "{}", out.stderr);
    // The Python client prints the text as the inside of a Python string literal.
    assert_eq!(
        out.stdout_text(),
        format!("{}\n", TEXT.replace('\n', "\\n"))
    );
    let (code, stdout, stderr) = sender.finish();
    assert_eq!(code, 0, "{stderr}");
    let sent = events(&stdout);
    assert!(
        sent.iter()
            .any(|e| e["event"] == "text_sent" && e["bytes"] == TEXT.len()),
        "{stdout}"
    );
}

pub fn wormhole_send_text_to_sockit_recv() {
    let servers = Servers::start();
    let sender = Running::spawn(servers.python("send", &["--text", TEXT]));
    let code = sender.python_code();
    let out = run_with(servers.sockit("recv", &[&code]), b"");
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let verified = out.events_named("wormhole_verified");
    assert_eq!(verified[0]["peer"], "another wormhole client");
    assert_eq!(verified[0]["verifier"].as_str().unwrap().len(), 64);
    let text = out.events_named("text");
    assert_eq!(text[0]["text"], TEXT);
    let (code, _, stderr) = sender.finish();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("text message sent"), "{stderr}");
}

/// Both sides say the code was wrong, and exit with an error.
pub fn a_wrong_code_fails_clearly_on_both_sides() {
    let servers = Servers::start();
    // wormhole send, sockit recv with the right nameplate and wrong words.
    let sender = Running::spawn(servers.python("send", &["--text", "secret"]));
    let code = sender.python_code();
    let nameplate = code.split('-').next().unwrap();
    let wrong = format!("{nameplate}-aardvark-adroitness");
    let out = run_with(servers.sockit("recv", &[&wrong]), b"");
    assert_eq!(out.code(), 1);
    assert!(out.stderr.contains("the code is wrong"), "{}", out.stderr);
    assert!(out.events_named("text").is_empty());
    let (code, _, stderr) = sender.finish();
    assert_ne!(code, 0);
    assert!(stderr.contains("Key confirmation failed"), "{stderr}");

    // sockit send, wormhole receive with a wrong code.
    let sender = Running::spawn(servers.sockit("send", &["--text", "secret"]));
    let code = sockit_code(&sender);
    let nameplate = code.split('-').next().unwrap();
    let out = run_with(
        servers.python("receive", &[&format!("{nameplate}-aardvark-adroitness")]),
        b"",
    );
    assert_ne!(out.code(), 0);
    assert!(
        out.stderr.contains("Key confirmation failed"),
        "{}",
        out.stderr
    );
    assert!(!out.stdout_text().contains("secret"));
    let (code, _, stderr) = sender.finish();
    assert_eq!(code, 1);
    assert!(stderr.contains("the code is wrong"), "{stderr}");
}

/// Without a code and with no terminal to ask on, `recv --wormhole` is a usage error,
/// before any server is contacted.
pub fn recv_without_a_code_and_no_terminal_is_a_usage_error() {
    let servers = Servers::start();
    let out = run_with(servers.sockit("recv", &[]), b"");
    assert_eq!(out.code(), 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("sockit recv --wormhole CODE"),
        "{}",
        out.stderr
    );
}

/// A file of `size` pattern bytes named `name` in a fresh folder.
fn a_file(name: &str, size: usize) -> (tempfile::TempDir, PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    let data = pattern(size);
    std::fs::write(&path, &data).unwrap();
    (dir, path, data)
}

/// The `transit` event of a finished sockit, checked against the path wanted.
fn assert_path(stdout: &str, want: &str) -> Value {
    let all = events(stdout);
    let transit = all
        .iter()
        .find(|e| e["event"] == "transit")
        .unwrap_or_else(|| panic!("no transit event: {stdout}"))
        .clone();
    assert_eq!(transit["path"], want, "{stdout}");
    transit
}

/// sockit sends a file to `wormhole receive`, which arrives bit-exact; `args` are
/// sockit's transit flags, `path` the way the bytes should go.
fn sockit_sends_a_file(args: &[&str], path: &str) {
    sockit_sends_a_file_of(args, path, 3 << 20);
}

fn sockit_sends_a_file_of(args: &[&str], path: &str, size: usize) {
    let servers = Servers::start();
    let (_src, file, data) = a_file("data.bin", size);
    let file_arg = file.display().to_string();
    let mut sender_args = args.to_vec();
    sender_args.push(&file_arg);
    let sender = Running::spawn(servers.sockit("send", &sender_args));
    let code = sockit_code(&sender);
    let (out_dir, out) = python_receives(&servers, &code);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(std::fs::read(out_dir.path().join("data.bin")).unwrap() == data);
    let (code, stdout, stderr) = sender.finish();
    assert_eq!(code, 0, "{stderr}");
    let transit = assert_path(&stdout, path);
    if path == "relay" {
        assert_eq!(transit["peer"], servers.relay.as_str());
    } else {
        assert!(transit["peer"].as_str().unwrap().starts_with("127.0.0.1:"));
    }
    let sent = events(&stdout);
    let file_event = sent.iter().find(|e| e["event"] == "file").unwrap();
    assert_eq!(file_event["bytes"], data.len());
    assert_eq!(file_event["path"], "data.bin");
}

/// `wormhole send` sends a file to sockit, which writes it bit-exact.
fn sockit_receives_a_file(args: &[&str], path: &str) {
    sockit_receives_a_file_of(args, path, (3 << 20) + 17);
}

fn sockit_receives_a_file_of(args: &[&str], path: &str, size: usize) {
    let servers = Servers::start();
    let (_src, file, data) = a_file("dåta.bin", size);
    let sender = Running::spawn(servers.python("send", &[file.to_str().unwrap()]));
    let code = sender.python_code();
    let out_dir = tempfile::tempdir().unwrap();
    let out_arg = out_dir.path().display().to_string();
    let mut recv_args = vec!["-o", &out_arg];
    recv_args.extend(args);
    recv_args.push(&code);
    let out = run_with(servers.sockit("recv", &recv_args), b"");
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(std::fs::read(out_dir.path().join("dåta.bin")).unwrap() == data);
    let names: Vec<_> = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no partial file is left: {names:?}");
    assert_path(&out.stdout_text(), path);
    let file_event = &out.events_named("file")[0];
    assert_eq!(file_event["bytes"], data.len());
    let sha = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(&data));
    assert_eq!(file_event["sha256"], sha);
    let (code, _, stderr) = sender.finish();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("Confirmation received"), "{stderr}");
}

pub fn sockit_sends_a_file_to_wormhole_receive_directly() {
    sockit_sends_a_file(&["--bind", "127.0.0.1:0"], "direct");
}

pub fn sockit_sends_a_file_to_wormhole_receive_through_the_relay() {
    sockit_sends_a_file(&["--relay-only"], "relay");
}

pub fn wormhole_send_sends_a_file_to_sockit_directly() {
    sockit_receives_a_file(&["--bind", "127.0.0.1:0"], "direct");
}

pub fn wormhole_send_sends_a_file_to_sockit_through_the_relay() {
    sockit_receives_a_file(&["--relay-only"], "relay");
}

/// A file already there is not overwritten: sockit refuses before any byte moves, and
/// the sender is told why.
pub fn an_existing_file_is_refused_without_overwrite() {
    let servers = Servers::start();
    let (_src, file, data) = a_file("taken.txt", 1000);
    let out_dir = tempfile::tempdir().unwrap();
    std::fs::write(out_dir.path().join("taken.txt"), "mine").unwrap();
    let out_arg = out_dir.path().display().to_string();
    let receive = |extra: &[&str]| {
        let sender = Running::spawn(servers.python("send", &[file.to_str().unwrap()]));
        let code = sender.python_code();
        let mut args = vec!["-o", out_arg.as_str(), "--relay-only"];
        args.extend(extra);
        args.push(&code);
        let out = run_with(servers.sockit("recv", &args), b"");
        (out, sender.finish())
    };
    let (out, (code, _, stderr)) = receive(&[]);
    assert_eq!(out.code(), 1);
    assert!(out.stderr.contains("--overwrite"), "{}", out.stderr);
    assert_ne!(code, 0);
    assert!(stderr.contains("taken.txt is already there"), "{stderr}");
    assert_eq!(
        std::fs::read(out_dir.path().join("taken.txt")).unwrap(),
        b"mine"
    );
    let (out, (code, _, stderr)) = receive(&["--overwrite"]);
    assert_eq!((out.code(), code), (0, 0), "{} {stderr}", out.stderr);
    assert!(std::fs::read(out_dir.path().join("taken.txt")).unwrap() == data);
}

/// A folder with nested folders, an empty one and non-ASCII names.
fn a_folder() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("álbum");
    std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
    std::fs::create_dir_all(root.join("empty")).unwrap();
    std::fs::write(root.join("a.txt"), "alpha\n").unwrap();
    std::fs::write(root.join("sub/deeper/dåta.bin"), pattern(1 << 20)).unwrap();
    std::fs::write(root.join("sub/字.txt"), "汉字\n").unwrap();
    (dir, root)
}

/// Every file and folder under `a` is under `b` with the same bytes, and no more.
fn assert_same_tree(a: &Path, b: &Path) {
    let list = |root: &Path| {
        let mut all = Vec::new();
        let mut todo = vec![root.to_owned()];
        while let Some(dir) = todo.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let rel = path.strip_prefix(root).unwrap().to_owned();
                if path.is_dir() {
                    todo.push(path.clone());
                    all.push((rel, None));
                } else {
                    all.push((rel, Some(std::fs::read(&path).unwrap())));
                }
            }
        }
        all.sort();
        all
    };
    assert!(
        list(a) == list(b),
        "{} and {} differ",
        a.display(),
        b.display()
    );
}

pub fn sockit_sends_a_folder_to_wormhole_receive() {
    let servers = Servers::start();
    let (_src, root) = a_folder();
    let root_arg = root.display().to_string();
    let sender = Running::spawn(servers.sockit("send", &["--relay-only", &root_arg]));
    let code = sockit_code(&sender);
    let (out_dir, out) = python_receives(&servers, &code);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_same_tree(&root, &out_dir.path().join("álbum"));
    let (code, stdout, stderr) = sender.finish();
    assert_eq!(code, 0, "{stderr}");
    let done = events(&stdout)
        .into_iter()
        .find(|e| e["event"] == "done")
        .unwrap();
    assert_eq!(done["files"], 3, "{stdout}");
}

pub fn wormhole_send_sends_a_folder_to_sockit() {
    let servers = Servers::start();
    let (_src, root) = a_folder();
    let sender = Running::spawn(servers.python("send", &[root.to_str().unwrap()]));
    let code = sender.python_code();
    let out_dir = tempfile::tempdir().unwrap();
    let out_arg = out_dir.path().display().to_string();
    let out = run_with(
        servers.sockit("recv", &["-o", &out_arg, "--relay-only", &code]),
        b"",
    );
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_same_tree(&root, &out_dir.path().join("álbum"));
    let names: Vec<_> = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no partial zip is left: {names:?}");
    let files = out.events_named("file");
    assert_eq!(files.len(), 3);
    assert!(files.iter().any(|f| f["path"] == "álbum/sub/字.txt"));
    let (code, _, stderr) = sender.finish();
    assert_eq!(code, 0, "{stderr}");
}

/// Two sockits recognise each other (their `version` messages name sockit) and move a
/// text and a file.
pub fn sockit_to_sockit_knows_its_peer() {
    let servers = Servers::start();
    let sender = Running::spawn(servers.sockit("send", &["--text", "hi sockit"]));
    let code = sockit_code(&sender);
    let out = run_with(servers.sockit("recv", &[&code]), b"");
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        out.events_named("wormhole_verified")[0]["peer"],
        format!("sockit {version}")
    );
    assert_eq!(out.events_named("text")[0]["text"], "hi sockit");
    let (code, stdout, _) = sender.finish();
    assert_eq!(code, 0);
    assert!(
        stdout.contains(&format!("\"peer\":\"sockit {version}\"")),
        "{stdout}"
    );

    let (_src, file, data) = a_file("x.bin", 200_000);
    let sender = Running::spawn(servers.sockit("send", &["--relay-only", file.to_str().unwrap()]));
    let code = sockit_code(&sender);
    let out_dir = tempfile::tempdir().unwrap();
    let out_arg = out_dir.path().display().to_string();
    let out = run_with(
        servers.sockit("recv", &["-o", &out_arg, "--relay-only", &code]),
        b"",
    );
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(std::fs::read(out_dir.path().join("x.bin")).unwrap() == data);
    assert_eq!(sender.finish().0, 0);
}

/// A zip whose entries climb out of the folder (`../`), from a scripted sender that
/// speaks the protocol itself (sockit's library, relay only): sockit refuses it, writes
/// nothing anywhere, never acknowledges it, and says why.
pub fn a_hostile_zip_from_a_scripted_sender_writes_nothing() {
    use sockit::wormhole::hints::PeerHints;
    use sockit::wormhole::key::{APPID, TRANSIT_PURPOSE};
    use sockit::wormhole::session::{Bound, Mood};
    use sockit::wormhole::transit::{Role, Transit};
    use sockit::wormhole::WormholeCode;
    use std::io::Write as _;

    let servers = Servers::start();
    let zip = {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        zip.start_file("fine.txt", options).unwrap();
        zip.write_all(b"fine").unwrap();
        zip.start_file("../escape.txt", options).unwrap();
        zip.write_all(b"escaped").unwrap();
        zip.finish().unwrap().into_inner()
    };
    let base = tempfile::tempdir().unwrap();
    let out_dir = base.path().join("out");
    let out_arg = out_dir.display().to_string();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let receiver = runtime.block_on(async {
        let mut bound = Bound::connect(&servers.mailbox, APPID).await.unwrap();
        let nameplate = bound.allocate().await.unwrap();
        let code = WormholeCode::new_random(&nameplate).unwrap();
        let receiver = Running::spawn(
            servers.sockit("recv", &["-o", &out_arg, "--relay-only", code.as_str()]),
        );
        let versions = serde_json::json!({"app_versions": {}});
        let stop = tokio_util::sync::CancellationToken::new();
        let mut w = bound
            .join(&code, APPID, versions, STEP, &stop)
            .await
            .unwrap();
        let transit = Transit::new(None, &servers.relay).await.unwrap();
        w.send_json(&serde_json::json!({ "transit": transit.message() }))
            .await
            .unwrap();
        let offer = serde_json::json!({"offer": {"directory": {
            "mode": "zipfile/deflated", "dirname": "evil", "zipsize": zip.len(),
            "numbytes": 11, "numfiles": 2}}});
        w.send_json(&offer).await.unwrap();
        let mut peer = PeerHints::default();
        for _ in 0..4 {
            let msg = w.recv_json(STEP).await.unwrap();
            if let Some(h) = msg.get("transit") {
                peer = PeerHints::parse(h);
            }
            if msg.get("answer").is_some() {
                break;
            }
        }
        let key = w.derive(TRANSIT_PURPOSE);
        let mut conn = transit.connect(&key, Role::Sender, &peer).await.unwrap();
        conn.writer.send(&zip).await.unwrap();
        assert!(
            conn.reader.recv().await.is_err(),
            "a refused zip is never acknowledged"
        );
        w.close(Mood::Errory).await;
        receiver
    });
    let (code, _, stderr) = receiver.finish();
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("refusing the folder"), "{stderr}");
    assert!(stderr.contains("escape.txt"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(base.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left,
        vec![std::ffi::OsString::from("out")],
        "nothing beside -o"
    );
    assert_eq!(
        std::fs::read_dir(&out_dir).unwrap().count(),
        0,
        "nothing in -o either, not even the zip"
    );
}

/// Without `--mailbox` and `--relay`, the environment variables the Python client reads
/// choose the servers (here a closed port on loopback: refused, said, exit 1), and a
/// malformed one is a usage error before anything is contacted.
pub fn the_environment_chooses_the_servers() {
    let closed = closed_tcp_port();
    let url = format!("ws://127.0.0.1:{}/v1", closed.port);
    let mut cmd = sockit(&["send", "--wormhole", "--text", "x"]);
    cmd.env("WORMHOLE_RELAY_URL", &url)
        .env("WORMHOLE_TRANSIT_HELPER", "tcp:127.0.0.1:9");
    let out = run_with(cmd, b"");
    assert_eq!(out.code(), 1, "{}", out.stderr);
    assert!(out.stderr.contains(&url), "{}", out.stderr);
    let mut cmd = sockit(&["recv", "--wormhole", "7-guitarist-revenge"]);
    cmd.env("WORMHOLE_RELAY_URL", &url)
        .env("WORMHOLE_TRANSIT_HELPER", "tcp:nowhere");
    let out = run_with(cmd, b"");
    assert_eq!(out.code(), 2, "{}", out.stderr);
    assert!(out.stderr.contains("HOST:PORT"), "{}", out.stderr);
}

/// Ctrl-C while `send --wormhole` waits for its receiver: the mailbox is closed
/// politely (the nameplate released), and the exit is 130 with what was waited for.
pub fn ctrl_c_while_waiting_for_the_receiver_ends_with_130() {
    let servers = Servers::start();
    let sender = Running::spawn(servers.sockit("send", &["--text", "never read"]));
    sender.event("wormhole_code");
    signal(&sender.child.0, libc::SIGINT);
    let (code, _, stderr) = sender.finish();
    assert_eq!(code, 130, "{stderr}");
    assert!(
        stderr.contains("no receiver came before Ctrl-C"),
        "{stderr}"
    );
}

/// Two sockits send a folder with sockit's own protocol, directly: no zip, each file
/// verified by BLAKE3, the empty folder and the files' modes kept.
pub fn sockit_to_sockit_sends_a_folder_with_its_own_protocol() {
    use std::os::unix::fs::PermissionsExt as _;
    let servers = Servers::start();
    let (_src, root) = a_folder();
    let script = root.join("sub/run.sh");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o750)).unwrap();
    let direct = ["--bind", "127.0.0.1:0"];
    let root_arg = root.display().to_string();
    let sender = Running::spawn(servers.sockit("send", &[&direct[..], &[&root_arg]].concat()));
    let code = sockit_code(&sender);
    let out_dir = tempfile::tempdir().unwrap();
    let out_arg = out_dir.path().display().to_string();
    let out = run_with(
        servers.sockit("recv", &[&direct[..], &["-o", &out_arg, &code]].concat()),
        b"",
    );
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_path(&out.stdout_text(), "direct");
    let got = out_dir.path().join("álbum");
    assert_same_tree(&root, &got);
    let mode = std::fs::metadata(got.join("sub/run.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o750);
    let files = out.events_named("file");
    assert_eq!(files.len(), 4, "{}", out.stdout_text());
    for f in &files {
        assert!(f["blake3"].is_string() && f["sha256"].is_null(), "{f}");
    }
    let (code, stdout, stderr) = sender.finish();
    assert_eq!(code, 0, "{stderr}");
    assert_path(&stdout, "direct");
}

/// A TCP proxy on loopback in front of `upstream` (the relay). While `cut` is set,
/// once that many bytes in all have gone from its clients upstream, it closes every
/// connection both ways: a relayed transfer that breaks mid-file.
struct Proxy {
    addr: String,
}

impl Proxy {
    fn start(upstream: &str, cut: Option<u64>) -> Proxy {
        use std::net::{Shutdown, TcpListener, TcpStream};
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::sync::{Arc, Mutex};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let upstream = upstream.to_owned();
        let sent = Arc::new(AtomicU64::new(0));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        std::thread::spawn(move || {
            // A relayed transfer is two connections; a few more are room to spare.
            for client in listener.incoming().take(8) {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(&upstream) else {
                    return;
                };
                for s in [&client, &server] {
                    open.lock().unwrap().push(s.try_clone().unwrap());
                }
                let pipe = |from: &TcpStream, to: &TcpStream, count: bool| {
                    let (mut from, mut to) = (from.try_clone().unwrap(), to.try_clone().unwrap());
                    let (sent, open) = (sent.clone(), open.clone());
                    std::thread::spawn(move || {
                        use std::io::Write as _;
                        let mut buf = vec![0u8; 64 << 10];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 || to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                            let total = if count {
                                sent.fetch_add(n as u64, Ordering::AcqRel) + n as u64
                            } else {
                                0
                            };
                            if cut.is_some_and(|cut| total >= cut) {
                                // Shut down and closed, as a relay that dies: a side
                                // still writing gets a reset, not a socket that takes
                                // its bytes and never answers.
                                for s in open.lock().unwrap().drain(..) {
                                    let _ = s.shutdown(Shutdown::Both);
                                }
                                return;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Write);
                    });
                };
                pipe(&client, &server, true);
                pipe(&server, &client, false);
            }
        });
        Proxy { addr }
    }
}

/// sockit to sockit through the relay, cut off mid-file: the receiver keeps what it
/// verified, and a second wormhole (a new code) resumes from there, bit-exact.
pub fn sockit_to_sockit_over_the_relay_resumes_after_a_cut() {
    let servers = Servers::start();
    let (_src, file, data) = a_file("big.bin", 48 << 20);
    let file_arg = file.display().to_string();
    let out_dir = tempfile::tempdir().unwrap();
    let out_arg = out_dir.path().display().to_string();
    let transfer = |relay: &str| {
        let sender =
            Running::spawn(servers.sockit_via(relay, "send", &["--relay-only", &file_arg]));
        let code = sockit_code(&sender);
        let recv = ["-o", &out_arg, "--relay-only", &code];
        let out = run_with(servers.sockit_via(relay, "recv", &recv), b"");
        (out, sender.finish())
    };

    let cutting = Proxy::start(&servers.relay, Some(16 << 20));
    let (out, (sent, _, send_err)) = transfer(&cutting.addr);
    assert_ne!(
        out.code(),
        0,
        "the cut ends the receiver: {}",
        out.stdout_text()
    );
    assert_ne!(sent, 0, "and the sender: {send_err}");
    let warned = out.events_named("warning");
    assert!(
        warned
            .iter()
            .any(|w| w["message"].as_str().unwrap().contains("new wormhole")),
        "it says how to resume: {warned:?}"
    );
    let kept: Vec<_> = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        kept.len() == 1 && kept[0].starts_with(sockit::transfer::PART_PREFIX),
        "what arrived is kept, hidden: {kept:?}"
    );

    let (out, (sent, _, send_err)) = transfer(&Proxy::start(&servers.relay, None).addr);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(sent, 0, "{send_err}");
    assert_path(&out.stdout_text(), "relay");
    let file_event = &out.events_named("file")[0];
    let resumed = file_event["resumed"].as_u64().unwrap();
    assert!(
        resumed > 0 && resumed < data.len() as u64,
        "resumed from the verified prefix: {file_event}"
    );
    assert!(std::fs::read(out_dir.path().join("big.bin")).unwrap() == data);
}

/// A 200 MiB file both ways between sockit and the Python client, bit-exact.
pub fn a_200_mib_file_both_ways_with_wormhole() {
    sockit_sends_a_file_of(&["--relay-only"], "relay", 200 << 20);
    sockit_receives_a_file_of(&["--relay-only"], "relay", 200 << 20);
}

/// A network namespace with loopback and one interface, 10.213.0.1/24: a host
/// whose "LAN address" leads nowhere but back into itself. Deleted when dropped.
struct Island {
    ns: String,
}

impl Island {
    fn new() -> Island {
        let ns = format!("sockit-{}-wormhole", std::process::id());
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().expect("run ip");
            assert!(
                out.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        ip(&["netns", "add", &ns]);
        let island = Island { ns: ns.clone() };
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        // A veth pair with both ends inside (this kernel may lack the dummy device).
        ip(&[
            "-n", &ns, "link", "add", "v0", "type", "veth", "peer", "name", "v1",
        ]);
        ip(&["-n", &ns, "addr", "add", "10.213.0.1/24", "dev", "v0"]);
        ip(&["-n", &ns, "link", "set", "v0", "up"]);
        ip(&["-n", &ns, "link", "set", "v1", "up"]);
        island
    }
}

impl Drop for Island {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

/// With direct hints on both sides (a namespace where the Python client may listen),
/// sockit and the Python client connect directly to each other's hints, both ways.
pub fn sockit_and_the_python_client_connect_directly_to_each_others_hints() {
    let island = Island::new();
    let servers = Servers::start_in(Some(&island.ns));
    let direct_to = |stdout: &str| {
        let transit = assert_path(stdout, "direct");
        assert!(
            transit["peer"].as_str().unwrap().starts_with("10.213.0.1:"),
            "by the interface's address, not loopback: {transit}"
        );
    };

    let (_src, file, data) = a_file("one.bin", 1 << 20);
    let sender = Running::spawn(servers.sockit("send", &[file.to_str().unwrap()]));
    let code = sockit_code(&sender);
    let (out_dir, out) = python_receives(&servers, &code);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(std::fs::read(out_dir.path().join("one.bin")).unwrap() == data);
    let (code, stdout, stderr) = sender.finish();
    assert_eq!(code, 0, "{stderr}");
    direct_to(&stdout);

    let sender = Running::spawn(servers.python("send", &[file.to_str().unwrap()]));
    let code = sender.python_code();
    let out_dir = tempfile::tempdir().unwrap();
    let out_arg = out_dir.path().display().to_string();
    let out = run_with(servers.sockit("recv", &["-o", &out_arg, &code]), b"");
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(std::fs::read(out_dir.path().join("one.bin")).unwrap() == data);
    direct_to(&out.stdout_text());
    assert_eq!(sender.finish().0, 0);
}

/// `send --wormhole --code` uses the code given, as `wormhole send --code` does.
pub fn send_uses_the_code_it_is_given() {
    let servers = Servers::start();
    let sender =
        Running::spawn(servers.sockit("send", &["--code", "4-purple-sausages", "--text", "given"]));
    assert_eq!(sockit_code(&sender), "4-purple-sausages");
    let out = run_with(servers.python("receive", &["4-purple-sausages"]), b"");
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(out.stdout_text(), "given\n");
    assert_eq!(sender.finish().0, 0);
    let bad = run_with(
        servers.sockit("send", &["--code", "purple", "--text", "x"]),
        b"",
    );
    assert_eq!(bad.code(), 2, "{}", bad.stderr);
}
