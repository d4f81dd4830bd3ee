//! The integration tests that need nothing but loopback: every test starts the real
//! `sockit`. (Those that need root, Chromium, `nc` or IPv6 are in `gated.rs`.)

mod accept_errors;
mod broadcast;
mod fuzz_cases;
mod harness;
mod hostile;
mod hostile_receiver;
mod http_archive;
mod http_archive_stream;
mod http_auth;
mod http_auth_login;
mod http_auth_rules;
mod http_client;
mod http_conformance;
mod http_dump;
mod http_newcomer;
mod http_serve;
mod http_serve_limits;
mod http_upload_safety;
mod http_write;
mod info;
mod interrupted;
mod layers;
mod partial_names;
mod perf;
mod perf_hostile;
mod perf_options;
mod qr;
mod security;
mod tamper;
mod tcp;
mod tls;
mod tour;
mod transfer;
mod udp;
