//! SQLite: our `db-sqlite` layer against raw rusqlite (sync, and naively wrapped in
//! `spawn_blocking`), each measurement on a fresh database file.

mod layer;
mod raw;

use std::path::{Path, PathBuf};

use crate::measure::{BenchResult, Measurement};
use crate::report::filesystem_of;
use crate::target::{Driver, Goal, Implementation, Opener, Suite, Target};
use crate::workload::{BULK_TABLE, Settings, Workload, item_name, item_score};

/// The goals of the layer's rows (`docs/benchmarks.md`).
const LAYER_GOALS: &[(Workload, Goal)] = &[
    (
        Workload::W1,
        Goal {
            max_ratio: 3.0,
            stated: "≤ 3× raw sync",
        },
    ),
    (
        Workload::W2,
        Goal {
            max_ratio: 1.1,
            stated: "≤ 1.1× raw sync",
        },
    ),
    (
        Workload::W5,
        Goal {
            max_ratio: 1.0 / 0.8,
            stated: "≥ 0.8× raw sync rows/s",
        },
    ),
];

/// The SQLite suite: database files in fresh scratch directories under `base`.
pub(crate) fn suite(base: &Path) -> Suite {
    let opener = |index: usize, open: fn(&Settings, &Path) -> BenchResult<Box<dyn Target>>| {
        let base = base.to_path_buf();
        let opener: Opener = Box::new(move |settings: &Settings| {
            let scratch = Scratch::new(&base, index).map_err(|e| {
                format!(
                    "cannot create a scratch directory under {}: {e}",
                    base.display()
                )
            })?;
            let inner = open(settings, &scratch.0)?;
            Ok(Box::new(ScratchTarget { inner, scratch }))
        });
        opener
    };
    let implementations = vec![
        Implementation {
            label: "rusqlite sync",
            baseline: true,
            targets: &[],
            open: opener(0, raw::open_sync),
        },
        Implementation {
            label: "rusqlite + spawn_blocking",
            baseline: false,
            targets: &[],
            open: opener(1, raw::open_spawn_blocking),
        },
        Implementation {
            label: "dblayer (db-sqlite)",
            baseline: false,
            targets: LAYER_GOALS,
            open: opener(2, layer::open),
        },
    ];
    let fs = filesystem_of(base)
        .map(|fs| format!(", {fs}"))
        .unwrap_or_default();
    let notes = vec![
        format!(
            "database files: fresh per measurement (round × workload × implementation) under \
             {}{fs} (the file system decides W3/W4/W5 sync cost); WAL, synchronous=NORMAL",
            base.display()
        ),
        "raw rows: an r2d2 pool of rusqlite connections (no check-out test), \
         `prepare_cached`; the layer: `SqliteDatabase::connect` with the same pool size and \
         PRAGMAs"
            .to_owned(),
    ];
    let mut versions = vec![format!(
        "SQLite (rusqlite bundled): {}",
        rusqlite::version()
    )];
    let crates =
        crate::report::lock_versions(&["rusqlite", "libsqlite3-sys", "r2d2", "r2d2_sqlite"]);
    if !crates.is_empty() {
        versions.push(format!("crates (SQLite): {crates}"));
    }
    Suite::new(Driver::Sqlite, implementations, notes, versions, None)
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

/// A target with its scratch directory, removed after the target is closed.
struct ScratchTarget {
    inner: Box<dyn Target>,
    scratch: Scratch,
}

impl Target for ScratchTarget {
    fn run(&mut self, workload: Workload, settings: &Settings) -> BenchResult<Measurement> {
        self.inner.run(workload, settings)
    }

    fn close(self: Box<Self>) -> BenchResult<()> {
        let ScratchTarget { inner, scratch } = *self;
        let result = inner.close();
        drop(scratch);
        result
    }
}

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
