//! Transfer progress: an indicatif bar when a person is watching, `progress` events
//! about once a second with `--json`, nothing otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::output::{Event, Printer};

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
    /// Of `bytes`, those the receiver already had (resumed prefixes, identical files):
    /// counted in the totals, not in the rate.
    pub existing: u64,
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
            bar.set_message(bar_message(0, files_total, ""));
            bar
        });
        let now = Instant::now();
        Progress {
            out,
            bar,
            total,
            files_total,
            bytes: 0,
            existing: 0,
            files: 0,
            start: now,
            last_event: now,
            pending: Vec::new(),
            // As if a batch had just gone long ago: the first file is shown at once.
            last_batch: now.checked_sub(FILE_BATCH_AGE).unwrap_or(now),
        }
    }

    /// Counts `n` bytes that did not travel: the receiver already had them.
    pub fn add_existing(&mut self, n: u64) {
        self.existing += n;
        self.add(n);
        if let Some(bar) = &self.bar {
            // The bar's rate and ETA are for what travels, not for this jump.
            bar.reset_eta();
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

    /// Names the file now travelling in the bar.
    pub fn start_file(&mut self, path: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(bar_message(self.files, self.files_total, path));
        }
    }

    /// Reports one finished file (above the bar, which stays at the bottom).
    pub fn file(&mut self, event: Event) {
        self.files += 1;
        match &self.bar {
            Some(bar) => {
                bar.set_message(bar_message(self.files, self.files_total, ""));
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

    /// Bytes per second that travelled (what was already there is left out).
    fn rate(&self) -> f64 {
        rate(
            self.bytes - self.existing,
            self.start.elapsed().as_secs_f64(),
        )
    }

    /// Clears the bar and reports the totals.
    pub fn done(mut self) -> Event {
        self.flush_files();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let seconds = self.start.elapsed().as_secs_f64();
        Event::Done {
            files: self.files,
            bytes: self.bytes,
            existing: self.existing,
            seconds,
            rate: rate(self.bytes - self.existing, seconds),
        }
    }
}

/// Most characters of the current file's path shown in the bar (its end: the name).
const BAR_PATH: usize = 32;

/// `3/10 files: …/album/photo.jpg`: the count and the file now travelling.
fn bar_message(files: u64, files_total: u64, current: &str) -> String {
    let count = format!(
        "{files}/{files_total} file{}",
        if files_total == 1 { "" } else { "s" }
    );
    if current.is_empty() {
        return count;
    }
    let current = crate::output::escape(current.as_bytes());
    let chars = current.chars().count();
    let shown: String = if chars > BAR_PATH {
        let tail: String = current.chars().skip(chars - (BAR_PATH - 1)).collect();
        format!("…{tail}")
    } else {
        current
    };
    format!("{count}: {shown}")
}

fn rate(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / seconds.max(1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_names_the_current_file_by_its_end() {
        assert_eq!(bar_message(0, 1, ""), "0/1 file");
        assert_eq!(
            bar_message(2, 5, "album/photo.jpg"),
            "2/5 files: album/photo.jpg"
        );
        let long = format!("{}/photo.jpg", "deep/".repeat(20));
        let msg = bar_message(0, 2, &long);
        assert!(msg.ends_with("/photo.jpg") && msg.contains(": …"), "{msg}");
        assert_eq!(msg.chars().count(), "0/2 files: ".len() + BAR_PATH);
        assert_eq!(bar_message(0, 1, "a\x1bb"), "0/1 file: a\\u{1b}b");
    }
}
