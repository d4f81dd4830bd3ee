//! `tcp serve` and `tcp connect`: framed message exchange over TCP.

mod broker;
mod client;
mod server;

pub use client::{connect, ConnectConfig};
pub use server::{serve, Reply, ServeConfig, Server};

use std::io;

use crate::output::Reason;

/// Why an I/O error ended a connection.
fn reason_of(e: &io::Error) -> Reason {
    match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionAborted => Reason::Reset,
        io::ErrorKind::TimedOut => Reason::Timeout,
        _ => Reason::Error,
    }
}

/// A connection's end after an I/O error: its reason, and the OS's words only when they
/// add to the reason (`broken pipe` does; `connection reset by peer` twice would not).
fn ending_of(e: &io::Error) -> (Reason, Option<String>) {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        // TLS: the peer closed without its close_notify, as many peers do.
        return (Reason::Closed, Some(WITHOUT_CLOSE_NOTIFY.into()));
    }
    let reason = reason_of(e);
    let detail = crate::net::sock::describe(e);
    let detail = (detail != reason.describe()).then_some(detail);
    (reason, detail)
}

/// The detail of a TLS peer that closed without saying so first (rustls reports it as an
/// unexpected end of file; only a truncation attack would exploit it, and framing
/// `len`/`line` sees a message cut short anyway).
const WITHOUT_CLOSE_NOTIFY: &str = "closed without TLS close_notify";

/// How long `line` framing may hold bytes without a delimiter before a hint says so.
const HINT_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// How often a `line`-framed connection looks at what its reader holds: the hint comes
/// 1 to 1.5 s after the bytes, and an idle line connection wakes twice a second (none
/// once hinted, until the next delimiter; `raw` and `len` connections never).
const HINT_CHECK: std::time::Duration = std::time::Duration::from_millis(500);

/// Notices a `line` reader holding bytes with no delimiter for `HINT_AFTER` (a peer
/// that sends no delimiters, like the notes' programs) and words a hint, once until
/// the next delimiter arrives.
struct DelimiterWatch {
    delimiter: Vec<u8>,
    since: Option<tokio::time::Instant>,
    hinted: bool,
}

impl DelimiterWatch {
    /// A watch for `line` framing; nothing to watch for the others.
    fn new(codec: &crate::framing::FrameCodec) -> Option<DelimiterWatch> {
        (codec.framing() == crate::framing::Framing::Line).then(|| DelimiterWatch {
            delimiter: codec.delimiter().to_vec(),
            since: None,
            hinted: false,
        })
    }

    /// A delimited message arrived: the peer does send delimiters; watch afresh.
    fn delimited(&mut self) {
        self.since = None;
        self.hinted = false;
    }

    /// Called every `HINT_CHECK` with the bytes the reader holds; the hint, when due.
    fn check(&mut self, held: usize, now: tokio::time::Instant) -> Option<String> {
        if held == 0 {
            self.since = None;
            return None;
        }
        let since = *self.since.get_or_insert(now);
        if self.hinted || now.duration_since(since) < HINT_AFTER {
            return None;
        }
        self.hinted = true;
        Some(format!(
            "{held} {} for '{}'; the peer may not send delimiters: try --framing raw",
            if held == 1 {
                "byte waits"
            } else {
                "bytes wait"
            },
            crate::output::escape(&self.delimiter)
        ))
    }
}

/// The next time to call `DelimiterWatch::check`: never without a watch, nor while its
/// hint stands.
async fn watch_tick(ticker: &mut Option<tokio::time::Interval>, watch: &Option<DelimiterWatch>) {
    match ticker {
        Some(t) if watch.as_ref().is_some_and(|w| !w.hinted) => {
            t.tick().await;
        }
        _ => std::future::pending().await,
    }
}

fn watch_ticker(watch: &Option<DelimiterWatch>) -> Option<tokio::time::Interval> {
    watch.as_ref().map(|_| {
        let mut t = tokio::time::interval(HINT_CHECK);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::{FrameCodec, Framing};
    use tokio::time::Instant;

    #[test]
    fn issue12_a_reset_is_not_said_twice() {
        let reset = io::Error::from_raw_os_error(libc::ECONNRESET);
        assert_eq!(ending_of(&reset), (Reason::Reset, None));
        let pipe = io::Error::from_raw_os_error(libc::EPIPE);
        assert_eq!(
            ending_of(&pipe),
            (Reason::Reset, Some("broken pipe".into()))
        );
    }

    #[test]
    fn issue12_the_delimiter_hint_comes_once_until_a_delimiter_arrives() {
        assert!(DelimiterWatch::new(&FrameCodec::new(Framing::Raw, 16, b"\n")).is_none());
        let mut w = DelimiterWatch::new(&FrameCodec::new(Framing::Line, 16, b"\n")).unwrap();
        let t0 = Instant::now();
        assert_eq!(w.check(5, t0), None);
        assert_eq!(w.check(5, t0 + HINT_CHECK), None, "not before a second");
        let hint = w.check(5, t0 + HINT_AFTER).unwrap();
        assert_eq!(
            hint,
            "5 bytes wait for '\\n'; the peer may not send delimiters: try --framing raw"
        );
        assert_eq!(w.check(9, t0 + HINT_AFTER * 3), None, "once");
        w.delimited();
        assert_eq!(w.check(1, t0 + HINT_AFTER * 4), None);
        assert!(w
            .check(1, t0 + HINT_AFTER * 5)
            .unwrap()
            .starts_with("1 byte waits"));
        let mut w = DelimiterWatch::new(&FrameCodec::new(Framing::Line, 16, b"\n")).unwrap();
        w.check(3, t0);
        assert_eq!(w.check(0, t0 + HINT_AFTER), None, "emptied: nothing held");
        assert_eq!(w.check(3, t0 + HINT_AFTER * 2), None, "held afresh");
    }
}
