//! [`PgTransaction`] and its savepoints.
//!
//! The transaction owns its pooled connection. Its state is tracked in the layer, and
//! the connection goes back to the pool only after a `COMMIT` or `ROLLBACK` that the
//! server confirmed; otherwise it is discarded (the server then rolls back).
//! - Dropped unfinished, or its future cancelled (also while `BEGIN` is in flight): a
//!   task cancels any statement still running, sends `ROLLBACK`, and returns the
//!   connection only if that succeeded.
//! - A deadline (`TxOptions::timeout`): the running statement is cancelled on the server
//!   with tokio-postgres's cancel token (over TLS when the connection uses TLS), the
//!   transaction is rolled back, and the caller gets `ErrorKind::Timeout`.
//! - A savepoint dropped unfinished queues `ROLLBACK TO SAVEPOINT`, which runs before
//!   the parent's next statement.

use std::future::Future;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dbcore::observe::{self, no_rows, rows_affected};
use dbcore::{
    DatabaseType, Error, ErrorKind, Executor, InsertPlan, PlaceholderStyle, Result, Row, RowReader,
    Transaction, TxOptions, Value, prepare_sql,
};
use deadpool_postgres::ClientWrapper;

use crate::conn::PooledConn;
use crate::database::{Inner, prepare};
use crate::exec::{self, Fetched, PortableRows, ReaderRows, Shape};

/// How long the clean-up of an abandoned transaction may take before the connection is
/// discarded instead.
const CLEANUP_LIMIT: Duration = Duration::from_secs(10);

/// How long a caller whose transaction deadline passed waits for the running statement
/// to be cancelled and the transaction rolled back. When the server does not answer in
/// time (a partition, a hung server), the connection is given up instead (closed, so the
/// server rolls back once it notices), and the caller gets its `Timeout` now rather than
/// after [`CLEANUP_LIMIT`]. A cancel request still under way goes on in the background.
const EXPIRE_GRACE: Duration = Duration::from_secs(1);

/// State shared by a transaction and its savepoints.
pub(crate) struct TxCore {
    db: Arc<Inner>,
    conn: Option<PooledConn<'static>>,
    options: TxOptions,
    deadline: Option<Instant>,
    /// The deadline passed: the transaction is (being) rolled back and refuses work.
    aborted: AtomicBool,
    /// The rollback after the deadline was confirmed by the server.
    rolled_back: AtomicBool,
    /// The connection's state is unknown: discard it instead of reusing it.
    broken: AtomicBool,
    /// Statements sent whose results have not been read (a future was cancelled).
    in_flight: AtomicUsize,
    /// A server error aborted the transaction (until a savepoint rollback recovers it).
    failed: AtomicBool,
    /// The error that aborted it (its kind and text), for the errors of what follows.
    failure: Mutex<Option<(ErrorKind, String)>>,
    /// `ROLLBACK TO SAVEPOINT` for savepoints dropped unfinished.
    pending: Mutex<Vec<String>>,
    next_savepoint: AtomicU32,
    /// The `db.transaction` span: the parent of the statements' spans.
    span: tracing::Span,
}

