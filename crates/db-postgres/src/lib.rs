#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod conn;
mod database;
mod driver;
mod error;
mod exec;
mod limits;
mod statements;
mod tls;
mod transaction;
mod value;

pub use config::{DEFAULT_APPLICATION_NAME, PgOptions, to_native};
pub use database::PgDatabase;
pub use driver::PgDriver;
pub use transaction::PgTransaction;

/// The PostgreSQL driver, for `dbfactory` registries.
pub const DRIVER: PgDriver = PgDriver;

pub use dbcore::{
    ConnectOptions, Database, DatabaseExt, Error, ErrorKind, Executor, ExecutorExt, FromRow,
    FromValue, IsolationLevel, PoolStats, PostgresConfig, Result, RetryPolicy, Row, SslMode,
    Transaction, TxOptions, Value, params, with_transaction, with_transaction_retry,
};
/// The native crates, re-exported so raw access never hits a version mismatch.
pub use deadpool_postgres;
pub use tokio_postgres;
