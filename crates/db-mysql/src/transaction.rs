//! [`MySqlTransaction`] and its savepoints.
//!
//! The transaction owns one pooled connection ([`Checkout`]) behind an async mutex. The
//! checkout knows it is inside a transaction from the moment `START TRANSACTION` is sent,
//! so a handle dropped unfinished, or a future cancelled at any point, never hands the
//! connection back inside a transaction: it is rolled back first, or closed when a
//! statement was cut off half-way.
//!
//! A deadline (`TxOptions::timeout`) is a client deadline from `begin`: a statement still
//! running when it passes is stopped on the server with `KILL QUERY <connection id>`, sent
//! from a separate connection, then the transaction is rolled back; a transaction idle
//! past its deadline is rolled back by a timer task.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use async_trait::async_trait;
use dbcore::observe::{self, no_rows, rows_affected, rows_returned};
use dbcore::{
    DatabaseType, Error, ErrorKind, Executor, InsertPlan, PreparedSql, Result, Row, RowReader,
    Transaction, TxOptions, Value,
};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::conn::{Checkout, Op, Output, at_most_one};
use crate::database::{BULK_ROWS, Inner};
use crate::value::Decoder;

/// How long a killed statement gets to report its interruption before the connection is
/// given up.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// Whether `e` may have ended the whole transaction on the server (see
/// [`TxCore::check_server_rollback`]): a deadlock, a lock wait timeout.
fn may_end_the_transaction(e: &Error) -> bool {
    matches!(e.code(), Some("1213" | "1205"))
}

/// The error for work on a transaction the server rolled back after `cause`, of the same
/// kind and code (a deadlock stays retryable, so `with_transaction_retry` runs the
/// transaction again).
fn rolled_back_error(cause: &ServerRollback, what: &str) -> Error {
    Error::database(
        DatabaseType::Mysql,
        cause.kind,
        cause.code.clone(),
        format!(
            "the server rolled this transaction back after an earlier error ({}); {what}: \
             start the transaction again",
            cause.message
        ),
        None,
    )
}

struct TxConn {
    checkout: Checkout<'static>,
    /// Rolled back because the deadline passed: refuses further work.
    aborted: bool,
    /// The server rolled the whole transaction back after this error (a deadlock; a lock
    /// wait timeout with `innodb_rollback_on_timeout`). The session is then outside any
    /// transaction, where a statement would commit on its own: refuses further work.
    rolled_back_by_server: Option<ServerRollback>,
}

/// The error after which the server rolled a transaction back.
struct ServerRollback {
    kind: ErrorKind,
    code: Option<String>,
    message: String,
}

/// State shared by a transaction and its savepoints.
struct TxCore {
    db: Arc<Inner>,
    conn: Mutex<TxConn>,
    options: TxOptions,
    deadline: Option<Instant>,
    next_savepoint: AtomicU32,
    /// Savepoints dropped unfinished: rolled back to before the next statement runs.
    abandoned: StdMutex<Vec<String>>,
    /// Whether `abandoned` may hold names: checked before every statement without taking
    /// the lock.
    has_abandoned: AtomicBool,
    /// The timer that rolls the transaction back when its deadline passes while idle.
    expiry: StdMutex<Option<tokio::task::AbortHandle>>,
    /// The `db.transaction` span: the parent of the statements' spans.
    span: tracing::Span,
}

impl Drop for TxCore {
    fn drop(&mut self) {
        if let Ok(tc) = self.conn.try_lock()
            && tc.checkout.in_tx
        {
            // Dropped unfinished: the connection's release rolls it back.
            observe::record_outcome(&self.span, "dropped");
        }
        if let Some(expiry) = self.expiry.get_mut().ok().and_then(Option::take) {
            expiry.abort();
        }
    }
}

enum Raced {
    Done(Result<Output>),
    /// The deadline passed; whether the killed statement then finished.
    TimedOut {
        finished: bool,
    },
}

