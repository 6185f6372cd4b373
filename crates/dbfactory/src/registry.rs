//! The driver registry: which [`Driver`] serves which [`DatabaseType`].

use dbcore::{ConnectOptions, Database, DatabaseConfig, DatabaseType, Driver, Error, Result};

/// The drivers compiled into this build, one per enabled feature.
///
/// A compile-time slice, no global mutable state: assemble your own list with
/// [`DriverRegistry::new`] to add drivers.
pub static DEFAULT_DRIVERS: &[&dyn Driver] = &[
    #[cfg(feature = "postgres")]
    &db_postgres::DRIVER,
    #[cfg(feature = "sqlite")]
    &db_sqlite::DRIVER,
    #[cfg(feature = "mysql")]
    &db_mysql::DRIVER,
];

/// A set of drivers, at most one per [`DatabaseType`], that connects a configuration to
/// the driver for its type.
///
/// ```
/// use dbfactory::{DriverRegistry, dbcore::DatabaseType};
///
/// let registry = DriverRegistry::with_defaults();
/// # #[cfg(feature = "sqlite")]
/// assert!(registry.available().contains(&DatabaseType::Sqlite));
/// // A built-in driver whose feature is off names the feature to enable.
/// # #[cfg(not(feature = "postgres"))] {
/// let err = registry.get(DatabaseType::Postgres).unwrap_err().to_string();
/// assert!(err.contains("`postgres` feature of dbfactory"));
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct DriverRegistry {
    drivers: Vec<&'static dyn Driver>,
}

impl Default for DriverRegistry {
    /// The same as [`DriverRegistry::with_defaults`].
    fn default() -> Self {
        Self::with_defaults()
    }
}

impl DriverRegistry {
    /// A registry of `drivers`; a later driver replaces an earlier one of the same type.
    pub fn new(drivers: &[&'static dyn Driver]) -> Self {
        let mut registry = DriverRegistry {
            drivers: Vec::with_capacity(drivers.len()),
        };
        for d in drivers {
            registry.register(*d);
        }
        registry
    }

    /// A registry of the drivers compiled into this build ([`DEFAULT_DRIVERS`]).
    pub fn with_defaults() -> Self {
        Self::new(DEFAULT_DRIVERS)
    }

    /// Adds `driver`, replacing (and returning) the one registered for the same type.
    pub fn register(&mut self, driver: &'static dyn Driver) -> Option<&'static dyn Driver> {
        let t = driver.database_type();
        match self.drivers.iter_mut().find(|d| d.database_type() == t) {
            Some(slot) => Some(std::mem::replace(slot, driver)),
            None => {
                self.drivers.push(driver);
                None
            }
        }
    }

    /// The driver for `database_type`.
    ///
    /// If none is registered: [`Error::DriverNotEnabled`] naming the `dbfactory` feature
    /// for a built-in driver that is not compiled in, otherwise
    /// [`Error::UnknownDatabaseType`] listing the registered types.
    pub fn get(&self, database_type: DatabaseType) -> Result<&'static dyn Driver> {
        if let Some(d) = self
            .drivers
            .iter()
            .find(|d| d.database_type() == database_type)
        {
            return Ok(*d);
        }
        match builtin_feature(database_type) {
            Some((feature, false)) => Err(Error::DriverNotEnabled {
                database_type,
                feature,
            }),
            _ => Err(Error::UnknownDatabaseType {
                name: database_type.to_string(),
                supported: self.registered_names(),
            }),
        }
    }

    /// The registered types, sorted.
    pub fn available(&self) -> Vec<DatabaseType> {
        let mut types: Vec<DatabaseType> = self.drivers.iter().map(|d| d.database_type()).collect();
        types.sort();
        types
    }

    /// The registered drivers, in registration order.
    pub fn drivers(&self) -> &[&'static dyn Driver] {
        &self.drivers
    }

    /// Validates `config` and connects with the driver for its type.
    pub async fn connect(
        &self,
        config: &DatabaseConfig,
        options: &ConnectOptions,
    ) -> Result<Box<dyn Database>> {
        config.validate()?;
        let driver = self.get(config.database_type)?;
        tracing::debug!(
            database_type = %config.database_type,
            driver = driver.name(),
            "connecting"
        );
        driver.connect(config, options).await
    }

    fn registered_names(&self) -> String {
        let names: Vec<&str> = self.available().iter().map(|t| t.as_str()).collect();
        if names.is_empty() {
            "none (no driver is registered)".to_owned()
        } else {
            names.join(", ")
        }
    }
}

/// The `dbfactory` feature of a built-in driver, and whether it is compiled in.
fn builtin_feature(t: DatabaseType) -> Option<(&'static str, bool)> {
    match t {
        DatabaseType::Postgres => Some(("postgres", cfg!(feature = "postgres"))),
        DatabaseType::Sqlite => Some(("sqlite", cfg!(feature = "sqlite"))),
        DatabaseType::Mysql => Some(("mysql", cfg!(feature = "mysql"))),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic on failure
mod tests {
    use dbcore::{BoxFuture, ErrorKind};

    use super::*;

    /// A user-defined driver that refuses to connect, naming itself.
    #[derive(Debug)]
    struct RefusingPg;

    impl Driver for RefusingPg {
        fn database_type(&self) -> DatabaseType {
            DatabaseType::Postgres
        }
        fn name(&self) -> &'static str {
            "refusing test driver"
        }
        fn connect<'a>(
            &'a self,
            _config: &'a DatabaseConfig,
            _options: &'a ConnectOptions,
        ) -> BoxFuture<'a, Result<Box<dyn Database>>> {
            Box::pin(async { Err(Error::Unsupported("refusing test driver was called".into())) })
        }
    }

