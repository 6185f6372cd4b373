//! [`PgDatabase`]: the pool behind the portable [`Database`] API.

use std::any::Any;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dbcore::deadline::{Deadline, Elapsed};
use dbcore::observe::{self, no_rows, rows_affected, traced};
use dbcore::{
    Database, DatabaseType, Error, ErrorKind, Executor, FromRow, HealthCheck, HealthMonitor,
    InsertPlan, PlaceholderStyle, PoolStats, PostgresConfig, PreparedSql, Result, Row, RowReader,
    SqlCache, Transaction, TxOptions, Value, prepare_sql, retry_connect,
};
use deadpool_postgres::{Object, Pool, PoolError, TimeoutType};

use crate::config::{PgOptions, to_native};
use crate::conn::{self, PooledConn, Shared, build_pool, spawn_reaper};
use crate::error::{describe_tls, map_pool_error};
use crate::exec::{self, Fetched, PortableRows, ReadRows, ReaderRows, Shape, TypedRows};
use crate::tls::{self, Tls};
use crate::transaction::PgTransaction;

/// A pool of PostgreSQL connections behind the portable [`Database`] API, on
/// tokio-postgres and deadpool-postgres.
///
/// - Statements are prepared once per connection and cached; parameters are converted
///   to the types the server inferred (`$1` of an `int4` column gets a range-checked
///   `int4`).
/// - Checking a connection out costs no round trip: the layer never lets a connection
///   go back to the pool inside a transaction, so there is nothing to verify.
/// - Connections past `connMaxLifetime` or `connMaxIdleTime` are closed and replaced
///   (counted in [`PoolStats`]); idle connections beyond `maxIdleConns` are closed.
///
/// Clone it freely: clones share the pool. Raw access: [`PgDatabase::pool`].
#[derive(Clone)]
pub struct PgDatabase {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: PostgresConfig,
    pub(crate) pool: Pool,
    pub(crate) shared: Arc<Shared>,
    pub(crate) tls: Tls,
    pub(crate) cache: SqlCache,
    target: String,
    closed: AtomicBool,
    /// `close`'s grace period is over: connections still in use are cut off (their
    /// next statement fails with [`Error::PoolClosed`] and they are closed, not
    /// returned).
    pub(crate) cut_off: AtomicBool,
    health: Mutex<Option<HealthMonitor>>,
    reaper: Mutex<Option<tokio::task::AbortHandle>>,
    /// The checkout deadlines (creation bounded by `timeout`; waits by the layer).
    timeouts: deadpool_postgres::Timeouts,
    /// What the start-up check of the pool settings against the server's limits found.
    limit_warnings: Vec<String>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(mut reaper) = self.reaper.lock()
            && let Some(task) = reaper.take()
        {
            task.abort();
        }
        self.pool.close();
    }
}

