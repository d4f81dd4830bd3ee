//! The UDP lessons (notes 四, 五, 八.1): message boundaries, truncation, refusal,
//! command-line arguments and broadcast on loopback.

use std::io;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::UdpSocket;

use super::{real, Demo, Lesson};
use crate::net::dgram::{self, UdpOptions};

fn server() -> anyhow::Result<UdpSocket> {
    Ok(dgram::udp_bind(
        "127.0.0.1:0".parse()?,
        UdpOptions::default(),
    )?)
}

/// One datagram, or a failure if none comes soon.
async fn recv(socket: &UdpSocket, buf: &mut [u8]) -> anyhow::Result<dgram::Received> {
    tokio::time::timeout(Duration::from_secs(3), dgram::recv(socket, buf))
        .await
        .context("no datagram arrived within 3 s")?
        .context("recvfrom")
}

pub async fn boundaries(l: &mut Lesson) -> Demo {
    let server = server()?;
    let client = dgram::udp_connect(server.local_addr()?, UdpOptions::default())?;
    let sent = ["one", "two", "three"];
    for m in sent {
        client.send(m.as_bytes()).await?;
    }
    l.say(
        "3 quick sendto: \"one\" \"two\" \"three\"",
        "连续 3 次 sendto：\"one\" \"two\" \"three\"",
    );
    let mut buf = [0u8; 1024];
    let mut got = Vec::new();
    for i in 1..=sent.len() {
        let r = recv(&server, &mut buf).await?;
        let text = String::from_utf8_lossy(&buf[..r.len]).into_owned();
        l.say(
            format!("recvfrom #{i} -> {:?} from {}", text, r.peer),
            format!("第 {i} 次 recvfrom -> {:?}，来自 {}", text, r.peer),
        );
        got.push(text);
    }
    l.check(
        got == sent,
        "each datagram arrived whole and alone",
        "每个数据报都完整、单独地到达",
    );
    Ok(())
}

pub async fn truncation(l: &mut Lesson) -> Demo {
    const SIZE: usize = 3000;
    const BUFFER: usize = 1024;
    let server = server()?;
    let client = dgram::udp_connect(server.local_addr()?, UdpOptions::default())?;
    client.send(&[b'a'; SIZE]).await?;
    client.send(b"next").await?;
    l.say(
        format!("sendto a {SIZE}-byte datagram, then \"next\""),
        format!("sendto 一个 {SIZE} 字节的数据报，然后发送 \"next\""),
    );
    let mut buf = [0u8; BUFFER];
    let big = recv(&server, &mut buf).await?;
    l.say(
        format!(
            "recvfrom({BUFFER}) -> {} bytes kept of {} (MSG_TRUNC: truncated)",
            big.len, big.size
        ),
        format!(
            "recvfrom({BUFFER}) -> 保留 {} 字节，数据报实际 {} 字节（MSG_TRUNC：已截断）",
            big.len, big.size
        ),
    );
    let next = recv(&server, &mut buf).await?;
    let text = String::from_utf8_lossy(&buf[..next.len]).into_owned();
    l.say(
        format!(
            "recvfrom({BUFFER}) -> {text:?}: the lost {} bytes are gone",
            big.size - big.len
        ),
        format!(
            "recvfrom({BUFFER}) -> {text:?}：丢失的 {} 字节不会再出现",
            big.size - big.len
        ),
    );
    l.check(
        big.truncated() && big.len == BUFFER && big.size == SIZE,
        "the datagram was truncated and its real size reported",
        "数据报被截断，且报告了真实大小",
    );
    l.check(text == "next", "the rest was lost", "多出的部分已丢失");
    Ok(())
}

