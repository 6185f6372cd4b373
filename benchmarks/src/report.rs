//! The report: one markdown table, then the settings and versions it was measured with.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::measure::{Measurement, median, spread};
use crate::quiet::{self, Wait};
use crate::target::{Implementation, Suite};
use crate::workload::{Settings, Workload};

/// One measurement: an implementation's result on a workload in one round.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The round (0-based).
    pub(crate) round: usize,
    /// The workload.
    pub(crate) workload: Workload,
    /// Index into the implementation list.
    pub(crate) implementation: usize,
    /// What the wait for a quiet machine before the measurement saw, if it ran.
    pub(crate) wait: Option<Wait>,
    /// The measurement, or why there is none.
    pub(crate) result: Result<Measurement, String>,
}

/// The rounds of one (workload, implementation) pair, summarised by medians.
#[derive(Debug)]
struct Cell<'a> {
    rounds: usize,
    measured: Vec<&'a Measurement>,
    errors: Vec<&'a str>,
}

impl<'a> Cell<'a> {
    /// The rounds of `implementation` on `workload`; `None` if it never ran.
    fn of(entries: &'a [Entry], workload: Workload, implementation: usize) -> Option<Self> {
        let mut cell = Cell {
            rounds: 0,
            measured: Vec::new(),
            errors: Vec::new(),
        };
        for e in entries
            .iter()
            .filter(|e| e.workload == workload && e.implementation == implementation)
        {
            cell.rounds += 1;
            match &e.result {
                Ok(m) => cell.measured.push(m),
                Err(err) => cell.errors.push(err),
            }
        }
        (cell.rounds > 0).then_some(cell)
    }

    /// The rate of each successful round.
    fn rates(&self) -> Vec<f64> {
        self.measured.iter().map(|m| m.rate()).collect()
    }

    /// The median over the successful rounds of `f`, skipping rounds without a value.
    fn median_of(&self, f: impl Fn(&Measurement) -> Option<f64>) -> Option<f64> {
        let values: Vec<f64> = self.measured.iter().filter_map(|m| f(m)).collect();
        median(&values)
    }

    /// The median rate, when every round succeeded.
    fn median_rate(&self) -> Option<f64> {
        if self.errors.is_empty() {
            median(&self.rates())
        } else {
            None
        }
    }
}

/// The per-round ratios `baseline rate / implementation rate`, over the rounds in
/// which both succeeded. Each pair ran in the same round, minutes apart at most, so a
/// slow drift of the machine (other guests, CPU steal) affects both sides of a ratio
/// alike; the spread of these ratios is the honest error bar of the `× raw` column.
fn paired_ratios(
    entries: &[Entry],
    workload: Workload,
    baseline: usize,
    implementation: usize,
) -> Vec<f64> {
    let rate_in = |index: usize, round: usize| {
        entries
            .iter()
            .find(|e| e.workload == workload && e.implementation == index && e.round == round)
            .and_then(|e| e.result.as_ref().ok())
            .map(Measurement::rate)
            .filter(|r| *r > 0.0)
    };
    let rounds = entries.iter().map(|e| e.round).max().map_or(0, |r| r + 1);
    (0..rounds)
        .filter_map(|round| Some(rate_in(baseline, round)? / rate_in(implementation, round)?))
        .collect()
}

/// The paired-ratio cell: median of the per-round ratios and their range.
fn paired_cell(ratios: &[f64]) -> String {
    match (median(ratios), ratios.len()) {
        (Some(m), 1) => format!("{m:.2}"),
        (Some(m), _) => {
            let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            format!("{m:.2} ({lo:.2}–{hi:.2})")
        }
        (None, _) => "–".to_owned(),
    }
}

/// The workloads that have entries, in report order.
fn workloads_run(entries: &[Entry]) -> Vec<Workload> {
    Workload::ALL
        .into_iter()
        .filter(|w| entries.iter().any(|e| e.workload == *w))
        .collect()
}

/// Facts about the machine taken at the start of the run.
#[derive(Debug)]
pub(crate) struct Environment {
    date_utc: String,
    load_at_start: Option<String>,
    started: Instant,
}

impl Environment {
    /// Captures the date and the load average now.
    pub(crate) fn capture() -> Self {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Environment {
            date_utc: format_utc(secs),
            load_at_start: read_trimmed("/proc/loadavg"),
            started: Instant::now(),
        }
    }
}

