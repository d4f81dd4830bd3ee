//! The transfer protocol's frames and messages (docs/protocol.md): length-prefixed
//! records holding a JSON control message or a chunk of file data, sealed with the
//! session keys once the PAKE has run.
//!
//! Written by hand rather than with a framing crate because the record layer (final
//! flag in the header, per-record AEAD) is the protocol itself and must be exact.

use std::io::{self, Read, Write};
use std::time::Duration;

use super::crypto::{Opener, Sealer, Tampered, TAG_LEN};
pub use super::messages::{Have, Msg, Role, WireError};

/// The protocol version in `hello`; a peer with another version is refused.
pub const VERSION: u32 = 1;
/// File data travels in chunks of at most this many bytes.
pub const CHUNK: usize = 1 << 20;
/// The largest JSON control message accepted.
pub const MAX_CONTROL: usize = 1 << 20;
/// The largest frame accepted: a chunk or a control message, its kind byte and tag.
pub const MAX_FRAME: usize = CHUNK + 1 + TAG_LEN;
/// Most characters of a peer's `error` message (or of a parse error quoting the peer's
/// JSON) shown to the user: the rest of one line is ours.
pub const MAX_PEER_TEXT: usize = 200;

const LAST_FLAG: u32 = 1 << 31;
const KIND_CONTROL: u8 = 0;
const KIND_DATA: u8 = 1;
/// Where a data frame's chunk starts: after the header and the kind byte.
const DATA_AT: usize = 5;

/// How long either side waits, once the handshake is done, for a read or a write to
/// make progress before it gives the peer up: a receiver that stops reading ends the
/// sender as surely as a sender that stops sending ends the receiver.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(60);

/// `SILENCE_LIMIT`, or for tests the milliseconds in `SOCKIT_TEST_SILENCE_LIMIT`.
pub fn silence_limit() -> Duration {
    static LIMIT: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(|| {
        std::env::var("SOCKIT_TEST_SILENCE_LIMIT")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .map_or(SILENCE_LIMIT, Duration::from_millis)
    })
}

/// One record, once opened.
pub enum Record<'a> {
    Msg(Msg),
    Data(&'a [u8]),
}

/// A connection speaking the record layer; reads and writes are blocking.
pub struct Conn<R, W> {
    r: R,
    w: W,
    sealer: Option<Sealer>,
    opener: Option<Opener>,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    /// A whole data frame (header, kind, chunk, tag), filled in place by the caller.
    dbuf: Vec<u8>,
}

impl<R: Read, W: Write> Conn<R, W> {
    pub fn new(r: R, w: W) -> Self {
        Conn {
            r,
            w,
            sealer: None,
            opener: None,
            rbuf: Vec::new(),
            wbuf: Vec::new(),
            dbuf: Vec::new(),
        }
    }

    /// From now on every record is sealed with `send_key` and opened with `recv_key`.
    pub fn encrypt(&mut self, send_key: &[u8; 32], recv_key: &[u8; 32]) {
        self.sealer = Some(Sealer::new(send_key));
        self.opener = Some(Opener::new(recv_key));
    }

    /// Whether records are sealed (`encrypt` was called).
    pub fn sealed(&self) -> bool {
        self.sealer.is_some()
    }

    pub fn writer(&mut self) -> &mut W {
        &mut self.w
    }

    /// Queues a control message (call `flush` when the other side should see it).
    pub fn send(&mut self, msg: &Msg) -> Result<(), WireError> {
        self.send_msg(msg, false)
    }

    /// Queues this side's final message and flushes: the peer treats an end of stream
    /// before it as truncation.
    pub fn send_last(&mut self, msg: &Msg) -> Result<(), WireError> {
        self.send_msg(msg, true)?;
        self.flush()
    }

    fn send_msg(&mut self, msg: &Msg, last: bool) -> Result<(), WireError> {
        let json = serde_json::to_vec(msg).expect("messages always serialize");
        debug_assert!(
            json.len() <= MAX_CONTROL,
            "{} message of {} bytes",
            msg.name(),
            json.len()
        );
        self.write_frame(KIND_CONTROL, &json, last)
    }

    /// Queues a control message already encoded as JSON (at most `MAX_CONTROL` bytes).
    pub fn send_encoded(&mut self, json: &[u8]) -> Result<(), WireError> {
        debug_assert!(json.len() <= MAX_CONTROL);
        self.write_frame(KIND_CONTROL, json, false)
    }

