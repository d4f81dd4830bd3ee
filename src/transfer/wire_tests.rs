//! The unit tests of `wire.rs`.

use super::*;

type Memory = Conn<io::Cursor<Vec<u8>>, Vec<u8>>;

fn writer() -> Memory {
    Conn::new(io::Cursor::new(Vec::new()), Vec::new())
}

fn reader(bytes: Vec<u8>) -> Memory {
    Conn::new(io::Cursor::new(bytes), Vec::new())
}

#[test]
fn plain_records_round_trip() {
    let mut w = writer();
    w.send(&Msg::PlanEnd).unwrap();
    w.send_data(b"chunk").unwrap();
    w.send_last(&Msg::Done { files: 1, bytes: 5 }).unwrap();
    let wire = std::mem::take(w.writer());
    assert_eq!(
        &wire[..4],
        &(1 + br#"{"type":"plan_end"}"#.len() as u32).to_be_bytes()
    );
    let mut r = reader(wire);
    assert!(matches!(r.recv_msg().unwrap(), Msg::PlanEnd));
    assert!(matches!(r.recv().unwrap(), Record::Data(b"chunk")));
    assert_eq!(r.recv_msg().unwrap(), Msg::Done { files: 1, bytes: 5 });
    assert!(matches!(r.recv(), Err(WireError::Closed)));
}

/// A socket that takes 3 bytes per write, so the header of an unsealed chunk is
/// itself written in parts.
struct Trickle(Vec<u8>);

impl Write for Trickle {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(3);
        self.0.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn an_unsealed_chunk_survives_short_writes() {
    let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    let mut w = Conn::new(io::Cursor::new(Vec::new()), Trickle(Vec::new()));
    w.send_data(&data).unwrap();
    w.send_data(b"next").unwrap();
    let mut r = reader(std::mem::take(&mut w.writer().0));
    assert!(matches!(r.recv().unwrap(), Record::Data(d) if d == &data[..]));
    assert!(matches!(r.recv().unwrap(), Record::Data(b"next")));
}

#[test]
fn sealed_records_round_trip_and_hide_the_plaintext() {
    let mut w = writer();
    w.encrypt(&[1; 32], &[2; 32]);
    w.send_data(b"secret file body").unwrap();
    w.send_last(&Msg::Done {
        files: 1,
        bytes: 16,
    })
    .unwrap();
    let wire = std::mem::take(w.writer());
    assert!(!wire.windows(6).any(|win| win == b"secret"));
    let mut r = reader(wire);
    r.encrypt(&[2; 32], &[1; 32]);
    assert!(matches!(
        r.recv().unwrap(),
        Record::Data(b"secret file body")
    ));
    assert!(matches!(r.recv_msg().unwrap(), Msg::Done { .. }));
}

#[test]
fn a_flipped_bit_or_a_cleared_last_flag_is_refused() {
    let mut w = writer();
    w.encrypt(&[1; 32], &[2; 32]);
    w.send_last(&Msg::Done { files: 0, bytes: 0 }).unwrap();
    let wire = std::mem::take(w.writer());
    for i in 0..wire.len() {
        for bit in [0x01, 0x80] {
            let mut bad = wire.clone();
            bad[i] ^= bit;
            let mut r = reader(bad);
            r.encrypt(&[2; 32], &[1; 32]);
            assert!(r.recv().is_err(), "byte {i} bit {bit:#x} went unnoticed");
        }
    }
}

#[test]
fn oversized_and_truncated_frames() {
    let mut r = reader(
        u32::MAX.to_be_bytes()[..]
            .iter()
            .map(|b| b & 0x7f)
            .collect(),
    );
    assert!(matches!(r.recv(), Err(WireError::TooLarge { .. })));
    let mut r = reader(vec![0, 0, 0, 9, 0, b'{']);
    assert!(matches!(r.recv(), Err(WireError::Truncated)));
    let mut r = reader(vec![0, 0]);
    assert!(matches!(r.recv(), Err(WireError::Truncated)));
    let mut r = reader(vec![0, 0, 0, 2, 0, b'{']);
    assert!(matches!(r.recv(), Err(WireError::Malformed(_))));
    let mut r = reader(vec![0, 0, 0, 1, 9]);
    assert!(matches!(r.recv(), Err(WireError::Malformed(_))));
}

#[test]
fn a_short_record_after_a_long_one_opens() {
    let mut w = writer();
    w.encrypt(&[1; 32], &[2; 32]);
    w.send_data(&[9u8; 5000]).unwrap();
    w.send_last(&Msg::PlanEnd).unwrap();
    let mut r = reader(std::mem::take(w.writer()));
    r.encrypt(&[2; 32], &[1; 32]);
    assert!(matches!(r.recv().unwrap(), Record::Data(d) if d.len() == 5000));
    assert_eq!(r.recv_msg().unwrap(), Msg::PlanEnd);
}

#[test]
fn filled_data_frames_match_copied_ones() {
    for sealed in [false, true] {
        let (mut a, mut b) = (writer(), writer());
        if sealed {
            a.encrypt(&[1; 32], &[2; 32]);
            b.encrypt(&[1; 32], &[2; 32]);
        }
        a.send_data(b"same bytes").unwrap();
        b.data_buf()[..10].copy_from_slice(b"same bytes");
        b.send_filled(10).unwrap();
        assert_eq!(a.writer(), b.writer());
    }
}

#[test]
fn a_peer_error_message_becomes_an_error() {
    let mut w = writer();
    w.send_error("disk full");
    let mut r = reader(std::mem::take(w.writer()));
    assert!(matches!(r.recv(), Err(WireError::Peer(m)) if m == "disk full"));
}

#[test]
fn a_peer_error_is_one_bounded_line() {
    let mut w = writer();
    w.send_error(&format!("bad\n\x1b[2J{}", "z".repeat(5000)));
    let mut r = reader(std::mem::take(w.writer()));
    let Err(WireError::Peer(m)) = r.recv() else {
        panic!("expected the peer's error")
    };
    assert!(m.starts_with(r"bad\n\u{1b}[2J"), "{m}");
    assert!(!m.chars().any(char::is_control));
    assert_eq!(m.chars().count(), MAX_PEER_TEXT + 1);
}
