//! SQLite: our `db-sqlite` layer against raw rusqlite (sync, and naively wrapped in
//! `spawn_blocking`), each on a fresh database file.

mod layer;
mod raw;

use std::path::{Path, PathBuf};

use crate::measure::BenchResult;
use crate::target::Implementation;
use crate::workload::{BULK_TABLE, Settings, item_name, item_score};

/// The SQLite rows of the report, baseline first.
pub(crate) static IMPLEMENTATIONS: &[Implementation] = &[
    Implementation {
        label: "rusqlite sync",
        baseline: true,
        open: raw::open_sync,
    },
    Implementation {
        label: "rusqlite + spawn_blocking",
        baseline: false,
        open: raw::open_spawn_blocking,
    },
    Implementation {
        label: "dblayer (db-sqlite)",
        baseline: false,
        open: layer::open,
    },
];

/// The PRAGMAs of the raw pools: the same as the layer's configuration in [`layer`]
/// (WAL, synchronous=NORMAL, 5 s busy timeout).
const RAW_PRAGMAS: &str =
    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;";

/// Busy timeout of every implementation, in milliseconds.
const BUSY_TIMEOUT_MS: u64 = 5000;

/// Drops and re-creates the bulk table (untimed, between W5 loads).
fn bulk_reset_sql() -> String {
    format!(
        "DROP TABLE IF EXISTS {BULK_TABLE}; \
         CREATE TABLE {BULK_TABLE} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL NOT NULL);"
    )
}

/// Creates a fresh database file `bench.db` in `dir` with the bench tables and
/// `settings.table_rows` rows in `bench_items`; returns its path.
fn prepare_db(dir: &Path, settings: &Settings) -> BenchResult<PathBuf> {
    let path = dir.join("bench.db");
    let mut conn = rusqlite::Connection::open(&path)?;
    conn.execute_batch(RAW_PRAGMAS)?;
    conn.execute_batch(&format!(
        "CREATE TABLE bench_items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL NOT NULL);
         CREATE TABLE bench_items_w3 (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL NOT NULL);
         {}",
        bulk_reset_sql()
    ))?;
    let tx = conn.transaction()?;
    {
        let mut stmt =
            tx.prepare("INSERT INTO bench_items (id, name, score) VALUES (?1, ?2, ?3)")?;
        for id in 1..=settings.table_rows {
            stmt.execute(rusqlite::params![id, item_name(id), item_score(id)])?;
        }
    }
    tx.commit()?;
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); ANALYZE;")?;
    Ok(path)
}
