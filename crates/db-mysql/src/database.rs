//! [`MySqlDatabase`]: the mysql_async pool behind the portable [`Database`] API.

use std::any::Any;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dbcore::deadline::{Deadline, Elapsed};
use dbcore::observe::{self, no_rows, rows_affected, rows_returned, traced};
use dbcore::{
    ConnectOptions, Database, DatabaseType, Error, ErrorKind, Executor, FromRow, HealthCheck,
    HealthMonitor, MySqlConfig, PlaceholderStyle, PoolStats, PreparedSql, Result, Row, RowReader,
    SqlCache, SslMode, Transaction, TxOptions, Value, retry_connect,
};
use mysql_async::prelude::Queryable;
use mysql_async::{Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts, SslOpts};

use crate::conn::{
    Checkout, NativeSink, Op, Shared, at_most_one, is_local_infile, local_infile_refused,
};
use crate::error::{is_server_without_tls, map_connect_error};
use crate::stats::Counters;
use crate::transaction::MySqlTransaction;
use crate::value::Decoder;

/// TCP keepalive idle time: a half-open connection is probed after this long.
const TCP_KEEPALIVE: Duration = Duration::from_secs(10);
/// Prepared statements cached per connection (mysql_async's LRU statement cache).
const STMT_CACHE_SIZE: usize = 256;
/// Rows per multi-row `INSERT` of `insert_many` (fewer when `max_allowed_packet` or the
/// 65535-placeholder limit requires).
pub(crate) const BULK_ROWS: usize = 1000;

/// A pool of MySQL / MariaDB connections behind the portable [`Database`] API.
///
/// Built on `mysql_async`'s pool with its per-checkout connection reset turned off: the
/// layer tracks what it ran on each connection instead and rolls back, resets or closes a
/// connection only when needed (see the crate docs). Clone it freely: clones share the
/// pool. Raw access: [`MySqlDatabase::pool`].
#[derive(Clone)]
pub struct MySqlDatabase {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    config: MySqlConfig,
    pool: Pool,
    /// The pool's metrics (one `Arc` for the pool's life, kept to avoid cloning it per
    /// checkout).
    metrics: Arc<mysql_async::Metrics>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) cache: SqlCache,
    closed: AtomicBool,
    /// `close`'s grace period is over: connections still in use are cut off (their
    /// next statement fails with [`Error::PoolClosed`] and they are closed, not
    /// returned).
    pub(crate) cut_off: AtomicBool,
    health: Mutex<Option<HealthMonitor>>,
    version: String,
    max_allowed_packet: usize,
    /// What the start-up check of the pool settings against the server's limits found.
    limit_warnings: Vec<String>,
}

impl std::fmt::Debug for MySqlDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the native Opts: their Debug output contains the password.
        f.debug_struct("MySqlDatabase")
            .field("target", &self.inner.config.target())
            .field("server_version", &self.inner.version)
            .field("tls", &self.is_tls())
            .field("closed", &self.inner.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The `SET` statement run on every new connection (and after every reset), and the
/// session's UTC offset in minutes when it is fixed.
pub(crate) fn session_setup(config: &MySqlConfig) -> (String, Option<i32>) {
    let (zone_sql, minutes) = match config.canonical_loc() {
        "UTC" => ("+00:00".to_owned(), Some(0)),
        "Local" => {
            let minutes = chrono::Local::now().offset().local_minus_utc() / 60;
            (format_offset(minutes), Some(minutes))
        }
        // A validated offset (`+05:30`) or IANA name (letters, digits, `/_-+`): no quote
        // can appear in it.
        other => (other.to_owned(), config.loc_offset_minutes()),
    };
    (
        format!("SET NAMES {}, time_zone = '{zone_sql}'", config.charset),
        minutes,
    )
}

fn format_offset(minutes: i32) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    let m = minutes.unsigned_abs();
    format!("{sign}{:02}:{:02}", m / 60, m % 60)
}

