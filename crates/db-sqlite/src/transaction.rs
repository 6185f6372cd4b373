//! [`SqliteTransaction`] and its savepoints. Every statement runs on the worker thread
//! pinned to the transaction's connection; dropping the handle unfinished tells that
//! worker to roll back before the connection goes back to the pool.
//!
//! A statement whose future is dropped before its answer arrived (a `timeout` around it,
//! a cancelled request) is interrupted on the worker (or skipped if it had not started),
//! and the whole transaction is rolled back at once, even if the handle is kept: the
//! statement's effect is unknown to the caller, and SQLite itself rolls the transaction
//! back when it interrupts a write. The handle then refuses further statements, and
//! `commit` fails; nothing was committed.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::database::{Inner, bulk_insert_sql, prepare};
use crate::exec::{self, Op, Output, Params, Rows, Shape};
use crate::reply::{self, Answer};
use crate::worker::{TxChannel, TxCommand};
use async_trait::async_trait;
use dbcore::{
    DatabaseType, Error, ErrorKind, Executor, Result, Row, Transaction, TxOptions, Value,
};
use futures_util::FutureExt;

/// State shared by a transaction and its savepoints.
struct TxCore {
    db: Arc<Inner>,
    channel: TxChannel,
    options: TxOptions,
    deadline: Option<Instant>,
    timeout: Duration,
    /// [`LIVE`], or why the transaction was rolled back early ([`TIMED_OUT`],
    /// [`CANCELLED`]); then it refuses further work.
    aborted: AtomicU8,
    next_savepoint: AtomicU32,
    /// The task that rolls the transaction back when its deadline passes while idle.
    expiry: Option<tokio::task::AbortHandle>,
}

/// The transaction has not been rolled back early.
const LIVE: u8 = 0;
/// The deadline passed (or a statement was interrupted by it).
const TIMED_OUT: u8 = 1;
/// A statement's future was dropped before its answer arrived.
const CANCELLED: u8 = 2;
/// `close`'s grace period ended with the transaction still open.
const CUT_OFF: u8 = 3;

impl Drop for TxCore {
    fn drop(&mut self) {
        if let Some(expiry) = &self.expiry {
            expiry.abort();
        }
    }
}

impl TxCore {
    fn timeout_error(&self) -> Error {
        Error::Timeout {
            what: "transaction",
            after: self.timeout,
        }
    }

    fn cancelled_error() -> Error {
        Error::database(
            DatabaseType::Sqlite,
            ErrorKind::Other,
            None,
            "a statement of this transaction was cancelled (its future was dropped before \
             it finished), so the transaction was rolled back; nothing was committed",
            None,
        )
    }

    /// Why the transaction refuses work after it was rolled back early.
    fn aborted_error(&self) -> Error {
        match self.aborted.load(Ordering::Acquire) {
            CANCELLED => Self::cancelled_error(),
            CUT_OFF => Error::PoolClosed,
            _ => self.timeout_error(),
        }
    }

    /// Why the transaction refuses work, if it does: rolled back early, or cut off by
    /// `close` (rolled back now).
    fn refusal(&self) -> Option<Error> {
        if self.db.cut_off.load(Ordering::Acquire) && self.mark_aborted(CUT_OFF) {
            self.send_rollback();
        }
        self.is_aborted().then(|| self.aborted_error())
    }

    fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Acquire) != LIVE
    }

    /// Marks the transaction rolled back early for `why`: `false` if it already was.
    fn mark_aborted(&self, why: u8) -> bool {
        self.aborted
            .compare_exchange(LIVE, why, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    fn lost() -> Error {
        Error::Internal("the transaction's worker thread stopped unexpectedly".into())
    }

    /// Rolls back at once (without waiting) after a timeout while one of this
    /// transaction's statements is running: interrupts it, then ends the transaction.
    /// The connection stays pinned until the worker has processed the rollback, so the
    /// interrupt cannot reach another user of the connection.
    fn abort(&self) {
        if self.mark_aborted(TIMED_OUT) {
            self.channel.interrupt.interrupt();
            self.send_rollback();
        }
    }

    /// Rolls back once the deadline has passed with no statement of ours running, so an
    /// abandoned transaction does not hold SQLite's write lock past its deadline.
    fn expire(&self) {
        if self.mark_aborted(TIMED_OUT) {
            self.send_rollback();
        }
    }

    /// A statement's future was dropped before its answer arrived. The worker interrupts
    /// that statement itself (it watches the statement's own reply slot, so nothing else
    /// is interrupted) or skips it if it has not started; this queues the rollback
    /// behind it, so the connection goes back to the pool without waiting for the
    /// handle to be dropped.
    fn cancel(&self) {
        if self.mark_aborted(CANCELLED) {
            self.send_rollback();
        }
    }

    fn send_rollback(&self) {
        let _ = self.channel.commands.send(TxCommand::Finish {
            commit: false,
            reply: None,
        });
    }

    fn deadline_passed(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Waits for a statement's answer under the deadline. Not an `async fn`: the guard
    /// that rolls the transaction back if the wait is dropped before the answer arrived
    /// exists from the call on, so it covers a future dropped before its first poll too
    /// (`for_each_row` polls it only after the rows).
    fn wait(&self, rx: Answer<Result<Output>>) -> impl Future<Output = Result<Output>> + '_ {
        let mut pending = Pending {
            core: self,
            rx,
            waiting: true,
        };
        async move {
            let answer = match self.deadline {
                None => (&mut pending.rx).await,
                Some(deadline) => {
                    match tokio::time::timeout_at(deadline.into(), &mut pending.rx).await {
                        Ok(answer) => answer,
                        Err(_) => {
                            pending.settle();
                            self.abort();
                            return Err(self.timeout_error());
                        }
                    }
                }
            };
            pending.settle();
            match answer.map_err(|_| Self::lost())? {
                Err(e) if e.kind() == ErrorKind::Timeout && self.deadline.is_some() => {
                    self.abort();
                    Err(self.timeout_error())
                }
                other => other,
            }
        }
    }

    async fn run(&self, op: Op) -> Result<Output> {
        if let Some(refused) = self.refusal() {
            return Err(refused);
        }
        let (reply, rx) = reply::channel();
        self.channel
            .commands
            .send(TxCommand::Run {
                op,
                deadline: self.deadline,
                reply,
            })
            .map_err(|_| Self::lost())?;
        self.wait(rx).await
    }

    async fn control(&self, sql: String) -> Result<()> {
        if let Some(refused) = self.refusal() {
            return Err(refused);
        }
        let (reply, rx) = reply::channel();
        self.channel
            .commands
            .send(TxCommand::Control {
                sql,
                reply: Some(reply),
            })
            .map_err(|_| Self::lost())?;
        self.wait(rx).await.map(drop)
    }

    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        let sql = prepare(&self.db.cache, sql, params.len())?;
        self.run(Op::Execute {
            sql,
            params: Params::from(params),
        })
        .await?
        .count()
    }

    async fn query(&self, sql: &str, params: &[Value], shape: Shape) -> Result<Rows> {
        let sql = prepare(&self.db.cache, sql, params.len())?;
        self.run(Op::Query {
            sql,
            params: Params::from(params),
            shape,
        })
        .await?
        .rows()
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
        if let Some(refused) = self.refusal() {
            return Err(refused);
        }
        let prepared = prepare(&self.db.cache, sql, params.len())?;
        let (op, rows) = exec::stream_op(prepared, params);
        let (reply, rx) = reply::channel();
        self.channel
            .commands
            .send(TxCommand::Run {
                op,
                deadline: self.deadline,
                reply,
            })
            .map_err(|_| Self::lost())?;
        exec::drain_stream(rows, self.wait(rx).map(Ok), f).await
    }

    async fn insert_many(
        &self,
        table: &str,
        columns: &[&str],
        rows: Vec<Vec<Value>>,
    ) -> Result<u64> {
        let sql = bulk_insert_sql(table, columns, &rows)?;
        let sql = prepare(&self.db.cache, &sql, columns.len())?;
        if rows.is_empty() {
            return Ok(0);
        }
        self.run(Op::InsertMany {
            sql,
            rows,
            own_transaction: false,
        })
        .await?
        .count()
    }

    async fn finish(&self, commit: bool) -> Result<()> {
        if commit && self.deadline_passed() {
            self.expire();
        }
        if let Some(refused) = self.refusal() {
            return if commit { Err(refused) } else { Ok(()) };
        }
        let (reply, rx) = reply::channel();
        self.channel
            .commands
            .send(TxCommand::Finish {
                commit,
                reply: Some(reply),
            })
            .map_err(|_| Self::lost())?;
        // A COMMIT that started before the deadline completes.
        rx.await.map_err(|_| Self::lost())?.map(drop)
    }
}