/// Formats a number with thousands separators.
fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Formats a latency in µs: one decimal below 1000, whole numbers above.
fn micros(us: Option<f64>) -> String {
    match us {
        Some(us) if us < 1000.0 => format!("{us:.1}"),
        Some(us) => thousands(us),
        None => "–".to_owned(),
    }
}

/// Renders the table: one row per (workload, implementation), workloads in order; each
/// cell is the median over the rounds.
pub(crate) fn table(
    implementations: &[Implementation],
    entries: &[Entry],
    settings: &Settings,
) -> String {
    let mut out = String::new();
    if settings.rounds == 1 {
        out.push_str(
            "Each cell: one round, not a median (--rounds N for medians over N rounds).\n\n",
        );
    } else {
        let _ = writeln!(
            out,
            "Each cell: the median over {} rounds (interleaved; implementation order rotated per \
             round); spread per cell in the Noise table below.\n",
            settings.rounds,
        );
    }
    out.push_str(
        "| workload | implementation | ops/s | p50 µs | p99 µs | × raw | paired × raw (range) | target | CPU | n |\n",
    );
    out.push_str("|---|---|---:|---:|---:|---:|---:|---|---:|---:|\n");
    let baseline = implementations.iter().position(|i| i.baseline);
    for workload in workloads_run(entries) {
        let baseline_rate = baseline
            .and_then(|b| Cell::of(entries, workload, b))
            .and_then(|c| c.median_rate())
            .filter(|r| *r > 0.0);
        for (index, implementation) in implementations.iter().enumerate() {
            let Some(cell) = Cell::of(entries, workload, index) else {
                continue;
            };
            let label = implementation.label;
            let name = workload.describe(settings);
            let _ = match (cell.median_rate(), cell.errors.first()) {
                (Some(rate), _) => {
                    let unit = if workload.counts_rows() {
                        " rows/s"
                    } else {
                        ""
                    };
                    let ratio = baseline_rate.filter(|_| rate > 0.0).map(|b| b / rate);
                    let pairs = match baseline {
                        Some(b) if b != index => paired_ratios(entries, workload, b, index),
                        _ => Vec::new(),
                    };
                    // Judged on the paired ratio where there is one (see the footer).
                    let goal = goal_cell(implementation, workload, median(&pairs).or(ratio));
                    let ratio = ratio.map_or_else(|| "–".to_owned(), |r| format!("{r:.2}"));
                    let cpu = cell
                        .median_of(Measurement::cpu_share)
                        .map(|c| format!("{:.0}%", c * 100.0))
                        .unwrap_or_else(|| "–".to_owned());
                    let n = cell.median_of(|m| Some(m.samples() as f64));
                    let paired = match baseline {
                        Some(b) if b == index => "1.00".to_owned(),
                        Some(_) => paired_cell(&pairs),
                        None => "–".to_owned(),
                    };
                    writeln!(
                        out,
                        "| {name} | {label} | {}{unit} | {} | {} | {ratio} | {paired} | {goal} | {cpu} | {} |",
                        thousands(rate),
                        micros(cell.median_of(|m| m.percentile_us(50.0))),
                        micros(cell.median_of(|m| m.percentile_us(99.0))),
                        thousands(n.unwrap_or(0.0)),
                    )
                }
                (None, error) => writeln!(
                    out,
                    "| {name} | {label} | error ({} of {} rounds): {} | – | – | – | – | {} | – | – |",
                    cell.errors.len(),
                    cell.rounds,
                    error.copied().unwrap_or("no result").replace('|', "/"),
                    goal_cell(implementation, workload, None),
                ),
            };
        }
    }
    out
}

/// The target cell of a row: the highest acceptable `× raw`, and whether the median
/// ratio meets it (empty for rows without a target).
fn goal_cell(implementation: &Implementation, workload: Workload, ratio: Option<f64>) -> String {
    let Some(goal) = implementation.goal(workload) else {
        return String::new();
    };
    match ratio {
        // Compare what the table shows (two decimals).
        Some(r) if (r * 100.0).round() / 100.0 <= goal.max_ratio + 1e-9 => {
            format!("≤ {:.2} met", goal.max_ratio)
        }
        Some(_) => format!("≤ {:.2} **missed**", goal.max_ratio),
        None => format!("≤ {:.2} –", goal.max_ratio),
    }
}

