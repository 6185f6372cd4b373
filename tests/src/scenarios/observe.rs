//! What the drivers report through `tracing`: a `db.query` span per statement with
//! the OpenTelemetry-style fields, and a `db.transaction` span that is the parent of
//! its statements' spans and records how the transaction ended.

use dbcore::{Database, TxOptions, params};

use crate::harness::unique_name;
use crate::support::{ddl, drop_tables, ok};
use crate::trace_recorder;

/// Statements and a transaction, checked against the recorded spans.
pub async fn spans_describe_statements(db: &dyn Database) {
    let Some(recorder) = trace_recorder::install() else {
        panic!("another global tracing subscriber is installed; run this test on its own");
    };
    let system = db.database_type().as_str();
    let t = unique_name("observe");
    ddl(
        db,
        &format!("CREATE TABLE {t} (id INTEGER PRIMARY KEY, name VARCHAR(20))"),
    )
    .await;
    let insert = format!("INSERT INTO {t} (id, name) VALUES ($1, $2)");
    ok("insert", db.execute(&insert, &params![1, "one"]).await);
    let select = format!("SELECT id, name FROM {t} WHERE id = $1");
    ok("select", db.query(&select, &params![1]).await);

    let tx = ok("begin", db.begin(TxOptions::new()).await);
    let update = format!("UPDATE {t} SET name = $1 WHERE id = $2");
    ok(
        "update in tx",
        tx.execute(&update, &params!["uno", 1]).await,
    );
    ok("commit", tx.commit().await);

    // `db.statement` is the statement's text; a driver may show it with its own
    // placeholder style (`?1` instead of `$1`), so statements are found by their start.
    let insert_start = format!("INSERT INTO {t} (id, name) VALUES (");
    let select_start = format!("SELECT id, name FROM {t} WHERE id = ");
    let update_start = format!("UPDATE {t} SET name = ");
    recorder.with(|seen| {
        let inserts = seen.statements_starting(&insert_start);
        let (_, span) = inserts
            .iter()
            .find(|(_, s)| s.fields.get("db.system").map(String::as_str) == Some(system))
            .unwrap_or_else(|| panic!("no db.query span for {insert:?} (system {system})"));
        assert_eq!(
            span.fields.get("db.operation").map(String::as_str),
            Some("execute")
        );
        assert_eq!(span.fields.get("db.rows").map(String::as_str), Some("1"));
        assert!(span.fields.contains_key("elapsed_ms"), "{span:?}");

        let selects = seen.statements_starting(&select_start);
        let (_, span) = selects
            .first()
            .unwrap_or_else(|| panic!("no db.query span for {select:?}"));
        assert_eq!(
            span.fields.get("db.operation").map(String::as_str),
            Some("query")
        );
        assert_eq!(span.fields.get("db.rows").map(String::as_str), Some("1"));
        assert!(
            !span.fields.values().any(|v| v.contains("one")),
            "parameter values must not be recorded: {span:?}"
        );

        let updates = seen.statements_starting(&update_start);
        let (_, span) = updates
            .first()
            .unwrap_or_else(|| panic!("no db.query span for {update:?}"));
        let parent = span
            .parent
            .and_then(|p| seen.spans.get(&p))
            .unwrap_or_else(|| panic!("the statement in the transaction has no parent: {span:?}"));
        assert_eq!(parent.name, "db.transaction", "{parent:?}");
        assert_eq!(
            parent.fields.get("db.system").map(String::as_str),
            Some(system)
        );
        assert_eq!(
            parent.fields.get("outcome").map(String::as_str),
            Some("commit"),
            "{parent:?}"
        );
    });
    drop_tables(db, &[&t]).await;
}