impl TxCore {
    /// Runs one statement of the transaction in its `db.query` span, a child of the
    /// transaction's span.
    /// Runs the statement `make` builds in its `db.query` span (a child of the
    /// transaction's). The statement's future is built inside each branch, not passed
    /// in: an `async fn` argument is stored twice in its caller's future, and the traced
    /// branch is boxed, so that an untraced statement's future stays the size of the
    /// statement.
    async fn traced<T, F>(
        &self,
        operation: &'static str,
        statement: &str,
        rows: impl FnOnce(&T) -> Option<u64>,
        make: impl FnOnce() -> F,
    ) -> Result<T>
    where
        F: std::future::Future<Output = Result<T>>,
    {
        match observe::statement_span(Some(&self.span), DatabaseType::Mysql, operation, statement) {
            None => make().await,
            Some(span) => {
                Box::pin(observe::traced_in(
                    span,
                    DatabaseType::Mysql,
                    operation,
                    statement,
                    rows,
                    make(),
                ))
                .await
            }
        }
    }

    fn timeout_error(&self) -> Error {
        Error::Timeout {
            what: "transaction",
            after: self.options.timeout.unwrap_or_default(),
        }
    }

    fn deadline_passed(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Rolls back on the spot; a connection that cannot roll back is closed.
    async fn rollback_now(tc: &mut TxConn) {
        if tc.checkout.is_poisoned() {
            tc.checkout.discard();
            return;
        }
        match tc.checkout.perform(Op::Control { sql: "ROLLBACK" }).await {
            Ok(_) => tc.checkout.in_tx = false,
            Err(e) => {
                tracing::debug!(target: "db_mysql", error = %e, "ROLLBACK failed; closing the connection");
                tc.checkout.discard();
            }
        }
    }

    /// Rolls back because the deadline passed (once).
    async fn expire(&self, tc: &mut TxConn) {
        if !tc.aborted {
            tc.aborted = true;
            Self::rollback_now(tc).await;
        }
    }

    /// Whether [`TxCore::ready`] has anything to check or do before the next statement.
    fn needs_attention(&self, tc: &TxConn) -> bool {
        tc.aborted
            || tc.rolled_back_by_server.is_some()
            || self.deadline.is_some()
            || self.db.cut_off.load(Ordering::Acquire)
            || self.has_abandoned.load(Ordering::Acquire)
    }

    /// Queues savepoint `name` for rollback before the transaction's next statement.
    fn abandon(&self, name: String) {
        if let Ok(mut abandoned) = self.abandoned.lock() {
            abandoned.push(name);
        }
        self.has_abandoned.store(true, Ordering::Release);
    }

    /// Checks the transaction can run a statement and rolls back abandoned savepoints.
    async fn ready(&self, tc: &mut TxConn) -> Result<()> {
        if self.db.cut_off.load(Ordering::Acquire) {
            // `close` gave up waiting for this transaction: it ends with its connection.
            tc.checkout.discard();
            return Err(Error::PoolClosed);
        }
        if tc.aborted {
            return Err(self.timeout_error());
        }
        if let Some(cause) = &tc.rolled_back_by_server {
            return Err(rolled_back_error(cause, "this statement was not run"));
        }
        if self.deadline_passed() {
            self.expire(tc).await;
            return Err(self.timeout_error());
        }
        // Cleared before the names are taken: a savepoint abandoned meanwhile sets it again.
        self.has_abandoned.store(false, Ordering::Release);
        let abandoned: Vec<String> = self
            .abandoned
            .lock()
            .map(|mut a| std::mem::take(&mut *a))
            .unwrap_or_default();
        for name in abandoned {
            let sql = format!("ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}");
            tc.checkout.perform(Op::Control { sql: &sql }).await?;
        }
        Ok(())
    }

    /// Runs `op` under the transaction's deadline.
    async fn run(&self, op: Op<'_>) -> Result<Output> {
        let mut guard = self.conn.lock().await;
        let tc = &mut *guard;
        if self.needs_attention(tc) {
            Box::pin(self.ready(tc)).await?;
        }
        let result = match self.deadline {
            None => tc.checkout.perform(op).await,
            // Boxed: racing the statement against the deadline (and killing it from a
            // second connection) takes a future many times the statement's size, which
            // every statement of every transaction would otherwise carry.
            Some(deadline) => Box::pin(self.run_until(tc, op, deadline)).await,
        };
        if let Err(e) = &result
            && may_end_the_transaction(e)
        {
            // Boxed: rare, and it runs a query of its own.
            Box::pin(self.check_server_rollback(tc, e)).await;
        }
        result
    }

    /// After an error that may have made InnoDB roll the whole transaction back, finds
    /// out whether it did: always for a deadlock; for a lock wait timeout only with
    /// `innodb_rollback_on_timeout` (read from the server; when it cannot be read, the
    /// transaction is taken as gone, the safe answer).
    async fn check_server_rollback(&self, tc: &mut TxConn, e: &Error) {
        let whole = match e.code() {
            Some("1213") => true,
            _ => {
                let setting = async {
                    let sql = self.db.prepare("SELECT @@innodb_rollback_on_timeout", 0)?;
                    let out = tc
                        .checkout
                        .perform(Op::Query {
                            sql: &sql,
                            params: &[],
                        })
                        .await?;
                    let row = out.rows().into_iter().next();
                    Ok::<_, Error>(row.and_then(|r| r.get::<i64>(0).ok()))
                };
                setting.await.ok().flatten() != Some(0)
            }
        };
        if whole {
            tc.rolled_back_by_server = Some(ServerRollback {
                kind: e.kind(),
                code: e.code().map(str::to_owned),
                message: e.to_string(),
            });
        }
    }

    /// Runs `op` on `tc`, stopping it on the server if `deadline` passes first.
    async fn run_until(&self, tc: &mut TxConn, op: Op<'_>, deadline: Instant) -> Result<Output> {
        let id = tc.checkout.id();
        let raced = {
            let fut = tc.checkout.perform(op);
            tokio::pin!(fut);
            tokio::select! {
                biased;
                r = &mut fut => Raced::Done(r),
                () = tokio::time::sleep_until(deadline) => {
                    self.db.kill_query(id).await;
                    // The statement now ends with ER_QUERY_INTERRUPTED.
                    let finished = tokio::time::timeout(KILL_GRACE, &mut fut).await.is_ok();
                    Raced::TimedOut { finished }
                }
            }
        };
        match raced {
            Raced::Done(Err(e)) if self.deadline_passed() => {
                // Interrupted just as the deadline passed.
                tracing::debug!(target: "db_mysql", error = %e, "statement failed at the deadline");
                self.expire(tc).await;
                Err(self.timeout_error())
            }
            Raced::Done(r) => r,
            Raced::TimedOut { finished } => {
                if !finished {
                    // Still not answering: give the connection up.
                    tc.checkout.discard();
                }
                self.expire(tc).await;
                Err(self.timeout_error())
            }
        }
    }

    async fn finish(&self, commit: bool) -> Result<()> {
        let result = self.finish_inner(commit).await;
        observe::record_end(&self.span, commit, &result);
        result
    }

    async fn finish_inner(&self, commit: bool) -> Result<()> {
        let mut guard = self.conn.lock().await;
        let tc = &mut *guard;
        if self.db.cut_off.load(Ordering::Acquire) {
            // `close` gave up waiting: closing the connection ends the transaction.
            tc.checkout.discard();
            return if commit {
                Err(Error::PoolClosed)
            } else {
                Ok(())
            };
        }
        if tc.aborted {
            return if commit {
                Err(self.timeout_error())
            } else {
                Ok(())
            };
        }
        if let Some(cause) = &tc.rolled_back_by_server {
            return if commit {
                Err(rolled_back_error(cause, "nothing was committed"))
            } else {
                Ok(())
            };
        }
        if commit && self.deadline_passed() {
            self.expire(tc).await;
            return Err(self.timeout_error());
        }
        if tc.checkout.is_poisoned() {
            // Closing the connection ends the transaction on the server.
            tc.checkout.discard();
            return if commit {
                Err(Error::Internal(
                    "the transaction's connection was lost to a cancelled statement; \
                     nothing was committed"
                        .into(),
                ))
            } else {
                Ok(())
            };
        }
        if commit && let Err(e) = self.ready(tc).await {
            Self::rollback_now(tc).await;
            return Err(e);
        }
        if commit && tc.checkout.is_disconnected() {
            // Found closed before COMMIT was sent (an earlier statement lost the
            // connection): the transaction ended with it.
            tc.checkout.discard();
            return Err(Error::database(
                DatabaseType::Mysql,
                ErrorKind::ConnectionLost,
                None,
                "the transaction's connection was lost; nothing was committed",
                None,
            ));
        }
        // COMMIT / ROLLBACK run to completion even past the deadline (cancelling a
        // COMMIT could not undo it), but not forever: with a deadline, a server that
        // does not answer within `timeout` more (a partition, a hung server) gets its
        // connection closed.
        let sql = if commit { "COMMIT" } else { "ROLLBACK" };
        let ran = match self.deadline {
            None => tc.checkout.perform(Op::Control { sql }).await,
            Some(deadline) => {
                let limit = self.db.config().timeout;
                let until = deadline.max(Instant::now()) + limit;
                match tokio::time::timeout_at(until, tc.checkout.perform(Op::Control { sql })).await
                {
                    Ok(ran) => ran,
                    Err(_) => {
                        tc.checkout.discard();
                        return Err(Error::database(
                            DatabaseType::Mysql,
                            if commit {
                                ErrorKind::CommitOutcomeUnknown
                            } else {
                                ErrorKind::ConnectionLost
                            },
                            None,
                            format!(
                                "no answer to {sql} within {limit:?} after the transaction's \
                                 deadline; the connection was closed{}",
                                if commit {
                                    ", so whether the transaction committed is unknown"
                                } else {
                                    ", so the server rolls back"
                                }
                            ),
                            None,
                        ));
                    }
                }
            }
        };
        match ran {
            Ok(_) => {
                tc.checkout.in_tx = false;
                Ok(())
            }
            Err(e) => {
                Self::rollback_now(tc).await;
                Err(if commit { commit_outcome_unknown(e) } else { e })
            }
        }
    }

    /// The multi-row `INSERT` batches of `rows`, which the caller has checked with
    /// [`InsertPlan::new`] (widths and values) before sending anything.
    async fn insert_rows(
        &self,
        table: &str,
        columns: &[&str],
        rows: Vec<Vec<Value>>,
    ) -> Result<u64> {
        let plan = InsertPlan::new(DatabaseType::Mysql, table, columns, &[])?;
        let width = columns.len();
        let max_rows = (dbcore::max_bind_params(DatabaseType::Mysql) / width).clamp(1, BULK_ROWS);
        // COM_STMT_EXECUTE carries every value; keep well under max_allowed_packet.
        let budget = (self.db.max_allowed_packet() / 4 * 3)
            .saturating_sub(16 * 1024)
            .max(64 * 1024);
        let mut rows = rows.into_iter().peekable();
        let mut total = 0;
        // The statement for each distinct batch size, built and checked once per call
        // (usually one size, plus the last, shorter batch).
        let mut statements: Vec<(usize, Arc<PreparedSql>)> = Vec::new();
        let zone = self.db.shared.zone;
        while rows.peek().is_some() {
            let mut flat = Vec::with_capacity(max_rows.min(rows.len()) * width);
            let (mut n, mut bytes) = (0usize, 0usize);
            while n < max_rows {
                let Some(size) = rows.peek().map(|r| row_size(r)) else {
                    break;
                };
                if n > 0 && bytes + size > budget {
                    break;
                }
                let Some(row) = rows.next() else {
                    break;
                };
                bytes += size;
                // Converted as they are moved: text and bytes are not copied.
                for v in row {
                    let native = crate::value::into_mysql(v, zone)
                        .map_err(|m| Error::parameter(flat.len() + 1, m))?;
                    flat.push(native);
                }
                n += 1;
            }
            let sql = match statements.iter().find(|(rows, _)| *rows == n) {
                Some((_, sql)) => Arc::clone(sql),
                None => {
                    let sql = self.db.prepare(&plan.sql_for(n), flat.len())?;
                    statements.push((n, Arc::clone(&sql)));
                    sql
                }
            };
            // `$1..$N` in order: the values go over as they are, moved, not copied.
            debug_assert!(sql.param_order.iter().copied().eq(0..flat.len()));
            total += self
                .run(Op::Insert {
                    sql: &sql,
                    params: flat,
                })
                .await?
                .count();
        }
        Ok(total)
    }

    /// [`insert_rows`](Self::insert_rows) inside a savepoint: a load of several batches
    /// that fails part-way leaves none of its rows behind, and the transaction usable,
    /// as `insert_many` on the pool (one transaction) and the other drivers behave.
    async fn insert_rows_atomically(
        &self,
        table: &str,
        columns: &[&str],
        rows: Vec<Vec<Value>>,
    ) -> Result<u64> {
        // Bad input fails before anything is sent.
        InsertPlan::new(DatabaseType::Mysql, table, columns, &rows)?;
        if rows.is_empty() {
            return Ok(0);
        }
        let name = format!(
            "dblayer_bulk_{}",
            self.next_savepoint.fetch_add(1, Ordering::Relaxed)
        );
        let control = |sql: String| async move { self.run(Op::Control { sql: &sql }).await };
        control(format!("SAVEPOINT {name}")).await?;
        // From here until the savepoint is released or rolled back: if this future is
        // dropped (between two batches, say), the savepoint is rolled back before the
        // transaction's next statement, like a savepoint handle dropped unfinished.
        let mut pending = AbandonOnDrop {
            core: self,
            name: Some(name.clone()),
        };
        let result = match self.insert_rows(table, columns, rows).await {
            Ok(n) => control(format!("RELEASE SAVEPOINT {name}"))
                .await
                .map(|_| n),
            Err(e) => {
                // Best effort: after a deadline the transaction is gone anyway.
                if control(format!("ROLLBACK TO SAVEPOINT {name}"))
                    .await
                    .is_ok()
                {
                    let _ = control(format!("RELEASE SAVEPOINT {name}")).await;
                }
                Err(e)
            }
        };
        pending.name = None;
        result
    }
}

/// A savepoint of the layer's own that must be rolled back if the future using it is
/// dropped before it is released (queued on the transaction's abandoned savepoints).
struct AbandonOnDrop<'a> {
    core: &'a TxCore,
    /// `None` once the savepoint was released or rolled back.
    name: Option<String>,
}

