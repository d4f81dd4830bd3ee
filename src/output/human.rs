//! How each event reads for people: one line (or a few), control characters escaped,
//! coloured by kind on a terminal.

use std::fmt;
use std::net::SocketAddr;

use anstyle::{AnsiColor, Style};
use indicatif::HumanBytes;

use super::escape::{Escaped, Preview};
use super::event::Event;

/// The line for people, written straight into the printer's buffer (no intermediate
/// strings: a busy server prints one of these per message).
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Listening { proto, addr } => write!(f, "listening on {}://{addr}", proto.as_str()),
            Event::Socket(info) => write!(f, "{info}"),
            Event::Certificate {
                fingerprint,
                pin,
                names,
                self_signed,
                path,
            } => {
                write!(
                    f,
                    "{} certificate {}\n  SHA-256 {fingerprint}\n  public key pin {pin}\n  for {}",
                    if *self_signed { "self-signed" } else { "TLS" },
                    Escaped(path.as_bytes()),
                    Escaped(names.join(", ").as_bytes())
                )?;
                if *self_signed {
                    f.write_str("\n  (clients must trust it: compare this fingerprint with what they are shown)")?;
                }
                Ok(())
            }
            Event::Connect { peer, clients } => {
                write!(f,
                    "[{peer}] connected ({clients} {})",
                    Plural(*clients, "client")
                )
            }
            Event::Rejected { peer, reason } => write!(f, "[{peer}] rejected: {reason}"),
            Event::Connected { peer, local } => write!(f, "connected to {peer} from {local}"),
            Event::Tls {
                peer,
                version,
                cipher,
                alpn,
                fingerprint,
                verified,
            } => {
                write!(f, "[{peer}] {version} {cipher}")?;
                if let Some(a) = alpn {
                    write!(f, " ALPN {}", Escaped(a.as_bytes()))?;
                }
                write!(f, "\n  certificate SHA-256 {fingerprint}")?;
                if !verified {
                    f.write_str("\n  NOT verified (--tls-insecure): compare the fingerprint with the server's")?;
                }
                Ok(())
            }
            Event::Message {
                peer,
                bytes,
                wire,
                payload,
            } => {
                write!(f,
                    "[{peer}] {bytes} {}{}: {}",
                    Plural(*bytes, "byte"),
                    OnWire(*wire),
                    Preview(payload.raw())
                )
            }
            Event::Oversized { peer, max } => {
                write!(f, "[{peer}] message over the {max}-byte limit dropped")
            }
            Event::Reply {
                peer,
                bytes,
                wire,
                payload,
            } => {
                write!(f,
                    "[{peer}] replied {bytes} {}{}: {}",
                    Plural(*bytes, "byte"),
                    OnWire(*wire),
                    Preview(payload.raw())
                )
            }
            // Built by sockit from parts it escaped already (a delimiter, say).
            Event::Hint { peer, message } => write!(f, "[{peer}] hint: {message}"),
            Event::Disconnect {
                peer,
                reason,
                detail,
            } => match detail {
                Some(d) => write!(f,
                    "[{peer}] disconnected: {}: {}",
                    reason.describe(),
                    Escaped(d.as_bytes())
                ),
                None => write!(f, "[{peer}] disconnected: {}", reason.describe()),
            },
            Event::Shutdown { clients } => {
                write!(f,
                    "shutting down: telling {clients} {}",
                    Plural(*clients, "client")
                )
            }
            Event::WormholeCode { code, mailbox } => write!(f,
                "wormhole code: {code}\n  on the other machine: sockit recv --wormhole {code}\n  (or: wormhole receive {code}) — mailbox {}",
                Escaped(mailbox.as_bytes())
            ),
            Event::WormholeVerified { verifier, peer } => write!(f,
                "code verified with {} (verifier {})",
                Escaped(peer.as_bytes()),
                &verifier[..verifier.len().min(16)]
            ),
            Event::Text { payload, .. } => {
                for (i, line) in payload.raw().split(|&b| b == b'\n').enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    write!(f, "{}", Escaped(line))?;
                }
                Ok(())
            }
            Event::TextSent { bytes } => write!(f, "text of {bytes} {} sent and acknowledged", Plural(*bytes, "byte")),
            Event::Transit { path, peer } => write!(f,
                "transit: {} via {}",
                if path == "direct" { "direct connection" } else { "relayed" },
                Escaped(peer.as_bytes())
            ),
            Event::Warning { message } => write!(f, "warning: {}", Escaped(message.as_bytes())),
            Event::Ready { addr, addrs, code } => ready(f, *addr, addrs, code.as_deref()),
            Event::Looking { nameplate, port, timeout_s } => write!(f,
                "looking for a sender with code {nameplate}-… on UDP port {port} (up to {timeout_s:.0} s; Ctrl-C stops)"
            ),
            Event::Verified { peer, encrypted, verify } => write!(f,
                "[{peer}] code verified, {} (verification words: {verify})",
                if *encrypted { "encrypted" } else { "NOT encrypted (--plain)" }
            ),
            Event::File { path, bytes, blake3, resumed, unchanged, sha256 } => {
                let note = if *unchanged {
                    " (already there, identical)".to_owned()
                } else if *resumed > 0 {
                    format!(" (resumed after {})", HumanBytes(*resumed))
                } else {
                    String::new()
                };
                write!(f, "{} {} blake3:{}", Escaped(path.as_bytes()), HumanBytes(*bytes), &blake3[..blake3.len().min(16)])?;
                if let Some(sha) = sha256 {
                    write!(f, " sha256:{}", &sha[..sha.len().min(16)])?;
                }
                f.write_str(&note)
            }
            Event::Progress { bytes, total, files, files_total, rate } => write!(f,
                "{}{} {files}/{files_total} {} {}/s",
                HumanBytes(*bytes),
                total.map(|t| format!(" of {}", HumanBytes(t))).unwrap_or_default(),
                Plural(*files_total as usize, "file"),
                HumanBytes(*rate as u64)
            ),
            Event::Done { files, bytes, existing, seconds, rate } => {
                write!(f,
                    "done: {files} {} {} in {seconds:.2} s (",
                    Plural(*files as usize, "file"),
                    HumanBytes(*bytes),
                )?;
                if *existing > 0 {
                    write!(f, "{} of it already here; ", HumanBytes(*existing))?;
                }
                write!(f, "{}/s)", HumanBytes(*rate as u64))
            }
            Event::Datagram {
                peer,
                bytes,
                payload,
                size,
                ..
            } => match size {
                Some(size) => write!(f,
                    "[{peer}] {bytes} of {size} bytes (truncated: larger than the buffer): {}",
                    Preview(payload.raw())
                ),
                None => write!(f,
                    "[{peer}] {bytes} {}: {}",
                    Plural(*bytes, "byte"),
                    Preview(payload.raw())
                ),
            },
            Event::Sent { to, bytes } => {
                write!(f, "sent {bytes} {} to {to}", Plural(*bytes, "byte"))
            }
            Event::Totals {
                datagrams,
                bytes,
                truncated,
                size: Some(size),
                dropped_by_kernel,
            } => write!(f,
                "stopped: {datagrams} {}, {bytes} of {size} bytes kept ({truncated} truncated: \
                 larger than the buffer){}",
                Plural(*datagrams as usize, "datagram"),
                KernelLoss(*dropped_by_kernel),
            ),
            Event::Totals {
                datagrams,
                bytes,
                size: None,
                dropped_by_kernel,
                ..
            } => write!(f,
                "stopped: {datagrams} {}, {bytes} {} received (0 truncated){}",
                Plural(*datagrams as usize, "datagram"),
                Plural(*bytes as usize, "byte"),
                KernelLoss(*dropped_by_kernel),
            ),
            Event::KernelDropped { datagrams, total } => write!(
                f,
                "the kernel dropped {datagrams} {} (receive queue full; {total} in all): \
                 raise --rcvbuf or send more slowly",
                Plural(*datagrams as usize, "datagram"),
            ),
            Event::Dropped { events, bytes } => write!(
                f,
                "output is slower than the input: {events} {} ({}) not shown",
                Plural(*events as usize, "event"),
                HumanBytes(*bytes)
            ),
            Event::Dump {
                peer,
                bytes,
                payload,
                hex,
            } => f.write_str(&crate::output::dump::dump(*peer, *bytes, payload, *hex)),
            Event::Request {
                peer,
                method,
                path,
                status,
                bytes,
                duration_ms,
                user,
            } => {
                write!(f,
                    "[{peer}] {} {} -> {status} ({bytes} {}, {duration_ms:.1} ms)",
                    Escaped(method.as_bytes()),
                    Escaped(path.as_bytes()),
                    Plural(*bytes as usize, "byte")
                )?;
                match user {
                    Some(user) => write!(f, " user {}", Escaped(user.as_bytes())),
                    None => Ok(()),
                }
            }
            Event::LoginLimited {
                peer,
                failures,
                retry_after_s,
            } => write!(f,
                "[{peer}] {failures} failed {}: logins from this address refused for {retry_after_s} s",
                Plural(*failures as usize, "login")
            ),
            Event::Lesson {
                topic,
                ok: true,
                ..
            } => write!(f, "  ✓ {topic}: ok"),
            Event::Lesson {
                topic, failures, ..
            } => write!(f,
                "  ✗ {topic}: FAILED: {}",
                Escaped(failures.join("; ").as_bytes())
            ),
            Event::ClientHello(h) => write!(f, "{h}"),
            Event::PerfStart(s) => super::perf_table::start(f, s),
            Event::PerfInterval(i) => super::perf_table::interval(f, i),
            Event::PerfEnd(e) => super::perf_table::end(f, e),
            Event::PerfLatency(l) => super::perf_table::latency(f, l),
            Event::PerfMember(m) => super::perf_table::member(f, m),
        }
    }
}

