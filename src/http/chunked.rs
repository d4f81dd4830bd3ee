//! An incremental decoder of `Transfer-Encoding: chunked` bodies for `http dump`.
//!
//! Written by hand because the dump needs the raw bytes (chunk sizes, extensions,
//! trailers) as well as the decoded body, and must say precisely why a chunk is bad.

use thiserror::Error;

/// The longest chunk-size line (size, extensions, CRLF) accepted.
pub const MAX_CHUNK_LINE: usize = 4096;

/// The most bytes of trailer fields after the last chunk.
pub const MAX_TRAILERS: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChunkError {
    #[error("bad chunk size line {0:?}")]
    BadSize(String),
    #[error("chunk size line over {MAX_CHUNK_LINE} bytes")]
    LineTooLong,
    #[error("chunk data not followed by CRLF")]
    MissingCrlf,
    #[error("trailers over {MAX_TRAILERS} bytes")]
    TrailersTooLarge,
    #[error("decoded body over the {0}-byte limit")]
    TooLarge(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk-size line; `usize` bytes of it seen so far.
    Size(usize),
    Data(u64),
    /// The CRLF after chunk data; `bool`: CR already seen.
    DataEnd(bool),
    /// Trailer section after the last chunk; bytes seen and the current line's length.
    Trailers {
        seen: usize,
        line: usize,
    },
    Done,
}

/// Feeds on raw bytes; appends decoded data; knows when the body ends.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    line: Vec<u8>,
    decoded: u64,
    max: u64,
}

