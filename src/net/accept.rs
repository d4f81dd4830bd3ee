//! Accept errors (out of file descriptors, an aborted handshake, no buffer space): an
//! accept loop pauses and goes on, and says so once per burst, not once per attempt.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::net::sock::describe;
use crate::output::{Event, Printer};

/// The first pause after a failed accept; it doubles with each failure in a row.
const FIRST_PAUSE: Duration = Duration::from_millis(10);
/// The longest pause: how late, at worst, a server notices it can accept again.
const MAX_PAUSE: Duration = Duration::from_secs(1);

/// One accept loop's back-off. Loops sharing a listener share `burst`, so that one
/// report covers them all.
pub struct Backoff {
    pause: Duration,
    failures: u64,
    since: Option<Instant>,
    burst: Arc<AtomicBool>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::sharing(Arc::default())
    }
}

impl Backoff {
    /// A back-off that reports bursts together with the others given the same flag.
    pub fn sharing(burst: Arc<AtomicBool>) -> Self {
        Backoff {
            pause: FIRST_PAUSE,
            failures: 0,
            since: None,
            burst,
        }
    }

    /// An accept failed with `e`: how long to pause, and the warning to print if this
    /// failure starts a burst.
    fn failed(&mut self, e: &io::Error) -> (Duration, Option<Event>) {
        let pause = self.pause;
        self.pause = (self.pause * 2).min(MAX_PAUSE);
        self.failures += 1;
        self.since.get_or_insert_with(Instant::now);
        let first = !self.burst.swap(true, Ordering::AcqRel);
        let warning = first.then(|| {
            let hint = match e.raw_os_error() {
                Some(libc::EMFILE) => " (raise `ulimit -n`, or close connections)",
                Some(libc::ENFILE) => " (the whole system is out of file descriptors)",
                _ => "",
            };
            Event::warning(format!(
                "accept: {}{hint}; new connections wait, retrying every {} ms at most \
                 (said once until accepting works again)",
                describe(e),
                MAX_PAUSE.as_millis()
            ))
        });
        (pause, warning)
    }

    /// The next connection on `listener`. A failed accept is retried after the pause,
    /// instead of spinning; a burst of failures is said on `out` once, and its end once.
    pub async fn accept(
        &mut self,
        listener: &tokio::net::TcpListener,
        out: &Printer,
    ) -> (tokio::net::TcpStream, std::net::SocketAddr) {
        loop {
            match listener.accept().await {
                Ok(accepted) => {
                    if let Some(ev) = self.succeeded() {
                        out.emit(&ev);
                    }
                    return accepted;
                }
                Err(e) => {
                    let (pause, warning) = self.failed(&e);
                    if let Some(ev) = warning {
                        out.emit(&ev);
                    }
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }

    /// An accept succeeded: the end of a burst is said when one was reported.
    fn succeeded(&mut self) -> Option<Event> {
        self.pause = FIRST_PAUSE;
        let since = self.since.take()?;
        let failures = std::mem::take(&mut self.failures);
        self.burst.swap(false, Ordering::AcqRel).then(|| {
            Event::warning(format!(
                "accepting again after {failures} failed {} over {:.1} s",
                if failures == 1 { "attempt" } else { "attempts" },
                since.elapsed().as_secs_f64()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue13_a_burst_of_failures_is_said_once_and_its_end_once() {
        let mut b = Backoff::default();
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        let (pause, first) = b.failed(&emfile);
        assert_eq!(pause, FIRST_PAUSE);
        assert!(
            matches!(first, Some(Event::Warning { ref message }) if message.contains("ulimit"))
        );
        let pauses: Vec<_> = (0..10).map(|_| b.failed(&emfile)).collect();
        assert!(pauses.iter().all(|(_, w)| w.is_none()));
        assert_eq!(pauses.last().unwrap().0, MAX_PAUSE);
        let end = b.succeeded().expect("the end of the burst");
        assert!(
            matches!(end, Event::Warning { ref message } if message.contains("11 failed attempts"))
        );
        assert!(b.succeeded().is_none());
        assert_eq!(
            b.failed(&emfile).0,
            FIRST_PAUSE,
            "a new burst starts afresh"
        );
    }

    #[test]
    fn issue13_loops_sharing_a_listener_report_a_burst_once() {
        let flag = Arc::new(AtomicBool::new(false));
        let (mut a, mut b) = (Backoff::sharing(flag.clone()), Backoff::sharing(flag));
        let e = io::Error::from_raw_os_error(libc::ECONNABORTED);
        assert!(a.failed(&e).1.is_some());
        assert!(b.failed(&e).1.is_none());
        assert!(b.succeeded().is_some());
        assert!(a.succeeded().is_none());
    }
}
