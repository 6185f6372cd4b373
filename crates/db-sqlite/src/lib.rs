#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod database;
mod driver;
mod error;
mod exec;
mod manager;
mod reply;
mod stats;
mod transaction;
mod value;
mod worker;

pub use database::SqliteDatabase;
pub use driver::SqliteDriver;
pub use transaction::SqliteTransaction;

/// The SQLite driver, for `dbfactory` registries.
pub const DRIVER: SqliteDriver = SqliteDriver;

pub use dbcore::{
    ConnectOptions, Database, DatabaseExt, Error, ErrorKind, Executor, ExecutorExt, FromRow,
    FromValue, IsolationLevel, PoolStats, Result, RetryPolicy, Row, SqliteConfig, Transaction,
    TxOptions, Value, params, with_transaction, with_transaction_retry,
};
/// The native crate, re-exported so raw access never hits a version mismatch.
pub use rusqlite;
