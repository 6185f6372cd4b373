//! Portable error kinds, backend codes and decode errors.

use dbcore::{Database, ErrorKind, params};

use crate::harness::unique_name;
use crate::support::{count, ddl, drop_tables, err_kind, ok};

/// Unique, foreign-key, not-null and check violations each have their own kind and carry
/// the backend's code.
pub async fn constraint_violations(db: &dyn Database) {
    let parent = unique_name("parent");
    let child = unique_name("child");
    ddl(
        db,
        &format!(
            "CREATE TABLE {parent} (id INTEGER PRIMARY KEY, email VARCHAR(100) NOT NULL UNIQUE, \
             qty INTEGER CHECK (qty >= 0))"
        ),
    )
    .await;
    ddl(
        db,
        &format!(
            "CREATE TABLE {child} (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL, \
             FOREIGN KEY (parent_id) REFERENCES {parent} (id))"
        ),
    )
    .await;
    let insert_parent = format!("INSERT INTO {parent} (id, email, qty) VALUES ($1, $2, $3)");
    ok(
        "first parent",
        db.execute(&insert_parent, &params![1, "a@example.com", 1])
            .await,
    );

    let checks: Vec<(&str, String, Vec<dbcore::Value>, ErrorKind)> = vec![
        (
            "duplicate primary key",
            insert_parent.clone(),
            Vec::from(params![1, "b@example.com", 1]),
            ErrorKind::UniqueViolation,
        ),
        (
            "duplicate unique column",
            insert_parent.clone(),
            Vec::from(params![2, "a@example.com", 1]),
            ErrorKind::UniqueViolation,
        ),
        (
            "NULL in a NOT NULL column",
            insert_parent.clone(),
            Vec::from(params![3, None::<String>, 1]),
            ErrorKind::NotNullViolation,
        ),
        (
            "CHECK (qty >= 0) violated",
            insert_parent.clone(),
            Vec::from(params![4, "c@example.com", -5]),
            ErrorKind::CheckViolation,
        ),
        (
            "child row pointing at a missing parent",
            format!("INSERT INTO {child} (id, parent_id) VALUES ($1, $2)"),
            Vec::from(params![1, 999]),
            ErrorKind::ForeignKeyViolation,
        ),
    ];
    for (what, sql, params, kind) in checks {
        let e = err_kind(what, db.execute(&sql, &params).await, kind);
        assert!(
            e.code().is_some(),
            "{what}: the error should carry the backend's code, got {e:?}"
        );
        assert!(
            !e.is_retryable(),
            "{what}: a constraint violation is not retryable"
        );
    }
    assert_eq!(count(db, &parent, "").await, 1, "violations must not write");
    assert_eq!(count(db, &child, "").await, 0, "violations must not write");

    // Deleting a referenced parent is a foreign-key violation too.
    ok(
        "valid child",
        db.execute(
            &format!("INSERT INTO {child} (id, parent_id) VALUES ($1, $2)"),
            &params![1, 1],
        )
        .await,
    );
    err_kind(
        "deleting a referenced parent",
        db.execute(&format!("DELETE FROM {parent} WHERE id = $1"), &params![1])
            .await,
        ErrorKind::ForeignKeyViolation,
    );

    drop_tables(db, &[&child, &parent]).await;
}

/// Invalid SQL is `ErrorKind::Syntax`, including unknown tables and columns; the pool
/// keeps working afterwards.
pub async fn syntax_errors(db: &dyn Database) {
    let t = unique_name("syntax");
    ddl(db, &format!("CREATE TABLE {t} (id INTEGER PRIMARY KEY)")).await;
    err_kind(
        "misspelled keyword",
        db.query("SELEC 1", &[]).await,
        ErrorKind::Syntax,
    );
    err_kind(
        "misspelled keyword via execute",
        db.execute(&format!("INSRT INTO {t} (id) VALUES (1)"), &[])
            .await,
        ErrorKind::Syntax,
    );
    let missing = unique_name("no_such_table");
    err_kind(
        "unknown table",
        db.query(&format!("SELECT * FROM {missing}"), &[]).await,
        ErrorKind::Syntax,
    );
    err_kind(
        "unknown column",
        db.query(&format!("SELECT no_such_column FROM {t}"), &[])
            .await,
        ErrorKind::Syntax,
    );
    let row = ok("pool after errors", db.query_one("SELECT 1", &[]).await);
    assert_eq!(ok("1", row.get::<i64>(0)), 1);
    drop_tables(db, &[&t]).await;
}

/// Reading a column as the wrong type is a decode error naming the column and both types;
/// an unknown column name lists the columns the row has.
pub async fn decode_errors(db: &dyn Database) {
    let t = unique_name("decode");
    ddl(
        db,
        &format!("CREATE TABLE {t} (id INTEGER PRIMARY KEY, name VARCHAR(100), big BIGINT)"),
    )
    .await;
    ok(
        "insert",
        db.execute(
            &format!("INSERT INTO {t} (id, name, big) VALUES ($1, $2, $3)"),
            &params![1, "not a number", 5_000_000_000i64],
        )
        .await,
    );
    let row = ok(
        "select",
        db.query_one(&format!("SELECT id, name, big FROM {t}"), &[])
            .await,
    );

    let e = err_kind(
        "text read as i64",
        row.get::<i64>("name"),
        ErrorKind::Decode,
    );
    let msg = e.to_string();
    assert!(
        msg.contains("name"),
        "the decode error should name the column: {msg}"
    );
    assert!(
        msg.contains("i64"),
        "the decode error should name the Rust type: {msg}"
    );
    assert!(
        msg.contains("text"),
        "the decode error should name the value's type: {msg}"
    );

    let e = err_kind(
        "bigint read as i32",
        row.get::<i32>("big"),
        ErrorKind::Decode,
    );
    assert!(e.to_string().contains("big"), "{e}");
    let e = err_kind(
        "NULL-free text read as bytes",
        row.get::<Vec<u8>>("name"),
        ErrorKind::Decode,
    );
    assert!(e.to_string().contains("name"), "{e}");

    let e = err_kind("unknown column", row.get::<i64>("nope"), ErrorKind::Decode);
    let msg = e.to_string();
    assert!(
        msg.contains("nope"),
        "should name the missing column: {msg}"
    );
    for col in ["id", "name", "big"] {
        assert!(msg.contains(col), "should list the column {col}: {msg}");
    }
    err_kind("index out of range", row.get::<i64>(3), ErrorKind::Decode);

    drop_tables(db, &[&t]).await;
}

/// An error inside a transaction surfaces with the same kind as outside. (After a
/// failed statement PostgreSQL refuses everything but `ROLLBACK`, so the failing
/// statement comes last.)
pub async fn errors_inside_transactions(db: &dyn Database) {
    let t = unique_name("txerr");
    ddl(
        db,
        &format!("CREATE TABLE {t} (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL)"),
    )
    .await;
    let insert = format!("INSERT INTO {t} (id, name) VALUES ($1, $2)");
    ok("seed", db.execute(&insert, &params![1, "a"]).await);
    let tx = ok("begin", db.begin(dbcore::TxOptions::new()).await);
    err_kind(
        "query_one with no row in a transaction",
        tx.query_one(&format!("SELECT id FROM {t} WHERE id = 5"), &[])
            .await,
        ErrorKind::RowNotFound,
    );
    err_kind(
        "unique violation in a transaction",
        tx.execute(&insert, &params![1, "dup"]).await,
        ErrorKind::UniqueViolation,
    );
    ok("rollback", tx.rollback().await);
    assert_eq!(count(db, &t, "").await, 1);
    drop_tables(db, &[&t]).await;
}
