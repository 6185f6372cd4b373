//! Basic CRUD, value round-trips and the query helpers.

use dbcore::{Database, ErrorKind, Executor, Value, params};

use crate::caps::Caps;
use crate::harness::unique_name;
use crate::support::{count, create_simple_table, ddl, drop_tables, err_kind, ids, ok};

/// Insert, select, update and delete, with the row counts `execute` reports.
pub async fn crud_and_rows_affected(db: &dyn Database) {
    let t = unique_name("crud");
    ddl(
        db,
        &format!(
            "CREATE TABLE {t} (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL, \
             score DOUBLE PRECISION)"
        ),
    )
    .await;

    let insert = format!("INSERT INTO {t} (id, name, score) VALUES ($1, $2, $3)");
    for (id, name, score) in [(1, "ada", 1.5), (2, "grace", 2.5), (3, "linus", 3.5)] {
        let n = ok(
            "insert",
            db.execute(&insert, &params![id, name, score]).await,
        );
        assert_eq!(
            n, 1,
            "INSERT of one row should report 1 row affected, got {n}"
        );
    }

    let rows = ok(
        "select all",
        db.query(&format!("SELECT id, name, score FROM {t} ORDER BY id"), &[])
            .await,
    );
    assert_eq!(rows.len(), 3, "expected 3 rows, got {rows:?}");
    assert_eq!(rows[0].columns(), ["id", "name", "score"]);
    let names: Vec<String> = rows
        .iter()
        .map(|r| ok("name", r.get::<String>("name")))
        .collect();
    assert_eq!(names, ["ada", "grace", "linus"]);
    assert_eq!(ok("score", rows[1].get::<f64>("score")), 2.5);
    assert_eq!(ok("id by index", rows[2].get::<i64>(0)), 3);

    let n = ok(
        "update",
        db.execute(
            &format!("UPDATE {t} SET score = score + 1 WHERE id >= $1"),
            &params![2],
        )
        .await,
    );
    assert_eq!(
        n, 2,
        "UPDATE of 2 rows should report 2 rows affected, got {n}"
    );
    let n = ok(
        "update nothing",
        db.execute(
            &format!("UPDATE {t} SET score = 0 WHERE id = $1"),
            &params![99],
        )
        .await,
    );
    assert_eq!(n, 0, "UPDATE matching no row should report 0, got {n}");

    let row = ok(
        "query_one after update",
        db.query_one(&format!("SELECT score FROM {t} WHERE id = $1"), &params![3])
            .await,
    );
    assert_eq!(ok("score", row.get::<f64>("score")), 4.5);

    // A query run through `execute` changes no row: 0 on every backend (PostgreSQL's own
    // count would be the rows returned), in and outside a transaction.
    let select = format!("SELECT id FROM {t} WHERE id >= $1");
    let n = ok("select via execute", db.execute(&select, &params![1]).await);
    assert_eq!(n, 0, "a SELECT through execute affects no row, got {n}");
    let tx = ok("begin", db.begin(dbcore::TxOptions::new()).await);
    let n = ok(
        "select via execute in a transaction",
        tx.execute(&select, &params![1]).await,
    );
    assert_eq!(n, 0, "a SELECT through execute affects no row, got {n}");
    ok("rollback", tx.rollback().await);

    let n = ok(
        "delete",
        db.execute(&format!("DELETE FROM {t} WHERE id <> $1"), &params![1])
            .await,
    );
    assert_eq!(
        n, 2,
        "DELETE of 2 rows should report 2 rows affected, got {n}"
    );
    assert_eq!(ids(db, &t).await, [1]);

    let n = ok(
        "delete all",
        db.execute(&format!("DELETE FROM {t}"), &[]).await,
    );
    assert_eq!(n, 1, "DELETE of the last row should report 1, got {n}");
    assert_eq!(count(db, &t, "").await, 0);

    drop_tables(db, &[&t]).await;
}

