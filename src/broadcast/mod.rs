//! `broadcast send` and `broadcast listen`: one sender, every host of the local network
//! (or every member of a multicast group) receiving, like the notes' "lottery" programs.

mod listen;
mod send;

pub use listen::{listen, ListenConfig};
pub use send::{destinations, send, SendConfig, MIN_INTERVAL};
