//! [`DatabaseType`]: which backend a configuration selects.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The database backends this layer knows about.
///
/// The variants are never feature-gated: a configuration naming `mysql` parses in every
/// build, and a build without the MySQL driver says which feature to enable instead of
/// pretending the type does not exist.
///
/// ```
/// use dbcore::DatabaseType;
///
/// let t: DatabaseType = "postgresql".parse().unwrap();
/// assert_eq!(t, DatabaseType::Postgres);
/// assert_eq!(t.to_string(), "postgres");
///
/// let err = "oracle".parse::<DatabaseType>().unwrap_err();
/// assert!(err.to_string().contains("postgres, sqlite, mysql"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DatabaseType {
    /// PostgreSQL (`postgres`, `postgresql`, `pg`).
    Postgres,
    /// SQLite (`sqlite`, `sqlite3`). The embedded default.
    Sqlite,
    /// MySQL or MariaDB (`mysql`, `mariadb`).
    Mysql,
}

impl DatabaseType {
    /// Every database type, in documentation order.
    pub const ALL: [DatabaseType; 3] = [
        DatabaseType::Postgres,
        DatabaseType::Sqlite,
        DatabaseType::Mysql,
    ];

    /// The canonical name, as written in configuration files (`postgres`, `sqlite`, `mysql`).
    pub const fn as_str(self) -> &'static str {
        match self {
            DatabaseType::Postgres => "postgres",
            DatabaseType::Sqlite => "sqlite",
            DatabaseType::Mysql => "mysql",
        }
    }

    /// Every spelling [`FromStr`] accepts for this type (case-insensitive).
    pub const fn aliases(self) -> &'static [&'static str] {
        match self {
            DatabaseType::Postgres => &["postgres", "postgresql", "pg"],
            DatabaseType::Sqlite => &["sqlite", "sqlite3"],
            DatabaseType::Mysql => &["mysql", "mariadb"],
        }
    }

    /// The canonical names of all types joined with `", "`, for error messages.
    pub fn supported_names() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }

    /// The URL schemes that select this type in a `DATABASE_URL`.
    pub const fn url_schemes(self) -> &'static [&'static str] {
        match self {
            DatabaseType::Postgres => &["postgres", "postgresql"],
            DatabaseType::Sqlite => &["sqlite", "sqlite3"],
            DatabaseType::Mysql => &["mysql", "mariadb"],
        }
    }
}

impl fmt::Display for DatabaseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error returned when a string names no known [`DatabaseType`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported database type {name:?}: supported types are {supported}", supported = DatabaseType::supported_names())]
pub struct ParseDatabaseTypeError {
    /// The string that was not recognised.
    pub name: String,
}

impl FromStr for DatabaseType {
    type Err = ParseDatabaseTypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Self::ALL
            .into_iter()
            .find(|t| t.aliases().iter().any(|a| a.eq_ignore_ascii_case(wanted)))
            .ok_or_else(|| ParseDatabaseTypeError { name: s.to_owned() })
    }
}

impl Serialize for DatabaseType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DatabaseType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_parses() {
        let table = [
            ("postgres", DatabaseType::Postgres),
            ("PostgreSQL", DatabaseType::Postgres),
            ("pg", DatabaseType::Postgres),
            ("sqlite", DatabaseType::Sqlite),
            ("SQLITE3", DatabaseType::Sqlite),
            (" sqlite ", DatabaseType::Sqlite),
            ("mysql", DatabaseType::Mysql),
            ("MariaDB", DatabaseType::Mysql),
        ];
        for (input, expected) in table {
            assert_eq!(input.parse::<DatabaseType>(), Ok(expected), "{input}");
        }
    }

    #[test]
    fn display_round_trips() {
        for t in DatabaseType::ALL {
            assert_eq!(t.to_string().parse::<DatabaseType>(), Ok(t));
        }
    }

    #[test]
    fn unknown_type_lists_supported_names() {
        let err = "oracle".parse::<DatabaseType>().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("\"oracle\""), "{msg}");
        for t in DatabaseType::ALL {
            assert!(msg.contains(t.as_str()), "{msg}");
        }
    }
}
