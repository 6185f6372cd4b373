//! Large results and bulk inserts.

use std::sync::atomic::{AtomicI64, Ordering};

use dbcore::{Database, Error, ErrorKind, Executor, TxOptions, Value};

use crate::harness::unique_name;
use crate::support::{assert_pool_idle, count, ddl, drop_tables, err_kind, ok};

fn rows(range: std::ops::Range<i64>) -> Vec<Vec<Value>> {
    range
        .map(|i| {
            vec![
                Value::from(i),
                Value::from(format!("name {i}")),
                if i % 7 == 0 {
                    Value::Null
                } else {
                    Value::from(i as f64 / 4.0)
                },
            ]
        })
        .collect()
}

async fn create(db: &dyn Executor, t: &str) {
    ddl(
        db,
        &format!(
            "CREATE TABLE {t} (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL, \
             score DOUBLE PRECISION)"
        ),
    )
    .await;
}

/// `insert_many` inserts 10 000 rows (more than one statement's parameter limit on
/// some backends), all of them with the right values; a failing bulk insert on the
/// database inserts nothing; inside a transaction it rolls back with the transaction.
pub async fn insert_many_bulk(db: &dyn Database) {
    let t = unique_name("bulk");
    create(db, &t).await;
    let data = rows(0..10_000);
    let n = ok(
        "insert_many of 10 000 rows",
        db.insert_many(&t, &["id", "name", "score"], data).await,
    );
    assert_eq!(n, 10_000, "insert_many should report 10 000 rows");
    assert_eq!(count(db, &t, "").await, 10_000);
    // min/max/count keep the column's integer type on every backend (MySQL's SUM
    // would be DECIMAL).
    let row = ok(
        "aggregate",
        db.query_one(
            &format!(
                "SELECT min(id) AS lo, max(id) AS hi, count(DISTINCT id) AS n, \
                 count(score) AS c, max(name) AS m FROM {t}"
            ),
            &[],
        )
        .await,
    );
    assert_eq!(ok("min", row.get::<i64>("lo")), 0);
    assert_eq!(ok("max", row.get::<i64>("hi")), 9_999);
    assert_eq!(ok("distinct", row.get::<i64>("n")), 10_000);
    assert_eq!(
        ok("count(score)", row.get::<i64>("c")),
        (0..10_000).filter(|i| i % 7 != 0).count() as i64
    );
    assert_eq!(ok("max(name)", row.get::<String>("m")), "name 9999");
    let row = ok(
        "spot check",
        db.query_one(&format!("SELECT name, score FROM {t} WHERE id = 4243"), &[])
            .await,
    );
    assert_eq!(ok("name", row.get::<String>("name")), "name 4243");
    assert_eq!(ok("score", row.get::<f64>("score")), 4243.0 / 4.0);

    // All or nothing on the database: a duplicate key near the end inserts no row.
    let mut bad = rows(20_000..26_000);
    bad.push(vec![Value::from(5), Value::from("dup"), Value::Null]);
    err_kind(
        "insert_many with a duplicate key",
        db.insert_many(&t, &["id", "name", "score"], bad).await,
        ErrorKind::UniqueViolation,
    );
    assert_eq!(
        count(db, &t, "id >= 20000").await,
        0,
        "a failed insert_many on the database must insert nothing"
    );

    // Inside a transaction it is part of the transaction.
    let tx = ok("begin", db.begin(TxOptions::new()).await);
    let n = ok(
        "insert_many in a transaction",
        tx.insert_many(&t, &["id", "name", "score"], rows(30_000..30_500))
            .await,
    );
    assert_eq!(n, 500);
    assert_eq!(count(&*tx, &t, "id >= 30000").await, 500);
    ok("rollback", tx.rollback().await);
    assert_eq!(count(db, &t, "id >= 30000").await, 0);

    // A failed insert_many inside a transaction inserts nothing either, however many
    // statements it took (a duplicate key after 6 000 good rows). The transaction then
    // stays usable, except on PostgreSQL, where a failed statement aborts the
    // transaction (25P02 until it is rolled back), as any statement's failure does.
    let tx = ok("begin", db.begin(TxOptions::new()).await);
    ok(
        "a row before the load",
        tx.execute(
            &format!("INSERT INTO {t} (id, name) VALUES (40000, 'kept')"),
            &[],
        )
        .await,
    );
    let mut bad = rows(40_001..46_001);
    bad.push(vec![Value::from(5), Value::from("dup"), Value::Null]);
    err_kind(
        "insert_many with a duplicate key in a transaction",
        tx.insert_many(&t, &["id", "name", "score"], bad).await,
        ErrorKind::UniqueViolation,
    );
    if db.database_type() == dbcore::DatabaseType::Postgres {
        assert!(
            tx.query("SELECT 1", &[]).await.is_err(),
            "PostgreSQL aborts the transaction"
        );
        ok("rollback", tx.rollback().await);
    } else {
        assert_eq!(
            count(&*tx, &t, "id >= 40000").await,
            1,
            "a failed insert_many in a transaction must insert nothing"
        );
        ok("commit after the failed load", tx.commit().await);
        assert_eq!(count(db, &t, "id >= 40000").await, 1);
        ok(
            "clean up",
            db.execute(&format!("DELETE FROM {t} WHERE id >= 40000"), &[])
                .await,
        );
    }

    // A row of the wrong width is a parameter error.
    err_kind(
        "insert_many with a short row",
        db.insert_many(&t, &["id", "name", "score"], vec![vec![Value::from(1)]])
            .await,
        ErrorKind::Parameter,
    );
    assert_eq!(count(db, &t, "").await, 10_000);
    drop_tables(db, &[&t]).await;
}

