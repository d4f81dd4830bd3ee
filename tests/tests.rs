//! The one integration-test binary: every test starts the real `sockit`.

mod broadcast;
mod harness;
mod info;
mod netns;
mod tcp;
mod tour;
mod transfer;
mod udp;