fn non_zero(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

/// The native options for `config`, built with typed setters (never a URL), with the
/// TLS options `ssl` (from [`crate::tls::ssl_opts`]; `None`: plaintext).
pub(crate) fn native_opts(
    config: &MySqlConfig,
    counters: &Arc<Counters>,
    setup: String,
    ssl: Option<SslOpts>,
) -> Opts {
    let max = config.max_open_conns.max(1) as usize;
    let min = (config.max_idle_conns as usize).min(max);
    let constraints = PoolConstraints::new(min, max).unwrap_or_default();
    let mut pool_opts = PoolOpts::default()
        .with_constraints(constraints)
        // On: a connection given back is reset (`COM_RESET_CONNECTION`) unless its
        // checkout turned that off. The layer's own checkouts do (it knows what it ran,
        // see conn.rs, and resets only when needed); connections taken through the raw
        // pool (`MySqlDatabase::pool`) keep it, so one left inside a `BEGIN` cannot
        // swallow the layer's later writes.
        .with_reset_connection(true)
        .with_abs_conn_ttl(non_zero(config.conn_max_lifetime));
    pool_opts = match non_zero(config.conn_max_idle_time) {
        Some(idle) => pool_opts
            .with_inactive_connection_ttl(idle)
            .with_ttl_check_interval(
                (idle / 2).clamp(Duration::from_secs(1), Duration::from_secs(30)),
            ),
        // Unlimited idle time: keep at most maxIdleConns idle connections.
        None => pool_opts.with_inactive_connection_ttl(Duration::ZERO),
    };
    let counters = Arc::clone(counters);
    let password = config.password.expose();
    OptsBuilder::default()
        .ip_or_hostname(config.host.clone())
        .tcp_port(config.port)
        .user(Some(config.username.clone()))
        .pass((!password.is_empty()).then(|| password.to_owned()))
        .db_name(Some(config.name.clone()))
        .setup(vec![setup])
        .tcp_keepalive(Some(TCP_KEEPALIVE))
        .tcp_nodelay(true)
        // Connect where the configuration says, over TCP: no second handshake through the
        // server's Unix socket for loopback hosts (mysql_async's default), so keepalive,
        // timeouts and the opened-connections count mean what they say.
        .prefer_socket(false)
        .stmt_cache_size(STMT_CACHE_SIZE)
        // Rows matched, not rows changed, as PostgreSQL and SQLite report.
        .client_found_rows(true)
        .ssl_opts(ssl)
        .conn_ttl(non_zero(config.conn_max_idle_time))
        .pool_opts(pool_opts)
        .after_connect(move |_conn| {
            counters.record_open();
            Box::pin(async { Ok(()) })
        })
        .into()
}

impl MySqlDatabase {
    /// Validates `config`, builds the pool and connects once (retrying transient failures
    /// per `maxRetries` / `retryDelay`), reading the server version and
    /// `max_allowed_packet`.
    ///
    /// Must run inside a tokio runtime. Wrong credentials
    /// ([`ErrorKind::Authentication`](dbcore::ErrorKind::Authentication)), an unknown
    /// database ([`ErrorKind::UnknownDatabase`](dbcore::ErrorKind::UnknownDatabase)) and TLS
    /// failures ([`ErrorKind::Tls`](dbcore::ErrorKind::Tls): a server without TLS under
    /// `sslMode: require` or stricter, a rejected certificate) fail after one attempt. A
    /// TLS `sslMode` in a build without the `tls` feature fails before anything is sent.
    /// With `sslMode: prefer`, a server that does not offer TLS is connected to again in
    /// plaintext, and the whole pool stays in plaintext ([`is_tls`](Self::is_tls)).
    pub async fn connect(config: &MySqlConfig) -> Result<Self> {
        Self::connect_with(config, &ConnectOptions::new()).await
    }

    /// [`connect`](Self::connect), reporting each retry to `options`.
    pub async fn connect_with(config: &MySqlConfig, options: &ConnectOptions) -> Result<Self> {
        let span = observe::connect_span(MYSQL, &config.target());
        observe::timed(span, Self::open(config, options)).await
    }

    async fn open(config: &MySqlConfig, options: &ConnectOptions) -> Result<Self> {
        config.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::Unsupported("MySqlDatabase::connect must run inside a tokio runtime".into())
        })?;
        // Fails for a TLS mode without TLS support compiled in: never plaintext instead.
        let ssl = crate::tls::ssl_opts(config.ssl_mode)?;
        let (setup, zone) = session_setup(config);
        let counters = Arc::new(Counters::default());
        let mut opened = open_pool(config, &counters, setup.clone(), ssl, options).await;
        if config.ssl_mode == SslMode::Prefer && opened.as_ref().is_err_and(is_server_without_tls) {
            tracing::info!(
                target: "db_mysql",
                database = %config.target(),
                "the server does not offer TLS; sslMode prefer continues in plaintext"
            );
            opened = open_pool(config, &counters, setup, None, options).await;
        }
        let (pool, opts, facts) = opened?;
        let limit_warnings = crate::limits::warnings(config, &facts.limits);
        for warning in &limit_warnings {
            tracing::warn!(target: "db_mysql", "{warning}");
        }
        let shared = Arc::new(Shared {
            counters,
            opts,
            runtime,
            parse_time: config.parse_time,
            zone,
        });
        let db = MySqlDatabase {
            inner: Arc::new(Inner {
                config: config.clone(),
                metrics: pool.metrics(),
                pool,
                shared,
                cache: SqlCache::new(),
                closed: AtomicBool::new(false),
                cut_off: AtomicBool::new(false),
                health: Mutex::new(None),
                version: facts.version,
                max_allowed_packet: facts.max_allowed_packet,
                limit_warnings,
            }),
        };
        db.start_health_monitor();
        tracing::debug!(target: "db_mysql", db = ?db, "connected");
        Ok(db)
    }

    fn start_health_monitor(&self) {
        let interval = self.inner.config.health_check_interval;
        let monitor = HealthMonitor::watch(interval, &self.inner, |inner| async move {
            MySqlDatabase { inner }.ping().await
        });
        if let Ok(mut slot) = self.inner.health.lock() {
            *slot = Some(monitor);
        }
    }

    /// Raw access to the native pool.
    ///
    /// A connection taken from it directly is reset when it goes back
    /// (`COM_RESET_CONNECTION`, mysql_async's per-checkout reset, which the layer turns
    /// off only for its own checkouts): the layer cannot see what was done on it, and a
    /// `BEGIN` left open would otherwise swallow the writes of every later user of that
    /// connection. Call `conn.reset_connection(false)` on a raw connection to skip that
    /// round trip when you know you leave it clean.
    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// The configuration this database was opened with.
    pub fn config(&self) -> &MySqlConfig {
        &self.inner.config
    }

    /// Whether this pool's connections use TLS: `sslMode` is not `disable`, and with
    /// `prefer` the server offered TLS at connect.
    pub fn is_tls(&self) -> bool {
        self.inner.shared.opts.ssl_opts().is_some()
    }

    /// The server's `max_allowed_packet`, read once at connect.
    pub fn max_allowed_packet(&self) -> usize {
        self.inner.max_allowed_packet
    }

    /// How many connections were reset before going back to the pool because a statement
    /// changed session state (diagnostics).
    pub fn session_resets(&self) -> u64 {
        self.inner.shared.counters.resets()
    }

    /// How many connections the layer closed instead of reusing (cancelled in the middle
    /// of a statement, or a failed rollback/reset).
    pub fn layer_discards(&self) -> u64 {
        self.inner.shared.counters.layer_discards()
    }

    async fn run(&self, op: Op<'_>) -> Result<crate::conn::Output> {
        let mut checkout = self.inner.checkout().await?;
        checkout.perform(op).await
    }

    /// [`MySqlDatabase::run`] for a query, its result read inline (no boxed future: the
    /// pool's queries are the concrete API's hot path).
    async fn run_inline(&self, op: Op<'_>) -> Result<crate::conn::Output> {
        let mut checkout = self.inner.checkout().await?;
        checkout.perform_inline(op).await
    }
}

