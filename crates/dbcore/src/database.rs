//! The [`Database`] trait: a connection pool for one backend.

use std::any::Any;
use std::time::Duration;

use async_trait::async_trait;

use crate::{Executor, HealthReport, PoolStats, Result, Transaction, TxOptions};

/// A pool of connections to one database, behind one API for every backend.
///
/// Create one through `dbfactory::connect` (the type chosen by configuration) or a
/// driver's own constructor (`db_sqlite::SqliteDatabase::connect`). Share it with
/// `Arc`. Queries run on any free connection ([`Executor`]); [`begin`](Database::begin)
/// pins one connection for a transaction.
#[async_trait]
pub trait Database: Executor {
    /// Starts a transaction with `options` on a connection of its own.
    async fn begin(&self, options: TxOptions) -> Result<Box<dyn Transaction>>;

    /// Checks that the database answers, returning the round-trip time.
    async fn ping(&self) -> Result<Duration>;

    /// The server's version string (for SQLite, the library version).
    async fn server_version(&self) -> Result<String>;

    /// A health report: ping, latency, server version and pool statistics.
    /// Never fails: an unreachable database gives an unhealthy report.
    async fn health(&self) -> HealthReport {
        match self.ping().await {
            Ok(latency) => {
                let version = self.server_version().await.ok();
                HealthReport::healthy(self.database_type(), version, latency, self.stats())
            }
            Err(e) => HealthReport::unhealthy(self.database_type(), &e, self.stats()),
        }
    }

    /// The last result of the background health check (`healthCheckInterval`), if one
    /// has run.
    fn last_health_check(&self) -> Option<crate::HealthCheck>;

    /// Current pool statistics.
    fn stats(&self) -> PoolStats;

    /// What the start-up check of the pool settings against the server's limits found
    /// (e.g. `maxOpenConns` above what the server accepts, or idle connections kept
    /// longer than the server keeps idle sessions); also logged at WARN when connecting.
    /// Empty when the settings fit or the backend has no such limits.
    fn limit_warnings(&self) -> &[String] {
        &[]
    }

    /// Closes the pool gracefully: stops handing out connections, waits up to `grace`
    /// for the ones in use to come back, then closes every connection and stops
    /// background tasks. A connection still in use when `grace` is over is cut off: the
    /// next statement on it (and a commit) fails with [`Error::PoolClosed`], nothing
    /// more is committed, and it is closed instead of returned. Calling it again is a
    /// no-op.
    ///
    /// [`Error::PoolClosed`]: crate::Error::PoolClosed
    async fn close(&self, grace: Duration) -> Result<()>;

    /// Whether [`close`](Database::close) has been called.
    fn is_closed(&self) -> bool;

    /// The driver's concrete type, for raw access to the native pool:
    /// `db.as_any().downcast_ref::<db_sqlite::SqliteDatabase>()`.
    fn as_any(&self) -> &dyn Any;
}

/// The wait of [`Database::close`], for drivers: polls `in_use` (the connections checked
/// out) every 10 ms until it is 0 or `grace` has passed. `Err` with the count still in
/// use when the grace period ran out.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
///
/// assert_eq!(dbcore::wait_until_idle(Duration::from_millis(50), || 0).await, Ok(()));
/// assert_eq!(dbcore::wait_until_idle(Duration::from_millis(50), || 2).await, Err(2));
/// # }
/// ```
pub async fn wait_until_idle(grace: Duration, in_use: impl Fn() -> u32) -> Result<(), u32> {
    let deadline = std::time::Instant::now() + grace;
    loop {
        let n = in_use();
        if n == 0 {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(n);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
