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
        // `index` says how it failed (bad input, retry, ...) with its own exit code
        Err(e) => match e.downcast_ref::<cli::Exit>() {
            Some(exit) => {
                if !exit.message.is_empty() {
                    eprintln!("kestrel: error: {}", exit.message);
                }
                ExitCode::from(exit.code)
            }
            None => {
                eprintln!(
                    "kestrel: error: {}",
                    kestrel::report::error_line(e.as_ref())
                );
                ExitCode::FAILURE
            }
        },
    }
}
