//! Configuration types: the `database` section of a configuration file.
//!
//! The shapes follow the public configuration format (camelCase keys, Go-style duration
//! strings such as `"30s"`):
//!
//! ```
//! use dbcore::config::{DatabaseConfig, SslMode};
//! use dbcore::DatabaseType;
//!
//! let json = r#"{
//!     "type": "postgres",
//!     "postgres": { "host": "db.internal", "port": 5432, "name": "app",
//!                   "username": "app", "password": "secret", "sslMode": "require",
//!                   "timeout": "10s" }
//! }"#;
//! let cfg: DatabaseConfig = serde_json::from_str(json).unwrap();
//! assert_eq!(cfg.database_type, DatabaseType::Postgres);
//! assert_eq!(cfg.postgres.ssl_mode, SslMode::Require);
//! cfg.validate().unwrap();
//! assert!(!format!("{cfg:?}").contains("secret"));
//! ```
//!
//! Every field has a production-sane default, unknown keys are errors (a typo such as
//! `maxOpenConn` must not silently fall back to a default), and [`DatabaseConfig::validate`]
//! reports every invalid value at once, each with its field path
//! (`database.postgres.port: must be between 1 and 65535, got 0`).
//!
//! Loading files and environment variables is done by `dbfactory`; this module only defines
//! the types, their defaults and their validation.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::database_type::DatabaseType;
use crate::error::{ConfigErrors, ConfigProblem, Error};

pub mod duration;
mod mysql;
mod postgres;
mod secret;
mod sqlite;

pub use mysql::MySqlConfig;
pub use postgres::{PostgresConfig, SslMode};
pub use secret::Secret;
pub use sqlite::{AutoVacuum, JournalMode, SqliteConfig, SyncMode};

/// The path prefix of the whole section in configuration files and error messages.
pub const SECTION: &str = "database";

/// The `database` section: which backend to use, and the settings of each backend.
///
/// All three backend sections are always present (with defaults) so that switching
/// `type` needs no other change. [`validate`](Self::validate) checks all three.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct DatabaseConfig {
    /// Which backend to use (`"type"` in files): `postgres`, `sqlite` or `mysql`.
    /// Default: `sqlite`, an embedded database needing no server.
    #[serde(rename = "type")]
    pub database_type: DatabaseType,
    /// PostgreSQL settings, used when `type` is `postgres`.
    pub postgres: PostgresConfig,
    /// SQLite settings, used when `type` is `sqlite`.
    pub sqlite: SqliteConfig,
    /// MySQL / MariaDB settings, used when `type` is `mysql`.
    pub mysql: MySqlConfig,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            database_type: DatabaseType::Sqlite,
            postgres: PostgresConfig::default(),
            sqlite: SqliteConfig::default(),
            mysql: MySqlConfig::default(),
        }
    }
}

impl DatabaseConfig {
    /// A configuration selecting PostgreSQL with the given settings.
    pub fn postgres(postgres: PostgresConfig) -> Self {
        DatabaseConfig {
            database_type: DatabaseType::Postgres,
            postgres,
            ..Self::default()
        }
    }

    /// A configuration selecting SQLite with the given settings.
    pub fn sqlite(sqlite: SqliteConfig) -> Self {
        DatabaseConfig {
            database_type: DatabaseType::Sqlite,
            sqlite,
            ..Self::default()
        }
    }

    /// A configuration selecting MySQL / MariaDB with the given settings.
    pub fn mysql(mysql: MySqlConfig) -> Self {
        DatabaseConfig {
            database_type: DatabaseType::Mysql,
            mysql,
            ..Self::default()
        }
    }

    /// Sets the selected backend.
    #[must_use]
    pub fn with_database_type(mut self, database_type: DatabaseType) -> Self {
        self.database_type = database_type;
        self
    }

    /// Replaces the PostgreSQL settings.
    #[must_use]
    pub fn with_postgres(mut self, postgres: PostgresConfig) -> Self {
        self.postgres = postgres;
        self
    }

    /// Replaces the SQLite settings.
    #[must_use]
    pub fn with_sqlite(mut self, sqlite: SqliteConfig) -> Self {
        self.sqlite = sqlite;
        self
    }

    /// Replaces the MySQL / MariaDB settings.
    #[must_use]
    pub fn with_mysql(mut self, mysql: MySqlConfig) -> Self {
        self.mysql = mysql;
        self
    }

