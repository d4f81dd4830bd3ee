//! The control connection's framing (sections 2 and 3.1): the 37-byte cookie, the one-byte
//! states, SERVER_ERROR's integers and the length-prefixed JSON messages.
//!
//! Written by hand rather than as a `Decoder`: the control connection is a strict
//! sequence of a few small messages, each read once at a known point, so plain async
//! reads say the protocol most directly.

use rand::Rng;
use serde::{de::DeserializeOwned, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The cookie on the wire: 36 characters and a NUL (section 2.1).
pub const COOKIE_LEN: usize = 37;

/// The characters 3.12 draws its cookies from (RFC 4648 base32, lower case). Used only to
/// make cookies: a reader must accept any 37 bytes, as old iperf3 versions used others.
pub const COOKIE_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// The largest parameters or results JSON accepted. The largest seen was 2.3 kB (results
/// with `--get-server-output`); iperf3 itself has no limit. 64 KiB leaves room for a
/// server's whole `-J` document of a long test with a few streams while keeping what a
/// peer can make us allocate small.
pub const MAX_JSON: usize = 64 * 1024;

/// What can go wrong on the control connection; callers branch on `Closed` (the peer
/// went away) and on `State`s they did not expect.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    #[error("the control connection closed")]
    Closed,
    #[error("the cookie was cut short: {got} of {COOKIE_LEN} bytes, then the connection closed")]
    TruncatedCookie { got: usize },
    #[error("unknown state {0} (byte 0x{byte:02x})", byte = *.0 as u8)]
    BadState(i8),
    #[error("a JSON message of {len} bytes was refused: the limit is {max} bytes")]
    TooLong { len: u64, max: usize },
    #[error("a JSON message was cut short: {got} of {len} bytes, then the connection closed")]
    Truncated { got: usize, len: usize },
    #[error("a JSON message could not be read: {0}")]
    Json(#[from] serde_json::Error),
    #[error("no {what} within {}", humantime::format_duration(*limit))]
    Timeout {
        what: &'static str,
        limit: std::time::Duration,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Bounds one step of the protocol in time: iperf3 has no timeout before the cookie or
/// on the parameters, so one silent peer blocks a 3.12 server (section 7.4); ours puts
/// each read under `within("the cookie", LIMIT, read_cookie(&mut conn))`.
pub async fn within<T>(
    what: &'static str,
    limit: std::time::Duration,
    step: impl std::future::Future<Output = Result<T, ProtoError>>,
) -> Result<T, ProtoError> {
    tokio::time::timeout(limit, step)
        .await
        .map_err(|_| ProtoError::Timeout { what, limit })?
}

/// A test's cookie: exactly the 37 bytes read or written, NUL included.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cookie(pub [u8; COOKIE_LEN]);

impl Cookie {
    /// A new cookie as 3.12 makes them: 36 characters of `COOKIE_ALPHABET`, then NUL,
    /// drawn from the thread's CSPRNG (the cookie is what keeps strangers' connections
    /// out of a test's data streams).
    pub fn generate() -> Cookie {
        let mut rng = rand::rng();
        let mut bytes = [0u8; COOKIE_LEN];
        for b in &mut bytes[..COOKIE_LEN - 1] {
            *b = COOKIE_ALPHABET[rng.random_range(0..COOKIE_ALPHABET.len())];
        }
        Cookie(bytes)
    }

    /// The text part as iperf3 prints it (`start.cookie` in `-J`): up to the first NUL,
    /// with anything that is not UTF-8 replaced.
    pub fn text(&self) -> String {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(COOKIE_LEN);
        String::from_utf8_lossy(&self.0[..end]).into_owned()
    }
}

impl std::fmt::Debug for Cookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cookie({:?})", self.text())
    }
}

/// Reads exactly `COOKIE_LEN` bytes (the bound: nothing more is read). Whether the
/// connection may take its time is the caller's timeout; a 3.12 server has none, and
/// one silent connection blocks it (section 7.4).
pub async fn read_cookie<R: AsyncRead + Unpin>(r: &mut R) -> Result<Cookie, ProtoError> {
    let mut bytes = [0u8; COOKIE_LEN];
    let got = read_full(r, &mut bytes).await?;
    if got < COOKIE_LEN {
        return Err(ProtoError::TruncatedCookie { got });
    }
    Ok(Cookie(bytes))
}

pub async fn write_cookie<W: AsyncWrite + Unpin>(
    w: &mut W,
    cookie: &Cookie,
) -> Result<(), ProtoError> {
    w.write_all(&cookie.0).await?;
    w.flush().await?;
    Ok(())
}

/// The state bytes of the control connection (section 2.2), a signed byte each. Every
/// value iperf3 defines is here, those never sent too, so that a reader can tell "a state
/// out of place" from "not a state at all" (which 3.12 answers with "received an unknown
/// control message").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i8)]
pub enum State {
    TestStart = 1,
    TestRunning = 2,
    ResultRequest = 3,
    TestEnd = 4,
    StreamBegin = 5,
    StreamRunning = 6,
    StreamEnd = 7,
    AllStreamsEnd = 8,
    ParamExchange = 9,
    CreateStreams = 10,
    ServerTerminate = 11,
    ClientTerminate = 12,
    ExchangeResults = 13,
    DisplayResults = 14,
    IperfStart = 15,
    IperfDone = 16,
    /// Busy (control connection) or wrong cookie (data connection); `0xff`.
    AccessDenied = -1,
    /// Followed by one or two BE i32 (`read_server_error`); `0xfe`.
    ServerError = -2,
}

impl State {
    pub const ALL: [State; 18] = [
        State::TestStart,
        State::TestRunning,
        State::ResultRequest,
        State::TestEnd,
        State::StreamBegin,
        State::StreamRunning,
        State::StreamEnd,
        State::AllStreamsEnd,
        State::ParamExchange,
        State::CreateStreams,
        State::ServerTerminate,
        State::ClientTerminate,
        State::ExchangeResults,
        State::DisplayResults,
        State::IperfStart,
        State::IperfDone,
        State::AccessDenied,
        State::ServerError,
    ];

    /// The byte on the wire.
    pub fn byte(self) -> u8 {
        self as i8 as u8
    }
}

impl TryFrom<i8> for State {
    type Error = ProtoError;

    fn try_from(value: i8) -> Result<State, ProtoError> {
        State::ALL
            .into_iter()
            .find(|s| *s as i8 == value)
            .ok_or(ProtoError::BadState(value))
    }
}

impl TryFrom<u8> for State {
    type Error = ProtoError;

    fn try_from(byte: u8) -> Result<State, ProtoError> {
        State::try_from(byte as i8)
    }
}

impl From<State> for i8 {
    fn from(state: State) -> i8 {
        state as i8
    }
}

impl From<State> for u8 {
    fn from(state: State) -> u8 {
        state.byte()
    }
}

/// Reads one state byte; the end of the connection is `Closed`, a byte that is no state
/// `BadState`.
pub async fn read_state<R: AsyncRead + Unpin>(r: &mut R) -> Result<State, ProtoError> {
    let mut byte = [0u8; 1];
    if read_full(r, &mut byte).await? == 0 {
        return Err(ProtoError::Closed);
    }
    State::try_from(byte[0])
}

/// Writes one state byte on its own and flushes it (iperf3 sends each as its own segment,
/// and the peer waits for it).
pub async fn write_state<W: AsyncWrite + Unpin>(w: &mut W, state: State) -> Result<(), ProtoError> {
    w.write_all(&[state.byte()]).await?;
    w.flush().await?;
    Ok(())
}

/// After `State::ServerError`: iperf3's `i_errno` and, usually, the system's `errno`, both
/// BE i32 (section 7.2). A 3.12 server that refuses authentication sends only the first
/// and closes, so the second is optional.
pub async fn read_server_error<R: AsyncRead + Unpin>(
    r: &mut R,
) -> Result<(i32, Option<i32>), ProtoError> {
    let mut first = [0u8; 4];
    if read_full(r, &mut first).await? < 4 {
        return Err(ProtoError::Closed);
    }
    let mut second = [0u8; 4];
    let errno = match read_full(r, &mut second).await {
        Ok(4) => Some(i32::from_be_bytes(second)),
        // A reset after the first integer is an end of connection too.
        Ok(_) | Err(ProtoError::Io(_)) => None,
        Err(e) => return Err(e),
    };
    Ok((i32::from_be_bytes(first), errno))
}

/// Writes SERVER_ERROR and its two integers in one write.
pub async fn write_server_error<W: AsyncWrite + Unpin>(
    w: &mut W,
    i_errno: i32,
    errno: i32,
) -> Result<(), ProtoError> {
    let mut bytes = [State::ServerError.byte(); 9];
    bytes[1..5].copy_from_slice(&i_errno.to_be_bytes());
    bytes[5..].copy_from_slice(&errno.to_be_bytes());
    w.write_all(&bytes).await?;
    w.flush().await?;
    Ok(())
}

/// Reads a u32 BE length and that many bytes of JSON (section 3.1). A length over
/// `MAX_JSON` is refused before anything is allocated for it.
pub async fn read_json<T: DeserializeOwned, R: AsyncRead + Unpin>(
    r: &mut R,
) -> Result<T, ProtoError> {
    let mut prefix = [0u8; 4];
    let got = read_full(r, &mut prefix).await?;
    if got == 0 {
        return Err(ProtoError::Closed);
    }
    if got < 4 {
        return Err(ProtoError::Truncated { got, len: 4 });
    }
    let len = u32::from_be_bytes(prefix);
    if len as usize > MAX_JSON {
        return Err(ProtoError::TooLong {
            len: len.into(),
            max: MAX_JSON,
        });
    }
    let len = len as usize;
    let mut body = vec![0u8; len];
    let got = read_full(r, &mut body).await?;
    if got < len {
        return Err(ProtoError::Truncated { got, len });
    }
    Ok(serde_json::from_slice(&body)?)
}

/// Writes a value as compact JSON behind its u32 BE length, in one write. A value whose
/// JSON passes `MAX_JSON` is refused: a peer like us would refuse it too.
pub async fn write_json<T: Serialize, W: AsyncWrite + Unpin>(
    w: &mut W,
    value: &T,
) -> Result<(), ProtoError> {
    let mut bytes = vec![0u8; 4];
    serde_json::to_writer(&mut bytes, value)?;
    let len = bytes.len() - 4;
    if len > MAX_JSON {
        return Err(ProtoError::TooLong {
            len: len as u64,
            max: MAX_JSON,
        });
    }
    bytes[..4].copy_from_slice(&(len as u32).to_be_bytes());
    w.write_all(&bytes).await?;
    w.flush().await?;
    Ok(())
}

/// Fills `buf` unless the stream ends first; returns how many bytes were read.
async fn read_full<R: AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> Result<usize, ProtoError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]).await? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

#[cfg(test)]
#[path = "proto_tests.rs"]
mod tests;
