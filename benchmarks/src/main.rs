//! `dbbench`: our database layer against the raw native driver, side by side, in one
//! run and one markdown table per backend.
//!
//! Run it with `cargo xtask bench [--driver sqlite|postgres|mysql|all] [--quick]` (a
//! release build). Backends: SQLite (db-sqlite against rusqlite, database files in a
//! scratch directory), PostgreSQL (db-postgres against tokio-postgres through
//! deadpool-postgres) and MySQL / MariaDB (db-mysql against mysql_async). `--driver all`
//! (the default) runs every backend whose server answers; a server that does not answer
//! is reported and its backend skipped. The servers come from `--postgres-url` and
//! `--mysql-url`; each run works in a schema (PostgreSQL) or database (MySQL) of its
//! own, `dbl_bench_<pid>`, dropped at the end.
//!
//! Workloads (numbered as in `research/baseline.md`): W1 sequential point select by
//! primary key, W2 point selects from 32 concurrent tasks over a pool of 8, W3
//! single-row insert in autocommit, W4 a transaction of five statements (four `UPDATE`s
//! and one `INSERT`), W5 bulk insert of 100k rows. Each runs after a warm-up for a fixed
//! time (2 s, `--quick` 0.5 s) or a maximum number of operations, on fresh tables per
//! measurement. Every async loop runs inside a task spawned on a multi-thread tokio
//! runtime with 2 workers, as a request handler does.
//!
//! Single runs are bimodal on small VMs, so every (workload, implementation) is
//! measured in several rounds (`--rounds`, default 3, `--quick` 1): round `r` runs each
//! workload on every implementation of a backend, in an order rotated by `r`, and the
//! table shows the median over the rounds, with the spread per cell in a "Noise" table.
//! W1 to W4 go further: a round opens every implementation at once and runs each in
//! `--slices` pieces (default 8), taken in turn (backwards every other slice, so no
//! implementation always follows the same one), so a slow phase of the machine falls
//! on all of them alike and the paired ratios stay tight (W3 and W4 runs insert keys
//! no other run uses, so the slices can share one table). The server backends also
//! measure the raw row's code a second time as an A/A control: its ratio to the raw
//! row is what the measurement reads between two identical implementations.
//! Before each measurement the run waits up to 2 s for the machine to be quiet (all-CPU
//! busy share from `/proc/stat` below 30%).
//!
//! Benchmarks print numbers; nothing here passes or fails on a timing.

mod layer;
mod measure;
mod mysql;
mod postgres;
mod quiet;
mod report;
mod server;
mod sqlite;
mod target;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::measure::Measurement;
use crate::quiet::Wait;
use crate::report::{Entry, Environment};
use crate::target::{Driver, Implementation, Suite, Target};
use crate::workload::{Settings, Workload};

/// `--driver`: one backend, or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DriverChoice {
    /// SQLite only.
    Sqlite,
    /// PostgreSQL only.
    Postgres,
    /// MySQL / MariaDB only.
    Mysql,
    /// Every backend; server backends whose server does not answer are skipped.
    All,
}

impl DriverChoice {
    fn drivers(self) -> Vec<Driver> {
        match self {
            DriverChoice::Sqlite => vec![Driver::Sqlite],
            DriverChoice::Postgres => vec![Driver::Postgres],
            DriverChoice::Mysql => vec![Driver::Mysql],
            DriverChoice::All => Driver::ALL.to_vec(),
        }
    }
}

/// Benchmarks the dblayer drivers against their raw native drivers and prints one
/// markdown table per backend.
#[derive(Debug, Parser)]
#[command(name = "dbbench")]
struct Cli {
    /// The backend to benchmark; `all` runs every backend whose server answers.
    #[arg(long, value_enum, default_value = "all")]
    driver: DriverChoice,

