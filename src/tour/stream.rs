//! The TCP lessons (notes 一 to 三): end of stream, broken pipe, many clients, buffers,
//! sticky packets and their cures.

use std::io;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::{Decoder, Encoder};

use super::{real, Demo, Lesson};
use crate::framing::{Frame, FrameCodec, Framing, DEFAULT_MAX_FRAME};
use crate::net::sock::{self, describe, SocketInfo};

/// A listener on loopback's port 0.
pub(super) fn listener() -> anyhow::Result<TcpListener> {
    Ok(sock::tcp_listener("127.0.0.1:0".parse()?)?)
}

/// A connected pair: (the client's socket, the server's accepted socket).
async fn pair() -> anyhow::Result<(TcpStream, TcpStream)> {
    let l = listener()?;
    let client = sock::tcp_connect(&[l.local_addr()?], Duration::from_secs(5)).await?;
    let (server, _) = l.accept().await.context("accept")?;
    Ok((client, server))
}

pub async fn peer_exit(l: &mut Lesson) -> Demo {
    let (mut client, mut server) = pair().await?;
    client.write_all(b"bye").await?;
    l.say(
        "client sends \"bye\" and closes",
        "客户端发送 \"bye\" 后关闭套接字",
    );
    drop(client);
    let mut buf = [0u8; 1024];
    let n = server.read(&mut buf).await?;
    l.say(
        format!("server recv(1024) -> {n} bytes: {:?}", text(&buf[..n])),
        format!("服务端 recv(1024) -> {n} 字节：{:?}", text(&buf[..n])),
    );
    let n2 = server.read(&mut buf).await?;
    l.say(
        format!("server recv(1024) -> {n2} bytes (empty: the peer is gone)"),
        format!("服务端 recv(1024) -> {n2} 字节（空：对端已退出）"),
    );
    l.check(&buf[..n] == b"bye", "the message arrived", "消息已到达");
    l.check(n2 == 0, "recv returned empty", "recv 返回空");
    Ok(())
}

