//! The report: one markdown table, then the settings and versions it was measured with.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::measure::Measurement;
use crate::target::Implementation;
use crate::workload::{Settings, Workload};

/// One cell group of the table: an implementation's result on a workload.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The workload.
    pub(crate) workload: Workload,
    /// Index into the implementation list.
    pub(crate) implementation: usize,
    /// The measurement, or why there is none.
    pub(crate) result: Result<Measurement, String>,
}

/// Facts about the machine taken at the start of the run.
#[derive(Debug)]
pub(crate) struct Environment {
    date_utc: String,
    load_at_start: Option<String>,
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

/// Renders the table: one row per (workload, implementation), workloads in order.
pub(crate) fn table(
    implementations: &[Implementation],
    entries: &[Entry],
    settings: &Settings,
) -> String {
    let mut out = String::new();
    out.push_str(
        "| workload | implementation | ops/s | p50 µs | p99 µs | × raw sync | CPU | n |\n",
    );
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|\n");
    for workload in Workload::ALL {
        let rows: Vec<&Entry> = entries.iter().filter(|e| e.workload == workload).collect();
        if rows.is_empty() {
            continue;
        }
        let baseline_rate = rows
            .iter()
            .find(|e| implementations[e.implementation].baseline)
            .and_then(|e| e.result.as_ref().ok())
            .map(Measurement::rate)
            .filter(|r| *r > 0.0);
        for entry in rows {
            let label = implementations[entry.implementation].label;
            let name = workload.describe(settings);
            let _ = match &entry.result {
                Ok(m) => {
                    let rate = m.rate();
                    let unit = if workload.counts_rows() {
                        " rows/s"
                    } else {
                        ""
                    };
                    let ratio = match baseline_rate {
                        Some(b) if rate > 0.0 => format!("{:.2}", b / rate),
                        _ => "–".to_owned(),
                    };
                    let cpu = m
                        .cpu_share()
                        .map(|c| format!("{:.0}%", c * 100.0))
                        .unwrap_or_else(|| "–".to_owned());
                    writeln!(
                        out,
                        "| {name} | {label} | {}{unit} | {} | {} | {ratio} | {cpu} | {} |",
                        thousands(rate),
                        micros(m.percentile_us(50.0)),
                        micros(m.percentile_us(99.0)),
                        thousands(m.samples() as f64),
                    )
                }
                Err(e) => writeln!(
                    out,
                    "| {name} | {label} | error: {} | – | – | – | – | – |",
                    e.replace('|', "/")
                ),
            };
        }
    }
    out
}

/// The lines under the table: how to read it, settings, fairness, versions.
pub(crate) fn footer(
    implementations: &[Implementation],
    entries: &[Entry],
    settings: &Settings,
    env: &Environment,
    db_dir: &Path,
) -> String {
    let mut out = String::new();
    let baseline = implementations
        .iter()
        .find(|i| i.baseline)
        .map_or("the raw driver", |i| i.label);
    let _ = writeln!(
        out,
        "- × raw sync = ({baseline} rate) / (this rate): >1 = slower. CPU = process CPU time / wall \
         time over the timed phase (100% = one core). n = timed operations (W5: number of loads; its \
         p50/p99 are per {}-row load).",
        settings.bulk_rows
    );
    let _ = writeln!(
        out,
        "- settings: {:.1} s or {} ops per workload after {} warm-up ops; bench_items {} rows; W2 {} \
         tasks over a pool of {}; W5 {} rows, at most {} loads; one run, not a median: absolute \
         numbers move 2-5x between runs on small VMs, read the ratios.",
        settings.duration.as_secs_f64(),
        thousands(settings.max_ops as f64),
        settings.warmup_ops,
        settings.table_rows,
        settings.tasks,
        settings.pool_size,
        settings.bulk_rows,
        settings.max_bulk_loads,
    );
    let shares: Vec<String> = entries
        .iter()
        .filter_map(|e| {
            let m = e.result.as_ref().ok()?;
            Some(format!(
                "{} {:.2}",
                implementations[e.implementation].label, m.min_share?
            ))
        })
        .collect();
    if !shares.is_empty() {
        let _ = writeln!(
            out,
            "- W2 fairness (ops of the least-served task / mean per task): {}",
            shares.join(", ")
        );
    }
    let fs = filesystem_of(db_dir)
        .map(|fs| format!(", {fs}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "- database files: fresh per implementation under {}{fs} (the file system decides W3/W5 sync cost)",
        db_dir.display()
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
    let _ = writeln!(out, "- SQLite (rusqlite bundled): {}", rusqlite::version());
    let crates = lock_versions(&["rusqlite", "libsqlite3-sys", "r2d2", "r2d2_sqlite", "tokio"]);
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
fn filesystem_of(dir: &Path) -> Option<String> {
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
fn lock_versions(names: &[&str]) -> String {
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
    fn number_formatting() {
        assert_eq!(thousands(1_234_567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(micros(Some(2.66)), "2.7");
        assert_eq!(micros(Some(38_512.0)), "38,512");
        assert_eq!(micros(None), "–");
    }
}