    /// Sends one chunk of file data (at most `CHUNK` bytes). Unsealed, the chunk goes
    /// to the socket from where it is (a mapped file), with its header in one `writev`.
    pub fn send_data(&mut self, data: &[u8]) -> Result<(), WireError> {
        debug_assert!(data.len() <= CHUNK);
        if self.sealer.is_some() {
            return self.write_frame(KIND_DATA, data, false);
        }
        let mut header = [0u8; DATA_AT];
        header[..4].copy_from_slice(&((data.len() + 1) as u32).to_be_bytes());
        header[4] = KIND_DATA;
        let mut done = 0;
        while done < DATA_AT {
            let parts = [io::IoSlice::new(&header[done..]), io::IoSlice::new(data)];
            match self.w.write_vectored(&parts) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.w.write_all(&data[done - DATA_AT..])?;
        Ok(())
    }

    /// Room for the next chunk of file data: fill up to `CHUNK` bytes, then call
    /// `send_filled`. Reading straight into the frame saves a copy per chunk.
    pub fn data_buf(&mut self) -> &mut [u8] {
        if self.dbuf.is_empty() {
            self.dbuf.resize(DATA_AT + CHUNK + TAG_LEN, 0);
        }
        &mut self.dbuf[DATA_AT..DATA_AT + CHUNK]
    }

    /// Sends the first `n` bytes of `data_buf` as one data frame.
    pub fn send_filled(&mut self, n: usize) -> Result<(), WireError> {
        assert!(
            n <= CHUNK && !self.dbuf.is_empty(),
            "data_buf holds at most CHUNK bytes"
        );
        let buf = &mut self.dbuf;
        buf[4] = KIND_DATA;
        let mut end = DATA_AT + n;
        if let Some(sealer) = &mut self.sealer {
            let tag = sealer.seal(&mut buf[4..end], false);
            buf[end..end + TAG_LEN].copy_from_slice(&tag);
            end += TAG_LEN;
        }
        buf[..4].copy_from_slice(&((end - 4) as u32).to_be_bytes());
        self.w.write_all(&buf[..end])?;
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), WireError> {
        Ok(self.w.flush()?)
    }

    fn write_frame(&mut self, kind: u8, body: &[u8], last: bool) -> Result<(), WireError> {
        let buf = &mut self.wbuf;
        buf.clear();
        buf.extend_from_slice(&[0; 4]);
        buf.push(kind);
        buf.extend_from_slice(body);
        if let Some(sealer) = &mut self.sealer {
            let tag = sealer.seal(&mut buf[4..], last);
            buf.extend_from_slice(&tag);
        }
        let len = (buf.len() - 4) as u32;
        let header = if last { len | LAST_FLAG } else { len };
        buf[..4].copy_from_slice(&header.to_be_bytes());
        self.w.write_all(buf)?;
        Ok(())
    }

    /// The next record. A peer's `error` message becomes `WireError::Peer`.
    pub fn recv(&mut self) -> Result<Record<'_>, WireError> {
        let mut bytes = [0u8; 4];
        read_exact_or_closed(&mut self.r, &mut bytes)?;
        let header = u32::from_be_bytes(bytes);
        let last = header & LAST_FLAG != 0;
        let len = (header & !LAST_FLAG) as usize;
        if len > MAX_FRAME {
            return Err(WireError::TooLarge {
                len,
                max: MAX_FRAME,
                header: bytes,
            });
        }
        // The buffer only grows (to at most MAX_FRAME), so it is zeroed once, not per frame.
        if self.rbuf.len() < len {
            self.rbuf.resize(len, 0);
        }
        match read_exact_or_closed(&mut self.r, &mut self.rbuf[..len]) {
            Err(WireError::Closed) => return Err(WireError::Truncated),
            other => other?,
        }
        let plain_len = match &mut self.opener {
            Some(opener) => {
                let body = len.checked_sub(TAG_LEN).ok_or(Tampered)?;
                let (text, tag) = self.rbuf[..len].split_at_mut(body);
                opener.open(text, tag, last)?;
                body
            }
            None => len,
        };
        let plain = &self.rbuf[..plain_len];
        match plain.split_first() {
            Some((&KIND_DATA, data)) => Ok(Record::Data(data)),
            Some((&KIND_CONTROL, json)) => {
                if json.len() > MAX_CONTROL {
                    return Err(WireError::TooLarge {
                        len: json.len(),
                        max: MAX_CONTROL,
                        header: [0; 4],
                    });
                }
                match serde_json::from_slice(json) {
                    Ok(Msg::Error { message }) => Err(WireError::Peer(printable(&message))),
                    Ok(msg) => Ok(Record::Msg(msg)),
                    Err(e) => Err(WireError::Malformed(printable(&e.to_string()))),
                }
            }
            Some((kind, _)) => Err(WireError::Malformed(format!("unknown record kind {kind}"))),
            None => Err(WireError::Malformed("empty record".into())),
        }
    }

    /// The next record, which must be a control message.
    pub fn recv_msg(&mut self) -> Result<Msg, WireError> {
        match self.recv()? {
            Record::Msg(m) => Ok(m),
            Record::Data(_) => Err(WireError::Unexpected {
                expected: "a message",
                got: "file data".into(),
            }),
        }
    }

    /// Tells the peer why this side gives up. Best effort: the connection may be gone.
    pub fn send_error(&mut self, message: &str) {
        let _ = self.send_msg(
            &Msg::Error {
                message: message.to_owned(),
            },
            true,
        );
        let _ = self.flush();
    }
}

/// How many bytes `is_hello` needs to see.
pub const HELLO_SNIFF: usize = DATA_AT + HELLO_JSON.len();
const HELLO_JSON: &[u8] = br#"{"type":"hello""#;

/// Whether `first` (the first bytes a peer sent, at least `HELLO_SNIFF` of them) is an
/// unsealed frame holding a `hello`: a sockit speaking the transfer protocol, which a
/// `--raw` receiver must not save as the file.
pub fn is_hello(first: &[u8]) -> bool {
    first.len() >= HELLO_SNIFF
        && first[DATA_AT - 1] == KIND_CONTROL
        && first[DATA_AT..].starts_with(HELLO_JSON)
}

/// Text from the peer made safe for one terminal line: control characters escaped
/// (a hostile peer must not move the cursor or start a second line), length bounded.
fn printable(text: &str) -> String {
    let mut out = crate::output::escape(text.as_bytes());
    if let Some((cut, _)) = out.char_indices().nth(MAX_PEER_TEXT) {
        out.truncate(cut);
        out.push('…');
    }
    out
}

fn read_exact_or_closed(r: &mut impl Read, buf: &mut [u8]) -> Result<(), WireError> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) if filled == 0 => return Err(WireError::Closed),
            Ok(0) => return Err(WireError::Truncated),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// `unexpected(expected, msg)`: the error for a message out of place.
pub fn unexpected(expected: &'static str, got: &Msg) -> WireError {
    WireError::Unexpected {
        expected,
        got: got.name().to_owned(),
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
