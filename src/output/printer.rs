//! The printer: writes events from a thread of its own, within a byte budget, for
//! people (coloured as anstream decides from the terminal, `NO_COLOR` and
//! `CLICOLOR[_FORCE]`; README.md) or as NDJSON (`writer.rs`).

use std::io::{self, IsTerminal};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anstream::{AutoStream, ColorChoice};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::writer::{Style, Writer};
use super::Event;

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
    /// Events are for a person at a terminal: a status line may be shown (`status`).
    live: bool,
    /// Lines are coloured (`raw_line`s that draw, such as QR codes, colour themselves).
    colour: bool,
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
pub(super) struct Queue {
    /// One permit per byte of room left; the writer returns an item's permits once it
    /// has written it.
    pub(super) room: Semaphore,
    /// Bytes queued beyond the budget by lifecycle events.
    pub(super) overdraft: AtomicUsize,
    pub(super) dropped_events: AtomicU64,
    pub(super) dropped_bytes: AtomicU64,
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
pub(super) struct Queued {
    pub(super) item: Item,
    /// Taken from `Queue::room`.
    pub(super) room: usize,
    /// Counted in `Queue::overdraft`.
    pub(super) overdraft: usize,
    /// The stream whose event this is, told when it is written.
    pub(super) stream: Option<Stream>,
}

/// One stream's share of the printer (one per TCP connection): while the budget is full
/// of another peer's messages, a stream with nothing queued may still queue one event
/// (from the overdraft), so one flooding peer cannot keep every other from being served.
#[derive(Clone, Default)]
pub struct Stream(pub(super) Arc<AtomicUsize>);

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
        Event::ClientHello(h) => 64 * (h.extensions.len() + h.cipher_suites.len()),
        Event::PerfInterval(i) => i.streams.len() * EVENT_COST,
        Event::PerfEnd(e) => e.streams.len() * EVENT_COST,
        _ => 0,
    };
    payload + EVENT_COST
}

/// What waits in the printer's queue.
pub(super) enum Item {
    Event(Event),
    /// Events handed over together (one wake-up for the batch).
    Events(Vec<Event>),
    /// A line that is not an event.
    Raw(String),
    /// The live status line at the bottom of a terminal (no newline; replaced by the
    /// next one, cleared before any other line is written); empty clears it.
    Status(String),
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
                    indicatif::HumanBytes(queued as u64)
                );
            }
            _ => {
                let _ = self.thread.join();
            }
        }
    }
}

impl Printer {
    /// Events on stdout, or on stderr when stdout carries data (`recv --stdout`).
    pub fn new(json: bool, to_stderr: bool, closed: CancellationToken) -> (Printer, PrinterGuard) {
        // Decided once, as every anstream program does (NO_COLOR, CLICOLOR,
        // CLICOLOR_FORCE, TERM, a terminal or not); the lines are then written with their
        // escape codes or without, never through a stripping adapter.
        let choice = if to_stderr {
            AutoStream::choice(&io::stderr())
        } else {
            AutoStream::choice(&io::stdout())
        };
        let colour = !json && choice != ColorChoice::Never;
        let live = !json
            && if to_stderr {
                io::stderr().is_terminal()
            } else {
                io::stdout().is_terminal()
            };
        let (tx, rx) = mpsc::channel();
        let (ended_tx, ended) = mpsc::channel();
        let gone = Arc::new(AtomicBool::new(false));
        let queue = Arc::new(Queue::new());
        let printer = Printer {
            tx,
            json,
            live,
            colour,
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

    /// Whether a person watches the events on a terminal (a status line is shown).
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// Whether lines are coloured: escape codes in a `raw_line` are then welcome.
    pub fn is_colour(&self) -> bool {
        self.colour
    }

    /// Shows `line` as the live status line at the bottom of the terminal, replacing
    /// the last one; an empty line clears it. Nothing when no person watches, and
    /// nothing when the queue is full (a status is out of date by the next one anyway).
    pub fn status(&self, line: String) {
        if !self.live {
            return;
        }
        let cost = line.len() + EVENT_COST;
        if self.queue.try_take(cost) {
            self.push(Item::Status(line), cost, 0);
        }
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

#[cfg(test)]
#[path = "printer_tests.rs"]
mod tests;
