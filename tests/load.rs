//! The integration tests that load the machine on purpose: floods with stdout unread
//! (`bounded`) and a thousand slow connections against the HTTP servers (`http_slow`).
//! They are a test binary of their own because cargo runs test binaries one after
//! another: their load then never overlaps the timing-sensitive tests of `tests.rs`.

mod bounded;
mod harness;
mod http_client;
mod http_slow;