impl Drop for AbandonOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(name) = self.name.take() {
            self.core.abandon(name);
        }
    }
}

/// The bytes one row adds to a `COM_STMT_EXECUTE` packet (an upper estimate).
fn row_size(row: &[Value]) -> usize {
    row.iter()
        .map(|v| {
            2 + match v {
                Value::Null => 0,
                Value::Text(s) => s.len() + 9,
                Value::Bytes(b) => b.len() + 9,
                _ => 40,
            }
        })
        .sum()
}

/// A COMMIT whose connection was lost before its answer arrived may have committed on
/// the server or not: [`ErrorKind::CommitOutcomeUnknown`] (the code and the source are
/// kept). Other errors are returned as they are.
fn commit_outcome_unknown(e: Error) -> Error {
    if e.kind() != ErrorKind::ConnectionLost {
        return e;
    }
    let cause = match e.as_database_error() {
        Some(db) => db.message.clone(),
        None => e.to_string(),
    };
    Error::database(
        DatabaseType::Mysql,
        ErrorKind::CommitOutcomeUnknown,
        e.code().map(str::to_owned),
        format!(
            "the connection was lost while COMMIT was in flight ({cause}): whether the \
             transaction committed is unknown"
        ),
        Some(Box::new(e)),
    )
}

/// The SQL that opens a transaction with `options`.
fn begin_sql(options: &TxOptions) -> Cow<'static, str> {
    match (options.isolation, options.read_only) {
        (None, false) => return Cow::Borrowed("START TRANSACTION"),
        (None, true) => return Cow::Borrowed("START TRANSACTION READ ONLY"),
        _ => {}
    }
    let mut sql = String::new();
    if let Some(level) = options.isolation {
        // Applies to the next transaction only: the one started right after it.
        sql.push_str("SET TRANSACTION ISOLATION LEVEL ");
        sql.push_str(level.as_sql());
        sql.push_str("; ");
    }
    sql.push_str("START TRANSACTION");
    if options.read_only {
        sql.push_str(" READ ONLY");
    }
    Cow::Owned(sql)
}

