//! Our layer through the portable `dbcore` API, written once for every server driver so
//! that the PostgreSQL and MySQL rows measure exactly the same calls.
//!
//! Two ways in are measured: the driver's concrete type (`PgDatabase`, `MySqlDatabase`),
//! whose statement methods are inherent `async fn`s, as a service that depends on one
//! driver crate calls them (point selects with `query_one_as`); and `Box<dyn Database>`
//! from the factory, where every call goes through the object-safe trait and its boxed
//! future (point selects with `ExecutorExt::query_one_as`, over the object-safe
//! `Executor::query_opt_with`).

use std::future::Future;
use std::hint::black_box;
use std::time::Duration;

use dbcore::{Database, ExecutorExt, FromRow, TxOptions, Value, params};

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

/// The database handle a layer row calls: the statements of the timed loops, and the
/// rest of the portable API.
pub(crate) trait LayerDb: Send + Sync + 'static {
    /// One row decoded into `T`, as this way in reads it: the inherent `query_one_as` on
    /// the concrete type, `ExecutorExt::query_one_as` through `dyn Database`.
    fn query_one_as<'a, T: FromRow + Send + 'a>(
        &'a self,
        sql: &'a str,
        params: &'a [Value],
    ) -> impl Future<Output = dbcore::Result<T>> + Send + 'a;
    /// `execute` as this way in calls it.
    fn execute<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [Value],
    ) -> impl Future<Output = dbcore::Result<u64>> + Send + 'a;
    /// W4: one transaction of `UPDATE`s and an `INSERT`, as this way in runs it: the
    /// driver's concrete transaction where it has one, the boxed trait object otherwise.
    fn transaction(&self, keys: TxKeys) -> impl Future<Output = dbcore::Result<()>> + Send;
    /// Bulk loads and closing, through the portable trait.
    fn database(&self) -> &dyn Database;
}

/// The W4 transaction on `$db`, whose `begin` gives a transaction with `execute` and
/// `commit` (inherent or through the trait, whichever method-call syntax picks).
macro_rules! w4_transaction {
    ($db:expr, $keys:expr) => {{
        let keys: TxKeys = $keys;
        let tx = $db.begin(TxOptions::new()).await?;
        for id in keys.updates {
            tx.execute(UPDATE_SQL, &params![id]).await?;
        }
        let id = keys.insert;
        tx.execute(INSERT_SQL, &params![id, item_name(id), item_score(id)])
            .await?;
        tx.commit().await
    }};
}

/// Implements [`LayerDb`] for a driver's concrete type with its inherent methods.
macro_rules! concrete_layer_db {
    ($ty:ty) => {
        impl LayerDb for $ty {
            fn query_one_as<'a, T: FromRow + Send + 'a>(
                &'a self,
                sql: &'a str,
                params: &'a [Value],
            ) -> impl Future<Output = dbcore::Result<T>> + Send + 'a {
                <$ty>::query_one_as(self, sql, params)
            }
            fn execute<'a>(
                &'a self,
                sql: &'a str,
                params: &'a [Value],
            ) -> impl Future<Output = dbcore::Result<u64>> + Send + 'a {
                <$ty>::execute(self, sql, params)
            }
            async fn transaction(&self, keys: TxKeys) -> dbcore::Result<()> {
                w4_transaction!(self, keys)
            }
            fn database(&self) -> &dyn Database {
                self
            }
        }
    };
}

concrete_layer_db!(db_postgres::PgDatabase);
concrete_layer_db!(db_mysql::MySqlDatabase);

/// A driver behind `Box<dyn Database>`, as `dbfactory::connect` returns it.
pub(crate) struct DynDb(pub(crate) Box<dyn Database>);

impl std::fmt::Debug for DynDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DynDb")
    }
}

impl LayerDb for DynDb {
    fn query_one_as<'a, T: FromRow + Send + 'a>(
        &'a self,
        sql: &'a str,
        params: &'a [Value],
    ) -> impl Future<Output = dbcore::Result<T>> + Send + 'a {
        ExecutorExt::query_one_as(&*self.0, sql, params)
    }
    fn execute<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [Value],
    ) -> impl Future<Output = dbcore::Result<u64>> + Send + 'a {
        self.0.execute(sql, params)
    }
    async fn transaction(&self, keys: TxKeys) -> dbcore::Result<()> {
        w4_transaction!(self.0, keys)
    }
    fn database(&self) -> &dyn Database {
        &*self.0
    }
}

/// The layer's pool, used as an application would, plus the driver's admin connection.
#[derive(Debug)]
pub(crate) struct LayerOps<D, A> {
    pub(crate) db: D,
    pub(crate) admin: A,
}

impl<D: LayerDb, A: BulkAdmin> AsyncOps for LayerOps<D, A> {
    type BulkRows = Vec<Vec<Value>>;

    async fn point_select(&self, id: i64) -> BenchResult<()> {
        // Decoded into the tuple, as the raw drivers' typed reads build it directly.
        let decoded: (i64, String, f64) = self.db.query_one_as(SELECT_SQL, &params![id]).await?;
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
        self.db.transaction(keys).await?;
        Ok(())
    }

    fn bulk_rows(&self, n: usize) -> Self::BulkRows {
        (1..=n as i64)
            .map(|id| Vec::from(params![id, item_name(id), item_score(id)]))
            .collect()
    }

    async fn bulk_reset(&self) -> BenchResult<()> {
        self.admin.reset_bulk().await
    }

    async fn bulk_load(&self, rows: Self::BulkRows) -> BenchResult<()> {
        let expected = rows.len() as u64;
        let n = self
            .db
            .database()
            .insert_many(BULK_TABLE, &COLUMNS, rows)
            .await?;
        if n != expected {
            return Err(format!("insert_many reported {n} rows, expected {expected}").into());
        }
        Ok(())
    }

    async fn close(&self) -> BenchResult<()> {
        self.admin.close().await?;
        Ok(self.db.database().close(Duration::from_secs(5)).await?)
    }
}
