//! The `kestrel` binary: opens the viewer, or runs a headless subcommand.

use std::process::ExitCode;

use clap::Parser as _;
use kestrel::cli::{self, Cli};

fn main() -> ExitCode {
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("warn,walkers=error"),
    )
    .init();
    let args = Cli::parse();
    let result = match args.command {
        Some(cmd) => cli::run(cmd),
        None => kestrel::ui::run(args.files),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "kestrel: error: {}",
                kestrel::report::error_line(e.as_ref())
            );
            ExitCode::FAILURE
        }
    }
}