/// A MySQL / MariaDB transaction ([`Transaction`]), or one of its savepoints.
///
/// A savepoint (`depth() > 0`) borrows its parent mutably for `'a`, so the parent cannot
/// be used until the savepoint is committed (released), rolled back or dropped.
pub struct MySqlTransaction<'a> {
    core: Arc<TxCore>,
    savepoint: Option<String>,
    depth: u32,
    finished: bool,
    _parent: PhantomData<&'a mut ()>,
}

impl std::fmt::Debug for MySqlTransaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MySqlTransaction")
            .field("options", &self.core.options)
            .field("depth", &self.depth)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl MySqlTransaction<'static> {
    /// Takes a connection and starts a transaction on it.
    pub(crate) async fn begin(db: Arc<Inner>, options: TxOptions) -> Result<Self> {
        let deadline = options.timeout.map(|t| Instant::now() + t);
        let span = observe::transaction_span(DatabaseType::Mysql, &options);
        let mut checkout = db.checkout().await?.into_owned();
        // From here on a dropped handle rolls back, even while START TRANSACTION is in
        // flight (then the connection is closed).
        checkout.in_tx = true;
        let sql = begin_sql(&options);
        let started = match deadline {
            None => checkout.perform(Op::Control { sql: &sql }).await,
            // START TRANSACTION under the deadline too: a connection that does not
            // answer (a partition, a hung server) must not hold the caller past it.
            Some(deadline) => {
                match tokio::time::timeout_at(deadline, checkout.perform(Op::Control { sql: &sql }))
                    .await
                {
                    Ok(started) => started,
                    Err(_) => {
                        // Poisoned mid-statement: closed (and killed), not reused.
                        checkout.discard();
                        return Err(Error::Timeout {
                            what: "transaction",
                            after: options.timeout.unwrap_or_default(),
                        });
                    }
                }
            }
        };
        if let Err(e) = started {
            // `SET TRANSACTION` may linger for the next transaction: close it.
            checkout.discard();
            return Err(e);
        }
        let core = Arc::new(TxCore {
            db,
            conn: Mutex::new(TxConn {
                checkout,
                aborted: false,
                rolled_back_by_server: None,
            }),
            options,
            deadline,
            next_savepoint: AtomicU32::new(1),
            abandoned: StdMutex::new(Vec::new()),
            has_abandoned: AtomicBool::new(false),
            expiry: StdMutex::new(None),
            span,
        });
        if let Some(deadline) = deadline {
            let weak = Arc::downgrade(&core);
            let handle = core
                .db
                .shared
                .runtime
                .spawn(async move {
                    tokio::time::sleep_until(deadline).await;
                    let Some(core) = weak.upgrade() else { return };
                    let mut tc = core.conn.lock().await;
                    if tc.checkout.in_tx {
                        core.expire(&mut tc).await;
                    }
                })
                .abort_handle();
            if let Ok(mut slot) = core.expiry.lock() {
                *slot = Some(handle);
            }
        }
        Ok(MySqlTransaction {
            core,
            savepoint: None,
            depth: 0,
            finished: false,
            _parent: PhantomData,
        })
    }

    /// The bulk path inside this transaction, for rows the caller has checked with
    /// [`InsertPlan::new`] (`Database::insert_many` does, before taking a connection).
    pub(crate) async fn insert_rows(
        &self,
        table: &str,
        columns: &[&str],
        rows: Vec<Vec<Value>>,
    ) -> Result<u64> {
        self.core.insert_rows(table, columns, rows).await
    }
}

