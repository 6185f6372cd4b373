//! SQLite-specific behaviour: PRAGMAs, the shared in-memory database, the inline read
//! path's limits, lock waits off the executor, and connection hygiene.

use std::sync::Arc;
use std::time::{Duration, Instant};

use db_sqlite::{
    Database, ErrorKind, Executor, SqliteConfig, SqliteDatabase, TxOptions, Value, params,
};

fn temp_path(tag: &str) -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir()
        .join(format!("db-sqlite-test-{}-{tag}-{n}", std::process::id()))
        .join("app.db")
}

fn file_config(tag: &str) -> SqliteConfig {
    let mut cfg = SqliteConfig::default();
    cfg.file_path = temp_path(tag).to_string_lossy().into_owned();
    cfg
}

/// A file database in rollback-journal mode (another process's exclusive lock keeps
/// readers out) with `conns` pooled connections.
fn rollback_journal_config(tag: &str, conns: u32) -> SqliteConfig {
    let mut cfg = file_config(tag);
    cfg.journal_mode = dbcore::JournalMode::Delete;
    cfg.max_open_conns = conns;
    cfg.max_idle_conns = conns;
    cfg
}

/// Checks that `reader` (a `count(*)` of one row) is still waiting for the lock `other`
/// holds, then releases the lock and checks what the read returns.
async fn released_read_counts_one(
    reader: tokio::task::JoinHandle<db_sqlite::Result<Vec<db_sqlite::Row>>>,
    other: &db_sqlite::rusqlite::Connection,
) {
    if reader.is_finished() {
        let early = reader.await.expect("the read task");
        panic!("the read should be waiting for the lock; it returned {early:?}");
    }
    other.execute_batch("COMMIT").expect("releasing the lock");
    let rows = reader.await.expect("the read task").expect("the read");
    assert_eq!(rows[0].get::<i64>(0).expect("the count"), 1);
}

