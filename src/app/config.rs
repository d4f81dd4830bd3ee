//! The command line turned into each command's configuration: flags become plain
//! values (a reply mode, a codec, a conflict policy), and mistakes clap cannot see
//! become usage errors, before any command runs.

use bytes::Bytes;

use super::cli::{
    BroadcastListen, BroadcastSend, FramingArgs, HttpDump, HttpServe, Info, RecvArgs, ReplyArgs,
    SendArgs, TcpConnect, TcpServe, Tour, UdpReplyArgs, UdpSend, UdpServe,
};
use crate::ctx::UsageError;
use crate::framing::FrameCodec;
use crate::{broadcast, http, info, tcp, tour, transfer, udp};

/// The codec `--framing`, `--delimiter` and `--max-frame` ask for.
fn codec(f: &FramingArgs) -> Result<FrameCodec, UsageError> {
    match f.conflict() {
        Some(conflict) => Err(UsageError(conflict)),
        None => Ok(f.codec()),
    }
}

fn text(t: &str) -> Bytes {
    Bytes::from(t.as_bytes().to_vec())
}

impl From<&ReplyArgs> for tcp::Reply {
    fn from(a: &ReplyArgs) -> Self {
        match a {
            ReplyArgs { echo: true, .. } => tcp::Reply::Echo,
            ReplyArgs { broker: true, .. } => tcp::Reply::Broker,
            ReplyArgs { silent: true, .. } => tcp::Reply::Silent,
            ReplyArgs { reply: Some(t), .. } => tcp::Reply::Text(text(t)),
            _ => tcp::Reply::Ack,
        }
    }
}

impl TcpServe {
    pub fn config(self) -> Result<tcp::ServeConfig, UsageError> {
        Ok(tcp::ServeConfig {
            server: tcp::Server {
                codec: codec(&self.framing)?,
                reply: tcp::Reply::from(&self.reply),
                max_clients: self.max_clients,
                idle_timeout: self.idle_timeout,
            },
            bind: self.bind,
            tls: self.tls.identity(),
        })
    }
}

impl TcpConnect {
    pub fn config(self) -> Result<tcp::ConnectConfig, UsageError> {
        Ok(tcp::ConnectConfig {
            codec: codec(&self.framing)?,
            target: self.target,
            send: self.send,
            wait: self.wait,
            interval: self.interval,
            timeout: self.timeout,
            tls: self.tls.options(),
        })
    }
}

impl From<&UdpReplyArgs> for udp::UdpReply {
    fn from(a: &UdpReplyArgs) -> Self {
        match a {
            UdpReplyArgs { echo: true, .. } => udp::UdpReply::Echo,
            UdpReplyArgs { silent: true, .. } => udp::UdpReply::Silent,
            UdpReplyArgs { reply: Some(t), .. } => udp::UdpReply::Text(text(t)),
            _ => udp::UdpReply::Ack,
        }
    }
}

/// `--buffer` checked against its limits: at least one byte, at most `MAX_BUFFER`.
fn buffer_size(requested: u64) -> Result<usize, UsageError> {
    match usize::try_from(requested) {
        Ok(n) if (1..=udp::MAX_BUFFER).contains(&n) => Ok(n),
        _ => Err(UsageError(format!(
            "--buffer {requested}: expected 1 to {} bytes (no datagram is larger)",
            udp::MAX_BUFFER
        ))),
    }
}

impl UdpServe {
    pub fn config(self) -> Result<udp::ServeConfig, UsageError> {
        Ok(udp::ServeConfig {
            reply: udp::UdpReply::from(&self.reply),
            bind: self.bind,
            buffer: buffer_size(self.buffer)?,
            rcvbuf: self.rcvbuf,
        })
    }
}

impl From<UdpSend> for udp::SendConfig {
    fn from(a: UdpSend) -> Self {
        udp::SendConfig {
            target: a.target,
            message: a.message,
            wait: a.wait,
            broadcast: a.broadcast,
        }
    }
}

impl From<BroadcastSend> for broadcast::SendConfig {
    fn from(a: BroadcastSend) -> Self {
        broadcast::SendConfig {
            message: a.message,
            port: a.port,
            interval: a.interval,
            count: a.count,
            to: a.to,
            group: a.group,
            ttl: a.ttl,
            iface: a.iface,
        }
    }
}

impl From<BroadcastListen> for broadcast::ListenConfig {
    fn from(a: BroadcastListen) -> Self {
        broadcast::ListenConfig {
            port: a.port,
            bind: a.bind,
            group: a.group,
            iface: a.iface,
        }
    }
}

impl From<Info> for info::InfoConfig {
    fn from(a: Info) -> Self {
        info::InfoConfig {
            udp: a.udp,
            listen: a.listen,
            addr: a.addr,
            timeout: a.timeout,
        }
    }
}

impl From<Tour> for tour::TourConfig {
    fn from(a: Tour) -> Self {
        tour::TourConfig {
            topic: a.topic,
            lang: a.lang,
        }
    }
}

impl From<HttpDump> for http::DumpConfig {
    fn from(a: HttpDump) -> Self {
        http::DumpConfig {
            bind: a.bind,
            hex: a.hex,
            max_body: a.max_body,
            tls: a.tls.identity(),
            client_hello: a.tls_client_hello,
        }
    }
}

impl From<HttpServe> for http::ServeConfig {
    fn from(a: HttpServe) -> Self {
        http::ServeConfig {
            dir: a.dir,
            bind: a.bind,
            upload: a.upload,
            delete: a.delete,
            hidden: a.hidden,
            follow_symlinks: a.follow_symlinks,
            max_upload: a.max_upload,
            tls: a.tls.identity(),
            qr: a.qr,
            auth: http::auth::AuthConfig {
                specs: a.auth,
                file: a.auth_file,
                over_http: a.auth_over_http,
            },
        }
    }
}

impl From<SendArgs> for transfer::SendConfig {
    fn from(a: SendArgs) -> Self {
        transfer::SendConfig {
            bind: a.bind_addr(),
            paths: a.paths,
            name: a.name,
            code: a.code,
            keep: a.keep,
            announce: !a.no_announce,
            to: a.to,
            port: a.port,
            raw: a.raw,
            plain: a.plain,
            qr: a.qr,
        }
    }
}

impl From<RecvArgs> for transfer::RecvConfig {
    fn from(a: RecvArgs) -> Self {
        let existing = match (a.overwrite, a.rename) {
            (true, _) => transfer::Existing::Overwrite,
            (_, true) => transfer::Existing::Rename,
            _ => transfer::Existing::Refuse,
        };
        transfer::RecvConfig {
            target: a.target,
            code: a.code,
            output: a.output,
            existing,
            stdout: a.stdout,
            raw: a.raw,
            plain: a.plain,
            timeout: a.timeout,
            port: a.port,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_limits() {
        assert_eq!(buffer_size(1024).unwrap(), 1024);
        assert_eq!(buffer_size(65536).unwrap(), 65536);
        assert!(buffer_size(0).is_err());
        assert!(buffer_size(65537).is_err());
    }
}