    /// The PostgreSQL server (`postgres://user[:password]@host[:port]/database`); the
    /// run creates and drops a schema of its own there.
    #[arg(long, value_name = "URL", default_value = postgres::DEFAULT_URL)]
    postgres_url: String,

    /// The MySQL / MariaDB server (`mysql://user[:password]@host[:port]/database`); the
    /// run creates and drops a database of its own there.
    #[arg(long, value_name = "URL", default_value = mysql::DEFAULT_URL)]
    mysql_url: String,

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

    /// W1 to W4: cut each round's measurement of an implementation
    /// into this many slices, run in turn with the other implementations' slices (all
    /// of them open at once), so that a change in the machine's load hits every
    /// implementation alike; 1 measures each implementation in one piece.
    #[arg(long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    slices: u32,

    /// Only the implementations whose label contains this text (case-insensitive; several
    /// texts separated by commas: any of them), for focused runs (profiling); default all.
    #[arg(long, value_name = "TEXT")]
    only: Option<String>,

    /// Only these workloads (comma-separated; default all).
    #[arg(long = "workload", value_enum, value_delimiter = ',')]
    workloads: Vec<Workload>,

    /// Directory for the SQLite database files (default: the system temp directory). The
    /// file system decides what an fsync costs in W3, W4 and W5.
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
            slices: self.slices as usize,
        }
    }
}

/// The order of the implementations in round `round` (0-based): rotated by one per
/// round, so over `n` rounds each implementation runs in each position once.
fn rotated(n: usize, round: usize) -> Vec<usize> {
    (0..n).map(|i| (i + round) % n).collect()
}

/// The order of the implementations' slices in slice `slice`: rotated every two
/// slices, and backwards every other slice, so that each implementation follows each
/// of its neighbours equally often. (Rotation alone keeps the cyclic order: every
/// implementation would always run right after the same one and carry whatever that
/// one leaves behind, a bias of ~4% between two identical implementations.)
fn slice_order(n: usize, slice: usize) -> Vec<usize> {
    let mut order = rotated(n, slice / 2);
    if slice % 2 == 1 {
        order.reverse();
    }
    order
}

/// Waits (at most `settings.quiet_wait`) for a quiet machine; `None` when not asked to.
fn quiet_wait(settings: &Settings) -> Option<Wait> {
    if settings.quiet_wait.is_zero() {
        None
    } else {
        quiet::wait_for_quiet(settings.quiet_wait)
    }
}

/// One measurement: `implementation` on fresh tables, a wait for a quiet machine, then
/// `workload`.
fn measure(
    implementation: &Implementation,
    workload: Workload,
    settings: &Settings,
) -> (Option<Wait>, Result<Measurement, String>) {
    let mut target = match (implementation.open)(settings) {
        Ok(target) => target,
        Err(e) => return (None, Err(format!("cannot open: {}", server::describe(&*e)))),
    };
    let wait = quiet_wait(settings);
    let result = target
        .run(workload, settings)
        .map_err(|e| server::describe(&*e));
    if let Err(e) = target.close() {
        eprintln!("[dbbench]   closing failed: {}", server::describe(&*e));
    }
    (wait, result)
}

