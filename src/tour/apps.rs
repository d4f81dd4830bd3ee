//! The lessons on whole programs (notes 七, 八.2, 作业): socket attributes, an HTTP
//! request line by line, and the homework's file transfer.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::stream::listener;
use super::{real, Demo, Lesson};
use crate::net::dgram::{self, UdpOptions};
use crate::net::sock::{self, OptValue, SocketInfo};

pub async fn info(l: &mut Lesson) -> Demo {
    let server = listener()?;
    let addr = server.local_addr()?;
    let client = sock::tcp_connect(&[addr], Duration::from_secs(5)).await?;
    let (conn, _) = server.accept().await.context("accept")?;
    let udp = dgram::udp_bind("127.0.0.1:0".parse()?, UdpOptions::default())?;
    let (listening, connected, accepted, datagram) = (
        SocketInfo::of(&server),
        SocketInfo::of(&client),
        SocketInfo::of(&conn),
        SocketInfo::of(&udp),
    );
    for (en, zh, info) in [
        ("listening socket", "监听套接字", &listening),
        ("client socket", "客户端套接字", &connected),
        ("accepted socket", "连接套接字", &accepted),
        ("UDP socket", "UDP 套接字", &datagram),
    ] {
        l.say(format!("{en}:"), format!("{zh}："));
        for line in crate::info::table(info) {
            l.say(format!("  {line}"), format!("  {line}"));
        }
    }
    l.check(
        listening.family == "AF_INET" && listening.kind == "SOCK_STREAM",
        "the listener is AF_INET, SOCK_STREAM",
        "监听套接字是 AF_INET、SOCK_STREAM",
    );
    l.check(
        datagram.kind == "SOCK_DGRAM",
        "the UDP socket is SOCK_DGRAM",
        "UDP 套接字是 SOCK_DGRAM",
    );
    l.check(
        listening.option("SO_REUSEADDR") == Some(&OptValue::Flag(true)),
        "the listener has SO_REUSEADDR set",
        "监听套接字设置了 SO_REUSEADDR",
    );
    l.check(
        connected.peer == Some(addr) && accepted.peer == connected.local,
        "getpeername on each side names the other",
        "两端的 getpeername 互为对方地址",
    );
    let fds = [listening.fd, connected.fd, accepted.fd, datagram.fd];
    l.check(
        fds.iter().all(|&fd| fd > 2)
            && fds.iter().collect::<std::collections::BTreeSet<_>>().len() == 4,
        "each socket has its own file descriptor above stdin/stdout/stderr",
        "每个套接字都有自己的文件描述符（大于 0/1/2）",
    );
    Ok(())
}

/// The request the lesson sends, as a browser or `curl --data` would.
const REQUEST: &[u8] = b"POST /form?lang=zh HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: sockit-tour\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 21\r\nConnection: close\r\n\r\nname=sockit&course=ok";

/// The most of `http dump`'s answer the lesson reads.
const MAX_RESPONSE: u64 = 64 << 10;

pub async fn http(l: &mut Lesson) -> Demo {
    // The real `http dump` captures the request exactly as it arrived.
    let mut dump = real::spawn(&["http", "dump", "--bind", "127.0.0.1:0"])?;
    let listening = dump.wait_for("listening").await?;
    let addr: std::net::SocketAddr = listening["addr"]
        .as_str()
        .context("http dump printed no address")?
        .parse()?;
    let mut client = sock::tcp_connect(&[addr], Duration::from_secs(5)).await?;
    client.write_all(REQUEST).await?;
    l.say(
        format!(
            "a client sends {} bytes to `sockit http dump` at http://{addr}/form",
            REQUEST.len()
        ),
        format!(
            "客户端向 `sockit http dump`（http://{addr}/form）发送 {} 字节",
            REQUEST.len()
        ),
    );
    let captured = dump.wait_for("dump").await?;
    let raw: Vec<u8> = captured["text"]
        .as_str()
        .unwrap_or_default()
        .as_bytes()
        .to_vec();
    let mut response = Vec::new();
    tokio::time::timeout(
        Duration::from_secs(5),
        (&mut client).take(MAX_RESPONSE).read_to_end(&mut response),
    )
    .await
    .context("http dump did not answer")??;
    // The lesson is the bytes themselves, so they are split by hand at CRLF rather than
    // parsed away by an HTTP library.
    let (head, body) = match find(&raw, b"\r\n\r\n") {
        Some(i) => (&raw[..i], &raw[i + 4..]),
        None => (&raw[..], &b""[..]),
    };
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|line| String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line)).into_owned());
    let request_line = lines.next().unwrap_or_default();
    l.say(
        format!("{request_line:?}\\r\\n   <- request line: method, path, version"),
        format!("{request_line:?}\\r\\n   <- 请求行：请求类别、请求内容、协议版本"),
    );
    let mut content_length = None;
    for header in lines {
        if let Some(v) = header.strip_prefix("Content-Length: ") {
            content_length = v.trim().parse::<usize>().ok();
        }
        l.say(
            format!("{header:?}\\r\\n   <- header"),
            format!("{header:?}\\r\\n   <- 请求头"),
        );
    }
    l.say(
        "\"\"\\r\\n   <- blank line: the headers end here",
        "\"\"\\r\\n   <- 空行：请求头到此结束",
    );
    let body_text = String::from_utf8_lossy(body).into_owned();
    l.say(
        format!(
            "{body_text:?}   <- body, {} bytes as Content-Length said",
            body.len()
        ),
        format!(
            "{body_text:?}   <- 请求体，{} 字节，与 Content-Length 一致",
            body.len()
        ),
    );
    l.check(
        request_line == "POST /form?lang=zh HTTP/1.1",
        "the request line arrived first",
        "请求行最先到达",
    );
    l.check(
        raw.len() == REQUEST.len() && find(&raw, b"\r\n\r\n").is_some(),
        "the blank line separates headers from body",
        "空行分隔了请求头和请求体",
    );
    l.check(
        content_length == Some(body.len()) && body == b"name=sockit&course=ok",
        "the body is as long as Content-Length says",
        "请求体长度与 Content-Length 一致",
    );
    l.check(
        response.starts_with(b"HTTP/1.1 200") && find(&response, b"\"POST\"").is_some(),
        "http dump answered 200 with a JSON echo of the request",
        "http dump 以 200 和请求的 JSON 回显作答",
    );
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// A folder of its own under the system's temporary directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> anyhow::Result<Scratch> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("sockit-tour-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(dir.join("received")).context("create a scratch folder")?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn hash(path: &Path) -> anyhow::Result<String> {
    let data = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    Ok(blake3::hash(&data).to_hex().to_string())
}

