//! The codecs fed with bytes, no sockets: splits, batches, empties, limits, EOF.

use super::*;
use proptest::prelude::*;

fn codec(framing: Framing) -> FrameCodec {
    FrameCodec::new(framing, 16, b"\n")
}

/// Feeds `chunks` one read at a time, then EOF; collects frames (or the error).
fn feed(codec: &mut FrameCodec, chunks: &[&[u8]]) -> Result<Vec<Frame>, FrameError> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(f) = codec.decode(&mut buf)? {
            out.push(f);
        }
    }
    while let Some(f) = codec.decode_eof(&mut buf)? {
        out.push(f);
    }
    Ok(out)
}

fn msgs(items: &[&[u8]]) -> Vec<Frame> {
    items
        .iter()
        .map(|m| Frame::Message(Bytes::copy_from_slice(m)))
        .collect()
}

fn encode(codec: &mut FrameCodec, items: &[&[u8]]) -> Vec<u8> {
    let mut dst = BytesMut::new();
    for m in items {
        codec.encode(*m, &mut dst).unwrap();
    }
    dst.to_vec()
}

#[test]
fn raw_takes_each_read_whole_so_sends_stick_together() {
    let frames = feed(&mut codec(Framing::Raw), &[b"onetwothree", b"four"]).unwrap();
    assert_eq!(frames, msgs(&[b"onetwothree", b"four"]));
}

#[test]
fn line_splits_a_batch_and_joins_a_split() {
    let frames = feed(&mut codec(Framing::Line), &[b"a\nbb\nc", b"c\n", b"\n"]).unwrap();
    assert_eq!(frames, msgs(&[b"a", b"bb", b"cc", b""]));
}

#[test]
fn line_tolerates_crlf_and_keeps_an_unterminated_last_line() {
    let frames = feed(&mut codec(Framing::Line), &[b"a\r\nb\r", b"\nlast"]).unwrap();
    assert_eq!(frames, msgs(&[b"a", b"b", b"last"]));
}

#[test]
fn multi_byte_delimiter_split_across_reads() {
    let mut c = FrameCodec::new(Framing::Line, 16, b"<END>");
    let frames = feed(&mut c, &[b"one<E", b"ND>two<", b"END><END>"]).unwrap();
    assert_eq!(frames, msgs(&[b"one", b"two", b""]));
}

#[test]
fn over_long_line_is_dropped_and_the_stream_recovers() {
    let long = [b'x'; 40];
    let frames = feed(
        &mut codec(Framing::Line),
        &[b"ok\n", &long, &long, b"tail\nnext\n"],
    )
    .unwrap();
    assert_eq!(
        frames,
        vec![
            Frame::Message(Bytes::from_static(b"ok")),
            Frame::TooLong { max: 16 },
            Frame::Message(Bytes::from_static(b"next")),
        ]
    );
}

#[test]
fn over_long_line_in_one_read_is_reported_once() {
    let mut input = vec![b'y'; 17];
    input.extend_from_slice(b"\nfine\n");
    let frames = feed(&mut codec(Framing::Line), &[&input]).unwrap();
    assert_eq!(
        frames,
        vec![
            Frame::TooLong { max: 16 },
            Frame::Message(Bytes::from_static(b"fine"))
        ]
    );
}

#[test]
fn line_of_exactly_the_limit_with_crlf_split_is_accepted() {
    let line = [b'z'; 16];
    let frames = feed(&mut codec(Framing::Line), &[&line, b"\r", b"\n"]).unwrap();
    assert_eq!(frames, msgs(&[&line]));
}

#[test]
fn len_matches_python_struct_pack() {
    // struct.pack('!I', 5) + b'hello'
    let wire = b"\x00\x00\x00\x05hello\x00\x00\x00\x00";
    let frames = feed(&mut codec(Framing::Len), &[wire]).unwrap();
    assert_eq!(frames, msgs(&[b"hello", b""]));
    assert_eq!(
        encode(&mut codec(Framing::Len), &[b"hello", b""]),
        wire.to_vec()
    );
}

#[test]
fn len_split_inside_the_prefix_and_the_payload() {
    let frames = feed(
        &mut codec(Framing::Len),
        &[b"\x00\x00", b"\x00\x03a", b"bc\x00\x00\x00\x01", b"d"],
    )
    .unwrap();
    assert_eq!(frames, msgs(&[b"abc", b"d"]));
}

#[test]
fn len_refuses_an_oversized_prefix_before_allocating() {
    let mut c = codec(Framing::Len);
    let mut buf = BytesMut::from(&b"\xff\xff\xff\xff"[..]);
    let err = c.decode(&mut buf).unwrap_err();
    assert!(
        matches!(
            err,
            FrameError::TooLarge {
                len: 0xffff_ffff,
                max: 16
            }
        ),
        "{err}"
    );
    assert!(
        buf.capacity() < 1024,
        "no memory reserved for the claimed length"
    );
}

