//! `http dump` (every request shown exactly as received) and `http serve` (a folder
//! over HTTP: listing, Range, conditional requests, folder archives, upload, delete,
//! accounts).

mod archive;
mod archive_walk;
mod archive_write;
pub mod auth;
pub mod chunked;
pub mod dump;
mod dump_page;
mod file;
mod listener;
mod listing;
mod qr;
mod range_request;
mod ranges;
pub mod request;
mod response;
pub mod safepath;
mod sendfile;
mod serve;
mod slow;
mod tls;
mod upload;
mod whole;

pub use dump::{dump, DumpConfig};
pub use serve::{serve, ServeConfig};

/// A duration as the `duration_ms` of a `request` event: milliseconds to the
/// microsecond, so that JSON shows `0.1`, never `0.10011800000000001`.
pub fn millis(d: std::time::Duration) -> f64 {
    // An integer over 1000 is the double nearest that decimal, which prints as written.
    d.as_micros() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    #[test]
    fn millis_print_short() {
        let ms = |us| super::millis(std::time::Duration::from_nanos(us)).to_string();
        assert_eq!(ms(100_118), "0.1");
        assert_eq!(ms(1_234_567), "1.234");
        assert_eq!(ms(10_000_000_000), "10000");
    }
}
