//! The `kestrel` binary: opens the viewer, or runs a headless subcommand.

use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _};
use kestrel::cli::{self, Cli};

fn main() -> ExitCode {
    kestrel::bundle_data::use_bundled_data();
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("warn,walkers=error"),
    )
    .init();
    // `--version` carries the build facts (commit, features, CPU kernels, GDAL); computed
    // once per process, so leaking the string is fine.
    let long_version: &'static str =
        Box::leak(kestrel::build_info::long_version().into_boxed_str());
    let matches = Cli::command().long_version(long_version).get_matches();
    let args = match Cli::from_arg_matches(&matches) {
        Ok(a) => a,
        Err(e) => e.exit(),
    };
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