fn cleanup(cfg: &SqliteConfig) {
    if let Some(dir) = std::path::Path::new(&cfg.file_path).parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pragmas_are_applied_to_every_connection() {
    let mut cfg = file_config("pragmas");
    cfg.max_open_conns = 3;
    cfg.max_idle_conns = 3;
    cfg.cache_size = -4096;
    let db = SqliteDatabase::connect(&cfg).await.unwrap();
    // Hold two transactions so that three different connections answer.
    let t1 = db.begin(TxOptions::read_only_tx()).await.unwrap();
    let t2 = db.begin(TxOptions::read_only_tx()).await.unwrap();
    for exec in [&t1 as &dyn Executor, &t2, &db] {
        let row = exec.query_one("PRAGMA journal_mode", &[]).await.unwrap();
        assert_eq!(row.get::<String>(0).unwrap().to_lowercase(), "wal");
        let row = exec.query_one("PRAGMA foreign_keys", &[]).await.unwrap();
        assert_eq!(row.get::<i64>(0).unwrap(), 1);
        let row = exec.query_one("PRAGMA cache_size", &[]).await.unwrap();
        assert_eq!(row.get::<i64>(0).unwrap(), -4096);
        let row = exec.query_one("PRAGMA synchronous", &[]).await.unwrap();
        assert_eq!(row.get::<i64>(0).unwrap(), 1, "NORMAL");
        let row = exec.query_one("PRAGMA busy_timeout", &[]).await.unwrap();
        assert_eq!(row.get::<i64>(0).unwrap(), 30_000);
    }
    drop((t1, t2));
    db.close(Duration::from_secs(1)).await.unwrap();
    cleanup(&cfg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_database_is_shared_by_the_whole_pool() {
    let mut cfg = SqliteConfig::default();
    cfg.file_path = ":memory:".into();
    cfg.max_open_conns = 4;
    cfg.max_idle_conns = 0;
    let db = SqliteDatabase::connect(&cfg).await.unwrap();
    db.execute("CREATE TABLE shared (id INTEGER PRIMARY KEY)", &[])
        .await
        .unwrap();
    db.execute("INSERT INTO shared (id) VALUES (1)", &[])
        .await
        .unwrap();
    // Three transactions pin three connections; each sees the table.
    let mut txs = Vec::new();
    for _ in 0..3 {
        txs.push(db.begin(TxOptions::read_only_tx()).await.unwrap());
    }
    for tx in &txs {
        let n: i64 = tx
            .query_one("SELECT count(*) FROM shared", &[])
            .await
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(n, 1);
    }
    drop(txs);
    // Two databases opened with ":memory:" are distinct.
    let other = SqliteDatabase::connect(&cfg).await.unwrap();
    let err = other.query("SELECT * FROM shared", &[]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Syntax, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_transaction_returns_a_clean_connection() {
    let mut cfg = file_config("clean");
    cfg.max_open_conns = 1;
    cfg.max_idle_conns = 1;
    let db = SqliteDatabase::connect(&cfg).await.unwrap();
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)", &[])
        .await
        .unwrap();
    let tx = db.begin(TxOptions::new()).await.unwrap();
    tx.execute("INSERT INTO t (id) VALUES (1)", &[])
        .await
        .unwrap();
    drop(tx);
    // The only connection is back, outside any transaction, and not read-only.
    let autocommit = db.with_connection(|c| Ok(c.is_autocommit())).await.unwrap();
    assert!(autocommit);
    let n: i64 = db
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 0);

    let ro = db.begin(TxOptions::read_only_tx()).await.unwrap();
    drop(ro);
    db.execute("INSERT INTO t (id) VALUES (2)", &[])
        .await
        .unwrap();
    cleanup(&cfg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_begin_through_a_script_never_leaks_into_the_pool() {
    let mut cfg = file_config("leak");
    cfg.max_open_conns = 1;
    cfg.max_idle_conns = 1;
    let db = SqliteDatabase::connect(&cfg).await.unwrap();
    db.execute_batch("CREATE TABLE t (id INTEGER); BEGIN; INSERT INTO t VALUES (1);")
        .await
        .unwrap();
    // The connection left inside a transaction was discarded, not reused.
    assert!(db.stats().discarded >= 1, "{:?}", db.stats());
    let n: i64 = db
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 0);
    cleanup(&cfg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_concurrent_writers_never_see_busy() {
    let cfg = file_config("writers");
    let db = Arc::new(SqliteDatabase::connect(&cfg).await.unwrap());
    db.execute("CREATE TABLE w (task INTEGER, i INTEGER)", &[])
        .await
        .unwrap();
    let mut handles = Vec::new();
    for task in 0..32 {
        let db = Arc::clone(&db);
        handles.push(tokio::spawn(async move {
            for i in 0..25 {
                db.execute("INSERT INTO w (task, i) VALUES ($1, $2)", &params![task, i])
                    .await?;
            }
            let tx = db.begin(TxOptions::new()).await?;
            let n: i64 = tx
                .query_one("SELECT count(*) FROM w WHERE task = $1", &params![task])
                .await?
                .get(0)?;
            tx.execute("INSERT INTO w (task, i) VALUES ($1, $2)", &params![task, n])
                .await?;
            tx.commit().await
        }));
    }
    for h in handles {
        h.await.unwrap().unwrap();
    }
    let n: i64 = db
        .query_one("SELECT count(*) FROM w", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 32 * 26);
    cleanup(&cfg);
}

#[tokio::test(flavor = "current_thread")]
async fn lock_waits_do_not_block_the_executor() {
    // Rollback-journal mode: an exclusive lock held by another process keeps readers out.
    let mut cfg = file_config("lockwait");
    cfg.journal_mode = "delete".parse().unwrap();
    let db = SqliteDatabase::connect(&cfg).await.unwrap();
    db.execute("CREATE TABLE t (id INTEGER)", &[])
        .await
        .unwrap();
    db.execute("INSERT INTO t VALUES (1)", &[]).await.unwrap();
    let other = db_sqlite::rusqlite::Connection::open(&cfg.file_path).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let reader = {
        let db = db.clone();
        tokio::spawn(async move { db.query("SELECT count(*) FROM t", &[]).await })
    };
    // On this single-threaded runtime, a ticker keeps running while the read waits.
    let started = Instant::now();
    let mut ticks = 0;
    while started.elapsed() < Duration::from_millis(300) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        ticks += 1;
    }
    assert!(ticks >= 10, "the executor was blocked: {ticks} ticks");
    released_read_counts_one(reader, &other).await;
    cleanup(&cfg);
}

#[tokio::test(flavor = "current_thread")]
async fn a_read_on_a_stale_schema_waits_for_the_lock_instead_of_missing_the_table() {
    // Both pooled connections load the schema; another process then creates the table
    // and holds an exclusive lock. Preparing the read must re-read the schema, which
    // waits for the lock: the read succeeds once the lock is released, rather than
    // failing at once with "no such table".
    let cfg = rollback_journal_config("staleschema", 2);
    let db = SqliteDatabase::connect(&cfg).await.unwrap();
    // Two read-only transactions at once hold both connections.
    let first = db.begin(TxOptions::read_only_tx()).await.unwrap();
    let second = db.begin(TxOptions::read_only_tx()).await.unwrap();
    for tx in [&first, &second] {
        tx.query_one("SELECT count(*) FROM sqlite_master", &[])
            .await
            .unwrap();
    }
    first.commit().await.unwrap();
    second.commit().await.unwrap();
    assert_eq!(db.stats().open, 2);

    let other = db_sqlite::rusqlite::Connection::open(&cfg.file_path).unwrap();
    other
        .execute_batch("CREATE TABLE t (id INTEGER); INSERT INTO t VALUES (1); BEGIN EXCLUSIVE")
        .unwrap();
    let reader = {
        let db = db.clone();
        tokio::spawn(async move { db.query("SELECT count(*) FROM t", &[]).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    released_read_counts_one(reader, &other).await;
    // A table that really is missing is still reported as missing.
    let e = db.query("SELECT * FROM missing", &[]).await.unwrap_err();
    assert!(e.to_string().contains("no such table: missing"), "{e}");
    cleanup(&cfg);
}

#[tokio::test(flavor = "current_thread")]
async fn a_stale_schema_locked_past_the_timeout_is_reported_as_the_lock() {
    // As above, but the other process keeps its lock past the busy timeout: SQLite
    // answers "no such table" from the old schema; the layer reports the lock instead.
    let mut cfg = rollback_journal_config("stalelocked", 1);
    cfg.timeout = Duration::from_millis(300);
    let db = SqliteDatabase::connect(&cfg).await.unwrap();
    db.query_one("SELECT count(*) FROM sqlite_master", &[])
        .await
        .unwrap();
    let other = db_sqlite::rusqlite::Connection::open(&cfg.file_path).unwrap();
    other
        .execute_batch("CREATE TABLE t (id INTEGER); BEGIN EXCLUSIVE")
        .unwrap();
    let e = db.query("SELECT count(*) FROM t", &[]).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Busy, "{e}");
    assert!(e.is_retryable(), "{e}");
    assert!(e.to_string().contains("no such table: t"), "{e}");
    other.execute_batch("COMMIT").unwrap();
    // Once the lock is gone, the same connection sees the table.
    let rows = db.query("SELECT count(*) FROM t", &[]).await.unwrap();
    assert_eq!(rows[0].get::<i64>(0).unwrap(), 0);
    cleanup(&cfg);
}

#[tokio::test(flavor = "current_thread")]
async fn long_reads_leave_the_executor_for_a_worker() {
    let mut cfg = SqliteConfig::default();
    cfg.file_path = ":memory:".into();
    let db = SqliteDatabase::connect(&cfg).await.unwrap();
    let sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT count(*) FROM c";
    let query = {
        let db = db.clone();
        tokio::spawn(async move { db.query_one(sql, &[]).await })
    };
    let started = Instant::now();
    let mut ticks = 0;
    while !query.is_finished() && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(5)).await;
        ticks += 1;
    }
    let row = query.await.unwrap().unwrap();
    assert_eq!(row.get::<i64>(0).unwrap(), 3_000_000);
    assert!(
        ticks >= 5,
        "the executor was blocked while the query ran: {ticks} ticks"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_timeout_interrupts_a_running_statement() {
    let mut cfg = SqliteConfig::default();
    cfg.file_path = ":memory:".into();
    let db = SqliteDatabase::connect(&cfg).await.unwrap();
    let tx = db
        .begin(TxOptions::new().timeout(Duration::from_millis(200)))
        .await
        .unwrap();
    let started = Instant::now();
    let err = tx
        .query_one(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) SELECT count(*) FROM c",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The transaction refuses further work; the pool is usable at once.
    assert_eq!(
        tx.execute("SELECT 1", &[]).await.unwrap_err().kind(),
        ErrorKind::Timeout
    );
    drop(tx);
    let v: i64 = db
        .query_one("SELECT $1", &[Value::Int(5)])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(v, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_path_fails_with_the_file_named() {
    let mut cfg = SqliteConfig::default();
    cfg.file_path = "/proc/definitely/not/writable/app.db".into();
    let err = SqliteDatabase::connect(&cfg).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("/proc/definitely/not/writable"), "{msg}");
    assert_eq!(err.kind(), ErrorKind::UnknownDatabase, "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_file_path_is_created() {
    let dir = temp_path("default");
    let dir = dir.parent().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let mut cfg = SqliteConfig::default();
    cfg.file_path = dir.join("data/app.db").to_string_lossy().into_owned();
    let db = SqliteDatabase::connect(&cfg).await.unwrap();
    db.ping().await.unwrap();
    assert!(dir.join("data/app.db").exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_stops_when_the_callback_fails() {
    let mut cfg = SqliteConfig::default();
    cfg.file_path = ":memory:".into();
    cfg.max_open_conns = 1;
    cfg.max_idle_conns = 1;
    let db = SqliteDatabase::connect(&cfg).await.unwrap();
    let sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000) SELECT x FROM c";
    let mut seen = 0u64;
    let err = db
        .for_each_row(sql, &[], &mut |row| {
            seen += 1;
            if row.get::<i64>(0)? == 1000 {
                return Err(db_sqlite::Error::Unsupported("stop here".into()));
            }
            Ok(())
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("stop here"));
    assert_eq!(seen, 1000);
    // The only connection is free again.
    let mut total = 0u64;
    let n = db
        .for_each_row(sql, &[], &mut |_| {
            total += 1;
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!((n, total), (100_000, 100_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_their_lifetime_or_idle_time_are_replaced() {
    let mut cfg = file_config("lifetime");
    cfg.max_open_conns = 2;
    cfg.max_idle_conns = 1;
    cfg.conn_max_lifetime = Duration::from_millis(300);
    cfg.conn_max_idle_time = Duration::ZERO;
    let db = SqliteDatabase::connect(&cfg).await.unwrap();
    db.execute("CREATE TABLE t (id INTEGER)", &[])
        .await
        .unwrap();
    let opened = db.stats().opened_total;
    tokio::time::sleep(Duration::from_millis(400)).await;
    db.execute("INSERT INTO t VALUES (1)", &[]).await.unwrap();
    db.query("SELECT * FROM t", &[]).await.unwrap();
    let stats = db.stats();
    assert!(stats.max_lifetime_closed >= 1, "{stats:?}");
    assert!(stats.opened_total > opened, "{stats:?}");
    cleanup(&cfg);

    let mut cfg = file_config("idletime");
    cfg.max_open_conns = 2;
    cfg.max_idle_conns = 1;
    cfg.conn_max_lifetime = Duration::ZERO;
    cfg.conn_max_idle_time = Duration::from_millis(200);
    let db = SqliteDatabase::connect(&cfg).await.unwrap();
    db.execute("CREATE TABLE t (id INTEGER)", &[])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    db.query("SELECT count(*) FROM t", &[]).await.unwrap();
    let stats = db.stats();
    assert!(stats.max_idle_time_closed >= 1, "{stats:?}");
    assert_eq!(stats.max_lifetime_closed, 0, "{stats:?}");
    cleanup(&cfg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_transaction_retry_reruns_retryable_failures_only() {
    use db_sqlite::{Error, with_transaction_retry};
    use dbcore::{DatabaseType, RetryPolicy};
    use std::sync::atomic::{AtomicU32, Ordering};

    let mut cfg = SqliteConfig::default();
    cfg.file_path = ":memory:".into();
    let db = SqliteDatabase::connect(&cfg).await.unwrap();
    db.execute("CREATE TABLE r (attempt INTEGER)", &[])
        .await
        .unwrap();
    let policy = RetryPolicy::new(5, Duration::from_millis(1));

    let attempts = AtomicU32::new(0);
    let n = with_transaction_retry(&db, TxOptions::new(), &policy, |tx| {
        let attempt = attempts.fetch_add(1, Ordering::SeqCst) + 1;
        Box::pin(async move {
            tx.execute("INSERT INTO r (attempt) VALUES ($1)", &params![attempt])
                .await?;
            if attempt < 3 {
                return Err(Error::database(
                    DatabaseType::Sqlite,
                    ErrorKind::Busy,
                    None,
                    "simulated lock conflict",
                    None,
                ));
            }
            Ok(attempt)
        })
    })
    .await
    .unwrap();
    assert_eq!(n, 3);
    // Only the successful attempt's insert survives.
    let rows = db.query("SELECT attempt FROM r", &[]).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<i64>(0).unwrap(), 3);

    // A non-retryable error ends it after one attempt.
    let attempts = AtomicU32::new(0);
    let err: Error = with_transaction_retry(&db, TxOptions::new(), &policy, |tx| {
        attempts.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            tx.execute("INSERT INTO missing_table VALUES (1)", &[])
                .await?;
            Ok(())
        })
    })
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Syntax);
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
}

/// `query_one` / `query_opt` read at most one row without building a list, on every
/// path: inline, on a worker (another operation is in progress), and in a transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_row_queries_refuse_a_second_row_on_every_path() {
    let cfg = file_config("single-row");
    let db = SqliteDatabase::connect(&cfg).await.unwrap();
    db.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1), (2);")
        .await
        .unwrap();
    let check = |label: &'static str| {
        move |one: db_sqlite::Result<db_sqlite::Row>,
              two: db_sqlite::Result<db_sqlite::Row>,
              none: db_sqlite::Result<Option<db_sqlite::Row>>,
              many: db_sqlite::Result<Option<db_sqlite::Row>>| {
            assert_eq!(one.unwrap().get::<i64>("id").unwrap(), 1, "{label}");
            assert_eq!(two.unwrap_err().kind(), ErrorKind::TooManyRows, "{label}");
            assert!(none.unwrap().is_none(), "{label}");
            assert_eq!(many.unwrap_err().kind(), ErrorKind::TooManyRows, "{label}");
        }
    };
    let one = "SELECT id FROM t WHERE id = 1";
    let all = "SELECT id FROM t ORDER BY id";
    let empty = "SELECT id FROM t WHERE id = 3";

    // Nothing else in progress: the inline path.
    check("inline")(
        db.query_one(one, &[]).await,
        db.query_one(all, &[]).await,
        db.query_opt(empty, &[]).await,
        db.query_opt(all, &[]).await,
    );

    // While another operation is in progress, reads go to a worker.
    let slow = {
        let db = db.clone();
        tokio::spawn(async move {
            db.query_one(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000000) \
                 SELECT count(*) FROM c",
                &[],
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    check("worker")(
        db.query_one(one, &[]).await,
        db.query_one(all, &[]).await,
        db.query_opt(empty, &[]).await,
        db.query_opt(all, &[]).await,
    );
    assert!(
        !slow.is_finished(),
        "the checks above must overlap the slow query"
    );
    slow.abort();

    let tx = db.begin(TxOptions::read_only_tx()).await.unwrap();
    check("transaction")(
        tx.query_one(one, &[]).await,
        tx.query_one(all, &[]).await,
        tx.query_opt(empty, &[]).await,
        tx.query_opt(all, &[]).await,
    );
    assert_eq!(tx.query(all, &[]).await.unwrap().len(), 2);
    tx.rollback().await.unwrap();
    assert_eq!(db.query(all, &[]).await.unwrap().len(), 2);
    db.close(Duration::from_secs(1)).await.unwrap();
    cleanup(&cfg);
}

/// The typed reads of `query_one_as` (integers, reals and text read without a `Value`)
/// give the right values and errors; a second row stops the query, inline and on a
/// worker. That they agree with the `Value` path for every common column type and
/// requested type, inline and on a worker, is the conformance scenario
/// `typed_reads_agree_with_values`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_reads_give_the_right_values() {
    let mut cfg = SqliteConfig::default();
    cfg.file_path = ":memory:".into();
    let db = SqliteDatabase::connect(&cfg).await.unwrap();
    db.execute("CREATE TABLE log (n INTEGER)", &[])
        .await
        .unwrap();
    // Driver-specific values (the common ones are the conformance scenario's).
    let (n, s): (i64, String) = db
        .query_one_as("SELECT -70000 AS n, 'x' AS s", &[])
        .await
        .unwrap();
    assert_eq!((n, s.as_str()), (-70000, "x"));
    let err = db
        .query_one_as::<(String,)>("SELECT CAST(x'ff' AS TEXT) AS c", &[])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not valid UTF-8"), "{err}");
    // A second row stops the query, inline and on a worker.
    let err = db
        .query_opt_as::<(i64,)>("SELECT 1 UNION ALL SELECT 2", &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooManyRows, "{err}");
    let err = db
        .query_opt_as::<(i64,)>(
            "WITH v(c) AS (VALUES (1), (2)) INSERT INTO log SELECT c FROM v RETURNING n",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooManyRows, "{err}");
    let (n,): (i64,) = db.query_one_as("SELECT 41 + 1", &[]).await.unwrap();
    assert_eq!(n, 42);
}

#[tokio::test(flavor = "current_thread")]
async fn typed_single_row_queries_decode_into_tuples() {
    let mut cfg = SqliteConfig::default();
    cfg.file_path = ":memory:".into();
    let db = SqliteDatabase::connect(&cfg).await.unwrap();
    let (id, name): (i64, String) = db
        .query_one_as("SELECT $1, 'Ada'", &params![7])
        .await
        .unwrap();
    assert_eq!((id, name.as_str()), (7, "Ada"));
    let none: Option<(i64,)> = db.query_opt_as("SELECT 1 WHERE 0", &[]).await.unwrap();
    assert!(none.is_none());
    let err = db
        .query_one_as::<(i64, i64)>("SELECT 1, 'x'", &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
}
