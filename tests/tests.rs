//! The one integration-test binary: every test starts the real `sockit`.

mod broadcast;
mod harness;
mod hostile;
mod hostile_receiver;
mod info;
mod netns;
mod ns;
mod security;
mod tamper;
mod tcp;
mod transfer;
mod udp;
