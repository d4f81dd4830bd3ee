//! `http dump` (every request shown exactly as received) and `http serve` (a folder
//! over HTTP: listing, Range, conditional requests, upload, delete).

pub mod chunked;
pub mod dump;
mod listener;
mod listing;
mod ranges;
pub mod request;
pub mod safepath;
mod sendfile;
mod serve;
pub mod show;
mod upload;
mod whole;

pub use dump::dump;
pub use serve::serve;
