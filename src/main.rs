use std::process::ExitCode;

use clap::Parser;
use sockit::cli::Cli;
use sockit::run::{Interrupted, UsageError};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match sockit::run::main(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sockit: {e:#}");
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