/// A statement's answer being waited for: dropped before it arrived, the statement was
/// cancelled, and the transaction is rolled back ([`TxCore::cancel`]).
struct Pending<'a> {
    core: &'a TxCore,
    rx: Answer<Result<Output>>,
    /// Still waiting: neither answered nor given up at the deadline.
    waiting: bool,
}

impl Pending<'_> {
    /// The wait is over (answered, or given up at the deadline): no cancellation.
    fn settle(&mut self) {
        self.waiting = false;
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        // `abandon` also tells the worker the caller is gone, which interrupts the
        // statement; it is `false` if the answer had arrived (the statement finished and
        // the transaction stays as it is).
        if self.waiting && self.rx.abandon() {
            self.core.cancel();
        }
    }
}

/// A SQLite transaction ([`Transaction`]), or one of its savepoints. Read-write
/// transactions start with `BEGIN IMMEDIATE`; read-only ones with `BEGIN DEFERRED` and
/// `PRAGMA query_only`.
///
/// A savepoint (`depth() > 0`) borrows its parent mutably for `'a`, so the parent
/// cannot be used until the savepoint is committed, rolled back or dropped.
///
/// Cancellation: if the future of a statement (or of a savepoint operation) is dropped
/// before it finished, for example by `tokio::time::timeout` or a cancelled request,
/// the statement is interrupted on its worker thread and the whole transaction is
/// rolled back at once, releasing SQLite's lock; the handle then refuses further work
/// and `commit` returns an error. A statement that had already finished is not affected.
pub struct SqliteTransaction<'a> {
    core: Arc<TxCore>,
    /// The savepoint name, for nested transactions.
    savepoint: Option<String>,
    depth: u32,
    finished: bool,
    _parent: PhantomData<&'a mut ()>,
}

impl std::fmt::Debug for SqliteTransaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteTransaction")
            .field("options", &self.core.options)
            .field("depth", &self.depth)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl SqliteTransaction<'static> {
    pub(crate) fn new(db: Arc<Inner>, channel: TxChannel, options: TxOptions) -> Self {
        let timeout = options.timeout.unwrap_or_default();
        let deadline = options.timeout.map(|t| Instant::now() + t);
        let core = Arc::new_cyclic(|weak: &std::sync::Weak<TxCore>| {
            let expiry = deadline.map(|deadline| {
                let weak = weak.clone();
                tokio::spawn(async move {
                    tokio::time::sleep_until(deadline.into()).await;
                    if let Some(core) = weak.upgrade() {
                        core.expire();
                    }
                })
                .abort_handle()
            });
            TxCore {
                db,
                channel,
                deadline,
                timeout,
                options,
                aborted: AtomicU8::new(LIVE),
                next_savepoint: AtomicU32::new(1),
                expiry,
            }
        });
        SqliteTransaction {
            core,
            savepoint: None,
            depth: 0,
            finished: false,
            _parent: PhantomData,
        }
    }
}

