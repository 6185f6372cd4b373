//! The r2d2 connection manager: opens connections, applies the configured PRAGMAs to
//! each new one, and refuses to take back a connection in an unknown state.

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dbcore::SqliteConfig;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags};

use crate::reply::Caller;

/// VM instructions between two checks of the progress handler (deadline, caller gone).
const PROGRESS_OPS: i32 = 1000;

thread_local! {
    /// The deadline of the statement running on this thread, if any. The progress
    /// handler of every connection interrupts the statement once it has passed. It is
    /// thread-local because a statement runs on exactly one thread from start to end.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };

    /// The caller of the job running on this thread (worker threads only). The progress
    /// handler interrupts the statement once that caller has stopped waiting (its future
    /// was dropped). The flag belongs to the job, not to the connection, so a
    /// cancellation that comes late (after the job ended) finds nothing to interrupt,
    /// and can never reach the next job on the connection, unlike `sqlite3_interrupt`,
    /// which is per connection.
    static CALLER: RefCell<Option<Arc<dyn Caller>>> = const { RefCell::new(None) };
}

/// Sets this thread's statement deadline until dropped.
pub(crate) struct DeadlineGuard {
    previous: Option<Instant>,
}

impl DeadlineGuard {
    pub(crate) fn set(deadline: Option<Instant>) -> Self {
        let previous = DEADLINE.with(|d| d.replace(deadline));
        DeadlineGuard { previous }
    }
}

impl Drop for DeadlineGuard {
    fn drop(&mut self) {
        DEADLINE.with(|d| d.set(self.previous));
    }
}

fn deadline_passed() -> bool {
    DEADLINE.with(|d| d.get().is_some_and(|deadline| Instant::now() >= deadline))
}

/// Makes `caller` the caller of the statements run on this thread until dropped: they
/// are interrupted (`SQLITE_INTERRUPT`, [`ErrorKind::Timeout`](dbcore::ErrorKind)) once
/// it stops waiting. Set around a job's own statements only, never around clean-up
/// (`ROLLBACK`, restoring PRAGMAs), which must run even for a cancelled job.
pub(crate) struct CallerGuard {
    previous: Option<Arc<dyn Caller>>,
}

impl CallerGuard {
    pub(crate) fn set(caller: Arc<dyn Caller>) -> Self {
        let previous = CALLER.with(|c| c.replace(Some(caller)));
        CallerGuard { previous }
    }
}

impl Drop for CallerGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CALLER.with(|c| *c.borrow_mut() = previous);
    }
}

fn caller_gone() -> bool {
    CALLER.with(|c| c.borrow().as_ref().is_some_and(|caller| caller.gone()))
}

/// The progress handler of every connection: stop the running statement when its
/// deadline has passed or its caller is gone.
fn should_interrupt() -> bool {
    deadline_passed() || caller_gone()
}

/// A pooled SQLite connection and what the layer knows about its state.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) conn: Connection,
    /// Set when the connection must not be reused (failed cleanup, panic mid-use).
    pub(crate) broken: bool,
    /// `PRAGMA query_only` is on (inside a read-only transaction).
    pub(crate) query_only: bool,
    /// When the connection was opened (for `connMaxLifetime`).
    pub(crate) created: Instant,
    /// When the connection was last returned to the pool (for `connMaxIdleTime`).
    pub(crate) returned: Instant,
}

/// Counters the manager updates; read by [`crate::stats`].
#[derive(Debug, Default)]
pub(crate) struct ManagerCounters {
    pub(crate) discarded: AtomicU64,
    /// Broken connections whose release event has not been seen yet.
    pub(crate) pending_discards: AtomicU64,
    /// Set by `close`: no new connection is opened after it.
    pub(crate) closed: std::sync::atomic::AtomicBool,
}

