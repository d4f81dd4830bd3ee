//! `udp serve` and `udp send`, against each other and against the notes' programs.

use std::io::{BufRead, BufReader, Read};
use std::net::UdpSocket;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

/// A Python program that prints its port on its first line; killed when dropped.
pub struct Py {
    child: Child,
    lines: BufReader<ChildStdout>,
    pub port: String,
}

impl Py {
    pub fn start(script: &str) -> Py {
        let mut child = Command::new("python3")
            .arg("-u")
            .arg("-c")
            .arg(script)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut lines = BufReader::new(child.stdout.take().unwrap());
        let mut port = String::new();
        lines.read_line(&mut port).unwrap();
        Py {
            child,
            lines,
            port: port.trim().to_owned(),
        }
    }

    /// Waits (bounded by the script's own loop and socket timeout) for the program to end
    /// and returns the rest of what it printed.
    pub fn finish(mut self) -> String {
        let mut rest = String::new();
        self.lines.read_to_string(&mut rest).unwrap();
        assert!(
            self.child.wait().unwrap().success(),
            "python failed: {rest}"
        );
        rest
    }
}

impl Drop for Py {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn argv_words_form_one_datagram_and_the_ack_names_its_size() {
    let server = Server::start(&["udp", "serve"]);
    let addr = server.addr.to_string();
    let out = run(&["udp", "send", &addr, "hello", "粘包", "world"], b"");
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let sent = &out.events_named("sent")[0];
    assert_eq!(
        (sent["to"].as_str(), sent["bytes"].as_u64()),
        (Some(&*addr), Some(18))
    );
    let reply = &out.events_named("datagram")[0];
    assert_eq!(reply["text"], "received 18 bytes");
    assert_eq!(reply["peer"], addr.as_str());

