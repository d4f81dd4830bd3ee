//! The unit tests of `cli.rs`.

use super::*;
use crate::framing::Framing;
use clap::CommandFactory;

#[test]
fn the_command_line_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn issue12_values_that_disable_a_server_are_usage_errors() {
    for args in [
        &["sockit", "tcp", "serve", "--max-frame", "0"][..],
        &["sockit", "tcp", "serve", "--max-clients", "0"],
        &["sockit", "tcp", "serve", "--idle-timeout", "0s"],
        &["sockit", "tcp", "connect", "1", "--max-frame", "0"],
        &["sockit", "broadcast", "send", "--count", "0"],
    ] {
        let e = Cli::try_parse_from(args).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{args:?}");
        assert!(
            e.to_string().contains("0 would") || e.to_string().contains("1 or more"),
            "{e}"
        );
    }
    let e = Cli::try_parse_from(["sockit", "broadcast", "send", "--count", "-1"]).unwrap_err();
    let text = e.to_string();
    assert!(
        !text.contains("'-- -1'") && text.contains("leave --count out"),
        "{text}"
    );
}

#[test]
fn issue12_host_and_port_as_two_words_get_a_tip() {
    let args = |a: &[&str]| a.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
    assert_eq!(
        tip(&args(&["sockit", "tcp", "connect", "127.0.0.1", "8888"])).as_deref(),
        Some("the address is one argument, HOST:PORT: write 127.0.0.1:8888")
    );
    assert_eq!(
        tip(&args(&["sockit", "udp", "send", "::1", "9", "hi"])).as_deref(),
        Some("the address is one argument, HOST:PORT: write [::1]:9")
    );
    assert_eq!(
        tip(&args(&["sockit", "tcp", "connect", "127.0.0.1:1", "2"])),
        None
    );
}

#[test]
fn send_raw_listens_on_the_notes_port_unless_bind_says_otherwise() {
    let send = |line: &[&str]| match Cli::try_parse_from(line).unwrap().command {
        Command::Send(a) => a.bind_addr().to_string(),
        _ => unreachable!(),
    };
    assert_eq!(send(&["sockit", "send", "--raw", "f"]), "0.0.0.0:8888");
    assert_eq!(send(&["sockit", "send", "f"]), "0.0.0.0:0");
    let bound = send(&["sockit", "send", "--raw", "f", "--bind", "127.0.0.1:0"]);
    assert_eq!(bound, "127.0.0.1:0");
}

#[test]
fn framing_defaults() {
    let cli = Cli::try_parse_from(["sockit", "tcp", "connect", "8888"]).unwrap();
    let Command::Tcp(TcpCommand::Connect(c)) = cli.command else {
        panic!()
    };
    assert_eq!(
        c.framing.framing(),
        Framing::Raw,
        "issue 12: like nc and the notes"
    );
    assert_eq!(c.framing.codec().delimiter(), b"\n");
    let with = |args: &[&str]| {
        let all = [&["sockit", "tcp", "serve"][..], args].concat();
        let Command::Tcp(TcpCommand::Serve(s)) = Cli::try_parse_from(all).unwrap().command else {
            panic!()
        };
        (s.framing.framing(), s.framing.conflict())
    };
    assert_eq!(with(&["--delimiter", "<END>"]), (Framing::Line, None));
    assert_eq!(with(&["--framing", "len"]).0, Framing::Len);
    assert!(with(&["--framing", "raw", "--delimiter", ";"]).1.is_some());
    assert_eq!(c.framing.max_frame, 8 << 20);
    assert_eq!(
        c.target,
        Endpoint {
            host: None,
            port: 8888
        }
    );
}
