//! SQLite settings.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Checker, GoDuration, SECTION, config_enum, into_result, setters};
use crate::error::{ConfigProblem, Error};

config_enum! {
    /// SQLite's `PRAGMA journal_mode` (`journalMode`). Written in upper case (`WAL`), read
    /// case-insensitively.
    #[derive(Default)]
    pub enum JournalMode("journalMode") {
        /// Rollback journal, deleted after each transaction.
        Delete => "DELETE",
        /// Rollback journal, truncated after each transaction.
        Truncate => "TRUNCATE",
        /// Rollback journal, header zeroed after each transaction.
        Persist => "PERSIST",
        /// Rollback journal in memory (a crash can corrupt the database).
        Memory => "MEMORY",
        /// Write-ahead log: readers do not block the writer. The default.
        #[default]
        Wal => "WAL",
        /// No journal (no atomic commit or rollback).
        Off => "OFF",
    }
}

impl JournalMode {
    /// The value for `PRAGMA journal_mode = ...`.
    pub fn as_sql(&self) -> &'static str {
        self.as_str()
    }
}

config_enum! {
    /// SQLite's `PRAGMA synchronous` (`syncMode`). Written in upper case, read
    /// case-insensitively.
    #[derive(Default)]
    pub enum SyncMode("syncMode") {
        /// No syncs; fastest, a power loss can corrupt the database.
        Off => "OFF",
        /// Sync at critical moments; safe with WAL. The default.
        #[default]
        Normal => "NORMAL",
        /// Sync on every commit.
        Full => "FULL",
        /// Like `FULL`, and also sync the directory after unlinking a journal.
        Extra => "EXTRA",
    }
}

impl SyncMode {
    /// The value for `PRAGMA synchronous = ...`.
    pub fn as_sql(&self) -> &'static str {
        self.as_str()
    }
}

config_enum! {
    /// SQLite's `PRAGMA auto_vacuum` (`autoVacuum`). Written in upper case, read
    /// case-insensitively. It only takes effect on a new database (or after `VACUUM`).
    #[derive(Default)]
    pub enum AutoVacuum("autoVacuum") {
        /// Freed pages stay in the file until `VACUUM`.
        None => "NONE",
        /// Freed pages are returned to the file system at every commit.
        Full => "FULL",
        /// Freed pages are tracked and returned by `PRAGMA incremental_vacuum`. The default.
        #[default]
        Incremental => "INCREMENTAL",
    }
}

impl AutoVacuum {
    /// The value for `PRAGMA auto_vacuum = ...`.
    pub fn as_sql(&self) -> &'static str {
        self.as_str()
    }
}

