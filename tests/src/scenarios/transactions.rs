//! Transactions: commit, rollback, `with_transaction`, drop and cancellation safety,
//! savepoints, read-only transactions and timeouts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dbcore::{
    Database, DatabaseExt, Error, ErrorKind, Executor, TxOptions, params, with_transaction,
};

use crate::caps::Caps;
use crate::harness::unique_name;
use crate::support::{
    assert_pool_idle, assert_pool_writable, count, create_simple_table, drop_tables, err_kind, ids,
    ok,
};

fn insert_sql(table: &str) -> String {
    format!("INSERT INTO {table} (id, name) VALUES ($1, $2)")
}

async fn insert(exec: &dyn Executor, table: &str, id: i64) {
    let n = ok(
        &format!("insert of id {id} into {table}"),
        exec.execute(&insert_sql(table), &params![id, format!("row {id}")])
            .await,
    );
    assert_eq!(n, 1);
}

/// A committed transaction's writes are visible afterwards; the transaction sees its own
/// writes before committing.
pub async fn commit_persists(db: &dyn Database) {
    let t = unique_name("commit");
    create_simple_table(db, &t).await;
    let tx = ok("begin", db.begin(TxOptions::new()).await);
    assert_eq!(tx.depth(), 0, "a top-level transaction has depth 0");
    assert!(!tx.options().read_only);
    insert(&*tx, &t, 1).await;
    insert(&*tx, &t, 2).await;
    assert_eq!(
        count(&*tx, &t, "").await,
        2,
        "a transaction sees its own writes"
    );
    ok("commit", tx.commit().await);
    assert_eq!(ids(db, &t).await, [1, 2]);
    assert_pool_idle(db, "after commit").await;
    drop_tables(db, &[&t]).await;
}

/// A rolled-back transaction leaves nothing behind.
pub async fn rollback_discards(db: &dyn Database) {
    let t = unique_name("rollback");
    create_simple_table(db, &t).await;
    insert(db, &t, 1).await;
    let tx = ok("begin", db.begin(TxOptions::new()).await);
    insert(&*tx, &t, 2).await;
    ok(
        "update in tx",
        tx.execute(
            &format!("UPDATE {t} SET name = 'changed' WHERE id = 1"),
            &[],
        )
        .await,
    );
    ok(
        "delete in tx",
        tx.execute(&format!("DELETE FROM {t} WHERE id = 1"), &[])
            .await,
    );
    ok("rollback", tx.rollback().await);
    assert_eq!(
        ids(db, &t).await,
        [1],
        "rollback must undo insert and delete"
    );
    let row = ok(
        "read",
        db.query_one(&format!("SELECT name FROM {t} WHERE id = 1"), &[])
            .await,
    );
    assert_eq!(
        ok("name", row.get::<String>("name")),
        "row 1",
        "rollback must undo the update"
    );
    assert_pool_idle(db, "after rollback").await;
    drop_tables(db, &[&t]).await;
}