impl Event {
    /// The style of this event's line for people on a colour terminal.
    pub(crate) fn colour(&self) -> Style {
        match self {
            Event::Listening { .. } | Event::Connected { .. } | Event::Connect { .. } => GREEN,
            Event::Certificate { .. } => GREEN,
            Event::Tls { verified: true, .. } => GREEN,
            Event::ClientHello(_) => PLAIN,
            Event::Reply { .. } | Event::Socket(_) | Event::Progress { .. } => DIM,
            Event::Looking { .. } => DIM,
            Event::Ready { .. }
            | Event::Verified { .. }
            | Event::WormholeCode { .. }
            | Event::WormholeVerified { .. }
            | Event::TextSent { .. }
            | Event::File { .. }
            | Event::Done { .. } => GREEN,
            Event::Message { .. }
            | Event::Text { .. }
            | Event::Transit { .. }
            | Event::Datagram {
                truncated: false, ..
            } => PLAIN,
            Event::Sent { .. } | Event::Totals { .. } => DIM,
            Event::Dump { .. } => PLAIN,
            Event::Request { status, .. } if *status < 400 => DIM,
            Event::Lesson { ok: true, .. } => GREEN,
            Event::PerfStart(_) | Event::PerfEnd(_) | Event::PerfMember(_) => GREEN,
            Event::PerfInterval(_) | Event::PerfLatency(_) => PLAIN,
            _ => YELLOW,
        }
    }
}