    /// Every invalid value in all three backend sections, each with its full field path
    /// (`database.postgres.port`). Empty when the configuration is valid.
    ///
    /// Callers that know where values came from (a file, an environment variable) can
    /// attach that with [`ConfigProblem::with_origin`] before reporting.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        self.postgres
            .collect_problems(&format!("{SECTION}.postgres"), &mut problems);
        self.sqlite
            .collect_problems(&format!("{SECTION}.sqlite"), &mut problems);
        self.mysql
            .collect_problems(&format!("{SECTION}.mysql"), &mut problems);
        problems
    }

    /// Checks every rule of every section and returns [`Error::Config`] listing every
    /// problem found. The defaults are valid.
    pub fn validate(&self) -> Result<(), Error> {
        into_result(self.problems())
    }

    /// The configuration as JSON (the file format), with every non-empty password replaced
    /// by `"***"`: safe to print or log.
    pub fn redacted(&self) -> serde_json::Value {
        let mut value = match serde_json::to_value(self) {
            Ok(v) => v,
            // Serializing plain structs into a JSON value cannot fail; never print secrets
            // if it somehow did.
            Err(e) => return serde_json::Value::String(format!("<unprintable: {e}>")),
        };
        for (section, secret) in [
            ("postgres", &self.postgres.password),
            ("mysql", &self.mysql.password),
        ] {
            if let Some(obj) = value.get_mut(section).and_then(|s| s.as_object_mut()) {
                let shown = if secret.is_empty() { "" } else { "***" };
                obj.insert("password".to_owned(), serde_json::Value::from(shown));
            }
        }
        value
    }
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("database_type", &self.database_type)
            .field("postgres", &self.postgres)
            .field("sqlite", &self.sqlite)
            .field("mysql", &self.mysql)
            .finish()
    }
}

/// Turns a list of problems into `Ok(())` or [`Error::Config`].
fn into_result(problems: Vec<ConfigProblem>) -> Result<(), Error> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Config(ConfigErrors(problems)))
    }
}

/// The error of the `FromStr` implementations of the configuration enums
/// ([`SslMode`], [`JournalMode`], [`SyncMode`], [`AutoVacuum`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {setting} {value:?}: expected one of {expected}")]
#[non_exhaustive]
pub struct ParseSettingError {
    /// The configuration key, e.g. `sslMode`.
    pub setting: &'static str,
    /// The value that was given.
    pub value: String,
    /// The accepted values, comma-separated.
    pub expected: &'static str,
}

/// Defines a string-valued configuration enum with case-insensitive parsing, a canonical
/// spelling for serialization, and an error listing the accepted values.
macro_rules! config_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($setting:literal) {
            $(
                $(#[$vmeta:meta])*
                $variant:ident => $text:literal
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in documentation order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The canonical spelling, as written in configuration files.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The accepted values, comma-separated (for messages).
            pub const EXPECTED: &'static str = $crate::config::join_names!($($text),+);
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::config::ParseSettingError;

            /// Parses any spelling case-insensitively; surrounding whitespace is ignored.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let wanted = s.trim();
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(wanted))
                    .ok_or_else(|| $crate::config::ParseSettingError {
                        setting: $setting,
                        value: s.to_owned(),
                        expected: Self::EXPECTED,
                    })
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl ::serde::de::Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        write!(f, "one of {}", $name::EXPECTED)
                    }
                    fn visit_str<E: ::serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        v.parse().map_err(E::custom)
                    }
                }
                deserializer.deserialize_str(V)
            }
        }
    };
}
pub(crate) use config_enum;

/// `"a, b, c"` from string literals, at compile time.
macro_rules! join_names {
    ($first:literal $(, $rest:literal)*) => { concat!($first $(, ", ", $rest)*) };
}
pub(crate) use join_names;