pub async fn homework(l: &mut Lesson) -> Demo {
    const SIZE: usize = 200 << 10;
    let scratch = Scratch::new()?;
    let source = scratch.0.join("photo.png");
    let data: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
    std::fs::write(&source, &data)?;
    let want = hash(&source)?;
    let path = source.to_string_lossy().into_owned();
    let out = scratch.0.join("received");
    let out_s = out.to_string_lossy().into_owned();

    let mut sender = real::spawn(&["send", &path, "--bind", "127.0.0.1:0", "--no-announce"])?;
    let ready = sender.wait_for("ready").await?;
    let addr = ready["addr"].as_str().unwrap_or_default().to_owned();
    let code = ready["code"].as_str().unwrap_or_default().to_owned();
    l.say(
        format!(
            "sockit send photo.png ({SIZE} bytes, blake3 {}…) -> ready on {addr}, code {code}",
            &want[..16]
        ),
        format!(
            "sockit send photo.png（{SIZE} 字节，blake3 {}…）-> 在 {addr} 就绪，口令 {code}",
            &want[..16]
        ),
    );
    let received = real::spawn(&["recv", &addr, "--code", &code, "-o", &out_s])?
        .finish()
        .await?;
    let _ = sender.finish().await;
    let file = received.events.iter().find(|e| e["event"] == "file");
    let got = file.and_then(|f| f["blake3"].as_str()).unwrap_or_default();
    l.say(
        format!(
            "sockit recv {addr} --code {code} -> {} (name, size and BLAKE3 checked: {}…)",
            file.map(|f| f["path"].to_string()).unwrap_or_default(),
            &got[..got.len().min(16)]
        ),
        format!(
            "sockit recv {addr} --code {code} -> {}（已校验文件名、大小和 BLAKE3：{}…）",
            file.map(|f| f["path"].to_string()).unwrap_or_default(),
            &got[..got.len().min(16)]
        ),
    );
    let copy = out.join("photo.png");
    l.check(
        received.status.success() && got == want && hash(&copy).ok() == Some(want.clone()),
        format!(
            "the file arrived under its name and verified ({})",
            received.stderr
        ),
        format!("文件以原名到达并通过校验（{}）", received.stderr),
    );

    let mut raw = real::spawn(&["send", "--raw", &path, "--bind", "127.0.0.1:0"])?;
    let raw_addr = raw.wait_for("ready").await?["addr"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let raw_out = out.join("raw.bin").to_string_lossy().into_owned();
    let got_raw = real::spawn(&["recv", "--raw", &raw_addr, "-o", &raw_out])?
        .finish()
        .await?;
    let _ = raw.finish().await;
    let raw_bytes = std::fs::metadata(&raw_out).map(|m| m.len()).unwrap_or(0);
    l.say(
        format!("sockit send --raw / recv --raw -o raw.bin -> {raw_bytes} bytes: the file's bytes and nothing else (no name, no size)"),
        format!("sockit send --raw / recv --raw -o raw.bin -> {raw_bytes} 字节：只有文件字节（没有文件名、没有大小）"),
    );
    l.check(
        got_raw.status.success() && raw_bytes == SIZE as u64,
        "the raw protocol carried exactly the file's bytes",
        "原始协议只传输了文件本身的字节",
    );

    // A raw sender that dies halfway: the receiver cannot tell.
    let cut = listener()?;
    let cut_addr = cut.local_addr()?.to_string();
    let cut_out = out.join("cut.bin").to_string_lossy().into_owned();
    let receiver = real::spawn(&["recv", "--raw", &cut_addr, "-o", &cut_out])?;
    let (mut conn, _) = cut.accept().await.context("accept")?;
    conn.write_all(&data[..SIZE / 2]).await?;
    drop(conn);
    let cut_done = receiver.finish().await?;
    let cut_bytes = std::fs::metadata(&cut_out).map(|m| m.len()).unwrap_or(0);
    l.say(
        format!("a raw sender that stops after {} bytes -> recv --raw exits {} with a {cut_bytes}-byte file: nothing tells it the file is incomplete", SIZE / 2, cut_done.status.code().unwrap_or(-1)),
        format!("原始协议发送端只发了 {} 字节就关闭 -> recv --raw 退出码 {}，得到 {cut_bytes} 字节的文件：没有任何信息说明文件不完整", SIZE / 2, cut_done.status.code().unwrap_or(-1)),
    );
    l.check(
        cut_done.status.success() && cut_bytes == (SIZE / 2) as u64,
        "a cut-off raw transfer looked complete",
        "中断的原始传输看起来是完整的",
    );
    Ok(())
}