/// How wide the lines of `ready` may be: a terminal's 80 columns.
const READY_WIDTH: usize = 80;

/// `ready` for people: what to run on the other machine, by code and by address, in
/// lines that fit 80 columns (for generated codes and IPv4 addresses).
fn ready(
    f: &mut fmt::Formatter<'_>,
    addr: SocketAddr,
    addrs: &[SocketAddr],
    code: Option<&str>,
) -> fmt::Result {
    let first = addrs.first().copied().unwrap_or(addr);
    match code {
        Some(code) => {
            write!(
                f,
                "ready: on the other machine run `sockit recv --code {code}`"
            )?;
            write!(f, "\n  or `sockit recv {first} --code {code}`")?;
        }
        None => write!(
            f,
            "ready: serving the raw bytes to whoever connects: `sockit recv --raw {first}`"
        )?,
    }
    let mut also = String::new();
    for (i, a) in addrs.iter().skip(1).enumerate() {
        let item = if i == 0 {
            format!("{}", a.ip())
        } else {
            format!(", {}", a.ip())
        };
        if "\n  (also )".len() + also.len() + item.len() + 3 > READY_WIDTH {
            also.push_str(", …");
            break;
        }
        also.push_str(&item);
    }
    if !also.is_empty() {
        write!(f, "\n  (also {also})")?;
    }
    Ok(())
}

const GREEN: Style = AnsiColor::Green.on_default();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const DIM: Style = Style::new().dimmed();
/// The terminal's own colour.
const PLAIN: Style = Style::new();

/// `word`, or `words` unless `n` is one.
pub(super) struct Plural<'a>(pub usize, pub &'a str);

impl fmt::Display for Plural<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.1)?;
        if self.0 != 1 {
            f.write_str("s")?;
        }
        Ok(())
    }
}

/// `; N more dropped by the kernel …` after totals, or nothing when none were.
struct KernelLoss(u64);

impl fmt::Display for KernelLoss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => Ok(()),
            n => write!(f, "; {n} more dropped by the kernel (receive queue full)"),
        }
    }
}

/// ` (6 on the wire)` when framing made the wire carry more than the payload.
struct OnWire(Option<usize>);

impl fmt::Display for OnWire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => write!(f, " ({n} on the wire)"),
            None => Ok(()),
        }
    }
}
