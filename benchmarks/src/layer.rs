//! Our layer through the portable `dbcore` API, written once for every server driver so
//! that the PostgreSQL and MySQL rows measure exactly the same calls.

use std::future::Future;
use std::hint::black_box;
use std::time::Duration;

use dbcore::{Database, TxOptions, Value, params};

use crate::measure::BenchResult;
use crate::target::AsyncOps;
use crate::workload::{
    BULK_TABLE, COLUMNS, INSERT_SQL, SELECT_SQL, TxKeys, UPDATE_SQL, item_name, item_score,
};

/// The untimed set-up connection of a server driver: empties the bulk table between
/// loads and closes at the end.
pub(crate) trait BulkAdmin: Send + Sync + 'static {
    /// Drops and re-creates the bulk table.
    fn reset_bulk(&self) -> impl Future<Output = BenchResult<()>> + Send;
    /// Disconnects.
    fn close(&self) -> impl Future<Output = BenchResult<()>> + Send {
        async { Ok(()) }
    }
}

/// The layer's pool, used as an application would, plus the driver's admin connection.
#[derive(Debug)]
pub(crate) struct LayerOps<D, A> {
    pub(crate) db: D,
    pub(crate) admin: A,
}

impl<D: Database + 'static, A: BulkAdmin> AsyncOps for LayerOps<D, A> {
    type BulkRows = Vec<Vec<Value>>;

    async fn point_select(&self, id: i64) -> BenchResult<()> {
        let row = self.db.query_one(SELECT_SQL, &params![id]).await?;
        // Moves the values out, as the raw drivers' typed reads build them directly.
        let decoded: (i64, String, f64) = row.decode()?;
        black_box(decoded);
        Ok(())
    }

    async fn insert(&self, id: i64) -> BenchResult<()> {
        self.db
            .execute(INSERT_SQL, &params![id, item_name(id), item_score(id)])
            .await?;
        Ok(())
    }

    async fn transaction(&self, keys: TxKeys) -> BenchResult<()> {
        let tx = self.db.begin(TxOptions::new()).await?;
        for id in keys.updates {
            tx.execute(UPDATE_SQL, &params![id]).await?;
        }
        let id = keys.insert;
        tx.execute(INSERT_SQL, &params![id, item_name(id), item_score(id)])
            .await?;
        tx.commit().await?;
        Ok(())
    }

    fn bulk_rows(&self, n: usize) -> Self::BulkRows {
        (1..=n as i64)
            .map(|id| params![id, item_name(id), item_score(id)])
            .collect()
    }

    async fn bulk_reset(&self) -> BenchResult<()> {
        self.admin.reset_bulk().await
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
        self.admin.close().await?;
        Ok(self.db.close(Duration::from_secs(5)).await?)
    }
}
