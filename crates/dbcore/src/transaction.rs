//! [`Transaction`], [`TxOptions`] and [`with_transaction`].

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::{Database, Error, Executor, Result};

/// Transaction isolation levels. A backend runs the requested level or a stronger one
/// (SQLite transactions are always serializable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IsolationLevel {
    /// `READ UNCOMMITTED`.
    ReadUncommitted,
    /// `READ COMMITTED`.
    ReadCommitted,
    /// `REPEATABLE READ`.
    RepeatableRead,
    /// `SERIALIZABLE`.
    Serializable,
}

impl IsolationLevel {
    /// The SQL spelling (`REPEATABLE READ`).
    pub fn as_sql(self) -> &'static str {
        match self {
            IsolationLevel::ReadUncommitted => "READ UNCOMMITTED",
            IsolationLevel::ReadCommitted => "READ COMMITTED",
            IsolationLevel::RepeatableRead => "REPEATABLE READ",
            IsolationLevel::Serializable => "SERIALIZABLE",
        }
    }
}

impl fmt::Display for IsolationLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_sql())
    }
}

/// How to run a transaction: read-only, isolation level, timeout.
///
/// ```
/// use std::time::Duration;
/// use dbcore::{IsolationLevel, TxOptions};
///
/// let opts = TxOptions::new()
///     .read_only(true)
///     .isolation(IsolationLevel::Serializable)
///     .timeout(Duration::from_secs(5));
/// assert!(opts.is_read_only());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TxOptions {
    /// Refuse writes inside the transaction ([`ErrorKind::ReadOnlyViolation`](crate::ErrorKind::ReadOnlyViolation)).
    pub read_only: bool,
    /// The isolation level; `None` uses the backend's default.
    pub isolation: Option<IsolationLevel>,
    /// A deadline for the whole transaction, from `begin`. When it passes, the running
    /// statement is cancelled and the transaction rolled back.
    pub timeout: Option<Duration>,
}

impl TxOptions {
    /// Read-write, default isolation, no timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// Read-only options (shorthand for `TxOptions::new().read_only(true)`).
    pub fn read_only_tx() -> Self {
        Self::default().read_only(true)
    }

    /// Sets whether the transaction is read-only.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Sets the isolation level.
    pub fn isolation(mut self, level: IsolationLevel) -> Self {
        self.isolation = Some(level);
        self
    }

    /// Sets the transaction deadline.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Whether these options ask for a read-only transaction.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }
}

/// An open transaction on one pooled connection.
///
/// It has the same query surface as a [`Database`] ([`Executor`]). Finish it with
/// [`commit`](Transaction::commit) or [`rollback`](Transaction::rollback). A transaction
/// dropped unfinished, including by a cancelled future, is rolled back before its
/// connection is reused: a connection never returns to the pool inside a transaction.
#[async_trait]
pub trait Transaction: Executor {
    /// Commits. On error the transaction has been rolled back, except when the error
    /// is [`ErrorKind::CommitOutcomeUnknown`](crate::ErrorKind::CommitOutcomeUnknown):
    /// the connection was lost (or stopped answering) while the COMMIT was in flight, so
    /// the server may have committed or not, and the layer cannot tell which. Check the
    /// data before running a non-idempotent transaction again.
    async fn commit(self: Box<Self>) -> Result<()>;

    /// Rolls back.
    async fn rollback(self: Box<Self>) -> Result<()>;

    /// Opens a nested transaction (a savepoint) that borrows this one until it is
    /// committed (released) or rolled back. Dropping it unfinished rolls back to the
    /// savepoint, leaving the outer transaction usable.
    async fn savepoint(&mut self) -> Result<Box<dyn Transaction + '_>>;

    /// The options the transaction was started with.
    fn options(&self) -> &TxOptions;

    /// Nesting depth: 0 for a top-level transaction, 1 for its first savepoint, ...
    fn depth(&self) -> u32;
}