impl TxCore {
    fn client(&self) -> &ClientWrapper {
        match &self.conn {
            Some(conn) => conn.client(),
            None => unreachable!("the connection is held until the transaction ends"),
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

    /// Cancels whatever runs on the connection, on the server; whether the server
    /// confirmed the request within `wait`. The request is sent from a task of its own
    /// (bounded by [`CLEANUP_LIMIT`]), so it still goes out when the caller stops
    /// waiting.
    async fn cancel_running(&self, wait: Duration) -> bool {
        let Some(conn) = &self.conn else { return false };
        let token = conn.client().cancel_token();
        let tls = conn.tls().clone();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        let request = runtime.spawn(async move {
            matches!(
                tokio::time::timeout(CLEANUP_LIMIT, token.cancel_query(tls)).await,
                Ok(Ok(()))
            )
        });
        matches!(tokio::time::timeout(wait, request).await, Ok(Ok(true)))
    }

    /// The deadline passed: cancel the running statement, roll back.
    async fn expire(&self) {
        if self.aborted.swap(true, Ordering::AcqRel) {
            return;
        }
        self.roll_back_now(true, EXPIRE_GRACE).await;
    }

    /// Cancels any statement still running (when `cancel`), then rolls back, all within
    /// `limit`; records whether the server confirmed it (`rolled_back`) or the state is
    /// unknown (`broken`).
    async fn roll_back_now(&self, cancel: bool, limit: Duration) {
        let started = Instant::now();
        if cancel {
            // A cancel request travels on a connection of its own and may arrive after
            // the statement it was meant for: this connection is not reused.
            self.broken.store(true, Ordering::Release);
            if !self.cancel_running(limit).await {
                return;
            }
        }
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, exec::batch(self.client(), "ROLLBACK")).await {
            Ok(Ok(())) => {
                self.in_flight.store(0, Ordering::Release);
                self.rolled_back.store(true, Ordering::Release);
            }
            Ok(Err(e)) => {
                tracing::warn!(target: "db_postgres", error = %e, "ROLLBACK failed; the connection is discarded");
                self.broken.store(true, Ordering::Release);
            }
            Err(_) => self.broken.store(true, Ordering::Release),
        }
    }

    fn note_error(&self, e: &Error) {
        if e.kind() == ErrorKind::ConnectionLost {
            self.broken.store(true, Ordering::Release);
        }
        // 25P02 is what the server answers once the transaction is aborted: the first
        // error says why.
        if e.code().is_some() && e.code() != Some("25P02") && !self.failed.load(Ordering::Acquire) {
            *self.failure.lock().unwrap_or_else(PoisonError::into_inner) =
                Some((e.kind(), e.to_string()));
        }
        if e.code().is_some() {
            self.failed.store(true, Ordering::Release);
        }
    }

    /// A savepoint rollback (or an abandoned savepoint's) recovered the transaction.
    fn recovered(&self) {
        self.failed.store(false, Ordering::Release);
        *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// The error for work on a transaction an earlier error aborted: of that error's kind
    /// (a deadlock or serialization failure stays retryable), saying what it was.
    fn aborted_error(&self, what: &str) -> Error {
        let failure = self
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let (kind, cause) = failure.unwrap_or((ErrorKind::Other, "not known".to_owned()));
        Error::database(
            DatabaseType::Postgres,
            kind,
            Some("25P02".into()),
            format!("the transaction was aborted by an earlier error ({cause}); {what}"),
            None,
        )
    }

    /// Runs the statement `make` builds on this transaction's connection under the
    /// deadline. The statement's future is built here, not passed in: an `async fn`
    /// argument is stored twice in the caller's future, and statement futures are large.
    async fn guarded<T, F>(&self, make: impl FnOnce() -> F) -> Result<T>
    where
        F: Future<Output = Result<T>>,
    {
        if self.db.cut_off.load(Ordering::Acquire) {
            // `close` gave up waiting for this transaction: it ends with its connection.
            self.broken.store(true, Ordering::Release);
            return Err(Error::PoolClosed);
        }
        if self.deadline_passed() && !self.aborted.swap(true, Ordering::AcqRel) {
            // Past the deadline between statements: roll back and say why (the server
            // may have ended the idle session already, `idle_in_transaction_session_
            // timeout`: not "connection lost"). Nothing of ours runs, so no cancel is
            // sent: a late one could reach the connection's next user.
            let running = self.in_flight.load(Ordering::Acquire) > 0;
            self.roll_back_now(running, EXPIRE_GRACE).await;
        }
        if self.aborted.load(Ordering::Acquire) {
            return Err(self.timeout_error());
        }
        if self.broken.load(Ordering::Acquire) {
            return Err(Error::database(
                DatabaseType::Postgres,
                ErrorKind::ConnectionLost,
                None,
                "the transaction's connection was lost",
                None,
            ));
        }
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let result = match self.deadline {
            None => make().await,
            Some(deadline) => match tokio::time::timeout_at(deadline.into(), make()).await {
                Ok(result) => result,
                Err(_) => {
                    self.expire().await;
                    return Err(self.timeout_error());
                }
            },
        };
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        match result {
            Err(e) if e.kind() == ErrorKind::Timeout && self.aborted.load(Ordering::Acquire) => {
                Err(self.timeout_error())
            }
            Err(e) => {
                self.note_error(&e);
                if e.code() == Some("25P02") {
                    return Err(self.aborted_error(
                        "this statement was not run: roll back, or roll back to a savepoint \
                         taken before the error",
                    ));
                }
                Err(e)
            }
            ok => ok,
        }
    }

    /// Runs one statement: the pending savepoint clean-up first (boxed: it is rare, and
    /// its future would otherwise add to every statement's), then the statement under
    /// the deadline.
    async fn run_statement<T, F>(&self, make: impl FnOnce() -> F) -> Result<T>
    where
        F: Future<Output = Result<T>>,
    {
        let pending = !self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty();
        if pending {
            Box::pin(self.flush()).await?;
        }
        self.guarded(make).await
    }

    /// Runs the savepoint rollbacks queued by dropped savepoints.
    async fn flush(&self) -> Result<()> {
        loop {
            let next = {
                let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
                if pending.is_empty() {
                    return Ok(());
                }
                pending.remove(0)
            };
            self.guarded(|| exec::batch(self.client(), &next)).await?;
            self.recovered();
        }
    }

    async fn control(&self, sql: &str) -> Result<()> {
        self.flush().await?;
        self.guarded(|| exec::batch(self.client(), sql)).await
    }

    /// Ends the transaction and hands the connection back (or discards it).
    async fn finish(&mut self, commit: bool) -> Result<()> {
        let result = self.end(commit).await;
        observe::record_end(&self.span, commit, &result);
        if let Some(conn) = self.conn.take() {
            let ended = match &result {
                Ok(()) => true,
                // After a server error on COMMIT the transaction is over.
                Err(e) => e.code().is_some() || self.rolled_back.load(Ordering::Acquire),
            };
            if ended && !self.broken.load(Ordering::Acquire) {
                drop(conn);
            } else {
                conn.discard();
            }
        }
        result
    }

    async fn end(&self, commit: bool) -> Result<()> {
        let lost = || {
            Error::database(
                DatabaseType::Postgres,
                ErrorKind::ConnectionLost,
                None,
                "the transaction's connection was lost; nothing was committed",
                None,
            )
        };
        if self.db.cut_off.load(Ordering::Acquire) {
            // `close` gave up waiting: closing the connection ends the transaction.
            self.broken.store(true, Ordering::Release);
            return if commit {
                Err(Error::PoolClosed)
            } else {
                Ok(())
            };
        }
        if self.broken.load(Ordering::Acquire) {
            return match commit {
                false => Ok(()),
                true if self.aborted.load(Ordering::Acquire) || self.deadline_passed() => {
                    Err(self.timeout_error())
                }
                true => Err(lost()),
            };
        }
        if self.rolled_back.load(Ordering::Acquire) {
            // The deadline passed and the rollback is done.
            return if commit {
                Err(self.timeout_error())
            } else {
                Ok(())
            };
        }
        let aborted = self.aborted.load(Ordering::Acquire);
        if !commit || aborted || self.deadline_passed() {
            // A statement may still run if its future was cancelled, or if the deadline
            // fired while the cancel was being sent.
            let cancel = aborted || self.in_flight.load(Ordering::Acquire) > 0;
            // Past the deadline the caller waits only briefly for the clean-up; an
            // explicit rollback waits for the server's answer (up to CLEANUP_LIMIT).
            let limit = if commit || aborted || self.deadline_passed() {
                EXPIRE_GRACE
            } else {
                CLEANUP_LIMIT
            };
            self.aborted.store(true, Ordering::Release);
            self.roll_back_now(cancel, limit).await;
            return if commit {
                Err(self.timeout_error())
            } else if self.broken.load(Ordering::Acquire) {
                Err(Error::database(
                    DatabaseType::Postgres,
                    ErrorKind::ConnectionLost,
                    None,
                    "ROLLBACK could not be confirmed; the connection was closed, so the \
                     server rolls back",
                    None,
                ))
            } else {
                Ok(())
            };
        }
        self.flush().await?;
        if self.failed.load(Ordering::Acquire) {
            // PostgreSQL would turn this COMMIT into a silent ROLLBACK.
            exec::batch(self.client(), "ROLLBACK").await?;
            return Err(self.aborted_error("it has been rolled back; nothing was committed"));
        }
        if self.client().is_closed() {
            // Found closed before COMMIT was sent (the server ended the session): the
            // transaction ended with it.
            self.broken.store(true, Ordering::Release);
            return Err(lost());
        }
        let commit = exec::batch(self.client(), "COMMIT");
        let result = match self.deadline {
            None => commit.await,
            // COMMIT runs to completion past the deadline (cancelling it could not undo
            // it), but not forever: a server that does not answer within `timeout` more
            // (a partition, a hung server) gets its connection closed.
            Some(deadline) => {
                let limit = self.db.config.timeout;
                let until = deadline.max(Instant::now()) + limit;
                match tokio::time::timeout_at(until.into(), commit).await {
                    Ok(result) => result,
                    Err(_) => {
                        self.broken.store(true, Ordering::Release);
                        return Err(Error::database(
                            DatabaseType::Postgres,
                            ErrorKind::CommitOutcomeUnknown,
                            None,
                            format!(
                                "no answer to COMMIT within {limit:?} after the transaction's \
                                 deadline; the connection was closed, so whether the \
                                 transaction committed is unknown"
                            ),
                            None,
                        ));
                    }
                }
            }
        };
        result.map_err(|e| {
            self.note_error(&e);
            commit_outcome_unknown(e)
        })
    }
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
    let code = e.code().map(str::to_owned);
    Error::database(
        DatabaseType::Postgres,
        ErrorKind::CommitOutcomeUnknown,
        code,
        format!(
            "the connection was lost while COMMIT was in flight ({cause}): whether the \
             transaction committed is unknown"
        ),
        Some(Box::new(e)),
    )
}

/// Rolls back an abandoned transaction off the caller's task, then returns the
/// connection; without a runtime (or if anything fails) the connection is discarded.
fn abandon(core: &mut TxCore) {
    let Some(conn) = core.conn.take() else { return };
    observe::record_outcome(&core.span, "dropped");
    if core.broken.load(Ordering::Acquire) {
        conn.discard();
        return;
    }
    if core.rolled_back.load(Ordering::Acquire) {
        drop(conn);
        return;
    }
    let in_flight =
        core.in_flight.load(Ordering::Acquire) > 0 || core.aborted.load(Ordering::Acquire);
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        conn.discard();
        return;
    };
    runtime.spawn(async move {
        let cleaned = tokio::time::timeout(CLEANUP_LIMIT, async {
            if in_flight {
                let token = conn.client().cancel_token();
                token.cancel_query(conn.tls().clone()).await.ok()?;
            }
            exec::batch(conn.client(), "ROLLBACK").await.ok()
        })
        .await;
        if matches!(cleaned, Ok(Some(()))) {
            drop(conn);
        } else {
            conn.discard();
        }
    });
}

enum CoreRef<'a> {
    Owned(Box<TxCore>),
    Borrowed(&'a TxCore),
}

impl Deref for CoreRef<'_> {
    type Target = TxCore;
    fn deref(&self) -> &TxCore {
        match self {
            CoreRef::Owned(core) => core,
            CoreRef::Borrowed(core) => core,
        }
    }
}

