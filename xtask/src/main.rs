//! `cargo xtask`: project automation for the dblayer workspace.
//!
//! The `xtask` pattern (matklad/cargo-xtask, as in rust-analyzer and diesel): a plain
//! binary in the workspace, run through the `cargo xtask` alias in `.cargo/config.toml`,
//! so that automation needs nothing but `cargo` and is the same on a laptop and in CI.
//!
//! | command | what it runs |
//! |---|---|
//! | `cargo xtask test` | every unit test and doctest, then `integration --driver all`: the one command a new contributor (and `.ci/run`) needs |
//! | `cargo xtask integration [--driver D] [--keep-going] [-- ARGS]` | the conformance suite (`tests/`) once per driver, with `DB_TEST_DRIVER=D`; starts a throwaway PostgreSQL / MariaDB server when none answers at the test URL |
//! | `cargo xtask lint` | `cargo fmt --check` and `cargo clippy -D warnings`, as CI does |
//! | `cargo xtask bench [--driver D] [--quick]` | the `dbbench` benchmark binary in release mode |
//!
//! `main.rs` only parses the command line and dispatches to one module per subcommand;
//! every command echoes each command line (`$ cargo ...`) before it runs it and exits
//! non-zero when one fails.
//!
//! The PostgreSQL and MySQL suites need a server at `DB_TEST_POSTGRES_URL` /
//! `DB_TEST_MYSQL_URL`. When nothing answers there, xtask starts a throwaway server in
//! `target/xtask-servers/` for the run and removes it afterwards, or fails naming what to
//! install or set; see the `servers` module and `docs/testing.md`.

mod bench;
mod integration;
mod lint;
mod servers;
mod test;
mod util;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Project automation for the dblayer workspace.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the cross-driver conformance suite once per driver.
    Integration(integration::Args),
    /// Run every test: unit tests and doctests of the workspace, then `integration --driver all`.
    Test(test::Args),
    /// Check formatting and run clippy with warnings denied (what CI runs).
    Lint(lint::Args),
    /// Build and run the `dbbench` benchmarks in release mode.
    Bench(bench::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Integration(args) => integration::run(&args),
        Command::Test(args) => test::run(&args),
        Command::Lint(args) => lint::run(&args),
        Command::Bench(args) => bench::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
