//! [`SqliteDatabase`]: the pool, the worker threads and the inline read path.

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dbcore::observe;
use dbcore::{
    Database, DatabaseType, Error, ErrorKind, Executor, FromRow, HealthCheck, HealthMonitor,
    InsertPlan, PlaceholderStyle, PoolStats, PreparedSql, Result, Row, SqlCache, SqliteConfig,
    Transaction, TxOptions, Value,
};
use futures_util::FutureExt;
use rusqlite::Connection;

use crate::error::map_error;
use crate::exec::{self, Op, Output, Params, Rows, Shape};
use crate::manager::{Conn, DeadlineGuard, Manager, ManagerCounters, Target};
use crate::reply::{self, Answer};
use crate::stats::{Counters, EventHandler};
use crate::transaction::SqliteTransaction;
use crate::worker::{self, Job, Live, LiveParts, Pool, Ticket, WorkerContext};

/// How long a read may run on the calling async thread before it is interrupted and
/// handed to a worker thread instead.
const INLINE_BUDGET: Duration = Duration::from_micros(250);

/// A pool of SQLite connections behind the portable [`Database`] API.
///
/// Writes, transactions and scripts run on dedicated worker threads (one per pooled
/// connection, fed from one shared queue), so SQLite's blocking calls, lock waits and
/// fsyncs never stall the async executor. Short read-only queries run inline on the
/// calling thread when a connection is idle, with hard limits: at most 250 µs of SQLite
/// work (then the statement is interrupted and re-run on a worker), and no lock wait
/// (a busy database sends the query to a worker instead). That avoids two thread
/// wake-ups per point query, which otherwise cost several times the query itself.
///
/// Cancellation: dropping the future of a statement that runs on a worker (a
/// `tokio::time::timeout` around it, a cancelled request) interrupts the statement
/// (`SQLITE_INTERRUPT` through the connection's progress handler, which watches that
/// statement's caller only), so the worker, the connection and SQLite's locks are free
/// again within moments; SQLite undoes the interrupted statement, and a connection
/// left inside a transaction is discarded. A statement still queued is never started.
/// Inside a transaction the whole transaction is rolled back (see
/// [`SqliteTransaction`]). An inline read cannot be cancelled mid-run (it runs within
/// one poll), but it is bounded to 250 µs. [`with_connection`](Self::with_connection)
/// closures run to their end.
///
/// Clone it freely: clones share the pool.
#[derive(Clone)]
pub struct SqliteDatabase {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    config: SqliteConfig,
    target: Target,
    live: Live,
    workers: Mutex<Vec<JoinHandle<()>>>,
    pub(crate) cache: SqlCache,
    counters: Arc<Counters>,
    /// Operations in progress (inline or on a worker).
    active: AtomicUsize,
    closed: AtomicBool,
    /// `close`'s grace period is over: a transaction still open is cut off (its next
    /// statement fails with [`Error::PoolClosed`] and it is rolled back).
    pub(crate) cut_off: AtomicBool,
    /// Keeps an in-memory database alive while the pool opens and closes connections.
    keeper: Mutex<Option<Connection>>,
    health: Mutex<Option<HealthMonitor>>,
}

