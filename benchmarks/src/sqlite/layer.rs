//! Our layer: `db_sqlite::SqliteDatabase` through the portable `dbcore::Executor` API.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use db_sqlite::SqliteDatabase;
use dbcore::config::{JournalMode, SyncMode};
use dbcore::{Database, Executor, SqliteConfig, TxOptions, Value};

use super::{BUSY_TIMEOUT_MS, bulk_reset_sql, prepare_db};
use crate::measure::BenchResult;
use crate::target::{AsyncOps, AsyncTarget, Target};
use crate::workload::{
    BULK_TABLE, COLUMNS, INSERT_SQL, SELECT_SQL, Settings, TxKeys, UPDATE_SQL, item_name,
    item_score,
};

/// The layer's pool, used as an application would.
#[derive(Debug)]
pub(super) struct LayerOps {
    db: SqliteDatabase,
    reset_sql: String,
}

impl AsyncOps for LayerOps {
    type BulkRows = Vec<Vec<Value>>;

    async fn point_select(&self, id: i64) -> BenchResult<()> {
        // Decoded into the tuple, as rusqlite's typed reads build it directly.
        let decoded: (i64, String, f64) = self
            .db
            .query_opt_as(SELECT_SQL, &[Value::Int(id)])
            .await?
            .ok_or_else(|| format!("bench_items row {id} not found"))?;
        black_box(decoded);
        Ok(())
    }

    async fn insert(&self, id: i64) -> BenchResult<()> {
        let params = [
            Value::Int(id),
            Value::Text(item_name(id)),
            Value::Float(item_score(id)),
        ];
        self.db.execute(INSERT_SQL, &params).await?;
        Ok(())
    }

    async fn transaction(&self, keys: TxKeys) -> BenchResult<()> {
        let tx = self.db.begin(TxOptions::new()).await?;
        for id in keys.updates {
            tx.execute(UPDATE_SQL, &[Value::Int(id)]).await?;
        }
        let id = keys.insert;
        let params = [
            Value::Int(id),
            Value::Text(item_name(id)),
            Value::Float(item_score(id)),
        ];
        tx.execute(INSERT_SQL, &params).await?;
        tx.commit().await?;
        Ok(())
    }

    fn bulk_rows(&self, n: usize) -> Self::BulkRows {
        (1..=n as i64)
            .map(|id| {
                vec![
                    Value::Int(id),
                    Value::Text(item_name(id)),
                    Value::Float(item_score(id)),
                ]
            })
            .collect()
    }

    async fn bulk_reset(&self) -> BenchResult<()> {
        Ok(self.db.execute_batch(&self.reset_sql).await?)
    }

    async fn bulk_load(&self, rows: Self::BulkRows) -> BenchResult<()> {
        let expected = rows.len() as u64;
        let n = self.db.insert_many(BULK_TABLE, &COLUMNS, rows).await?;
        if n != expected {
            return Err(format!("insert_many reported {n} rows, expected {expected}").into());
        }
        Ok(())
    }

    async fn close(&self) -> BenchResult<()> {
        Ok(self.db.close(Duration::from_secs(5)).await?)
    }
}

/// Opens our layer on a fresh database: `SqliteConfig::default()` with the file, pool
/// size and PRAGMAs of the raw rows (WAL, synchronous=NORMAL, 5 s busy timeout); its
/// other settings (cache size, foreign keys, health check) stay at their defaults.
pub(super) fn open(settings: &Settings, dir: &Path) -> BenchResult<Box<dyn Target>> {
    let path = prepare_db(dir, settings)?;
    let mut cfg = SqliteConfig::default();
    cfg.file_path = path
        .to_str()
        .ok_or_else(|| format!("database path {} is not UTF-8", path.display()))?
        .to_owned();
    cfg.max_open_conns = settings.pool_size;
    cfg.max_idle_conns = settings.pool_size;
    cfg.timeout = Duration::from_millis(BUSY_TIMEOUT_MS);
    cfg.journal_mode = JournalMode::Wal;
    cfg.sync_mode = SyncMode::Normal;
    AsyncTarget::open(async move {
        let db = SqliteDatabase::connect(&cfg).await?;
        Ok(LayerOps {
            db,
            reset_sql: bulk_reset_sql(),
        })
    })
}