/// The Noise table: `(max - min) / median` of each cell's rate over the rounds, in %.
fn noise(implementations: &[Implementation], entries: &[Entry], settings: &Settings) -> String {
    let mut out = String::new();
    if settings.rounds < 2 {
        let _ = writeln!(
            out,
            "Noise: one round, no spread measured (run with --rounds 3 or more to see it)."
        );
        return out;
    }
    let workloads = workloads_run(entries);
    let _ = writeln!(
        out,
        "Noise: (max − min) / median of the rate over the {} rounds, %:\n",
        settings.rounds
    );
    out.push_str("| implementation |");
    for w in &workloads {
        let _ = write!(out, " {w} |");
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(workloads.len()));
    out.push('\n');
    for (index, implementation) in implementations.iter().enumerate() {
        let _ = write!(out, "| {} |", implementation.label);
        for &w in &workloads {
            let cell = Cell::of(entries, w, index)
                .and_then(|c| spread(&c.rates()))
                .map_or_else(|| "–".to_owned(), |s| format!("{:.0}", s * 100.0));
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
    out
}

/// The note on the waits for a quiet machine before each measurement.
fn quiet_note(
    implementations: &[Implementation],
    entries: &[Entry],
    settings: &Settings,
) -> String {
    if settings.quiet_wait.is_zero() {
        return "- quiet machine: not checked (--quiet-wait-ms 0)\n".to_owned();
    }
    let waits: Vec<(&Entry, Wait)> = entries
        .iter()
        .filter_map(|e| e.wait.map(|w| (e, w)))
        .collect();
    if waits.is_empty() {
        return "- quiet machine: not checked (/proc/stat not readable, or no measurement got that far)\n".to_owned();
    }
    let firsts: Vec<f64> = waits.iter().map(|(_, w)| w.first).collect();
    let max_first = firsts.iter().copied().fold(0.0, f64::max);
    let total: f64 = waits.iter().map(|(_, w)| w.waited.as_secs_f64()).sum();
    let longer = waits
        .iter()
        .filter(|(_, w)| w.waited > quiet::SAMPLE + quiet::SAMPLE / 2)
        .count();
    let busy: Vec<String> = waits
        .iter()
        .filter(|(_, w)| w.busy())
        .map(|(e, w)| {
            format!(
                "round {} {} {} ({:.0}%)",
                e.round + 1,
                e.workload,
                implementations[e.implementation].label,
                w.last * 100.0
            )
        })
        .collect();
    let mut out = format!(
        "- quiet machine: before each measurement the all-CPU busy share was sampled over {} ms \
         windows until below {:.0}% or {:.1} s had passed. First sample: median {:.0}%, max \
         {:.0}%. Waited {:.1} s in total over {} measurements (one sample each at least); {} \
         waited for more than one sample; ",
        quiet::SAMPLE.as_millis(),
        quiet::QUIET_BELOW * 100.0,
        settings.quiet_wait.as_secs_f64(),
        median(&firsts).unwrap_or(0.0) * 100.0,
        max_first * 100.0,
        total,
        waits.len(),
        longer,
    );
    if busy.is_empty() {
        out.push_str("none started on a busy machine.\n");
    } else {
        let _ = writeln!(
            out,
            "{} started on a busy machine (the wait expired): {}.",
            busy.len(),
            busy.join(", ")
        );
    }
    out
}

/// The lines under one suite's table: how to read it, targets, fairness, where the
/// databases live, noise, and the waits for a quiet machine.
pub(crate) fn suite_notes(suite: &Suite, entries: &[Entry], settings: &Settings) -> String {
    let implementations = &suite.implementations;
    let mut out = String::new();
    let baseline = implementations
        .iter()
        .find(|i| i.baseline)
        .map_or("the raw driver", |i| i.label);
    let _ = writeln!(
        out,
        "- × raw = (median {baseline} rate) / (median rate of this row): >1 = slower. CPU = \
         process CPU time / wall time over the timed phase (100% = one core). n = timed operations \
         per round (W4: transactions; W5: number of loads, its p50/p99 are per {}-row load). \
         Rate, p50, p99, CPU and n are each the median of the per-round values. paired × raw = \
         the median over the rounds of ({baseline} rate / this row's rate) measured in the same \
         round, with the lowest and highest round in brackets: a drift of the machine between \
         rounds cancels out of each pair, so its range is the error bar of the × raw column.",
        settings.bulk_rows
    );
    let mut goals: Vec<String> = Vec::new();
    for implementation in implementations.iter() {
        for (workload, goal) in implementation.targets {
            goals.push(format!(
                "{} {workload}: {} (× raw ≤ {:.2})",
                implementation.label, goal.stated, goal.max_ratio
            ));
        }
    }
    if !goals.is_empty() {
        let _ = writeln!(
            out,
            "- targets (judged on the paired × raw median, or on × raw where no round paired: \
             the paired ratios compare the two sides within each round, measured in interleaved \
             slices, so the machine's drift between rounds cancels out of them, while × raw divides \
             medians taken from different rounds; a miss smaller than the paired range is within \
             the noise): {}",
            goals.join("; ")
        );
    }
    let shares: Vec<String> = implementations
        .iter()
        .enumerate()
        .filter_map(|(index, implementation)| {
            let share = Cell::of(entries, Workload::W2, index)?.median_of(|m| m.min_share)?;
            Some(format!("{} {share:.2}", implementation.label))
        })
        .collect();
    if !shares.is_empty() {
        let _ = writeln!(
            out,
            "- W2 fairness (ops of the least-served task / mean per task, median over rounds): {}",
            shares.join(", ")
        );
    }
    for note in &suite.notes {
        let _ = writeln!(out, "- {note}");
    }

    out.push('\n');
    out.push_str(&noise(implementations, entries, settings));
    out.push('\n');
    out.push_str(&quiet_note(implementations, entries, settings));
    out
}

/// The lines at the end of the report: settings, run time and versions.
pub(crate) fn run_footer(settings: &Settings, env: &Environment, suites: &[&Suite]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "- settings: {}; {:.1} s or {} ops per workload after {} warm-up ops; bench_items {} rows; W2 \
         {} tasks over a pool of {}; W4 {} statements per transaction; W5 {} rows, at most {} \
         loads per round. Absolute numbers move 2-5x between runs on small VMs: read the ratios, \
         and the Noise tables.",
        if settings.rounds == 1 {
            "1 round".to_owned()
        } else {
            format!(
                "{} rounds (round r runs each workload on every implementation, the order rotated \
                 by r)",
                settings.rounds
            )
        },
        settings.duration.as_secs_f64(),
        thousands(settings.max_ops as f64),
        settings.warmup_ops,
        settings.table_rows,
        settings.tasks,
        settings.pool_size,
        crate::workload::TX_UPDATES + 1,
        settings.bulk_rows,
        settings.max_bulk_loads,
    );
    if settings.slices > 1 {
        let _ = writeln!(
            out,
            "- W1 to W4: each round opens every implementation at once and runs \
             {} slices of each, {:.2} s or {} ops apiece, taken in turn (order rotated per \
             slice); the round's result of an implementation is the sum of its slices. A \
             change in the machine's load then hits every implementation alike.",
            settings.slices,
            settings.duration.as_secs_f64() / settings.slices as f64,
            thousands((settings.max_ops / settings.slices as u64).max(1) as f64),
        );
    }
    let _ = writeln!(
        out,
        "- run time: {:.0} s",
        env.started.elapsed().as_secs_f64()
    );

    let _ = writeln!(out, "\nVersions:\n");
    let _ = writeln!(out, "- date (UTC): {}", env.date_utc);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu_model = read_file("/proc/cpuinfo").and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
    });
    let kernel = read_trimmed("/proc/sys/kernel/osrelease");
    let _ = writeln!(
        out,
        "- machine: {cores} cores{}{}",
        cpu_model.map(|m| format!(" ({m})")).unwrap_or_default(),
        kernel.map(|k| format!(", kernel {k}")).unwrap_or_default(),
    );
    if let Some(load) = &env.load_at_start {
        let end = read_trimmed("/proc/loadavg").unwrap_or_default();
        let _ = writeln!(
            out,
            "- load average (1/5/15 min) at start: {load}; at end: {end} (other work on the \
             machine shows up as CPU < 100% in the single-task rows)"
        );
    }
    let _ = writeln!(
        out,
        "- rustc: {}",
        command_output("rustc", &["--version"]).unwrap_or_else(|| "unknown".to_owned())
    );
    for suite in suites {
        for line in &suite.versions {
            let _ = writeln!(out, "- {line}");
        }
    }
    let crates = lock_versions(&["tokio"]);
    if !crates.is_empty() {
        let _ = writeln!(out, "- crates: {crates}");
    }
    let git = command_output("git", &["rev-parse", "--short", "HEAD"])
        .map(|rev| format!(" (git {rev})"))
        .unwrap_or_default();
    let _ = writeln!(out, "- dblayer: {}{git}", env!("CARGO_PKG_VERSION"));
    out
}