/// A pool for `config` with the TLS options `ssl`, connected once (with retries): the
/// pool, its options, the server version and `max_allowed_packet`. On failure the pool is
/// shut down.
async fn open_pool(
    config: &MySqlConfig,
    counters: &Arc<Counters>,
    setup: String,
    ssl: Option<SslOpts>,
    options: &ConnectOptions,
) -> Result<(Pool, Opts, ServerFacts)> {
    let opts = native_opts(config, counters, setup, ssl);
    let pool = Pool::new(opts.clone());
    let timeout = config.timeout;
    let first = retry_connect(
        &config.retry_policy(),
        &config.target(),
        |_attempt| first_contact(&pool, timeout),
        |event| options.report_retry(event),
    )
    .await;
    match first {
        Ok(facts) => Ok((pool, opts, facts)),
        Err(e) => {
            let _ = tokio::time::timeout(Duration::from_secs(1), pool.disconnect()).await;
            Err(e)
        }
    }
}

/// One connection attempt: a pooled connection within `timeout`, and what the layer
/// needs to know about the server.
/// What the driver learns about the server at connect.
struct ServerFacts {
    version: String,
    max_allowed_packet: usize,
    limits: crate::limits::ServerLimits,
}

async fn first_contact(pool: &Pool, timeout: Duration) -> Result<ServerFacts> {
    let mut conn = match tokio::time::timeout(timeout, pool.get_conn()).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => return Err(map_connect_error(e)),
        Err(_) => {
            return Err(Error::database(
                DatabaseType::Mysql,
                ErrorKind::Connect,
                None,
                format!("no connection was established within {timeout:?}"),
                None,
            ));
        }
    };
    let row: Option<(String, u64, u64, u64)> = conn
        .query_first("SELECT VERSION(), @@max_allowed_packet, @@wait_timeout, @@max_connections")
        .await
        .map_err(map_connect_error)?;
    let (version, packet, wait_timeout, max_connections) = row.unwrap_or_default();
    Ok(ServerFacts {
        version,
        max_allowed_packet: usize::try_from(packet).unwrap_or(usize::MAX),
        limits: crate::limits::ServerLimits {
            wait_timeout: Duration::from_secs(wait_timeout),
            max_connections: if max_connections == 0 {
                u64::MAX
            } else {
                max_connections
            },
        },
    })
}