impl std::fmt::Debug for SqliteDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteDatabase")
            .field("target", &self.inner.target.describe())
            .field("closed", &self.inner.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl SqliteDatabase {
    /// Validates `config`, opens the database (creating the file and its directory if
    /// needed), applies the PRAGMAs and starts the pool and its worker threads.
    ///
    /// Fails with [`ErrorKind::Config`] for invalid settings and
    /// [`ErrorKind::UnknownDatabase`] when the file cannot be opened.
    pub async fn connect(config: &SqliteConfig) -> Result<Self> {
        let span = observe::connect_span(DatabaseType::Sqlite, &config.target());
        observe::timed(span, Self::open(config)).await
    }

    async fn open(config: &SqliteConfig) -> Result<Self> {
        config.validate()?;

        let config = config.clone();
        let target = Target::from_config(&config);
        let describe = target.describe();
        let opened = tokio::task::spawn_blocking(move || open_pool(config, target))
            .await
            .map_err(|e| Error::Internal(format!("opening the SQLite pool panicked: {e}")))?;
        let inner = opened.map_err(|e| Error::Connect {
            target: describe,
            attempts: 1,
            source: Box::new(e),
        })?;
        let db = SqliteDatabase {
            inner: Arc::new(inner),
        };
        db.start_health_monitor();
        tracing::debug!(target: "db_sqlite", db = ?db, "connected");
        Ok(db)
    }

    fn start_health_monitor(&self) {
        let interval = self.inner.config.health_check_interval;
        let monitor = HealthMonitor::watch(interval, &self.inner, |inner| async move {
            SqliteDatabase { inner }.ping().await
        });
        if let Ok(mut slot) = self.inner.health.lock() {
            *slot = Some(monitor);
        }
    }

    /// The configuration this database was opened with.
    pub fn config(&self) -> &SqliteConfig {
        &self.inner.config
    }

    /// Raw access: runs `f` with a pooled native [`rusqlite::Connection`] on a blocking
    /// thread. The connection must be left in autocommit mode; one left inside a
    /// transaction is discarded by the pool rather than reused. Dropping the returned
    /// future does not stop `f`: it runs to its end.
    pub async fn with_connection<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool()?;
        let timeout = self.inner.config.timeout;
        tokio::task::spawn_blocking(move || {
            let mut conn = pool
                .get_timeout(timeout)
                .map_err(|_| Error::PoolTimeout(timeout))?;
            let c: &mut Conn = &mut conn;
            f(&mut c.conn).map_err(map_error)
        })
        .await
        .map_err(|e| Error::Internal(format!("native connection closure panicked: {e}")))?
    }

    fn pool(&self) -> Result<Pool> {
        let live = self.inner.live.read().map_err(|_| Error::PoolClosed)?;
        live.as_ref()
            .map(|l| l.pool.clone())
            .ok_or(Error::PoolClosed)
    }

    pub(crate) fn prepare(&self, sql: &str, params: usize) -> Result<Arc<PreparedSql>> {
        prepare(&self.inner.cache, sql, params)
    }

    /// A ticket for a job queued now.
    fn ticket(&self) -> Ticket {
        Ticket {
            waits_since: (!self.inner.counters.any_worker_idle()).then(Instant::now),
        }
    }

    /// Waits for a queued job's outcome. If no worker has started the job by the pool
    /// deadline, the job is withdrawn and the caller gets [`Error::PoolTimeout`].
    /// Dropping this future (dropping `rx`) cancels the job: a worker skips it if it has
    /// not started, and interrupts it if it runs.
    async fn outcome<T>(&self, mut rx: Answer<Result<T>>) -> Result<T> {
        let timeout = self.inner.config.timeout;
        match tokio::time::timeout(timeout, &mut rx).await {
            Ok(outcome) => outcome.map_err(|_| Error::PoolClosed)?,
            Err(_) if rx.withdraw() => {
                self.inner.counters.record_wait(timeout);
                self.inner.counters.record_timeout();
                Err(Error::PoolTimeout(timeout))
            }
            // A worker has started the job: its outcome decides.
            Err(_) => rx.await.map_err(|_| Error::PoolClosed)?,
        }
    }

    fn send(&self, job: Job) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::PoolClosed);
        }
        let live = self.inner.live.read().map_err(|_| Error::PoolClosed)?;
        let live = live.as_ref().ok_or(Error::PoolClosed)?;
        live.jobs.send(job).map_err(|_| Error::PoolClosed)
    }

    async fn run(&self, op: Op) -> Result<Output> {
        let _active = ActiveGuard::enter(&self.inner.active);
        let ticket = self.ticket();
        let (reply, rx) = reply::channel();
        self.send(Job::Run { op, reply, ticket })?;
        self.outcome(rx).await
    }

    /// A read answered on the calling thread when it may run there
    /// ([`inline_candidate`](Self::inline_candidate), [`try_inline`](Self::try_inline));
    /// `None` means "use a worker". The inline run happens within one poll, so it cannot
    /// be cancelled half-way; the 250 µs budget bounds it instead.
    async fn inline<R: Send>(
        &self,
        sql: &PreparedSql,
        read: impl FnOnce(&Connection) -> Result<Option<R>> + Send,
        count: impl FnOnce(&R) -> u64 + Send,
    ) -> Option<Result<R>> {
        let active = self.inline_candidate(sql)?;
        let result = self.try_inline(sql, read, count)?;
        drop(active);
        // Let other tasks run now and then: inline queries never return Pending.
        tokio::task::consume_budget().await;
        Some(result)
    }

    /// Runs a read-only query on the calling thread if a connection is idle and the
    /// statement finishes within the inline budget without waiting for a lock: `read`
    /// runs it on the connection (`Ok(None)`: not inline after all), `count` gives the
    /// rows of its answer for the trace. `None` means "use a worker".
    fn try_inline<R>(
        &self,
        sql: &PreparedSql,
        read: impl FnOnce(&Connection) -> Result<Option<R>>,
        count: impl FnOnce(&R) -> u64,
    ) -> Option<Result<R>> {
        if self.inner.closed.load(Ordering::Acquire) {
            return None;
        }
        let mut conn = {
            let live = self.inner.live.read().ok()?;
            live.as_ref()?.pool.try_get()?
        };
        let c: &mut Conn = &mut conn;
        if c.conn.busy_timeout(Duration::ZERO).is_err() {
            c.broken = true;
            return None;
        }
        let span = observe::statement_span(None, DatabaseType::Sqlite, "query", &sql.sql);
        let started = Instant::now();
        let result = {
            let _entered = span.as_ref().map(tracing::Span::enter);
            let _deadline = DeadlineGuard::set(Some(started + INLINE_BUDGET));
            read(&c.conn)
        };
        // Recorded only when the inline run is the answer; a query handed on to a worker
        // gets the worker's span as well.
        if let Some(span) = &span {
            let outcome = match &result {
                Ok(Some(rows)) => Some(Ok(Some(count(rows)))),
                Err(e) if !matches!(e.kind(), ErrorKind::Timeout | ErrorKind::Busy) => Some(Err(e)),
                _ => None,
            };
            if let Some(outcome) = outcome {
                observe::finish_statement(
                    span,
                    DatabaseType::Sqlite,
                    "query",
                    &sql.sql,
                    started.elapsed(),
                    outcome,
                );
            }
        }
        if c.conn.busy_timeout(self.inner.config.timeout).is_err() {
            c.broken = true;
        }
        match result {
            Ok(Some(rows)) => Some(Ok(rows)),
            Ok(None) => None,
            Err(e) if matches!(e.kind(), ErrorKind::Timeout | ErrorKind::Busy) => None,
            Err(e) => Some(Err(e)),
        }
    }

    /// Whether a query may run inline: it reads (the statement itself is checked for
    /// being read-only once prepared) and no other operation is in progress. Under
    /// concurrent load the hand-off cost is shared by many queries and the workers keep
    /// every core busy, whereas inline callers would block the executor threads on
    /// SQLite's file locks. The guard counts this operation while it lives.
    fn inline_candidate(&self, sql: &PreparedSql) -> Option<ActiveGuard<'_>> {
        let readable = matches!(
            sql.leading_keyword.as_deref(),
            Some("SELECT" | "VALUES" | "WITH")
        );
        if !readable {
            return None;
        }
        let active = ActiveGuard::enter(&self.inner.active);
        (active.others() == 0).then_some(active)
    }

    /// `query_opt_as`: at most one row, decoded straight from the native row.
    async fn query_typed<T: FromRow + Send + 'static>(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<Option<T>> {
        let prepared = self.prepare(sql, params.len())?;
        let read = |conn: &Connection| {
            inline_query_as::<T>(conn, &prepared, params, exec::decode_row::<T>)
        };
        let count = |row: &Option<T>| u64::from(row.is_some());
        if let Some(result) = self.inline(&prepared, read, count).await {
            return result;
        }
        self.run(Op::QueryAs {
            sql: prepared,
            params: Params::from(params),
            decode: exec::decode_row::<T>,
        })
        .await?
        .typed()
    }

    async fn query_rows(&self, sql: &str, params: &[Value], shape: Shape) -> Result<Rows> {
        let prepared = self.prepare(sql, params.len())?;
        let read = |conn: &Connection| inline_query(conn, &prepared, params, shape);
        if let Some(result) = self.inline(&prepared, read, Rows::count).await {
            return result;
        }
        self.run(Op::Query {
            sql: prepared,
            params: Params::from(params),
            shape,
        })
        .await?
        .rows()
    }
}

