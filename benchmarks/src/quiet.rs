//! Waiting for a quiet machine before each measurement: the all-CPU busy share from
//! `/proc/stat`, sampled over short windows until it drops below a threshold or the
//! wait expires.

use std::time::{Duration, Instant};

/// Length of one busy-share sample.
pub(crate) const SAMPLE: Duration = Duration::from_millis(200);

/// The machine counts as quiet below this all-CPU busy share.
pub(crate) const QUIET_BELOW: f64 = 0.30;

/// Cumulative CPU ticks of all CPUs (the `cpu` line of `/proc/stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CpuTicks {
    /// user + nice + system + irq + softirq + steal.
    busy: u64,
    /// `busy` + idle + iowait.
    total: u64,
}

/// Parses the aggregate `cpu` line of `/proc/stat`. Guest time is already counted in
/// user and nice, so it is left out; iowait counts as idle (no CPU runs), steal as
/// busy (another guest holds the physical CPU).
fn parse_proc_stat(stat: &str) -> Option<CpuTicks> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let field = |i: usize| v.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal
    if v.len() < 4 {
        return None;
    }
    let busy = field(0) + field(1) + field(2) + field(5) + field(6) + field(7);
    Some(CpuTicks {
        busy,
        total: busy + field(3) + field(4),
    })
}

/// Busy share (0..=1) between two readings; `None` if no tick elapsed.
fn busy_share(a: CpuTicks, b: CpuTicks) -> Option<f64> {
    let total = b.total.checked_sub(a.total)?;
    let busy = b.busy.checked_sub(a.busy)?;
    (total > 0).then(|| (busy as f64 / total as f64).min(1.0))
}

fn read_ticks() -> Option<CpuTicks> {
    parse_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// What one wait for a quiet machine saw.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wait {
    /// Busy share of the first sample.
    pub(crate) first: f64,
    /// Busy share of the last sample (the one the measurement started after).
    pub(crate) last: f64,
    /// Time spent waiting, the samples included.
    pub(crate) waited: Duration,
}

impl Wait {
    /// Whether the measurement started on a busy machine (the wait expired).
    pub(crate) fn busy(&self) -> bool {
        self.last >= QUIET_BELOW
    }
}

/// Samples the all-CPU busy share over [`SAMPLE`] windows until one is below
/// [`QUIET_BELOW`] or `max_wait` has passed (at least one sample is always taken).
/// `None` when `/proc/stat` cannot be read (not Linux).
pub(crate) fn wait_for_quiet(max_wait: Duration) -> Option<Wait> {
    let start = Instant::now();
    let mut before = read_ticks()?;
    let mut first = None;
    loop {
        std::thread::sleep(SAMPLE);
        let after = read_ticks()?;
        let share = busy_share(before, after).unwrap_or(0.0);
        before = after;
        let first = *first.get_or_insert(share);
        let waited = start.elapsed();
        if share < QUIET_BELOW || waited >= max_wait {
            return Some(Wait {
                first,
                last: share,
                waited,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_aggregate_cpu_line() {
        let stat = "cpu  100 5 50 800 20 3 2 10 7 0\ncpu0 50 2 25 400 10 1 1 5 3 0\nintr 1 2\n";
        assert_eq!(
            parse_proc_stat(stat),
            Some(CpuTicks {
                busy: 170,
                total: 990
            })
        );
        assert_eq!(parse_proc_stat("intr 1 2\n"), None);
        assert_eq!(parse_proc_stat("cpu  1 x 3 4\n"), None);
    }

    #[test]
    fn share_between_readings() {
        let a = CpuTicks {
            busy: 100,
            total: 1000,
        };
        let b = CpuTicks {
            busy: 130,
            total: 1040,
        };
        assert_eq!(busy_share(a, b), Some(0.75));
        assert_eq!(busy_share(a, a), None);
        assert_eq!(busy_share(b, a), None);
    }
}