/// A PostgreSQL transaction ([`Transaction`]), or one of its savepoints
/// (`depth() > 0`), which borrows its parent until it is committed (released), rolled
/// back or dropped.
pub struct PgTransaction<'a> {
    core: CoreRef<'a>,
    savepoint: Option<String>,
    depth: u32,
    finished: bool,
}

impl std::fmt::Debug for PgTransaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTransaction")
            .field("options", &self.core.options)
            .field("depth", &self.depth)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

/// `BEGIN` with the options' isolation level and access mode. With a deadline, the
/// server also ends the session if the transaction sits idle for that long
/// (`idle_in_transaction_session_timeout`), so an abandoned transaction cannot hold its
/// locks past the deadline even when the client never calls again.
pub(crate) fn begin_sql(options: &TxOptions) -> String {
    let mut sql = String::from("BEGIN");
    if let Some(level) = options.isolation {
        sql.push_str(" ISOLATION LEVEL ");
        sql.push_str(level.as_sql());
    }
    if options.read_only {
        sql.push_str(" READ ONLY");
    }
    if let Some(timeout) = options.timeout {
        let ms = timeout.as_millis().clamp(1, i32::MAX as u128);
        sql.push_str(&format!(
            "; SET LOCAL idle_in_transaction_session_timeout = {ms}"
        ));
    }
    sql
}