/// Counts operations in progress on a database for as long as it lives.
struct ActiveGuard<'a> {
    counter: &'a AtomicUsize,
    others: usize,
}

impl<'a> ActiveGuard<'a> {
    fn enter(counter: &'a AtomicUsize) -> Self {
        let others = counter.fetch_add(1, Ordering::AcqRel);
        ActiveGuard { counter, others }
    }

    /// Operations that were already in progress when this one started.
    fn others(&self) -> usize {
        self.others
    }
}

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::AcqRel);
    }
}

fn inline_query(
    conn: &Connection,
    sql: &PreparedSql,
    params: &[Value],
    shape: Shape,
) -> Result<Option<Rows>> {
    match inline_statement(conn, sql, params)? {
        Some(mut stmt) => exec::query_prepared(sql, &mut stmt, shape).map(Some),
        None => Ok(None),
    }
}

/// [`inline_query`] of at most one row decoded into `T`.
fn inline_query_as<T: 'static>(
    conn: &Connection,
    sql: &PreparedSql,
    params: &[Value],
    decode: exec::DecodeRow,
) -> Result<Option<Option<T>>> {
    let Some(mut stmt) = inline_statement(conn, sql, params)? else {
        return Ok(None);
    };
    match exec::query_prepared_as(&mut stmt, decode)? {
        Some(value) => exec::downcast(value).map(|t| Some(Some(t))),
        None => Ok(Some(None)),
    }
}

