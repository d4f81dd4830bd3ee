//! The printer: renders events for people (colour only on a terminal, `NO_COLOR`
//! respected) or as NDJSON, and writes them from a thread of its own.

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::event::{Event, RESET};

/// Renders events to stdout from a thread of its own.
///
/// Callers format the line (in parallel, on their own task) and hand it over; the
/// writer thread writes whatever is queued and flushes only when the queue is empty, so
/// a busy server makes one `write` per batch while an idle one shows each line at once.
/// When stdout is closed (`| head`), the printer cancels `closed` so the command ends
/// quietly and successfully.
#[derive(Clone)]
pub struct Printer {
    tx: SyncSender<String>,
    json: bool,
    colour: bool,
    gone: Arc<AtomicBool>,
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
                if to_stderr {
                    write_lines(
                        rx,
                        io::BufWriter::with_capacity(64 * 1024, io::stderr().lock()),
                        &flag,
                        &closed,
                    )
                } else {
                    write_lines(
                        rx,
                        io::BufWriter::with_capacity(64 * 1024, io::stdout().lock()),
                        &flag,
                        &closed,
                    )
                }
            })
            .expect("spawning the printer thread");
        (
            Printer {
                tx,
                json,
                colour,
                gone,
            },
            PrinterGuard(handle),
        )
    }

    pub fn is_json(&self) -> bool {
        self.json
    }

    pub fn emit(&self, event: &Event) {
        if self.gone.load(Ordering::Relaxed) {
            return;
        }
        let _ = self.tx.send(self.render(event));
    }

    /// Emits `events` in one hand-over to the writer thread: a busy receiver pays one
    /// wake-up per batch instead of one per event.
    pub fn emit_all(&self, events: &[Event]) {
        if events.is_empty() || self.gone.load(Ordering::Relaxed) {
            return;
        }
        let lines: Vec<String> = events.iter().map(|e| self.render(e)).collect();
        let _ = self.tx.send(lines.join("\n"));
    }

    fn render(&self, event: &Event) -> String {
        if self.json {
            serde_json::to_string(event).expect("events always serialize")
        } else if self.colour && !event.colour().is_empty() {
            format!("{}{}{RESET}", event.colour(), event.human())
        } else {
            event.human()
        }
    }

    /// Writes a line that is not an event (a table, help text) in order with the events.
    pub fn raw_line(&self, line: String) {
        if !self.gone.load(Ordering::Relaxed) {
            let _ = self.tx.send(line);
        }
    }
}

fn write_lines(
    rx: Receiver<String>,
    mut out: impl Write,
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
        let mut result = writeln!(out, "{first}");
        loop {
            match rx.try_recv() {
                Ok(line) if result.is_ok() => result = writeln!(out, "{line}"),
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
            write_lines(rx, &mut buf, &gone, &closed);
            buf
        });
        for i in 0..100 {
            tx.send(i.to_string()).unwrap();
        }
        drop(tx);
        let out = String::from_utf8(writer.join().unwrap()).unwrap();
        let want: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        assert_eq!(out.lines().collect::<Vec<_>>(), want);
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
        tx.send("x".into()).unwrap();
        drop(tx);
        write_lines(rx, Closed, &gone, &closed);
        assert!(closed.is_cancelled());
        assert!(gone.load(Ordering::Relaxed));
    }
}
