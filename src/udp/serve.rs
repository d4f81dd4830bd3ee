//! `udp serve`: one socket for any number of peers; one event per datagram, and an
//! answer to its sender.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::ctx::Ctx;
use crate::net::addr::Endpoint;
use crate::net::dgram::{self, Received, UdpOptions};
use crate::net::listen;
use crate::net::sock::describe;
use crate::output::{Event, Printer, Proto};

/// How a UDP server answers each datagram.
#[derive(Debug, Clone)]
pub enum UdpReply {
    /// "received N bytes", like the notes' server.
    Ack,
    Text(Bytes),
    Echo,
    Silent,
}

/// What `udp serve` is asked to do.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub bind: Endpoint,
    /// Bytes kept of each datagram, 1 to `MAX_BUFFER`.
    pub buffer: usize,
    /// The receive buffer to ask the kernel for (SO_RCVBUF).
    pub rcvbuf: Option<u64>,
    pub reply: UdpReply,
}

/// `sockit udp serve`: binds, announces, receives until Ctrl-C, then prints totals.
pub async fn serve(config: ServeConfig, ctx: Ctx) -> anyhow::Result<()> {
    let socket = dgram::udp_bind(
        listen::bind_addr(&config.bind).await?,
        UdpOptions::default(),
    )?;
    let rcvbuf = match config.rcvbuf {
        Some(size) => dgram::set_recv_buffer(&socket, size)?,
        None => None,
    };
    listen::announce(&socket, Proto::Udp, &ctx)?;
    if let Some(warning) = rcvbuf {
        ctx.out.emit(&Event::warning(warning));
    }
    let receiver = Receiver {
        socket,
        buffer: config.buffer,
        reply: config.reply,
        out: ctx.out.clone(),
    };
    let totals = receiver.run(&ctx.shutdown).await;
    ctx.out.emit(&totals);
    Ok(())
}

/// Receives datagrams on one socket and answers each; shared by `udp serve` and
/// `broadcast listen`.
pub struct Receiver {
    pub socket: UdpSocket,
    /// Bytes kept of each datagram.
    pub buffer: usize,
    pub reply: UdpReply,
    pub out: Printer,
}

/// What a receiver has taken in.
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    datagrams: u64,
    /// Bytes kept (what fit the buffer).
    bytes: u64,
    /// Bytes the senders sent: more than `bytes` when datagrams were truncated.
    size: u64,
    truncated: u64,
    dropped_by_kernel: u64,
}

/// The kernel's drop counter as seen in received datagrams, and what is yet to be said.
struct KernelDrops {
    /// The last value of the socket's (wrapping, 32-bit) counter.
    seen: u32,
    unreported: u64,
    /// When a `kernel_dropped` event may next be printed.
    next_report: tokio::time::Instant,
}

/// At most one `kernel_dropped` event per this: a flood drops thousands a second.
const DROP_REPORT_EVERY: Duration = Duration::from_secs(1);

impl KernelDrops {
    fn new() -> Self {
        KernelDrops {
            seen: 0,
            unreported: 0,
            next_report: tokio::time::Instant::now(),
        }
    }

    /// Takes the counter's value now; adds what it grew by to the totals.
    fn update(&mut self, counter: u32, totals: &mut Totals) {
        let new = u64::from(counter.wrapping_sub(self.seen));
        self.seen = counter;
        self.unreported += new;
        totals.dropped_by_kernel += new;
    }

    /// The event for drops not yet reported, once `DROP_REPORT_EVERY` has passed.
    fn report(&mut self, totals: &Totals) -> Option<Event> {
        let now = tokio::time::Instant::now();
        if self.unreported == 0 || now < self.next_report {
            return None;
        }
        self.next_report = now + DROP_REPORT_EVERY;
        Some(Event::KernelDropped {
            datagrams: std::mem::take(&mut self.unreported),
            total: totals.dropped_by_kernel,
        })
    }
}

/// Datagrams taken from the queue without waiting before their events are printed in
/// one go; bounds how long the first of them waits to be shown.
const MAX_BATCH: usize = 64;