/// `sql` prepared and bound for an inline read; `None` when it must go to a worker.
///
/// Any failure to prepare goes to a worker, which prepares again with the busy
/// timeout. Preparing may have to re-read a schema another connection changed; under
/// another connection's lock that read fails at once here (no busy timeout inline),
/// and SQLite then reports the stale schema's view ("no such table") instead of
/// waiting for the lock. A statement that is really wrong fails the same way there.
/// A statement that writes goes to a worker too.
fn inline_statement<'c>(
    conn: &'c Connection,
    sql: &PreparedSql,
    params: &[Value],
) -> Result<Option<rusqlite::CachedStatement<'c>>> {
    let Ok(mut stmt) = conn.prepare_cached(&sql.sql) else {
        return Ok(None);
    };
    if !stmt.readonly() {
        return Ok(None);
    }
    exec::bind(&mut stmt, params)?;
    Ok(Some(stmt))
}

/// Looks up (or rewrites and caches) `sql` and checks it is one statement, not
/// transaction control, with exactly the parameters it uses.
pub(crate) fn prepare(cache: &SqlCache, sql: &str, params: usize) -> Result<Arc<PreparedSql>> {
    let prepared = cache.get_or_prepare(sql, PlaceholderStyle::NumberedQuestion)?;
    prepared.check_single_statement()?;
    prepared.check_not_transaction_control()?;
    prepared.check_params(params)?;
    Ok(prepared)
}

/// The single-row INSERT used by the bulk path, with `$N` placeholders.
pub(crate) fn bulk_insert_sql(
    table: &str,
    columns: &[&str],
    rows: &[Vec<Value>],
) -> Result<String> {
    Ok(InsertPlan::new(DatabaseType::Sqlite, table, columns, rows)?.sql_for(1))
}