#[derive(Debug)]
enum AppError {
    Db(Error),
    Business(&'static str),
}

impl From<Error> for AppError {
    fn from(e: Error) -> Self {
        AppError::Db(e)
    }
}

/// `with_transaction` commits when the body returns `Ok` (returning its value) and rolls
/// back when it returns `Err` (returning that error, of the caller's own type).
pub async fn with_transaction_commits_and_rolls_back(db: &dyn Database) {
    let t = unique_name("withtx");
    create_simple_table(db, &t).await;

    let sql = insert_sql(&t);
    let value: Result<i64, Error> = with_transaction(db, TxOptions::new(), |tx| {
        Box::pin(async move {
            tx.execute(&sql, &params![1, "committed"]).await?;
            tx.execute(&sql, &params![2, "committed"]).await?;
            Ok(42)
        })
    })
    .await;
    assert_eq!(ok("with_transaction Ok", value), 42);
    assert_eq!(ids(db, &t).await, [1, 2]);

    let sql = insert_sql(&t);
    let result: Result<(), AppError> = db
        .with_transaction(TxOptions::new(), |tx| {
            Box::pin(async move {
                tx.execute(&sql, &params![3, "rolled back"]).await?;
                Err(AppError::Business("insufficient funds"))
            })
        })
        .await;
    match result {
        Err(AppError::Business(msg)) => assert_eq!(msg, "insufficient funds"),
        other => panic!("with_transaction should return the body's error, got {other:?}"),
    }
    assert_eq!(
        ids(db, &t).await,
        [1, 2],
        "the Err body's insert must be rolled back"
    );

    // A database error inside the body (propagated with `?`) also rolls back.
    let sql = insert_sql(&t);
    let result: Result<(), AppError> = db
        .with_transaction(TxOptions::new(), |tx| {
            Box::pin(async move {
                tx.execute(&sql, &params![4, "rolled back"]).await?;
                tx.execute(&sql, &params![1, "duplicate"]).await?;
                Ok(())
            })
        })
        .await;
    match result {
        Err(AppError::Db(e)) => assert_eq!(e.kind(), ErrorKind::UniqueViolation, "{e}"),
        other => panic!("expected the unique violation, got {other:?}"),
    }
    assert_eq!(
        ids(db, &t).await,
        [1, 2],
        "the failed body's insert must be rolled back"
    );
    assert_pool_idle(db, "after with_transaction").await;
    drop_tables(db, &[&t]).await;
}

/// A panic inside the `with_transaction` body (in a spawned task) rolls back, the panic
/// reaches the task's `JoinError`, and the pool keeps working.
pub async fn with_transaction_rolls_back_on_panic(db: Arc<dyn Database>) {
    let t = unique_name("panic");
    create_simple_table(&*db, &t).await;

    let task_db = Arc::clone(&db);
    let sql = insert_sql(&t);
    let handle = tokio::spawn(async move {
        let result: Result<(), Error> = with_transaction(&*task_db, TxOptions::new(), |tx| {
            Box::pin(async move {
                let n = tx.execute(&sql, &params![1, "never committed"]).await?;
                if n == 1 {
                    panic!(
                        "deliberate panic inside a with_transaction body (expected by the test)"
                    );
                }
                Ok(())
            })
        })
        .await;
        result
    });
    let join = handle.await;
    match join {
        Err(e) => assert!(e.is_panic(), "the task should have panicked, got {e}"),
        Ok(r) => panic!("the task should have panicked, returned {r:?}"),
    }
    assert_eq!(
        count(&*db, &t, "").await,
        0,
        "the panicking body's insert must be rolled back"
    );
    assert_pool_idle(&*db, "after a panic in with_transaction").await;
    assert_pool_writable(&*db, &t, 10, 8).await;
    drop_tables(&*db, &[&t]).await;
}

fn assert_send<F: std::future::Future + Send>(f: F) -> F {
    f
}

/// `with_transaction`'s future is `Send` (checked at compile time) and runs inside
/// `tokio::spawn`, both as the free function and as `DatabaseExt::with_transaction`.
pub async fn with_transaction_in_spawned_task(db: Arc<dyn Database>) {
    let t = unique_name("spawned");
    create_simple_table(&*db, &t).await;

    let mut handles = Vec::new();
    for id in 0..4i64 {
        let db = Arc::clone(&db);
        let sql = insert_sql(&t);
        handles.push(tokio::spawn(assert_send(async move {
            if id % 2 == 0 {
                with_transaction(&*db, TxOptions::new(), |tx| {
                    Box::pin(async move { tx.execute(&sql, &params![id, "free fn"]).await })
                })
                .await
            } else {
                db.with_transaction(TxOptions::new(), |tx| {
                    Box::pin(async move { tx.execute(&sql, &params![id, "ext method"]).await })
                })
                .await
            }
        })));
    }
    for h in handles {
        let affected = ok("spawned with_transaction", h.await.expect("task panicked"));
        assert_eq!(affected, 1);
    }
    assert_eq!(ids(&*db, &t).await, [0, 1, 2, 3]);
    drop_tables(&*db, &[&t]).await;
}

/// A transaction dropped without `commit` or `rollback` is rolled back, its connection
/// returns to the pool clean, and later writers are not blocked by it.
pub async fn dropped_transaction_rolls_back(db: &dyn Database) {
    let t = unique_name("dropped");
    create_simple_table(db, &t).await;
    for id in 1..=3 {
        let tx = ok("begin", db.begin(TxOptions::new()).await);
        insert(&*tx, &t, id).await;
        drop(tx);
    }
    assert_pool_idle(db, "after dropping transactions").await;
    assert_eq!(
        count(db, &t, "").await,
        0,
        "dropped transactions must not commit"
    );
    // The pool is writable again (a dropped SQLite write transaction would otherwise hold
    // the database lock) and new transactions work.
    assert_pool_writable(db, &t, 100, 8).await;
    let tx = ok("begin after drops", db.begin(TxOptions::new()).await);
    insert(&*tx, &t, 200).await;
    ok("commit", tx.commit().await);
    assert_eq!(count(db, &t, "").await, 9);
    drop_tables(db, &[&t]).await;
}

/// A transaction owned by a future that is cancelled (dropped) is rolled back, whether the
/// cancellation hits after its writes or while `BEGIN` or a statement is in flight; the
/// pool stays usable and a new transaction can write.
pub async fn cancelled_transaction_rolls_back(db: &dyn Database) {
    let t = unique_name("cancel");
    create_simple_table(db, &t).await;

    // 1. Cancelled after the insert, while the future sleeps.
    let (inserted_tx, inserted_rx) = tokio::sync::oneshot::channel::<()>();
    let work = async {
        let tx = ok("begin", db.begin(TxOptions::new()).await);
        insert(&*tx, &t, 1).await;
        let _ = inserted_tx.send(());
        tokio::time::sleep(Duration::from_secs(3600)).await;
        ok("commit (never reached)", tx.commit().await);
    };
    tokio::select! {
        () = work => panic!("the transaction future should have been cancelled"),
        r = inserted_rx => r.expect("the insert should have run before cancellation"),
    }
    assert_pool_idle(db, "after cancelling a transaction future").await;
    assert_eq!(
        count(db, &t, "").await,
        0,
        "the cancelled transaction must not commit"
    );

    // 2. Cancelled by a timeout at many different points, including while BEGIN and the
    //    INSERT are in flight.
    for step in 0..40u64 {
        let limit = Duration::from_micros(step * 150);
        let id = 1000 + i64::try_from(step).unwrap_or_default();
        let _ = tokio::time::timeout(limit, async {
            let tx = db.begin(TxOptions::new()).await?;
            tx.execute(&insert_sql(&t), &params![id, "cancelled"])
                .await?;
            tokio::time::sleep(Duration::from_secs(3600)).await;
            tx.commit().await
        })
        .await;
    }
    let tmo = tokio::time::timeout(Duration::from_millis(10), async {
        let tx = db.begin(TxOptions::new()).await?;
        tx.execute(&insert_sql(&t), &params![2, "cancelled"])
            .await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        tx.commit().await
    })
    .await;
    assert!(
        tmo.is_err(),
        "the 10 ms timeout should have cancelled the transaction"
    );

    assert_pool_idle(db, "after cancellations at random points").await;
    assert_eq!(
        count(db, &t, "").await,
        0,
        "no cancelled transaction may commit"
    );
    assert_pool_writable(db, &t, 10, 8).await;
    let tx = ok(
        "begin after cancellations",
        db.begin(TxOptions::new()).await,
    );
    insert(&*tx, &t, 50).await;
    ok("commit after cancellations", tx.commit().await);
    assert_eq!(count(db, &t, "").await, 9);
    drop_tables(db, &[&t]).await;
}

/// Savepoints: a rolled-back savepoint undoes only its own writes, a released one keeps
/// them, a dropped one rolls back to itself and leaves the outer transaction usable, and
/// savepoints nest.
pub async fn nested_savepoints(db: &dyn Database) {
    let t = unique_name("savepoint");
    create_simple_table(db, &t).await;

    let mut tx = ok("begin", db.begin(TxOptions::new()).await);
    insert(&*tx, &t, 1).await;
    {
        let sp = ok("savepoint a", tx.savepoint().await);
        assert_eq!(sp.depth(), 1, "first savepoint has depth 1");
        insert(&*sp, &t, 2).await;
        assert_eq!(
            count(&*sp, &t, "").await,
            2,
            "a savepoint sees the outer writes"
        );
        ok("rollback savepoint a", sp.rollback().await);
    }
    assert_eq!(
        ids(&*tx, &t).await,
        [1],
        "rolling back a savepoint undoes its insert only"
    );
    {
        let sp = ok("savepoint b", tx.savepoint().await);
        insert(&*sp, &t, 3).await;
        ok("release savepoint b", sp.commit().await);
    }
    {
        let sp = ok("savepoint c", tx.savepoint().await);
        insert(&*sp, &t, 4).await;
        drop(sp);
    }
    // The outer transaction continues after the dropped savepoint.
    insert(&*tx, &t, 5).await;
    assert_eq!(
        ids(&*tx, &t).await,
        [1, 3, 5],
        "a dropped savepoint rolls back to itself"
    );
    {
        let mut sp1 = ok("savepoint d", tx.savepoint().await);
        insert(&*sp1, &t, 6).await;
        {
            let sp2 = ok("nested savepoint e", sp1.savepoint().await);
            assert_eq!(sp2.depth(), 2, "a nested savepoint has depth 2");
            insert(&*sp2, &t, 7).await;
            ok("rollback nested savepoint e", sp2.rollback().await);
        }
        {
            let sp2 = ok("nested savepoint f", sp1.savepoint().await);
            insert(&*sp2, &t, 8).await;
            ok("release nested savepoint f", sp2.commit().await);
        }
        ok("release savepoint d", sp1.commit().await);
    }
    // A savepoint's error leaves the outer transaction usable after rolling it back.
    {
        let sp = ok("savepoint g", tx.savepoint().await);
        err_kind(
            "duplicate inside a savepoint",
            sp.execute(&insert_sql(&t), &params![1, "dup"]).await,
            ErrorKind::UniqueViolation,
        );
        ok("rollback savepoint g after its error", sp.rollback().await);
    }
    insert(&*tx, &t, 9).await;
    ok("outer commit", tx.commit().await);
    assert_eq!(ids(db, &t).await, [1, 3, 5, 6, 8, 9]);

    // Rolling back the outer transaction discards released savepoints too.
    let mut tx = ok("begin 2", db.begin(TxOptions::new()).await);
    {
        let sp = ok("savepoint h", tx.savepoint().await);
        insert(&*sp, &t, 20).await;
        ok("release h", sp.commit().await);
    }
    ok("outer rollback", tx.rollback().await);
    assert_eq!(ids(db, &t).await, [1, 3, 5, 6, 8, 9]);
    assert_pool_idle(db, "after savepoints").await;
    drop_tables(db, &[&t]).await;
}

/// In a read-only transaction reads work and writes fail with
/// `ErrorKind::ReadOnlyViolation`; afterwards the connection is writable again.
pub async fn read_only_transaction(db: &dyn Database) {
    let t = unique_name("readonly");
    create_simple_table(db, &t).await;
    insert(db, &t, 1).await;

    let tx = ok("begin read-only", db.begin(TxOptions::read_only_tx()).await);
    assert!(tx.options().read_only);
    assert_eq!(
        count(&*tx, &t, "").await,
        1,
        "reads work in a read-only transaction"
    );
    err_kind(
        "insert in a read-only transaction",
        tx.execute(&insert_sql(&t), &params![2, "nope"]).await,
        ErrorKind::ReadOnlyViolation,
    );
    ok("rollback read-only", tx.rollback().await);

    let tx = ok(
        "begin read-only 2",
        db.begin(TxOptions::read_only_tx()).await,
    );
    err_kind(
        "update in a read-only transaction",
        tx.execute(&format!("UPDATE {t} SET name = 'x'"), &[]).await,
        ErrorKind::ReadOnlyViolation,
    );
    drop(tx);

    let result: Result<(), Error> = with_transaction(db, TxOptions::read_only_tx(), |tx| {
        let sql = format!("DELETE FROM {t}");
        Box::pin(async move {
            tx.execute(&sql, &[]).await?;
            Ok(())
        })
    })
    .await;
    err_kind(
        "delete via read-only with_transaction",
        result,
        ErrorKind::ReadOnlyViolation,
    );

    assert_eq!(
        count(db, &t, "").await,
        1,
        "read-only transactions must not write"
    );
    assert_pool_idle(db, "after read-only transactions").await;
    // Connections used read-only are writable again.
    assert_pool_writable(db, &t, 10, 8).await;
    let tx = ok("begin read-write", db.begin(TxOptions::new()).await);
    insert(&*tx, &t, 100).await;
    ok("commit read-write", tx.commit().await);
    assert_eq!(count(db, &t, "").await, 10);
    drop_tables(db, &[&t]).await;
}

const TIMEOUT_BOUND: Duration = Duration::from_secs(5);

/// `with_transaction` with `TxOptions::timeout` gives up on a body that runs too long:
/// `ErrorKind::Timeout`, well before the body would finish, and the body's write is
/// rolled back.
pub async fn with_transaction_timeout(db: &dyn Database) {
    let t = unique_name("txtimeout");
    create_simple_table(db, &t).await;
    let sql = insert_sql(&t);
    let start = Instant::now();
    let result: Result<(), Error> = with_transaction(
        db,
        TxOptions::new().timeout(Duration::from_millis(200)),
        |tx| {
            Box::pin(async move {
                tx.execute(&sql, &params![1, "too slow"]).await?;
                tokio::time::sleep(Duration::from_secs(20)).await;
                Ok(())
            })
        },
    )
    .await;
    let elapsed = start.elapsed();
    err_kind("slow with_transaction body", result, ErrorKind::Timeout);
    assert!(
        elapsed < TIMEOUT_BOUND,
        "the 200 ms transaction timeout should fire within {TIMEOUT_BOUND:?}, took {elapsed:?}"
    );
    assert_eq!(
        count(db, &t, "").await,
        0,
        "the timed-out transaction must be rolled back"
    );
    assert_pool_idle(db, "after a transaction timeout").await;
    assert_pool_writable(db, &t, 10, 4).await;
    drop_tables(db, &[&t]).await;
}

/// A transaction whose deadline passes while it is idle can no longer commit: the commit
/// fails with `ErrorKind::Timeout` and the write is gone.
pub async fn transaction_deadline_blocks_late_commit(db: &dyn Database) {
    let t = unique_name("deadline");
    create_simple_table(db, &t).await;
    let tx = ok(
        "begin with timeout",
        db.begin(TxOptions::new().timeout(Duration::from_millis(200)))
            .await,
    );
    assert_eq!(tx.options().timeout, Some(Duration::from_millis(200)));
    insert(&*tx, &t, 1).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    err_kind(
        "commit after the transaction deadline",
        tx.commit().await,
        ErrorKind::Timeout,
    );
    assert_eq!(
        count(db, &t, "").await,
        0,
        "a transaction past its deadline must not commit"
    );
    assert_pool_idle(db, "after a deadline").await;
    drop_tables(db, &[&t]).await;
}

/// A long-running statement inside a transaction with a timeout is interrupted: the query
/// fails with `ErrorKind::Timeout` within a few seconds, not after the full run time
/// (tens of seconds), and the connection is usable again.
pub async fn transaction_timeout_interrupts_statement(db: &dyn Database) {
    let caps = Caps::of(db.database_type());
    let tx = ok(
        "begin with timeout",
        db.begin(TxOptions::new().timeout(Duration::from_millis(500)))
            .await,
    );
    let start = Instant::now();
    let result = tx.query(caps.long_query, &[]).await;
    let elapsed = start.elapsed();
    err_kind(
        "long query in a transaction with a timeout",
        result,
        ErrorKind::Timeout,
    );
    assert!(
        elapsed < TIMEOUT_BOUND,
        "the statement should be interrupted within {TIMEOUT_BOUND:?}, took {elapsed:?}"
    );
    let _ = tx.rollback().await;
    let start = Instant::now();
    assert_pool_idle(db, "after an interrupted statement").await;
    let row = ok(
        "query after interruption",
        db.query_one("SELECT 1", &[]).await,
    );
    assert_eq!(ok("1", row.get::<i64>(0)), 1);
    assert!(
        start.elapsed() < TIMEOUT_BOUND,
        "the pool should be usable at once after the interruption, took {:?}",
        start.elapsed()
    );
}

/// The same through `with_transaction`: the timeout interrupts the running statement, and
/// the call returns `ErrorKind::Timeout` within a few seconds.
pub async fn with_transaction_timeout_interrupts_statement(db: &dyn Database) {
    let caps = Caps::of(db.database_type());
    let start = Instant::now();
    let result: Result<u64, Error> = with_transaction(
        db,
        TxOptions::new().timeout(Duration::from_millis(300)),
        |tx| {
            Box::pin(async move {
                let rows = tx.query(caps.long_query, &[]).await?;
                Ok(rows.len() as u64)
            })
        },
    )
    .await;
    let elapsed = start.elapsed();
    err_kind("long query in with_transaction", result, ErrorKind::Timeout);
    assert!(
        elapsed < TIMEOUT_BOUND,
        "with_transaction should give up within {TIMEOUT_BOUND:?}, took {elapsed:?}"
    );
    assert_pool_idle(db, "after with_transaction interrupted a statement").await;
    let row = ok("query afterwards", db.query_one("SELECT 2", &[]).await);
    assert_eq!(ok("2", row.get::<i64>(0)), 2);
}
