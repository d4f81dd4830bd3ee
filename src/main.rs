use std::process::ExitCode;

use sockit::ctx::{Interrupted, UsageError};

fn main() -> ExitCode {
    // First, while this is the only thread: `send --plain` maps large files only once
    // this is in place, and reads them if it fails.
    let _ = sockit::transfer::install_fault_handler();
    let cli = sockit::app::cli::parse();
    match sockit::app::main(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sockit: {}", sockit::net::sock::error_line(&e));
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else if e.downcast_ref::<Interrupted>().is_some() {
                ExitCode::from(130)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