/// `query_one` fails with `RowNotFound` / `TooManyRows`; `query_opt` returns `None` for no
/// row and fails for two.
pub async fn query_one_and_query_opt(db: &dyn Database) {
    let t = unique_name("qone");
    create_simple_table(db, &t).await;
    for (id, name) in [(1, "a"), (2, "b")] {
        ok(
            "insert",
            db.execute(
                &format!("INSERT INTO {t} (id, name) VALUES ($1, $2)"),
                &params![id, name],
            )
            .await,
        );
    }
    let by_id = format!("SELECT id, name FROM {t} WHERE id = $1");
    let all = format!("SELECT id, name FROM {t}");

    let row = ok(
        "query_one of 1 row",
        db.query_one(&by_id, &params![2]).await,
    );
    assert_eq!(ok("name", row.get::<String>("name")), "b");
    err_kind(
        "query_one of 0 rows",
        db.query_one(&by_id, &params![42]).await,
        ErrorKind::RowNotFound,
    );
    err_kind(
        "query_one of 2 rows",
        db.query_one(&all, &[]).await,
        ErrorKind::TooManyRows,
    );

    let none = ok(
        "query_opt of 0 rows",
        db.query_opt(&by_id, &params![42]).await,
    );
    assert!(
        none.is_none(),
        "query_opt of 0 rows should be None, got {none:?}"
    );
    let some = ok(
        "query_opt of 1 row",
        db.query_opt(&by_id, &params![1]).await,
    );
    let some = some.unwrap_or_else(|| panic!("query_opt of 1 row returned None"));
    assert_eq!(ok("name", some.get::<String>(1)), "a");
    err_kind(
        "query_opt of 2 rows",
        db.query_opt(&all, &[]).await,
        ErrorKind::TooManyRows,
    );

    // An empty result is an empty Vec, not an error.
    let empty = ok(
        "query of 0 rows",
        db.query(&format!("SELECT id FROM {t} WHERE id > 100"), &[])
            .await,
    );
    assert!(empty.is_empty(), "expected no rows, got {empty:?}");

    drop_tables(db, &[&t]).await;
}

