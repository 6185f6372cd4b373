//! Measuring: per-operation latencies, wall and CPU time, percentiles.

use std::time::{Duration, Instant};

/// The error type of the benchmark: any error, with a message.
pub(crate) type BenchError = Box<dyn std::error::Error + Send + Sync>;

/// Result of a benchmark step.
pub(crate) type BenchResult<T> = Result<T, BenchError>;

/// What one implementation achieved on one workload.
#[derive(Debug, Clone)]
pub(crate) struct Measurement {
    /// Operations completed in the timed phase (rows, for bulk loads).
    pub(crate) ops: u64,
    /// Wall time of the timed phase.
    pub(crate) wall: Duration,
    /// CPU time of the whole process (all threads) during the timed phase, if readable.
    pub(crate) cpu: Option<Duration>,
    /// Latency of each timed operation in nanoseconds, sorted ascending.
    latencies_ns: Vec<u64>,
    /// Concurrent workloads: operations of the least-served task divided by the mean
    /// per task (1.0 = perfectly fair, 0 = some task never ran).
    pub(crate) min_share: Option<f64>,
}

impl Measurement {
    /// A measurement from its parts; sorts the latencies.
    pub(crate) fn new(
        ops: u64,
        wall: Duration,
        cpu: Option<Duration>,
        mut latencies_ns: Vec<u64>,
    ) -> Self {
        latencies_ns.sort_unstable();
        Measurement {
            ops,
            wall,
            cpu,
            latencies_ns,
            min_share: None,
        }
    }

    /// Adds `later`, another slice of the same measurement: operations, wall and CPU
    /// time add up, the latencies join, fairness is the worse of the two.
    pub(crate) fn absorb(&mut self, later: Measurement) {
        self.ops += later.ops;
        self.wall += later.wall;
        self.cpu = self.cpu.zip(later.cpu).map(|(a, b)| a + b);
        self.latencies_ns.extend(later.latencies_ns);
        self.latencies_ns.sort_unstable();
        self.min_share = match (self.min_share, later.min_share) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// Operations per second of wall time.
    pub(crate) fn rate(&self) -> f64 {
        let secs = self.wall.as_secs_f64();
        if secs > 0.0 {
            self.ops as f64 / secs
        } else {
            0.0
        }
    }

    /// The `p`-th percentile (0..=100) of the latencies in microseconds, by the
    /// nearest-rank method.
    pub(crate) fn percentile_us(&self, p: f64) -> Option<f64> {
        percentile(&self.latencies_ns, p).map(|ns| ns as f64 / 1000.0)
    }

    /// How many latencies were recorded (operations, or loads for bulk workloads).
    pub(crate) fn samples(&self) -> usize {
        self.latencies_ns.len()
    }

    /// CPU time divided by wall time (1.0 = one core busy).
    pub(crate) fn cpu_share(&self) -> Option<f64> {
        let wall = self.wall.as_secs_f64();
        self.cpu
            .filter(|_| wall > 0.0)
            .map(|c| c.as_secs_f64() / wall)
    }
}

/// Nearest-rank percentile of sorted `values`.
fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Collects the latencies of one loop (one task or thread) until a deadline or an
/// operation count is reached.
///
/// ```text
/// let mut rec = Recorder::new(Instant::now(), duration, max_ops);
/// while rec.more() { let t0 = Instant::now(); op(); rec.record(t0); }
/// ```
#[derive(Debug)]
pub(crate) struct Recorder {
    deadline: Instant,
    max_ops: u64,
    last: Instant,
    latencies_ns: Vec<u64>,
}

impl Recorder {
    /// A recorder for a loop that starts at `start` and runs for `duration` or
    /// `max_ops` operations, whichever comes first.
    pub(crate) fn new(start: Instant, duration: Duration, max_ops: u64) -> Self {
        Recorder {
            deadline: start + duration,
            max_ops: max_ops.max(1),
            last: start,
            latencies_ns: Vec::with_capacity(1 << 16),
        }
    }

    /// Whether the loop should run another operation.
    #[inline]
    pub(crate) fn more(&self) -> bool {
        (self.latencies_ns.len() as u64) < self.max_ops && self.last < self.deadline
    }

    /// Records an operation that started at `t0` and has just finished.
    #[inline]
    pub(crate) fn record(&mut self, t0: Instant) {
        let t1 = Instant::now();
        self.latencies_ns.push(duration_ns(t1 - t0));
        self.last = t1;
    }

