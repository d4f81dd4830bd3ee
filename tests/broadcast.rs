//! `broadcast send` and `broadcast listen` on loopback: every datagram goes to
//! 127.255.255.255, which the kernel delivers to sockets bound to 0.0.0.0 (or to the
//! broadcast address itself) but not to those bound to 127.0.0.1.

use crate::harness::*;
use crate::udp::Py;

/// A listener on a free port of every interface; broadcasts to 127.255.255.255 reach it.
fn listener() -> Server {
    Server::start_exact(&["broadcast", "listen", "--bind", "0.0.0.0:0"])
}

fn texts(server: &Server, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            server.wait_for("datagram")["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn loopback_broadcast_reaches_the_listener_with_numbered_messages() {
    let l = listener();
    let out = run(
        &[
            "broadcast",
            "send",
            "--to",
            "127.255.255.255",
            "--port",
            &l.port(),
            "--count",
            "2",
            "--interval",
            "50ms",
        ],
        b"",
    );
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let sent = out.events_named("sent");
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0]["to"], format!("127.255.255.255:{}", l.port()));
    assert_eq!(texts(&l, 2), ["sockit broadcast 1", "sockit broadcast 2"]);
    let (status, rest) = l.interrupt();
    assert!(status.success());
    let totals = rest.iter().find(|e| e["event"] == "totals").unwrap();
    assert_eq!(totals["datagrams"], 2);
}

#[test]
fn two_listeners_on_one_port_both_receive() {
    let first = listener();
    let second = Server::start_exact(&[
        "broadcast",
        "listen",
        "--bind",
        &format!("0.0.0.0:{}", first.port()),
    ]);
    assert_eq!(first.addr, second.addr);
    let out = run(
        &[
            "broadcast",
            "send",
            "中奖了",
            "--to",
            &format!("127.255.255.255:{}", first.port()),
            "--count",
            "1",
        ],
        b"",
    );
    assert_eq!(out.code(), 0, "{}", out.stderr);
    for l in [&first, &second] {
        let got = l.wait_for("datagram");
        assert_eq!(got["text"], "中奖了");
        assert!(
            got["peer"].as_str().unwrap().starts_with("127.0.0.1:"),
            "{got}"
        );
    }
}

#[test]
fn storms_and_non_multicast_groups_are_usage_errors() {
    let out = run(
        &[
            "broadcast",
            "send",
            "--to",
            "127.255.255.255",
            "--interval",
            "49ms",
        ],
        b"",
    );
    assert_eq!(out.code(), 2);
    assert!(out.stderr.contains("broadcast storm"), "{}", out.stderr);
    assert!(out.stdout.is_empty());
    let out = run(
        &["broadcast", "send", "--group", "10.1.2.3", "--count", "1"],
        b"",
    );
    assert_eq!(out.code(), 2, "{}", out.stderr);
    let out = run(
        &[
            "broadcast",
            "listen",
            "--bind",
            "127.0.0.1:0",
            "--group",
            "127.0.0.1",
        ],
        b"",
    );
    assert_eq!(out.code(), 2, "{}", out.stderr);
}

/// The notes' broadcast receiver (section 八): its port made free (and printed), its loop
/// bounded, a timeout so it cannot hang.
const NOTES_RECEIVER: &str = r#"
from socket import *
s=socket(AF_INET,SOCK_DGRAM)
#可以发送接收广播
s.setsockopt(SOL_SOCKET,SO_BROADCAST,1)
s.bind(('0.0.0.0',0))
s.settimeout(15)
print(s.getsockname()[1])
for _ in range(2):
    try:
        msg,addr=s.recvfrom(1024)
        print('从{}获取广播:{}'.format(addr,msg.decode()))
    except KeyboardInterrupt:
        print('退出接收')
        break
    except Exception as e:
        print(e)
s.close()
"#;

#[test]
fn notes_receiver_hears_sockit_broadcast_send() {
    let py = Py::start(NOTES_RECEIVER);
    let out = run(
        &[
            "broadcast",
            "send",
            "恭喜你，中奖了",
            "--to",
            "127.255.255.255",
            "--port",
            &py.port,
            "--count",
            "2",
            "--interval",
            "50ms",
        ],
        b"",
    );
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let printed = py.finish();
    assert_eq!(
        printed.matches("获取广播:恭喜你，中奖了").count(),
        2,
        "{printed}"
    );
}

/// The notes' broadcast sender (section 八), its destination made loopback and its loop
/// bounded.
const NOTES_SENDER: &str = r#"
from socket import *
from time import sleep
import sys
s=socket(AF_INET,SOCK_DGRAM)
dest=(('127.255.255.255',int(sys.argv[1])))
#可以发送接收广播
s.setsockopt(SOL_SOCKET,SO_BROADCAST,1)

for _ in range(3):
    sleep(0.05)
    s.sendto('恭喜你，中奖了'.encode(),dest)
s.close()
"#;

#[test]
fn sockit_listen_hears_the_notes_sender() {
    let l = listener();
    let out = python(NOTES_SENDER, &[&l.port()], b"");
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(texts(&l, 3), ["恭喜你，中奖了"; 3]);
}
