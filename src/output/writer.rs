//! The printer's thread: it writes what is queued, in batches, flushing when the queue
//! is empty, and each event as a line for people (coloured on a terminal) or NDJSON —
//! the events a busy server prints most field by field (the fast path), the rest
//! through serde and `Display`.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Duration;

use base64::Engine as _;
use tokio_util::sync::CancellationToken;

use super::printer::{Item, Queue, Queued};
use super::{Event, Payload, Preview};

/// How the writer thread renders events.
#[derive(Clone, Copy)]
pub(super) struct Style {
    pub json: bool,
    pub colour: bool,
}

impl Style {
    pub(super) fn write(self, out: &mut impl Write, item: &Item) -> io::Result<()> {
        match item {
            Item::Event(event) => self.write_event(out, event),
            Item::Events(events) => events.iter().try_for_each(|e| self.write_event(out, e)),
            Item::Raw(line) => writeln!(out, "{line}"),
            // Back to the start of the line and erase it, then the status, kept on it.
            Item::Status(line) => write!(out, "\r\x1b[2K{line}"),
        }
    }

    pub(super) fn write_event(self, out: &mut impl Write, event: &Event) -> io::Result<()> {
        match event {
            Event::Message {
                peer,
                bytes,
                wire,
                payload,
            } if !self.colour => {
                self.write_exchange(out, "message", *peer, (*bytes, *wire), payload)
            }
            Event::Reply {
                peer,
                bytes,
                wire,
                payload,
            } if !self.colour => self.write_exchange(out, "reply", *peer, (*bytes, *wire), payload),
            _ => self.write_generic(out, event),
        }
    }

    /// Any event, through `Serialize` or `Display`.
    pub(super) fn write_generic(self, out: &mut impl Write, event: &Event) -> io::Result<()> {
        if self.json {
            serde_json::to_writer(&mut *out, event).map_err(io::Error::from)?;
            out.write_all(b"\n")
        } else if self.colour && !event.colour().is_plain() {
            let style = event.colour();
            writeln!(out, "{}{event}{}", style.render(), style.render_reset())
        } else {
            writeln!(out, "{event}")
        }
    }
}

/// The fast path for `message` and `reply`, the events a busy server prints two of per
/// exchange: the same bytes the generic path writes (a test holds them equal), without
/// the formatting machinery, which cost as much as the exchange's own user-space work.
impl Style {
    fn write_exchange(
        self,
        out: &mut impl Write,
        kind: &str,
        peer: SocketAddr,
        (bytes, wire): (usize, Option<usize>),
        payload: &Payload,
    ) -> io::Result<()> {
        let mut n = itoa::Buffer::new();
        let raw = payload.raw();
        if self.json {
            out.write_all(b"{\"event\":\"")?;
            out.write_all(kind.as_bytes())?;
            out.write_all(b"\",\"peer\":\"")?;
            write_addr(out, peer)?;
            out.write_all(b"\",\"bytes\":")?;
            out.write_all(n.format(bytes).as_bytes())?;
            if let Some(w) = wire {
                out.write_all(b",\"wire\":")?;
                out.write_all(n.format(w).as_bytes())?;
            }
            match std::str::from_utf8(raw) {
                Ok(text) => {
                    out.write_all(b",\"text\":")?;
                    serde_json::to_writer(&mut *out, text).map_err(io::Error::from)?;
                }
                Err(_) => {
                    out.write_all(b",\"base64\":\"")?;
                    out.write_all(
                        base64::engine::general_purpose::STANDARD
                            .encode(raw)
                            .as_bytes(),
                    )?;
                    out.write_all(b"\"")?;
                }
            }
            return out.write_all(b"}\n");
        }
        out.write_all(b"[")?;
        write_addr(out, peer)?;
        out.write_all(if kind == "reply" {
            b"] replied "
        } else {
            b"] "
        })?;
        out.write_all(n.format(bytes).as_bytes())?;
        out.write_all(if bytes == 1 { b" byte" } else { b" bytes" })?;
        if let Some(w) = wire {
            out.write_all(b" (")?;
            out.write_all(n.format(w).as_bytes())?;
            out.write_all(b" on the wire)")?;
        }
        out.write_all(b": ")?;
        writeln!(out, "{}", Preview(raw))
    }
}