impl PgTransaction<'static> {
    pub(crate) async fn begin(
        db: Arc<Inner>,
        conn: PooledConn<'static>,
        options: TxOptions,
    ) -> Result<Self> {
        let deadline = options.timeout.map(|t| Instant::now() + t);
        let sql = begin_sql(&options);
        let span = observe::transaction_span(DatabaseType::Postgres, &options);
        // The guard exists before BEGIN is sent: a future cancelled while BEGIN is in
        // flight still rolls back before the connection is reused.
        let tx = PgTransaction {
            core: CoreRef::Owned(Box::new(TxCore {
                db,
                conn: Some(conn),
                options,
                deadline,
                aborted: AtomicBool::new(false),
                rolled_back: AtomicBool::new(false),
                broken: AtomicBool::new(false),
                in_flight: AtomicUsize::new(0),
                failed: AtomicBool::new(false),
                failure: Mutex::new(None),
                pending: Mutex::new(Vec::new()),
                next_savepoint: AtomicU32::new(1),
                span,
            })),
            savepoint: None,
            depth: 0,
            finished: false,
        };
        tx.core
            .guarded(|| exec::batch(tx.core.client(), &sql))
            .await?;
        Ok(tx)
    }
}

impl PgTransaction<'_> {
    /// [`Executor::execute`] without the boxed future of the object-safe trait: on the
    /// concrete type, method-call syntax picks this one.
    pub async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        let prepared = prepare(&self.core.db.cache, sql, params.len())?;
        self.statement("execute", sql, rows_affected, || {
            exec::execute(self.core.client(), &prepared, params)
        })
        .await
    }

    /// [`Executor::query`] without the boxed future of the object-safe trait.
    pub async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        Ok(self.rows(sql, params, Shape::All).await?.into_vec())
    }

    /// [`Executor::query_one`] without the boxed future of the object-safe trait.
    pub async fn query_one(&self, sql: &str, params: &[Value]) -> Result<Row> {
        self.query_opt(sql, params).await?.ok_or(Error::RowNotFound)
    }

    /// [`Executor::query_opt`] without the boxed future of the object-safe trait.
    pub async fn query_opt(&self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        Ok(self
            .rows(sql, params, Shape::AtMostOne)
            .await?
            .into_iter()
            .next())
    }

    /// [`Transaction::savepoint`] without the boxed future and the trait object: the
    /// savepoint as a concrete `PgTransaction`, which borrows this one until it ends.
    pub async fn savepoint(&mut self) -> Result<PgTransaction<'_>> {
        let n = self.core.next_savepoint.fetch_add(1, Ordering::Relaxed);
        let name = format!("dblayer_sp_{n}");
        self.core.control(&format!("SAVEPOINT {name}")).await?;
        Ok(PgTransaction {
            core: CoreRef::Borrowed(&self.core),
            savepoint: Some(name),
            depth: self.depth + 1,
            finished: false,
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

    async fn end(&mut self, commit: bool) -> Result<()> {
        self.finished = true;
        match (&mut self.core, self.savepoint.clone()) {
            (CoreRef::Owned(core), None) => core.finish(commit).await,
            (core, Some(name)) if commit => {
                core.control(&format!("RELEASE SAVEPOINT {name}")).await
            }
            (core, Some(name)) => {
                core.control(&rollback_to(&name)).await?;
                core.recovered();
                Ok(())
            }
            (CoreRef::Borrowed(_), None) => unreachable!("a borrowed core always has a savepoint"),
        }
    }

    /// Runs the statement `make` builds in its `db.query` span (a child of the
    /// transaction's span), after any pending savepoint clean-up. The traced branch is
    /// boxed and the statement's future built inside each branch, so that an untraced
    /// statement's future stays the size of the statement.
    async fn statement<T, F>(
        &self,
        operation: &'static str,
        sql: &str,
        rows: impl FnOnce(&T) -> Option<u64>,
        make: impl FnOnce() -> F,
    ) -> Result<T>
    where
        F: Future<Output = Result<T>>,
    {
        match observe::statement_span(
            Some(&self.core.span),
            DatabaseType::Postgres,
            operation,
            sql,
        ) {
            None => self.core.run_statement(make).await,
            Some(span) => {
                Box::pin(observe::traced_in(
                    span,
                    DatabaseType::Postgres,
                    operation,
                    sql,
                    rows,
                    self.core.run_statement(make),
                ))
                .await
            }
        }
    }

    /// The portable rows of one query, in `shape`.
    async fn rows(&self, sql: &str, params: &[Value], shape: Shape) -> Result<Fetched<Row>> {
        let prepared = prepare(&self.core.db.cache, sql, params.len())?;
        let run = || exec::query(self.core.client(), &prepared, params, shape, PortableRows);
        self.statement("query", sql, exec::rows_in, run).await
    }
}

fn rollback_to(name: &str) -> String {
    format!("ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}")
}

impl Drop for PgTransaction<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        match (&mut self.core, &self.savepoint) {
            (CoreRef::Owned(core), _) => abandon(core),
            (CoreRef::Borrowed(core), Some(name)) => core
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(rollback_to(name)),
            (CoreRef::Borrowed(_), None) => {}
        }
    }
}

