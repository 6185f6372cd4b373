//! Typed single-row queries: `query_one_as` / `query_opt_as` on each driver's concrete
//! type, and `ExecutorExt::query_opt_as` through the object-safe trait (on the pool and
//! in a transaction, over `Executor::query_opt_with`). They decode the native row without
//! a `Row` where the driver can, reading integer, float and text columns without a
//! `Value`, and must give exactly what `query_one(..)` followed by `Row::decode` gives.

use std::fmt::Debug;
use std::future::Future;

use db_mysql::MySqlDatabase;
use db_postgres::PgDatabase;
use db_sqlite::SqliteDatabase;
use dbcore::{
    Database, DatabaseType, ErrorKind, Executor, ExecutorExt, FromRow, FromValue, Result,
    RowSource, TxOptions, Value,
};

use crate::harness::unique_name;
use crate::support::{ddl, drop_tables};

/// A driver's concrete type, with its typed single-row queries.
trait TypedQueries: Sync {
    fn query_opt_as<'a, T: FromRow + Send + 'static>(
        &'a self,
        sql: &'a str,
    ) -> impl Future<Output = Result<Option<T>>> + Send + 'a;
}

impl TypedQueries for PgDatabase {
    fn query_opt_as<'a, T: FromRow + Send + 'static>(
        &'a self,
        sql: &'a str,
    ) -> impl Future<Output = Result<Option<T>>> + Send + 'a {
        PgDatabase::query_opt_as(self, sql, &[])
    }
}

impl TypedQueries for MySqlDatabase {
    fn query_opt_as<'a, T: FromRow + Send + 'static>(
        &'a self,
        sql: &'a str,
    ) -> impl Future<Output = Result<Option<T>>> + Send + 'a {
        MySqlDatabase::query_opt_as(self, sql, &[])
    }
}

impl TypedQueries for SqliteDatabase {
    fn query_opt_as<'a, T: FromRow + Send + 'static>(
        &'a self,
        sql: &'a str,
    ) -> impl Future<Output = Result<Option<T>>> + Send + 'a {
        SqliteDatabase::query_opt_as(self, sql, &[])
    }
}

/// Any executor through the object-safe trait: [`ExecutorExt::query_opt_as`], which
/// reads through [`Executor::query_opt_with`].
struct ThroughTrait<'e>(&'e dyn Executor);

impl TypedQueries for ThroughTrait<'_> {
    fn query_opt_as<'a, T: FromRow + Send + 'static>(
        &'a self,
        sql: &'a str,
    ) -> impl Future<Output = Result<Option<T>>> + Send + 'a {
        ExecutorExt::query_opt_as(self.0, sql, &[])
    }
}

/// Runs `$body` with `$typed` bound to `$db`'s concrete driver type.
macro_rules! on_concrete {
    ($db:expr, $typed:ident => $body:expr) => {{
        let any = $db.as_any();
        if let Some($typed) = any.downcast_ref::<PgDatabase>() {
            $body
        } else if let Some($typed) = any.downcast_ref::<MySqlDatabase>() {
            $body
        } else if let Some($typed) = any.downcast_ref::<SqliteDatabase>() {
            $body
        } else {
            panic!(
                "typed queries are not covered for {:?}",
                $db.database_type()
            )
        }
    }};
}

/// Column expressions covering the backend's common types (and values that cannot be
/// read or do not fit), each aliased `c` by the caller.
fn columns(database_type: DatabaseType) -> &'static [&'static str] {
    match database_type {
        DatabaseType::Postgres => &[
            "7::int2",
            "-70000::int4",
            "5000000000::int8",
            "12::oid",
            "0.5::float4",
            "0.25::float8",
            "'1e300'::float8",
            "1.5::numeric",
            "'text'::text",
            "'varchar'::varchar",
            "'c'::char(3)",
            "'name'::name",
            "'unknown'",
            "true",
            "'\\x01'::bytea",
            "NULL::int8",
            "NULL::text",
            "NULL::float8",
        ],
        DatabaseType::Mysql => &[
            "7",
            "CAST(-70000 AS SIGNED)",
            "5000000000",
            "CAST(5 AS UNSIGNED)",
            "CAST(18446744073709551615 AS UNSIGNED)",
            "CAST(0.5 AS FLOAT)",
            "0.25e0",
            "1e300",
            "1.5",
            "'text'",
            "_binary 'bytes'",
            "X'FF'",
            "TRUE",
            "DATE '2024-01-02'",
            "TIMESTAMP '2024-01-02 03:04:05'",
            "NULL",
            "CAST(NULL AS SIGNED)",
        ],
        _ => &[
            "7",
            "-70000",
            "5000000000",
            "0.5",
            "1e300",
            "'text'",
            "x'0102'",
            "CAST(x'ff' AS TEXT)",
            "NULL",
            "1 = 1",
        ],
    }
}

/// The typed query's answer and the `Value` path's answer for one column, as text
/// (value or error message).
async fn both<T, D>(typed: &D, db: &dyn Executor, sql: &str) -> (String, String)
where
    T: FromValue + Debug + Send + 'static,
    D: TypedQueries,
{
    let show = |r: Result<Option<(T,)>>| match r {
        Ok(v) => format!("{v:?}"),
        Err(e) => format!("error: {e}"),
    };
    let fast = typed.query_opt_as::<(T,)>(sql).await;
    // A value the driver cannot read at all fails `query_opt` itself.
    let slow = db
        .query_opt(sql, &[])
        .await
        .and_then(|row| row.map(|r| r.decode::<(T,)>()).transpose());
    (show(fast), show(slow))
}