impl Inner {
    /// The configuration the pool was opened with.
    pub(crate) fn config(&self) -> &MySqlConfig {
        &self.config
    }

    pub(crate) fn max_allowed_packet(&self) -> usize {
        self.max_allowed_packet
    }

    /// A pooled connection, waiting at most `timeout` ([`Error::PoolTimeout`]).
    pub(crate) async fn checkout(&self) -> Result<Checkout<'_>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::PoolClosed);
        }
        let timeout = self.config.timeout;
        // Whether the pool is at its size: a checkout that then finds no idle connection
        // waits for one to come back (counted as a wait); below it, one is opened.
        let full = self.metrics.connection_count.load(Ordering::Relaxed)
            >= self.config.max_open_conns as usize;
        // An idle connection is handed over at the first poll: no clock read, no
        // deadline (`dbcore::deadline`, not `tokio::time::timeout`: see there), no span.
        // A checkout that has to wait (a connection being opened, or the pool saturated)
        // gets them. The same `GetConn` future keeps its place in the pool's queue;
        // dropping it at the deadline is what mysql_async supports for cancellation (it
        // unqueues itself and cancels a half-made connection).
        let mut get = std::pin::pin!(self.pool.get_conn());
        let mut deadline = Deadline::new(timeout);
        let mut checkout = std::future::poll_fn(|cx| {
            Poll::Ready(match get.as_mut().poll(cx) {
                Poll::Ready(Ok(conn)) => {
                    if full && let Some(started) = deadline.waited_since() {
                        self.shared.counters.record_wait(started.elapsed());
                    }
                    Ok(Checkout::new(conn, &self.shared))
                }
                Poll::Ready(Err(e)) => Err(map_connect_error(e)),
                Poll::Pending => match deadline.poll_expired(cx) {
                    Poll::Ready(Elapsed) => Err(self.wait_timed_out(timeout)),
                    Poll::Pending => return Poll::Pending,
                },
            })
        });
        if observe::acquire_traced() {
            // Boxed: inline, the traced path's state would enlarge every checkout's
            // future (and every future holding one), traced or not.
            Box::pin(observe::traced_checkout(MYSQL, &mut checkout)).await
        } else {
            checkout.await
        }
    }

    /// The error of a checkout whose deadline passed.
    fn wait_timed_out(&self, timeout: Duration) -> Error {
        if self.shared.counters.in_use() < self.config.max_open_conns as usize {
            // Not every connection is checked out, so the wait was not for one to come
            // back: a connect (this checkout's, or one holding a slot) did not finish (a
            // server that does not answer, a partition). A connect failure, not an
            // exhausted pool.
            return Error::database(
                DatabaseType::Mysql,
                ErrorKind::Connect,
                None,
                format!("no connection was established within {timeout:?}"),
                None,
            );
        }
        self.shared.counters.record_wait(timeout);
        self.shared.counters.record_timeout();
        Error::PoolTimeout(timeout)
    }

    /// Looks up (or rewrites and caches) `sql` and checks it is one statement, not
    /// transaction control, not `LOAD DATA LOCAL`, with exactly the parameters it uses.
    pub(crate) fn prepare(&self, sql: &str, params: usize) -> Result<Arc<PreparedSql>> {
        let prepared = self.cache.get_or_prepare(sql, PlaceholderStyle::Question)?;
        prepared.check_single_statement()?;
        prepared.check_not_transaction_control()?;
        prepared.check_params(params)?;
        if prepared.leading_keyword.as_deref() == Some("LOAD") && is_local_infile(sql) {
            return Err(local_infile_refused());
        }
        Ok(prepared)
    }

    /// Checks a script for `execute_batch`.
    pub(crate) fn check_script(&self, sql: &str, in_transaction: bool) -> Result<()> {
        if is_local_infile(sql) {
            return Err(local_infile_refused());
        }
        if in_transaction {
            let prepared = self.cache.get_or_prepare(sql, PlaceholderStyle::Question)?;
            if prepared.contains_transaction_control() {
                return Err(Error::TransactionControl {
                    statement: prepared
                        .transaction_control()
                        .unwrap_or("transaction control")
                        .to_owned(),
                });
            }
        }
        Ok(())
    }

    /// Stops the statement running on connection `id` (`KILL QUERY`).
    pub(crate) async fn kill_query(&self, id: u32) {
        let timeout = self.config.timeout.min(Duration::from_secs(5));
        crate::conn::kill(&self.shared.opts, "QUERY", id, timeout).await;
    }
}

