//! Our layer: `db_mysql::MySqlDatabase` through the portable `dbcore` API.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use db_mysql::MySqlDatabase;
use dbcore::{Database, Executor, MySqlConfig, TxOptions, Value, params};

use super::{Admin, Server};
use crate::measure::BenchResult;
use crate::target::{AsyncOps, AsyncTarget, Target};
use crate::workload::{
    BULK_TABLE, COLUMNS, INSERT_SQL, SELECT_SQL, Settings, TxKeys, UPDATE_SQL, item_name,
    item_score,
};

/// The layer's pool, used as an application would.
#[derive(Debug)]
pub(super) struct LayerOps {
    db: MySqlDatabase,
    admin: Admin,
}

impl AsyncOps for LayerOps {
    type BulkRows = Vec<Vec<Value>>;

    async fn point_select(&self, id: i64) -> BenchResult<()> {
        let row = self.db.query_one(SELECT_SQL, &params![id]).await?;
        let decoded: (i64, String, f64) = (row.get(0_usize)?, row.get(1_usize)?, row.get(2_usize)?);
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

/// Creates fresh tables and opens our layer: the pool size of the raw rows (all
/// connections may stay idle), no background health check, every other setting at its
/// default.
pub(super) fn open(server: Arc<Server>, settings: &Settings) -> BenchResult<Box<dyn Target>> {
    let settings = settings.clone();
    AsyncTarget::open(async move {
        let admin = Admin::prepare(&server, &settings).await?;
        let url = &server.url;
        let cfg = MySqlConfig::default()
            .with_host(url.host.as_str())
            .with_port(url.port)
            .with_name(server.database.as_str())
            .with_username(url.user.as_str())
            .with_password(url.password.as_str())
            .with_max_open_conns(settings.pool_size)
            .with_max_idle_conns(settings.pool_size)
            .with_health_check_interval(Duration::ZERO);
        let db = MySqlDatabase::connect(&cfg).await?;
        Ok(LayerOps { db, admin })
    })
}