#[test]
fn issue12_a_length_prefix_that_is_text_says_so() {
    for text in [&b"hello\n"[..], "信息以接收".as_bytes(), b"rece"] {
        let mut buf = BytesMut::from(text);
        let err = codec(Framing::Len).decode(&mut buf).unwrap_err();
        assert!(matches!(err, FrameError::TextAsLength { .. }), "{err}");
        let shown = err.to_string();
        assert!(
            shown.contains("plain text") && shown.contains("--framing raw"),
            "{shown}"
        );
    }
    let mut buf = BytesMut::from(&b"\x01\x00\x00\x00"[..]);
    let err = codec(Framing::Len).decode(&mut buf).unwrap_err();
    assert!(
        matches!(err, FrameError::TooLarge { .. }),
        "binary stays TooLarge: {err}"
    );
}

#[test]
fn issue12_last_wire_counts_the_delimiter_and_prefix() {
    let mut c = codec(Framing::Line);
    let mut buf = BytesMut::from(&b"hi\r\nyo\n"[..]);
    assert_eq!(
        c.decode(&mut buf).unwrap(),
        Some(Frame::Message(Bytes::from_static(b"hi")))
    );
    assert_eq!(c.last_wire(), 4);
    c.decode(&mut buf).unwrap();
    assert_eq!(c.last_wire(), 3);
    assert_eq!(c.wire_len(2), 3);
    let mut c = codec(Framing::Len);
    let mut buf = BytesMut::from(&b"\0\0\0\x02hi"[..]);
    c.decode(&mut buf).unwrap();
    assert_eq!((c.last_wire(), c.wire_len(2)), (6, 6));
    let mut c = codec(Framing::Raw);
    let mut buf = BytesMut::from(&b"hi\n"[..]);
    c.decode(&mut buf).unwrap();
    assert_eq!((c.last_wire(), c.wire_len(3)), (3, 3));
}

#[test]
fn len_truncated_at_eof_is_an_error() {
    let err = feed(&mut codec(Framing::Len), &[b"\x00\x00\x00\x0aabc"]).unwrap_err();
    assert!(
        matches!(
            err,
            FrameError::Truncated {
                expected: 14,
                got: 7
            }
        ),
        "{err}"
    );
    let err = feed(&mut codec(Framing::Len), &[b"\x00\x00"]).unwrap_err();
    assert!(
        matches!(
            err,
            FrameError::Truncated {
                expected: 4,
                got: 2
            }
        ),
        "{err}"
    );
}

#[test]
fn len_encoder_refuses_what_the_peer_would_refuse() {
    let mut dst = BytesMut::new();
    let err = codec(Framing::Len)
        .encode(&[0u8; 17][..], &mut dst)
        .unwrap_err();
    assert!(matches!(err, FrameError::TooLarge { len: 17, max: 16 }));
    assert!(dst.is_empty());
}

#[test]
fn delimiter_escapes() {
    assert_eq!(parse_delimiter("\\n").unwrap().0, b"\n");
    assert_eq!(parse_delimiter("\\r\\n").unwrap().0, b"\r\n");
    assert_eq!(parse_delimiter("END").unwrap().0, b"END");
    assert_eq!(parse_delimiter("\\x00|").unwrap().0, b"\0|");
    assert!(parse_delimiter("").is_err());
    assert!(parse_delimiter("\\q").is_err());
    assert!(parse_delimiter("\\x4").is_err());
    assert!(parse_delimiter("a\\").is_err());
}

/// Cuts `wire` into reads at the given (sorted, deduplicated) offsets.
fn split_at<'a>(wire: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
    points.sort_unstable();
    points.dedup();
    let mut out = Vec::new();
    let mut start = 0;
    for p in points.into_iter().chain([wire.len()]) {
        out.push(&wire[start..p]);
        start = p;
    }
    out
}

proptest! {
    #[test]
    fn len_round_trips_any_payloads_over_any_reads(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..12),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
    ) {
        let mut c = FrameCodec::new(Framing::Len, 64, b"\n");
        let items: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        let wire = encode(&mut c, &items);
        let frames = feed(&mut c, &split_at(&wire, &cuts)).unwrap();
        prop_assert_eq!(frames, msgs(&items));
    }

    #[test]
    fn line_round_trips_payloads_without_the_delimiter(
        payloads in prop::collection::vec("[^\n\r]{0,40}", 0..12),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
        delimiter in prop::sample::select(vec!["\n", "\r\n", "<END>", "\0"]),
    ) {
        let payloads: Vec<String> = payloads
            .into_iter()
            .filter(|p| !p.contains(delimiter))
            .collect();
        let mut c = FrameCodec::new(Framing::Line, 1024, delimiter.as_bytes());
        let items: Vec<&[u8]> = payloads.iter().map(|p| p.as_bytes()).collect();
        let wire = encode(&mut c, &items);
        let frames = feed(&mut c, &split_at(&wire, &cuts)).unwrap();
        prop_assert_eq!(frames, msgs(&items));
    }

    #[test]
    fn raw_delivers_every_byte_in_order(
        wire in prop::collection::vec(any::<u8>(), 0..256),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
    ) {
        let frames = feed(&mut codec(Framing::Raw), &split_at(&wire, &cuts)).unwrap();
        let mut joined = Vec::new();
        for f in frames {
            let Frame::Message(m) = f else { panic!("raw framing never drops") };
            prop_assert!(!m.is_empty());
            joined.extend_from_slice(&m);
        }
        prop_assert_eq!(joined, wire);
    }
}
