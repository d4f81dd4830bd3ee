//! The printer: renders events for people (colour only on a terminal, `NO_COLOR`
//! respected) or as NDJSON, and writes them from a thread of its own.

use std::io::{self, IsTerminal, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use base64::Engine as _;

use crate::event::{Event, Payload, Preview, RESET};

/// Renders events to stdout from a thread of its own.
///
/// Callers hand over the event itself (its payload is shared, not copied); the writer
/// thread renders it straight into its output buffer and flushes only when the queue is
/// empty, so a busy server makes one `write` per batch and no string per event, while an
/// idle one shows each line at once.
/// When stdout is closed (`| head`), the printer cancels `closed` so the command ends
/// quietly and successfully.
#[derive(Clone)]
pub struct Printer {
    tx: SyncSender<Item>,
    json: bool,
    gone: Arc<AtomicBool>,
}

/// What waits in the printer's queue.
enum Item {
    Event(Event),
    /// Events handed over together (one wake-up for the batch).
    Events(Vec<Event>),
    /// A line that is not an event.
    Raw(String),
}

/// How the writer thread renders events.
#[derive(Clone, Copy)]
struct Style {
    json: bool,
    colour: bool,
}

/// Joins the printer's thread so that every queued line is written before exit.
pub struct PrinterGuard(JoinHandle<()>);

impl PrinterGuard {
    /// Waits until every `Printer` clone is dropped and the queue is written.
    pub fn finish(self) {
        let _ = self.0.join();
    }
}

/// How long the writer lets lines gather after each write before it parks again.
const LINGER: Duration = Duration::from_millis(1);

/// How many formatted lines may wait for the writer before emitters block.
const QUEUE_LINES: usize = 8192;

impl Printer {
    /// Events on stdout, or on stderr when stdout carries data (`recv --stdout`).
    pub fn new(json: bool, to_stderr: bool, closed: CancellationToken) -> (Printer, PrinterGuard) {
        let terminal = if to_stderr {
            io::stderr().is_terminal()
        } else {
            io::stdout().is_terminal()
        };
        let colour = !json && terminal && std::env::var_os("NO_COLOR").is_none();
        let (tx, rx) = mpsc::sync_channel(QUEUE_LINES);
        let gone = Arc::new(AtomicBool::new(false));
        let flag = gone.clone();
        let handle = std::thread::Builder::new()
            .name("sockit-printer".into())
            .spawn(move || {
                let style = Style { json, colour };
                if to_stderr {
                    let out = io::BufWriter::with_capacity(64 * 1024, io::stderr().lock());
                    write_lines(rx, out, style, &flag, &closed)
                } else {
                    let out = io::BufWriter::with_capacity(64 * 1024, io::stdout().lock());
                    write_lines(rx, out, style, &flag, &closed)
                }
            })
            .expect("spawning the printer thread");
        (Printer { tx, json, gone }, PrinterGuard(handle))
    }

    pub fn is_json(&self) -> bool {
        self.json
    }

    pub fn emit(&self, event: &Event) {
        self.push(Item::Event(event.clone()));
    }

    /// Emits `events` in one hand-over to the writer thread: a busy receiver pays one
    /// wake-up per batch instead of one per event.
    pub fn emit_all(&self, events: &[Event]) {
        if !events.is_empty() {
            self.push(Item::Events(events.to_vec()));
        }
    }

    /// Writes a line that is not an event (a table, help text) in order with the events.
    pub fn raw_line(&self, line: String) {
        self.push(Item::Raw(line));
    }

    fn push(&self, item: Item) {
        if !self.gone.load(Ordering::Relaxed) {
            // Err only when the writer has stopped, after stdout closed.
            let _ = self.tx.send(item);
        }
    }
}

impl Style {
    fn write(self, out: &mut impl Write, item: &Item) -> io::Result<()> {
        match item {
            Item::Event(event) => self.write_event(out, event),
            Item::Events(events) => events.iter().try_for_each(|e| self.write_event(out, e)),
            Item::Raw(line) => writeln!(out, "{line}"),
        }
    }

    fn write_event(self, out: &mut impl Write, event: &Event) -> io::Result<()> {
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
    fn write_generic(self, out: &mut impl Write, event: &Event) -> io::Result<()> {
        if self.json {
            serde_json::to_writer(&mut *out, event).map_err(io::Error::from)?;
            out.write_all(b"\n")
        } else if self.colour && !event.colour().is_empty() {
            writeln!(out, "{}{event}{RESET}", event.colour())
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

fn write_lines(
    rx: Receiver<Item>,
    mut out: impl Write,
    style: Style,
    gone: &AtomicBool,
    closed: &CancellationToken,
) {
    let fail = |e: io::Error| {
        gone.store(true, Ordering::Relaxed);
        if e.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("sockit: writing to stdout: {e}");
        }
        closed.cancel();
    };
    while let Ok(first) = rx.recv() {
        if gone.load(Ordering::Relaxed) {
            continue;
        }
        let mut result = style.write(&mut out, &first);
        loop {
            match rx.try_recv() {
                Ok(item) if result.is_ok() => result = style.write(&mut out, &item),
                Ok(_) => {}
                Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => break,
            }
        }
        if let Err(e) = result.and_then(|_| out.flush()) {
            fail(e);
        }
        // Linger before parking again: while this thread is awake, emitters queue lines
        // without a futex wake-up each, which costs a busy server (one event per message
        // or request) more than formatting the line does. The line just written is
        // already out; a person cannot see the 1 ms the next one may wait.
        std::thread::sleep(LINGER);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printer_writes_every_line_in_order() {
        let (tx, rx) = mpsc::sync_channel(4);
        let gone = AtomicBool::new(false);
        let closed = CancellationToken::new();
        let writer = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let style = Style {
                json: false,
                colour: false,
            };
            write_lines(rx, &mut buf, style, &gone, &closed);
            buf
        });
        for i in 0..100 {
            tx.send(Item::Raw(i.to_string())).unwrap();
        }
        drop(tx);
        let out = String::from_utf8(writer.join().unwrap()).unwrap();
        let want: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        assert_eq!(out.lines().collect::<Vec<_>>(), want);
    }

    #[test]
    fn events_render_on_the_writer_as_lines_or_ndjson() {
        let peer = "127.0.0.1:5000".parse().unwrap();
        let message = Event::message(peer, bytes::Bytes::from_static(b"hi\n"));
        let sent = Event::Sent { to: peer, bytes: 1 };
        let render = |json, colour| {
            let mut buf = Vec::new();
            let style = Style { json, colour };
            style
                .write(&mut buf, &Item::Event(message.clone()))
                .unwrap();
            style
                .write(&mut buf, &Item::Events(vec![sent.clone(), sent.clone()]))
                .unwrap();
            String::from_utf8(buf).unwrap()
        };
        let plain = render(false, false);
        assert_eq!(
            plain.lines().collect::<Vec<_>>(),
            [
                "[127.0.0.1:5000] 3 bytes: hi\\n",
                "sent 1 byte to 127.0.0.1:5000",
                "sent 1 byte to 127.0.0.1:5000"
            ]
        );
        // A message keeps the terminal's colour; a `sent` line is dimmed, then reset.
        let coloured = render(false, true);
        let second = coloured.lines().nth(1).unwrap();
        assert!(second.starts_with("\x1b[2msent 1 byte") && second.ends_with(RESET));
        let json = render(true, false);
        let lines: Vec<serde_json::Value> = json
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["event"], "message");
        assert_eq!(lines[0]["text"], "hi\n");
        assert_eq!(lines[2]["event"], "sent");
    }

    #[test]
    fn the_fast_path_writes_what_the_generic_one_does() {
        let peers = [
            "127.0.0.1:5000",
            "10.20.30.40:1",
            "[::1]:8080",
            "[fe80::1%2]:9",
        ];
        let long = vec![b'x'; 1000];
        let long_text = "粘包".repeat(200);
        let payloads: [&[u8]; 9] = [
            b"",
            b"a",
            b"hello world",
            b"tab\tnew\nline \\ \"quoted\" \x1b[31m",
            "非 ASCII ✓".as_bytes(),
            b"\xff\xfe not utf-8",
            &[0u8; 64],
            &long,
            long_text.as_bytes(),
        ];
        for peer in peers {
            let peer: SocketAddr = peer.parse().unwrap();
            for payload in payloads {
                let bytes = bytes::Bytes::copy_from_slice(payload);
                for event in [
                    Event::message(peer, bytes.clone()),
                    Event::reply(peer, bytes.clone()),
                    Event::message(peer, bytes.clone()).on_wire(bytes.len() + 4),
                    Event::reply(peer, bytes).on_wire(payload.len() + 1),
                ] {
                    for json in [false, true] {
                        let style = Style {
                            json,
                            colour: false,
                        };
                        let (mut fast, mut generic) = (Vec::new(), Vec::new());
                        style.write_event(&mut fast, &event).unwrap();
                        style.write_generic(&mut generic, &event).unwrap();
                        assert_eq!(
                            String::from_utf8_lossy(&fast),
                            String::from_utf8_lossy(&generic)
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_closed_stdout_cancels_quietly() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let (tx, rx) = mpsc::sync_channel(4);
        let gone = AtomicBool::new(false);
        let closed = CancellationToken::new();
        tx.send(Item::Raw("x".into())).unwrap();
        drop(tx);
        let style = Style {
            json: true,
            colour: false,
        };
        write_lines(rx, Closed, style, &gone, &closed);
        assert!(closed.is_cancelled());
        assert!(gone.load(Ordering::Relaxed));
    }
}