impl MySqlTransaction<'_> {
    async fn end(&mut self, commit: bool) -> Result<()> {
        self.finished = true;
        match &self.savepoint {
            None => self.core.finish(commit).await,
            Some(name) => {
                let sql = if commit {
                    format!("RELEASE SAVEPOINT {name}")
                } else {
                    format!("ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}")
                };
                self.core.run(Op::Control { sql: &sql }).await.map(drop)
            }
        }
    }
}

impl MySqlTransaction<'_> {
    /// [`Executor::execute`] without the boxed future of the object-safe trait: on the
    /// concrete type, method-call syntax picks this one.
    pub async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        let run = || async {
            let prepared = self.core.db.prepare(sql, params.len())?;
            Ok(self
                .core
                .run(Op::Execute {
                    sql: &prepared,
                    params,
                })
                .await?
                .count())
        };
        self.core.traced("execute", sql, rows_affected, run).await
    }

    /// [`Executor::query`] without the boxed future of the object-safe trait.
    pub async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let run = || async {
            let prepared = self.core.db.prepare(sql, params.len())?;
            Ok(self
                .core
                .run(Op::Query {
                    sql: &prepared,
                    params,
                })
                .await?
                .rows())
        };
        self.core.traced("query", sql, rows_returned, run).await
    }

    /// [`Executor::query_one`] without the boxed future of the object-safe trait.
    pub async fn query_one(&self, sql: &str, params: &[Value]) -> Result<Row> {
        dbcore::single_row(self.query(sql, params).await?)
    }

    /// [`Executor::query_opt`] without the boxed future of the object-safe trait.
    pub async fn query_opt(&self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        dbcore::optional_row(self.query(sql, params).await?)
    }

    /// [`Transaction::savepoint`] without the boxed future and the trait object: the
    /// savepoint as a concrete `MySqlTransaction`, which borrows this one until it ends.
    pub async fn savepoint(&mut self) -> Result<MySqlTransaction<'_>> {
        let n = self.core.next_savepoint.fetch_add(1, Ordering::Relaxed);
        let name = format!("dblayer_sp_{n}");
        self.core
            .run(Op::Control {
                sql: &format!("SAVEPOINT {name}"),
            })
            .await?;
        Ok(MySqlTransaction {
            core: Arc::clone(&self.core),
            savepoint: Some(name),
            depth: self.depth + 1,
            finished: false,
            _parent: PhantomData,
        })
    }

    /// [`Transaction::commit`] without the boxed future of the object-safe trait.
    pub async fn commit(mut self) -> Result<()> {
        self.end(true).await
    }

    /// [`Transaction::rollback`] without the boxed future of the object-safe trait.
    pub async fn rollback(mut self) -> Result<()> {
        self.end(false).await
    }
}