/// Every portable value type survives a write and a read: integers including `i64::MIN`
/// and `i64::MAX`, floats, text with non-ASCII characters and the empty string, bytes
/// with zero bytes, booleans (read back through `FromValue` from an integer column where
/// the backend has no boolean), and `NULL` of every type.
pub async fn value_round_trip(db: &dyn Database) {
    let caps = Caps::of(db.database_type());
    let t = unique_name("types");
    ddl(
        db,
        &format!(
            "CREATE TABLE {t} (id INTEGER PRIMARY KEY, i BIGINT, f DOUBLE PRECISION, \
             s {text}, b {blob}, flag {boolean})",
            text = caps.text_type,
            blob = caps.blob_type,
            boolean = caps.bool_type,
        ),
    )
    .await;

    let unicode = "héllo wörld — 日本語 🎉 Ωμέγα";
    let tricky = "line\nbreak\ttab 'single' \"double\" \\backslash $1 ?";
    type Expected = (
        i64,
        Option<i64>,
        Option<f64>,
        Option<String>,
        Option<Vec<u8>>,
        Option<bool>,
    );
    let cases: Vec<Expected> = vec![
        (
            1,
            Some(i64::MIN),
            Some(-1.5),
            Some(unicode.into()),
            Some(vec![0, 1, 2, 0, 255, 0]),
            Some(true),
        ),
        (
            2,
            Some(i64::MAX),
            Some(1e300),
            Some(String::new()),
            Some(vec![0, 0, 0, 0]),
            Some(false),
        ),
        (
            3,
            Some(0),
            Some(0.1),
            Some(tricky.into()),
            Some(Vec::new()),
            Some(true),
        ),
        (
            4,
            Some(-1),
            Some(-2.5e-10),
            Some("x".repeat(10_000)),
            Some((0..=255).collect()),
            Some(false),
        ),
        (5, None, None, None, None, None),
    ];
    let insert = format!("INSERT INTO {t} (id, i, f, s, b, flag) VALUES ($1, $2, $3, $4, $5, $6)");
    for (id, i, f, s, b, flag) in &cases {
        let params = vec![
            Value::from(*id),
            Value::from(*i),
            Value::from(*f),
            Value::from(s.clone()),
            Value::from(b.clone()),
            Value::from(*flag),
        ];
        ok(
            &format!("insert of case {id}"),
            db.execute(&insert, &params).await,
        );
    }

    let rows = ok(
        "select",
        db.query(
            &format!("SELECT id, i, f, s, b, flag FROM {t} ORDER BY id"),
            &[],
        )
        .await,
    );
    assert_eq!(rows.len(), cases.len());
    for (row, (id, i, f, s, b, flag)) in rows.iter().zip(&cases) {
        let what = |col: &str| format!("case {id}, column {col} ({row:?})");
        assert_eq!(ok(&what("id"), row.get::<i64>("id")), *id);
        assert_eq!(
            ok(&what("i"), row.get::<Option<i64>>("i")),
            *i,
            "{}",
            what("i")
        );
        assert_eq!(
            ok(&what("f"), row.get::<Option<f64>>("f")),
            *f,
            "{}",
            what("f")
        );
        assert_eq!(
            ok(&what("s"), row.get::<Option<String>>("s")),
            *s,
            "{}",
            what("s")
        );
        assert_eq!(
            ok(&what("b"), row.get::<Option<Vec<u8>>>("b")),
            *b,
            "{}",
            what("b")
        );
        assert_eq!(
            ok(&what("flag"), row.get::<Option<bool>>("flag")),
            *flag,
            "{}",
            what("flag")
        );
        if i.is_none() {
            for col in ["i", "f", "s", "b", "flag"] {
                let v = ok(&what(col), row.value(col));
                assert!(v.is_null(), "{}: expected NULL, got {v:?}", what(col));
            }
        }
    }

    // Parameters of every type also work in WHERE clauses.
    let lookups: Vec<(&str, Value, i64)> = vec![
        ("i", Value::from(i64::MIN), 1),
        ("i", Value::from(i64::MAX), 2),
        ("f", Value::from(-1.5), 1),
        ("s", Value::from(unicode), 1),
        ("s", Value::from(""), 2),
        ("s", Value::from(tricky), 3),
        ("b", Value::from(vec![0u8, 1, 2, 0, 255, 0]), 1),
        ("b", Value::from(vec![0u8, 0, 0, 0]), 2),
    ];
    for (col, value, expected) in lookups {
        let sql = format!("SELECT id FROM {t} WHERE {col} = $1");
        let what = format!("lookup by {col} = {value:?}");
        let row = ok(&what, db.query_one(&sql, &[value]).await);
        assert_eq!(ok(&what, row.get::<i64>("id")), expected, "{what}");
    }
    // Booleans as parameters compare with the stored flag.
    let trues = ok(
        "count flags",
        db.query_one(
            &format!("SELECT count(*) FROM {t} WHERE flag = $1"),
            &params![true],
        )
        .await,
    );
    assert_eq!(
        ok("count", trues.get::<i64>(0)),
        2,
        "two rows have flag = true"
    );

    // A NULL parameter never equals anything, and IS NULL finds the NULL row.
    let n = count(db, &t, "s IS NULL").await;
    assert_eq!(n, 1);

    drop_tables(db, &[&t]).await;
}

/// A computed column comes back with the expected value (no table involved).
pub async fn select_expressions(db: &dyn Database) {
    let row = ok(
        "select literal",
        db.query_one("SELECT 1 + 2 AS three, 'abc' AS txt", &[])
            .await,
    );
    assert_eq!(row.columns(), ["three", "txt"]);
    assert_eq!(ok("three", row.get::<i64>("three")), 3);
    assert_eq!(ok("txt", row.get::<String>("txt")), "abc");
    let row = ok(
        "select null",
        db.query_one("SELECT NULL AS no_value", &[]).await,
    );
    assert_eq!(ok("no_value", row.get::<Option<i64>>("no_value")), None);
    // `Executor` is object safe: the same code runs on `&dyn Executor`.
    let exec: &dyn Executor = db;
    let row = ok(
        "via dyn Executor",
        exec.query_one("SELECT 7 AS seven", &[]).await,
    );
    assert_eq!(ok("seven", row.get::<i64>(0)), 7);
}
