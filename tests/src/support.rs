//! Small helpers shared by the scenarios.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use dbcore::{Database, Error, ErrorKind, Executor, Result};

/// Unwraps `result`, panicking with `what` and the error when it failed.
#[track_caller]
pub fn ok<T>(what: &str, result: Result<T>) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{what}: unexpected error: {e} (kind {}, {e:?})", e.kind()),
    }
}

/// Expects `result` to be an error, panicking with `what` and the value otherwise.
#[track_caller]
pub fn err<T: Debug>(what: &str, result: Result<T>) -> Error {
    match result {
        Ok(v) => panic!("{what}: expected an error, got Ok({v:?})"),
        Err(e) => e,
    }
}

/// Expects `result` to be an error of `kind`.
#[track_caller]
pub fn err_kind<T: Debug>(what: &str, result: Result<T>, kind: ErrorKind) -> Error {
    let e = err(what, result);
    assert_eq!(
        e.kind(),
        kind,
        "{what}: expected an error of kind {kind}, got kind {}: {e} ({e:?})",
        e.kind()
    );
    e
}

/// `SELECT count(*) FROM table` (with an optional `WHERE` clause) as an `i64`.
pub async fn count(db: &dyn Executor, table: &str, filter: &str) -> i64 {
    let sql = if filter.is_empty() {
        format!("SELECT count(*) AS n FROM {table}")
    } else {
        format!("SELECT count(*) AS n FROM {table} WHERE {filter}")
    };
    let row = ok(&sql, db.query_one(&sql, &[]).await);
    ok(&format!("reading count(*) of {table}"), row.get::<i64>(0))
}

/// The ids in `table`, ascending.
pub async fn ids(db: &dyn Executor, table: &str) -> Vec<i64> {
    let sql = format!("SELECT id FROM {table} ORDER BY id");
    ok(&sql, db.query(&sql, &[]).await)
        .iter()
        .map(|r| ok("reading id", r.get::<i64>("id")))
        .collect()
}

/// Runs a DDL statement (through `execute`), panicking with the SQL on error.
pub async fn ddl(db: &dyn Executor, sql: &str) {
    ok(sql, db.execute(sql, &[]).await);
}

/// Drops the given tables (in order), ignoring none of the errors.
pub async fn drop_tables(db: &dyn Executor, tables: &[&str]) {
    for t in tables {
        ddl(db, &format!("DROP TABLE {t}")).await;
    }
}

/// Creates `CREATE TABLE {table} (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL)`.
pub async fn create_simple_table(db: &dyn Executor, table: &str) {
    ddl(
        db,
        &format!("CREATE TABLE {table} (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL)"),
    )
    .await;
}

/// Polls `cond` every 10 ms until it holds or `limit` passes; returns whether it held.
pub async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Asserts that every connection has come back to the pool (`in_use == 0`) within a
/// generous deadline, and that the counters are consistent.
pub async fn assert_pool_idle(db: &dyn Database, context: &str) {
    let idle = eventually(Duration::from_secs(5), || db.stats().in_use == 0).await;
    let stats = db.stats();
    assert!(
        idle,
        "{context}: a connection was not returned to the pool within 5 s: {stats:?}"
    );
    assert_eq!(
        stats.open,
        stats.in_use + stats.idle,
        "{context}: pool counters are inconsistent (open != in_use + idle): {stats:?}"
    );
}

/// Checks that the pool is usable for reads and writes: several concurrent inserts into
/// `table` (which must have `id` and `name` columns) with ids starting at `first_id`,
/// all visible afterwards.
pub async fn assert_pool_writable(db: &dyn Database, table: &str, first_id: i64, n: i64) {
    let inserts = (first_id..first_id + n).map(|id| async move {
        let sql = format!("INSERT INTO {table} (id, name) VALUES ($1, $2)");
        (
            id,
            db.execute(&sql, &[id.into(), "pool-check".into()]).await,
        )
    });
    for (id, result) in futures_util::future::join_all(inserts).await {
        let affected = ok(
            &format!("insert of id {id} after the pool was exercised"),
            result,
        );
        assert_eq!(affected, 1, "insert of id {id} affected {affected} rows");
    }
    let visible = count(
        db,
        table,
        &format!("id >= {first_id} AND id < {}", first_id + n),
    )
    .await;
    assert_eq!(
        visible, n,
        "{n} committed inserts into {table} should be visible from the pool, saw {visible}"
    );
}