const MYSQL: DatabaseType = DatabaseType::Mysql;

impl MySqlDatabase {
    /// [`Database::begin`] without the boxed future and the trait object: the concrete
    /// [`MySqlTransaction`], whose statement methods are inherent too. On the concrete
    /// type, method-call syntax picks this one.
    pub async fn begin(&self, options: TxOptions) -> Result<MySqlTransaction<'static>> {
        MySqlTransaction::begin(Arc::clone(&self.inner), options).await
    }

    /// [`Executor::execute`] without the boxed future of the object-safe trait: on the
    /// concrete type, method-call syntax picks this one.
    pub async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        match observe::statement_span(None, MYSQL, "execute", sql) {
            None => self.run_execute(sql, params).await,
            // Boxed, as in `query_rows`.
            Some(span) => {
                let run = self.run_execute(sql, params);
                Box::pin(observe::traced_in(
                    span,
                    MYSQL,
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
        self.query_rows(sql, params).await
    }

    /// [`Executor::query_one`] without the boxed future of the object-safe trait.
    pub async fn query_one(&self, sql: &str, params: &[Value]) -> Result<Row> {
        dbcore::single_row(self.query_rows(sql, params).await?)
    }

    /// `query_one(..)` then [`Row::decode`], decoded straight from the server's answer
    /// without building a [`Row`]: exactly one row ([`Error::RowNotFound`] /
    /// [`Error::TooManyRows`] otherwise, the second row stopping the query), with as
    /// many columns as `T` has elements; a column that does not fit is named in the
    /// error.
    ///
    /// ```no_run
    /// # async fn run(db: &db_mysql::MySqlDatabase) -> db_mysql::Result<()> {
    /// use db_mysql::params;
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
        let mut decoded = None;
        let mut read = |decoder: &Decoder, row| {
            decoded = Some(decoder.decode::<T>(row)?);
            Ok(())
        };
        self.query_opt_native(sql, params, &mut read).await?;
        Ok(decoded)
    }

    /// The row of a query that returns at most one, handed to `read` as the server sent
    /// it, with its result's decoder (a second row stops the query with
    /// [`Error::TooManyRows`]); whether there was a row.
    async fn query_opt_native(
        &self,
        sql: &str,
        params: &[Value],
        read: &mut NativeSink<'_>,
    ) -> Result<bool> {
        match observe::statement_span(None, MYSQL, "query", sql) {
            None => self.run_query_native(sql, params, read).await,
            // Boxed, as in `query_rows`.
            Some(span) => {
                let run = self.run_query_native(sql, params, read);
                Box::pin(observe::traced_in(
                    span,
                    MYSQL,
                    "query",
                    sql,
                    |found: &bool| Some(u64::from(*found)),
                    run,
                ))
                .await
            }
        }
    }

    /// `query_opt_native` without its span.
    async fn run_query_native(
        &self,
        sql: &str,
        params: &[Value],
        read: &mut NativeSink<'_>,
    ) -> Result<bool> {
        let prepared = self.inner.prepare(sql, params.len())?;
        let rows = self
            .run_inline(Op::Native {
                sql: &prepared,
                params,
                f: &mut at_most_one(read),
            })
            .await?;
        Ok(rows.count() > 0)
    }

    /// [`Executor::query_opt`] without the boxed future of the object-safe trait.
    pub async fn query_opt(&self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        dbcore::optional_row(self.query_rows(sql, params).await?)
    }

    /// The rows of one query on a pooled connection (the body of every query method,
    /// without a boxed future per call).
    async fn query_rows(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        match observe::statement_span(None, MYSQL, "query", sql) {
            None => self.run_query(sql, params).await,
            // Boxed: the traced path would otherwise double the size of every call's
            // future, traced or not.
            Some(span) => {
                let run = self.run_query(sql, params);
                Box::pin(observe::traced_in(
                    span,
                    MYSQL,
                    "query",
                    sql,
                    rows_returned,
                    run,
                ))
                .await
            }
        }
    }

    /// `query_rows` without its span.
    async fn run_query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let prepared = self.inner.prepare(sql, params.len())?;
        Ok(self
            .run_inline(Op::Query {
                sql: &prepared,
                params,
            })
            .await?
            .rows())
    }

    /// `execute` without its span.
    async fn run_execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        let prepared = self.inner.prepare(sql, params.len())?;
        Ok(self
            .run(Op::Execute {
                sql: &prepared,
                params,
            })
            .await?
            .count())
    }
}

