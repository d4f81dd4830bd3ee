//! Everything a command reports: the events, how each renders for people or as NDJSON
//! (docs/events.md), and the printer thread that writes them within a byte budget.

pub mod dump; // `http dump`'s view of a request: text or hex
mod event; // the events and their NDJSON form
pub mod printer; // the printer thread, its queue and byte budget
mod socket; // a socket's attributes, the data of the `socket` event

pub use event::*;
pub use printer::{Printer, PrinterGuard};
pub use socket::{OptValue, Options, SocketInfo};
