//! The server's UDP port (section 4.3): one unconnected socket takes every hello and
//! hands it to the test whose client sent it; the test then binds a socket of its own
//! on the same port, connected to that client, and answers from it. The kernel gives a
//! connected socket the datagrams of its peer, and the hub everything else.
//!
//! A hello carries no cookie, so it is tied to a test by the client's address alone:
//! one test per client address sets up its UDP streams at a time (`turn`), and other
//! tests from that address wait for their turn (at most `STREAMS_TIMEOUT`).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::mpsc;

use super::stream::lock;
use super::{sockopt, udp};

/// A hello: who sent it and its bytes.
pub type Hello = (SocketAddr, [u8; 4]);

/// Hellos queued for one test, at most (a test never needs more than its streams).
const HELLO_QUEUE: usize = 256;

pub struct Hub {
    socket: Result<Arc<tokio::net::UdpSocket>, io::Error>,
    port: u16,
    waiting: Mutex<HashMap<IpAddr, mpsc::Sender<Hello>>>,
    turns: Mutex<HashMap<IpAddr, Arc<tokio::sync::Mutex<()>>>>,
    /// Datagrams that no test expected (counted, never answered).
    pub strays: std::sync::atomic::AtomicU64,
    listener: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Drop for Hub {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.listener).take() {
            task.abort();
        }
    }
}

/// One test's turn to set up UDP streams from its client's address.
pub struct Turn {
    hub: Arc<Hub>,
    ip: IpAddr,
    pub hellos: mpsc::Receiver<Hello>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        lock(&self.hub.waiting).remove(&self.ip);
        self.guard.take();
        let mut turns = lock(&self.hub.turns);
        if turns
            .get(&self.ip)
            .is_some_and(|t| Arc::strong_count(t) == 1)
        {
            turns.remove(&self.ip);
        }
    }
}

/// A UDP socket on `addr` that others may bind too (SO_REUSEADDR on every one).
fn shared_udp(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    if let SocketAddr::V6(v6) = addr {
        if v6.ip().is_unspecified() {
            socket.set_only_v6(false)?;
        }
    }
    socket.bind(&addr.into())?;
    Ok(socket)
}

impl Hub {
    /// Binds the UDP port of `addr` (the server's TCP address) and starts taking
    /// hellos. A port that cannot be bound is kept as the error UDP tests are refused with.
    pub fn start(addr: SocketAddr) -> Arc<Hub> {
        let socket = shared_udp(addr).and_then(|s| {
            s.set_nonblocking(true)?;
            tokio::net::UdpSocket::from_std(s.into())
        });
        let hub = Arc::new(Hub {
            socket: socket.map(Arc::new),
            port: addr.port(),
            waiting: Mutex::default(),
            turns: Mutex::default(),
            strays: Default::default(),
            listener: Mutex::default(),
        });
        if let Ok(socket) = &hub.socket {
            let task = tokio::spawn(listen(Arc::downgrade(&hub), socket.clone()));
            *lock(&hub.listener) = Some(task.abort_handle());
        }
        hub
    }

    /// Why UDP tests cannot run, if they cannot.
    pub fn unavailable(&self) -> Option<&io::Error> {
        self.socket.as_ref().err()
    }

    /// Waits for `ip`'s turn and takes its hellos until the turn is dropped.
    pub async fn turn(self: &Arc<Hub>, ip: IpAddr) -> Turn {
        let ip = ip.to_canonical();
        let mutex = lock(&self.turns).entry(ip).or_default().clone();
        let guard = mutex.lock_owned().await;
        let (tx, rx) = mpsc::channel(HELLO_QUEUE);
        lock(&self.waiting).insert(ip, tx);
        Turn {
            hub: self.clone(),
            ip,
            hellos: rx,
            guard: Some(guard),
        }
    }

    /// Gives a hello to the test waiting for its sender's address, if any.
    fn dispatch(&self, hello: Hello) {
        let tx = lock(&self.waiting)
            .get(&hello.0.ip().to_canonical())
            .cloned();
        match tx {
            Some(tx) if tx.try_send(hello).is_ok() => {}
            _ => {
                self.strays
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    /// A stream's own socket for the hello `(peer, bytes)`: bound to the port on
    /// `local` (the address the client reached the server at), connected to the peer,
    /// and the answer sent from it. A hello of another client that reached this socket
    /// in the instant between its bind and its connect is passed on to the hub.
    pub fn stream_socket(
        &self,
        local: IpAddr,
        hello: Hello,
        opts: &sockopt::DataOptions,
        receiving: bool,
    ) -> io::Result<std::net::UdpSocket> {
        let (peer, bytes) = hello;
        let local = SocketAddr::new(local.to_canonical(), self.port);
        let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
        let socket = Socket::new(Domain::for_address(local), Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_reuse_address(true)?;
        sockopt::apply(&socket, opts, false).map_err(|r| r.io)?;
        if receiving && opts.window.is_none() {
            sockopt::widen_udp_receive(&socket);
        }
        socket.bind(&local.into())?;
        socket.connect(&peer.into())?;
        let socket: std::net::UdpSocket = socket.into();
        socket.set_nonblocking(true)?;
        let mut buf = [0u8; 4];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            if from != peer && n == 4 {
                self.dispatch((from, buf));
            }
        }
        socket.set_nonblocking(false)?;
        socket.send(&udp::reply_to(&bytes))?;
        Ok(socket)
    }
}

/// Takes hellos until the hub is gone.
async fn listen(hub: std::sync::Weak<Hub>, socket: Arc<tokio::net::UdpSocket>) {
    let mut buf = vec![0u8; 65536];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let Some(hub) = hub.upgrade() else {
            return;
        };
        match <[u8; 4]>::try_from(&buf[..n]) {
            Ok(hello) => hub.dispatch((from, hello)),
            Err(_) => {
                hub.strays
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}
