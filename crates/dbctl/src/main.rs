//! `dbctl`: check a dblayer database configuration and connection from the command line,
//! run queries, show the effective configuration and watch health.
//!
//! ```text
//! dbctl [--config FILE] [--json] [-v...] <check|query|config|health>
//! ```
//!
//! Exit codes: `0` success, `1` connection, query or other runtime failure (or an
//! unhealthy database), `2` invalid configuration, a database type this build cannot
//! use, or invalid command-line usage.

mod cli;
mod commands;
mod output;
mod params;
mod report;
mod sql;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(&cli)) {
        Ok(code) => code,
        Err(failure) => report::report(&cli, &failure),
    }
}

/// Logs go to stderr: nothing by default (or what `RUST_LOG` asks for), `-v` info,
/// `-vv` debug, `-vvv` trace.
fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;

    let filter = match verbose {
        0 => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("off")),
        1 => EnvFilter::new("info"),
        2 => EnvFilter::new("debug"),
        _ => EnvFilter::new("trace"),
    };
    // A second initialisation cannot happen here; ignore the error rather than panic.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
