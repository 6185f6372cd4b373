//! Pool behaviour: statistics, many concurrent tasks, health, close.

use std::sync::Arc;
use std::time::Duration;

use dbcore::{Database, ErrorKind, TxOptions, params};

use crate::harness::unique_name;
use crate::support::{assert_pool_idle, count, create_simple_table, drop_tables, err_kind, ok};

/// Pool statistics move as expected: connections are opened on use, `max_open` is the
/// configured size, a held transaction counts as in use, and it is back when it ends.
pub async fn pool_stats(db: &dyn Database, configured_max_open: u32) {
    ok("warm-up query", db.query("SELECT 1", &[]).await);
    let stats = db.stats();
    assert!(
        stats.opened_total >= 1,
        "a query must have opened a connection: {stats:?}"
    );
    assert_eq!(
        stats.max_open, configured_max_open,
        "max_open should be the configured pool size: {stats:?}"
    );
    assert!(
        stats.open >= 1 && stats.open <= configured_max_open,
        "{stats:?}"
    );
    assert_pool_idle(db, "after a query").await;

    let tx = ok("begin", db.begin(TxOptions::new()).await);
    ok("query in tx", tx.query("SELECT 1", &[]).await);
    let held = db.stats();
    assert!(
        held.in_use >= 1,
        "a held transaction must count as in use: {held:?}"
    );
    assert!(held.open >= held.in_use, "{held:?}");
    ok("commit", tx.commit().await);
    assert_pool_idle(db, "after the transaction ended").await;

    let tx = ok("begin 2", db.begin(TxOptions::new()).await);
    assert!(db.stats().in_use >= 1, "{:?}", db.stats());
    drop(tx);
    assert_pool_idle(db, "after a dropped transaction").await;

    let after = db.stats();
    assert!(
        after.opened_total >= stats.opened_total,
        "opened_total never decreases"
    );
    assert!(after.open <= configured_max_open, "{after:?}");
}

/// Many more tasks than connections, all writing at once, all succeed (no busy or pool
/// timeout errors under default settings) and every row arrives.
pub async fn many_concurrent_writers(db: Arc<dyn Database>) {
    const TASKS: i64 = 32;
    const INSERTS: i64 = 20;
    let t = unique_name("concurrent");
    create_simple_table(&*db, &t).await;

    let mut handles = Vec::new();
    for task in 0..TASKS {
        let db = Arc::clone(&db);
        let sql = format!("INSERT INTO {t} (id, name) VALUES ($1, $2)");
        handles.push(tokio::spawn(async move {
            for i in 0..INSERTS {
                let id = task * 1000 + i;
                let n = db
                    .execute(&sql, &params![id, format!("task {task}")])
                    .await
                    .unwrap_or_else(|e| {
                        panic!("task {task} insert {i} failed: {e} (kind {})", e.kind())
                    });
                assert_eq!(n, 1);
            }
            // Each task also runs a short transaction.
            let tx = db
                .begin(TxOptions::new())
                .await
                .unwrap_or_else(|e| panic!("task {task} begin failed: {e} (kind {})", e.kind()));
            tx.execute(&sql, &params![task * 1000 + 999, "tx"])
                .await
                .unwrap_or_else(|e| panic!("task {task} tx insert failed: {e}"));
            tx.commit()
                .await
                .unwrap_or_else(|e| panic!("task {task} commit failed: {e}"));
        }));
    }
    for h in handles {
        if let Err(e) = h.await {
            std::panic::resume_unwind(e.into_panic());
        }
    }
    assert_eq!(count(&*db, &t, "").await, TASKS * (INSERTS + 1));
    assert_pool_idle(&*db, "after many concurrent writers").await;
    let stats = db.stats();
    assert!(stats.open <= stats.max_open, "{stats:?}");
    drop_tables(&*db, &[&t]).await;
}