/// Generates `with_*` builder setters with generated doc comments.
macro_rules! setters {
    ($ty:ident { $($kind:ident $fn:ident($field:ident: $t:ty)),* $(,)? }) => {
        impl $ty {
            $( $crate::config::setters!(@one $kind $fn $field $t); )*
        }
    };
    (@one into $fn:ident $field:ident $t:ty) => {
        #[doc = concat!("Sets `", stringify!($field), "` (see the field's documentation).")]
        #[must_use]
        pub fn $fn(mut self, value: impl Into<$t>) -> Self {
            self.$field = value.into();
            self
        }
    };
    (@one set $fn:ident $field:ident $t:ty) => {
        #[doc = concat!("Sets `", stringify!($field), "` (see the field's documentation).")]
        #[must_use]
        pub fn $fn(mut self, value: $t) -> Self {
            self.$field = value;
            self
        }
    };
    // `maxOpenConns`: also lowers `max_idle_conns`, as Go's `DB.SetMaxOpenConns` does.
    (@one max_open $fn:ident $field:ident $t:ty) => {
        #[doc = concat!("Sets `", stringify!($field), "` (see the field's documentation), and")]
        /// lowers `max_idle_conns` to the same value if it is larger, as Go's
        /// `DB.SetMaxOpenConns` does, so that lowering the pool size alone stays valid.
        ///
        /// Set `max_idle_conns` afterwards to choose it explicitly: a value above
        /// `max_open_conns` set that way is still reported by validation.
        #[must_use]
        pub fn $fn(mut self, value: $t) -> Self {
            self.$field = value;
            self.max_idle_conns = self.max_idle_conns.min(value);
            self
        }
    };
}
pub(crate) use setters;

/// Serde helper for TCP ports: any integer is read, and values outside `1..=65535`
/// are rejected with `must be between 1 and 65535, got <value>`.
pub(crate) mod port {
    use std::fmt;

    use serde::{Deserializer, de};

    pub(crate) fn message(got: impl fmt::Display) -> String {
        format!("must be between 1 and 65535, got {got}")
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u16, D::Error> {
        deserializer.deserialize_u64(PortVisitor)
    }

    struct PortVisitor;

    impl de::Visitor<'_> for PortVisitor {
        type Value = u16;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a port number between 1 and 65535")
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u16, E> {
            match u16::try_from(v) {
                Ok(p) if p != 0 => Ok(p),
                _ => Err(E::custom(message(v))),
            }
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u16, E> {
            match u16::try_from(v) {
                Ok(p) if p != 0 => Ok(p),
                _ => Err(E::custom(message(v))),
            }
        }

        fn visit_u128<E: de::Error>(self, v: u128) -> Result<u16, E> {
            match u16::try_from(v) {
                Ok(p) if p != 0 => Ok(p),
                _ => Err(E::custom(message(v))),
            }
        }

        fn visit_i128<E: de::Error>(self, v: i128) -> Result<u16, E> {
            match u16::try_from(v) {
                Ok(p) if p != 0 => Ok(p),
                _ => Err(E::custom(message(v))),
            }
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<u16, E> {
            Err(E::custom(format!(
                "must be a whole number between 1 and 65535, got {v:?}"
            )))
        }
    }
}

/// Serde helper for integer fields (`maxOpenConns`, `maxRetries`, `cacheSize`, ...):
/// any number is read, and one the field's type cannot hold (negative for a count,
/// too large, or with a fraction) is rejected with
/// `must be a whole number from 0 to 4294967295, got -1` instead of serde's
/// `invalid value: integer `-1`, expected u32`.
pub(crate) mod whole {
    use std::fmt;
    use std::marker::PhantomData;

    use serde::{Deserializer, de};

    /// An integer type a configuration field can have.
    pub(crate) trait Whole: Copy + fmt::Display + TryFrom<i128> {
        /// The smallest value.
        const MIN: Self;
        /// The largest value.
        const MAX: Self;
    }

    impl Whole for u32 {
        const MIN: Self = u32::MIN;
        const MAX: Self = u32::MAX;
    }

    impl Whole for i64 {
        const MIN: Self = i64::MIN;
        const MAX: Self = i64::MAX;
    }

    /// `must be a whole number from <MIN> to <MAX>, got <got>`.
    pub(crate) fn message<T: Whole>(got: impl fmt::Display) -> String {
        format!(
            "must be a whole number from {} to {}, got {got}",
            T::MIN,
            T::MAX
        )
    }

    pub(crate) fn deserialize<'de, D, T>(deserializer: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: Whole,
    {
        deserializer.deserialize_any(WholeVisitor(PhantomData))
    }

    struct WholeVisitor<T>(PhantomData<T>);

    impl<T: Whole> de::Visitor<'_> for WholeVisitor<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a whole number from {} to {}", T::MIN, T::MAX)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
            self.visit_i128(i128::from(v))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
            self.visit_i128(i128::from(v))
        }

        fn visit_i128<E: de::Error>(self, v: i128) -> Result<T, E> {
            T::try_from(v).map_err(|_| E::custom(message::<T>(v)))
        }

        fn visit_u128<E: de::Error>(self, v: u128) -> Result<T, E> {
            match i128::try_from(v) {
                Ok(v) => self.visit_i128(v),
                Err(_) => Err(E::custom(message::<T>(v))),
            }
        }

        /// Numbers with a fraction, and whole numbers written as such (`25.0`): the
        /// value is shown as written (`1.5`, `25.0`), never silently truncated.
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
            Err(E::custom(message::<T>(format!("{v:?}"))))
        }
    }
}

