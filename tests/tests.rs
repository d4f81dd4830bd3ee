//! The one integration-test binary: every test starts the real `sockit`.

mod broadcast;
mod browser;
mod harness;
mod hostile;
mod hostile_receiver;
mod http_client;
mod http_dump;
mod http_serve;
mod http_serve_limits;
mod http_write;
mod info;
mod netns;
mod ns;
mod security;
mod tamper;
mod tcp;
mod tour;
mod transfer;
mod udp;
