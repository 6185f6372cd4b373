//! `cargo xtask lint`: formatting and clippy, exactly as CI runs them.

use crate::util::{Cmd, Result};

/// Arguments of `cargo xtask lint`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// The lint commands, in order.
fn commands() -> [Cmd; 2] {
    [
        Cmd::cargo(["fmt", "--all", "--", "--check"]),
        Cmd::cargo([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    ]
}

/// `cargo xtask lint`: runs both checks even if the first fails, so one run shows every
/// problem; fails if either failed.
pub(crate) fn run(_args: &Args) -> Result {
    let failures: Vec<String> = commands()
        .iter()
        .filter_map(|cmd| cmd.run().err().map(|e| e.to_string()))
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n").into())
    }
}
