//! Raw mysql_async: the baseline (per-checkout reset off) and the reference row (reset
//! on, mysql_async's default).

use std::hint::black_box;
use std::sync::Arc;

use mysql_async::prelude::Queryable;
use mysql_async::{Params, Pool, TxOpts};

use super::{Admin, BULK_BATCH, Server, multi_insert_sql};
use crate::measure::BenchResult;
use crate::target::{AsyncOps, AsyncTarget, Target};
use crate::workload::{
    BULK_TABLE, INSERT_SQL, SELECT_SQL, Settings, TxKeys, UPDATE_SQL, item_name, item_score,
};

/// MySQL's `?` placeholders for the portable `$N` bench SQL (which has no string
/// literals and uses each placeholder once, in order).
fn question_marks(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// A mysql_async pool, one `get_conn()` per operation, prepared statements cached per
/// connection by mysql_async.
#[derive(Debug)]
pub(super) struct RawOps {
    pool: Pool,
    admin: Admin,
    select_sql: String,
    insert_sql: String,
    update_sql: String,
    bulk_sql: String,
}

impl AsyncOps for RawOps {
    type BulkRows = Vec<(i64, String, f64)>;

    async fn point_select(&self, id: i64) -> BenchResult<()> {
        let mut conn = self.pool.get_conn().await?;
        let row: Option<(i64, String, f64)> =
            conn.exec_first(self.select_sql.as_str(), (id,)).await?;
        let decoded = row.ok_or_else(|| format!("bench_items row {id} not found"))?;
        black_box(decoded);
        Ok(())
    }

    async fn insert(&self, id: i64) -> BenchResult<()> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            self.insert_sql.as_str(),
            (id, item_name(id), item_score(id)),
        )
        .await?;
        Ok(())
    }

    async fn transaction(&self, keys: TxKeys) -> BenchResult<()> {
        let mut conn = self.pool.get_conn().await?;
        let mut tx = conn.start_transaction(TxOpts::default()).await?;
        for id in keys.updates {
            tx.exec_drop(self.update_sql.as_str(), (id,)).await?;
        }
        let id = keys.insert;
        tx.exec_drop(
            self.insert_sql.as_str(),
            (id, item_name(id), item_score(id)),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    fn bulk_rows(&self, n: usize) -> Self::BulkRows {
        (1..=n as i64)
            .map(|id| (id, item_name(id), item_score(id)))
            .collect()
    }

    async fn bulk_reset(&self) -> BenchResult<()> {
        self.admin.reset_bulk().await
    }

    async fn bulk_load(&self, rows: Self::BulkRows) -> BenchResult<()> {
        let mut conn = self.pool.get_conn().await?;
        let mut tx = conn.start_transaction(TxOpts::default()).await?;
        let mut rows = rows.into_iter();
        while rows.len() > 0 {
            let n = rows.len().min(BULK_BATCH);
            let mut params = Vec::with_capacity(n * 3);
            for (id, name, score) in rows.by_ref().take(n) {
                params.push(mysql_async::Value::Int(id));
                params.push(mysql_async::Value::Bytes(name.into_bytes()));
                params.push(mysql_async::Value::Double(score));
            }
            let partial;
            let sql = if n == BULK_BATCH {
                self.bulk_sql.as_str()
            } else {
                partial = multi_insert_sql(BULK_TABLE, n);
                partial.as_str()
            };
            tx.exec_drop(sql, Params::Positional(params)).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn close(&self) -> BenchResult<()> {
        self.admin.close().await?;
        self.pool.clone().disconnect().await?;
        Ok(())
    }
}

fn open(
    server: Arc<Server>,
    settings: &Settings,
    reset_connection: bool,
) -> BenchResult<Box<dyn Target>> {
    let settings = settings.clone();
    AsyncTarget::open(async move {
        let admin = Admin::prepare(&server, &settings).await?;
        let pool = Pool::new(server.pool_opts(settings.pool_size as usize, reset_connection));
        Ok(RawOps {
            pool,
            admin,
            select_sql: question_marks(SELECT_SQL),
            insert_sql: question_marks(INSERT_SQL),
            update_sql: question_marks(UPDATE_SQL),
            bulk_sql: multi_insert_sql(BULK_TABLE, BULK_BATCH),
        })
    })
}

/// Creates fresh tables and opens the baseline: per-checkout reset off.
pub(super) fn open_reset_off(
    server: Arc<Server>,
    settings: &Settings,
) -> BenchResult<Box<dyn Target>> {
    open(server, settings, false)
}

/// Creates fresh tables and opens the reference row: mysql_async's default reset on.
pub(super) fn open_reset_on(
    server: Arc<Server>,
    settings: &Settings,
) -> BenchResult<Box<dyn Target>> {
    open(server, settings, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        assert_eq!(
            question_marks(INSERT_SQL),
            "INSERT INTO bench_items_w3 (id, name, score) VALUES (?, ?, ?)"
        );
        assert_eq!(
            question_marks(SELECT_SQL),
            "SELECT id, name, score FROM bench_items WHERE id = ?"
        );
        assert_eq!(
            multi_insert_sql("t", 2),
            "INSERT INTO t (id, name, score) VALUES (?, ?, ?), (?, ?, ?)"
        );
    }
}
