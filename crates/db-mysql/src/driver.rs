//! The MySQL / MariaDB [`Driver`] registered in `dbfactory`.

use dbcore::{BoxFuture, ConnectOptions, Database, DatabaseConfig, DatabaseType, Driver, Result};

use crate::MySqlDatabase;

/// The MySQL / MariaDB driver. Register [`DRIVER`](crate::DRIVER) in a `dbfactory` registry.
#[derive(Debug, Clone, Copy, Default)]
pub struct MySqlDriver;

impl Driver for MySqlDriver {
    fn database_type(&self) -> DatabaseType {
        DatabaseType::Mysql
    }

    fn name(&self) -> &'static str {
        "mysql (mysql_async, MySQL and MariaDB)"
    }

    fn connect<'a>(
        &'a self,
        config: &'a DatabaseConfig,
        options: &'a ConnectOptions,
    ) -> BoxFuture<'a, Result<Box<dyn Database>>> {
        Box::pin(async move {
            let db = MySqlDatabase::connect_with(&config.mysql, options).await?;
            Ok(Box::new(db) as Box<dyn Database>)
        })
    }
}