    static REFUSING_PG: RefusingPg = RefusingPg;

    #[test]
    fn disabled_builtin_names_the_feature() {
        let registry = DriverRegistry::with_defaults();
        for (t, feature, enabled) in [
            (
                DatabaseType::Postgres,
                "postgres",
                cfg!(feature = "postgres"),
            ),
            (DatabaseType::Mysql, "mysql", cfg!(feature = "mysql")),
        ] {
            if enabled {
                continue;
            }
            let err = registry.get(t).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::UnsupportedDatabase);
            assert!(
                matches!(err, Error::DriverNotEnabled { feature: f, .. } if f == feature),
                "{err:?}"
            );
            let msg = err.to_string();
            assert!(
                msg.contains(&format!("`{feature}` feature of dbfactory")),
                "{msg}"
            );
            assert!(msg.contains(t.as_str()), "{msg}");
        }
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn unregistered_enabled_type_lists_registered_types() {
        let registry = DriverRegistry::new(&[&REFUSING_PG]);
        let err = registry.get(DatabaseType::Sqlite).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("\"sqlite\""), "{msg}");
        assert!(msg.contains("supported types are postgres"), "{msg}");
        let empty = DriverRegistry::new(&[]);
        let msg = empty.get(DatabaseType::Sqlite).unwrap_err().to_string();
        assert!(msg.contains("no driver is registered"), "{msg}");
    }

    #[tokio::test]
    async fn user_defined_driver_is_dispatched_to() {
        let mut registry = DriverRegistry::with_defaults();
        // It replaces the built-in PostgreSQL driver when that is compiled in.
        assert_eq!(
            registry.register(&REFUSING_PG).is_some(),
            cfg!(feature = "postgres")
        );
        assert!(registry.available().contains(&DatabaseType::Postgres));
        assert_eq!(
            registry.get(DatabaseType::Postgres).unwrap().name(),
            "refusing test driver"
        );
        let config = DatabaseConfig::default().with_database_type(DatabaseType::Postgres);
        let err = registry
            .connect(&config, &ConnectOptions::new())
            .await
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("refusing test driver was called"),
            "{err}"
        );
        // Registering again replaces it and hands back the old one.
        let old = registry.register(&REFUSING_PG).unwrap();
        assert_eq!(old.name(), "refusing test driver");
        assert_eq!(registry.drivers().len(), registry.available().len());
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn wrapping_driver_replaces_the_builtin() {
        use std::sync::atomic::{AtomicU32, Ordering};

        static CALLS: AtomicU32 = AtomicU32::new(0);

        /// Counts connects, then delegates to the SQLite driver.
        struct CountingSqlite;
        impl Driver for CountingSqlite {
            fn database_type(&self) -> DatabaseType {
                DatabaseType::Sqlite
            }
            fn name(&self) -> &'static str {
                "counting sqlite"
            }
            fn connect<'a>(
                &'a self,
                config: &'a DatabaseConfig,
                options: &'a ConnectOptions,
            ) -> BoxFuture<'a, Result<Box<dyn Database>>> {
                CALLS.fetch_add(1, Ordering::SeqCst);
                db_sqlite::DRIVER.connect(config, options)
            }
        }
        static COUNTING: CountingSqlite = CountingSqlite;

        let registry = DriverRegistry::new(&[&db_sqlite::DRIVER, &COUNTING]);
        assert_eq!(registry.available(), [DatabaseType::Sqlite]);
        let config = DatabaseConfig::sqlite(dbcore::SqliteConfig::in_memory());
        let db = registry
            .connect(&config, &ConnectOptions::new())
            .await
            .unwrap();
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
        let row = db
            .query_one("SELECT 40 + $1 AS n", &[2.into()])
            .await
            .unwrap();
        assert_eq!(row.get::<i64>("n").unwrap(), 42);
        db.close(std::time::Duration::from_secs(5)).await.unwrap();
    }

    #[tokio::test]
    async fn connect_validates_first() {
        let mut config = DatabaseConfig::default().with_database_type(DatabaseType::Postgres);
        config.postgres.port = 0;
        let mut registry = DriverRegistry::new(&[]);
        registry.register(&REFUSING_PG);
        let err = registry
            .connect(&config, &ConnectOptions::new())
            .await
            .err()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    }
}