/// SQLite settings (the `sqlite` section).
///
/// Durations are written as Go-style strings (`"30s"`, `"5m"`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct SqliteConfig {
    /// Path of the database file, created if missing; `:memory:` means an in-memory
    /// database (shared by all pooled connections). Default `./data/app.db`.
    pub file_path: String,
    /// Busy timeout (how long a statement waits for a lock held by another connection) and
    /// deadline for waiting for a free pooled connection. Must be greater than 0.
    /// Default `30s`.
    #[serde(with = "super::duration")]
    pub timeout: Duration,
    /// Most connections the pool opens at once (SQLite allows one writer at a time; more
    /// connections serve concurrent readers). At least 1. Default 4.
    #[serde(deserialize_with = "super::whole::deserialize")]
    pub max_open_conns: u32,
    /// Most idle connections kept in the pool; at most `maxOpenConns`. Default 4.
    /// When it is not set, it follows a lower `maxOpenConns` (as in Go's `database/sql`):
    /// see [`with_max_open_conns`](Self::with_max_open_conns); `dbfactory`'s loader
    /// does the same for values nobody set.
    #[serde(deserialize_with = "super::whole::deserialize")]
    pub max_idle_conns: u32,
    /// A connection older than this is closed instead of reused; `0` means unlimited.
    /// Default `30m`.
    #[serde(with = "super::duration")]
    pub conn_max_lifetime: Duration,
    /// A connection idle for longer than this is closed; `0` means unlimited.
    /// Default `10m`.
    #[serde(with = "super::duration")]
    pub conn_max_idle_time: Duration,
    /// `PRAGMA journal_mode`. Default `WAL`.
    pub journal_mode: JournalMode,
    /// `PRAGMA synchronous`. Default `NORMAL`.
    pub sync_mode: SyncMode,
    /// `PRAGMA cache_size`: pages when positive, KiB when negative. Default 1000.
    #[serde(deserialize_with = "super::whole::deserialize")]
    pub cache_size: i64,
    /// `PRAGMA foreign_keys`: enforce foreign-key constraints. Default `true`.
    pub foreign_keys: bool,
    /// `PRAGMA auto_vacuum`. Default `INCREMENTAL`.
    pub auto_vacuum: AutoVacuum,
    /// Interval of the background health check; `0` disables it. Default `30s`.
    #[serde(with = "super::duration")]
    pub health_check_interval: Duration,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        SqliteConfig {
            file_path: "./data/app.db".to_owned(),
            timeout: Duration::from_secs(30),
            max_open_conns: 4,
            max_idle_conns: 4,
            conn_max_lifetime: Duration::from_secs(30 * 60),
            conn_max_idle_time: Duration::from_secs(10 * 60),
            journal_mode: JournalMode::Wal,
            sync_mode: SyncMode::Normal,
            cache_size: 1000,
            foreign_keys: true,
            auto_vacuum: AutoVacuum::Incremental,
            health_check_interval: Duration::from_secs(30),
        }
    }
}

setters!(SqliteConfig {
    into with_file_path(file_path: String),
    set with_timeout(timeout: Duration),
    max_open with_max_open_conns(max_open_conns: u32),
    set with_max_idle_conns(max_idle_conns: u32),
    set with_conn_max_lifetime(conn_max_lifetime: Duration),
    set with_conn_max_idle_time(conn_max_idle_time: Duration),
    set with_journal_mode(journal_mode: JournalMode),
    set with_sync_mode(sync_mode: SyncMode),
    set with_cache_size(cache_size: i64),
    set with_foreign_keys(foreign_keys: bool),
    set with_auto_vacuum(auto_vacuum: AutoVacuum),
    set with_health_check_interval(health_check_interval: Duration),
});

impl SqliteConfig {
    /// The `filePath` that selects an in-memory database: `:memory:`.
    pub const MEMORY_PATH: &'static str = ":memory:";

    /// The default settings with the database at `file_path`.
    pub fn new(file_path: impl Into<String>) -> Self {
        SqliteConfig::default().with_file_path(file_path)
    }

    /// The default settings for an in-memory database (`:memory:`).
    pub fn in_memory() -> Self {
        SqliteConfig::new(Self::MEMORY_PATH)
    }

    /// Whether this configures an in-memory database (`filePath` is `:memory:`).
    pub fn is_memory(&self) -> bool {
        self.file_path == Self::MEMORY_PATH
    }

    /// Checks every rule and returns [`Error::Config`] listing every problem, with paths
    /// under `database.sqlite`.
    pub fn validate(&self) -> Result<(), Error> {
        into_result(self.problems_at(&format!("{SECTION}.sqlite")))
    }

    /// Every invalid value, with field paths under `prefix` (e.g. `database.sqlite`).
    pub fn problems_at(&self, prefix: &str) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        self.collect_problems(prefix, &mut problems);
        problems
    }

    pub(crate) fn collect_problems(&self, prefix: &str, problems: &mut Vec<ConfigProblem>) {
        let mut c = Checker::new(prefix, problems);
        if self.file_path.is_empty() {
            c.add(
                "filePath",
                format!(
                    "must not be empty (use a file path or {})",
                    Self::MEMORY_PATH
                ),
            );
        } else if self.file_path.contains('\0') {
            c.add("filePath", "must not contain a NUL byte");
        }
        c.pool(self.max_open_conns, self.max_idle_conns);
        c.timeout(self.timeout);
    }

    /// What is being opened, for messages and logs: `sqlite at ./data/app.db` or
    /// `sqlite in memory`.
    pub fn target(&self) -> String {
        if self.is_memory() {
            "sqlite in memory".to_owned()
        } else {
            format!("sqlite at {}", self.file_path)
        }
    }
}