fn read_file(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn read_trimmed(path: &str) -> Option<String> {
    read_file(path).map(|s| s.trim().to_owned())
}

/// The file-system type of the mount holding `dir` (`ext4`, `tmpfs`), from
/// `/proc/mounts`: the entry with the longest mount point that is a prefix of `dir`.
pub(crate) fn filesystem_of(dir: &Path) -> Option<String> {
    let dir = std::fs::canonicalize(dir).ok()?;
    let mounts = read_file("/proc/mounts")?;
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_device, mount_point, fs_type) = (fields.next()?, fields.next()?, fields.next()?);
            dir.starts_with(mount_point)
                .then(|| (mount_point.len(), fs_type.to_owned()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, fs)| fs)
}

/// The trimmed stdout of a command run in the workspace, if it succeeds.
fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `name version` of each of `names` in the workspace's `Cargo.lock`, comma-separated.
pub(crate) fn lock_versions(names: &[&str]) -> String {
    let lock_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock");
    let Ok(lock) = std::fs::read_to_string(lock_path) else {
        return String::new();
    };
    let mut found = Vec::new();
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line
            .strip_prefix("name = \"")
            .and_then(|s| s.strip_suffix('"'))
        else {
            continue;
        };
        if !names.contains(&name) {
            continue;
        }
        if let Some(version) = lines
            .next()
            .and_then(|l| l.strip_prefix("version = \""))
            .and_then(|s| s.strip_suffix('"'))
        {
            found.push(format!("{name} {version}"));
        }
    }
    found.join(", ")
}