/// `host:port`, with IPv6 literals bracketed (`[::1]:5432`).
pub(crate) fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `Debug` helper printing a duration in the configuration's own notation (`30s`).
pub(crate) struct GoDuration(pub(crate) Duration);

impl fmt::Debug for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&duration::format_duration(self.0))
    }
}

/// Collects problems for one section, prefixing field names with the section path.
pub(crate) struct Checker<'a> {
    prefix: &'a str,
    problems: &'a mut Vec<ConfigProblem>,
}

/// The largest `maxRetries` accepted.
pub const MAX_RETRIES_LIMIT: u32 = 100;

/// Rules that compare two fields of a section: `(field, the field it is checked
/// against)`. A loader that could not read the second field (and so used its default)
/// should not report the first: the comparison would be against a value nobody set.
pub const RELATED_FIELDS: &[(&str, &str)] = &[
    ("maxIdleConns", "maxOpenConns"),
    ("retryDelay", "maxRetries"),
];

impl<'a> Checker<'a> {
    pub(crate) fn new(prefix: &'a str, problems: &'a mut Vec<ConfigProblem>) -> Self {
        Checker { prefix, problems }
    }

    pub(crate) fn add(&mut self, field: &str, message: impl Into<String>) {
        let path = if self.prefix.is_empty() {
            field.to_owned()
        } else {
            format!("{}.{field}", self.prefix)
        };
        self.problems.push(ConfigProblem::new(path, message));
    }

    pub(crate) fn non_empty(&mut self, field: &str, value: &str) {
        if value.trim().is_empty() {
            self.add(field, "must not be empty");
        }
    }

    pub(crate) fn port(&mut self, field: &str, port: u16) {
        if port == 0 {
            self.add(field, port::message(0));
        }
    }

    pub(crate) fn pool(&mut self, max_open: u32, max_idle: u32) {
        if max_open < 1 {
            self.add(
                "maxOpenConns",
                format!("must be at least 1, got {max_open}"),
            );
        } else if max_idle > max_open {
            self.add(
                "maxIdleConns",
                format!("must not exceed maxOpenConns ({max_open}), got {max_idle}"),
            );
        }
    }

    pub(crate) fn timeout(&mut self, timeout: Duration) {
        if timeout.is_zero() {
            self.add(
                "timeout",
                "must be greater than 0 (every connect and pool wait needs a deadline), got 0",
            );
        }
    }