impl fmt::Debug for SqliteConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteConfig")
            .field("file_path", &self.file_path)
            .field("timeout", &GoDuration(self.timeout))
            .field("max_open_conns", &self.max_open_conns)
            .field("max_idle_conns", &self.max_idle_conns)
            .field("conn_max_lifetime", &GoDuration(self.conn_max_lifetime))
            .field("conn_max_idle_time", &GoDuration(self.conn_max_idle_time))
            .field("journal_mode", &self.journal_mode)
            .field("sync_mode", &self.sync_mode)
            .field("cache_size", &self.cache_size)
            .field("foreign_keys", &self.foreign_keys)
            .field("auto_vacuum", &self.auto_vacuum)
            .field(
                "health_check_interval",
                &GoDuration(self.health_check_interval),
            )
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic on failure
mod tests {
    use super::*;

    #[test]
    fn enums_read_case_insensitively_and_write_upper_case() {
        for (text, mode) in [
            ("wal", JournalMode::Wal),
            ("WAL", JournalMode::Wal),
            ("Delete", JournalMode::Delete),
            ("truncate", JournalMode::Truncate),
            ("PERSIST", JournalMode::Persist),
            ("memory", JournalMode::Memory),
            ("off", JournalMode::Off),
        ] {
            let v: JournalMode = serde_json::from_str(&format!("\"{text}\"")).unwrap();
            assert_eq!(v, mode, "{text}");
        }
        assert_eq!(serde_json::to_string(&JournalMode::Wal).unwrap(), "\"WAL\"");
        assert_eq!(JournalMode::Wal.as_sql(), "WAL");
        assert_eq!(SyncMode::Normal.as_sql(), "NORMAL");
        assert_eq!("extra".parse::<SyncMode>(), Ok(SyncMode::Extra));
        assert_eq!(AutoVacuum::Incremental.as_sql(), "INCREMENTAL");
        assert_eq!("none".parse::<AutoVacuum>(), Ok(AutoVacuum::None));
        assert_eq!(
            serde_json::to_string(&AutoVacuum::Full).unwrap(),
            "\"FULL\""
        );
        let err = serde_json::from_str::<SqliteConfig>(r#"{"journalMode":"fast"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "unknown journalMode \"fast\": expected one of DELETE, TRUNCATE, \
                 PERSIST, MEMORY, WAL, OFF"
            ),
            "{err}"
        );
        let err = serde_json::from_str::<SqliteConfig>(r#"{"syncMode":1}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("one of OFF, NORMAL, FULL, EXTRA"), "{err}");
    }

    #[test]
    fn memory_path() {
        assert!(SqliteConfig::in_memory().is_memory());
        assert!(!SqliteConfig::default().is_memory());
        assert_eq!(SqliteConfig::in_memory().target(), "sqlite in memory");
        assert_eq!(
            SqliteConfig::new("/tmp/x.db").target(),
            "sqlite at /tmp/x.db"
        );
        SqliteConfig::in_memory().validate().unwrap();
    }

    #[test]
    fn every_rule_is_reported() {
        let cfg = SqliteConfig::new("a\0b")
            .with_max_open_conns(0)
            .with_timeout(Duration::ZERO);
        let rendered: Vec<String> = cfg
            .problems_at("database.sqlite")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            rendered,
            [
                "database.sqlite.filePath: must not contain a NUL byte",
                "database.sqlite.maxOpenConns: must be at least 1, got 0",
                "database.sqlite.timeout: must be greater than 0 (every connect and pool wait \
                 needs a deadline), got 0",
            ]
        );
        let err = SqliteConfig::new("").validate().unwrap_err().to_string();
        assert!(
            err.contains("database.sqlite.filePath: must not be empty"),
            "{err}"
        );
        let err = SqliteConfig::default()
            .with_max_idle_conns(5)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("database.sqlite.maxIdleConns: must not exceed maxOpenConns (4), got 5"),
            "{err}"
        );
    }
}
