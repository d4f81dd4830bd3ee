//! `tcp serve` and `tcp connect`: framed message exchange over TCP.

mod client;
mod server;

pub use client::connect;
pub use server::{serve, Reply, Server};

use std::io;

use crate::event::Reason;

/// Why an I/O error ended a connection.
fn reason_of(e: &io::Error) -> Reason {
    match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionAborted => Reason::Reset,
        io::ErrorKind::TimedOut => Reason::Timeout,
        _ => Reason::Error,
    }
}
