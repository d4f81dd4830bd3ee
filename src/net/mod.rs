//! What every networked command shares: addresses and their resolution, socket
//! builders, accept loops that back off, and the graceful end of a server.

pub mod accept; // accept loops that back off on errors and say so once per burst
pub mod addr; // ADDR / SIZE / DUR parsing and name resolution
pub mod client_hello; // a TLS ClientHello read before the handshake, and its JA4
pub mod dgram; // UDP socket builders and a receive that reports truncation
pub mod exchange; // a client's send-while-receiving, then waiting for replies
pub mod lan; // this machine's addresses as other devices on the LAN reach them
pub mod listen; // resolve, bind and announce a server's socket
pub mod shutdown; // Ctrl-C and graceful drain
pub mod sock; // socket2 builders and SocketInfo
pub mod tcp_info; // TCP_INFO: RTT, congestion window, retransmits
pub mod tls; // TLS for servers and clients: certificates, self-signed ones kept, verification
pub mod tls_stream; // a connection in clear or TLS, and the start of one on a TLS port
