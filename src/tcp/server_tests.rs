//! The unit tests of `server.rs`.

use super::*;

#[test]
fn issue12_the_ack_counts_the_wire_and_ends_a_line_in_raw() {
    assert_eq!(&ack(b"hello", 5, Framing::Raw)[..], b"received 5 bytes");
    assert_eq!(&ack(b"hello\n", 6, Framing::Raw)[..], b"received 6 bytes\n");
    assert_eq!(
        &ack(b"hi\r\n", 4, Framing::Raw)[..],
        b"received 4 bytes\r\n"
    );
    assert_eq!(
        &ack(b"hello", 6, Framing::Line)[..],
        b"received 5 bytes (6 on the wire)"
    );
    assert_eq!(
        &ack(b"x", 5, Framing::Len)[..],
        b"received 1 byte (5 on the wire)"
    );
}
