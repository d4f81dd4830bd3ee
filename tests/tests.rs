//! The one integration-test binary: every test starts the real `sockit`.

mod harness;
mod tcp;
mod transfer;
