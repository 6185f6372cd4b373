//! The "Safety rules every driver keeps" that plain queries must enforce: no transaction
//! control through `execute`, one statement per plain query, scripts only through
//! `execute_batch`.

use dbcore::{Database, ErrorKind, Executor, TxOptions, params};

use crate::harness::unique_name;
use crate::support::{
    assert_pool_idle, assert_pool_writable, count, create_simple_table, ddl, drop_tables, err,
    err_kind, ok,
};

/// `execute_batch` runs a script of several statements (DDL and DML, with a trailing
/// semicolon and comments).
pub async fn execute_batch_runs_scripts(db: &dyn Database) {
    let t = unique_name("batch");
    let script = format!(
        "-- a comment line\n\
         CREATE TABLE {t} (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL);\n\
         INSERT INTO {t} (id, name) VALUES (1, 'one; not a separator');\n\
         /* block comment; with a semicolon */\n\
         INSERT INTO {t} (id, name) VALUES (2, 'two');\n\
         UPDATE {t} SET name = 'TWO' WHERE id = 2;\n"
    );
    ok("execute_batch", db.execute_batch(&script).await);
    let rows = ok(
        "read batch result",
        db.query(&format!("SELECT id, name FROM {t} ORDER BY id"), &[])
            .await,
    );
    let got: Vec<(i64, String)> = rows
        .iter()
        .map(|r| (ok("id", r.get("id")), ok("name", r.get("name"))))
        .collect();
    assert_eq!(
        got,
        [
            (1, "one; not a separator".to_owned()),
            (2, "TWO".to_owned())
        ]
    );

    // A failing statement in a script is reported.
    let e = err(
        "script with a failing statement",
        db.execute_batch(&format!(
            "INSERT INTO {t} (id, name) VALUES (3, 'three'); INSERT INTO {t} (id, name) VALUES (1, 'dup')"
        ))
        .await,
    );
    assert_eq!(e.kind(), ErrorKind::UniqueViolation, "{e}");

    // The batch is also available inside a transaction, and rolled back with it.
    let tx = ok("begin", db.begin(TxOptions::new()).await);
    ok(
        "batch in a transaction",
        tx.execute_batch(&format!(
            "INSERT INTO {t} (id, name) VALUES (10, 'ten'); INSERT INTO {t} (id, name) VALUES (11, 'eleven');"
        ))
        .await,
    );
    assert_eq!(count(&*tx, &t, "id >= 10").await, 2);
    ok("rollback", tx.rollback().await);
    assert_eq!(count(db, &t, "id >= 10").await, 0);

    drop_tables(db, &[&t]).await;
}

/// Transaction control sent through `execute` / `query` is refused with
/// `ErrorKind::TransactionControl`, and no pooled connection is left inside a transaction.
pub async fn transaction_control_refused(db: &dyn Database) {
    let t = unique_name("txctl");
    create_simple_table(db, &t).await;

    for sql in [
        "BEGIN",
        "begin",
        "  BEGIN  ",
        "begin transaction",
        "BEGIN IMMEDIATE",
        "START TRANSACTION",
        "COMMIT",
        "ROLLBACK",
        "begin deferred transaction",
    ] {
        err_kind(
            &format!("execute({sql:?})"),
            db.execute(sql, &[]).await,
            ErrorKind::TransactionControl,
        );
        err_kind(
            &format!("query({sql:?})"),
            db.query(sql, &[]).await,
            ErrorKind::TransactionControl,
        );
    }
    // Inside a transaction, too: the transaction object owns COMMIT / ROLLBACK.
    let tx = ok("begin", db.begin(TxOptions::new()).await);
    for sql in ["COMMIT", "ROLLBACK", "BEGIN"] {
        err_kind(
            &format!("tx.execute({sql:?})"),
            tx.execute(sql, &[]).await,
            ErrorKind::TransactionControl,
        );
    }
    ok(
        "insert in tx after refused control",
        tx.execute(
            &format!("INSERT INTO {t} (id, name) VALUES (1000, 'tx')"),
            &[],
        )
        .await,
    );
    ok("rollback", tx.rollback().await);
    assert_eq!(
        count(db, &t, "id = 1000").await,
        0,
        "a COMMIT sent through tx.execute must not have committed the transaction"
    );

    // Statements that would start a transaction in a less obvious way must be refused or
    // detected; either way no connection may stay inside a transaction.
    for sql in ["/* hidden */ BEGIN", "SAVEPOINT sp1", "END"] {
        // The outcome (refused, a backend error, or run and then detected) is the
        // driver's choice; what counts is the pool check below.
        let _ = db.execute(sql, &[]).await;
    }

    // Every connection of the pool still commits its writes.
    assert_pool_idle(db, "after refused transaction control").await;
    assert_pool_writable(db, &t, 1, 12).await;
    let tx = ok("begin after refusals", db.begin(TxOptions::new()).await);
    ok(
        "write in a fresh transaction",
        tx.execute(
            &format!("INSERT INTO {t} (id, name) VALUES (100, 'x')"),
            &[],
        )
        .await,
    );
    ok("commit", tx.commit().await);
    assert_eq!(count(db, &t, "").await, 13);
    assert_pool_idle(db, "after the final transaction").await;

    drop_tables(db, &[&t]).await;
}

