//! Raw rusqlite through an r2d2 pool: synchronous (the baseline) and wrapped in
//! `tokio::task::spawn_blocking` per query (the naive async bridge).

use std::future::Future;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use r2d2_sqlite::SqliteConnectionManager;

use super::{RAW_PRAGMAS, bulk_reset_sql, prepare_db};
use crate::measure::BenchResult;
use crate::target::{AsyncOps, AsyncTarget, SyncOps, SyncTarget, Target};
use crate::workload::{
    BULK_TABLE, INSERT_SQL, SELECT_SQL, Settings, TxKeys, UPDATE_SQL, item_name, item_score,
    sqlite_placeholders,
};

/// A plain r2d2 pool, no check-out test; one `get()` per operation.
#[derive(Debug)]
pub(super) struct RawOps {
    pool: r2d2::Pool<SqliteConnectionManager>,
    select_sql: String,
    insert_sql: String,
    update_sql: String,
    bulk_sql: String,
    reset_sql: String,
}

impl RawOps {
    fn open(settings: &Settings, dir: &Path) -> BenchResult<Self> {
        let path = prepare_db(dir, settings)?;
        let manager =
            SqliteConnectionManager::file(path).with_init(|c| c.execute_batch(RAW_PRAGMAS));
        let pool = r2d2::Pool::builder()
            .max_size(settings.pool_size)
            .test_on_check_out(false)
            .build(manager)?;
        Ok(RawOps {
            pool,
            select_sql: sqlite_placeholders(SELECT_SQL),
            insert_sql: sqlite_placeholders(INSERT_SQL),
            update_sql: sqlite_placeholders(UPDATE_SQL),
            bulk_sql: format!("INSERT INTO {BULK_TABLE} (id, name, score) VALUES (?1, ?2, ?3)"),
            reset_sql: bulk_reset_sql(),
        })
    }
}

impl SyncOps for RawOps {
    type BulkRows = Vec<(i64, String, f64)>;

    fn point_select(&self, id: i64) -> BenchResult<()> {
        let conn = self.pool.get()?;
        let mut stmt = conn.prepare_cached(&self.select_sql)?;
        let row: (i64, String, f64) =
            stmt.query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        black_box(row);
        Ok(())
    }

    fn insert(&self, id: i64) -> BenchResult<()> {
        let conn = self.pool.get()?;
        let mut stmt = conn.prepare_cached(&self.insert_sql)?;
        stmt.execute(rusqlite::params![id, item_name(id), item_score(id)])?;
        Ok(())
    }

    fn transaction(&self, keys: TxKeys) -> BenchResult<()> {
        let mut conn = self.pool.get()?;
        // The layer starts read-write transactions with BEGIN IMMEDIATE too.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut update = tx.prepare_cached(&self.update_sql)?;
            for id in keys.updates {
                update.execute([id])?;
            }
            let mut insert = tx.prepare_cached(&self.insert_sql)?;
            let id = keys.insert;
            insert.execute(rusqlite::params![id, item_name(id), item_score(id)])?;
        }
        tx.commit()?;
        Ok(())
    }

    fn bulk_rows(&self, n: usize) -> Self::BulkRows {
        (1..=n as i64)
            .map(|id| (id, item_name(id), item_score(id)))
            .collect()
    }

    fn bulk_reset(&self) -> BenchResult<()> {
        Ok(self.pool.get()?.execute_batch(&self.reset_sql)?)
    }

    fn bulk_load(&self, rows: Self::BulkRows) -> BenchResult<()> {
        let mut conn = self.pool.get()?;
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(&self.bulk_sql)?;
            for (id, name, score) in rows {
                stmt.execute(rusqlite::params![id, name, score])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

/// Opens the synchronous baseline.
pub(super) fn open_sync(settings: &Settings, dir: &Path) -> BenchResult<Box<dyn Target>> {
    Ok(Box::new(SyncTarget(Arc::new(RawOps::open(settings, dir)?))))
}

/// [`RawOps`], each operation in its own `spawn_blocking` call.
#[derive(Debug)]
pub(super) struct SpawnBlockingOps(Arc<RawOps>);

impl SpawnBlockingOps {
    fn call<T, F>(&self, f: F) -> impl Future<Output = BenchResult<T>> + Send + use<T, F>
    where
        F: FnOnce(&RawOps) -> BenchResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let raw = Arc::clone(&self.0);
        async move { tokio::task::spawn_blocking(move || f(&raw)).await? }
    }
}

impl AsyncOps for SpawnBlockingOps {
    type BulkRows = Vec<(i64, String, f64)>;

    fn point_select(&self, id: i64) -> impl Future<Output = BenchResult<()>> + Send {
        self.call(move |raw| raw.point_select(id))
    }

    fn insert(&self, id: i64) -> impl Future<Output = BenchResult<()>> + Send {
        self.call(move |raw| raw.insert(id))
    }

    fn transaction(&self, keys: TxKeys) -> impl Future<Output = BenchResult<()>> + Send {
        self.call(move |raw| raw.transaction(keys))
    }

    fn bulk_rows(&self, n: usize) -> Self::BulkRows {
        self.0.bulk_rows(n)
    }

    fn bulk_reset(&self) -> impl Future<Output = BenchResult<()>> + Send {
        self.call(|raw| raw.bulk_reset())
    }

    fn bulk_load(&self, rows: Self::BulkRows) -> impl Future<Output = BenchResult<()>> + Send {
        self.call(move |raw| raw.bulk_load(rows))
    }
}

/// Opens the `spawn_blocking` wrapper on its own 2-worker runtime.
pub(super) fn open_spawn_blocking(settings: &Settings, dir: &Path) -> BenchResult<Box<dyn Target>> {
    let raw = RawOps::open(settings, dir)?;
    AsyncTarget::open(async move { Ok(SpawnBlockingOps(Arc::new(raw))) })
}
