//! [`Error`], the portable [`ErrorKind`], and configuration problems.

use std::fmt;
use std::time::Duration;

use crate::DatabaseType;

/// A boxed error from a native driver, kept as the `source` of an [`Error`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, independent of the backend.
///
/// Match on this instead of on backend codes: a unique violation is
/// [`ErrorKind::UniqueViolation`] whether PostgreSQL said `23505`, MySQL `1062`
/// or SQLite `2067`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The configuration is invalid.
    Config,
    /// The configured database type is unknown or its driver is not compiled in.
    UnsupportedDatabase,
    /// A connection could not be established (refused, reset, DNS, server starting up).
    Connect,
    /// The server rejected the credentials.
    Authentication,
    /// The database named in the configuration does not exist or cannot be opened.
    UnknownDatabase,
    /// TLS could not be negotiated as the configuration requires.
    Tls,
    /// An established connection was lost (closed socket, server gone, session terminated).
    ConnectionLost,
    /// A `commit` whose connection was lost (or stopped answering) after the COMMIT was
    /// sent: the server may have committed or not, and the layer cannot tell which.
    /// Check the data before running a non-idempotent transaction again. Not retryable.
    CommitOutcomeUnknown,
    /// No connection became free in the pool within the configured `timeout`.
    PoolTimeout,
    /// The pool has been closed.
    PoolClosed,
    /// A statement or transaction exceeded its deadline and was cancelled.
    Timeout,
    /// A unique or primary-key constraint was violated.
    UniqueViolation,
    /// A foreign-key constraint was violated.
    ForeignKeyViolation,
    /// A NOT NULL constraint was violated.
    NotNullViolation,
    /// A CHECK constraint was violated.
    CheckViolation,
    /// A serializable transaction could not be completed; retry it.
    SerializationFailure,
    /// The transaction was chosen as a deadlock victim; retry it.
    Deadlock,
    /// The database was locked by another connection for longer than the busy timeout
    /// (SQLite `SQLITE_BUSY`, MySQL lock wait timeout); retry it.
    Busy,
    /// A write was attempted inside a read-only transaction or on a read-only database.
    ReadOnlyViolation,
    /// The SQL text is invalid (syntax error, unknown table or column).
    Syntax,
    /// A parameter is missing, surplus, or cannot be bound.
    Parameter,
    /// A column value could not be converted to the requested Rust type, or no such column.
    Decode,
    /// `query_one` found no row.
    RowNotFound,
    /// `query_one` found more than one row.
    TooManyRows,
    /// Transaction-control SQL was sent through a plain query; use `begin`.
    TransactionControl,
    /// The operation is not supported by this driver or in this state.
    Unsupported,
    /// Any other database error.
    Other,
}

impl ErrorKind {
    /// Whether running the same transaction again may succeed: serialization failures,
    /// deadlocks and busy/lock-wait timeouts.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::SerializationFailure | ErrorKind::Deadlock | ErrorKind::Busy
        )
    }

    /// Whether a failed connection attempt with this kind may heal by itself, so that
    /// connect-retry should try again (refused, reset, lost, timeout).
    /// Wrong credentials, an unknown database and TLS mismatches are not transient.
    pub fn is_transient_connect(self) -> bool {
        matches!(
            self,
            ErrorKind::Connect | ErrorKind::ConnectionLost | ErrorKind::Timeout | ErrorKind::Busy
        )
    }

    /// A short lower-case name (`unique_violation`), for logs and JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::UnsupportedDatabase => "unsupported_database",
            ErrorKind::Connect => "connect",
            ErrorKind::Authentication => "authentication",
            ErrorKind::UnknownDatabase => "unknown_database",
            ErrorKind::Tls => "tls",
            ErrorKind::ConnectionLost => "connection_lost",
            ErrorKind::CommitOutcomeUnknown => "commit_outcome_unknown",
            ErrorKind::PoolTimeout => "pool_timeout",
            ErrorKind::PoolClosed => "pool_closed",
            ErrorKind::Timeout => "timeout",
            ErrorKind::UniqueViolation => "unique_violation",
            ErrorKind::ForeignKeyViolation => "foreign_key_violation",
            ErrorKind::NotNullViolation => "not_null_violation",
            ErrorKind::CheckViolation => "check_violation",
            ErrorKind::SerializationFailure => "serialization_failure",
            ErrorKind::Deadlock => "deadlock",
            ErrorKind::Busy => "busy",
            ErrorKind::ReadOnlyViolation => "read_only_violation",
            ErrorKind::Syntax => "syntax",
            ErrorKind::Parameter => "parameter",
            ErrorKind::Decode => "decode",
            ErrorKind::RowNotFound => "row_not_found",
            ErrorKind::TooManyRows => "too_many_rows",
            ErrorKind::TransactionControl => "transaction_control",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Other => "other",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One invalid configuration value: the field path, the rule it broke, and where the
/// value came from when that is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Dotted path of the field, e.g. `database.postgres.port`.
    pub path: String,
    /// What is wrong, e.g. `must be between 1 and 65535, got 70000`.
    pub message: String,
    /// Where the value came from (`config.json`, `env var DB_POSTGRES_PORT`), when known.
    pub origin: Option<String>,
}