/// A plain query runs exactly one statement: a second statement after `;` is refused,
/// with or without parameters, and nothing of it runs.
pub async fn multiple_statements_refused(db: &dyn Database) {
    let t = unique_name("multi");
    create_simple_table(db, &t).await;

    let attempts = [
        (
            format!("INSERT INTO {t} (id, name) VALUES (1, 'a'); DROP TABLE {t}"),
            Vec::from(params![]),
        ),
        (
            format!("INSERT INTO {t} (id, name) VALUES ($1, 'a'); DROP TABLE {t}"),
            Vec::from(params![1]),
        ),
        (
            format!("INSERT INTO {t} (id, name) VALUES ($1, 'a');DELETE FROM {t}"),
            Vec::from(params![1]),
        ),
    ];
    for (sql, params) in &attempts {
        err_kind(
            &format!("execute of two statements {sql:?}"),
            db.execute(sql, params).await,
            ErrorKind::Syntax,
        );
    }
    err_kind(
        "query of two statements",
        db.query(&format!("SELECT 1; DROP TABLE {t}"), &[]).await,
        ErrorKind::Syntax,
    );
    // A second statement hidden after a string literal containing a semicolon.
    err_kind(
        "two statements after a literal with a semicolon",
        db.execute(
            &format!("INSERT INTO {t} (id, name) VALUES (2, 'x;y'); DROP TABLE {t}"),
            &[],
        )
        .await,
        ErrorKind::Syntax,
    );

    // The table still exists and nothing was inserted.
    assert_eq!(
        count(db, &t, "").await,
        0,
        "a refused multi-statement string must not run its first statement either"
    );
    // A semicolon inside a literal is fine.
    ok(
        "literal with a semicolon",
        db.execute(
            &format!("INSERT INTO {t} (id, name) VALUES ($1, 'a; DROP TABLE {t}')"),
            &params![5],
        )
        .await,
    );
    assert_eq!(count(db, &t, "").await, 1);
    drop_tables(db, &[&t]).await;
}

/// Hand `Executor` a transaction or a database interchangeably (object safety).
pub async fn executor_is_object_safe(db: &dyn Database) {
    async fn insert_one(exec: &dyn Executor, table: &str, id: i64) {
        ok(
            "insert via &dyn Executor",
            exec.execute(
                &format!("INSERT INTO {table} (id, name) VALUES ($1, $2)"),
                &params![id, "x"],
            )
            .await,
        );
    }
    let t = unique_name("dynexec");
    create_simple_table(db, &t).await;
    insert_one(db, &t, 1).await;
    let tx = ok("begin", db.begin(TxOptions::new()).await);
    insert_one(&*tx, &t, 2).await;
    ok("commit", tx.commit().await);
    assert_eq!(count(db, &t, "").await, 2);
    ddl(db, &format!("DROP TABLE {t}")).await;
}
