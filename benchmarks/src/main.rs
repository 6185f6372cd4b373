//! `dbbench`: our database layer against the raw native driver, side by side, in one
//! run and one markdown table.
//!
//! Run it with `cargo xtask bench [--quick]` (a release build). Workloads (numbered as
//! in `research/baseline.md`): W1 sequential point select by primary key, W2 point
//! selects from 32 concurrent tasks over a pool of 8, W3 single-row insert in
//! autocommit, W5 bulk insert of 100k rows. Each runs after a warm-up for a fixed time
//! (2 s, `--quick` 0.5 s) or a maximum number of operations, on a fresh database per
//! implementation. Every async loop runs inside a task spawned on a multi-thread tokio
//! runtime with 2 workers, as a request handler does.
//!
//! Benchmarks print numbers; nothing here passes or fails on a timing.

mod measure;
mod report;
mod sqlite;
mod target;
mod workload;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::report::{Entry, Environment};
use crate::target::{Driver, implementations};
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
    for (index, implementation) in impls.iter().enumerate() {
        eprintln!("[dbbench] {} ...", implementation.label);
        let opened = Scratch::new(&base, index)
            .map_err(|e| {
                format!(
                    "cannot create a scratch directory under {}: {e}",
                    base.display()
                )
            })
            .and_then(|scratch| {
                (implementation.open)(&settings, &scratch.0)
                    .map(|target| (scratch, target))
                    .map_err(|e| format!("cannot open: {e}"))
            });
        let (scratch, mut target) = match opened {
            Ok(pair) => pair,
            Err(e) => {
                eprintln!("[dbbench]   {e}");
                entries.extend(workloads.iter().map(|&workload| Entry {
                    workload,
                    implementation: index,
                    result: Err(e.clone()),
                }));
                continue;
            }
        };
        for &workload in &workloads {
            let result = target.run(workload, &settings).map_err(|e| e.to_string());
            match &result {
                Ok(m) => eprintln!(
                    "[dbbench]   {workload}: {:.0} {}/s, p50 {:.1} µs",
                    m.rate(),
                    if workload.counts_rows() {
                        "rows"
                    } else {
                        "ops"
                    },
                    m.percentile_us(50.0).unwrap_or(f64::NAN)
                ),
                Err(e) => eprintln!("[dbbench]   {workload}: error: {e}"),
            }
            entries.push(Entry {
                workload,
                implementation: index,
                result,
            });
        }
        if let Err(e) = target.close() {
            eprintln!("[dbbench]   closing failed: {e}");
        }
        drop(scratch);
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