pub async fn refused(l: &mut Lesson) -> Demo {
    // A port that was just free: bound, learnt, released.
    let nobody = server()?.local_addr()?;
    let client = dgram::udp_connect(nobody, UdpOptions::default())?;
    let n = client.send(b"anyone there?").await?;
    l.say(
        format!("sendto {nobody} (nobody listens) -> {n} bytes: sending succeeds"),
        format!("sendto {nobody}（无人监听）-> {n} 字节：发送本身成功"),
    );
    let mut buf = [0u8; 64];
    let result = tokio::time::timeout(Duration::from_secs(3), dgram::recv(&client, &mut buf))
        .await
        .context("no ICMP answer within 3 s")?;
    let refused = matches!(&result, Err(e) if e.kind() == io::ErrorKind::ConnectionRefused);
    let shown = match &result {
        Err(e) => crate::net::sock::describe(e),
        Ok(r) => format!("{} bytes", r.len),
    };
    l.say(
        format!("recvfrom on the connected socket -> {shown} (ICMP port unreachable)"),
        format!("已 connect 的套接字 recvfrom -> {shown}（ICMP 端口不可达）"),
    );
    l.check(
        refused,
        "the connected socket heard ECONNREFUSED",
        "已 connect 的 UDP 套接字收到 ECONNREFUSED",
    );
    Ok(())
}

pub async fn argv(l: &mut Lesson) -> Demo {
    let server = server()?;
    let addr = server.local_addr()?.to_string();
    let args = [
        "udp", "send", &addr, "hello", "socket", "world", "--wait", "100ms",
    ];
    l.say(
        format!("sockit udp send {addr} hello socket world  -> argv[3..] = [\"hello\", \"socket\", \"world\"]"),
        format!("sockit udp send {addr} hello socket world  -> argv[3..] = [\"hello\", \"socket\", \"world\"]"),
    );
    let child = real::spawn(&args)?;
    let mut buf = [0u8; 1024];
    let r = recv(&server, &mut buf).await?;
    let text = String::from_utf8_lossy(&buf[..r.len]).into_owned();
    l.say(
        format!("the server receives one datagram: {text:?}"),
        format!("服务端收到一个数据报：{text:?}"),
    );
    let done = child.finish().await?;
    l.check(
        text == "hello socket world",
        "the words were joined into one datagram",
        "参数被连接成一个数据报",
    );
    l.check(
        done.status.success(),
        format!("udp send succeeded ({})", done.stderr),
        format!("udp send 成功（{}）", done.stderr),
    );
    Ok(())
}

pub async fn broadcast(l: &mut Lesson) -> Demo {
    // Bound to every address, as a broadcast receiver must be; the datagram itself only
    // ever goes to loopback's broadcast address.
    let opts = UdpOptions {
        shared: true,
        broadcast: true,
    };
    let listener = dgram::udp_bind("0.0.0.0:0".parse()?, opts)?;
    let port = listener.local_addr()?.port().to_string();
    let args = [
        "broadcast",
        "send",
        "恭喜你，中奖了",
        "--to",
        "127.255.255.255",
        "--port",
        &port,
        "--count",
        "1",
        "--interval",
        "50ms",
    ];
    l.say(
        format!(
            "sockit broadcast send 恭喜你，中奖了 --to 127.255.255.255 --port {port} --count 1"
        ),
        format!(
            "sockit broadcast send 恭喜你，中奖了 --to 127.255.255.255 --port {port} --count 1"
        ),
    );
    let sender = real::spawn(&args)?;
    let mut buf = [0u8; 1024];
    let r = recv(&listener, &mut buf).await?;
    let text = String::from_utf8_lossy(&buf[..r.len]).into_owned();
    l.say(
        format!(
            "a listener on 0.0.0.0:{port} receives {text:?} from {}",
            r.peer
        ),
        format!(
            "监听 0.0.0.0:{port} 的接收端从 {} 收到广播：{text:?}",
            r.peer
        ),
    );
    let sent = sender.finish().await?;
    l.check(
        text == "恭喜你，中奖了" && sent.status.success(),
        "the broadcast arrived",
        "广播已到达",
    );
    let storm = [
        "broadcast",
        "send",
        "storm",
        "--to",
        "127.255.255.255",
        "--port",
        &port,
        "--count",
        "1",
        "--interval",
        "10ms",
    ];
    let refused = real::spawn(&storm)?.finish().await?;
    l.say(
        format!(
            "sockit broadcast send storm --interval 10ms … -> exit {}: {}",
            refused.status.code().unwrap_or(-1),
            refused.stderr
        ),
        format!(
            "sockit broadcast send storm --interval 10ms … -> 退出码 {}（拒绝，防止广播风暴）：{}",
            refused.status.code().unwrap_or(-1),
            refused.stderr
        ),
    );
    l.check(
        refused.status.code() == Some(2),
        "an interval under 50 ms was refused",
        "小于 50 ms 的间隔被拒绝",
    );
    Ok(())
}