    /// The recorded latencies (ns), unsorted.
    pub(crate) fn into_latencies(self) -> Vec<u64> {
        self.latencies_ns
    }
}

/// A duration in whole nanoseconds, saturating.
pub(crate) fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Wall and process CPU time since a start point.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    wall: Instant,
    cpu: Option<Duration>,
}

impl Clock {
    /// Starts measuring now.
    pub(crate) fn start() -> Self {
        Clock {
            cpu: process_cpu_time(),
            wall: Instant::now(),
        }
    }

    /// When the clock started.
    pub(crate) fn started(&self) -> Instant {
        self.wall
    }

    /// Wall time and CPU time elapsed since [`Clock::start`].
    pub(crate) fn stop(&self) -> (Duration, Option<Duration>) {
        let wall = self.wall.elapsed();
        let cpu = match (self.cpu, process_cpu_time()) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        };
        (wall, cpu)
    }
}

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`, 100 on every mainstream
/// Linux architecture; read without libc's `sysconf` to keep dependencies out).
const USER_HZ: u64 = 100;

/// User + system CPU time of this process (all threads, including exited ones), from
/// `/proc/self/stat`; `None` off Linux. Resolution is one tick (10 ms), fine for
/// runs of half a second and more.
pub(crate) fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_stat_cpu(&stat)
}

/// Parses utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line. The command
/// name (field 2) may contain spaces and parentheses, so fields are counted from the
/// last `)`.
fn parse_stat_cpu(stat: &str) -> Option<Duration> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // `rest` starts at field 3 (state); utime is field 14.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = utime + stime;
    Some(Duration::from_millis(ticks * 1000 / USER_HZ))
}

/// The median of `values` (the mean of the two middle values for an even count);
/// `None` if empty. NaNs sort last.
pub(crate) fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// The spread `(max - min) / median` of `values`; `None` for fewer than two values or
/// a median that is not positive.
pub(crate) fn spread(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let med = median(values).filter(|m| *m > 0.0)?;
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    Some((max - min) / med)
}

/// Pseudo-random primary keys in `1..=rows` (xorshift64*), deterministic per seed, so
/// that every implementation reads the same key sequence.
#[derive(Debug, Clone)]
pub(crate) struct KeyGen {
    state: u64,
    rows: u64,
}

impl KeyGen {
    /// A generator for keys `1..=rows`, seeded with `seed`.
    pub(crate) fn new(seed: u64, rows: i64) -> Self {
        KeyGen {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            rows: u64::try_from(rows.max(1)).unwrap_or(1),
        }
    }

    /// The next key.
    #[inline]
    pub(crate) fn next_key(&mut self) -> i64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        // rows <= i64::MAX, so the key fits.
        (1 + r % self.rows) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn stat_parsing_counts_from_last_paren() {
        let line =
            "1234 (my (weird) name) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 3 0";
        assert_eq!(parse_stat_cpu(line), Some(Duration::from_secs(3)));
    }

    #[test]
    fn slices_add_up() {
        let mut sum = Measurement::new(
            3,
            Duration::from_millis(100),
            Some(Duration::from_millis(50)),
            vec![30, 10, 20],
        );
        sum.min_share = Some(0.9);
        let mut later = Measurement::new(
            2,
            Duration::from_millis(300),
            Some(Duration::from_millis(70)),
            vec![25, 5],
        );
        later.min_share = Some(0.8);
        sum.absorb(later);
        assert_eq!(sum.ops, 5);
        assert_eq!(sum.wall, Duration::from_millis(400));
        assert_eq!(sum.cpu, Some(Duration::from_millis(120)));
        assert_eq!(sum.min_share, Some(0.8));
        assert_eq!(sum.samples(), 5);
        assert!((sum.rate() - 12.5).abs() < 1e-9);
        assert_eq!(sum.percentile_us(20.0), Some(0.005));
        assert_eq!(sum.percentile_us(100.0), Some(0.030));
        // A slice without a CPU reading leaves the sum without one.
        sum.absorb(Measurement::new(1, Duration::from_millis(1), None, vec![1]));
        assert_eq!(sum.cpu, None);
    }

    #[test]
    fn medians_and_spreads() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(spread(&[3.0]), None);
        assert_eq!(spread(&[250.0, 790.0, 500.0]), Some(540.0 / 500.0));
        assert_eq!(spread(&[0.0, 0.0]), None);
    }

    #[test]
    fn keys_stay_in_range() {
        let mut k = KeyGen::new(3, 10);
        for _ in 0..1000 {
            let key = k.next_key();
            assert!((1..=10).contains(&key));
        }
    }
}