    let got = server.wait_for("datagram");
    assert_eq!(got["text"], "hello 粘包 world");
    assert_eq!(got["bytes"], 18);
    assert_eq!(got["truncated"], false);
    assert!(got.get("size").is_none(), "{got}");
    assert_eq!(server.wait_for("reply")["text"], "received 18 bytes");
}

#[test]
fn each_stdin_line_is_one_datagram() {
    let server = Server::start(&["udp", "serve", "--echo"]);
    let out = run(&["udp", "send", &server.port()], b"one\r\ntwo\n\nthree");
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let echoed: Vec<_> = out
        .events_named("datagram")
        .iter()
        .map(|e| e["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(echoed, ["one", "two", "", "three"]);
    for want in ["one", "two", "", "three"] {
        assert_eq!(server.wait_for("datagram")["text"], want);
    }
}

#[test]
fn a_datagram_larger_than_the_buffer_is_reported_truncated_with_its_real_size() {
    let server = Server::start(&["udp", "serve", "--buffer", "1024"]);
    let big = "x".repeat(3000);
    let out = run(&["udp", "send", &server.addr.to_string(), &big], b"");
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let got = server.wait_for("datagram");
    assert_eq!(got["truncated"], true);
    assert_eq!(got["size"], 3000);
    assert_eq!(got["bytes"], 1024);
    assert_eq!(got["text"].as_str().unwrap().len(), 1024);
    assert_eq!(
        out.events_named("datagram")[0]["text"],
        "received 1024 of 3000 bytes (truncated)"
    );
    let (status, rest) = server.interrupt();
    assert!(status.success());
    let totals = rest.iter().find(|e| e["event"] == "totals").unwrap();
    // Issue 12: what was kept and what was sent, not the lost bytes counted as received.
    assert_eq!(
        (
            &totals["datagrams"],
            &totals["bytes"],
            &totals["size"],
            &totals["truncated"]
        ),
        (&1.into(), &1024.into(), &3000.into(), &1.into())
    );
}

#[test]
fn reply_text_and_silent() {
    let server = Server::start(&["udp", "serve", "--reply", "got it"]);
    let out = run(&["udp", "send", &server.port(), "x"], b"");
    assert_eq!(out.events_named("datagram")[0]["text"], "got it");

    let server = Server::start(&["udp", "serve", "--silent"]);
    let out = run(
        &["udp", "send", &server.port(), "x", "--wait", "200ms"],
        b"",
    );
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(out.events_named("datagram").is_empty());
    assert_eq!(server.wait_for("datagram")["text"], "x");
}

#[test]
fn binary_datagrams_are_base64_in_json() {
    let server = Server::start(&["udp", "serve", "--silent"]);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.send_to(&[0xff, 0x00], server.addr).unwrap();
    let got = server.wait_for("datagram");
    assert_eq!(got["base64"], "/wA=");
    assert!(got.get("text").is_none());
}

#[test]
fn nobody_listening_is_one_line_and_exit_1() {
    let closed = closed_udp_port();
    let port = closed.port;
    let out = run(
        &["udp", "send", &format!("127.0.0.1:{port}"), "anyone?"],
        b"",
    );
    assert_eq!(out.code(), 1);
    assert_eq!(
        out.stderr,
        format!("sockit: no one is listening at 127.0.0.1:{port} (connection refused)\n")
    );
}

#[test]
fn a_message_over_the_udp_limit_is_refused_before_sending() {
    let server = Server::start(&["udp", "serve", "--silent"]);
    let addr = server.addr.to_string();
    let out = run(&["udp", "send", &addr, &"x".repeat(65_508)], b"");
    assert_eq!(out.code(), 1);
    assert!(
        out.stderr
            .contains("over the maximum UDP payload of 65507 bytes (IPv4)"),
        "{}",
        out.stderr
    );
    assert!(out.events_named("sent").is_empty());
    // The largest legal datagram goes through whole; the refused one never arrived.
    let out = run(&["udp", "send", &addr, "--wait", "0s"], &vec![b'y'; 65_507]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let got = server.wait_for("datagram");
    assert_eq!(
        (got["bytes"].as_u64(), got["truncated"].as_bool()),
        (Some(65_507), Some(false))
    );

    let mut line = vec![b'z'; 70_000];
    line.push(b'\n');
    let out = run(&["udp", "send", &addr], &line);
    assert_eq!(out.code(), 1);
    assert!(
        out.stderr.contains("stdin line 1 is over"),
        "{}",
        out.stderr
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["udp", "serve", "--buffer", "0"][..],
        &["udp", "serve", "--buffer", "1MiB"],
        &["udp", "serve", "--echo", "--silent"],
    ] {
        let out = run(args, b"");
        assert_eq!(out.code(), 2, "{args:?}: {}", out.stderr);
    }
}

#[test]
fn udp_send_against_a_python_recvfrom_server() {
    let py = Py::start(
        r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', 0))
s.settimeout(15)
print(s.getsockname()[1])
data, addr = s.recvfrom(1024)
print('from', addr, data.decode())
s.sendto('收到'.encode(), addr)
"#,
    );
    let out = run(&["udp", "send", &py.port, "你好", "python"], b"");
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(out.events_named("datagram")[0]["text"], "收到");
    assert!(py.finish().contains("你好 python"));
}

/// The notes' sys.argv sender (section 四 3), as printed there.
const NOTES_ARGV_SENDER: &str = r#"
from socket import *
import sys
sockfd=socket(AF_INET,SOCK_DGRAM)
sockfd.sendto(input().encode(),(sys.argv[1],int(sys.argv[2])))
sockfd.close()
"#;

#[test]
fn notes_argv_sender_against_sockit_serve() {
    let server = Server::start(&["udp", "serve"]);
    let out = python(
        NOTES_ARGV_SENDER,
        &["127.0.0.1", &server.port()],
        "中奖了 hello\n".as_bytes(),
    );
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(server.wait_for("datagram")["text"], "中奖了 hello");
}

/// The notes' UDP client (section 四 2), with its socket made and its port passed in.
const NOTES_UDP_CLIENT: &str = r#"
from socket import *
import sys
sockfd=socket(AF_INET,SOCK_DGRAM)
sockfd.settimeout(15)
server_addr=('127.0.0.1',int(sys.argv[1]))
sockfd.connect(server_addr)
while True:
    try:
        data=input('>>')
    except EOFError:
        break
    if not data:
        break
    sockfd.send(data.encode())
    data=sockfd.recv(1024)
    print('服务器:',data.decode())
sockfd.close()
"#;

#[test]
fn notes_udp_client_against_sockit_serve() {
    let server = Server::start(&["udp", "serve"]);
    let out = python(NOTES_UDP_CLIENT, &[&server.port()], "hi\n粘包\n".as_bytes());
    assert!(out.status.success(), "{}", out.stderr);
    let printed = out.stdout_text();
    assert!(printed.contains("服务器: received 2 bytes"), "{printed}");
    assert!(printed.contains("服务器: received 6 bytes"), "{printed}");
}

/// Colour follows the conventions anstream implements: `CLICOLOR_FORCE` colours even a
/// pipe, `NO_COLOR` wins over it, and a pipe is plain by default.
#[test]
fn issue16_colour_follows_no_color_and_clicolor_force() {
    let server = Server::start(&["udp", "serve", "--silent"]);
    let first_line = |env: &[(&str, &str)]| {
        let mut cmd = Command::new(bin());
        cmd.args(["udp", "send", &server.port(), "abc", "--wait", "0ms"]);
        for var in ["NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE"] {
            cmd.env_remove(var);
        }
        cmd.envs(env.iter().copied());
        let out = run_with(cmd, b"");
        assert_eq!(out.code(), 0, "{}", out.stderr);
        out.stdout_text()
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    let plain = format!("sent 3 bytes to {}", server.addr);
    assert_eq!(first_line(&[]), plain);
    assert_eq!(
        first_line(&[("CLICOLOR_FORCE", "1")]),
        format!("\x1b[2m{plain}\x1b[0m")
    );
    assert_eq!(
        first_line(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]),
        plain
    );
}

#[test]
fn people_see_one_line_per_datagram() {
    let server = Server::start(&["udp", "serve", "--buffer", "4"]);
    let mut cmd = Command::new(bin());
    cmd.args(["udp", "send", &server.port(), "abcdef"])
        .env("NO_COLOR", "1");
    let out = run_with(cmd, b"");
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let text = out.stdout_text();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines[0], format!("sent 6 bytes to {}", server.addr));
    assert_eq!(
        lines[1],
        format!(
            "[{}] 33 bytes: received 4 of 6 bytes (truncated)",
            server.addr
        )
    );
}

#[test]
fn rcvbuf_is_asked_for_and_shown_or_its_cap_is_named() {
    let server = Server::start(&["-v", "udp", "serve", "--rcvbuf", "1MiB"]);
    let ev = server.wait_until(|e| e["event"] == "socket" || e["event"] == "warning");
    if ev["event"] == "warning" {
        assert!(ev["message"]
            .as_str()
            .unwrap()
            .contains("net.core.rmem_max"));
    } else {
        assert!(
            ev["options"]["SO_RCVBUF"].as_u64().unwrap() >= 1 << 20,
            "{ev}"
        );
    }
}

#[test]
fn a_burst_is_printed_whole_and_in_order() {
    // 150 small datagrams fit the default receive queue (256), so none may be lost; the
    // server takes them in batches and must still print one event each, in order.
    let server = Server::start(&["udp", "serve", "--silent"]);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..150 {
        sock.send_to(i.to_string().as_bytes(), server.addr).unwrap();
    }
    for i in 0..150 {
        assert_eq!(server.wait_for("datagram")["text"], i.to_string());
    }
}

#[test]
fn broadcast_destinations_need_the_flag_and_replies_come_from_the_host() {
    // Bound to 0.0.0.0, the server hears loopback broadcasts; it answers from 127.0.0.1.
    let server = Server::start_exact(&["udp", "serve", "--bind", "0.0.0.0:0"]);
    let to = format!("127.255.255.255:{}", server.port());
    let out = run(&["udp", "send", &to, "hi"], b"");
    assert_eq!(out.code(), 1);
    assert!(
        out.stderr
            .contains("permission denied (a broadcast address needs --broadcast)"),
        "{}",
        out.stderr
    );
    let out = run(&["udp", "send", &to, "hi", "--broadcast"], b"");
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let reply = &out.events_named("datagram")[0];
    assert_eq!(reply["text"], "received 2 bytes");
    assert_eq!(reply["peer"], format!("127.0.0.1:{}", server.port()));
}

/// Datagrams the kernel dropped before any socket (the per-CPU backlog of incoming
/// packets full), from `/proc/net/softnet_stat`: host-wide, not per socket.
fn softnet_drops() -> u64 {
    std::fs::read_to_string("/proc/net/softnet_stat")
        .unwrap()
        .lines()
        .map(|l| u64::from_str_radix(l.split_whitespace().nth(1).unwrap(), 16).unwrap())
        .sum()
}

#[test]
fn issue13_kernel_drops_are_reported_and_what_was_sent_is_accounted_for() {
    let server = Server::start(&["udp", "serve", "--silent", "--rcvbuf", "4096"]);
    let before = softnet_drops();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let datagram = [b'z'; 1000];
    let mut sent = 0u64;
    for _ in 0..20_000 {
        if udp.send_to(&datagram, server.addr).is_ok() {
            sent += 1;
        }
    }
    let (mut shown, mut printer_dropped, mut reported) = (0u64, 0u64, 0u64);
    let mut count = |ev: &serde_json::Value| match ev["event"].as_str().unwrap() {
        "datagram" => shown += 1,
        "dropped" => printer_dropped += ev["events"].as_u64().unwrap(),
        "kernel_dropped" => reported += ev["datagrams"].as_u64().unwrap(),
        _ => {}
    };
    // The flood overflows a 4 KiB queue at once: the next datagram received says so.
    loop {
        let ev = server.next_event();
        count(&ev);
        if ev["event"] == "kernel_dropped" {
            break;
        }
    }
    // Datagrams still queued at Ctrl-C would be neither received nor dropped: send a
    // last one until it is seen, so that everything before it has been taken.
    let mut seen_end = false;
    for _ in 0..50 {
        udp.send_to(b"end", server.addr).unwrap();
        sent += 1;
        let wait_until = Instant::now() + Duration::from_millis(200);
        while let Some(ev) =
            server.event_within(wait_until.saturating_duration_since(Instant::now()))
        {
            count(&ev);
            if ev["event"] == "datagram" && ev["text"] == "end" {
                seen_end = true;
                break;
            }
        }
        if seen_end {
            break;
        }
    }
    assert!(seen_end, "the last datagram never came through");
    let (status, rest) = server.interrupt();
    assert!(status.success());
    rest.iter().for_each(&mut count);
    let totals = rest
        .iter()
        .find(|e| e["event"] == "totals")
        .expect("totals");
    let received = totals["datagrams"].as_u64().unwrap();
    let by_kernel = totals["dropped_by_kernel"].as_u64().unwrap();
    assert!(by_kernel > 0, "{totals}");
    assert!(
        reported > 0 && reported <= by_kernel,
        "{reported} of {by_kernel}"
    );
    // Every datagram received is shown or counted by the printer's `dropped`.
    assert_eq!(shown + printer_dropped, received, "{totals}");
    // The socket's counter is exact for what reached the socket; on loopback a packet
    // can also be lost earlier, in the per-CPU backlog (netdev_max_backlog), which only
    // the host-wide softnet counter sees.
    let lost_before_socket = softnet_drops() - before;
    assert!(received + by_kernel <= sent, "{totals}, {sent} sent");
    assert!(
        received + by_kernel + lost_before_socket >= sent,
        "{totals}, {sent} sent, {lost_before_socket} lost before the socket"
    );
    eprintln!("{sent} sent: {received} received, {by_kernel} dropped by the kernel, {lost_before_socket} in the backlog");
}