pub async fn broken_pipe(l: &mut Lesson) -> Demo {
    let (mut client, server) = pair().await?;
    drop(server);
    l.say("server closes the connection", "服务端关闭连接");
    let mut buf = [0u8; 16];
    let n = client.read(&mut buf).await?;
    l.say(
        format!("client recv -> {n} bytes (the server's FIN)"),
        format!("客户端 recv -> {n} 字节（收到服务端的 FIN）"),
    );
    // The first write is accepted locally and draws the reset; the next fail. Writes are
    // retried briefly because the reset arrives asynchronously.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut sends = 0;
    let err = loop {
        sends += 1;
        match client.write(b"hello?").await {
            Ok(n) => l.say(
                format!("client send #{sends} -> {n} bytes (only into the local send buffer)"),
                format!("客户端第 {sends} 次 send -> {n} 字节（只写进了本地发送缓冲区）"),
            ),
            Err(e) => break Some(e),
        }
        if Instant::now() > deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let Some(err) = err else {
        l.check(false, "a send failed", "send 失败");
        return Ok(());
    };
    let errno = match err.raw_os_error() {
        Some(libc::EPIPE) => "EPIPE",
        Some(libc::ECONNRESET) => "ECONNRESET",
        _ => "?",
    };
    l.say(
        format!("client send #{sends} -> error {errno}: {}", describe(&err)),
        format!(
            "客户端第 {sends} 次 send -> 错误 {errno}：{}",
            describe(&err)
        ),
    );
    l.check(
        matches!(
            err.kind(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
        ),
        "the send failed with broken pipe or reset",
        "send 以 Broken Pipe 或连接复位失败",
    );
    Ok(())
}

pub async fn many_clients(l: &mut Lesson) -> Demo {
    const CLIENTS: usize = 5;
    let listener = listener()?;
    let addr = listener.local_addr()?;
    let info = SocketInfo::of(&listener);
    l.say(
        format!("one listening socket on {addr} (fd {})", info.fd),
        format!("一个监听套接字 {addr}（文件描述符 {}）", info.fd),
    );
    let mut clients = Vec::new();
    for i in 1..=CLIENTS {
        let mut c = sock::tcp_connect(&[addr], Duration::from_secs(5)).await?;
        c.write_all(format!("client {i}").as_bytes()).await?;
        clients.push(c);
    }
    let mut conns = Vec::new();
    let mut peers = std::collections::BTreeSet::new();
    let mut fds = std::collections::BTreeSet::new();
    for _ in 0..CLIENTS {
        let (mut conn, peer) = listener.accept().await.context("accept")?;
        let mut buf = [0u8; 64];
        let n = conn.read(&mut buf).await?;
        let fd = conn.as_raw_fd();
        l.say(
            format!("accept -> fd {fd}, peer {peer}: {:?}", text(&buf[..n])),
            format!(
                "accept -> 文件描述符 {fd}，客户端 {peer}：{:?}",
                text(&buf[..n])
            ),
        );
        conn.write_all(b"ok").await?;
        peers.insert(peer);
        fds.insert(fd);
        // Kept open, so all clients are connected at once.
        conns.push(conn);
    }
    let mut answered = 0;
    for c in &mut clients {
        let mut buf = [0u8; 2];
        c.read_exact(&mut buf).await?;
        answered += usize::from(&buf == b"ok");
    }
    l.check(
        peers.len() == CLIENTS && fds.len() == CLIENTS,
        "each client has its own connected socket",
        "每个客户端都有自己的连接套接字",
    );
    l.check(
        answered == CLIENTS && listener.local_addr()? == addr,
        "every client was served through one listening socket",
        "所有客户端都通过同一个监听套接字得到服务",
    );
    Ok(())
}

pub async fn buffers(l: &mut Lesson) -> Demo {
    let (client, mut server) = pair().await?;
    let snd = SocketInfo::of(&client);
    let rcv = SocketInfo::of(&server);
    let opt = |i: &SocketInfo, n| i.option(n).map(|v| v.to_string()).unwrap_or_default();
    l.say(
        format!(
            "sender SO_SNDBUF = {} bytes, receiver SO_RCVBUF = {} bytes",
            opt(&snd, "SO_SNDBUF"),
            opt(&rcv, "SO_RCVBUF")
        ),
        format!(
            "发送端 SO_SNDBUF = {} 字节，接收端 SO_RCVBUF = {} 字节",
            opt(&snd, "SO_SNDBUF"),
            opt(&rcv, "SO_RCVBUF")
        ),
    );
    // A bound on the demonstration, far above any kernel's default buffers.
    const LIMIT: usize = 256 << 20;
    let chunk = vec![b'x'; 64 << 10];
    let mut queued = 0;
    let blocked = loop {
        match client.try_write(&chunk) {
            Ok(n) => queued += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // Writable may report room the moment after; only a second would-block
                // after waiting briefly means the buffers are really full.
                let room = tokio::time::timeout(Duration::from_millis(50), client.writable()).await;
                if room.is_err() {
                    break true;
                }
            }
            Err(e) => return Err(e).context("send"),
        }
        if queued > LIMIT {
            break false;
        }
    };
    l.say(
        format!("the receiver does not read: {queued} bytes fit, then send would block (EAGAIN)"),
        format!("接收端不 recv：写入 {queued} 字节后缓冲区已满，send 将阻塞（EAGAIN）"),
    );
    l.check(blocked, "the sender blocked", "发送端阻塞了");
    let mut buf = vec![0u8; 1 << 20];
    let mut read = 0;
    while read < queued {
        let n = server.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        read += n;
    }
    l.say(
        format!("the receiver reads {read} bytes"),
        format!("接收端读取 {read} 字节"),
    );
    tokio::time::timeout(Duration::from_secs(2), client.writable())
        .await
        .context("the sender stayed blocked after the receiver read")??;
    let again = client.try_write(b"more")?;
    l.say(
        format!("send works again: {again} bytes"),
        format!("发送端又能 send 了：{again} 字节"),
    );
    l.check(read == queued && again == 4, "send resumed", "send 恢复");
    Ok(())
}

/// Waits until `total` bytes are queued on `s` (FIONREAD), so that one read takes them
/// all and the lesson does not depend on timing.
async fn wait_queued(s: &TcpStream, total: usize) -> anyhow::Result<usize> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        s.readable().await?;
        let n = rustix::io::ioctl_fionread(s).context("ioctl FIONREAD")?;
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        if n >= total || Instant::now() > deadline {
            return Ok(n);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

const MESSAGES: [&str; 3] = ["one", "two", "three"];

/// Sends the three messages encoded by `codec` in three writes, lets them all arrive,
/// reads once and decodes what came.
async fn three_sends(l: &mut Lesson, mut codec: FrameCodec) -> anyhow::Result<Vec<String>> {
    let (mut client, mut server) = pair().await?;
    let mut total = 0;
    let mut shown = Vec::new();
    for m in MESSAGES {
        let mut wire = BytesMut::new();
        codec.encode(m.as_bytes(), &mut wire)?;
        client.write_all(&wire).await?;
        total += wire.len();
        shown.push(match codec.framing() {
            // The length prefix as the bytes it is: struct.pack('!I', 3) is 00 00 00 03.
            Framing::Len => format!(
                "[{}]{}",
                hex_bytes(&wire[..4]),
                crate::output::escape(&wire[4..])
            ),
            _ => crate::output::escape(&wire),
        });
    }
    let queued = wait_queued(&server, total).await?;
    l.say(
        format!("3 sends: {} ; {queued} bytes queued", shown.join(" | ")),
        format!(
            "3 次 send：{} ；接收队列中有 {queued} 字节",
            shown.join(" | ")
        ),
    );
    let mut buf = BytesMut::with_capacity(4096);
    server.read_buf(&mut buf).await?;
    let reads = buf.len();
    let mut got = Vec::new();
    while let Some(frame) = codec.decode(&mut buf)? {
        if let Frame::Message(m) = frame {
            got.push(String::from_utf8_lossy(&m).into_owned());
        }
    }
    l.say(
        format!("one recv of {reads} bytes, decoded: {got:?}"),
        format!("一次 recv 收到 {reads} 字节，解码为：{got:?}"),
    );
    Ok(got)
}

pub async fn sticky(l: &mut Lesson) -> Demo {
    l.say("raw framing (no boundaries):", "raw 分帧（没有边界）：");
    let raw = three_sends(l, FrameCodec::new(Framing::Raw, DEFAULT_MAX_FRAME, b"\n")).await?;
    l.check(
        raw == ["onetwothree"],
        "three sends arrived as one message (粘包)",
        "三次发送被一次性接收（粘包）",
    );
    l.say(
        "len framing (4-byte big-endian length, struct.pack('!I')):",
        "len 分帧（4 字节大端长度前缀，struct.pack('!I')）：",
    );
    let len = three_sends(l, FrameCodec::new(Framing::Len, DEFAULT_MAX_FRAME, b"\n")).await?;
    l.check(
        len == MESSAGES,
        "len framing separated them",
        "len 分帧把它们分开了",
    );
    l.say(
        "delimiter framing (\\n at the end):",
        "结束标志分帧（结尾加 \\n）：",
    );
    let line = three_sends(l, FrameCodec::new(Framing::Line, DEFAULT_MAX_FRAME, b"\n")).await?;
    l.check(
        line == MESSAGES,
        "the delimiter separated them",
        "结束标志把它们分开了",
    );
    Ok(())
}

pub async fn pacing(l: &mut Lesson) -> Demo {
    let listener = listener()?;
    let addr = listener.local_addr()?.to_string();
    let args = [
        "tcp",
        "connect",
        &addr,
        "--send",
        "one",
        "--send",
        "two",
        "--send",
        "three",
        "--interval",
        "200ms",
    ];
    l.say(
        format!("sockit tcp connect {addr} --send one --send two --send three --interval 200ms"),
        format!("sockit tcp connect {addr} --send one --send two --send three --interval 200ms"),
    );
    let child = real::spawn(&args)?;
    let (mut conn, _) = listener.accept().await.context("accept")?;
    let mut reads = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        reads.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    drop(conn);
    for (i, r) in reads.iter().enumerate() {
        l.say(
            format!("recv #{} -> {r:?}", i + 1),
            format!("第 {} 次 recv -> {r:?}", i + 1),
        );
    }
    let status = child.finish().await?.status;
    l.check(
        reads == MESSAGES,
        "each paced message arrived in a read of its own",
        "控制发送速度后每条消息各自被一次 recv 接收",
    );
    l.check(
        status.success(),
        "tcp connect succeeded",
        "tcp connect 成功",
    );
    Ok(())
}

fn hex_bytes(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