impl ConfigProblem {
    /// A problem at `path` with `message` and unknown origin.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigProblem {
            path: path.into(),
            message: message.into(),
            origin: None,
        }
    }

    /// The same problem, noting where the value came from.
    pub fn with_origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)?;
        } else {
            write!(f, "{}: {}", self.path, self.message)?;
        }
        if let Some(origin) = &self.origin {
            write!(f, " (from {origin})")?;
        }
        Ok(())
    }
}

/// Every problem found in a configuration (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigProblem>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} problems", many.len())?;
                for p in many {
                    write!(f, "\n  - {p}")?;
                }
                Ok(())
            }
        }
    }
}

/// A database error reported by the backend, with its native code and portable kind.
#[derive(Debug)]
pub struct DatabaseError {
    /// The portable classification.
    pub kind: ErrorKind,
    /// Which backend produced it.
    pub database_type: DatabaseType,
    /// The backend's own code: SQLSTATE, MySQL error number, or SQLite extended result code.
    pub code: Option<String>,
    /// The backend's message.
    pub message: String,
    /// The native error, if any.
    pub source: Option<BoxError>,
}

impl fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error", self.database_type)?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        write!(f, " ({}): {}", self.kind, self.message)
    }
}

/// The error type of every `dbcore` operation and of every driver.
///
/// Use [`Error::kind`] for portable matching, [`Error::code`] for the backend's own
/// code, and [`Error::is_retryable`] to decide whether to run a transaction again.
/// No message or `Debug` output of this type contains a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid; every problem is listed with its field path.
    #[error("invalid database configuration: {0}")]
    Config(ConfigErrors),

    /// The configured type names no known database.
    #[error("unsupported database type {name:?}: supported types are {supported}")]
    UnknownDatabaseType {
        /// The name that was given.
        name: String,
        /// The names that are available, comma-separated.
        supported: String,
    },

    /// The database type is known, but its driver is not compiled into this build.
    #[error(
        "the {database_type} driver is not compiled in: enable the `{feature}` feature of dbfactory \
         (e.g. `dbfactory = {{ version = \"*\", features = [\"{feature}\"] }}`)"
    )]
    DriverNotEnabled {
        /// The requested type.
        database_type: DatabaseType,
        /// The cargo feature that enables it.
        feature: &'static str,
    },

    /// Connecting failed, possibly after retries.
    #[error("could not connect to {target} after {attempts} attempt(s): {source}")]
    Connect {
        /// What was being connected to (`postgres at db.example.com:5432/app`), without secrets.
        target: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last failure.
        #[source]
        source: Box<Error>,
    },

    /// The backend reported an error.
    #[error("{0}")]
    Database(Box<DatabaseError>),

    /// No connection became free within the pool's timeout.
    #[error(
        "timed out after {0:?} waiting for a free connection from the pool \
         (raise maxOpenConns or timeout, or hold connections for less time)"
    )]
    PoolTimeout(Duration),

    /// The pool was closed; no new work is accepted.
    #[error("the database pool is closed")]
    PoolClosed,

    /// An operation exceeded its deadline and was cancelled.
    #[error("{what} timed out after {after:?}")]
    Timeout {
        /// What timed out (`transaction`, `statement`, `connect`).
        what: &'static str,
        /// The deadline that was exceeded.
        after: Duration,
    },

    /// A SQL parameter is missing, surplus or unusable.
    #[error("SQL parameter {position}: {message}")]
    Parameter {
        /// The placeholder, e.g. `$3`, or a description such as `count`.
        position: String,
        /// What is wrong.
        message: String,
    },

    /// A column could not be read as the requested type, or does not exist.
    #[error("column {column}: {message}")]
    Decode {
        /// The column name (or `#index` when reading by an out-of-range index).
        column: String,
        /// What went wrong, naming both types.
        message: String,
    },

    /// `query_one` returned no row.
    #[error("query returned no rows, but exactly one was expected")]
    RowNotFound,

    /// `query_one` returned more than one row.
    #[error("query returned more than one row, but exactly one was expected")]
    TooManyRows,

    /// Transaction control (`BEGIN`, `COMMIT`, `SET TRANSACTION`...) was sent through a plain
    /// query, where it would leak transaction state into the pool.
    #[error(
        "`{statement}` cannot be run through execute/query: it would leave the pooled connection \
         inside a transaction; use `Database::begin` / `with_transaction` instead"
    )]
    TransactionControl {
        /// The leading keyword(s) of the refused statement.
        statement: String,
    },

    /// More than one statement was given where one is allowed.
    #[error(
        "the SQL contains more than one statement; plain queries run exactly one \
         (use execute_batch for scripts without parameters)"
    )]
    MultipleStatements,

    /// The SQL text could not be understood before reaching the server.
    #[error("invalid SQL: {0}")]
    Sql(String),

    /// The operation is not supported.
    #[error("unsupported: {0}")]
    Unsupported(String),

    /// A panic happened inside a worker while running a database operation.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The portable classification of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config(_) => ErrorKind::Config,
            Error::UnknownDatabaseType { .. } | Error::DriverNotEnabled { .. } => {
                ErrorKind::UnsupportedDatabase
            }
            Error::Connect { source, .. } => match source.kind() {
                k @ (ErrorKind::Authentication
                | ErrorKind::UnknownDatabase
                | ErrorKind::Tls
                | ErrorKind::Config) => k,
                _ => ErrorKind::Connect,
            },
            Error::Database(e) => e.kind,
            Error::PoolTimeout(_) => ErrorKind::PoolTimeout,
            Error::PoolClosed => ErrorKind::PoolClosed,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Parameter { .. } => ErrorKind::Parameter,
            Error::Decode { .. } => ErrorKind::Decode,
            Error::RowNotFound => ErrorKind::RowNotFound,
            Error::TooManyRows => ErrorKind::TooManyRows,
            Error::TransactionControl { .. } => ErrorKind::TransactionControl,
            Error::MultipleStatements | Error::Sql(_) => ErrorKind::Syntax,
            Error::Unsupported(_) => ErrorKind::Unsupported,
            Error::Internal(_) => ErrorKind::Other,
        }
    }

    /// The backend's own error code (SQLSTATE, MySQL error number, SQLite extended code).
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Database(e) => e.code.as_deref(),
            Error::Connect { source, .. } => source.code(),
            _ => None,
        }
    }

    /// Whether running the whole transaction again may succeed.
    pub fn is_retryable(&self) -> bool {
        self.kind().is_retryable()
    }

    /// Builds a backend error.
    pub fn database(
        database_type: DatabaseType,
        kind: ErrorKind,
        code: Option<String>,
        message: impl Into<String>,
        source: Option<BoxError>,
    ) -> Self {
        Error::Database(Box::new(DatabaseError {
            kind,
            database_type,
            code,
            message: message.into(),
            source,
        }))
    }

    /// A configuration error with one problem.
    pub fn config(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config(ConfigErrors(vec![ConfigProblem::new(path, message)]))
    }

    /// A parameter error at the 1-based placeholder `index`.
    pub fn parameter(index: usize, message: impl Into<String>) -> Self {
        Error::Parameter {
            position: format!("${index}"),
            message: message.into(),
        }
    }

    /// The backend error, if this is one.
    pub fn as_database_error(&self) -> Option<&DatabaseError> {
        match self {
            Error::Database(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ConfigErrors> for Error {
    fn from(e: ConfigErrors) -> Self {
        Error::Config(e)
    }
}

impl From<crate::database_type::ParseDatabaseTypeError> for Error {
    fn from(e: crate::database_type::ParseDatabaseTypeError) -> Self {
        Error::UnknownDatabaseType {
            name: e.name,
            supported: DatabaseType::supported_names(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_kinds() {
        assert!(ErrorKind::SerializationFailure.is_retryable());
        assert!(ErrorKind::Deadlock.is_retryable());
        assert!(ErrorKind::Busy.is_retryable());
        assert!(!ErrorKind::UniqueViolation.is_retryable());
        assert!(!ErrorKind::Authentication.is_transient_connect());
        assert!(ErrorKind::Connect.is_transient_connect());
        // Running the transaction again could apply it twice.
        assert!(!ErrorKind::CommitOutcomeUnknown.is_retryable());
        assert!(!ErrorKind::CommitOutcomeUnknown.is_transient_connect());
        assert_eq!(
            ErrorKind::CommitOutcomeUnknown.as_str(),
            "commit_outcome_unknown"
        );
    }

    #[test]
    fn connect_error_keeps_permanent_kind() {
        let e = Error::Connect {
            target: "postgres at h:5432/app".into(),
            attempts: 1,
            source: Box::new(Error::database(
                DatabaseType::Postgres,
                ErrorKind::Authentication,
                Some("28P01".into()),
                "password authentication failed",
                None,
            )),
        };
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert_eq!(e.code(), Some("28P01"));
        let msg = e.to_string();
        assert!(msg.contains("after 1 attempt(s)"), "{msg}");
        assert!(msg.contains("password authentication failed"), "{msg}");
    }

    #[test]
    fn config_errors_list_every_problem() {
        let e = Error::Config(ConfigErrors(vec![
            ConfigProblem::new(
                "database.postgres.port",
                "must be between 1 and 65535, got 70000",
            ),
            ConfigProblem::new("database.postgres.host", "must not be empty")
                .with_origin("env var DB_POSTGRES_HOST"),
        ]));
        let msg = e.to_string();
        assert!(msg.contains("2 problems"), "{msg}");
        assert!(msg.contains("database.postgres.port: must be between 1 and 65535, got 70000"));
        assert!(msg.contains("(from env var DB_POSTGRES_HOST)"), "{msg}");
    }

    #[test]
    fn driver_not_enabled_names_the_feature() {
        let e = Error::DriverNotEnabled {
            database_type: DatabaseType::Mysql,
            feature: "mysql",
        };
        assert!(e.to_string().contains("enable the `mysql` feature"));
        assert_eq!(e.kind(), ErrorKind::UnsupportedDatabase);
    }
}
