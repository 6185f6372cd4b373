//! `dbbench`: our database layer against the raw native driver, side by side, in one
//! run and one markdown table.
//!
//! Run it with `cargo xtask bench [--quick]` (a release build). Workloads (numbered as
//! in `research/baseline.md`): W1 sequential point select by primary key, W2 point
//! selects from 32 concurrent tasks over a pool of 8, W3 single-row insert in
//! autocommit, W5 bulk insert of 100k rows. Each runs after a warm-up for a fixed time
//! (2 s, `--quick` 0.5 s) or a maximum number of operations, on a fresh database per
//! measurement. Every async loop runs inside a task spawned on a multi-thread tokio
//! runtime with 2 workers, as a request handler does.
//!
//! Single runs are bimodal on small VMs, so every (workload, implementation) is
//! measured in several rounds (`--rounds`, default 3, `--quick` 1): round `r` runs each
//! workload on every implementation, in an order rotated by `r`, and the table shows
//! the median over the rounds, with the spread per cell in a "Noise" table. Before each
//! measurement the run waits up to 2 s for the machine to be quiet (all-CPU busy share
//! from `/proc/stat` below 30%).
//!
//! Benchmarks print numbers; nothing here passes or fails on a timing.

mod measure;
mod quiet;
mod report;
mod sqlite;
mod target;
mod workload;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::measure::Measurement;
use crate::quiet::Wait;
use crate::report::{Entry, Environment};
use crate::target::{Driver, Implementation, implementations};
use crate::workload::{Settings, Workload};

/// Benchmarks a dblayer driver against its raw native driver and prints one markdown table.
#[derive(Debug, Parser)]
#[command(name = "dbbench")]
struct Cli {
    /// The backend to benchmark.
    #[arg(long, value_enum, default_value = "sqlite")]
    driver: Driver,

    /// Short runs: 0.5 s per workload instead of 2 s.
    #[arg(long)]
    quick: bool,

    /// Timed phase per workload in milliseconds (overrides --quick).
    #[arg(long, value_name = "MS")]
    duration_ms: Option<u64>,

    /// Maximum timed operations per workload.
    #[arg(long, default_value_t = 1_000_000)]
    max_ops: u64,

    /// Rounds per (workload, implementation), interleaved and rotated; the table
    /// shows medians over the rounds [default: 3, with --quick 1].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    rounds: Option<u32>,

    /// Before each measurement, wait up to this long for the machine to be quiet
    /// (all-CPU busy share below 30% over 200 ms); 0 = no check.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    quiet_wait_ms: u64,

    /// Untimed warm-up operations per workload.
    #[arg(long, default_value_t = 300)]
    warmup: u64,

    /// Only these workloads (comma-separated; default all).
    #[arg(long = "workload", value_enum, value_delimiter = ',')]
    workloads: Vec<Workload>,

