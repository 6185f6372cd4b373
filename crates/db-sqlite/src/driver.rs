//! The SQLite [`Driver`] registered in `dbfactory`.

use dbcore::{BoxFuture, ConnectOptions, Database, DatabaseConfig, DatabaseType, Driver, Result};

use crate::SqliteDatabase;

/// The SQLite driver. Register [`DRIVER`](crate::DRIVER) in a `dbfactory` registry.
#[derive(Debug, Clone, Copy, Default)]
pub struct SqliteDriver;

impl Driver for SqliteDriver {
    fn database_type(&self) -> DatabaseType {
        DatabaseType::Sqlite
    }

    fn name(&self) -> &'static str {
        "sqlite (rusqlite, bundled SQLite)"
    }

    fn connect<'a>(
        &'a self,
        config: &'a DatabaseConfig,
        _options: &'a ConnectOptions,
    ) -> BoxFuture<'a, Result<Box<dyn Database>>> {
        Box::pin(async move {
            let db = SqliteDatabase::connect(&config.sqlite).await?;
            Ok(Box::new(db) as Box<dyn Database>)
        })
    }
}
