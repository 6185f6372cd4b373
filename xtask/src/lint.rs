//! `cargo xtask lint`: formatting, clippy and the docs (a broken doc link is an error),
//! exactly as CI runs them.

use crate::util::{Cmd, Result};

/// Arguments of `cargo xtask lint`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// The lint commands, in order.
fn commands() -> [Cmd; 3] {
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
        Cmd::cargo(["doc", "--no-deps", "--workspace"]).env("RUSTDOCFLAGS", "-D warnings"),
    ]
}

/// `cargo xtask lint`: runs every check even if an earlier one fails, so one run shows
/// every problem; fails if any failed.
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