impl Drop for MySqlTransaction<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let Some(name) = self.savepoint.take() {
            // Undone before the parent's next statement (or commit).
            self.core.abandon(name);
        }
        // A top-level transaction is rolled back when its connection is released (the
        // checkout is still marked as inside a transaction).
    }
}

#[async_trait]
impl Executor for MySqlTransaction<'_> {
    fn database_type(&self) -> DatabaseType {
        DatabaseType::Mysql
    }

    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        MySqlTransaction::execute(self, sql, params).await
    }

    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        MySqlTransaction::query(self, sql, params).await
    }

    async fn query_opt_with(
        &self,
        sql: &str,
        params: &[Value],
        read: &mut RowReader<'_>,
    ) -> Result<bool> {
        let run = move || async move {
            let prepared = self.core.db.prepare(sql, params.len())?;
            let rows = self
                .core
                .run(Op::Native {
                    sql: &prepared,
                    params,
                    f: &mut at_most_one(|decoder: &Decoder, row| decoder.read(row, read)),
                })
                .await?;
            Ok(rows.count() > 0)
        };
        let rows = |found: &bool| Some(u64::from(*found));
        self.core.traced("query", sql, rows, run).await
    }

    async fn execute_batch(&self, sql: &str) -> Result<()> {
        let run = || async {
            self.core.db.check_script(sql, true)?;
            self.core.run(Op::Batch { sql }).await.map(drop)
        };
        self.core.traced("execute_batch", sql, no_rows, run).await
    }

    async fn for_each_row(
        &self,
        sql: &str,
        params: &[Value],
        f: &mut (dyn FnMut(Row) -> Result<()> + Send),
    ) -> Result<u64> {
        let run = move || async move {
            let prepared = self.core.db.prepare(sql, params.len())?;
            Ok(self
                .core
                .run(Op::Each {
                    sql: &prepared,
                    params,
                    f,
                })
                .await?
                .count())
        };
        self.core
            .traced("for_each_row", sql, rows_affected, run)
            .await
    }

    async fn insert_many(
        &self,
        table: &str,
        columns: &[&str],
        rows: Vec<Vec<Value>>,
    ) -> Result<u64> {
        self.core
            .traced("insert_many", table, rows_affected, || {
                self.core.insert_rows_atomically(table, columns, rows)
            })
            .await
    }
}

#[async_trait]
impl Transaction for MySqlTransaction<'_> {
    async fn commit(self: Box<Self>) -> Result<()> {
        MySqlTransaction::commit(*self).await
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        MySqlTransaction::rollback(*self).await
    }

    async fn savepoint(&mut self) -> Result<Box<dyn Transaction + '_>> {
        Ok(Box::new(MySqlTransaction::savepoint(self).await?))
    }

    fn options(&self) -> &TxOptions {
        &self.core.options
    }

    fn depth(&self) -> u32 {
        self.depth
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbcore::IsolationLevel;

    #[test]
    fn begin_statements() {
        assert_eq!(begin_sql(&TxOptions::new()), "START TRANSACTION");
        assert_eq!(
            begin_sql(&TxOptions::read_only_tx()),
            "START TRANSACTION READ ONLY"
        );
        assert_eq!(
            begin_sql(&TxOptions::new().isolation(IsolationLevel::Serializable)),
            "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE; START TRANSACTION"
        );
    }

    #[test]
    fn row_sizes() {
        assert_eq!(
            row_size(&[Value::Null, Value::Text("abc".into())]),
            2 + 2 + 12
        );
    }
}