impl std::fmt::Debug for PgDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgDatabase")
            .field("target", &self.inner.target)
            .field("ssl_mode", &self.inner.config.ssl_mode)
            .field("closed", &self.inner.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl PgDatabase {
    /// Validates `config` and connects (with `maxRetries` / `retryDelay` for failures
    /// that can heal; a wrong password, an unknown database or a TLS mismatch fail after
    /// one attempt with their own [`ErrorKind`]), then starts the health check.
    pub async fn connect(config: &PostgresConfig) -> Result<Self> {
        Self::connect_with(config, PgOptions::new()).await
    }

    /// [`connect`](Self::connect) with PostgreSQL-specific options (application name,
    /// search path, retry callback).
    pub async fn connect_with(config: &PostgresConfig, options: PgOptions) -> Result<Self> {
        let span = observe::connect_span(PG, &config.target());
        observe::timed(span, Self::open(config, options)).await
    }

    async fn open(config: &PostgresConfig, options: PgOptions) -> Result<Self> {
        config.validate()?;
        let native = to_native(config, &options)?;
        let tls = tls::connector(config.ssl_mode)?;
        let shared = Arc::new(Shared::new(config));
        let pool = build_pool(native, tls.clone(), config, &shared)?;
        let target = config.target();
        let timeout = config.timeout;
        let ssl_mode = config.ssl_mode;
        let first = retry_connect(
            &config.retry_policy(),
            &target,
            |_| {
                let pool = pool.clone();
                async move {
                    pool.get()
                        .await
                        .map_err(|e| describe_tls(map_pool_error(e, timeout), ssl_mode))
                }
            },
            |event| options.hooks().report_retry(event),
        )
        .await?;
        let limit_warnings = match crate::limits::read(&first).await {
            Ok(limits) => crate::limits::warnings(config, &limits),
            Err(e) => {
                tracing::debug!(target: "db_postgres", error = %e, "could not read the server's limits");
                Vec::new()
            }
        };
        for warning in &limit_warnings {
            tracing::warn!(target: "db_postgres", "{warning}");
        }
        // Back into the pool, with its idle clock started.
        drop(PooledConn::new(first, &shared, &tls));

        let reaper = spawn_reaper(&pool, &shared, config.max_idle_conns, config.max_open_conns);
        let db = PgDatabase {
            inner: Arc::new(Inner {
                config: config.clone(),
                pool,
                shared,
                tls,
                cache: SqlCache::new(),
                target,
                closed: AtomicBool::new(false),
                cut_off: AtomicBool::new(false),
                health: Mutex::new(None),
                reaper: Mutex::new(reaper),
                limit_warnings,
                timeouts: conn::checkout_timeouts(config.timeout),
            }),
        };
        db.start_health_monitor();
        tracing::debug!(target: "db_postgres", db = ?db, "connected");
        Ok(db)
    }

    fn start_health_monitor(&self) {
        let interval = self.inner.config.health_check_interval;
        let monitor = HealthMonitor::watch(interval, &self.inner, |inner| async move {
            PgDatabase { inner }.ping().await
        });
        if let Ok(mut slot) = self.inner.health.lock() {
            *slot = Some(monitor);
        }
    }

    /// Raw access to the native pool.
    ///
    /// The layer cannot see what is done on a connection taken from this pool directly
    /// (a `BEGIN` left open would otherwise swallow the writes of every later user of
    /// that connection). So once this has been called, a connection that went back
    /// through the raw pool is closed at its next checkout instead of being reused, and
    /// a new one is opened in its place (counted in `PoolStats::discarded`). Connections
    /// the layer itself gives back are reused as before. Keep a raw connection as long
    /// as you need it rather than taking one per statement.
    pub fn pool(&self) -> &Pool {
        self.inner.shared.enable_raw_access(&self.inner.pool);
        &self.inner.pool
    }

    /// The configuration this database was opened with.
    pub fn config(&self) -> &PostgresConfig {
        &self.inner.config
    }

    /// Checks `sql` (one statement, no transaction control, the right parameter count)
    /// through the shared SQL cache.
    pub(crate) fn prepare(&self, sql: &str, params: usize) -> Result<Arc<PreparedSql>> {
        prepare(&self.inner.cache, sql, params)
    }

    /// Checks a connection out, waiting at most `timeout`.
    pub(crate) async fn acquire(&self) -> Result<PooledConn<'_>> {
        acquire(&self.inner).await
    }
}

pub(crate) fn prepare(cache: &SqlCache, sql: &str, params: usize) -> Result<Arc<PreparedSql>> {
    let prepared = cache.get_or_prepare(sql, PlaceholderStyle::Dollar)?;
    prepared.check_single_statement()?;
    prepared.check_not_transaction_control()?;
    prepared.check_params(params)?;
    Ok(prepared)
}

pub(crate) async fn acquire(inner: &Inner) -> Result<PooledConn<'_>> {
    let mut conn = PooledConn::vacant(&inner.shared, &inner.tls);
    acquire_into(inner, &mut conn).await?;
    Ok(conn)
}