#[async_trait]
impl Executor for MySqlDatabase {
    fn database_type(&self) -> DatabaseType {
        DatabaseType::Mysql
    }

    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        MySqlDatabase::execute(self, sql, params).await
    }

    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        MySqlDatabase::query(self, sql, params).await
    }

    async fn query_one(&self, sql: &str, params: &[Value]) -> Result<Row> {
        MySqlDatabase::query_one(self, sql, params).await
    }

    async fn query_opt(&self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        MySqlDatabase::query_opt(self, sql, params).await
    }

    async fn query_opt_with(
        &self,
        sql: &str,
        params: &[Value],
        read: &mut RowReader<'_>,
    ) -> Result<bool> {
        let mut native = |decoder: &Decoder, row| decoder.read(row, read);
        self.query_opt_native(sql, params, &mut native).await
    }

    async fn execute_batch(&self, sql: &str) -> Result<()> {
        traced(None, MYSQL, "execute_batch", sql, no_rows, async {
            self.inner.check_script(sql, false)?;
            self.run(Op::Batch { sql }).await.map(drop)
        })
        .await
    }

    async fn for_each_row(
        &self,
        sql: &str,
        params: &[Value],
        f: &mut (dyn FnMut(Row) -> Result<()> + Send),
    ) -> Result<u64> {
        traced(None, MYSQL, "for_each_row", sql, rows_affected, async {
            let prepared = self.inner.prepare(sql, params.len())?;
            Ok(self
                .run_inline(Op::Each {
                    sql: &prepared,
                    params,
                    f,
                })
                .await?
                .count())
        })
        .await
    }

    async fn insert_many(
        &self,
        table: &str,
        columns: &[&str],
        rows: Vec<Vec<Value>>,
    ) -> Result<u64> {
        let load = async {
            // Validate (and fail on bad input) before taking a connection.
            dbcore::InsertPlan::new(DatabaseType::Mysql, table, columns, &rows)?;
            if rows.is_empty() {
                return Ok(0);
            }
            let tx = MySqlTransaction::begin(Arc::clone(&self.inner), TxOptions::new()).await?;
            match tx.insert_rows(table, columns, rows).await {
                Ok(n) => {
                    Box::new(tx).commit().await?;
                    Ok(n)
                }
                Err(e) => {
                    // Release the rows' locks now rather than when the handle is dropped.
                    let _ = Box::new(tx).rollback().await;
                    Err(e)
                }
            }
        };
        traced(None, MYSQL, "insert_many", table, rows_affected, load).await
    }
}