/// Concurrent readers on every connection see a table created on one of them (for SQLite
/// `:memory:`, the pool must still be one database).
pub async fn connections_share_one_database(db: Arc<dyn Database>) {
    let t = unique_name("shared");
    create_simple_table(&*db, &t).await;
    ok(
        "insert",
        db.execute(&format!("INSERT INTO {t} (id, name) VALUES (1, 'x')"), &[])
            .await,
    );
    let mut handles = Vec::new();
    for _ in 0..16 {
        let db = Arc::clone(&db);
        let sql = format!("SELECT count(*) FROM {t}");
        handles.push(tokio::spawn(async move {
            let row = db.query_one(&sql, &[]).await?;
            // Hold the connection a little so that several are open at once.
            tokio::time::sleep(Duration::from_millis(20)).await;
            row.get::<i64>(0)
        }));
    }
    for h in handles {
        let n = ok("concurrent read", h.await.expect("reader panicked"));
        assert_eq!(n, 1, "every connection must see the same database");
    }
    drop_tables(&*db, &[&t]).await;
}

/// `health`, `ping` and `server_version` report a live database.
pub async fn health_ping_and_version(db: &dyn Database) {
    let latency = ok("ping", db.ping().await);
    assert!(latency < Duration::from_secs(5), "ping took {latency:?}");
    let version = ok("server_version", db.server_version().await);
    assert!(
        !version.trim().is_empty(),
        "server_version should not be empty"
    );
    let report = db.health().await;
    assert!(report.healthy, "health should be healthy: {report:?}");
    assert_eq!(report.database_type, db.database_type());
    assert!(
        report.server_version.is_some(),
        "health should report the version: {report:?}"
    );
    assert!(report.latency.is_some(), "{report:?}");
    assert!(
        report.error.is_none() && report.error_kind.is_none(),
        "{report:?}"
    );
    assert!(!db.is_closed());
}

/// After `close` the pool refuses work with `ErrorKind::PoolClosed`; closing again is a
/// no-op; a health check reports it unhealthy.
pub async fn close_refuses_new_work(db: &dyn Database) {
    ok("query before close", db.query("SELECT 1", &[]).await);
    ok("close", db.close(Duration::from_secs(5)).await);
    assert!(db.is_closed(), "is_closed after close");
    err_kind(
        "query after close",
        db.query("SELECT 1", &[]).await,
        ErrorKind::PoolClosed,
    );
    err_kind(
        "server_version after close",
        db.server_version().await,
        ErrorKind::PoolClosed,
    );
    err_kind(
        "execute after close",
        db.execute("SELECT 1", &[]).await,
        ErrorKind::PoolClosed,
    );
    err_kind(
        "begin after close",
        db.begin(TxOptions::new()).await.map(|_| ()),
        ErrorKind::PoolClosed,
    );
    err_kind("ping after close", db.ping().await, ErrorKind::PoolClosed);
    let report = db.health().await;
    assert!(!report.healthy, "a closed pool is not healthy: {report:?}");
    assert_eq!(report.error_kind, Some(ErrorKind::PoolClosed), "{report:?}");
    ok("second close", db.close(Duration::from_secs(1)).await);
    assert!(db.is_closed());
    let stats = db.stats();
    assert_eq!(stats.in_use, 0, "{stats:?}");
}

/// `close` waits for a connection in use (up to the grace period) instead of cutting it
/// off: a transaction that finishes within the grace period commits.
pub async fn close_waits_for_connections_in_use(db: Arc<dyn Database>) {
    let t = unique_name("closegrace");
    create_simple_table(&*db, &t).await;
    let tx = ok("begin", db.begin(TxOptions::new()).await);
    ok(
        "insert",
        tx.execute(&format!("INSERT INTO {t} (id, name) VALUES (1, 'x')"), &[])
            .await,
    );
    let closer = {
        let db = Arc::clone(&db);
        tokio::spawn(async move { db.close(Duration::from_secs(10)).await })
    };
    // Close has started: new work is refused while the transaction can still finish.
    let closed = crate::support::eventually(Duration::from_secs(5), || db.is_closed()).await;
    assert!(closed, "is_closed should be true once close has started");
    err_kind(
        "new query while closing",
        db.query("SELECT 1", &[]).await,
        ErrorKind::PoolClosed,
    );
    ok("commit while closing", tx.commit().await);
    ok("close", closer.await.expect("close task panicked"));
    let stats = db.stats();
    assert_eq!(stats.in_use, 0, "{stats:?}");
}