/// Checks a connection out into `conn` (vacant), waiting at most `timeout`.
///
/// The pooled object is a few hundred bytes: it is stored where the checkout yields it,
/// in the caller's handle, instead of being returned through the layers of futures
/// (each of which would copy it).
pub(crate) async fn acquire_into(inner: &Inner, conn: &mut PooledConn<'_>) -> Result<()> {
    if inner.closed.load(Ordering::Acquire) {
        return Err(Error::PoolClosed);
    }
    // An idle connection is handed over at the first poll: no clock read, no deadline
    // (`dbcore::deadline`, not `tokio::time::timeout`: see there), no span. Only a
    // checkout that has to wait, or to open a connection, gets them. The pool's future
    // is polled here, so the connection goes from its output straight into `conn`.
    let mut checkout = std::pin::pin!(inner.pool.timeout_get(&inner.timeouts));
    let mut deadline = Deadline::new(inner.config.timeout);
    let mut get = std::future::poll_fn(|cx| {
        let got = match checkout.as_mut().poll(cx) {
            Poll::Ready(got) => got,
            Poll::Pending => match deadline.poll_expired(cx) {
                Poll::Ready(Elapsed) => Err(wait_timed_out(inner)),
                Poll::Pending => return Poll::Pending,
            },
        };
        let waited_since = deadline.waited_since();
        Poll::Ready(match got {
            Ok(obj) => {
                // A wait is a checkout that got a connection someone else gave back
                // (its last recycle is this checkout's); one that waited only for a new
                // connection to open is not. The recycle's time is when the wait
                // ended: no need to read the clock again.
                if let (Some(started), Some(recycled)) =
                    (waited_since, Object::metrics(&obj).recycled)
                {
                    inner
                        .shared
                        .record_wait(recycled.saturating_duration_since(started));
                }
                conn.fill(obj);
                Ok(())
            }
            Err(e) => Err(checkout_error(inner, e, waited_since)),
        })
    });
    if observe::acquire_traced() {
        // Boxed: inline, the traced path's state would enlarge every checkout's
        // future (and every future holding one), traced or not.
        Box::pin(observe::traced_checkout(PG, &mut get)).await
    } else {
        get.await
    }
}

/// The pool error of a checkout whose deadline passed: an exhausted pool when all
/// `maxOpenConns` connections exist. With fewer, the wait was not for one to come back:
/// a connect (this checkout's or another's, holding the slot) did not finish (a server
/// that does not answer, a partition), which is a connect failure.
fn wait_timed_out(inner: &Inner) -> PoolError {
    let status = inner.pool.status();
    PoolError::Timeout(if status.size < status.max_size {
        TimeoutType::Create
    } else {
        TimeoutType::Wait
    })
}

/// The error of a failed checkout (counted as a wait and a timeout when it timed out).
fn checkout_error(inner: &Inner, e: PoolError, waited_since: Option<Instant>) -> Error {
    let timeout = inner.config.timeout;
    let err = map_pool_error(e, timeout);
    match err.kind() {
        ErrorKind::PoolTimeout => {
            let started = waited_since.unwrap_or_else(Instant::now);
            inner.shared.record_wait(started.elapsed());
            inner.shared.record_acquire_timeout();
            err
        }
        ErrorKind::PoolClosed | ErrorKind::Other => err,
        _ => Error::Connect {
            target: inner.target.clone(),
            attempts: 1,
            source: Box::new(describe_tls(err, inner.config.ssl_mode)),
        },
    }
}

/// Runs `$body` (an expression using `$client: &ClientWrapper` that yields a future of
/// `Result`) on a checked-out connection. A connection whose statement was cancelled
/// mid-flight, or that reports a lost connection, is not reused.
macro_rules! on_conn {
    ($db:expr, $client:ident => $body:expr) => {{
        let mut conn = PooledConn::vacant(&$db.inner.shared, &$db.inner.tls);
        acquire_into(&$db.inner, &mut conn).await?;
        conn.busy = true;
        let result = {
            let $client = conn.client();
            $body.await
        };
        conn.busy = false;
        match result {
            Ok(v) => Ok(v),
            Err(e) => Err(conn.check_error(e)),
        }
    }};
}

