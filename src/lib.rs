//! sockit: the lessons of a socket-programming course as one fast, safe tool.
//!
//! The binary (`src/main.rs`) only calls `app::main` and maps errors to exit codes.
//! Modules depend downwards only (ARCHITECTURE.md; `tests/layers.rs` checks it):
//! `app` → the commands → `net` and `framing` → `ctx` → `output`.

pub mod app; // the command line, its translation into configurations, dispatch
pub mod broadcast; // `broadcast send` and `broadcast listen` (and multicast)
pub mod ctx; // what every command is given, and the errors with exit codes of their own
pub mod framing; // raw / line / len codecs against sticky packets
pub mod http; // `http dump` (raw request viewer) and `http serve` (file server)
pub mod info; // `info`: one socket's attributes and options
pub mod net; // addresses, socket builders, accept loops, shutdown
pub mod output; // events, how they render, and the printer that writes them
pub mod perf; // `perf`: measure a link, iperf3-compatible
pub mod tcp; // `tcp serve` and `tcp connect`
pub mod tour; // `tour`: every lesson of the notes, live on loopback and explained
pub mod transfer; // `send` and `recv`: verified, resumable, encrypted file transfer
pub mod udp; // `udp serve` and `udp send`
pub mod wormhole; // `send --wormhole`, `recv --wormhole`: the magic-wormhole protocol