fn open_pool(config: SqliteConfig, target: Target) -> Result<Inner> {
    if let Target::File(path) = &target
        && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::database(
                DatabaseType::Sqlite,
                ErrorKind::UnknownDatabase,
                None,
                format!("cannot create directory {}: {e}", dir.display()),
                Some(Box::new(e)),
            )
        })?;
    }
    let keeper = match &target {
        Target::Memory(_) => Some(target.open().map_err(map_error)?),
        Target::File(_) => None,
    };
    let manager_counters = Arc::new(ManagerCounters::default());
    let counters = Arc::new(Counters::new(Arc::clone(&manager_counters)));
    let manager = Manager::new(&config, &target, Arc::clone(&manager_counters));
    // Open one connection directly first, so a bad path or a file that is not a
    // database fails here with SQLite's own message.
    drop(r2d2::ManageConnection::connect(&manager).map_err(map_error)?);

    let lifetime = non_zero(config.conn_max_lifetime);
    let pool = r2d2::Pool::builder()
        .max_size(config.max_open_conns)
        .min_idle(Some(config.max_idle_conns.min(config.max_open_conns)))
        .max_lifetime(lifetime)
        .idle_timeout(non_zero(config.conn_max_idle_time))
        .connection_timeout(config.timeout)
        // The check is `Manager::is_valid`: an age comparison, no SQL.
        .test_on_check_out(true)
        .error_handler(Box::new(r2d2::NopErrorHandler))
        .event_handler(Box::new(EventHandler {
            counters: Arc::clone(&counters),
            max_lifetime: lifetime,
        }))
        .build_unchecked(manager);

    let (jobs, rx) = crossbeam_channel::unbounded();
    let live: Live = Arc::new(RwLock::new(Some(LiveParts { pool, jobs })));
    let workers = worker::spawn_workers(config.max_open_conns as usize, || WorkerContext {
        jobs: rx.clone(),
        live: Arc::clone(&live),
        acquire_timeout: config.timeout,
        max_lifetime: lifetime,
        counters: Arc::clone(&counters),
    })
    .map_err(|e| Error::Internal(format!("cannot start SQLite worker threads: {e}")))?;

    Ok(Inner {
        cache: SqlCache::new(),
        live,
        workers: Mutex::new(workers),
        counters,
        active: AtomicUsize::new(0),
        closed: AtomicBool::new(false),
        cut_off: AtomicBool::new(false),
        keeper: Mutex::new(keeper),
        health: Mutex::new(None),
        config,
        target,
    })
}

fn non_zero(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

impl SqliteDatabase {
    /// [`Database::begin`] without the boxed future and the trait object: the concrete
    /// [`SqliteTransaction`], whose statement methods are inherent too. On the concrete
    /// type, method-call syntax picks this one.
    pub async fn begin(&self, options: TxOptions) -> Result<SqliteTransaction<'static>> {
        let _active = ActiveGuard::enter(&self.inner.active);
        let ticket = self.ticket();
        let (reply, rx) = reply::channel();
        self.send(Job::Begin {
            options: options.clone(),
            reply,
            ticket,
        })?;
        let channel = self.outcome(rx).await?;
        Ok(SqliteTransaction::new(
            Arc::clone(&self.inner),
            channel,
            options,
        ))
    }

    /// [`Executor::execute`] without the boxed future of the object-safe trait: on the
    /// concrete type, method-call syntax picks this one.
    pub async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        let prepared = self.prepare(sql, params.len())?;
        self.run(Op::Execute {
            sql: prepared,
            params: Params::from(params),
        })
        .await?
        .count()
    }

    /// [`Executor::query`] without the boxed future of the object-safe trait.
    pub async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        Ok(self.query_rows(sql, params, Shape::All).await?.all())
    }

    /// [`Executor::query_one`] without the boxed future of the object-safe trait.
    pub async fn query_one(&self, sql: &str, params: &[Value]) -> Result<Row> {
        self.query_rows(sql, params, Shape::AtMostOne).await?.one()
    }

    /// `query_one(..)` then [`Row::decode`], decoded straight from the native row without
    /// building a [`Row`]: exactly one row ([`Error::RowNotFound`] /
    /// [`Error::TooManyRows`] otherwise, the second row stopping the query), with as
    /// many columns as `T` has elements; a column that does not fit is named in the
    /// error.
    ///
    /// ```no_run
    /// # async fn run(db: &db_sqlite::SqliteDatabase) -> db_sqlite::Result<()> {
    /// use db_sqlite::params;
    /// let (id, name): (i64, String) = db
    ///     .query_one_as("SELECT id, name FROM users WHERE id = $1", &params![7])
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn query_one_as<T: FromRow + Send + 'static>(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<T> {
        self.query_opt_as(sql, params)
            .await?
            .ok_or(Error::RowNotFound)
    }

    /// `query_opt(..)` then [`Row::decode`], decoded straight into `T` as
    /// [`query_one_as`](Self::query_one_as) does: `None` for no row.
    pub async fn query_opt_as<T: FromRow + Send + 'static>(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<Option<T>> {
        self.query_typed(sql, params).await
    }

    /// [`Executor::query_opt`] without the boxed future of the object-safe trait.
    pub async fn query_opt(&self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        self.query_rows(sql, params, Shape::AtMostOne)
            .await?
            .at_most_one()
    }
}

