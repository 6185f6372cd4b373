//! Portable `$N` placeholders.

use dbcore::{Database, ErrorKind, params};

use crate::harness::unique_name;
use crate::support::{count, ddl, drop_tables, err_kind, ok};

/// `$1` used twice, `$2` before `$1`, and `$N` inside string literals and comments (which
/// are not placeholders).
pub async fn placeholders_reuse_order_and_literals(db: &dyn Database) {
    let t = unique_name("ph");
    ddl(
        db,
        &format!(
            "CREATE TABLE {t} (id INTEGER PRIMARY KEY, a VARCHAR(100), b VARCHAR(100), \
             note VARCHAR(100))"
        ),
    )
    .await;

    // $2 used twice, and $2 before $1 in the text.
    let n = ok(
        "insert with $2 twice before $1",
        db.execute(
            &format!("INSERT INTO {t} (a, b, id) VALUES ($2, $2, $1)"),
            &params![1, "same"],
        )
        .await,
    );
    assert_eq!(n, 1);
    let row = ok(
        "read back",
        db.query_one(&format!("SELECT a, b FROM {t} WHERE id = 1"), &[])
            .await,
    );
    assert_eq!(ok("a", row.get::<String>("a")), "same");
    assert_eq!(ok("b", row.get::<String>("b")), "same");

    // $1 reused in a WHERE clause.
    let row = ok(
        "select with $1 twice",
        db.query_one(
            &format!("SELECT id FROM {t} WHERE a = $1 AND b = $1"),
            &params!["same"],
        )
        .await,
    );
    assert_eq!(ok("id", row.get::<i64>("id")), 1);

    // Placeholders in reverse order map by number, not by position.
    ok(
        "insert with reversed placeholders",
        db.execute(
            &format!("INSERT INTO {t} (id, a, b) VALUES ($3, $2, $1)"),
            &params!["third", "second", 2],
        )
        .await,
    );
    let row = ok(
        "read reversed",
        db.query_one(&format!("SELECT a, b FROM {t} WHERE id = $1"), &params![2])
            .await,
    );
    assert_eq!(ok("a", row.get::<String>("a")), "second");
    assert_eq!(ok("b", row.get::<String>("b")), "third");

    // `$1` inside a string literal is text, and `$2` in comments is not a placeholder:
    // exactly one parameter is needed.
    ok(
        "insert with $1 in a literal",
        db.execute(
            &format!(
                "INSERT INTO {t} (id, a, note) /* $2 */ VALUES ($1, 'costs $1', 'it''s $2') -- $3\n"
            ),
            &params![3],
        )
        .await,
    );
    let row = ok(
        "read literal",
        db.query_one(
            &format!("SELECT a, note FROM {t} WHERE id = $1"),
            &params![3],
        )
        .await,
    );
    assert_eq!(ok("a", row.get::<String>("a")), "costs $1");
    assert_eq!(ok("note", row.get::<String>("note")), "it's $2");
    let n = ok(
        "select comparing with a literal containing $1",
        db.query_one(
            &format!("SELECT count(*) FROM {t} WHERE a = 'costs $1' AND id = $1"),
            &params![3],
        )
        .await,
    );
    assert_eq!(ok("count", n.get::<i64>(0)), 1);

    drop_tables(db, &[&t]).await;
}

/// Too few or too many parameters are `ErrorKind::Parameter`, and nothing is written.
pub async fn placeholder_count_mismatch(db: &dyn Database) {
    let t = unique_name("phcount");
    ddl(
        db,
        &format!("CREATE TABLE {t} (id INTEGER PRIMARY KEY, a VARCHAR(100))"),
    )
    .await;
    let insert = format!("INSERT INTO {t} (id, a) VALUES ($1, $2)");

    err_kind(
        "one parameter for $1 and $2",
        db.execute(&insert, &params![1]).await,
        ErrorKind::Parameter,
    );
    err_kind(
        "no parameters for $1 and $2",
        db.execute(&insert, &[]).await,
        ErrorKind::Parameter,
    );
    err_kind(
        "three parameters for $1 and $2",
        db.execute(&insert, &params![1, "a", "surplus"]).await,
        ErrorKind::Parameter,
    );
    err_kind(
        "a parameter for a statement without placeholders",
        db.query(&format!("SELECT id FROM {t}"), &params![1]).await,
        ErrorKind::Parameter,
    );
    err_kind(
        "too few parameters in query",
        db.query(
            &format!("SELECT id FROM {t} WHERE id = $1 OR id = $2"),
            &params![1],
        )
        .await,
        ErrorKind::Parameter,
    );
    // A skipped number: the value for `$1` would be ignored (or untypable on
    // PostgreSQL), so it is refused everywhere, naming it.
    let skipped = err_kind(
        "$2 without $1",
        db.execute(
            &format!("INSERT INTO {t} (id, a) VALUES ($2, 'x')"),
            &params!["unused", 9],
        )
        .await,
        ErrorKind::Parameter,
    );
    assert!(skipped.to_string().contains("$1"), "{skipped}");
    assert_eq!(
        count(db, &t, "").await,
        0,
        "statements refused for their parameters must not write"
    );

    // The correct number still works afterwards.
    ok(
        "correct insert",
        db.execute(&insert, &params![1, "a"]).await,
    );
    assert_eq!(count(db, &t, "").await, 1);

    drop_tables(db, &[&t]).await;
}