    pub(crate) fn retries(&mut self, max_retries: u32, retry_delay: Duration) {
        if max_retries > MAX_RETRIES_LIMIT {
            self.add(
                "maxRetries",
                format!("must be at most {MAX_RETRIES_LIMIT}, got {max_retries}"),
            );
        }
        if max_retries > 0 && retry_delay.is_zero() {
            self.add(
                "retryDelay",
                format!("must be greater than 0 when maxRetries is {max_retries}, got 0"),
            );
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic on failure
mod tests {
    use super::*;

    const SEED_POSTGRES: &str = r#"{
        "type": "postgres",
        "postgres": {
          "host": "localhost",
          "port": 5432,
          "name": "tushar_db",
          "username": "postgres",
          "password": "password",
          "sslMode": "disable",
          "maxOpenConns": 25,
          "maxIdleConns": 5,
          "connMaxLifetime": "5m",
          "connMaxIdleTime": "1m",
          "timeout": "30s",
          "maxRetries": 3,
          "retryDelay": "1s",
          "healthCheckInterval": "30s"
        }
    }"#;

    #[test]
    fn seed_postgres_json_deserializes() {
        let cfg: DatabaseConfig = serde_json::from_str(SEED_POSTGRES).unwrap();
        assert_eq!(cfg.database_type, DatabaseType::Postgres);
        let pg = &cfg.postgres;
        assert_eq!(pg.host, "localhost");
        assert_eq!(pg.port, 5432);
        assert_eq!(pg.name, "tushar_db");
        assert_eq!(pg.username, "postgres");
        assert_eq!(pg.password.expose(), "password");
        assert_eq!(pg.ssl_mode, SslMode::Disable);
        assert_eq!(pg.max_open_conns, 25);
        assert_eq!(pg.max_idle_conns, 5);
        assert_eq!(pg.conn_max_lifetime, Duration::from_secs(300));
        assert_eq!(pg.conn_max_idle_time, Duration::from_secs(60));
        assert_eq!(pg.timeout, Duration::from_secs(30));
        assert_eq!(pg.max_retries, 3);
        assert_eq!(pg.retry_delay, Duration::from_secs(1));
        assert_eq!(pg.health_check_interval, Duration::from_secs(30));
        // Sections not given take their defaults.
        assert_eq!(cfg.sqlite, SqliteConfig::default());
        assert_eq!(cfg.mysql, MySqlConfig::default());
        cfg.validate().unwrap();
    }

    #[test]
    fn seed_sqlite_and_mysql_sections_deserialize() {
        // The seed's YAML sections, written as JSON.
        let json = r#"{
          "type": "sqlite",
          "sqlite": {
            "filePath": "./data/app.db", "timeout": "30s", "maxOpenConns": 1,
            "maxIdleConns": 1, "connMaxLifetime": "5m", "connMaxIdleTime": "1m",
            "journalMode": "WAL", "syncMode": "NORMAL", "cacheSize": 1000,
            "foreignKeys": true, "autoVacuum": "INCREMENTAL", "healthCheckInterval": "30s"
          },
          "mysql": {
            "host": "localhost", "port": 3306, "name": "tushar_db", "username": "root",
            "password": "password", "charset": "utf8mb4", "parseTime": true, "loc": "Local",
            "maxOpenConns": 25, "maxIdleConns": 5, "connMaxLifetime": "5m",
            "connMaxIdleTime": "1m", "timeout": "30s", "maxRetries": 3, "retryDelay": "1s",
            "healthCheckInterval": "30s"
          }
        }"#;
        let cfg: DatabaseConfig = serde_json::from_str(json).unwrap();
        assert_eq!(cfg.database_type, DatabaseType::Sqlite);
        assert_eq!(cfg.sqlite.journal_mode, JournalMode::Wal);
        assert_eq!(cfg.sqlite.sync_mode, SyncMode::Normal);
        assert_eq!(cfg.sqlite.auto_vacuum, AutoVacuum::Incremental);
        assert_eq!(cfg.sqlite.max_open_conns, 1);
        assert_eq!(cfg.mysql.loc, "Local");
        assert_eq!(cfg.mysql.password.expose(), "password");
        cfg.validate().unwrap();
    }

    #[test]
    fn defaults_are_valid_and_round_trip() {
        let cfg = DatabaseConfig::default();
        assert_eq!(cfg.database_type, DatabaseType::Sqlite);
        assert_eq!(cfg.sqlite.file_path, "./data/app.db");
        cfg.validate().unwrap();
        let json = serde_json::to_string(&cfg).unwrap();
        let back: DatabaseConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, cfg);
        let empty: DatabaseConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, cfg);
    }

    #[test]
    fn serialized_form_uses_the_file_format() {
        let v = serde_json::to_value(DatabaseConfig::default()).unwrap();
        assert_eq!(v["type"], "sqlite");
        assert_eq!(v["postgres"]["sslMode"], "prefer");
        assert_eq!(v["postgres"]["connMaxLifetime"], "5m");
        assert_eq!(v["postgres"]["maxOpenConns"], 25);
        assert_eq!(v["sqlite"]["journalMode"], "WAL");
        assert_eq!(v["sqlite"]["syncMode"], "NORMAL");
        assert_eq!(v["sqlite"]["autoVacuum"], "INCREMENTAL");
        assert_eq!(v["sqlite"]["connMaxLifetime"], "30m");
        assert_eq!(v["mysql"]["parseTime"], true);
        assert_eq!(v["mysql"]["loc"], "UTC");
        assert_eq!(v["mysql"]["sslMode"], "disable");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = serde_json::from_str::<DatabaseConfig>(
            r#"{ "type": "postgres", "postgres": { "maxOpenConn": 50 } }"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `maxOpenConn`"), "{err}");
        assert!(err.contains("maxOpenConns"), "{err}");

        let err = serde_json::from_str::<DatabaseConfig>(r#"{ "typ": "postgres" }"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `typ`"), "{err}");
        for section in ["sqlite", "mysql"] {
            let json = format!(r#"{{ "{section}": {{ "bogus": 1 }} }}"#);
            assert!(
                serde_json::from_str::<DatabaseConfig>(&json).is_err(),
                "{section}"
            );
        }
    }

    #[test]
    fn unknown_database_type_lists_supported() {
        let err = serde_json::from_str::<DatabaseConfig>(r#"{ "type": "oracle" }"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("postgres, sqlite, mysql"), "{err}");
    }

    #[test]
    fn ports_out_of_range_are_rejected_when_read() {
        for (raw, shown) in [("70000", "70000"), ("0", "0"), ("-1", "-1")] {
            let json = format!(r#"{{ "postgres": {{ "port": {raw} }} }}"#);
            let err = serde_json::from_str::<DatabaseConfig>(&json)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("must be between 1 and 65535, got {shown}")),
                "{err}"
            );
        }
        let err = serde_json::from_str::<DatabaseConfig>(r#"{ "mysql": { "port": "3306" } }"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("port number"), "{err}");
        let cfg: DatabaseConfig =
            serde_json::from_str(r#"{ "mysql": { "port": 65535 } }"#).unwrap();
        assert_eq!(cfg.mysql.port, 65535);
    }

    #[test]
    fn integers_out_of_range_name_the_rule() {
        let err = |json: &str| {
            serde_json::from_str::<DatabaseConfig>(json)
                .unwrap_err()
                .to_string()
        };
        for (json, expected) in [
            (
                r#"{ "postgres": { "maxRetries": -1 } }"#,
                "must be a whole number from 0 to 4294967295, got -1",
            ),
            (
                r#"{ "mysql": { "maxOpenConns": 4294967296 } }"#,
                "must be a whole number from 0 to 4294967295, got 4294967296",
            ),
            (
                r#"{ "sqlite": { "maxIdleConns": 1.5 } }"#,
                "must be a whole number from 0 to 4294967295, got 1.5",
            ),
            (
                r#"{ "postgres": { "maxOpenConns": 25.0 } }"#,
                "must be a whole number from 0 to 4294967295, got 25.0",
            ),
            (
                r#"{ "sqlite": { "cacheSize": -0.5 } }"#,
                "must be a whole number from -9223372036854775808 to 9223372036854775807, \
                 got -0.5",
            ),
            (
                r#"{ "postgres": { "port": 5432.5 } }"#,
                "must be a whole number between 1 and 65535, got 5432.5",
            ),
            (
                r#"{ "mysql": { "maxRetries": "3" } }"#,
                "expected a whole number from 0 to 4294967295",
            ),
        ] {
            let err = err(json);
            assert!(err.contains(expected), "{json}: {err}");
            assert!(
                !err.contains("u32") && !err.contains("i64"),
                "{json}: {err}"
            );
        }
        // In-range values of every integer field still read.
        let cfg: DatabaseConfig = serde_json::from_str(
            r#"{ "postgres": { "maxRetries": 0, "maxOpenConns": 4294967295 },
                 "sqlite": { "cacheSize": -9223372036854775808 } }"#,
        )
        .unwrap();
        assert_eq!(cfg.postgres.max_retries, 0);
        assert_eq!(cfg.postgres.max_open_conns, u32::MAX);
        assert_eq!(cfg.sqlite.cache_size, i64::MIN);
    }

    #[test]
    fn with_max_open_conns_lowers_a_larger_max_idle_conns() {
        let pg = PostgresConfig::default().with_max_open_conns(3);
        assert_eq!((pg.max_open_conns, pg.max_idle_conns), (3, 3));
        pg.validate().unwrap();
        let my = MySqlConfig::default().with_max_open_conns(2);
        assert_eq!(my.max_idle_conns, 2);
        my.validate().unwrap();
        let lite = SqliteConfig::default().with_max_open_conns(1);
        assert_eq!(lite.max_idle_conns, 1);
        lite.validate().unwrap();
        // A smaller idle limit is kept; raising maxOpenConns never raises it.
        let pg = PostgresConfig::default().with_max_open_conns(100);
        assert_eq!(pg.max_idle_conns, 5);
        // An idle limit set afterwards is the caller's choice, and still checked.
        let err = PostgresConfig::default()
            .with_max_open_conns(3)
            .with_max_idle_conns(10)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "database.postgres.maxIdleConns: must not exceed maxOpenConns (3), got 10"
            ),
            "{err}"
        );
    }

    #[test]
    fn bad_durations_are_rejected_when_read() {
        let err =
            serde_json::from_str::<DatabaseConfig>(r#"{ "postgres": { "timeout": "5 minutes" } }"#)
                .unwrap_err()
                .to_string();
        assert!(err.contains("invalid duration \"5 minutes\""), "{err}");
        assert!(err.contains("e.g. 500ms, 30s, 5m"), "{err}");
        let err = serde_json::from_str::<DatabaseConfig>(r#"{ "sqlite": { "timeout": 5 } }"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("duration string"), "{err}");
    }

    #[test]
    fn three_bad_fields_give_three_problems_with_paths() {
        let mut cfg = DatabaseConfig::default();
        cfg.postgres.port = 0;
        cfg.sqlite.file_path = String::new();
        cfg.mysql.max_open_conns = 0;
        let problems = cfg.problems();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "database.postgres.port",
                "database.sqlite.filePath",
                "database.mysql.maxOpenConns"
            ]
        );
        let Err(Error::Config(ConfigErrors(list))) = cfg.validate() else {
            panic!("expected a config error");
        };
        assert_eq!(list.len(), 3);
        let msg = Error::Config(ConfigErrors(list)).to_string();
        assert!(msg.contains("3 problems"), "{msg}");
        assert!(
            msg.contains("database.postgres.port: must be between 1 and 65535, got 0"),
            "{msg}"
        );
        assert!(
            msg.contains("database.sqlite.filePath: must not be empty"),
            "{msg}"
        );
        assert!(
            msg.contains("database.mysql.maxOpenConns: must be at least 1, got 0"),
            "{msg}"
        );
    }

    #[test]
    fn debug_and_redacted_never_show_passwords() {
        let sentinel = "Sentinel-P@ssw0rd-4242";
        let cfg = DatabaseConfig::postgres(PostgresConfig::default().with_password(sentinel))
            .with_mysql(MySqlConfig::default().with_password(sentinel));
        for shown in [
            format!("{cfg:?}"),
            format!("{cfg:#?}"),
            format!("{:?}", cfg.postgres),
            format!("{:?}", cfg.mysql),
            cfg.redacted().to_string(),
        ] {
            assert!(!shown.contains(sentinel), "{shown}");
        }
        let r = cfg.redacted();
        assert_eq!(r["postgres"]["password"], "***");
        assert_eq!(r["mysql"]["password"], "***");
        assert_eq!(r["postgres"]["host"], "localhost");
        assert_eq!(r["type"], "postgres");
        // An unset password stays visibly unset.
        assert_eq!(
            DatabaseConfig::default().redacted()["mysql"]["password"],
            ""
        );
        // The real value still serializes, so a configuration can be written back.
        let v = serde_json::to_value(&cfg).unwrap();
        assert_eq!(v["postgres"]["password"], sentinel);
        let dbg = format!("{cfg:?}");
        assert!(dbg.contains("password: ***"), "{dbg}");
        assert!(dbg.contains("timeout: 30s"), "{dbg}");
    }

    #[test]
    fn builder_constructors_select_the_type() {
        assert_eq!(
            DatabaseConfig::mysql(MySqlConfig::default()).database_type,
            DatabaseType::Mysql
        );
        assert_eq!(
            DatabaseConfig::sqlite(SqliteConfig::in_memory())
                .sqlite
                .file_path,
            ":memory:"
        );
        let cfg = DatabaseConfig::default().with_database_type(DatabaseType::Postgres);
        assert_eq!(cfg.database_type, DatabaseType::Postgres);
    }

    #[test]
    fn parse_setting_error_lists_values() {
        let err = "verify-everything".parse::<SslMode>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown sslMode \"verify-everything\": expected one of disable, prefer, require, \
             verify-ca, verify-full"
        );
    }
}
