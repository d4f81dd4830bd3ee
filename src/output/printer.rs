//! The printer: renders events for people (colour only on a terminal, `NO_COLOR`
//! respected) or as NDJSON, and writes them from a thread of its own.

use std::io::{self, IsTerminal, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use base64::Engine as _;

use crate::output::{Event, Payload, Preview, RESET};

/// Renders events to stdout from a thread of its own.
///
/// Callers hand over the event itself (its payload is shared, not copied); the writer
/// thread renders it straight into its output buffer and flushes only when the queue is
/// empty, so a busy server makes one `write` per batch and no string per event, while an
/// idle one shows each line at once.
/// When stdout is closed (`| head`), the printer cancels `closed` so the command ends
/// quietly and successfully.
///
/// The queue is bounded in bytes, not lines ([`OUTPUT_BUDGET`]), and no call ever blocks
/// a thread: with stdout slower than the network (a terminal, a pipe, `| less` not
/// scrolling), [`Printer::emit_paced`] makes a stream's reader wait for room, so TCP flow
/// control slows that peer; [`Printer::offer`] drops what does not fit (datagrams, dump
/// and log lines) and counts it, and the writer reports the count in one `dropped` event
/// once it has caught up.
#[derive(Clone)]
pub struct Printer {
    tx: Sender<Queued>,
    json: bool,
    gone: Arc<AtomicBool>,
    queue: Arc<Queue>,
    closed: CancellationToken,
}

/// Bytes of events that may wait for the writer: their payloads plus [`EVENT_COST`]
/// each. Lifecycle events (connect, disconnect, warnings) may overdraw it by as much
/// again before they too are dropped, so the queue never holds more than twice this.
pub const OUTPUT_BUDGET: usize = 16 << 20;

/// What one queued event counts for besides its payload: the event and its line.
const EVENT_COST: usize = 256;

/// The budget, shared by every `Printer` clone and the writer thread.
struct Queue {
    /// One permit per byte of room left; the writer returns an item's permits once it
    /// has written it.
    room: Semaphore,
    /// Bytes queued beyond the budget by lifecycle events.
    overdraft: AtomicUsize,
    dropped_events: AtomicU64,
    dropped_bytes: AtomicU64,
}

impl Queue {
    fn new() -> Queue {
        Queue {
            room: Semaphore::new(OUTPUT_BUDGET),
            overdraft: AtomicUsize::new(0),
            dropped_events: AtomicU64::new(0),
            dropped_bytes: AtomicU64::new(0),
        }
    }

    fn count_dropped(&self, events: u64, bytes: usize) {
        self.dropped_events.fetch_add(events, Ordering::Relaxed);
        self.dropped_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Takes room for `cost` bytes if there is that much.
    fn try_take(&self, cost: usize) -> bool {
        match self.room.try_acquire_many(permits(cost)) {
            Ok(permit) => {
                permit.forget();
                true
            }
            Err(_) => false,
        }
    }
}

/// An item and the room it holds, given back when it is written.
struct Queued {
    item: Item,
    /// Taken from `Queue::room`.
    room: usize,
    /// Counted in `Queue::overdraft`.
    overdraft: usize,
    /// The stream whose event this is, told when it is written.
    stream: Option<Stream>,
}

/// One stream's share of the printer (one per TCP connection): while the budget is full
/// of another peer's messages, a stream with nothing queued may still queue one event
/// (from the overdraft), so one flooding peer cannot keep every other from being served.
#[derive(Clone, Default)]
pub struct Stream(Arc<AtomicUsize>);

/// Permits for `cost` bytes; one event never needs more than the whole budget, so an
/// event larger than it still goes out once the queue is empty.
fn permits(cost: usize) -> u32 {
    cost.min(OUTPUT_BUDGET) as u32
}

/// The bytes an event counts for in the queue.
fn cost(event: &Event) -> usize {
    let payload = match event {
        Event::Message { payload, .. }
        | Event::Reply { payload, .. }
        | Event::Datagram { payload, .. }
        | Event::Dump { payload, .. } => payload.raw().len(),
        Event::Lesson {
            steps, explanation, ..
        } => explanation.len() + steps.iter().map(String::len).sum::<usize>(),
        _ => 0,
    };
    payload + EVENT_COST
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
pub struct PrinterGuard {
    thread: JoinHandle<()>,
    /// Closed by the thread when it ends.
    ended: Receiver<()>,
    queue: Arc<Queue>,
}

/// How long the end of a command waits for output that nobody reads.
pub const FINISH_TIMEOUT: Duration = Duration::from_secs(1);

impl PrinterGuard {
    /// Waits until every `Printer` clone is dropped and the queue is written, or until
    /// `FINISH_TIMEOUT` has passed with the writer stuck on a stdout nobody reads (then
    /// says on stderr what was not written, and returns: Ctrl-C must end the process).
    pub fn finish(self) {
        match self.ended.recv_timeout(FINISH_TIMEOUT) {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let queued = OUTPUT_BUDGET - self.queue.room.available_permits()
                    + self.queue.overdraft.load(Ordering::Relaxed);
                eprintln!(
                    "sockit: stdout is not being read: {} of events left unwritten",
                    crate::output::human_bytes(queued as f64)
                );
            }
            _ => {
                let _ = self.thread.join();
            }
        }
    }
}

/// How long the writer lets lines gather after each write before it parks again.
const LINGER: Duration = Duration::from_millis(1);

impl Printer {
    /// Events on stdout, or on stderr when stdout carries data (`recv --stdout`).
    pub fn new(json: bool, to_stderr: bool, closed: CancellationToken) -> (Printer, PrinterGuard) {
        let terminal = if to_stderr {
            io::stderr().is_terminal()
        } else {
            io::stdout().is_terminal()
        };
        let colour = !json && terminal && std::env::var_os("NO_COLOR").is_none();
        let (tx, rx) = mpsc::channel();
        let (ended_tx, ended) = mpsc::channel();
        let gone = Arc::new(AtomicBool::new(false));
        let queue = Arc::new(Queue::new());
        let printer = Printer {
            tx,
            json,
            gone: gone.clone(),
            queue: queue.clone(),
            closed: closed.clone(),
        };
        let writer_queue = queue.clone();
        let thread = std::thread::Builder::new()
            .name("sockit-printer".into())
            .spawn(move || {
                let _ended = ended_tx;
                let style = Style { json, colour };
                let writer = Writer {
                    style,
                    gone: &gone,
                    closed: &closed,
                    queue: &writer_queue,
                };
                if to_stderr {
                    let out = io::BufWriter::with_capacity(64 * 1024, io::stderr().lock());
                    writer.run(rx, out)
                } else {
                    let out = io::BufWriter::with_capacity(64 * 1024, io::stdout().lock());
                    writer.run(rx, out)
                }
            })
            .expect("spawning the printer thread");
        let guard = PrinterGuard {
            thread,
            ended,
            queue,
        };
        (printer, guard)
    }

    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Queues a lifecycle event (connect, disconnect, a warning, a result): within the
    /// budget, or beyond it by at most the budget again; past that it is dropped and
    /// counted. Never waits.
    pub fn emit(&self, event: &Event) {
        self.push_lifecycle(Item::Event(event.clone()), cost(event));
    }

    /// Queues an event that may be lost when output is slow (a datagram, a dump or log
    /// line): when it does not fit the budget it is dropped and counted, and the writer
    /// reports the count later. Says whether it was queued.
    pub fn offer(&self, event: &Event) -> bool {
        let cost = cost(event);
        if self.queue.try_take(cost) {
            self.push(Item::Event(event.clone()), cost, 0);
            true
        } else {
            self.queue.count_dropped(1, cost - EVENT_COST);
            false
        }
    }

    /// `emit` for several events in one hand-over to the writer thread: a busy receiver
    /// pays one wake-up per batch instead of one per event.
    pub fn emit_all(&self, events: &[Event]) {
        if !events.is_empty() {
            let cost = events.iter().map(cost).sum();
            self.push_lifecycle(Item::Events(events.to_vec()), cost);
        }
    }

    /// `offer` for several events in one hand-over to the writer thread (a busy
    /// receiver pays one wake-up per batch): the longest prefix that fits is queued, the
    /// rest dropped and counted.
    pub fn offer_all(&self, events: &[Event]) {
        let mut room = 0;
        let mut fits = 0;
        for event in events {
            let cost = cost(event);
            if !self.queue.try_take(cost) {
                break;
            }
            room += cost;
            fits += 1;
        }
        let lost = &events[fits..];
        if !lost.is_empty() {
            let bytes = lost.iter().map(|e| cost(e) - EVENT_COST).sum();
            self.queue.count_dropped(lost.len() as u64, bytes);
        }
        if fits > 0 {
            self.push(Item::Events(events[..fits].to_vec()), room, 0);
        }
    }

    /// Queues an event of `stream` (a TCP message): waits, without blocking a thread,
    /// until the budget has room, so a peer that sends faster than stdout takes lines is
    /// slowed by TCP flow control instead of filling memory. Ends at once, dropping the
    /// event (counted), when the command is shutting down.
    pub async fn emit_paced(&self, stream: &Stream, event: &Event) {
        let cost = cost(event);
        if self.gone.load(Ordering::Relaxed) {
            return;
        }
        if self.queue.try_take(cost) {
            self.push_stream(
                Item::Event(event.clone()),
                permits(cost) as usize,
                0,
                stream,
            );
            return;
        }
        if stream.0.load(Ordering::Relaxed) == 0 {
            let over = self.queue.overdraft.fetch_add(cost, Ordering::Relaxed);
            if over + cost <= OUTPUT_BUDGET {
                self.push_stream(Item::Event(event.clone()), 0, cost, stream);
                return;
            }
            self.queue.overdraft.fetch_sub(cost, Ordering::Relaxed);
        }
        let permit = tokio::select! {
            permit = self.queue.room.acquire_many(permits(cost)) => permit,
            _ = self.closed.cancelled() => {
                self.queue.count_dropped(1, cost - EVENT_COST);
                return;
            }
        };
        // The semaphore is never closed.
        if let Ok(permit) = permit {
            permit.forget();
            self.push_stream(
                Item::Event(event.clone()),
                permits(cost) as usize,
                0,
                stream,
            );
        }
    }

    fn push_stream(&self, item: Item, room: usize, overdraft: usize, stream: &Stream) {
        stream.0.fetch_add(1, Ordering::Relaxed);
        self.send(Queued {
            item,
            room,
            overdraft,
            stream: Some(stream.clone()),
        });
    }

    /// Writes a line that is not an event (a table, help text) in order with the events.
    pub fn raw_line(&self, line: String) {
        let cost = line.len() + EVENT_COST;
        self.push_lifecycle(Item::Raw(line), cost);
    }

    fn push_lifecycle(&self, item: Item, cost: usize) {
        if self.queue.try_take(cost) {
            self.push(item, cost, 0);
            return;
        }
        let over = self.queue.overdraft.fetch_add(cost, Ordering::Relaxed);
        if over + cost <= OUTPUT_BUDGET {
            self.push(item, 0, cost);
        } else {
            self.queue.overdraft.fetch_sub(cost, Ordering::Relaxed);
            self.queue.count_dropped(1, cost - EVENT_COST);
        }
    }

    fn push(&self, item: Item, room: usize, overdraft: usize) {
        self.send(Queued {
            item,
            room,
            overdraft,
            stream: None,
        });
    }

    fn send(&self, queued: Queued) {
        if self.gone.load(Ordering::Relaxed) {
            return;
        }
        // Err only when the writer has stopped, after stdout closed.
        let _ = self.tx.send(queued);
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

/// The writer thread's side of the queue.
struct Writer<'a> {
    style: Style,
    gone: &'a AtomicBool,
    closed: &'a CancellationToken,
    queue: &'a Queue,
}

impl Writer<'_> {
    fn run(&self, rx: Receiver<Queued>, mut out: impl Write) {
        while let Ok(first) = rx.recv() {
            let mut result = self.write(&mut out, first);
            loop {
                match rx.try_recv() {
                    Ok(queued) if result.is_ok() => result = self.write(&mut out, queued),
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
            if let Err(e) = self.report_dropped(&mut out).and_then(|_| out.flush()) {
                self.fail(e);
            }
        }
    }

    fn write(&self, out: &mut impl Write, queued: Queued) -> io::Result<()> {
        let result = if self.gone.load(Ordering::Relaxed) {
            Ok(())
        } else {
            self.style.write(out, &queued.item)
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

#[cfg(test)]
#[path = "printer_tests.rs"]
mod tests;
