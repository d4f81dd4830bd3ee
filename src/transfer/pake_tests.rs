//! The unit tests of `pake.rs`.

use super::*;
use std::os::unix::net::UnixStream;

type Sock = Conn<UnixStream, UnixStream>;

fn conn(s: UnixStream) -> Sock {
    Conn::new(s.try_clone().unwrap(), s)
}

fn run(
    send_code: &str,
    recv_code: &str,
    send_enc: bool,
    recv_enc: bool,
) -> (
    Result<Session, HandshakeError>,
    Result<Session, HandshakeError>,
    Sock,
    Sock,
) {
    let (a, b) = UnixStream::pair().unwrap();
    let (send_code, recv_code) = (
        send_code.parse::<Code>().unwrap(),
        recv_code.parse::<Code>().unwrap(),
    );
    let sender = std::thread::spawn(move || {
        let mut c = conn(a);
        let r = as_sender(&mut c, &send_code, send_enc);
        (r, c)
    });
    let mut rc = conn(b);
    let recv = as_receiver(&mut rc, &recv_code, recv_enc);
    let (send, sc) = sender.join().unwrap();
    (send, recv, sc, rc)
}

#[test]
fn same_code_agrees_on_keys_and_verification_words() {
    let (s, r, mut sc, mut rc) = run("7-amber-lantern", "7-amber-lantern", true, true);
    let (s, r) = (s.unwrap(), r.unwrap());
    assert_eq!(s.verify, r.verify);
    assert_eq!(s.verify.split('-').count(), 4);
    sc.send_last(&Msg::Done { files: 0, bytes: 0 }).unwrap();
    assert_eq!(rc.recv_msg().unwrap(), Msg::Done { files: 0, bytes: 0 });
}

#[test]
fn a_wrong_code_fails_on_both_sides() {
    let (s, r, _, _) = run("7-amber-lantern", "7-amber-lanterns", true, true);
    assert!(matches!(s, Err(HandshakeError::WrongCode)));
    assert!(matches!(r, Err(HandshakeError::WrongCode)));
}

#[test]
fn plain_on_one_side_only_is_refused_clearly() {
    let (s, r, _, _) = run("1-a-b", "1-a-b", true, false);
    assert!(matches!(s, Err(HandshakeError::Incompatible(_))));
    let r = r.err().unwrap().to_string();
    assert!(r.contains("--plain"), "{r}");
}
