//! Cancellation: a caller's future dropped while its statement runs on a worker thread
//! interrupts that statement, so the worker, the connection and SQLite's locks are free
//! again at once. The interrupt must reach only the cancelled statement, never the next
//! job on the same connection.
//!
//! The bounds are generous: "within 5 s" where the cancelled statement would run for
//! minutes.

use std::time::{Duration, Instant};

use db_sqlite::{Database, Executor, SqliteConfig, SqliteDatabase, TxOptions};

/// Runs for minutes unless interrupted (10^9 recursion steps).
const LONG: &str = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r \
     WHERE i < 1000000000) SELECT count(*) FROM r";

/// Inserts rows for minutes unless interrupted.
const LONG_INSERT: &str = "INSERT INTO w (id) WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL \
     SELECT i + 1 FROM r WHERE i < 1000000000) SELECT i FROM r";

/// How long something the cancellation frees may take (the cancelled statement would
/// run for minutes).
const PROMPT: Duration = Duration::from_secs(5);

/// How long a cancelled statement runs before its caller gives up.
const CANCEL_AFTER: Duration = Duration::from_millis(200);

fn file_config(tag: &str, conns: u32) -> SqliteConfig {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("db-sqlite-cancel-{}-{tag}-{n}", std::process::id()));
    let mut cfg = SqliteConfig::default();
    cfg.file_path = dir.join("app.db").to_string_lossy().into_owned();
    cfg.max_open_conns = conns;
    cfg.max_idle_conns = conns;
    cfg
}

