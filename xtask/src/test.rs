//! `cargo xtask test`: the whole test suite, the command README and `.ci/run` call.

use crate::integration;
use crate::util::{Cmd, Result, project_root, use_nextest};

/// Arguments of `cargo xtask test`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Run every step even after one fails (the exit status is still non-zero).
    #[arg(long)]
    keep_going: bool,

    /// Use `cargo test` even if cargo-nextest is installed.
    #[arg(long)]
    no_nextest: bool,
}

/// The packages whose tests run a second time with every feature on.
const FEATURE_PACKAGES: [&str; 4] = ["dbcore", "db-sqlite", "db-postgres", "db-mysql"];

/// `cargo xtask test`: the tests and doctests of every workspace package except the
/// conformance suite, then the driver crates' and `dbcore`'s tests again with every
/// optional value type on (`chrono`, `json`, `uuid`: nothing else in the workspace turns
/// them on, so their code would otherwise go untested), then the conformance suite once
/// per driver in the workspace (`integration --driver all`). The suite is left out of the first step because
/// without `DB_TEST_DRIVER` it would run a second time against SQLite.
pub(crate) fn run(args: &Args) -> Result {
    let drivers = integration::select("all", &project_root())?;
    let nextest = use_nextest(args.no_nextest);
    let steps: Vec<Cmd> = if nextest {
        vec![
            Cmd::cargo([
                "nextest",
                "run",
                "--workspace",
                "--exclude",
                "conformance",
                "--no-fail-fast",
                "--no-tests=warn",
            ]),
            // nextest does not run doctests.
            Cmd::cargo(["test", "--doc", "--workspace", "--exclude", "conformance"]),
            Cmd::cargo(
                ["nextest", "run", "--no-fail-fast", "--all-features"]
                    .into_iter()
                    .chain(FEATURE_PACKAGES.iter().flat_map(|p| ["-p", p])),
            ),
        ]
    } else {
        vec![
            Cmd::cargo([
                "test",
                "--workspace",
                "--exclude",
                "conformance",
                "--no-fail-fast",
            ]),
            Cmd::cargo(
                ["test", "--no-fail-fast", "--all-features"]
                    .into_iter()
                    .chain(FEATURE_PACKAGES.iter().flat_map(|p| ["-p", p])),
            ),
        ]
    };

    let mut failures = Vec::new();
    for step in &steps {
        if let Err(err) = step.run() {
            if !args.keep_going {
                return Err(err);
            }
            eprintln!("error: {err}");
            failures.push(err.to_string());
        }
    }

    if let Err(err) = integration::run_drivers(&drivers, nextest, args.keep_going, &[]) {
        failures.push(err.to_string());
    }

    if failures.is_empty() {
        eprintln!("\nall tests passed");
        Ok(())
    } else {
        Err(failures.join("\n").into())
    }
}