/// `127.0.0.1:5000` as `SocketAddr`'s `Display` writes it; IPv6 takes the general path.
fn write_addr(out: &mut impl Write, addr: SocketAddr) -> io::Result<()> {
    let SocketAddr::V4(v4) = addr else {
        return write!(out, "{addr}");
    };
    let mut n = itoa::Buffer::new();
    for (i, octet) in v4.ip().octets().into_iter().enumerate() {
        if i > 0 {
            out.write_all(b".")?;
        }
        out.write_all(n.format(octet).as_bytes())?;
    }
    out.write_all(b":")?;
    out.write_all(n.format(v4.port()).as_bytes())
}

/// How long the writer lets lines gather after each write before it parks again.
const LINGER: Duration = Duration::from_millis(1);

/// The writer thread's side of the queue.
pub(super) struct Writer<'a> {
    pub(super) style: Style,
    pub(super) gone: &'a AtomicBool,
    pub(super) closed: &'a CancellationToken,
    pub(super) queue: &'a Queue,
}

impl Writer<'_> {
    pub(super) fn run(&self, rx: Receiver<Queued>, mut out: impl Write) {
        let mut status = false;
        while let Ok(first) = rx.recv() {
            let mut result = self.write(&mut out, first, &mut status);
            loop {
                match rx.try_recv() {
                    Ok(queued) if result.is_ok() => {
                        result = self.write(&mut out, queued, &mut status)
                    }
                    Ok(queued) => self.give_back(&queued),
                    Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => break,
                }
            }
            // Caught up: say what was lost while output was slow.
            if result.is_ok() {
                result = self.report_dropped(&mut out);
            }
            if let Err(e) = result.and_then(|_| out.flush()) {
                self.fail(e);
            }
            // Linger before parking again: while this thread is awake, emitters queue
            // lines without a futex wake-up each, which costs a busy server (one event per
            // message or request) more than formatting the line does. The line just
            // written is already out; a person cannot see the 1 ms the next one may wait.
            std::thread::sleep(LINGER);
        }
        if !self.gone.load(Ordering::Relaxed) {
            let cleared = match status {
                true => out.write_all(b"\r\x1b[2K"),
                false => Ok(()),
            };
            if let Err(e) = cleared
                .and_then(|_| self.report_dropped(&mut out))
                .and_then(|_| out.flush())
            {
                self.fail(e);
            }
        }
    }

    /// Writes one item; `status` says whether a status line is on screen, which any
    /// other line first erases.
    fn write(&self, out: &mut impl Write, queued: Queued, status: &mut bool) -> io::Result<()> {
        let result = if self.gone.load(Ordering::Relaxed) {
            Ok(())
        } else {
            let is_status = matches!(queued.item, Item::Status(_));
            let erase = match (*status, is_status) {
                (true, false) => out.write_all(b"\r\x1b[2K"),
                _ => Ok(()),
            };
            if let Item::Status(line) = &queued.item {
                *status = !line.is_empty();
            } else {
                *status = false;
            }
            erase.and_then(|_| self.style.write(out, &queued.item))
        };
        self.give_back(&queued);
        result
    }

    fn give_back(&self, queued: &Queued) {
        if queued.room > 0 {
            self.queue.room.add_permits(queued.room);
        }
        if queued.overdraft > 0 {
            self.queue
                .overdraft
                .fetch_sub(queued.overdraft, Ordering::Relaxed);
        }
        if let Some(stream) = &queued.stream {
            stream.0.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn report_dropped(&self, out: &mut impl Write) -> io::Result<()> {
        let events = self.queue.dropped_events.swap(0, Ordering::Relaxed);
        let bytes = self.queue.dropped_bytes.swap(0, Ordering::Relaxed);
        if events == 0 {
            return Ok(());
        }
        self.style
            .write_event(out, &Event::Dropped { events, bytes })
    }

    fn fail(&self, e: io::Error) {
        self.gone.store(true, Ordering::Relaxed);
        if e.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("sockit: writing to stdout: {e}");
        }
        self.closed.cancel();
    }
}
