//! What every command is given (`Ctx`), and the two errors that end a command with an
//! exit code of their own.

use std::fmt;

use tokio_util::sync::CancellationToken;

use crate::output::Printer;

/// A mistake in the command line found after parsing; `main` exits with code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Ctrl-C (or SIGTERM) ended a command that had not finished its work; `main` exits
/// with 130, as a shell does for a command killed by SIGINT. The text says what is left.
#[derive(Debug)]
pub struct Interrupted(pub String);

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "interrupted: {}", self.0)
    }
}

impl std::error::Error for Interrupted {}

/// What every command is given.
#[derive(Clone)]
pub struct Ctx {
    pub out: Printer,
    pub verbose: bool,
    /// Cancelled by Ctrl-C, SIGTERM, or a closed stdout.
    pub shutdown: CancellationToken,
}
