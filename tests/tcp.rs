//! `tcp serve` and `tcp connect`, against each other and against the notes' programs.

use crate::harness::*;

#[test]
fn connect_sends_stdin_lines_and_prints_the_default_acknowledgement() {
    let server = Server::start(&["tcp", "serve"]);
    let out = run(
        &["tcp", "connect", &server.addr.to_string()],
        b"hello\n\xe7\xb2\x98\xe5\x8c\x85\r\n",
    );
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let replies: Vec<_> = out
        .events_named("message")
        .iter()
        .map(|e| e["text"].clone())
        .collect();
    assert_eq!(replies, ["received 5 bytes", "received 6 bytes"]);
    assert_eq!(out.events_named("disconnect")[0]["reason"], "closed");

    server.wait_for("connect");
    let first = server.wait_for("message");
    assert_eq!(
        (first["text"].as_str(), first["bytes"].as_u64()),
        (Some("hello"), Some(5))
    );
    assert_eq!(server.wait_for("message")["text"], "粘包");
    assert_eq!(server.wait_for("disconnect")["reason"], "closed");
}