#[async_trait]
impl Executor for SqliteDatabase {
    fn database_type(&self) -> DatabaseType {
        DatabaseType::Sqlite
    }

    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        SqliteDatabase::execute(self, sql, params).await
    }

    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        SqliteDatabase::query(self, sql, params).await
    }

    async fn query_one(&self, sql: &str, params: &[Value]) -> Result<Row> {
        SqliteDatabase::query_one(self, sql, params).await
    }

    async fn query_opt(&self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        SqliteDatabase::query_opt(self, sql, params).await
    }

    async fn execute_batch(&self, sql: &str) -> Result<()> {
        self.run(Op::Batch {
            sql: sql.to_owned(),
        })
        .await
        .map(drop)
    }

    async fn for_each_row(
        &self,
        sql: &str,
        params: &[Value],
        f: &mut (dyn FnMut(Row) -> Result<()> + Send),
    ) -> Result<u64> {
        let prepared = self.prepare(sql, params.len())?;
        let _active = ActiveGuard::enter(&self.inner.active);
        let (op, rows) = exec::stream_op(prepared, params);
        let ticket = self.ticket();
        let (reply, done) = reply::channel();
        self.send(Job::Run { op, reply, ticket })?;
        exec::drain_stream(rows, self.outcome(done).map(Ok), f).await
    }

    async fn insert_many(
        &self,
        table: &str,
        columns: &[&str],
        rows: Vec<Vec<Value>>,
    ) -> Result<u64> {
        let sql = bulk_insert_sql(table, columns, &rows)?;
        let prepared = self.prepare(&sql, columns.len())?;
        if rows.is_empty() {
            return Ok(0);
        }
        self.run(Op::InsertMany {
            sql: prepared,
            rows,
            own_transaction: true,
        })
        .await?
        .count()
    }
}

#[async_trait]
impl Database for SqliteDatabase {
    async fn begin(&self, options: TxOptions) -> Result<Box<dyn Transaction>> {
        Ok(Box::new(SqliteDatabase::begin(self, options).await?))
    }

    async fn ping(&self) -> Result<Duration> {
        let started = Instant::now();
        self.query_rows("SELECT 1", &[], Shape::All).await?;
        Ok(started.elapsed())
    }

    async fn server_version(&self) -> Result<String> {
        // Refused after `close` like every other call.
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::PoolClosed);
        }
        Ok(format!("SQLite {}", rusqlite::version()))
    }

    fn last_health_check(&self) -> Option<HealthCheck> {
        self.inner.health.lock().ok()?.as_ref()?.last()
    }

    fn stats(&self) -> PoolStats {
        let state = self
            .inner
            .live
            .read()
            .ok()
            .and_then(|l| l.as_ref().map(|l| l.pool.state()));
        self.inner
            .counters
            .snapshot(state, self.inner.config.max_open_conns)
    }

    async fn close(&self, grace: Duration) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        if let Some(monitor) = self.inner.health.lock().ok().and_then(|mut h| h.take()) {
            monitor.stop();
        }
        // No connection is opened from now on.
        self.inner
            .counters
            .manager
            .closed
            .store(true, Ordering::Release);
        // Wait for connections in use to come back, up to `grace`.
        if let Err(in_use) = dbcore::wait_until_idle(grace, || self.stats().in_use).await {
            tracing::warn!(
                target: "db_sqlite",
                in_use,
                "closing with connections still in use: their next statement fails \
                     and their transactions are rolled back"
            );
            self.inner.cut_off.store(true, Ordering::Release);
        }
        // Dropping the queue ends the workers; dropping the pool closes the idle
        // connections (one still in use closes when it is returned).
        let live = self.inner.live.write().ok().and_then(|mut l| l.take());
        drop(live);
        // Idle workers exit at once; one still serving a transaction exits when that
        // transaction ends, so the handles are detached rather than joined.
        if let Ok(mut workers) = self.inner.workers.lock() {
            workers.clear();
        }
        let keeper = self.inner.keeper.lock().ok().and_then(|mut k| k.take());
        drop(keeper);
        Ok(())
    }

    fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Ends the workers (they hold no reference to `Inner`).
        if let Ok(mut live) = self.live.write() {
            live.take();
        }
    }
}