/// `for_each_row` visits every row once, in order; an error from the callback stops the
/// query and is returned, and the connection is clean afterwards.
pub async fn for_each_row_visits_every_row(db: &dyn Database) {
    let t = unique_name("foreach");
    create(db, &t).await;
    ok(
        "insert_many",
        db.insert_many(&t, &["id", "name", "score"], rows(0..5_000))
            .await,
    );
    let sql = format!("SELECT id, name FROM {t} WHERE id >= $1 ORDER BY id");

    let mut seen = Vec::with_capacity(5_000);
    let n = ok(
        "for_each_row",
        db.for_each_row(&sql, &[Value::from(0)], &mut |row| {
            seen.push(row.get::<i64>("id")?);
            Ok(())
        })
        .await,
    );
    assert_eq!(n, 5_000, "for_each_row should report every row");
    assert_eq!(
        seen,
        (0..5_000).collect::<Vec<_>>(),
        "every row once, in order"
    );

    // The callback's error stops the iteration and comes back unchanged.
    let visited = AtomicI64::new(0);
    let result = db
        .for_each_row(&sql, &[Value::from(0)], &mut |_row| {
            if visited.fetch_add(1, Ordering::Relaxed) == 9 {
                return Err(Error::Unsupported("stop after ten rows".into()));
            }
            Ok(())
        })
        .await;
    let e = err_kind(
        "for_each_row with a failing callback",
        result,
        ErrorKind::Unsupported,
    );
    assert!(e.to_string().contains("stop after ten rows"), "{e}");
    assert_eq!(
        visited.load(Ordering::Relaxed),
        10,
        "no row after the error"
    );
    assert_pool_idle(db, "after an aborted for_each_row").await;

    // Also inside a transaction, and the transaction stays usable after an abort.
    let tx = ok("begin", db.begin(TxOptions::new()).await);
    let mut total = 0i64;
    let n = ok(
        "for_each_row in a transaction",
        tx.for_each_row(&sql, &[Value::from(4_000)], &mut |row| {
            total += row.get::<i64>(0)?;
            Ok(())
        })
        .await,
    );
    assert_eq!(n, 1_000);
    assert_eq!(total, (4_000..5_000).sum::<i64>());
    let _ = tx
        .for_each_row(&sql, &[Value::from(0)], &mut |_| {
            Err(Error::Unsupported("stop".into()))
        })
        .await;
    assert_eq!(
        count(&*tx, &t, "").await,
        5_000,
        "the transaction is usable after an abort"
    );
    ok("commit", tx.commit().await);
    drop_tables(db, &[&t]).await;
}