impl SqliteTransaction<'_> {
    fn rollback_to_savepoint_sql(name: &str) -> String {
        format!("ROLLBACK TO {name}; RELEASE {name}")
    }

    /// The command that undoes this (sub)transaction without waiting for a reply.
    fn abandon(&self) -> TxCommand {
        match &self.savepoint {
            None => TxCommand::Finish {
                commit: false,
                reply: None,
            },
            Some(name) => TxCommand::Control {
                sql: Self::rollback_to_savepoint_sql(name),
                reply: None,
            },
        }
    }

    /// [`Executor::execute`] without the boxed future of the object-safe trait: on the
    /// concrete type, method-call syntax picks this one.
    pub async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        self.core.execute(sql, params).await
    }

    /// [`Executor::query`] without the boxed future of the object-safe trait.
    pub async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        Ok(self.core.query(sql, params, Shape::All).await?.all())
    }

    /// [`Executor::query_one`] without the boxed future of the object-safe trait.
    pub async fn query_one(&self, sql: &str, params: &[Value]) -> Result<Row> {
        self.core.query(sql, params, Shape::AtMostOne).await?.one()
    }

    /// [`Executor::query_opt`] without the boxed future of the object-safe trait.
    pub async fn query_opt(&self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        self.core
            .query(sql, params, Shape::AtMostOne)
            .await?
            .at_most_one()
    }

    /// [`Transaction::savepoint`] without the boxed future and the trait object: the
    /// savepoint as a concrete `SqliteTransaction`, which borrows this one until it ends.
    pub async fn savepoint(&mut self) -> Result<SqliteTransaction<'_>> {
        let n = self.core.next_savepoint.fetch_add(1, Ordering::Relaxed);
        let name = format!("dblayer_sp_{n}");
        self.core.control(format!("SAVEPOINT {name}")).await?;
        Ok(SqliteTransaction {
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

    async fn end(&mut self, commit: bool) -> Result<()> {
        self.finished = true;
        match &self.savepoint {
            None => self.core.finish(commit).await,
            Some(name) if commit => self.core.control(format!("RELEASE {name}")).await,
            Some(name) => {
                self.core
                    .control(Self::rollback_to_savepoint_sql(name))
                    .await
            }
        }
    }
}

impl Drop for SqliteTransaction<'_> {
    fn drop(&mut self) {
        if !self.finished {
            // Dropped unfinished (also by a cancelled future): the worker rolls back
            // (to the savepoint) before anything else runs on the connection.
            let _ = self.core.channel.commands.send(self.abandon());
        }
    }
}

#[async_trait]
impl Executor for SqliteTransaction<'_> {
    fn database_type(&self) -> DatabaseType {
        DatabaseType::Sqlite
    }

    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        SqliteTransaction::execute(self, sql, params).await
    }

    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        SqliteTransaction::query(self, sql, params).await
    }

    async fn query_one(&self, sql: &str, params: &[Value]) -> Result<Row> {
        SqliteTransaction::query_one(self, sql, params).await
    }

    async fn query_opt(&self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        SqliteTransaction::query_opt(self, sql, params).await
    }

    async fn execute_batch(&self, sql: &str) -> Result<()> {
        self.core.execute_batch(sql).await
    }

    async fn for_each_row(
        &self,
        sql: &str,
        params: &[Value],
        f: &mut (dyn FnMut(Row) -> Result<()> + Send),
    ) -> Result<u64> {
        self.core.for_each_row(sql, params, f).await
    }

    async fn insert_many(
        &self,
        table: &str,
        columns: &[&str],
        rows: Vec<Vec<Value>>,
    ) -> Result<u64> {
        self.core.insert_many(table, columns, rows).await
    }
}

#[async_trait]
impl Transaction for SqliteTransaction<'_> {
    async fn commit(self: Box<Self>) -> Result<()> {
        SqliteTransaction::commit(*self).await
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        SqliteTransaction::rollback(*self).await
    }

    async fn savepoint(&mut self) -> Result<Box<dyn Transaction + '_>> {
        Ok(Box::new(SqliteTransaction::savepoint(self).await?))
    }

    fn options(&self) -> &TxOptions {
        &self.core.options
    }

    fn depth(&self) -> u32 {
        self.depth
    }
}