impl Receiver {
    /// Receives until `shutdown`; returns the `totals` event.
    pub async fn run(self, shutdown: &CancellationToken) -> Event {
        let mut buf = vec![0u8; self.buffer];
        let mut totals = Totals::default();
        if let Err(e) = dgram::count_kernel_drops(&self.socket) {
            self.out.emit(&Event::warning(format!(
                "SO_RXQ_OVFL: {}: datagrams the kernel drops will not be counted",
                describe(&e)
            )));
        }
        let mut drops = KernelDrops::new();
        let mut events = Vec::with_capacity(2 * MAX_BATCH);
        // Made once: a fresh `cancelled()` per datagram would register a waiter each time.
        let mut cancelled = std::pin::pin!(shutdown.cancelled());
        loop {
            let got = tokio::select! {
                _ = &mut cancelled => break,
                got = dgram::recv(&self.socket, &mut buf) => got,
                // Drops seen within a second of the last report: said a second later.
                _ = tokio::time::sleep_until(drops.next_report), if drops.unreported > 0 => {
                    if let Some(ev) = drops.report(&totals) {
                        self.out.emit(&ev);
                    }
                    continue;
                }
            };
            match got {
                Ok(d) => {
                    self.take(d, &buf, &mut totals, &mut drops, &mut events)
                        .await
                }
                Err(e) => {
                    // A receive error (out of memory, say) concerns one datagram; pause
                    // so that a persistent one does not spin.
                    self.out
                        .emit(&Event::warning(format!("receive: {}", describe(&e))));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
            // A busy socket has more queued: take it now and print the lot at once.
            for _ in 1..MAX_BATCH {
                match dgram::try_recv(&self.socket, &mut buf) {
                    Ok(d) => {
                        self.take(d, &buf, &mut totals, &mut drops, &mut events)
                            .await
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        events.push(Event::warning(format!("receive: {}", describe(&e))));
                        break;
                    }
                }
            }
            self.out.offer_all(&events);
            events.clear();
            if let Some(ev) = drops.report(&totals) {
                self.out.emit(&ev);
            }
        }
        // Drops after the last datagram received came with no control message.
        if let Ok(counter) = dgram::kernel_drops_now(&self.socket) {
            drops.update(counter, &mut totals);
        }
        Event::Totals {
            datagrams: totals.datagrams,
            bytes: totals.bytes,
            truncated: totals.truncated,
            size: (totals.size != totals.bytes).then_some(totals.size),
            dropped_by_kernel: totals.dropped_by_kernel,
        }
    }

    /// Counts one datagram, answers it, and queues the events that say so.
    async fn take(
        &self,
        d: Received,
        buf: &[u8],
        totals: &mut Totals,
        drops: &mut KernelDrops,
        events: &mut Vec<Event>,
    ) {
        if let Some(counter) = d.kernel_drops {
            drops.update(counter, totals);
        }
        totals.datagrams += 1;
        totals.bytes += d.len as u64;
        totals.size += d.size as u64;
        totals.truncated += u64::from(d.truncated());
        let kept = &buf[..d.len];
        events.push(Event::datagram(d.peer, kept, d.size));
        let answer = match &self.reply {
            UdpReply::Ack => Bytes::from(ack(&d)),
            UdpReply::Text(t) => t.clone(),
            UdpReply::Echo => Bytes::copy_from_slice(kept),
            UdpReply::Silent => return,
        };
        events.push(self.send(d.peer, &answer).await);
    }

    async fn send(&self, peer: SocketAddr, answer: &[u8]) -> Event {
        match self.socket.send_to(answer, peer).await {
            Ok(_) => Event::reply(peer, bytes::Bytes::copy_from_slice(answer)),
            Err(e) => Event::warning(format!("[{peer}] reply not sent: {}", describe(&e))),
        }
    }
}

/// The default answer: how many bytes arrived, and how many were lost to the buffer.
fn ack(d: &Received) -> String {
    if d.truncated() {
        format!("received {} of {} bytes (truncated)", d.len, d.size)
    } else if d.size == 1 {
        "received 1 byte".to_owned()
    } else {
        format!("received {} bytes", d.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_names_the_byte_count() {
        let peer = "127.0.0.1:1".parse().unwrap();
        let d = |len, size| Received {
            peer,
            len,
            size,
            kernel_drops: None,
        };
        assert_eq!(ack(&d(5, 5)), "received 5 bytes");
        assert_eq!(ack(&d(1, 1)), "received 1 byte");
        assert_eq!(
            ack(&d(1024, 3000)),
            "received 1024 of 3000 bytes (truncated)"
        );
    }
}
