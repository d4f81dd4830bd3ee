//! Transfer progress: an indicatif bar when a person is watching, `progress` events
//! about once a second with `--json`, nothing otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::event::{Event, Printer};

/// How often `--json` reports progress.
const EVERY: Duration = Duration::from_secs(1);
/// `file` events are handed to the printer in batches of up to this many, or this
/// often: one hand-over (and printer wake-up) per file costs more than the file's own
/// `write` when the files are small. A file after a quiet spell is shown at once; one
/// in a burst waits at most until the burst's next file or chunk after this age.
const FILE_BATCH: usize = 256;
const FILE_BATCH_AGE: Duration = Duration::from_millis(50);

pub struct Progress {
    out: Printer,
    bar: Option<ProgressBar>,
    total: Option<u64>,
    files_total: u64,
    pub bytes: u64,
    pub files: u64,
    start: Instant,
    last_event: Instant,
    /// `file` events not yet handed to the printer, and when the last batch went.
    pending: Vec<Event>,
    last_batch: Instant,
}

impl Progress {
    /// A bar only when stdout is a terminal and events are for people.
    pub fn new(out: Printer, total: Option<u64>, files_total: u64) -> Self {
        let watching = !out.is_json() && std::io::stdout().is_terminal();
        let bar = watching.then(|| {
            let bar = ProgressBar::new(total.unwrap_or(0));
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
                )
                .expect("a valid template"),
            );
            bar.set_message(format!("0/{files_total} files"));
            bar
        });
        let now = Instant::now();
        Progress {
            out,
            bar,
            total,
            files_total,
            bytes: 0,
            files: 0,
            start: now,
            last_event: now,
            pending: Vec::new(),
            // As if a batch had just gone long ago: the first file is shown at once.
            last_batch: now.checked_sub(FILE_BATCH_AGE).unwrap_or(now),
        }
    }

    pub fn add(&mut self, n: u64) {
        self.bytes += n;
        // While a large file flows, the files before it are not held back for long.
        if !self.pending.is_empty() && self.last_batch.elapsed() >= FILE_BATCH_AGE {
            self.flush_files();
        }
        if let Some(bar) = &self.bar {
            bar.set_position(self.bytes);
        } else if self.out.is_json() && self.last_event.elapsed() >= EVERY {
            self.last_event = Instant::now();
            self.flush_files();
            self.out.emit(&Event::Progress {
                bytes: self.bytes,
                total: self.total,
                files: self.files,
                files_total: self.files_total,
                rate: self.rate(),
            });
        }
    }

    /// Reports one finished file (above the bar, which stays at the bottom).
    pub fn file(&mut self, event: Event) {
        self.files += 1;
        match &self.bar {
            Some(bar) => {
                bar.set_message(format!("{}/{} files", self.files, self.files_total));
                bar.suspend(|| self.out.emit(&event));
            }
            None => {
                self.pending.push(event);
                if self.pending.len() >= FILE_BATCH || self.last_batch.elapsed() >= FILE_BATCH_AGE {
                    self.flush_files();
                }
            }
        }
    }

    fn flush_files(&mut self) {
        self.out.emit_all(&self.pending);
        self.pending.clear();
        self.last_batch = Instant::now();
    }

    fn rate(&self) -> f64 {
        self.bytes as f64 / self.start.elapsed().as_secs_f64().max(1e-9)
    }

    /// Clears the bar and reports the totals.
    pub fn done(mut self) -> Event {
        self.flush_files();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        Event::Done {
            files: self.files,
            bytes: self.bytes,
            seconds: self.start.elapsed().as_secs_f64(),
            rate: self.rate(),
        }
    }
}