/// Opens connections to one database and prepares each with the configured PRAGMAs.
#[derive(Debug)]
pub(crate) struct Manager {
    inner: SqliteConnectionManager,
    pragmas: String,
    busy_timeout: Duration,
    max_lifetime: Option<Duration>,
    max_idle_time: Option<Duration>,
    counters: Arc<ManagerCounters>,
}

/// Where the connections point: a file, or a shared in-memory database.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    File(std::path::PathBuf),
    /// `:memory:`, opened through SQLite's `memdb` VFS under a process-unique name so
    /// that every pooled connection sees the same database.
    Memory(String),
}

impl Target {
    pub(crate) fn from_config(cfg: &SqliteConfig) -> Self {
        if cfg.file_path == ":memory:" {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            Target::Memory(format!(
                "file:/dblayer-mem-{}-{n}?vfs=memdb",
                std::process::id()
            ))
        } else {
            Target::File(Path::new(&cfg.file_path).to_path_buf())
        }
    }

    pub(crate) fn open_flags(&self) -> OpenFlags {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    }

    /// A description without secrets, for messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Target::File(p) => format!("sqlite file {}", p.display()),
            Target::Memory(_) => "sqlite in-memory database".to_owned(),
        }
    }

    /// Opens a plain connection (used to keep an in-memory database alive).
    pub(crate) fn open(&self) -> rusqlite::Result<Connection> {
        match self {
            Target::File(p) => Connection::open_with_flags(p, self.open_flags()),
            Target::Memory(uri) => Connection::open_with_flags(uri, self.open_flags()),
        }
    }
}

impl Manager {
    pub(crate) fn new(cfg: &SqliteConfig, target: &Target, counters: Arc<ManagerCounters>) -> Self {
        let inner = match target {
            Target::File(p) => SqliteConnectionManager::file(p),
            Target::Memory(uri) => SqliteConnectionManager::file(uri),
        }
        .with_flags(target.open_flags());
        Manager {
            inner,
            pragmas: pragma_script(cfg, matches!(target, Target::Memory(_))),
            busy_timeout: cfg.timeout,
            max_lifetime: non_zero(cfg.conn_max_lifetime),
            max_idle_time: non_zero(cfg.conn_max_idle_time),
            counters,
        }
    }
}

/// The PRAGMA script applied to every new connection.
pub(crate) fn pragma_script(cfg: &SqliteConfig, memory: bool) -> String {
    let mut script = String::new();
    if !memory {
        // WAL is not available for in-memory databases; they keep SQLite's default.
        script.push_str(&format!(
            "PRAGMA journal_mode = {};\n",
            cfg.journal_mode.as_sql()
        ));
    }
    script.push_str(&format!(
        "PRAGMA synchronous = {};\nPRAGMA cache_size = {};\nPRAGMA foreign_keys = {};\nPRAGMA auto_vacuum = {};\n",
        cfg.sync_mode.as_sql(),
        cfg.cache_size,
        if cfg.foreign_keys { "ON" } else { "OFF" },
        cfg.auto_vacuum.as_sql(),
    ));
    script
}

impl Manager {
    /// Whether `conn` is older than `connMaxLifetime`.
    pub(crate) fn expired(&self, conn: &Conn) -> bool {
        self.max_lifetime
            .is_some_and(|max| conn.created.elapsed() >= max)
    }
}

fn non_zero(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

fn expired_error() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISUSE),
        Some("connection expired (connMaxLifetime or connMaxIdleTime)".to_owned()),
    )
}

