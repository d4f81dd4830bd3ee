//! `--qr` (issue 18): `http serve` and `send` draw a QR code for a person at a terminal
//! (a pseudo-terminal here), and nothing of it anywhere else.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use crate::harness::*;
use crate::http_client::get;

const CODE: &str = "42-amber-lantern";

/// The characters a code is drawn with, none of which other output uses.
const BLOCKS: [char; 3] = ['█', '▀', '▄'];

/// Runs ARGV on a pseudo-terminal of COLUMNS×ROWS until what it printed matches UNTIL (a
/// regex), then sends Ctrl-C; prints everything it showed. Exits 1, with what was
/// shown, if UNTIL is not seen within 10 s (the harness allows 20 in all).
const ON_A_PTY: &str = r#"
import fcntl, os, pty, re, select, signal, struct, sys, termios, time
cols, rows, until, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
pid, fd = pty.fork()
if pid == 0:
    # Set before exec, so the program never sees another size.
    fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
    os.execv(argv[0], argv)
seen = b''
def read_more(timeout):
    global seen
    if not select.select([fd], [], [], timeout)[0]:
        return True
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        return False
    seen += chunk
    return bool(chunk)
deadline = time.time() + 10
found = False
while time.time() < deadline:
    if re.search(until, seen.decode('utf-8', 'replace')):
        found = True
        break
    if not read_more(0.2):
        break
os.kill(pid, signal.SIGINT)
while time.time() < deadline + 5 and read_more(1):
    pass
os.waitpid(pid, 0)
sys.stdout.write(seen.decode('utf-8', 'replace'))
sys.exit(0 if found else 1)
"#;

/// What `sockit ARGS` shows on a COLUMNS×ROWS terminal until UNTIL, with colour or
/// without (`NO_COLOR`); carriage returns removed.
fn on_a_terminal(size: (u16, u16), colour: bool, until: &str, args: &[&str]) -> String {
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(ON_A_PTY)
        .arg(size.0.to_string())
        .arg(size.1.to_string())
        .arg(until)
        .arg(bin())
        .args(args)
        .env("TERM", "xterm-256color");
    if colour {
        cmd.env_remove("NO_COLOR").env_remove("CLICOLOR");
    } else {
        cmd.env("NO_COLOR", "1");
    }
    let out = run_with(cmd, b"");
    let shown = out.stdout_text().replace('\r', "");
    assert!(out.status.success(), "{until:?} not seen in:\n{shown}");
    shown
}

/// The lines of `shown` that draw a code, escape codes and all.
fn code_lines(shown: &str) -> Vec<String> {
    shown
        .lines()
        .filter(|l| {
            let plain = strip_escapes(l);
            !plain.is_empty() && plain.chars().all(|c| c == ' ' || BLOCKS.contains(&c))
        })
        .map(strip_escapes)
        .collect()
}

fn strip_escapes(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            chars.by_ref().find(|&c| c == 'm');
        } else {
            out.push(c);
        }
    }
    out
}

/// Decodes the code drawn in `lines` (a block is light, a space dark; two modules per
/// row) with rqrr, from a picture of 4×4 pixels per module, as a phone would.
fn decode(lines: &[String]) -> String {
    let mut grid: Vec<Vec<bool>> = Vec::new();
    for line in lines {
        grid.push(line.chars().map(|c| c == '█' || c == '▀').collect());
        grid.push(line.chars().map(|c| c == '█' || c == '▄').collect());
    }
    let scale = 4;
    let (w, h) = (grid[0].len() * scale, grid.len() * scale);
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
        if grid[y / scale][x / scale] {
            255
        } else {
            0
        }
    });
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one code in:\n{}", lines.join("\n"));
    grids[0].decode().expect("the code decodes").1
}

/// The port in a `listening on PROTO://127.0.0.1:PORT` line.
fn port_in(shown: &str) -> u16 {
    let line = shown
        .lines()
        .find(|l| l.contains("listening on"))
        .unwrap_or_else(|| panic!("no listening line in:\n{shown}"));
    let line = strip_escapes(line);
    line.rsplit(':').next().unwrap().trim().parse().unwrap()
}

#[test]
fn issue18_on_a_terminal_http_serve_draws_its_url_in_colour_and_it_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().display().to_string();
    let args = ["http", "serve", &dir, "--qr", "--bind", "127.0.0.1:0"];
    let shown = on_a_terminal((100, 40), true, r"http://127\.0\.0\.1:\d+/\r\n", &args);
    let url = format!("http://127.0.0.1:{}/", port_in(&shown));
    let lines = code_lines(&shown);
    assert_eq!(decode(&lines), url, "{shown}");
    // Light and dark are both set, so the code reads the same on any theme.
    let drawn = shown.lines().find(|l| l.contains('█')).unwrap();
    assert!(drawn.starts_with("\x1b[97m\x1b[40m"), "{drawn:?}");
    // Under the code, its URL as text; above it, why a phone cannot open it.
    let after = shown.split(lines.last().unwrap()).nth(1).unwrap();
    assert!(after.contains(&format!("  {url}")), "{shown}");
    assert!(shown.contains("127.0.0.1 is loopback"), "{shown}");
}

