//! `perf`: measure a link, speaking iperf3's protocol (docs/perf-protocol.md).
//!
//! So far only the protocol itself, without sockets of its own: the control connection's
//! cookie, state bytes and length-prefixed JSON (`proto`), the parameters and results
//! messages (`params`, `results`), and the UDP datagram header, hello and loss/jitter
//! accounting (`udp`). Section numbers in comments are those of docs/perf-protocol.md.

pub mod i_errno;
pub mod params;
pub mod proto;
pub mod results;
pub mod udp;

pub use params::{Params, Protocol};
pub use proto::{
    read_cookie, read_json, read_server_error, read_state, write_cookie, write_json, write_state,
    Cookie, ProtoError, State, COOKIE_LEN, MAX_JSON,
};
pub use results::{Results, StreamResult};
pub use udp::{Header, UdpStats};
