//! Everything a command reports: the events, how each renders for people or as NDJSON
//! (docs/events.md), and the printer thread that writes them within a byte budget.

pub mod dump; // `http dump`'s view of a request: text or hex
mod escape; // network bytes made safe to show on a terminal
mod event; // the events and their NDJSON form
mod human; // how each event reads for people
pub mod perf; // the figures of `perf` events
pub mod perf_table; // `perf` events as an 80-column table for people
mod perf_units; // transfers, bitrates, times and shares as people read them
pub mod printer; // the printer thread, its queue and byte budget
pub mod qr; // QR codes drawn on a terminal, sized to fit it
mod socket; // a socket's attributes, the data of the `socket` event
pub mod tls; // the data of the `client_hello` event
mod writer; // the printer's thread: batches, and each event's line or NDJSON

pub use escape::{escape, is_deceptive, Escaped, Preview, PREVIEW};
pub use event::*;
pub use printer::{Printer, PrinterGuard};
pub use socket::{OptValue, Options, SocketInfo};

#[cfg(test)]
mod tests;
