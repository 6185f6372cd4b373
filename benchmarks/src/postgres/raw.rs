//! Raw tokio-postgres through a deadpool-postgres pool: the baseline.

use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;

use std::time::{Duration, Instant};

use deadpool_postgres::{
    Hook, HookError, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts,
};
use tokio_postgres::NoTls;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use super::{Admin, Server};
use crate::measure::BenchResult;
use crate::target::{AsyncOps, AsyncTarget, Target};
use crate::workload::{
    BULK_TABLE, INSERT_SQL, SELECT_SQL, Settings, TxKeys, UPDATE_SQL, item_name, item_score,
};

/// A plain deadpool pool: no TLS, recycling without a round trip, one `get()` per
/// operation, statements prepared once per connection (`prepare_cached`).
#[derive(Debug)]
pub(super) struct RawOps {
    pool: Pool,
    admin: Admin,
    copy_sql: String,
}

impl AsyncOps for RawOps {
    type BulkRows = Vec<(i64, String, f64)>;

    async fn point_select(&self, id: i64) -> BenchResult<()> {
        let client = self.pool.get().await?;
        let stmt = client.prepare_cached(SELECT_SQL).await?;
        let row = client.query_one(&stmt, &[&id]).await?;
        let decoded: (i64, String, f64) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        black_box(decoded);
        Ok(())
    }

    async fn insert(&self, id: i64) -> BenchResult<()> {
        let client = self.pool.get().await?;
        let stmt = client.prepare_cached(INSERT_SQL).await?;
        client
            .execute(&stmt, &[&id, &item_name(id), &item_score(id)])
            .await?;
        Ok(())
    }

    async fn transaction(&self, keys: TxKeys) -> BenchResult<()> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let update = tx.prepare_cached(UPDATE_SQL).await?;
        for id in keys.updates {
            tx.execute(&update, &[&id]).await?;
        }
        let insert = tx.prepare_cached(INSERT_SQL).await?;
        let id = keys.insert;
        tx.execute(&insert, &[&id, &item_name(id), &item_score(id)])
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
        let expected = rows.len() as u64;
        let client = self.pool.get().await?;
        let sink = client.copy_in(self.copy_sql.as_str()).await?;
        let mut writer = pin!(BinaryCopyInWriter::new(
            sink,
            &[Type::INT8, Type::TEXT, Type::FLOAT8]
        ));
        for (id, name, score) in &rows {
            let values: [&(dyn ToSql + Sync); 3] = [id, name, score];
            writer.as_mut().write(&values).await?;
        }
        let n = writer.as_mut().finish().await?;
        if n != expected {
            return Err(format!("COPY reported {n} rows, expected {expected}").into());
        }
        Ok(())
    }

    async fn close(&self) -> BenchResult<()> {
        self.pool.close();
        Ok(())
    }
}

/// Creates fresh tables and opens the raw pool.
pub(super) fn open(server: Arc<Server>, settings: &Settings) -> BenchResult<Box<dyn Target>> {
    open_with(server, settings, false)
}

/// The raw pool with the protections the layer keeps, written with deadpool's own tools
/// (a reference row): every wait, connect and recycle bounded by a 30 s timeout (tokio's
/// timer), and a pre-recycle hook that closes connections past a 5 min lifetime or 1 min
/// since their last checkout (the layer's default `connMaxLifetime` /
/// `connMaxIdleTime`).
pub(super) fn open_guarded(
    server: Arc<Server>,
    settings: &Settings,
) -> BenchResult<Box<dyn Target>> {
    open_with(server, settings, true)
}

fn open_with(
    server: Arc<Server>,
    settings: &Settings,
    guarded: bool,
) -> BenchResult<Box<dyn Target>> {
    const TIMEOUT: Duration = Duration::from_secs(30);
    const MAX_LIFETIME: Duration = Duration::from_secs(300);
    const MAX_IDLE: Duration = Duration::from_secs(60);
    let settings = settings.clone();
    AsyncTarget::open(async move {
        let admin = Admin::prepare(&server, &settings).await?;
        let manager = Manager::from_config(
            server.native("dbbench-raw", true),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let mut builder = Pool::builder(manager).max_size(settings.pool_size as usize);
        if guarded {
            builder = builder
                .runtime(Runtime::Tokio1)
                .timeouts(Timeouts {
                    wait: Some(TIMEOUT),
                    create: Some(TIMEOUT),
                    recycle: Some(TIMEOUT),
                })
                .pre_recycle(Hook::sync_fn(|_client, metrics| {
                    let now = Instant::now();
                    let idle_since = metrics.recycled.unwrap_or(metrics.created);
                    if now.duration_since(metrics.created) >= MAX_LIFETIME
                        || now.duration_since(idle_since) >= MAX_IDLE
                    {
                        return Err(HookError::message("expired"));
                    }
                    Ok(())
                }));
        }
        let pool = builder.build()?;
        Ok(RawOps {
            pool,
            admin,
            copy_sql: format!("COPY {BULK_TABLE} (id, name, score) FROM STDIN (FORMAT binary)"),
        })
    })
}
