//! `udp serve` and `udp send`: datagrams with their boundaries, their senders and their
//! losses made visible.

mod send;
mod serve;

pub use send::{send, SendConfig};
pub use serve::{serve, Receiver, ServeConfig, UdpReply};

/// The largest `--buffer`: no UDP datagram carries more than 65,527 bytes of payload.
pub const MAX_BUFFER: usize = 64 * 1024;