/// A connection still in use when `close`'s grace period ends is cut off: `close`
/// returns, the transaction's next statement and its commit fail with `PoolClosed`
/// (nothing is committed), and the connection is not kept.
pub async fn close_cuts_off_connections_still_in_use(db: Arc<dyn Database>) {
    let t = unique_name("closecut");
    create_simple_table(&*db, &t).await;
    let tx = ok("begin", db.begin(TxOptions::new()).await);
    ok(
        "insert",
        tx.execute(&format!("INSERT INTO {t} (id, name) VALUES (1, 'x')"), &[])
            .await,
    );
    let started = std::time::Instant::now();
    ok("close", db.close(Duration::from_millis(200)).await);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "close waited {:?} for a grace period of 200 ms",
        started.elapsed()
    );
    err_kind(
        "a statement after the grace period",
        tx.execute(&format!("INSERT INTO {t} (id, name) VALUES (2, 'y')"), &[])
            .await,
        ErrorKind::PoolClosed,
    );
    err_kind(
        "commit after the grace period",
        tx.commit().await,
        ErrorKind::PoolClosed,
    );
    let idle = crate::support::eventually(Duration::from_secs(5), || db.stats().in_use == 0).await;
    assert!(
        idle,
        "the cut-off connection is still counted: {:?}",
        db.stats()
    );
}

/// `close` stops background work: once it returns, the pool opens no more connections
/// (for example idle connections being filled in right after `connect`).
pub async fn close_stops_opening_connections(db: &dyn Database) {
    ok(
        "close right after connect",
        db.close(Duration::from_secs(5)).await,
    );
    let at_close = db.stats().opened_total;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let later = db.stats().opened_total;
    assert_eq!(
        later,
        at_close,
        "the pool opened {} connection(s) after close returned",
        later.saturating_sub(at_close)
    );
}

/// With every connection held, an acquire gives up after the configured `timeout` with
/// `ErrorKind::PoolTimeout` (not a connect error, never a wait forever), the statistics
/// count it, and the pool works again once the connection is back.
pub async fn pool_timeout_when_exhausted(db: &dyn Database, configured_timeout: Duration) {
    let mut held = Vec::new();
    for i in 0..db.stats().max_open {
        held.push(ok(
            &format!("begin #{i} to hold a connection"),
            db.begin(TxOptions::read_only_tx()).await,
        ));
    }
    let before = db.stats();
    let start = std::time::Instant::now();
    let guard = configured_timeout + Duration::from_secs(10);
    let Ok(result) = tokio::time::timeout(guard, db.query("SELECT 1", &[])).await else {
        panic!(
            "with every connection held, a query was still waiting after {guard:?}: the \
             acquire has no deadline (configured timeout {configured_timeout:?})"
        );
    };
    let waited = start.elapsed();
    err_kind(
        "query while every connection is held",
        result,
        ErrorKind::PoolTimeout,
    );
    assert!(
        waited >= configured_timeout / 2 && waited < configured_timeout + Duration::from_secs(5),
        "the acquire should wait about the configured {configured_timeout:?}, waited {waited:?}"
    );
    let after = db.stats();
    assert!(
        after.acquire_timeouts > before.acquire_timeouts,
        "acquire_timeouts should count the timeout: {before:?} -> {after:?}"
    );
    assert!(
        after.wait_count > before.wait_count,
        "wait_count should count the wait: {after:?}"
    );
    for tx in held {
        ok("rollback held", tx.rollback().await);
    }
    let row = ok("query after release", db.query_one("SELECT 1", &[]).await);
    assert_eq!(ok("1", row.get::<i64>(0)), 1);
    assert_pool_idle(db, "after the pool timeout").await;
}