#[async_trait]
impl Database for MySqlDatabase {
    async fn begin(&self, options: TxOptions) -> Result<Box<dyn Transaction>> {
        let tx = MySqlTransaction::begin(Arc::clone(&self.inner), options).await?;
        Ok(Box::new(tx))
    }

    /// `COM_PING` on a pooled connection. Its answer is awaited at most `timeout` (the
    /// configured connect and acquire deadline): `health()` and the background health
    /// check report a connection that does not answer (a partition, a hung server) as
    /// unhealthy instead of waiting for TCP to give up, and that connection is closed.
    async fn ping(&self) -> Result<Duration> {
        let started = Instant::now();
        let limit = self.inner.config.timeout;
        let mut checkout = self.inner.checkout().await?;
        match tokio::time::timeout(limit, checkout.perform(Op::Ping)).await {
            Ok(answered) => {
                answered?;
            }
            // Dropped mid-ping: the checkout is poisoned and closed, not reused.
            Err(_) => {
                return Err(Error::Timeout {
                    what: "ping",
                    after: limit,
                });
            }
        }
        Ok(started.elapsed())
    }

    async fn server_version(&self) -> Result<String> {
        // Read at connect; refused after `close` like every other call.
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::PoolClosed);
        }
        Ok(self.inner.version.clone())
    }

    fn last_health_check(&self) -> Option<HealthCheck> {
        self.inner.health.lock().ok()?.as_ref()?.last()
    }

    fn limit_warnings(&self) -> &[String] {
        &self.inner.limit_warnings
    }

    fn stats(&self) -> PoolStats {
        self.inner.shared.counters.snapshot(
            &self.inner.pool.metrics(),
            self.inner.config.max_open_conns,
            !self.inner.config.conn_max_lifetime.is_zero(),
        )
    }

    async fn close(&self, grace: Duration) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        if let Some(monitor) = self.inner.health.lock().ok().and_then(|mut h| h.take()) {
            monitor.stop();
        }
        let deadline = Instant::now() + grace;
        if let Err(in_use) = dbcore::wait_until_idle(grace, || self.stats().in_use).await {
            tracing::warn!(
                target: "db_mysql",
                in_use,
                "closing with connections still in use: their next statement fails \
                     and they are closed"
            );
            self.inner.cut_off.store(true, Ordering::Release);
        }
        self.inner
            .shared
            .counters
            .record_close(&self.inner.pool.metrics());
        // `disconnect` resolves once every connection is back; one still in use closes
        // when it is returned, in the background.
        let pool = self.inner.pool.clone();
        let disconnect = self.inner.shared.runtime.spawn(pool.disconnect());
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining.max(Duration::from_millis(100)), disconnect).await {
            Ok(Ok(Err(e))) => tracing::debug!(target: "db_mysql", error = %e, "pool disconnect"),
            Ok(_) => {}
            Err(_) => tracing::warn!(target: "db_mysql", "pool still closing in the background"),
        }
        Ok(())
    }

    fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic on failure
