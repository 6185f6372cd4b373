//! Per-backend differences the scenarios need, in one table instead of `#[ignore]`s.

use dbcore::DatabaseType;

/// SQL spellings and behaviours that differ between backends.
///
/// Everything else in the scenarios is portable SQL that runs unchanged on PostgreSQL,
/// MySQL/MariaDB and SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// The backend these capabilities describe.
    pub database_type: DatabaseType,
    /// Column type for binary data (`BYTEA`, `LONGBLOB`, `BLOB`).
    pub blob_type: &'static str,
    /// Column type used to store booleans. SQLite uses `INTEGER` on purpose, so that the
    /// integer 0/1 → `bool` coercion of `FromValue` is exercised.
    pub bool_type: &'static str,
    /// Column type for unbounded text.
    pub text_type: &'static str,
    /// A statement that runs for far longer than any timeout in the suite (tens of
    /// seconds) unless it is interrupted. MySQL limits recursive CTEs to 1000 levels by
    /// default, so it sleeps instead.
    pub long_query: &'static str,
    /// The label the SQL logic test corpus uses for this engine in `skipif` / `onlyif`.
    pub slt_label: &'static str,
}

const LONG_RECURSIVE_CTE: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
     WHERE x < 100000000) SELECT count(*) FROM c";

impl Caps {
    /// The capability table entry for `database_type`.
    pub fn of(database_type: DatabaseType) -> Caps {
        match database_type {
            DatabaseType::Postgres => Caps {
                database_type,
                blob_type: "BYTEA",
                bool_type: "BOOLEAN",
                text_type: "TEXT",
                long_query: LONG_RECURSIVE_CTE,
                slt_label: "postgresql",
            },
            DatabaseType::Mysql => Caps {
                database_type,
                blob_type: "LONGBLOB",
                bool_type: "BOOLEAN",
                text_type: "TEXT",
                long_query: "SELECT SLEEP(60)",
                slt_label: "mysql",
            },
            // `DatabaseType` is non-exhaustive; SQLite is the embedded default.
            _ => Caps {
                database_type,
                blob_type: "BLOB",
                bool_type: "INTEGER",
                text_type: "TEXT",
                long_query: LONG_RECURSIVE_CTE,
                slt_label: "sqlite",
            },
        }
    }
}

/// The binary column type for `database_type` (shorthand for [`Caps::of`]`.blob_type`).
pub fn blob_type(database_type: DatabaseType) -> &'static str {
    Caps::of(database_type).blob_type
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_backend_has_an_entry() {
        for t in DatabaseType::ALL {
            let caps = Caps::of(t);
            assert_eq!(caps.database_type, t);
            assert!(!caps.blob_type.is_empty());
        }
        assert_eq!(blob_type(DatabaseType::Postgres), "BYTEA");
        assert_eq!(Caps::of(DatabaseType::Sqlite).slt_label, "sqlite");
    }
}