fn cleanup(cfg: &SqliteConfig) {
    if let Some(dir) = std::path::Path::new(&cfg.file_path).parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Waits (up to [`PROMPT`]) until no connection is in use.
async fn assert_idle_soon(db: &SqliteDatabase, what: &str) {
    let started = Instant::now();
    loop {
        let stats = db.stats();
        if stats.in_use == 0 {
            return;
        }
        assert!(
            started.elapsed() < PROMPT,
            "{what}: a connection is still in use after {PROMPT:?}: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn ids(db: &SqliteDatabase, table: &str) -> Vec<i64> {
    let rows = tokio::time::timeout(
        PROMPT,
        db.query(&format!("SELECT id FROM {table} ORDER BY id"), &[]),
    )
    .await
    .expect("reading the table in time")
    .expect("reading the table");
    rows.iter().map(|r| r.get::<i64>(0).expect("id")).collect()
}

/// A tiny deterministic generator (xorshift64*), so the test needs no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_statement_in_a_transaction_is_interrupted_and_rolled_back() {
    let cfg = file_config("tx", 2);
    let db = SqliteDatabase::connect(&cfg).await.unwrap();
    db.execute("CREATE TABLE c (id INTEGER)", &[])
        .await
        .unwrap();

    let t = db.begin(TxOptions::new()).await.unwrap();
    t.execute("INSERT INTO c VALUES (1)", &[]).await.unwrap();
    let cancelled = tokio::time::timeout(CANCEL_AFTER, t.query(LONG, &[])).await;
    assert!(
        cancelled.is_err(),
        "the long query cannot finish: {cancelled:?}"
    );
    drop(t);

    // The write lock is free: without the interrupt this waits for the long query (or
    // fails with Busy after the 30 s busy timeout).
    let started = Instant::now();
    let next = tokio::time::timeout(PROMPT, db.execute("INSERT INTO c VALUES (2)", &[])).await;
    assert!(
        matches!(next, Ok(Ok(1))),
        "the next write should succeed at once; got {next:?} after {:?}",
        started.elapsed()
    );
    assert_eq!(ids(&db, "c").await, [2], "the transaction was rolled back");
    assert_idle_soon(&db, "after the cancelled transaction").await;
    db.close(Duration::from_secs(1)).await.unwrap();
    cleanup(&cfg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_kept_after_a_cancelled_statement_is_rolled_back_and_refuses_work() {
    let cfg = file_config("tx-kept", 2);
    let db = SqliteDatabase::connect(&cfg).await.unwrap();
    db.execute("CREATE TABLE c (id INTEGER)", &[])
        .await
        .unwrap();

    // The handle stays alive: the rollback must not wait for it to be dropped.
    let mut t = db.begin(TxOptions::new()).await.unwrap();
    t.execute("INSERT INTO c VALUES (1)", &[]).await.unwrap();
    {
        let sp = t.savepoint().await.unwrap();
        sp.execute("INSERT INTO c VALUES (2)", &[]).await.unwrap();
        let cancelled = tokio::time::timeout(CANCEL_AFTER, sp.query(LONG, &[])).await;
        assert!(
            cancelled.is_err(),
            "the long query cannot finish: {cancelled:?}"
        );
    }
    let next = tokio::time::timeout(PROMPT, db.execute("INSERT INTO c VALUES (3)", &[])).await;
    assert!(
        matches!(next, Ok(Ok(1))),
        "another connection can write at once; got {next:?}"
    );
    assert_idle_soon(&db, "with the transaction handle still alive").await;

    // The transaction refuses further work and commits nothing.
    let more = tokio::time::timeout(PROMPT, t.execute("INSERT INTO c VALUES (4)", &[]))
        .await
        .expect("refused at once");
    assert!(
        more.is_err(),
        "the cancelled transaction ran a statement: {more:?}"
    );
    let commit = tokio::time::timeout(PROMPT, t.commit())
        .await
        .expect("commit answers at once");
    assert!(commit.is_err(), "a cancelled transaction must not commit");
    assert_eq!(ids(&db, "c").await, [3]);
    db.close(Duration::from_secs(1)).await.unwrap();
    cleanup(&cfg);
}

/// SQLite ends a transaction by itself when it interrupts a write in it; a statement
/// still queued for that transaction must not then run outside it (committed at once).
/// The same holds for a transaction ended by SQL run through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_runs_outside_a_transaction_that_ended_underneath() {
    let cfg = file_config("underneath", 1);
    let db = SqliteDatabase::connect(&cfg).await.unwrap();
    db.execute("CREATE TABLE c (id INTEGER)", &[])
        .await
        .unwrap();
    let t = db.begin(TxOptions::new()).await.unwrap();
    t.execute("INSERT INTO c VALUES (1)", &[]).await.unwrap();
    t.execute_batch("ROLLBACK").await.unwrap();
    let next = t.execute("INSERT INTO c VALUES (2)", &[]).await;
    assert!(next.is_err(), "ran outside the transaction: {next:?}");
    assert!(t.commit().await.is_err(), "nothing to commit");
    assert_eq!(ids(&db, "c").await, Vec::<i64>::new());
    assert_idle_soon(&db, "after the transaction").await;
    db.close(Duration::from_secs(1)).await.unwrap();
    cleanup(&cfg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_pool_statement_frees_the_only_connection() {
    let cfg = file_config("pool", 1);
    let db = SqliteDatabase::connect(&cfg).await.unwrap();

    // A query (tried inline first, then handed to the worker).
    let cancelled = tokio::time::timeout(CANCEL_AFTER, db.query(LONG, &[])).await;
    assert!(
        cancelled.is_err(),
        "the long query cannot finish: {cancelled:?}"
    );
    let started = Instant::now();
    let one = tokio::time::timeout(PROMPT, db.query_one("SELECT 1", &[])).await;
    let one = match one {
        Ok(Ok(row)) => row.get::<i64>(0).unwrap(),
        other => panic!(
            "SELECT 1 should succeed at once; got {other:?} after {:?}, {:?}",
            started.elapsed(),
            db.stats()
        ),
    };
    assert_eq!(one, 1);
    assert_idle_soon(&db, "after a cancelled query").await;

    // A streaming query.
    let mut seen = 0u64;
    let mut count = |_row: db_sqlite::Row| {
        seen += 1;
        Ok(())
    };
    let cancelled = tokio::time::timeout(
        CANCEL_AFTER,
        Executor::for_each_row(&db, LONG, &[], &mut count),
    )
    .await;
    assert!(
        cancelled.is_err(),
        "the long query cannot finish: {cancelled:?}"
    );
    assert_idle_soon(&db, "after a cancelled streaming query").await;

    // A long write: interrupted, its statement is undone and the connection stays clean.
    db.execute("CREATE TABLE w (id INTEGER)", &[])
        .await
        .unwrap();
    let cancelled = tokio::time::timeout(CANCEL_AFTER, db.execute(LONG_INSERT, &[])).await;
    assert!(
        cancelled.is_err(),
        "the long insert cannot finish: {cancelled:?}"
    );
    let next = tokio::time::timeout(PROMPT, db.execute("INSERT INTO w VALUES (7)", &[])).await;
    assert!(matches!(next, Ok(Ok(1))), "the next write: {next:?}");
    assert_eq!(
        ids(&db, "w").await,
        [7],
        "the interrupted insert left no row"
    );
    assert_idle_soon(&db, "after a cancelled write").await;
    assert_eq!(db.stats().discarded, 0, "{:?}", db.stats());

    db.close(Duration::from_secs(1)).await.unwrap();
    cleanup(&cfg);
}

/// `count(*)` of an `n`-step recursion: long enough (more than 1000 VM instructions) for
/// the progress handler to look at it, short enough to finish in about a millisecond.
fn counting(n: u64) -> String {
    format!(
        "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < {n}) \
         SELECT count(*) FROM r"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancels_never_reach_the_next_statement_on_the_connection() {
    let cfg = file_config("race", 1);
    let db = SqliteDatabase::connect(&cfg).await.unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut finished, mut cancelled) = (0, 0);
    let started = Instant::now();
    for i in 0..600 {
        if i % 10 == 0 {
            // A long query, cancelled at a random point.
            let limit = Duration::from_micros(rng.below(3000));
            let r = tokio::time::timeout(limit, db.query(LONG, &[])).await;
            assert!(r.is_err(), "the long query cannot finish: {r:?}");
            continue;
        }
        let n = 1000 + rng.below(20_000);
        let sql = counting(n);
        let result = if rng.below(3) == 0 {
            // Not cancelled: must succeed (the bound only catches a stuck connection).
            Some(
                tokio::time::timeout(PROMPT, db.query_one(&sql, &[]))
                    .await
                    .unwrap_or_else(|_| panic!("query {i} took over {PROMPT:?}: {:?}", db.stats())),
            )
        } else {
            // Cancelled around the time it takes, so that some finish just before.
            let limit = Duration::from_micros(rng.below(4000));
            tokio::time::timeout(limit, db.query_one(&sql, &[]))
                .await
                .ok()
        };
        match result {
            Some(row) => {
                let row = row.unwrap_or_else(|e| panic!("query {i} (not cancelled) failed: {e}"));
                assert_eq!(row.get::<i64>(0).unwrap(), i64::try_from(n).unwrap());
                finished += 1;
            }
            None => cancelled += 1,
        }
    }
    assert!(
        finished > 100 && cancelled > 100,
        "{finished} finished, {cancelled} cancelled"
    );

    // The same inside transactions: a statement that finished is kept and its
    // transaction commits; a cancelled one rolls its transaction back.
    db.execute("CREATE TABLE t (id INTEGER)", &[])
        .await
        .unwrap();
    let mut committed = Vec::new();
    for id in 0..200i64 {
        let tx = tokio::time::timeout(PROMPT, db.begin(TxOptions::new()))
            .await
            .expect("begin in time")
            .expect("begin");
        let sql = counting(1000 + rng.below(20_000));
        let limit = Duration::from_micros(rng.below(4000));
        let done = tokio::time::timeout(limit, tx.query_one(&sql, &[])).await;
        match done {
            Ok(row) => {
                row.unwrap_or_else(|e| panic!("transaction {id}: the finished query failed: {e}"));
                tx.execute("INSERT INTO t VALUES ($1)", &db_sqlite::params![id])
                    .await
                    .unwrap_or_else(|e| {
                        panic!("transaction {id}: insert after a finished query: {e}")
                    });
                tx.commit()
                    .await
                    .unwrap_or_else(|e| panic!("transaction {id}: commit: {e}"));
                committed.push(id);
            }
            Err(_) => {
                if id % 2 == 0 {
                    drop(tx);
                } else {
                    // Whether or not the answer had arrived, nothing is left open.
                    let _ = tx.commit().await;
                }
            }
        }
    }
    assert_eq!(ids(&db, "t").await, committed);
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "took {:?}",
        started.elapsed()
    );
    assert_idle_soon(&db, "after the loops").await;
    db.close(Duration::from_secs(1)).await.unwrap();
    cleanup(&cfg);
}