fn closed_error() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISUSE),
        Some("the database pool is closed".to_owned()),
    )
}

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = rusqlite::Error;

    fn connect(&self) -> Result<Conn, rusqlite::Error> {
        if self.counters.closed.load(Ordering::Acquire) {
            return Err(closed_error());
        }
        let conn = self.inner.connect()?;
        // The busy timeout first, so that switching to WAL waits for other connections.
        conn.busy_timeout(self.busy_timeout)?;
        conn.execute_batch(&self.pragmas)?;
        conn.progress_handler(PROGRESS_OPS, Some(should_interrupt))?;
        conn.set_prepared_statement_cache_capacity(256);
        if self.counters.closed.load(Ordering::Acquire) {
            return Err(closed_error());
        }
        let now = Instant::now();
        Ok(Conn {
            conn,
            broken: false,
            query_only: false,
            created: now,
            returned: now,
        })
    }

    /// Run at every checkout, without touching the database: a connection past
    /// `connMaxLifetime` or idle past `connMaxIdleTime` is closed and another one used.
    /// (r2d2's own reaper enforces both only every 30 s.)
    fn is_valid(&self, conn: &mut Conn) -> Result<(), rusqlite::Error> {
        if self.expired(conn) {
            return Err(expired_error());
        }
        if self
            .max_idle_time
            .is_some_and(|max| conn.returned.elapsed() >= max)
        {
            return Err(expired_error());
        }
        Ok(())
    }

    /// A connection goes back to the pool only in a known-clean state: outside any
    /// transaction (SQLite's own autocommit flag says so) and not read-only.
    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.returned = Instant::now();
        if self.expired(conn) {
            return true; // counted as a lifetime close by the release event
        }
        let broken = conn.broken || conn.query_only || !conn.conn.is_autocommit();
        if broken {
            self.counters.discarded.fetch_add(1, Ordering::Relaxed);
            self.counters
                .pending_discards
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                target: "db_sqlite",
                in_transaction = !conn.conn.is_autocommit(),
                query_only = conn.query_only,
                "discarding a SQLite connection returned in an unknown state"
            );
        }
        broken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_guard_restores() {
        assert!(!deadline_passed());
        {
            let _g = DeadlineGuard::set(Some(Instant::now()));
            assert!(deadline_passed());
        }
        assert!(!deadline_passed());
    }

    struct Flag(std::sync::atomic::AtomicBool);

    impl Caller for Flag {
        fn gone(&self) -> bool {
            self.0.load(Ordering::Acquire)
        }
    }

    #[test]
    fn caller_guard_watches_only_its_own_job() {
        let first = Arc::new(Flag(std::sync::atomic::AtomicBool::new(false)));
        {
            let _g = CallerGuard::set(Arc::clone(&first) as Arc<dyn Caller>);
            assert!(!should_interrupt());
            first.0.store(true, Ordering::Release);
            assert!(should_interrupt());
        }
        // The next job has its own flag: the first job's cancellation is not seen.
        assert!(!should_interrupt());
        let second = Arc::new(Flag(std::sync::atomic::AtomicBool::new(false)));
        let _g = CallerGuard::set(second as Arc<dyn Caller>);
        assert!(!should_interrupt());
    }

    #[test]
    fn a_gone_caller_interrupts_a_running_statement() {
        let conn = Connection::open_in_memory().expect("open");
        conn.progress_handler(PROGRESS_OPS, Some(should_interrupt))
            .expect("progress handler");
        let caller = Arc::new(Flag(std::sync::atomic::AtomicBool::new(false)));
        let _g = CallerGuard::set(Arc::clone(&caller) as Arc<dyn Caller>);
        let sql = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r \
                   WHERE i < 100000) SELECT count(*) FROM r";
        let n: i64 = conn
            .query_row(sql, [], |r| r.get(0))
            .expect("not cancelled");
        assert_eq!(n, 100_000);
        caller.0.store(true, Ordering::Release);
        let err = conn
            .query_row(sql, [], |r| r.get::<_, i64>(0))
            .expect_err("cancelled");
        assert_eq!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::OperationInterrupted)
        );
    }

    #[test]
    fn pragmas_follow_config() {
        let cfg = SqliteConfig::default();
        let script = pragma_script(&cfg, false);
        assert!(script.contains("journal_mode = WAL"), "{script}");
        assert!(script.contains("foreign_keys = ON"), "{script}");
        assert!(!pragma_script(&cfg, true).contains("journal_mode"));
    }
}