mod tests {
    use super::*;

    #[test]
    fn session_setup_per_loc() {
        let cfg = MySqlConfig::default();
        assert_eq!(
            session_setup(&cfg),
            (
                "SET NAMES utf8mb4, time_zone = '+00:00'".to_owned(),
                Some(0)
            )
        );
        let cfg = MySqlConfig::default()
            .with_loc("-08:00")
            .with_charset("latin1");
        assert_eq!(
            session_setup(&cfg),
            (
                "SET NAMES latin1, time_zone = '-08:00'".to_owned(),
                Some(-480)
            )
        );
        // `UTC` and `Local` in any case, even assigned to the field directly.
        let mut cfg = MySqlConfig::default();
        cfg.loc = "utc".to_owned();
        assert_eq!(
            session_setup(&cfg),
            (
                "SET NAMES utf8mb4, time_zone = '+00:00'".to_owned(),
                Some(0)
            )
        );
        let cfg = MySqlConfig::default().with_loc("Europe/Berlin");
        assert_eq!(
            session_setup(&cfg),
            (
                "SET NAMES utf8mb4, time_zone = 'Europe/Berlin'".to_owned(),
                None
            )
        );
        let (sql, minutes) = session_setup(&MySqlConfig::default().with_loc("Local"));
        assert!(sql.starts_with("SET NAMES utf8mb4, time_zone = '"), "{sql}");
        assert!(minutes.is_some());
        assert_eq!(format_offset(330), "+05:30");
        assert_eq!(format_offset(-90), "-01:30");
    }

    #[tokio::test]
    async fn native_options_are_typed_and_complete() {
        let cfg = MySqlConfig::default()
            .with_host("db.example.com")
            .with_port(3307)
            .with_name("app")
            .with_username("u")
            .with_password("p@ss?word&host=evil")
            .with_max_open_conns(7)
            .with_max_idle_conns(3)
            .with_conn_max_lifetime(Duration::from_secs(300))
            .with_conn_max_idle_time(Duration::from_secs(60));
        let counters = Arc::new(Counters::default());
        let opts = native_opts(&cfg, &counters, "SET NAMES utf8mb4".into(), None);
        assert_eq!(opts.ip_or_hostname(), "db.example.com");
        assert_eq!(opts.tcp_port(), 3307);
        assert_eq!(opts.user(), Some("u"));
        // The password is passed as is: it cannot add hosts or options.
        assert_eq!(opts.pass(), Some("p@ss?word&host=evil"));
        assert_eq!(opts.db_name(), Some("app"));
        assert_eq!(opts.setup(), ["SET NAMES utf8mb4".to_owned()]);
        assert_eq!(opts.tcp_keepalive(), Some(TCP_KEEPALIVE));
        assert_eq!(opts.stmt_cache_size(), STMT_CACHE_SIZE);
        let pool = opts.pool_opts();
        // On for connections taken through the raw pool; the layer's own checkouts turn
        // it off (`Checkout::new`).
        assert!(pool.reset_connection());
        assert_eq!(pool.constraints().min(), 3);
        assert_eq!(pool.constraints().max(), 7);
        assert_eq!(pool.abs_conn_ttl(), Some(Duration::from_secs(300)));
        assert_eq!(pool.inactive_connection_ttl(), Duration::from_secs(60));
        assert_eq!(pool.ttl_check_interval(), Duration::from_secs(30));
        assert!(opts.local_infile_handler().is_none());
        assert!(!opts.prefer_socket());
        assert!(opts.ssl_opts().is_none());
        let tls = SslOpts::default().with_danger_accept_invalid_certs(true);
        let opts = native_opts(&cfg, &counters, String::new(), Some(tls.clone()));
        assert_eq!(opts.ssl_opts(), Some(&tls));
        // TLS needs TCP: mysql_async never encrypts a Unix-socket connection, so the
        // switch to the server's socket stays off.
        assert!(!opts.prefer_socket());
    }
}
