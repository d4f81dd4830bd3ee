//! `raw` / `line` / `len` decoding, fed in random splits with a random `--max-frame` and
//! delimiter, gives exactly what a simple reference splitter gives for the whole stream,
//! and never reserves memory for a frame past the limit.

use arbitrary::{Result, Unstructured};
use bytes::BytesMut;
use sockit::framing::{Frame, FrameCodec, FrameError, Framing, LEN_PREFIX};
use tokio_util::codec::Decoder;

/// What one decode produced: a frame, or the kind of error that ended the stream.
#[derive(Debug, PartialEq, Eq)]
enum Out {
    Message(Vec<u8>),
    TooLong,
    /// A length over the limit (`TooLarge`, or `TextAsLength` when it reads as text).
    Oversized,
    Truncated,
}

pub fn check(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let framing = *u.choose(&[Framing::Raw, Framing::Line, Framing::Len])?;
    let max: usize = u.int_in_range(0..=300)?;
    let delimiter: Vec<u8> = match u.int_in_range(0..=3u8)? {
        0 => b"\n".to_vec(),
        1 => b"\r\n".to_vec(),
        2 => vec![u.arbitrary()?],
        _ => {
            let n = u.int_in_range(1..=4)?;
            u.bytes(n)?.to_vec()
        }
    };
    let cuts: Vec<u8> = u.arbitrary()?;
    let stream = u.take_rest();

    let got = decode_in_pieces(framing, max, &delimiter, &cuts, stream);
    let want = match framing {
        Framing::Raw => {
            // Raw cuts wherever the reads ended: only the concatenation is fixed.
            let joined: Vec<u8> = got
                .iter()
                .flat_map(|o| match o {
                    Out::Message(m) => {
                        assert!(!m.is_empty(), "raw framing made an empty message");
                        m.clone()
                    }
                    other => panic!("raw framing gave {other:?}"),
                })
                .collect();
            assert_eq!(joined, stream);
            return Ok(());
        }
        Framing::Line => reference_lines(max, &delimiter, stream),
        Framing::Len => reference_len(max, stream),
    };
    assert_eq!(got, want, "{framing:?} max {max} delimiter {delimiter:?}");
    Ok(())
}

fn decode_in_pieces(
    framing: Framing,
    max: usize,
    delimiter: &[u8],
    cuts: &[u8],
    stream: &[u8],
) -> Vec<Out> {
    let mut codec = FrameCodec::new(framing, max, delimiter);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut rest = stream;
    let mut i = 0;
    while !rest.is_empty() {
        let n = (1 + cuts.get(i).copied().unwrap_or(255) as usize).min(rest.len());
        i = (i + 1) % cuts.len().max(1);
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        let fed = stream.len() - rest.len();
        loop {
            let result = codec.decode(&mut buf);
            // A reservation is only ever made for a frame within the limit: the buffer
            // may grow by doubling what it has held (bounded by what was fed), never by
            // a length from the wire past `max`.
            let bound = 2 * (fed + LEN_PREFIX + max + delimiter.len()) + 64;
            assert!(
                buf.capacity() <= bound,
                "reserved {} > {bound}",
                buf.capacity()
            );
            match result {
                Ok(Some(frame)) => out.push(of(frame)),
                Ok(None) => break,
                Err(e) => {
                    out.push(of_error(e));
                    return out;
                }
            }
        }
    }
    loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(frame)) => out.push(of(frame)),
            Ok(None) => return out,
            Err(e) => {
                out.push(of_error(e));
                return out;
            }
        }
    }
}

fn of(frame: Frame) -> Out {
    match frame {
        Frame::Message(m) => Out::Message(m.to_vec()),
        Frame::TooLong { .. } => Out::TooLong,
    }
}

fn of_error(e: FrameError) -> Out {
    match e {
        FrameError::TooLarge { .. } | FrameError::TextAsLength { .. } => Out::Oversized,
        FrameError::Truncated { .. } => Out::Truncated,
        FrameError::Io(e) => panic!("decoding bytes in memory failed: {e}"),
    }
}

/// Lines cut at the leftmost delimiter, one after another; `\r` before a `\n` delimiter
/// is dropped; a last line without its delimiter is a message too (as for `nc`).
fn reference_lines(max: usize, delimiter: &[u8], stream: &[u8]) -> Vec<Out> {
    let mut out = Vec::new();
    let mut rest = stream;
    while let Some(at) = rest.windows(delimiter.len()).position(|w| w == delimiter) {
        let mut line = &rest[..at];
        if delimiter == b"\n" && line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        out.push(if line.len() > max {
            Out::TooLong
        } else {
            Out::Message(line.to_vec())
        });
        rest = &rest[at + delimiter.len()..];
    }
    if !rest.is_empty() {
        out.push(if rest.len() > max {
            Out::TooLong
        } else {
            Out::Message(rest.to_vec())
        });
    }
    out
}

/// Four bytes of big-endian length, then that many bytes.
fn reference_len(max: usize, stream: &[u8]) -> Vec<Out> {
    let mut out = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let Some(header) = rest.get(..LEN_PREFIX) else {
            out.push(Out::Truncated);
            return out;
        };
        let len = u32::from_be_bytes(header.try_into().unwrap()) as usize;
        if len > max {
            out.push(Out::Oversized);
            return out;
        }
        let Some(body) = rest.get(LEN_PREFIX..LEN_PREFIX + len) else {
            out.push(Out::Truncated);
            return out;
        };
        out.push(Out::Message(body.to_vec()));
        rest = &rest[LEN_PREFIX + len..];
    }
    out
}
