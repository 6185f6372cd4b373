//! The PostgreSQL [`Driver`] registered in `dbfactory`.

use dbcore::{BoxFuture, ConnectOptions, Database, DatabaseConfig, DatabaseType, Driver, Result};

use crate::{PgDatabase, PgOptions};

/// The PostgreSQL driver. Register [`DRIVER`](crate::DRIVER) in a `dbfactory` registry.
#[derive(Debug, Clone, Copy, Default)]
pub struct PgDriver;

impl Driver for PgDriver {
    fn database_type(&self) -> DatabaseType {
        DatabaseType::Postgres
    }

    fn name(&self) -> &'static str {
        "postgres (tokio-postgres + deadpool-postgres, rustls)"
    }

    fn connect<'a>(
        &'a self,
        config: &'a DatabaseConfig,
        options: &'a ConnectOptions,
    ) -> BoxFuture<'a, Result<Box<dyn Database>>> {
        Box::pin(async move {
            let options = PgOptions::new().connect_options(options.clone());
            let db = PgDatabase::connect_with(&config.postgres, options).await?;
            Ok(Box::new(db) as Box<dyn Database>)
        })
    }
}