/// [`on_conn!`] with the statement's round trip bounded by `$limit` (the checkout has its
/// own deadline): a connection that does not answer in time (a partition, a hung
/// server) fails with [`Error::Timeout`] naming `$what`; the statement is cancelled on
/// the server and the connection discarded, as for any statement dropped mid-flight.
macro_rules! on_conn_within {
    ($db:expr, $limit:expr, $what:expr, $client:ident => $body:expr) => {{
        let mut conn = PooledConn::vacant(&$db.inner.shared, &$db.inner.tls);
        acquire_into(&$db.inner, &mut conn).await?;
        conn.busy = true;
        let limit: Duration = $limit;
        let answered = {
            let $client = conn.client();
            tokio::time::timeout(limit, $body).await
        };
        match answered {
            Ok(result) => {
                conn.busy = false;
                match result {
                    Ok(v) => Ok(v),
                    Err(e) => Err(conn.check_error(e)),
                }
            }
            // `conn` is dropped busy: cancelled on the server, not reused.
            Err(_) => Err(Error::Timeout {
                what: $what,
                after: limit,
            }),
        }
    }};
}

impl PgDatabase {
    /// [`Database::begin`] without the boxed future and the trait object: the concrete
    /// [`PgTransaction`], whose statement methods are inherent too. On the concrete type,
    /// method-call syntax picks this one.
    pub async fn begin(&self, options: TxOptions) -> Result<PgTransaction<'static>> {
        let conn = self
            .acquire()
            .await?
            .into_owned(Arc::clone(&self.inner.shared), self.inner.tls.clone());
        PgTransaction::begin(Arc::clone(&self.inner), conn, options).await
    }

    /// [`Executor::execute`] without the boxed future of the object-safe trait: on the
    /// concrete type, method-call syntax picks this one.
    pub async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        match observe::statement_span(None, PG, "execute", sql) {
            None => self.run_execute(sql, params).await,
            // Boxed, as in `fetch`.
            Some(span) => {
                let run = self.run_execute(sql, params);
                Box::pin(observe::traced_in(
                    span,
                    PG,
                    "execute",
                    sql,
                    rows_affected,
                    run,
                ))
                .await
            }
        }
    }

    /// [`Executor::query`] without the boxed future of the object-safe trait.
    pub async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let rows = self.fetch(sql, params, Shape::All, PortableRows).await?;
        Ok(rows.into_vec())
    }

    /// [`Executor::query_one`] without the boxed future of the object-safe trait.
    pub async fn query_one(&self, sql: &str, params: &[Value]) -> Result<Row> {
        let rows = self
            .fetch(sql, params, Shape::AtMostOne, PortableRows)
            .await?;
        rows.into_iter().next().ok_or(Error::RowNotFound)
    }

    /// [`Executor::query_opt`] without the boxed future of the object-safe trait.
    pub async fn query_opt(&self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        let rows = self
            .fetch(sql, params, Shape::AtMostOne, PortableRows)
            .await?;
        Ok(rows.into_iter().next())
    }

    /// `query_one(..)` then [`Row::decode`], with the row decoded straight from the
    /// server's answer into `T` (no [`Row`] built): exactly one row
    /// ([`Error::RowNotFound`] / [`Error::TooManyRows`] otherwise), with as many columns
    /// as `T` has elements; a column that does not fit is named in the error.
    ///
    /// ```no_run
    /// # async fn run(db: &db_postgres::PgDatabase) -> db_postgres::Result<()> {
    /// use db_postgres::params;
    /// let (id, name): (i64, String) = db
    ///     .query_one_as("SELECT id, name FROM users WHERE id = $1", &params![7])
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn query_one_as<T: FromRow + Send>(&self, sql: &str, params: &[Value]) -> Result<T> {
        self.query_opt_as(sql, params)
            .await?
            .ok_or(Error::RowNotFound)
    }

    /// `query_opt(..)` then [`Row::decode`], decoded straight into `T` as
    /// [`query_one_as`](Self::query_one_as) does: `None` for no row.
    pub async fn query_opt_as<T: FromRow + Send>(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<Option<T>> {
        let rows = self
            .fetch(sql, params, Shape::AtMostOne, TypedRows::<T>::new())
            .await?;
        Ok(rows.into_iter().next())
    }

    /// The rows of one query on a pooled connection, as `read` converts them (the body
    /// of every query method, without a boxed future per call).
    async fn fetch<R>(
        &self,
        sql: &str,
        params: &[Value],
        shape: Shape,
        read: R,
    ) -> Result<Fetched<R::Out>>
    where
        R: ReadRows + Send,
        R::Out: Send,
    {
        match observe::statement_span(None, PG, "query", sql) {
            None => self.run_query(sql, params, shape, read).await,
            // Boxed: the traced path would otherwise double the size of every call's
            // future, traced or not.
            Some(span) => {
                let run = self.run_query(sql, params, shape, read);
                Box::pin(observe::traced_in(
                    span,
                    PG,
                    "query",
                    sql,
                    exec::rows_in,
                    run,
                ))
                .await
            }
        }
    }

    /// `execute` without its span.
    async fn run_execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        let prepared = self.prepare(sql, params.len())?;
        on_conn!(self, client => exec::execute(client, &prepared, params))
    }

    /// `fetch` without its span.
    async fn run_query<R>(
        &self,
        sql: &str,
        params: &[Value],
        shape: Shape,
        read: R,
    ) -> Result<Fetched<R::Out>>
    where
        R: ReadRows + Send,
        R::Out: Send,
    {
        let prepared = self.prepare(sql, params.len())?;
        on_conn!(self, client => exec::query(client, &prepared, params, shape, read))
    }

    /// `execute_batch` without its span.
    async fn run_script(&self, sql: &str) -> Result<()> {
        // A script with transaction control could leave the session inside a
        // transaction or with changed transaction characteristics.
        let control = match prepare_sql(sql, PlaceholderStyle::Dollar) {
            Ok(p) if !p.contains_transaction_control() => None,
            Ok(p) => Some(
                p.transaction_control()
                    .unwrap_or("transaction control")
                    .to_owned(),
            ),
            Err(_) => Some("transaction control".to_owned()),
        };
        let Some(statement) = control else {
            return on_conn!(self, client => exec::batch(client, sql));
        };
        let mut conn = self.acquire().await?;
        conn.busy = true;
        let result = exec::batch(conn.client(), sql).await;
        let left_open = exec::in_transaction(conn.client()).await;
        conn.busy = false;
        // Not reused either way: the script may have changed session state.
        conn.discard();
        result?;
        if left_open {
            return Err(Error::TransactionControl {
                statement: format!(
                    "{statement} (the script left a transaction open; it was rolled back)"
                ),
            });
        }
        Ok(())
    }
}

