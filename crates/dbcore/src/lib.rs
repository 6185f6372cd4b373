#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod bulk;
pub mod config;
mod database;
mod database_type;
pub mod deadline;
mod driver;
mod error;
mod executor;
mod health;
pub mod limits;
pub mod observe;
mod placeholder;
mod retry;
mod row;
mod stats;
mod transaction;
mod value;

pub use bulk::{InsertPlan, max_bind_params, quote_identifier};
pub use config::{
    AutoVacuum, DatabaseConfig, JournalMode, MySqlConfig, PostgresConfig, Secret, SqliteConfig,
    SslMode, SyncMode,
};
pub use database::{Database, wait_until_idle};
pub use database_type::{DatabaseType, ParseDatabaseTypeError};
pub use driver::{ConnectOptions, Driver, RetryHook};
pub use error::{BoxError, ConfigErrors, ConfigProblem, DatabaseError, Error, ErrorKind, Result};
pub use executor::{Executor, ExecutorExt, RowReader, optional_row, single_row};
pub use health::{HealthCheck, HealthMonitor};
pub use placeholder::{FastHasher, PlaceholderStyle, PreparedSql, SqlCache, prepare_sql};
pub use retry::{RetryEvent, RetryPolicy, retry_connect};
pub use row::{ColumnIndex, Columns, FromRow, Row, RowSource, RowValues, shared_columns};
pub use stats::{HealthReport, PoolStats};
pub use transaction::{
    DatabaseExt, IsolationLevel, RetryableError, Transaction, TxOptions, with_transaction,
    with_transaction_retry,
};
pub use value::{DecodeError, FromValue, Value};

#[doc(hidden)]
pub use futures_util::future::BoxFuture;
