//! Creating a fresh database for a test, for the driver chosen by `DB_TEST_DRIVER`.
//!
//! Adding a driver is one match arm in [`connect_test_db`].

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dbcore::{Database, DatabaseType, SqliteConfig};

use crate::caps::Caps;

/// The environment variable that selects the driver under test (default `sqlite`).
pub const DRIVER_ENV: &str = "DB_TEST_DRIVER";
/// Where the PostgreSQL suite finds its server.
pub const POSTGRES_URL_ENV: &str = "DB_TEST_POSTGRES_URL";
/// Where the MySQL / MariaDB suite finds its server.
pub const MYSQL_URL_ENV: &str = "DB_TEST_MYSQL_URL";

/// The pool size every test database gets unless a test asks otherwise: more than one,
/// so that the scenarios exercise several connections.
pub const DEFAULT_MAX_OPEN: u32 = 4;

/// The driver selected by `DB_TEST_DRIVER` (`sqlite` when unset).
///
/// # Panics
/// When the variable names no known database type.
pub fn driver_from_env() -> DatabaseType {
    match std::env::var(DRIVER_ENV) {
        Err(_) => DatabaseType::Sqlite,
        Ok(s) if s.trim().is_empty() => DatabaseType::Sqlite,
        Ok(s) => s.trim().parse().unwrap_or_else(|e| {
            panic!("{DRIVER_ENV}={s:?} is not a database type: {e}");
        }),
    }
}

/// How to build a test database.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TestDbOptions {
    /// For SQLite: use a `:memory:` database instead of a temporary file. Ignored by
    /// server backends.
    pub in_memory: bool,
    /// Pool size; [`DEFAULT_MAX_OPEN`] when `None`.
    pub max_open_conns: Option<u32>,
    /// How long an acquire waits for a free connection (the config's `timeout`); the
    /// driver's default when `None`.
    pub timeout: Option<Duration>,
}

impl TestDbOptions {
    /// A file-backed (or per-run schema) database with the default pool size.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses an in-memory database where the backend has one.
    pub fn in_memory(mut self) -> Self {
        self.in_memory = true;
        self
    }

    /// Sets the pool size.
    pub fn max_open_conns(mut self, n: u32) -> Self {
        self.max_open_conns = Some(n);
        self
    }

    /// Sets the acquire timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// A fresh database owned by one test. Its files are removed when it is dropped.
pub struct TestDb {
    // Field order matters: the pool is dropped before the files are removed.
    db: Arc<dyn Database>,
    max_open: u32,
    description: String,
    _files: RemoveOnDrop,
    /// Drops a per-run server database / schema: run by `finish`, or on a thread of its
    /// own when the test panicked before `finish`.
    cleanup: Option<Cleanup>,
}

/// Async clean-up of a server-side test database.
pub type Cleanup =
    Box<dyn FnOnce() -> futures_util::future::BoxFuture<'static, ()> + Send + Sync + 'static>;

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(cleanup) = self.cleanup.take() {
            // Not finished (a panic): clean up on a runtime of its own.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(cleanup());
                }
            })
            .join();
        }
    }
}

/// Removes files when dropped (also when a test panics).
struct RemoveOnDrop(Vec<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for f in &self.0 {
            let _ = std::fs::remove_file(f);
        }
    }
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDb")
            .field("database_type", &self.db.database_type())
            .field("description", &self.description)
            .field("max_open", &self.max_open)
            .finish()
    }
}

impl TestDb {
    /// The database, as the scenarios see it.
    pub fn db(&self) -> &dyn Database {
        &*self.db
    }

    /// A shared handle, for scenarios that spawn tasks.
    pub fn arc(&self) -> Arc<dyn Database> {
        Arc::clone(&self.db)
    }

    /// The pool size the database was configured with.
    pub fn max_open(&self) -> u32 {
        self.max_open
    }

    /// The capability table entry of this backend.
    pub fn caps(&self) -> Caps {
        Caps::of(self.db.database_type())
    }

    /// What this database is (`sqlite file /tmp/...`), for messages.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Closes the pool (a scenario may already have done so), drops a server database
    /// and removes its files.
    pub async fn finish(mut self) {
        if !self.db.is_closed()
            && let Err(e) = self.db.close(Duration::from_secs(5)).await
        {
            panic!("closing the test database {} failed: {e}", self.description);
        }
        if let Some(cleanup) = self.cleanup.take() {
            cleanup().await;
        }
        // The files are removed when `self` is dropped, after the pool.
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name no other test (in this or a concurrent process) uses: `{prefix}_{pid}_{n}_{random}`,
/// lower case, valid as an unquoted identifier on every backend.
pub fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{prefix}_{}_{n}_{:06x}",
        std::process::id(),
        fastrand::u32(..0x00ff_ffff)
    )
}

/// Creates a fresh database for `driver`.
///
/// # Panics
/// With a message saying what is missing when the driver is not built into the suite,
/// its server is not configured, or connecting fails.
pub async fn connect_test_db(driver: DatabaseType, options: TestDbOptions) -> TestDb {
    let max_open = options.max_open_conns.unwrap_or(DEFAULT_MAX_OPEN);
    match driver {
        DatabaseType::Sqlite => connect_sqlite(&options, max_open).await,
        DatabaseType::Postgres => crate::postgres::connect_postgres(&options, max_open).await,
        DatabaseType::Mysql => crate::mysql::connect_mysql(&options, max_open).await,
        other => panic!("driver {other} is not built into this suite yet"),
    }
}

async fn connect_sqlite(options: &TestDbOptions, max_open: u32) -> TestDb {
    let (mut cfg, files, description) = if options.in_memory {
        (
            SqliteConfig::in_memory(),
            Vec::new(),
            "sqlite :memory:".to_owned(),
        )
    } else {
        // The test's thread name (its path) in the file name says whose file it is.
        let test: String = std::thread::current()
            .name()
            .unwrap_or("test")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(60)
            .collect();
        let path = std::env::temp_dir().join(format!(
            "{}.db",
            unique_name(&format!("dbconformance_{test}"))
        ));
        let text = path.to_string_lossy().into_owned();
        let files = ["", "-wal", "-shm", "-journal"]
            .iter()
            .map(|suffix| PathBuf::from(format!("{text}{suffix}")))
            .collect();
        let mut cfg = SqliteConfig::default();
        cfg.file_path = text.clone();
        (cfg, files, format!("sqlite file {text}"))
    };
    cfg.max_open_conns = max_open;
    if let Some(timeout) = options.timeout {
        cfg.timeout = timeout;
    }
    if cfg.max_idle_conns > max_open {
        cfg.max_idle_conns = max_open;
    }
    let files = RemoveOnDrop(files);
    let db = match db_sqlite::SqliteDatabase::connect(&cfg).await {
        Ok(db) => db,
        Err(e) => panic!("could not open the test database ({description}): {e}"),
    };
    TestDb {
        db: Arc::new(db),
        max_open,
        description,
        _files: files,
        cleanup: None,
    }
}

impl TestDb {
    /// A test database on a server, dropped by `cleanup` when the test ends.
    pub fn on_server(
        db: Arc<dyn Database>,
        max_open: u32,
        description: String,
        cleanup: Cleanup,
    ) -> Self {
        TestDb {
            db,
            max_open,
            description,
            _files: RemoveOnDrop(Vec::new()),
            cleanup: Some(cleanup),
        }
    }
}