const PG: DatabaseType = DatabaseType::Postgres;

#[async_trait]
impl Executor for PgDatabase {
    fn database_type(&self) -> DatabaseType {
        DatabaseType::Postgres
    }

    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        PgDatabase::execute(self, sql, params).await
    }

    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        PgDatabase::query(self, sql, params).await
    }

    async fn query_one(&self, sql: &str, params: &[Value]) -> Result<Row> {
        PgDatabase::query_one(self, sql, params).await
    }

    async fn query_opt(&self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        PgDatabase::query_opt(self, sql, params).await
    }

    async fn query_opt_with(
        &self,
        sql: &str,
        params: &[Value],
        read: &mut RowReader<'_>,
    ) -> Result<bool> {
        let rows = self
            .fetch(sql, params, Shape::AtMostOne, ReaderRows(read))
            .await?;
        Ok(!rows.is_empty())
    }

    async fn execute_batch(&self, sql: &str) -> Result<()> {
        traced(
            None,
            PG,
            "execute_batch",
            sql,
            no_rows,
            self.run_script(sql),
        )
        .await
    }

    async fn for_each_row(
        &self,
        sql: &str,
        params: &[Value],
        f: &mut (dyn FnMut(Row) -> Result<()> + Send),
    ) -> Result<u64> {
        traced(None, PG, "for_each_row", sql, rows_affected, async {
            let prepared = self.prepare(sql, params.len())?;
            on_conn!(self, client => exec::for_each_row(client, &prepared, params, f))
        })
        .await
    }

    async fn insert_many(
        &self,
        table: &str,
        columns: &[&str],
        rows: Vec<Vec<Value>>,
    ) -> Result<u64> {
        if rows.is_empty() {
            InsertPlan::new(DatabaseType::Postgres, table, columns, &rows)?;
            return Ok(0);
        }
        let load = async {
            on_conn!(self, client => async {
                // One COPY is atomic; the INSERT fallback gets a transaction of its own.
                if let Some(n) = exec::copy_in(client, table, columns, &rows, false).await? {
                    return Ok(n);
                }
                exec::batch(client, "BEGIN").await?;
                match exec::insert_rows(client, table, columns, &rows).await {
                    Ok(n) => exec::batch(client, "COMMIT").await.map(|()| n),
                    Err(e) => {
                        exec::batch(client, "ROLLBACK").await?;
                        Err(e)
                    }
                }
            })
        };
        traced(None, PG, "insert_many", table, rows_affected, load).await
    }
}

