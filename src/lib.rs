//! sockit: the lessons of a socket-programming course as one fast, safe tool.
//!
//! The binary (`src/main.rs`) only parses the command line and maps errors to exit
//! codes; everything else lives here.

pub mod accept; // accept loops that back off on errors and say so once per burst
pub mod addr; // ADDR / SIZE / DUR parsing and name resolution
pub mod broadcast; // `broadcast send` and `broadcast listen` (and multicast)
pub mod cli; // the command line (clap types), one struct per command
pub mod dgram; // UDP socket builders and a receive that reports truncation
pub mod event; // Event and its two printers (people, NDJSON)
pub mod framing; // raw / line / len codecs against sticky packets
pub mod http; // `http dump` (raw request viewer) and `http serve` (file server)
pub mod info; // `info`: one socket's attributes and options
pub mod printer; // the Printer thread that writes events (batched, flushed when idle)
pub mod run; // dispatch of a parsed command line; runtime, printer and signals
pub mod shell; // `completions` and `man`: shell integration generated from the clap types
pub mod shutdown; // Ctrl-C and graceful drain
pub mod sock; // socket2 builders and SocketInfo
pub mod tcp; // `tcp serve` and `tcp connect`
pub mod tour; // `tour`: every lesson of the notes, live on loopback and explained
pub mod transfer; // `send` and `recv`: verified, resumable, encrypted file transfer
pub mod udp; // `udp serve` and `udp send`
