//! `cargo xtask bench`: runs the `dbbench` benchmark binary (`benchmarks/`) in release
//! mode. Benchmarks only print tables; they never pass or fail on timings.

use crate::util::{Cmd, Result};

/// Arguments of `cargo xtask bench`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The backend to benchmark (each against its raw native driver); `all` runs every
    /// backend whose server answers (PostgreSQL and MySQL servers that do not answer are
    /// reported and skipped).
    #[arg(
        long,
        value_name = "DRIVER",
        default_value = "all",
        value_parser = ["sqlite", "postgres", "mysql", "all"]
    )]
    driver: String,

    /// Short runs (0.5 s per workload instead of 2 s, one round), for a smoke test.
    #[arg(long)]
    quick: bool,

    /// Rounds per workload and implementation; the table shows medians (dbbench's
    /// default: 3, with --quick 1).
    #[arg(long, value_name = "N")]
    rounds: Option<u32>,

    /// Extra arguments for `dbbench`, after `--` (see `cargo xtask bench -- --help`).
    #[arg(last = true, value_name = "DBBENCH_ARGS")]
    extra: Vec<String>,
}

/// The command that builds and runs `dbbench`.
fn command(args: &Args) -> Cmd {
    let mut cmd =
        Cmd::cargo(["run", "--release", "-p", "dbbench", "--", "--driver"]).arg(&args.driver);
    if args.quick {
        cmd = cmd.arg("--quick");
    }
    if let Some(rounds) = args.rounds {
        cmd = cmd.arg("--rounds").arg(rounds.to_string());
    }
    cmd.args(args.extra.iter().cloned())
}

/// `cargo xtask bench`.
pub(crate) fn run(args: &Args) -> Result {
    command(args).run()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_command_line() {
        let args = Args {
            driver: "sqlite".to_owned(),
            quick: true,
            rounds: None,
            extra: vec!["--workload".to_owned(), "w1".to_owned()],
        };
        assert_eq!(
            command(&args).to_string(),
            "cargo run --release -p dbbench -- --driver sqlite --quick --workload w1"
        );
        let args = Args {
            driver: "sqlite".to_owned(),
            quick: false,
            rounds: Some(5),
            extra: Vec::new(),
        };
        assert_eq!(
            command(&args).to_string(),
            "cargo run --release -p dbbench -- --driver sqlite --rounds 5"
        );
    }

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn driver_values() {
        use clap::Parser as _;
        let cli = Cli::parse_from(["bench"]);
        assert_eq!(cli.args.driver, "all");
        for driver in ["sqlite", "postgres", "mysql", "all"] {
            let cli = Cli::parse_from(["bench", "--driver", driver]);
            assert_eq!(
                command(&cli.args).to_string(),
                format!("cargo run --release -p dbbench -- --driver {driver}")
            );
        }
        assert!(Cli::try_parse_from(["bench", "--driver", "oracle"]).is_err());
    }
}
