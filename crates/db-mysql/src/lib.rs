#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod conn;
mod database;
mod driver;
mod error;
mod limits;
mod stats;
mod tls;
mod transaction;
mod value;

pub use database::MySqlDatabase;
pub use driver::MySqlDriver;
pub use transaction::MySqlTransaction;

/// The MySQL / MariaDB driver, for `dbfactory` registries.
pub const DRIVER: MySqlDriver = MySqlDriver;

pub use dbcore::{
    ConnectOptions, Database, DatabaseExt, Error, ErrorKind, Executor, ExecutorExt, FromRow,
    FromValue, IsolationLevel, MySqlConfig, PoolStats, Result, RetryPolicy, Row, SslMode,
    Transaction, TxOptions, Value, params, with_transaction, with_transaction_retry,
};
/// The native crate, re-exported so raw access never hits a version mismatch.
pub use mysql_async;