/// Measures `workload` (W1 to W4) on the implementations `order` (indices into
/// `impls`) with every implementation open at once: `settings.slices` slices each,
/// taken in turn (see [`slice_order`]), summed per implementation. A slow
/// phase of the machine then falls on every implementation's slices alike instead of
/// on one implementation's whole measurement. Every implementation creates its fresh
/// tables when it opens, so all of them use the tables the last one created (W3 and
/// W4 runs insert keys of their own there).
fn measure_interleaved(
    impls: &[Implementation],
    order: &[usize],
    workload: Workload,
    settings: &Settings,
) -> Vec<(Option<Wait>, Result<Measurement, String>)> {
    let slices = settings.slices.max(1);
    let mut targets: Vec<Option<Box<dyn Target>>> = Vec::with_capacity(order.len());
    let mut results: Vec<Option<Result<Measurement, String>>> = Vec::with_capacity(order.len());
    for &index in order {
        match (impls[index].open)(settings) {
            Ok(target) => {
                targets.push(Some(target));
                results.push(None);
            }
            Err(e) => {
                targets.push(None);
                results.push(Some(Err(format!("cannot open: {}", server::describe(&*e)))));
            }
        }
    }
    let wait = quiet_wait(settings);
    let first = Settings {
        duration: settings.duration / slices as u32,
        max_ops: (settings.max_ops / slices as u64).max(1),
        ..settings.clone()
    };
    // Later slices: connections and statements are warm; one operation per task lines
    // the tasks up.
    let later = Settings {
        warmup_ops: settings.tasks as u64,
        ..first.clone()
    };
    for slice in 0..slices {
        for k in slice_order(order.len(), slice) {
            let Some(target) = targets[k].as_mut() else {
                continue;
            };
            if matches!(results[k], Some(Err(_))) {
                continue;
            }
            let run = target
                .run(workload, if slice == 0 { &first } else { &later })
                .map_err(|e| server::describe(&*e));
            results[k] = Some(match (results[k].take(), run) {
                (_, Err(e)) => Err(e),
                (Some(Ok(mut sum)), Ok(m)) => {
                    sum.absorb(m);
                    Ok(sum)
                }
                (_, Ok(m)) => Ok(m),
            });
        }
    }
    for target in targets.into_iter().flatten() {
        if let Err(e) = target.close() {
            eprintln!("[dbbench]   closing failed: {}", server::describe(&*e));
        }
    }
    results
        .into_iter()
        .map(|r| (wait, r.unwrap_or_else(|| Err("not measured".to_owned()))))
        .collect()
}