#[test]
fn issue18_on_a_narrow_terminal_http_serve_says_so_and_prints_the_url_only() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().display().to_string();
    let args = ["http", "serve", &dir, "--qr", "--bind", "127.0.0.1:0"];
    let shown = on_a_terminal((30, 40), false, r"http://127\.0\.0\.1:\d+/\r\n", &args);
    assert!(!shown.contains(BLOCKS), "{shown}");
    assert!(shown.contains("no room for the QR code"), "{shown}");
    assert!(shown.contains("the terminal is 30×40"), "{shown}");
    let url = format!("http://127.0.0.1:{}/", port_in(&shown));
    assert!(shown.contains(&format!("  {url}")), "{shown}");
}

#[test]
fn issue18_on_a_terminal_send_draws_the_recv_command_under_ready() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let path = file.path().display().to_string();
    let args = [
        "send",
        &path,
        "--qr",
        "--no-announce",
        "--code",
        CODE,
        "--bind",
        "127.0.0.1:0",
    ];
    // The last row of a code is the upper half of its quiet zone.
    let shown = on_a_terminal((80, 24), false, "\n▀{30,}\r\n", &args);
    let command = format!("sockit recv 127.0.0.1:{} --code {CODE}", port_in(&shown));
    let lines = code_lines(&shown);
    assert_eq!(decode(&lines), command, "{shown}");
    let ready = shown.find("ready:").unwrap();
    assert!(ready < shown.find(&lines[0]).unwrap(), "{shown}");
}

/// Spawns `sockit ARGS` for people (no `--json`) with stdout a pipe; returns it and its
/// stdout's lines as they come.
fn for_people_on_a_pipe(args: &[&str]) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut child = Command::new(bin())
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

#[test]
fn issue18_http_serve_qr_on_a_pipe_prints_no_code_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "hello").unwrap();
    let path = dir.path().display().to_string();
    let (mut child, lines) =
        for_people_on_a_pipe(&["http", "serve", &path, "--qr", "--bind", "127.0.0.1:0"]);
    let first = lines.recv_timeout(STEP).unwrap();
    let port = port_in(&first);
    assert_eq!(
        get(&format!("http://127.0.0.1:{port}/a.txt")).text(),
        "hello"
    );
    signal(&child, libc::SIGINT);
    wait_bounded(&mut child);
    let rest: Vec<String> = lines.try_iter().collect();
    let shown = format!("{first}\n{}", rest.join("\n"));
    assert!(
        !shown.contains(BLOCKS) && !shown.contains("--qr"),
        "{shown}"
    );
    assert!(shown.contains("GET /a.txt"), "{shown}");
}

#[test]
fn issue18_send_qr_on_a_pipe_or_with_json_prints_no_code_and_sends() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "payload").unwrap();
    let path = file.path().display().to_string();
    let name = file.path().file_name().unwrap().to_str().unwrap();
    let args = ["send", &path, "--qr", "--no-announce", "--code", CODE];

    let mut for_people = args.to_vec();
    for_people.extend(["--bind", "127.0.0.1:0"]);
    let (mut child, lines) = for_people_on_a_pipe(&for_people);
    let first = lines.recv_timeout(STEP).unwrap();
    let port = port_in(&first);
    let out = tempfile::tempdir().unwrap();
    let o = out.path().display().to_string();
    let addr = format!("127.0.0.1:{port}");
    let got = run(&["recv", &addr, "--code", CODE, "-o", &o], b"");
    assert_eq!(got.code(), 0, "{}", got.stderr);
    assert_eq!(std::fs::read(out.path().join(name)).unwrap(), b"payload");
    wait_bounded(&mut child);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let shown = format!(
        "{first}\n{}",
        lines.try_iter().collect::<Vec<_>>().join("\n")
    );
    assert!(
        !shown.contains(BLOCKS) && !shown.contains("--qr"),
        "{shown}{err}"
    );

    // With --json: the usual events (each checked against docs/events.md), no other.
    let server = Server::start(&args);
    server.wait_for("ready");
    let out = tempfile::tempdir().unwrap();
    assert_eq!(transfer_recv(&server, out.path(), CODE).code(), 0);
    let (status, events) = server.wait_exit();
    assert!(status.success());
    assert!(events.iter().all(|e| e["event"] != "warning"), "{events:?}");
}