#[async_trait]
impl Database for PgDatabase {
    async fn begin(&self, options: TxOptions) -> Result<Box<dyn Transaction>> {
        Ok(Box::new(PgDatabase::begin(self, options).await?))
    }

    /// An empty query on a pooled connection. Its answer is awaited at most `timeout`
    /// (the configured connect and acquire deadline): `health()` and the background
    /// health check report a connection that does not answer (a partition, a hung
    /// server) as unhealthy instead of waiting for TCP to give up, and that connection
    /// is discarded.
    async fn ping(&self) -> Result<Duration> {
        let started = Instant::now();
        let limit = self.inner.config.timeout;
        on_conn_within!(self, limit, "ping", client => exec::batch(client, ""))?;
        Ok(started.elapsed())
    }

    /// `SHOW server_version`, its answer awaited at most `timeout` (as for `ping`).
    async fn server_version(&self) -> Result<String> {
        let prepared = self.prepare("SHOW server_version", 0)?;
        let limit = self.inner.config.timeout;
        let rows = on_conn_within!(self, limit, "server_version", client => {
            exec::query(client, &prepared, &[], Shape::AtMostOne, PortableRows)
        })?;
        let row = rows.into_iter().next().ok_or(Error::RowNotFound)?;
        let version: String = row.get(0)?;
        Ok(format!("PostgreSQL {version}"))
    }

    fn last_health_check(&self) -> Option<HealthCheck> {
        self.inner.health.lock().ok()?.as_ref()?.last()
    }

    fn limit_warnings(&self) -> &[String] {
        &self.inner.limit_warnings
    }

    fn stats(&self) -> PoolStats {
        self.inner
            .shared
            .snapshot(&self.inner.pool, self.inner.config.max_open_conns)
    }

    async fn close(&self, grace: Duration) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        if let Some(monitor) = self.inner.health.lock().ok().and_then(|mut h| h.take()) {
            monitor.stop();
        }
        if let Some(task) = self.inner.reaper.lock().ok().and_then(|mut r| r.take()) {
            task.abort();
        }
        if let Err(in_use) = dbcore::wait_until_idle(grace, || self.stats().in_use).await {
            tracing::warn!(
                target: "db_postgres",
                in_use,
                "closing with connections still in use: their next statement fails \
                     and they are closed"
            );
            self.inner.cut_off.store(true, Ordering::Release);
        }
        // Idle connections close now; one still in use closes when it is returned.
        self.inner.pool.close();
        self.inner.shared.forget_all();
        Ok(())
    }

    fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
