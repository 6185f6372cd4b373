//! The workloads and the settings shared by every implementation.

use std::fmt;
use std::time::Duration;

/// A benchmark workload. Numbering follows `research/baseline.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub(crate) enum Workload {
    /// W1: sequential point select by primary key, one task.
    W1,
    /// W2: point selects from many concurrent tasks over a pool.
    W2,
    /// W3: single-row insert in autocommit.
    W3,
    /// W4: a transaction of five statements (four single-row `UPDATE`s by primary key,
    /// one `INSERT`), then `COMMIT`; one task.
    W4,
    /// W5: bulk insert of many rows on the fastest path.
    W5,
}

impl Workload {
    /// Every workload, in report order.
    pub(crate) const ALL: [Workload; 5] = [
        Workload::W1,
        Workload::W2,
        Workload::W3,
        Workload::W4,
        Workload::W5,
    ];

    /// A short description for the table.
    pub(crate) fn describe(self, s: &Settings) -> String {
        match self {
            Workload::W1 => "W1 point select".to_owned(),
            Workload::W2 => format!("W2 point select, {} tasks / pool {}", s.tasks, s.pool_size),
            Workload::W3 => "W3 insert (autocommit)".to_owned(),
            Workload::W4 => format!("W4 transaction, {} statements", TX_UPDATES + 1),
            Workload::W5 => format!("W5 bulk insert {}k rows", s.bulk_rows / 1000),
        }
    }

    /// Whether the workload can run again and again on the same tables (it reads, or
    /// inserts keys no other run uses), so its measurement can be cut into slices
    /// interleaved with the other implementations' (see `Settings::slices`). W5 is
    /// measured per bulk load instead.
    pub(crate) fn sliceable(self) -> bool {
        !matches!(self, Workload::W5)
    }

    /// Whether the rate is rows/s (bulk loads) rather than ops/s.
    pub(crate) fn counts_rows(self) -> bool {
        self == Workload::W5
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Workload::W1 => "W1",
            Workload::W2 => "W2",
            Workload::W3 => "W3",
            Workload::W4 => "W4",
            Workload::W5 => "W5",
        };
        f.write_str(s)
    }
}

/// How long and how big each workload runs, and how often; the same for every
/// implementation.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Timed phase of each workload.
    pub(crate) duration: Duration,
    /// Upper bound on timed operations per workload.
    pub(crate) max_ops: u64,
    /// Untimed operations before the timed phase.
    pub(crate) warmup_ops: u64,
    /// Rows in `bench_items`, the table the point selects read.
    pub(crate) table_rows: i64,
    /// Concurrent tasks (or threads) in W2.
    pub(crate) tasks: usize,
    /// Pool size (max open connections).
    pub(crate) pool_size: u32,
    /// Rows per bulk load in W5.
    pub(crate) bulk_rows: usize,
    /// At most this many bulk loads in W5 per round (at least one always runs).
    pub(crate) max_bulk_loads: usize,
    /// Rounds: every (workload, implementation) is measured this many times; the
    /// report shows medians.
    pub(crate) rounds: usize,
    /// Before each measurement, wait at most this long for a quiet machine (zero: no
    /// check).
    pub(crate) quiet_wait: Duration,
    /// W1 to W4: each round's measurement of an implementation is
    /// cut into this many slices, run in turn with the other implementations' slices,
    /// all of them open at once (1: one piece per implementation, one after another).
    pub(crate) slices: usize,
}

/// The point-select statement, with portable `$1` placeholders.
pub(crate) const SELECT_SQL: &str = "SELECT id, name, score FROM bench_items WHERE id = $1";
/// The W3 insert statement.
pub(crate) const INSERT_SQL: &str =
    "INSERT INTO bench_items_w3 (id, name, score) VALUES ($1, $2, $3)";
/// The W4 update statement (run [`TX_UPDATES`] times per transaction).
pub(crate) const UPDATE_SQL: &str = "UPDATE bench_items SET score = score + 1 WHERE id = $1";
/// `UPDATE`s per W4 transaction; one [`INSERT_SQL`] follows them.
pub(crate) const TX_UPDATES: usize = 4;

/// The keys of one W4 transaction: the `bench_items` rows it updates, and the new row it
/// inserts into `bench_items_w3`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TxKeys {
    /// Rows of `bench_items` to update, in this order.
    pub(crate) updates: [i64; TX_UPDATES],
    /// The id of the row inserted into `bench_items_w3`.
    pub(crate) insert: i64,
}

/// The table W5 loads.
pub(crate) const BULK_TABLE: &str = "bench_items_bulk";
/// Columns of every bench table.
pub(crate) const COLUMNS: [&str; 3] = ["id", "name", "score"];

/// The `name` column of row `id`.
pub(crate) fn item_name(id: i64) -> String {
    format!("item-{id:07}")
}

/// The `score` column of row `id`.
pub(crate) fn item_score(id: i64) -> f64 {
    (id % 1000) as f64 / 8.0
}

/// Replaces `$N` placeholders by `?N` (SQLite's numbered form) for raw drivers; the
/// bench SQL has no string literals, so no lexer is needed.
pub(crate) fn sqlite_placeholders(sql: &str) -> String {
    sql.replace('$', "?")
}