/// `YYYY-MM-DD HH:MM` for seconds since the Unix epoch (UTC), without a date crate
/// (Howard Hinnant's `civil_from_days`).
fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00");
        assert_eq!(format_utc(1_798_504_200), "2026-12-29 00:30");
    }

    #[test]
    fn goal_cells() {
        use crate::target::Goal;
        let implementation = Implementation {
            label: "layer",
            baseline: false,
            targets: &[(
                Workload::W1,
                Goal {
                    max_ratio: 1.05,
                    stated: "within 5%",
                },
            )],
            open: Box::new(|_| Err("not opened in tests".into())),
        };
        assert_eq!(
            goal_cell(&implementation, Workload::W1, Some(1.03)),
            "≤ 1.05 met"
        );
        // Judged on the two decimals the table shows.
        assert_eq!(
            goal_cell(&implementation, Workload::W1, Some(1.0549)),
            "≤ 1.05 met"
        );
        assert_eq!(
            goal_cell(&implementation, Workload::W1, Some(1.2)),
            "≤ 1.05 **missed**"
        );
        assert_eq!(goal_cell(&implementation, Workload::W1, None), "≤ 1.05 –");
        assert_eq!(goal_cell(&implementation, Workload::W2, Some(9.0)), "");
    }

    #[test]
    fn paired_ratios_pair_rounds() {
        let entry = |round, implementation, ops: u64, ok: bool| Entry {
            round,
            workload: Workload::W2,
            implementation,
            wait: None,
            result: if ok {
                Ok(Measurement::new(
                    ops,
                    std::time::Duration::from_secs(1),
                    None,
                    vec![1],
                ))
            } else {
                Err("failed".into())
            },
        };
        let entries = [
            // round 0: baseline 100, layer 50 -> 2.0
            entry(0, 0, 100, true),
            entry(0, 1, 50, true),
            // round 1: a slower machine for both -> 1.0
            entry(1, 1, 40, true),
            entry(1, 0, 40, true),
            // round 2: the layer failed: no pair
            entry(2, 0, 90, true),
            entry(2, 1, 0, false),
            // round 3: -> 1.5
            entry(3, 0, 60, true),
            entry(3, 1, 40, true),
        ];
        let ratios = paired_ratios(&entries, Workload::W2, 0, 1);
        assert_eq!(ratios, vec![2.0, 1.0, 1.5]);
        assert_eq!(paired_cell(&ratios), "1.50 (1.00–2.00)");
        assert_eq!(paired_cell(&[1.234]), "1.23");
        assert_eq!(paired_cell(&[]), "–");
    }

    #[test]
    fn number_formatting() {
        assert_eq!(thousands(1_234_567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(micros(Some(2.66)), "2.7");
        assert_eq!(micros(Some(38_512.0)), "38,512");
        assert_eq!(micros(None), "–");
    }
}