#[async_trait]
impl Executor for PgTransaction<'_> {
    fn database_type(&self) -> DatabaseType {
        DatabaseType::Postgres
    }

    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        PgTransaction::execute(self, sql, params).await
    }

    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        PgTransaction::query(self, sql, params).await
    }

    async fn query_one(&self, sql: &str, params: &[Value]) -> Result<Row> {
        PgTransaction::query_one(self, sql, params).await
    }

    async fn query_opt(&self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        PgTransaction::query_opt(self, sql, params).await
    }

    async fn query_opt_with(
        &self,
        sql: &str,
        params: &[Value],
        read: &mut RowReader<'_>,
    ) -> Result<bool> {
        let prepared = prepare(&self.core.db.cache, sql, params.len())?;
        let prepared = &prepared;
        let run = move || {
            // Moved, not reborrowed: the closure is called once.
            let read = read;
            let rows = ReaderRows(read);
            exec::query(self.core.client(), prepared, params, Shape::AtMostOne, rows)
        };
        let rows = self.statement("query", sql, exec::rows_in, run).await?;
        Ok(!rows.is_empty())
    }

    async fn execute_batch(&self, sql: &str) -> Result<()> {
        match prepare_sql(sql, PlaceholderStyle::Dollar) {
            Ok(p) if p.contains_transaction_control() => {
                return Err(Error::TransactionControl {
                    statement: p
                        .transaction_control()
                        .unwrap_or("transaction control")
                        .to_owned(),
                });
            }
            _ => {}
        }
        let run = || exec::batch(self.core.client(), sql);
        self.statement("execute_batch", sql, no_rows, run).await
    }

    async fn for_each_row(
        &self,
        sql: &str,
        params: &[Value],
        f: &mut (dyn FnMut(Row) -> Result<()> + Send),
    ) -> Result<u64> {
        let prepared = prepare(&self.core.db.cache, sql, params.len())?;
        let prepared = &prepared;
        let run = move || {
            // Moved, not reborrowed: the closure is called once.
            let f = f;
            exec::for_each_row(self.core.client(), prepared, params, f)
        };
        self.statement("for_each_row", sql, rows_affected, run)
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
        let client = self.core.client();
        let run = || async {
            match exec::copy_in(client, table, columns, &rows, true).await? {
                Some(n) => Ok(n),
                None => exec::insert_rows(client, table, columns, &rows).await,
            }
        };
        self.statement("insert_many", table, rows_affected, run)
            .await
    }
}

#[async_trait]
impl Transaction for PgTransaction<'_> {
    async fn commit(self: Box<Self>) -> Result<()> {
        PgTransaction::commit(*self).await
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        PgTransaction::rollback(*self).await
    }

    async fn savepoint(&mut self) -> Result<Box<dyn Transaction + '_>> {
        Ok(Box::new(PgTransaction::savepoint(self).await?))
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
        assert_eq!(begin_sql(&TxOptions::new()), "BEGIN");
        assert_eq!(begin_sql(&TxOptions::read_only_tx()), "BEGIN READ ONLY");
        assert_eq!(
            begin_sql(
                &TxOptions::new()
                    .isolation(IsolationLevel::Serializable)
                    .read_only(true)
            ),
            "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY"
        );
        assert_eq!(
            begin_sql(&TxOptions::new().timeout(Duration::from_millis(250))),
            "BEGIN; SET LOCAL idle_in_transaction_session_timeout = 250"
        );
    }
}
