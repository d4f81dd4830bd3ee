//! The command line turned into each command's configuration: flags become plain
//! values (a reply mode, a codec, a conflict policy), and mistakes clap cannot see
//! become usage errors, before any command runs.

use bytes::Bytes;

use super::cli::{
    BroadcastListen, BroadcastSend, FramingArgs, HttpDump, HttpServe, Info, RecvArgs, ReplyArgs,
    SendArgs, ServerArgs, TcpConnect, TcpServe, Tour, UdpReplyArgs, UdpSend, UdpServe,
};
use crate::ctx::UsageError;
use crate::framing::FrameCodec;
use crate::net::addr::Endpoint;
use crate::{broadcast, http, info, tcp, tour, transfer, udp, wormhole};

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

/// `send --code`, read as the kind of code the mode uses (`what`, for the error).
fn parse_code<T>(code: Option<&str>, what: &str) -> Result<Option<T>, UsageError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    code.map(|c| {
        c.parse::<T>()
            .map_err(|e| UsageError(format!("invalid {what} {c:?} for --code: {e}")))
    })
    .transpose()
}

impl SendArgs {
    /// The configuration of `send` (not `--wormhole`).
    pub fn lan_config(self) -> Result<transfer::SendConfig, UsageError> {
        let code = parse_code::<transfer::Code>(self.code.as_deref(), "code")?;
        let a = self;
        Ok(transfer::SendConfig {
            bind: a.bind_addr(),
            paths: a.paths,
            name: a.name,
            code,
            keep: a.keep,
            announce: !a.no_announce,
            to: a.to,
            port: a.port,
            raw: a.raw,
            plain: a.plain,
            qr: a.qr,
        })
    }
}

impl RecvArgs {
    fn existing(&self) -> transfer::Existing {
        match (self.overwrite, self.rename) {
            (true, _) => transfer::Existing::Overwrite,
            (_, true) => transfer::Existing::Rename,
            _ => transfer::Existing::Refuse,
        }
    }

    /// The configuration of `recv` (not `--wormhole`): the target is an address and the
    /// code one of sockit's.
    pub fn config(self) -> Result<transfer::RecvConfig, UsageError> {
        let target = self
            .target
            .as_deref()
            .map(str::parse::<Endpoint>)
            .transpose()
            .map_err(|e| UsageError(format!("invalid address: {e}")))?;
        let code = self
            .code
            .as_deref()
            .map(str::parse::<transfer::Code>)
            .transpose()
            .map_err(|e| UsageError(e.to_string()))?;
        Ok(transfer::RecvConfig {
            target,
            code,
            existing: self.existing(),
            output: self.output,
            stdout: self.stdout,
            raw: self.raw,
            plain: self.plain,
            timeout: self.timeout,
            port: self.port,
        })
    }

    /// The configuration of `recv --wormhole`: the code is the target (or `--code`).
    pub fn wormhole_config(self) -> Result<wormhole::WormholeRecvConfig, UsageError> {
        let code = match (&self.target, &self.code) {
            (Some(_), Some(_)) => {
                return Err(UsageError(
                    "give the wormhole code once: as CODE or as --code".into(),
                ))
            }
            (Some(c), None) | (None, Some(c)) => Some(
                c.parse::<wormhole::WormholeCode>()
                    .map_err(|e| UsageError(format!("invalid wormhole code: {e}")))?,
            ),
            (None, None) => None,
        };
        Ok(wormhole::WormholeRecvConfig {
            servers: self.servers.servers()?,
            code,
            existing: self.existing(),
            output: self.output,
            timeout: self.timeout,
            bind: self.bind.unwrap_or_else(any_port),
            relay_only: self.relay_only,
        })
    }
}

impl SendArgs {
    /// The configuration of `send --wormhole`.
    pub fn wormhole_config(self) -> Result<wormhole::WormholeSendConfig, UsageError> {
        let code = parse_code::<wormhole::WormholeCode>(self.code.as_deref(), "wormhole code")?;
        Ok(wormhole::WormholeSendConfig {
            servers: self.servers.servers()?,
            bind: self.bind_addr(),
            text: self.text,
            paths: self.paths,
            code,
            relay_only: self.relay_only,
        })
    }
}

impl ServerArgs {
    /// The servers chosen, or the public ones.
    fn servers(&self) -> Result<wormhole::Servers, UsageError> {
        let mailbox = self
            .mailbox
            .clone()
            .unwrap_or_else(|| wormhole::DEFAULT_MAILBOX.to_owned());
        if !mailbox.starts_with("ws://") && !mailbox.starts_with("wss://") {
            return Err(UsageError(format!(
                "--mailbox {mailbox:?}: expected a ws:// URL, like ws://relay.example:4000/v1"
            )));
        }
        let relay = match &self.relay {
            Some(r) => wormhole::parse_relay(r).map_err(UsageError)?,
            None => wormhole::DEFAULT_RELAY.to_owned(),
        };
        Ok(wormhole::Servers { mailbox, relay })
    }
}

fn any_port() -> Endpoint {
    "0.0.0.0:0".parse().expect("a valid address")
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
