#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod env;
mod fields;
mod layer;
mod loader;
mod registry;
mod url;

pub use fields::{ConfigField, FieldKind, config_fields, env_var_names};
pub use loader::{
    ConfigEntry, ConfigFormat, ConfigLoader, DATABASE_URL, DEFAULT_ORIGIN, LoadedConfig,
    config_from_url, load_config,
};
pub use registry::{DEFAULT_DRIVERS, DriverRegistry};

/// The MySQL / MariaDB driver crate.
#[cfg(feature = "mysql")]
#[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
pub use db_mysql;
/// The PostgreSQL driver crate.
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use db_postgres;
/// The SQLite driver crate.
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use db_sqlite;
/// The contract crate, re-exported so that users of `dbfactory` need no direct dependency.
pub use dbcore;
pub use dbcore::{
    ConnectOptions, Database, DatabaseConfig, DatabaseExt, DatabaseType, Driver, Error, ErrorKind,
    Executor, ExecutorExt, FromRow, FromValue, IsolationLevel, PoolStats, Result, RetryPolicy, Row,
    Transaction, TxOptions, Value, params, with_transaction, with_transaction_retry,
};

/// Validates `config` and connects with the driver for its type, from the drivers
/// compiled into this build ([`DEFAULT_DRIVERS`]).
///
/// A type whose driver is not compiled in fails with [`Error::DriverNotEnabled`], which
/// names the `dbfactory` feature to enable.
pub async fn connect(config: &DatabaseConfig) -> Result<Box<dyn Database>> {
    connect_with(config, &ConnectOptions::new()).await
}

/// [`connect`] with options, e.g. a hook that reports each connect retry.
pub async fn connect_with(
    config: &DatabaseConfig,
    options: &ConnectOptions,
) -> Result<Box<dyn Database>> {
    DriverRegistry::with_defaults()
        .connect(config, options)
        .await
}