/// Runs every round of `workloads` on the implementations of `suite`.
fn run_suite(suite: &Suite, workloads: &[Workload], settings: &Settings) -> Vec<Entry> {
    let impls = &suite.implementations;
    let title = suite.driver.title();
    let mut entries = Vec::new();
    for round in 0..settings.rounds {
        for &workload in workloads {
            let order = rotated(impls.len(), round);
            let measured: Vec<(usize, Option<Wait>, Result<Measurement, String>)> =
                if settings.slices > 1 && workload.sliceable() && order.len() > 1 {
                    let results = measure_interleaved(impls, &order, workload, settings);
                    order
                        .iter()
                        .copied()
                        .zip(results)
                        .map(|(i, (w, r))| (i, w, r))
                        .collect()
                } else {
                    order
                        .iter()
                        .map(|&i| {
                            let (w, r) = measure(&impls[i], workload, settings);
                            (i, w, r)
                        })
                        .collect()
                };
            for (index, wait, result) in measured {
                let implementation = &impls[index];
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
                        "[dbbench] {title} round {}/{} {workload} {}: {:.0} {}/s, p50 {:.1} µs{machine}",
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
                        "[dbbench] {title} round {}/{} {workload} {}: error: {e}",
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
    entries
}

/// The suite of `driver` (only the implementations `--only` selects), or why it is
/// skipped.
fn open_suite(driver: Driver, cli: &Cli) -> Result<Suite, String> {
    let mut suite = match driver {
        Driver::Sqlite => sqlite::suite(&cli.dir.clone().unwrap_or_else(std::env::temp_dir)),
        Driver::Postgres => postgres::suite(&cli.postgres_url)?,
        Driver::Mysql => mysql::suite(&cli.mysql_url)?,
    };
    if let Some(only) = &cli.only {
        let only = only.to_lowercase();
        let texts: Vec<&str> = only.split(',').map(str::trim).collect();
        suite.implementations.retain(|i| {
            let label = i.label.to_lowercase();
            texts.iter().any(|t| label.contains(t))
        });
        if suite.implementations.is_empty() {
            return Err(format!(
                "no implementation label contains {only:?} (--only)"
            ));
        }
    }
    Ok(suite)
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
    let env = Environment::capture();
    let explicit = cli.driver != DriverChoice::All;

    let mut failed = false;
    let mut finished: Vec<Suite> = Vec::new();
    let mut skipped = 0;
    for driver in cli.driver.drivers() {
        let title = driver.title();
        let suite = match open_suite(driver, &cli) {
            Ok(suite) => suite,
            Err(why) => {
                eprintln!("[dbbench] {title}: SKIPPED: {why}");
                println!("### {title} benchmark: skipped\n\n{why}\n");
                skipped += 1;
                failed |= explicit;
                continue;
            }
        };
        let entries = run_suite(&suite, &workloads, &settings);
        println!("### {title} benchmark: dblayer vs raw driver\n");
        print!(
            "{}",
            report::table(&suite.implementations, &entries, &settings)
        );
        println!();
        print!("{}", report::suite_notes(&suite, &entries, &settings));
        println!();
        if entries.iter().any(|e| e.result.is_err()) {
            eprintln!("[dbbench] {title}: some workloads failed (see the table)");
            failed = true;
        }
        finished.push(suite);
    }
    if finished.is_empty() {
        eprintln!("[dbbench] nothing was measured ({skipped} backend(s) skipped)");
        return ExitCode::FAILURE;
    }
    println!("### Run\n");
    let suites: Vec<&Suite> = finished.iter().collect();
    print!("{}", report::run_footer(&settings, &env, &suites));
    for suite in finished {
        let title = suite.driver.title();
        if let Err(e) = suite.finish() {
            eprintln!("[dbbench] {title}: clean-up failed: {e}");
            failed = true;
        }
    }

    if failed {
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
    fn slices_alternate_direction_so_predecessors_vary() {
        assert_eq!(slice_order(4, 0), [0, 1, 2, 3]);
        assert_eq!(slice_order(4, 1), [3, 2, 1, 0]);
        assert_eq!(slice_order(4, 2), [1, 2, 3, 0]);
        assert_eq!(slice_order(4, 3), [0, 3, 2, 1]);
        // Within the slices of a round of 8, each implementation runs right after each
        // of its two neighbours equally often.
        for n in [3, 4, 5] {
            let mut follows = vec![vec![0u32; n]; n];
            for slice in 0..8 {
                for pair in slice_order(n, slice).windows(2) {
                    follows[pair[1]][pair[0]] += 1;
                }
            }
            for (k, row) in follows.iter().enumerate() {
                let left = row[(k + n - 1) % n];
                let right = row[(k + 1) % n];
                assert!(left > 0 && right > 0, "n = {n}: {follows:?}");
                assert!(left.abs_diff(right) <= 1, "n = {n}: {follows:?}");
            }
        }
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
        assert_eq!(Cli::parse_from(["dbbench"]).settings().slices, 8);
        assert_eq!(
            Cli::parse_from(["dbbench", "--slices", "1"])
                .settings()
                .slices,
            1
        );
        assert!(Cli::try_parse_from(["dbbench", "--slices", "0"]).is_err());
    }

    #[test]
    fn driver_choice() {
        let cli = Cli::parse_from(["dbbench"]);
        assert_eq!(cli.driver, DriverChoice::All);
        assert_eq!(cli.driver.drivers(), Driver::ALL);
        let cli = Cli::parse_from(["dbbench", "--driver", "postgres"]);
        assert_eq!(cli.driver.drivers(), [Driver::Postgres]);
        let cli = Cli::parse_from(["dbbench", "--driver", "mysql", "--workload", "w4"]);
        assert_eq!(cli.driver.drivers(), [Driver::Mysql]);
        assert_eq!(cli.workloads, [Workload::W4]);
        assert!(Cli::try_parse_from(["dbbench", "--driver", "oracle"]).is_err());
    }
}