    /// Directory for the database files (default: the system temp directory). The file
    /// system decides what an fsync costs in W3 and W5.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

impl Cli {
    fn settings(&self) -> Settings {
        let default_ms = if self.quick { 500 } else { 2000 };
        Settings {
            duration: Duration::from_millis(self.duration_ms.unwrap_or(default_ms)),
            max_ops: self.max_ops,
            warmup_ops: self.warmup,
            table_rows: 10_000,
            tasks: 32,
            pool_size: 8,
            bulk_rows: 100_000,
            max_bulk_loads: if self.quick { 3 } else { 10 },
            rounds: self
                .rounds
                .map_or(if self.quick { 1 } else { 3 }, |r| r as usize),
            quiet_wait: Duration::from_millis(self.quiet_wait_ms),
        }
    }
}

/// A scratch directory for one implementation's database, removed when dropped.
#[derive(Debug)]
struct Scratch(PathBuf);

impl Scratch {
    fn new(base: &Path, index: usize) -> std::io::Result<Self> {
        let dir = base.join(format!("dbbench-{}-{index}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The order of the implementations in round `round` (0-based): rotated by one per
/// round, so over `n` rounds each implementation runs in each position once.
fn rotated(n: usize, round: usize) -> Vec<usize> {
    (0..n).map(|i| (i + round) % n).collect()
}

/// One measurement: a fresh database for `implementation`, a wait for a quiet machine,
/// then `workload`.
fn measure(
    implementation: &Implementation,
    index: usize,
    workload: Workload,
    settings: &Settings,
    base: &Path,
) -> (Option<Wait>, Result<Measurement, String>) {
    let scratch = match Scratch::new(base, index) {
        Ok(scratch) => scratch,
        Err(e) => {
            let e = format!(
                "cannot create a scratch directory under {}: {e}",
                base.display()
            );
            return (None, Err(e));
        }
    };
    let mut target = match (implementation.open)(settings, &scratch.0) {
        Ok(target) => target,
        Err(e) => return (None, Err(format!("cannot open: {e}"))),
    };
    let wait = if settings.quiet_wait.is_zero() {
        None
    } else {
        quiet::wait_for_quiet(settings.quiet_wait)
    };
    let result = target.run(workload, settings).map_err(|e| e.to_string());
    if let Err(e) = target.close() {
        eprintln!("[dbbench]   closing failed: {e}");
    }
    drop(scratch);
    (wait, result)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = cli.settings();
    let workloads: Vec<Workload> = if cli.workloads.is_empty() {
        Workload::ALL.to_vec()
    } else {
        Workload::ALL
            .into_iter()
            .filter(|w| cli.workloads.contains(w))
            .collect()
    };
    let base = cli.dir.clone().unwrap_or_else(std::env::temp_dir);
    let env = Environment::capture();
    let impls = implementations(cli.driver);

    let mut entries = Vec::new();
    for round in 0..settings.rounds {
        for &workload in &workloads {
            for index in rotated(impls.len(), round) {
                let implementation = &impls[index];
                let (wait, result) = measure(implementation, index, workload, &settings, &base);
                let machine = wait
                    .map(|w| {
                        format!(
                            " (machine {:.0}% busy{}, waited {:.1} s)",
                            w.last * 100.0,
                            if w.busy() { " after the wait" } else { "" },
                            w.waited.as_secs_f64()
                        )
                    })
                    .unwrap_or_default();
                match &result {
                    Ok(m) => eprintln!(
                        "[dbbench] round {}/{} {workload} {}: {:.0} {}/s, p50 {:.1} µs{machine}",
                        round + 1,
                        settings.rounds,
                        implementation.label,
                        m.rate(),
                        if workload.counts_rows() {
                            "rows"
                        } else {
                            "ops"
                        },
                        m.percentile_us(50.0).unwrap_or(f64::NAN)
                    ),
                    Err(e) => eprintln!(
                        "[dbbench] round {}/{} {workload} {}: error: {e}",
                        round + 1,
                        settings.rounds,
                        implementation.label
                    ),
                }
                entries.push(Entry {
                    round,
                    workload,
                    implementation: index,
                    wait,
                    result,
                });
            }
        }
    }

    println!(
        "### {} benchmark: dblayer vs raw driver\n",
        match cli.driver {
            Driver::Sqlite => "SQLite",
        }
    );
    print!("{}", report::table(impls, &entries, &settings));
    println!();
    print!(
        "{}",
        report::footer(impls, &entries, &settings, &env, &base)
    );

    if entries.iter().any(|e| e.result.is_err()) {
        eprintln!("[dbbench] some workloads failed (see the table)");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_rotate_the_order() {
        assert_eq!(rotated(3, 0), [0, 1, 2]);
        assert_eq!(rotated(3, 1), [1, 2, 0]);
        assert_eq!(rotated(3, 2), [2, 0, 1]);
        assert_eq!(rotated(3, 3), [0, 1, 2]);
        assert_eq!(rotated(0, 1), Vec::<usize>::new());
    }

    #[test]
    fn quick_means_one_round() {
        let cli = Cli::parse_from(["dbbench", "--quick"]);
        assert_eq!(cli.settings().rounds, 1);
        let cli = Cli::parse_from(["dbbench"]);
        assert_eq!(cli.settings().rounds, 3);
        let cli = Cli::parse_from(["dbbench", "--quick", "--rounds", "5"]);
        assert_eq!(cli.settings().rounds, 5);
        assert!(Cli::try_parse_from(["dbbench", "--rounds", "0"]).is_err());
    }
}