/// Every column of `statements` read as twelve Rust types both ways; returns how many
/// pairs agreed (it panics at the first that does not).
async fn compare<D: TypedQueries>(typed: &D, db: &dyn Executor, statements: &[String]) -> usize {
    let mut checked = 0;
    for sql in statements {
        let pairs = [
            both::<i64, D>(typed, db, sql).await,
            both::<i32, D>(typed, db, sql).await,
            both::<u8, D>(typed, db, sql).await,
            both::<f64, D>(typed, db, sql).await,
            both::<f32, D>(typed, db, sql).await,
            both::<String, D>(typed, db, sql).await,
            both::<bool, D>(typed, db, sql).await,
            both::<Vec<u8>, D>(typed, db, sql).await,
            both::<Option<i64>, D>(typed, db, sql).await,
            both::<Option<String>, D>(typed, db, sql).await,
            both::<Option<f64>, D>(typed, db, sql).await,
            both::<Value, D>(typed, db, sql).await,
        ];
        for (fast, slow) in pairs {
            assert_eq!(
                fast,
                slow,
                "{sql}: query_opt_as (left) and query_opt + decode (right) disagree ({})",
                std::any::type_name::<D>()
            );
            checked += 1;
        }
    }
    checked
}

/// `query_opt_as` decodes like `query_opt` + `Row::decode`, value for value and error for
/// error, over every common column type of the backend and twelve requested types; on
/// SQLite both inline and on a worker (a statement that writes never runs inline). The
/// same holds through the object-safe trait, on the pool and in a transaction. A second
/// row stops the query with `TooManyRows`, and the connection stays usable.
pub async fn typed_reads_agree_with_values(db: &dyn Database) {
    let database_type = db.database_type();
    let log = unique_name("typed");
    ddl(db, &format!("CREATE TABLE {log} (n INTEGER)")).await;
    let mut statements: Vec<String> = columns(database_type)
        .iter()
        .map(|c| format!("SELECT {c} AS c"))
        .collect();
    if database_type == DatabaseType::Sqlite {
        statements.extend(columns(database_type).iter().map(|c| {
            format!(
                "WITH v(c) AS (SELECT {c}) INSERT INTO {log} SELECT 1 FROM v \
                 RETURNING (SELECT c FROM v) AS c"
            )
        }));
    }
    let expected = statements.len() * 12;
    let checked = on_concrete!(db, typed => compare(typed, db, &statements).await);
    assert_eq!(checked, expected);
    on_concrete!(db, typed => exact_answers(typed, db).await);

    let checked = compare(&ThroughTrait(db), db, &statements).await;
    assert_eq!(checked, expected);
    exact_answers(&ThroughTrait(db), db).await;

    let tx = db.begin(TxOptions::new()).await.expect("begin");
    let checked = compare(&ThroughTrait(&*tx), &*tx, &statements).await;
    assert_eq!(checked, expected);
    exact_answers(&ThroughTrait(&*tx), &*tx).await;
    tx.rollback().await.expect("rollback");

    drop_tables(db, &[&log]).await;
}

/// Right, not only alike: an integer read whole and into a type too narrow for it, and
/// a second row stopping the query, after which `after` (the same connection or pool)
/// still answers.
async fn exact_answers<D: TypedQueries>(typed: &D, after: &dyn Executor) {
    let narrow = match after.database_type() {
        DatabaseType::Postgres => "SELECT -70000::int4 AS c",
        DatabaseType::Mysql => "SELECT CAST(-70000 AS SIGNED) AS c",
        _ => "SELECT -70000 AS c",
    };
    let whole = typed.query_opt_as::<(i64,)>(narrow).await;
    assert_eq!(whole.ok(), Some(Some((-70000,))));
    let err = typed
        .query_opt_as::<(i16,)>(narrow)
        .await
        .expect_err("-70000 does not fit in an i16");
    assert_eq!(
        err.to_string(),
        "column c: cannot read integer -70000 (out of range) as i16"
    );

    let two_rows = "SELECT 1 AS c UNION ALL SELECT 2";
    let err = typed
        .query_opt_as::<(Value,)>(two_rows)
        .await
        .expect_err("a second row must stop query_opt_as");
    assert_eq!(err.kind(), ErrorKind::TooManyRows, "{err}");
    let row = after.query_one("SELECT 42 AS c", &[]).await;
    assert!(row.is_ok(), "the connection after TooManyRows: {row:?}");
    let none = typed
        .query_opt_as::<(i64,)>("SELECT 1 AS c WHERE 1 = 0")
        .await;
    assert_eq!(none.ok(), Some(None));

    let all = after
        .query_as::<(i64,)>("SELECT 1 AS c UNION ALL SELECT 2 ORDER BY c", &[])
        .await;
    assert_eq!(all.ok(), Some(vec![(1,), (2,)]), "query_as");
    let err = after
        .query_as::<(i64,)>("SELECT 'x' AS c", &[])
        .await
        .expect_err("text is not an i64");
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");

    // The hook itself: whether there was a row, and one call of the reader for it.
    for (sql, rows) in [("SELECT 1 AS c", 1), ("SELECT 1 AS c WHERE 1 = 0", 0)] {
        let mut calls = 0;
        let mut count = |row: &mut dyn RowSource| {
            assert_eq!((row.len(), row.name(0)), (1, "c"));
            calls += 1;
            Ok(())
        };
        let found = after.query_opt_with(sql, &[], &mut count).await;
        assert_eq!(found.ok(), Some(rows == 1), "query_opt_with: {sql}");
        assert_eq!(calls, rows, "reader calls: {sql}");
    }
}