impl ChunkedDecoder {
    /// A decoder that refuses bodies whose decoded size would exceed `max`.
    pub fn new(max: u64) -> Self {
        ChunkedDecoder {
            state: State::Size(0),
            line: Vec::new(),
            decoded: 0,
            max,
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes bytes from `input`, appending chunk data to `out`; returns how many
    /// bytes were consumed (all of them unless the body ended inside `input`).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, ChunkError> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::Done => break,
                State::Size(n) => {
                    let b = input[i];
                    i += 1;
                    if n + 1 > MAX_CHUNK_LINE {
                        return Err(ChunkError::LineTooLong);
                    }
                    self.state = State::Size(n + 1);
                    if b != b'\n' {
                        self.line.push(b);
                        continue;
                    }
                    let size = self.size_line()?;
                    self.line.clear();
                    self.state = if size == 0 {
                        State::Trailers { seen: 0, line: 0 }
                    } else {
                        if self.decoded.saturating_add(size) > self.max {
                            return Err(ChunkError::TooLarge(self.max));
                        }
                        State::Data(size)
                    };
                }
                State::Data(left) => {
                    let take = (input.len() - i).min(usize::try_from(left).unwrap_or(usize::MAX));
                    out.extend_from_slice(&input[i..i + take]);
                    i += take;
                    self.decoded += take as u64;
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::DataEnd(false)
                    } else {
                        State::Data(left)
                    };
                }
                State::DataEnd(cr) => {
                    let b = input[i];
                    i += 1;
                    self.state = match (cr, b) {
                        (false, b'\r') => State::DataEnd(true),
                        (true, b'\n') => State::Size(0),
                        _ => return Err(ChunkError::MissingCrlf),
                    };
                }
                State::Trailers { seen, line } => {
                    let b = input[i];
                    i += 1;
                    if seen + 1 > MAX_TRAILERS {
                        return Err(ChunkError::TrailersTooLarge);
                    }
                    self.state = match b {
                        // An empty line (only CR before LF) ends the body.
                        b'\n' if line == 0 => State::Done,
                        b'\n' => State::Trailers {
                            seen: seen + 1,
                            line: 0,
                        },
                        b'\r' if line == 0 => State::Trailers {
                            seen: seen + 1,
                            line: 0,
                        },
                        _ => State::Trailers {
                            seen: seen + 1,
                            line: line + 1,
                        },
                    };
                }
            }
        }
        Ok(i)
    }

    /// The size of the chunk-size line in `self.line` (LF stripped): hex digits, then
    /// optional `;extensions`, then CR.
    fn size_line(&self) -> Result<u64, ChunkError> {
        let bad = || ChunkError::BadSize(String::from_utf8_lossy(&self.line).into_owned());
        let line = self.line.strip_suffix(b"\r").ok_or_else(bad)?;
        let digits = line
            .split(|&b| b == b';')
            .next()
            .unwrap_or_default()
            .trim_ascii_end();
        // At most 15 hex digits: anything larger cannot be a real size and would overflow.
        if digits.is_empty() || digits.len() > 15 || !digits.iter().all(u8::is_ascii_hexdigit) {
            return Err(bad());
        }
        let text = std::str::from_utf8(digits).map_err(|_| bad())?;
        u64::from_str_radix(text, 16).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(raw: &[u8], max: u64) -> Result<(Vec<u8>, usize, bool), ChunkError> {
        let mut d = ChunkedDecoder::new(max);
        let mut out = Vec::new();
        let n = d.feed(raw, &mut out)?;
        Ok((out, n, d.is_done()))
    }

    #[test]
    fn decodes_chunks_extensions_and_trailers() {
        let raw = b"5\r\nhello\r\n6;name=x\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        let (out, n, done) = decode(raw, 100).unwrap();
        assert_eq!(out, b"hello world");
        assert!(done);
        assert_eq!(&raw[n..], b"NEXT");
    }

    #[test]
    fn byte_by_byte_is_the_same_as_at_once() {
        let raw = b"a\r\n0123456789\r\n1\r\n!\r\n0\r\n\r\n";
        let mut d = ChunkedDecoder::new(100);
        let mut out = Vec::new();
        for b in raw {
            assert_eq!(d.feed(std::slice::from_ref(b), &mut out).unwrap(), 1);
        }
        assert!(d.is_done());
        assert_eq!(out, b"0123456789!");
    }

    #[test]
    fn incomplete_bodies_are_not_done() {
        let (out, n, done) = decode(b"5\r\nhel", 100).unwrap();
        assert_eq!((out.as_slice(), n, done), (&b"hel"[..], 6, false));
    }

    #[test]
    fn bad_chunks_are_named() {
        let cases: [(&[u8], ChunkError); 6] = [
            (b"zz\r\n", ChunkError::BadSize("zz\r".into())),
            (b"\r\n", ChunkError::BadSize("\r".into())),
            (b"-1\r\n", ChunkError::BadSize("-1\r".into())),
            (b"5\n", ChunkError::BadSize("5".into())),
            (
                b"ffffffffffffffffff\r\n",
                ChunkError::BadSize("ffffffffffffffffff\r".into()),
            ),
            (b"3\r\nabcX", ChunkError::MissingCrlf),
        ];
        for (raw, want) in cases {
            assert_eq!(decode(raw, 100).unwrap_err(), want, "{raw:?}");
        }
    }

    #[test]
    fn limits_hold() {
        assert_eq!(
            decode(b"65\r\n", 100).unwrap_err(),
            ChunkError::TooLarge(100)
        );
        let long = vec![b'1'; MAX_CHUNK_LINE + 1];
        assert_eq!(decode(&long, 100).unwrap_err(), ChunkError::LineTooLong);
        let mut trailers = b"0\r\n".to_vec();
        trailers.extend(vec![b'a'; MAX_TRAILERS + 1]);
        assert_eq!(
            decode(&trailers, 100).unwrap_err(),
            ChunkError::TrailersTooLarge
        );
    }

    proptest::proptest! {
        /// However the bytes are split across reads, the decoded body is the same.
        #[test]
        fn splitting_never_changes_the_result(
            chunks in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 1..50), 0..8),
            cuts in proptest::collection::vec(0usize..400, 0..10),
        ) {
            let mut raw = Vec::new();
            for c in &chunks {
                raw.extend(format!("{:x}\r\n", c.len()).as_bytes());
                raw.extend(c);
                raw.extend(b"\r\n");
            }
            raw.extend(b"0\r\n\r\n");
            let want: Vec<u8> = chunks.concat();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (raw.len() + 1)).collect();
            cuts.push(raw.len());
            cuts.sort_unstable();
            let mut d = ChunkedDecoder::new(1 << 20);
            let mut out = Vec::new();
            let mut from = 0;
            for to in cuts {
                let n = d.feed(&raw[from..to], &mut out).unwrap();
                proptest::prop_assert_eq!(n, to - from);
                from = to;
            }
            proptest::prop_assert!(d.is_done());
            proptest::prop_assert_eq!(out, want);
        }

        /// Arbitrary bytes never panic the decoder.
        #[test]
        fn garbage_is_an_error_not_a_panic(raw in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let mut out = Vec::new();
            let _ = ChunkedDecoder::new(1000).feed(&raw, &mut out);
        }
    }
}