/// Runs `f` inside a transaction: commits when it returns `Ok`, rolls back when it
/// returns `Err`, panics (the panic is then resumed) or exceeds `options.timeout`.
///
/// The returned future is `Send`, so it can run inside `tokio::spawn`. Dropping it
/// (cancellation) rolls the transaction back.
///
/// ```no_run
/// use dbcore::{params, with_transaction, Database, Error, Executor, TxOptions};
///
/// async fn transfer(db: &dyn Database) -> Result<(), Error> {
///     with_transaction(db, TxOptions::new(), |tx| Box::pin(async move {
///         tx.execute("UPDATE account SET balance = balance - $1 WHERE id = $2", &params![10, 1]).await?;
///         tx.execute("UPDATE account SET balance = balance + $1 WHERE id = $2", &params![10, 2]).await?;
///         Ok(())
///     }))
///     .await
/// }
/// ```
pub async fn with_transaction<D, T, E, F>(db: &D, options: TxOptions, f: F) -> Result<T, E>
where
    D: Database + ?Sized,
    F: for<'t> FnOnce(&'t mut (dyn Transaction + 'static)) -> BoxFuture<'t, Result<T, E>> + Send,
    T: Send,
    E: From<Error> + Send,
{
    let timeout = options.timeout;
    let mut tx = db.begin(options).await.map_err(E::from)?;
    let outcome = {
        let body = AssertUnwindSafe(f(&mut *tx)).catch_unwind();
        match timeout {
            Some(limit) => tokio::time::timeout(limit, body).await.ok(),
            None => Some(body.await),
        }
    };
    match outcome {
        Some(Ok(Ok(value))) => {
            tx.commit().await.map_err(E::from)?;
            Ok(value)
        }
        Some(Ok(Err(err))) => {
            rollback_quietly(tx, "the transaction body returned an error").await;
            Err(err)
        }
        Some(Err(panic)) => {
            rollback_quietly(tx, "the transaction body panicked").await;
            std::panic::resume_unwind(panic)
        }
        None => {
            rollback_quietly(tx, "the transaction timed out").await;
            Err(E::from(Error::Timeout {
                what: "transaction",
                after: timeout.unwrap_or_default(),
            }))
        }
    }
}

/// An error that can say whether running the whole transaction again may succeed.
/// Implement it for your own error type to use [`with_transaction_retry`].
pub trait RetryableError {
    /// Whether a fresh attempt of the transaction may succeed (serialization failure,
    /// deadlock, busy / lock wait timeout).
    fn is_retryable(&self) -> bool;
}

impl RetryableError for Error {
    fn is_retryable(&self) -> bool {
        Error::is_retryable(self)
    }
}

/// Like [`with_transaction`], but runs the whole transaction again — with capped
/// exponential backoff and jitter from `policy` — when an attempt fails with an error
/// that [`is_retryable`](RetryableError::is_retryable) (serialization failure, deadlock,
/// SQLite busy). Each attempt is a fresh transaction, rolled back before the next one.
/// Other errors, panics and timeouts end it at once, as in `with_transaction`.
///
/// ```no_run
/// use dbcore::{params, with_transaction_retry, Database, Error, Executor, IsolationLevel, RetryPolicy, TxOptions};
/// use std::time::Duration;
///
/// async fn bump(db: &dyn Database) -> Result<i64, Error> {
///     let opts = TxOptions::new().isolation(IsolationLevel::Serializable);
///     let policy = RetryPolicy::new(5, Duration::from_millis(10));
///     with_transaction_retry(db, opts, &policy, |tx| Box::pin(async move {
///         let n: i64 = tx.query_one("SELECT n FROM counter WHERE id = 1", &[]).await?.get(0)?;
///         tx.execute("UPDATE counter SET n = $1 WHERE id = 1", &params![n + 1]).await?;
///         Ok(n + 1)
///     }))
///     .await
/// }
/// ```
pub async fn with_transaction_retry<D, T, E, F>(
    db: &D,
    options: TxOptions,
    policy: &crate::RetryPolicy,
    mut f: F,
) -> Result<T, E>
where
    D: Database + ?Sized,
    F: for<'t> FnMut(&'t mut (dyn Transaction + 'static)) -> BoxFuture<'t, Result<T, E>> + Send,
    T: Send,
    E: From<Error> + RetryableError + Send,
{
    let mut retry = 0;
    loop {
        match with_transaction(db, options.clone(), &mut f).await {
            Err(e) if e.is_retryable() && retry < policy.max_retries => {
                retry += 1;
                let delay = policy.delay_for(retry);
                tracing::debug!(
                    retry,
                    ?delay,
                    "retrying a transaction after a retryable error"
                );
                tokio::time::sleep(delay).await;
            }
            outcome => return outcome,
        }
    }
}

async fn rollback_quietly(tx: Box<dyn Transaction>, why: &str) {
    if let Err(e) = tx.rollback().await {
        tracing::warn!(error = %e, "rollback after {why} failed; the connection is discarded");
    }
}

/// `with_transaction` as a method on every [`Database`].
pub trait DatabaseExt: Database {
    /// See [`with_transaction`].
    fn with_transaction<'a, T, E, F>(
        &'a self,
        options: TxOptions,
        f: F,
    ) -> impl Future<Output = Result<T, E>> + Send + 'a
    where
        Self: Sync,
        F: for<'t> FnOnce(&'t mut (dyn Transaction + 'static)) -> BoxFuture<'t, Result<T, E>>
            + Send
            + 'a,
        T: Send + 'a,
        E: From<Error> + Send + 'a,
    {
        with_transaction(self, options, f)
    }
}

impl<D: Database + ?Sized> DatabaseExt for D {}
