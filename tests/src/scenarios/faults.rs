//! Network and server faults, injected for real against the PostgreSQL and MySQL test
//! servers: sessions terminated by the server while idle in the pool, and a
//! [`FaultProxy`] between a pool of the scenario's own and the server (partition, cut
//! mid-result, cut and refuse as in a server restart, a COMMIT whose connection dies).
//!
//! Each scenario takes the harness's database (a fresh schema / database on the server)
//! and opens a second pool, the *victim*, on the same schema / database, with small
//! timeouts, directly or through a proxy. Faults touch only the victim's own connections
//! (`pg_terminate_backend` / `KILL` of a session the victim reported, the proxy's
//! sockets); the servers themselves are never stopped or paused.
//!
//! SQLite has no network connection: every scenario prints a note and checks nothing.
//!
//! Timings are asserted only as "finished within its timeout plus generous slack".

use std::sync::Arc;
use std::time::{Duration, Instant};

use dbcore::{Database, DatabaseType, Error, ErrorKind, Executor, TxOptions, Value};

use crate::fault_proxy::FaultProxy;
use crate::harness::unique_name;
use crate::support::{assert_pool_idle, count, create_simple_table, drop_tables, eventually, ok};

/// Added to every bound: the machine may be loaded (2 cores, other suites running).
const SLACK: Duration = Duration::from_secs(3);

/// The server under test, or `None` (after printing why) for a backend without a
/// network connection.
fn server_driver(db: &dyn Database, scenario: &str) -> Option<DatabaseType> {
    match db.database_type() {
        t @ (DatabaseType::Postgres | DatabaseType::Mysql) => Some(t),
        other => {
            eprintln!(
                "note: fault scenario `{scenario}` skipped on {other}: it has no network \
                 connection to fault (nothing was checked)"
            );
            None
        }
    }
}

/// How to open the victim pool.
#[derive(Debug, Clone, Copy)]
struct VictimOptions {
    max_open: u32,
    /// The configured `timeout` (connect and acquire deadline).
    timeout: Duration,
    /// `healthCheckInterval` (zero: no background check).
    health_interval: Duration,
}

impl VictimOptions {
    fn new(max_open: u32) -> Self {
        VictimOptions {
            max_open,
            timeout: Duration::from_secs(2),
            health_interval: Duration::ZERO,
        }
    }

    fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn health_interval(mut self, interval: Duration) -> Self {
        self.health_interval = interval;
        self
    }
}

/// Where the test server of `driver` listens.
fn server_address(driver: DatabaseType) -> (String, u16) {
    match driver {
        DatabaseType::Postgres => {
            let cfg = crate::postgres::server_config();
            (cfg.host, cfg.port)
        }
        DatabaseType::Mysql => {
            let cfg = crate::mysql::server_config();
            (cfg.host, cfg.port)
        }
        other => unreachable!("no server for {other}"),
    }
}

/// A proxy in front of the test server of `driver`.
async fn proxy_for(driver: DatabaseType) -> FaultProxy {
    let (host, port) = server_address(driver);
    FaultProxy::start_to(&host, port)
        .await
        .unwrap_or_else(|e| panic!("cannot start a fault proxy to {host}:{port}: {e}"))
}

/// Opens the victim pool on the same schema (PostgreSQL) or database (MySQL) as `admin`,
/// directly or through `proxy`.
async fn open_victim(
    admin: &dyn Database,
    proxy: Option<&FaultProxy>,
    o: VictimOptions,
) -> Arc<dyn Database> {
    ok(
        "opening the victim pool",
        try_open_victim(admin, proxy, o).await,
    )
}

/// [`open_victim`], returning the connect error.
async fn try_open_victim(
    admin: &dyn Database,
    proxy: Option<&FaultProxy>,
    o: VictimOptions,
) -> Result<Arc<dyn Database>, Error> {
    let driver = admin.database_type();
    let (host, port) = match proxy {
        Some(p) => (p.addr().ip().to_string(), p.addr().port()),
        None => server_address(driver),
    };
    match driver {
        DatabaseType::Postgres => {
            let schema: String = ok(
                "reading the test schema",
                ok(
                    "SELECT current_schema()",
                    admin.query_one("SELECT current_schema()", &[]).await,
                )
                .get(0),
            );
            let cfg = crate::postgres::server_config()
                .with_host(host)
                .with_port(port)
                .with_max_open_conns(o.max_open)
                .with_max_idle_conns(o.max_open)
                .with_timeout(o.timeout)
                .with_max_retries(0)
                .with_health_check_interval(o.health_interval);
            let options = db_postgres::PgOptions::new()
                .application_name(unique_name("dbl_fault"))
                .search_path([schema]);
            let db = db_postgres::PgDatabase::connect_with(&cfg, options).await?;
            Ok(Arc::new(db))
        }
        DatabaseType::Mysql => {
            let name: String = ok(
                "reading the test database",
                ok(
                    "SELECT DATABASE()",
                    admin.query_one("SELECT DATABASE()", &[]).await,
                )
                .get(0),
            );
            let cfg = crate::mysql::server_config()
                .with_name(name)
                .with_host(host)
                .with_port(port)
                .with_max_open_conns(o.max_open)
                .with_max_idle_conns(o.max_open)
                .with_timeout(o.timeout)
                .with_max_retries(0)
                .with_health_check_interval(o.health_interval);
            let db = db_mysql::MySqlDatabase::connect(&cfg).await?;
            Ok(Arc::new(db))
        }
        other => unreachable!("no server for {other}"),
    }
}

/// The server's id of the session running the query (PostgreSQL backend pid, MySQL
/// connection id).
fn session_id_sql(driver: DatabaseType) -> &'static str {
    match driver {
        DatabaseType::Postgres => "SELECT CAST(pg_backend_pid() AS BIGINT) AS id",
        _ => "SELECT CONNECTION_ID() AS id",
    }
}

/// The session id of the connection `db` runs the query on.
async fn session_id(db: &dyn Executor, driver: DatabaseType) -> Result<i64, Error> {
    db.query_one(session_id_sql(driver), &[]).await?.get(0)
}

/// Ends session `id` on the server, from `admin`'s connection.
async fn kill_session(admin: &dyn Database, id: i64) {
    let sql = match admin.database_type() {
        DatabaseType::Postgres => format!("SELECT pg_terminate_backend({id})"),
        _ => format!("KILL CONNECTION {id}"),
    };
    match admin.database_type() {
        DatabaseType::Postgres => {
            let row = ok(&sql, admin.query_one(&sql, &[]).await);
            let killed: bool = ok("reading pg_terminate_backend", row.get(0));
            assert!(killed, "pg_terminate_backend({id}) found no such backend");
        }
        _ => {
            ok(&sql, admin.execute(&sql, &[]).await);
        }
    }
}

/// Whether session `id` still exists on the server.
async fn session_exists(admin: &dyn Database, id: i64) -> bool {
    let sql = match admin.database_type() {
        DatabaseType::Postgres => format!("SELECT count(*) FROM pg_stat_activity WHERE pid = {id}"),
        _ => format!("SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID = {id}"),
    };
    let row = ok(&sql, admin.query_one(&sql, &[]).await);
    ok("reading the session count", row.get::<i64>(0)) > 0
}

/// Waits (at most `limit`) until session `id` is gone from the server.
async fn wait_session_gone(admin: &dyn Database, id: i64, limit: Duration) {
    let deadline = Instant::now() + limit;
    while session_exists(admin, id).await {
        assert!(
            Instant::now() < deadline,
            "session {id} still exists on the server after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A statement that runs for `secs` seconds on the server.
fn sleep_sql(driver: DatabaseType, secs: u32) -> String {
    match driver {
        DatabaseType::Postgres => format!("SELECT pg_sleep({secs})"),
        _ => format!("SELECT SLEEP({secs})"),
    }
}

/// Runs `fut`, failing the scenario if it has not finished after `limit` (a hang).
#[track_caller]
fn bounded<F: std::future::Future>(
    what: &str,
    limit: Duration,
    fut: F,
) -> impl std::future::Future<Output = (F::Output, Duration)> {
    let what = what.to_owned();
    let caller = std::panic::Location::caller();
    async move {
        let started = Instant::now();
        match tokio::time::timeout(limit, fut).await {
            Ok(out) => (out, started.elapsed()),
            Err(_) => panic!("{what} did not finish within {limit:?}: it hangs (at {caller})"),
        }
    }
}

/// Runs `sql` on `db` until it succeeds: at most `allowed_failures` failures, each of
/// kind `ConnectionLost` (a dead connection handed out once, then discarded), before a
/// success. Returns the errors seen.
async fn recovers(
    db: &dyn Database,
    sql: &str,
    allowed_failures: usize,
    context: &str,
) -> Vec<Error> {
    let mut failures = Vec::new();
    loop {
        let (result, _) = bounded(
            &format!("{context}: `{sql}`"),
            SLACK * 3,
            db.query(sql, &[]),
        )
        .await;
        match result {
            Ok(_) => return failures,
            Err(e) => {
                assert_eq!(
                    e.kind(),
                    ErrorKind::ConnectionLost,
                    "{context}: `{sql}` failed with kind {} instead of succeeding or \
                     reporting a lost connection: {e} ({e:?})",
                    e.kind()
                );
                failures.push(e);
                assert!(
                    failures.len() <= allowed_failures,
                    "{context}: `{sql}` failed {} times in a row (at most {allowed_failures} \
                     dead connections could be handed out): {:?}",
                    failures.len(),
                    failures.iter().map(ToString::to_string).collect::<Vec<_>>()
                );
            }
        }
    }
}

/// Polls `health()` (each call bounded) until it is healthy or `limit` passes.
async fn healthy_within(db: &dyn Database, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    loop {
        let (report, _) = bounded("health()", SLACK * 3, db.health()).await;
        if report.healthy {
            return Some(started.elapsed());
        }
        if started.elapsed() >= limit {
            eprintln!("health still unhealthy after {limit:?}: {report:?}");
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether the background health check records `ok` (a success when true, a failure
/// when false) within `limit`.
async fn background_check_is(db: &dyn Database, ok: bool, limit: Duration) -> bool {
    eventually(limit, || db.last_health_check().is_some_and(|c| c.ok == ok)).await
}

fn show(e: &Error) -> String {
    format!("kind {}: {e}", e.kind())
}

fn assert_stats_consistent(db: &dyn Database, max_open: u32, context: &str) {
    let s = db.stats();
    assert_eq!(
        s.open,
        s.in_use + s.idle,
        "{context}: pool counters are inconsistent (open != in_use + idle): {s:?}"
    );
    assert!(
        s.open <= max_open,
        "{context}: more than max_open open: {s:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 1. Sessions ended by the server while idle in the pool
// ---------------------------------------------------------------------------------------

/// Every idle pooled session is terminated by the server (`pg_terminate_backend`,
/// `KILL CONNECTION`). The next queries succeed, or each dead connection fails once with
/// `ConnectionLost` and is discarded; none is handed out twice; `health()` is healthy
/// and the pool counters stay consistent.
pub async fn idle_sessions_killed_by_the_server(admin: &dyn Database) {
    let Some(driver) = server_driver(admin, "idle_sessions_killed_by_the_server") else {
        return;
    };
    const POOL: u32 = 2;
    let victim = open_victim(admin, None, VictimOptions::new(POOL)).await;
    // Two connections open and idle: two transactions at once, ended.
    let a = ok("begin a", victim.begin(TxOptions::new()).await);
    let b = ok("begin b", victim.begin(TxOptions::new()).await);
    let killed = [
        ok("session id a", session_id(&*a, driver).await),
        ok("session id b", session_id(&*b, driver).await),
    ];
    ok("commit a", a.commit().await);
    ok("commit b", b.commit().await);
    assert_pool_idle(&*victim, "before the kill").await;
    let before = victim.stats();
    assert_eq!(
        before.idle, POOL,
        "both sessions idle in the pool: {before:?}"
    );

    for id in killed {
        kill_session(admin, id).await;
    }
    for id in killed {
        wait_session_gone(admin, id, Duration::from_secs(5)).await;
    }

    let mut failures = Vec::new();
    let mut seen = Vec::new();
    for round in 0..(POOL as usize + 3) {
        let (result, _) = bounded(
            "query after the kill",
            SLACK * 3,
            session_id(&*victim, driver),
        )
        .await;
        match result {
            Ok(id) => {
                assert!(
                    !killed.contains(&id),
                    "round {round}: a query ran on killed session {id}"
                );
                seen.push(id);
            }
            Err(e) => {
                assert_eq!(
                    e.kind(),
                    ErrorKind::ConnectionLost,
                    "round {round}: a killed idle connection must fail as ConnectionLost: {}",
                    show(&e)
                );
                failures.push(show(&e));
            }
        }
    }
    assert!(
        failures.len() <= POOL as usize,
        "more failures than killed connections: {failures:?}"
    );
    // A dead connection fails at most once: the last rounds all succeed.
    assert!(
        seen.len() >= 3,
        "the pool did not recover: {failures:?}, sessions {seen:?}"
    );
    eprintln!(
        "{driver}: after killing {POOL} idle sessions: {} failed first use(s) {failures:?}; \
         then sessions {seen:?}; stats {:?}",
        failures.len(),
        victim.stats()
    );
    assert_pool_idle(&*victim, "after the kill").await;
    assert_stats_consistent(&*victim, POOL, "after the kill");
    let s = victim.stats();
    let closed = s.max_idle_closed + s.max_idle_time_closed + s.max_lifetime_closed + s.discarded;
    assert_eq!(
        s.opened_total - u64::from(s.open),
        closed,
        "every connection closed since it opened is counted in one closed counter: {s:?}"
    );
    let report = victim.health().await;
    assert!(report.healthy, "health after the kill: {report:?}");
    ok(
        "closing the victim",
        victim.close(Duration::from_secs(5)).await,
    );
}

/// The server ends an idle session by its own idle timeout (PostgreSQL
/// `idle_session_timeout`, MySQL `wait_timeout`, both set for that one session). The
/// next query succeeds, or fails once with `ConnectionLost` and the one after succeeds.
pub async fn idle_session_timed_out_by_the_server(admin: &dyn Database) {
    let Some(driver) = server_driver(admin, "idle_session_timed_out_by_the_server") else {
        return;
    };
    let victim = open_victim(admin, None, VictimOptions::new(1)).await;
    let id = ok("session id", session_id(&*victim, driver).await);
    match driver {
        DatabaseType::Postgres => {
            // Session state persists on a pooled PostgreSQL connection (no reset on
            // return), and the pool has this one connection.
            ok(
                "SET idle_session_timeout",
                victim.execute("SET idle_session_timeout = 500", &[]).await,
            );
        }
        _ => {
            // The layer resets a session whose state a statement changed, so the
            // setting goes through the raw pool, with that checkout's reset turned off.
            use db_mysql::mysql_async::prelude::Queryable;
            let my = victim
                .as_any()
                .downcast_ref::<db_mysql::MySqlDatabase>()
                .expect("a MySqlDatabase");
            let mut conn = my
                .pool()
                .get_conn()
                .await
                .unwrap_or_else(|e| panic!("raw checkout: {e}"));
            assert_eq!(i64::from(conn.id()), id, "the pool's one connection");
            conn.query_drop("SET SESSION wait_timeout = 1")
                .await
                .unwrap_or_else(|e| panic!("SET wait_timeout: {e}"));
            conn.reset_connection(false);
            drop(conn);
        }
    }
    // The server closes the session once it has been idle that long.
    wait_session_gone(admin, id, Duration::from_secs(8)).await;
    let failures = recovers(
        &*victim,
        session_id_sql(driver),
        1,
        "after the idle timeout",
    )
    .await;
    eprintln!(
        "{driver}: session {id} ended by the server's idle timeout: first use {}; stats {:?}",
        match failures.first() {
            None => "succeeded".to_owned(),
            Some(e) => format!("failed ({})", show(e)),
        },
        victim.stats()
    );
    let now = ok("session id after", session_id(&*victim, driver).await);
    assert_ne!(now, id, "the timed-out session cannot still be in use");
    assert_pool_idle(&*victim, "after the idle timeout").await;
    assert_stats_consistent(&*victim, 1, "after the idle timeout");
    assert!(victim.health().await.healthy);
    ok(
        "closing the victim",
        victim.close(Duration::from_secs(5)).await,
    );
}

// ---------------------------------------------------------------------------------------
// 2. Through the fault proxy
// ---------------------------------------------------------------------------------------

/// Opens a victim pool through a new proxy, for the partition scenarios.
async fn partitionable(
    admin: &dyn Database,
    driver: DatabaseType,
    o: VictimOptions,
) -> (FaultProxy, Arc<dyn Database>) {
    let proxy = proxy_for(driver).await;
    let victim = open_victim(admin, Some(&proxy), o).await;
    ok("warm-up", victim.query("SELECT 1", &[]).await);
    (proxy, victim)
}

/// The bound on a transaction with a deadline on a partitioned connection: its
/// deadline, plus the driver's bound on the clean-up the server cannot answer
/// (PostgreSQL: 1 s for the cancel request and rollback; MySQL: the `KILL QUERY`
/// connection's `timeout`, then 2 s for the killed statement to report), plus slack.
fn partitioned_tx_bound(tx_timeout: Duration, timeout: Duration) -> Duration {
    tx_timeout + timeout + Duration::from_secs(2) + SLACK
}

/// A partition (the proxy stops forwarding, sockets stay open) under a transaction
/// with a deadline: at `BEGIN`, at a statement, at `COMMIT`. Each ends with an error
/// within its deadline plus the driver's clean-up bound instead of hanging:
/// - `BEGIN` and a statement: `Timeout`;
/// - `COMMIT`: `CommitOutcomeUnknown` (the COMMIT was sent; held back by the
///   partition, it may still arrive).
///
/// After each, the partition heals and the pool works.
pub async fn partition_under_a_transaction_deadline(admin: &dyn Database) {
    let Some(driver) = server_driver(admin, "partition_under_a_transaction_deadline") else {
        return;
    };
    const POOL: u32 = 2;
    let timeout = Duration::from_secs(1);
    let tx_timeout = Duration::from_millis(500);
    let bound = partitioned_tx_bound(tx_timeout, timeout);
    let (proxy, victim) =
        partitionable(admin, driver, VictimOptions::new(POOL).timeout(timeout)).await;
    let t = unique_name("partition");
    create_simple_table(admin, &t).await;
    let options = TxOptions::new().timeout(tx_timeout);

    // BEGIN on a partitioned connection.
    proxy.blackhole();
    let (result, took) = bounded(
        "BEGIN during a partition",
        bound + SLACK,
        victim.begin(options.clone()),
    )
    .await;
    let e = match result {
        Ok(_) => panic!("BEGIN succeeded through a partition"),
        Err(e) => e,
    };
    eprintln!(
        "{driver}: BEGIN with a {tx_timeout:?} deadline during a partition: {} after {took:?}",
        show(&e)
    );
    assert_eq!(e.kind(), ErrorKind::Timeout, "{}", show(&e));
    assert!(took <= bound, "BEGIN took {took:?} (bound {bound:?})");
    proxy.resume().await;
    recovers(
        &*victim,
        "SELECT 1",
        POOL as usize,
        "after BEGIN's partition",
    )
    .await;

    // A statement inside the transaction.
    let tx = ok("begin", victim.begin(options.clone()).await);
    proxy.blackhole();
    let (result, took) = bounded(
        "a statement during a partition",
        bound + SLACK,
        tx.query("SELECT 1", &[]),
    )
    .await;
    let e = match result {
        Ok(_) => panic!("a statement answered through a partition"),
        Err(e) => e,
    };
    eprintln!(
        "{driver}: statement in a transaction with a {tx_timeout:?} deadline during a partition: {} after {took:?}",
        show(&e)
    );
    assert_eq!(e.kind(), ErrorKind::Timeout, "{}", show(&e));
    assert!(
        took <= bound,
        "the statement took {took:?} (bound {bound:?})"
    );
    let (commit, took) = bounded("commit after the timeout", bound, tx.commit()).await;
    match commit {
        Ok(()) => panic!("a timed-out transaction committed"),
        Err(e) => {
            eprintln!("{driver}: commit after that: {} after {took:?}", show(&e));
            assert_eq!(e.kind(), ErrorKind::Timeout, "{}", show(&e));
        }
    }
    proxy.resume().await;
    recovers(
        &*victim,
        "SELECT 1",
        POOL as usize,
        "after the statement's partition",
    )
    .await;

    // COMMIT on a partitioned connection.
    let tx = ok("begin", victim.begin(options.clone()).await);
    ok(
        "insert",
        tx.execute(
            &format!("INSERT INTO {t} (id, name) VALUES ($1, $2)"),
            &[Value::from(1_i64), Value::from("partitioned commit")],
        )
        .await,
    );
    proxy.blackhole();
    let (result, took) = bounded("COMMIT during a partition", bound + SLACK, tx.commit()).await;
    let e = match result {
        Ok(()) => panic!("COMMIT answered through a partition"),
        Err(e) => e,
    };
    eprintln!(
        "{driver}: COMMIT with a {tx_timeout:?} deadline during a partition: {} after {took:?}",
        show(&e)
    );
    assert!(took <= bound, "COMMIT took {took:?} (bound {bound:?})");
    assert_eq!(e.kind(), ErrorKind::CommitOutcomeUnknown, "{}", show(&e));
    assert!(
        e.to_string().contains("unknown"),
        "a COMMIT without an answer must not claim an outcome: {e}"
    );
    proxy.resume().await;
    recovers(
        &*victim,
        "SELECT 1",
        POOL as usize,
        "after COMMIT's partition",
    )
    .await;
    // The COMMIT held back by the partition may arrive once it heals.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let committed = count(admin, &t, "id = 1").await;
    eprintln!(
        "{driver}: after the partition healed, the COMMIT sent into it was {}applied",
        if committed == 1 { "" } else { "not " }
    );

    assert_pool_idle(&*victim, "after the partitions").await;
    assert_stats_consistent(&*victim, POOL, "after the partitions");
    let (closed, _) = bounded("close", SLACK * 2, victim.close(Duration::from_secs(2))).await;
    ok("closing the victim", closed);
    drop(proxy);
    drop_tables(admin, &[&t]).await;
}

/// A partition seen by the health checks and by plain statements:
/// - `health()` reports unhealthy within the configured `timeout`, and the background
///   health check records the failure;
/// - a plain statement (which has no deadline of its own) is abandoned by its caller;
///   its connection is not reused;
/// - after the partition heals, queries work again (a dead connection may fail once as
///   `ConnectionLost`), `health()` is healthy within a couple of seconds, and so is the
///   background check.
pub async fn partition_health_and_recovery(admin: &dyn Database) {
    let Some(driver) = server_driver(admin, "partition_health_and_recovery") else {
        return;
    };
    const POOL: u32 = 2;
    let timeout = Duration::from_secs(1);
    let interval = Duration::from_millis(200);
    let (proxy, victim) = partitionable(
        admin,
        driver,
        VictimOptions::new(POOL)
            .timeout(timeout)
            .health_interval(interval),
    )
    .await;
    assert!(
        background_check_is(&*victim, true, Duration::from_secs(5)).await,
        "the background health check never succeeded: {:?}",
        victim.last_health_check()
    );

    proxy.blackhole();

    let (report, took) = bounded(
        "health() during a partition",
        timeout + SLACK * 2,
        victim.health(),
    )
    .await;
    eprintln!("{driver}: health() during a partition after {took:?}: {report:?}");
    assert!(!report.healthy, "healthy through a partition: {report:?}");
    assert!(
        took <= timeout + SLACK,
        "health() took {took:?}; its bound is the configured timeout {timeout:?}"
    );
    let flagged = background_check_is(&*victim, false, timeout + interval + SLACK).await;
    assert!(
        flagged,
        "the background health check still reports the last success during a \
         partition: {:?}",
        victim.last_health_check()
    );

    // A plain statement has no deadline of its own: the caller gives up.
    let discarded_before = victim.stats().discarded;
    let patience = timeout + Duration::from_millis(500);
    let plain = tokio::time::timeout(patience, victim.query("SELECT 1", &[])).await;
    match &plain {
        Ok(Ok(_)) => panic!("a query answered through a partition"),
        Ok(Err(e)) => eprintln!(
            "{driver}: plain query during a partition failed: {}",
            show(e)
        ),
        Err(_) => {
            eprintln!(
                "{driver}: plain query during a partition was still waiting after \
                 {patience:?} (plain statements have no deadline); abandoned by the caller"
            );
            // Dropped mid-statement: that connection is closed, not reused.
            let discarded = eventually(SLACK, || victim.stats().discarded > discarded_before).await;
            assert!(
                discarded,
                "a connection abandoned mid-statement was not discarded: {:?}",
                victim.stats()
            );
        }
    }

    proxy.resume().await;
    let failures = recovers(
        &*victim,
        "SELECT 1",
        POOL as usize,
        "after the partition healed",
    )
    .await;
    let healthy = healthy_within(&*victim, SLACK).await;
    eprintln!(
        "{driver}: after the partition healed: {} failure(s) {:?}; healthy after {healthy:?}; stats {:?}",
        failures.len(),
        failures.iter().map(show).collect::<Vec<_>>(),
        victim.stats()
    );
    assert!(
        healthy.is_some(),
        "health() did not recover after the partition"
    );
    assert!(
        background_check_is(&*victim, true, SLACK).await,
        "the background health check did not recover: {:?}",
        victim.last_health_check()
    );
    assert_pool_idle(&*victim, "after the partition").await;
    assert_stats_consistent(&*victim, POOL, "after the partition");
    let (closed, _) = bounded(
        "close after the partition",
        SLACK * 2,
        victim.close(Duration::from_secs(2)),
    )
    .await;
    ok("closing the victim", closed);
}

/// A checkout that has to open a connection through a partition (the pool's
/// connections were reset, the new one's handshake gets no answer) fails within the
/// configured `timeout` as a connect failure, not as `PoolTimeout` ("raise
/// maxOpenConns"): the pool was not exhausted, the server did not answer.
pub async fn connect_through_a_partition_is_a_connect_failure(admin: &dyn Database) {
    let Some(driver) = server_driver(admin, "connect_through_a_partition_is_a_connect_failure")
    else {
        return;
    };
    const POOL: u32 = 2;
    let timeout = Duration::from_secs(1);
    let (proxy, victim) =
        partitionable(admin, driver, VictimOptions::new(POOL).timeout(timeout)).await;
    proxy.blackhole();
    proxy.cut_all();
    // Wait until the pool's connection has seen its reset.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for what in ["query", "health"] {
        let (e, took) = match what {
            "query" => {
                let (r, took) = bounded(
                    "a query needing a new connection",
                    timeout + SLACK * 2,
                    victim.query("SELECT 1", &[]),
                )
                .await;
                match r {
                    Ok(_) => panic!("a query succeeded through a partition"),
                    Err(e) => (e.kind(), (e.to_string(), took)),
                }
            }
            _ => {
                let (report, took) =
                    bounded("health()", timeout + SLACK * 2, victim.health()).await;
                assert!(!report.healthy, "{report:?}");
                (
                    report.error_kind.expect("an unhealthy report has a kind"),
                    (report.error.unwrap_or_default(), took),
                )
            }
        };
        let (text, took) = took;
        eprintln!(
            "{driver}: {what} needing a new connection through a partition: kind {e}: {text} after {took:?}"
        );
        assert_eq!(e, ErrorKind::Connect, "{what}: {text}");
        assert!(took <= timeout + SLACK, "{what} took {took:?}");
    }
    let stats = victim.stats();
    assert_eq!(stats.acquire_timeouts, 0, "not pool timeouts: {stats:?}");
    proxy.resume().await;
    recovers(&*victim, "SELECT 1", POOL as usize, "after the partition").await;
    assert!(healthy_within(&*victim, SLACK).await.is_some());
    assert_pool_idle(&*victim, "after the partition").await;
    assert_stats_consistent(&*victim, POOL, "after the partition");
    let (closed, _) = bounded("close", SLACK * 2, victim.close(Duration::from_secs(2))).await;
    ok("closing the victim", closed);
}

/// A connection reset during the connection handshake (a server going down as the
/// pool connects) is a transient connect failure (`Connect`, retried by connect-retry),
/// never a permanent one such as `Tls` or `Authentication`. The reset is placed after
/// 1, 8 and 64 bytes of the server's side of the handshake: for PostgreSQL with TLS,
/// 1 byte is the answer to the SSLRequest, so the reset lands in the TLS handshake.
pub async fn reset_during_the_handshake_is_a_transient_connect_failure(admin: &dyn Database) {
    let Some(driver) = server_driver(
        admin,
        "reset_during_the_handshake_is_a_transient_connect_failure",
    ) else {
        return;
    };
    for at in [1_u64, 8, 64] {
        let proxy = proxy_for(driver).await;
        proxy.cut_after_downstream_bytes(at);
        let (result, took) = bounded(
            "connecting through a reset handshake",
            SLACK * 3,
            try_open_victim(admin, Some(&proxy), VictimOptions::new(1)),
        )
        .await;
        let e = match result {
            Ok(db) => {
                // The handshake was shorter than `at` bytes: nothing to check.
                eprintln!("{driver}: reset after {at} bytes: the handshake had already finished");
                ok("close", db.close(Duration::from_secs(2)).await);
                continue;
            }
            Err(e) => e,
        };
        eprintln!(
            "{driver}: reset after {at} handshake bytes: {} (transient: {}) after {took:?}",
            show(&e),
            e.kind().is_transient_connect()
        );
        assert_eq!(
            e.kind(),
            ErrorKind::Connect,
            "reset after {at} bytes: {}",
            show(&e)
        );
        assert!(e.kind().is_transient_connect());
    }
}

/// A large result whose connection is reset mid-stream: every query method fails (a
/// partial result is never returned as complete), inside a transaction the commit fails
/// and nothing is committed, and the pool recovers with a full result.
pub async fn result_cut_mid_stream(admin: &dyn Database) {
    let Some(driver) = server_driver(admin, "result_cut_mid_stream") else {
        return;
    };
    const ROWS: i64 = 20_000;
    let t = unique_name("cut");
    create_simple_table(admin, &t).await;
    let name = "x".repeat(90);
    let rows: Vec<Vec<Value>> = (1..=ROWS)
        .map(|id| vec![Value::from(id), Value::from(name.as_str())])
        .collect();
    ok(
        "loading rows",
        admin.insert_many(&t, &["id", "name"], rows).await,
    );

    let proxy = proxy_for(driver).await;
    let victim = open_victim(admin, Some(&proxy), VictimOptions::new(1)).await;
    let all = format!("SELECT id, name FROM {t} ORDER BY id");
    let full = ok("the full result", victim.query(&all, &[]).await);
    assert_eq!(full.len() as i64, ROWS);
    const CUT_AT: u64 = 64 * 1024;

    // query: an error, not fewer rows.
    proxy.cut_after_downstream_bytes(CUT_AT);
    let (result, _) = bounded("query cut mid-stream", SLACK * 3, victim.query(&all, &[])).await;
    match result {
        Ok(rows) => panic!(
            "a result cut after {CUT_AT} bytes was returned as complete with {} of {ROWS} rows",
            rows.len()
        ),
        Err(e) => {
            eprintln!("{driver}: query cut mid-stream: {}", show(&e));
            assert_eq!(e.kind(), ErrorKind::ConnectionLost, "{}", show(&e));
        }
    }
    assert!(!proxy.cut_pending(), "the cut did not happen");

    // for_each_row: the rows seen before the cut, then the error.
    proxy.cut_after_downstream_bytes(CUT_AT);
    let mut seen = 0u64;
    let mut each = |_row: dbcore::Row| {
        seen += 1;
        Ok(())
    };
    let (result, _) = bounded(
        "for_each_row cut mid-stream",
        SLACK * 3,
        victim.for_each_row(&all, &[], &mut each),
    )
    .await;
    match result {
        Ok(n) => panic!("for_each_row cut mid-stream reported success with {n} rows"),
        Err(e) => {
            eprintln!(
                "{driver}: for_each_row cut mid-stream after {seen} of {ROWS} rows: {}",
                show(&e)
            );
            assert_eq!(e.kind(), ErrorKind::ConnectionLost, "{}", show(&e));
            assert!(seen < ROWS as u64, "every row arrived before the cut");
        }
    }

    // Inside a transaction: the write before the cut is not committed.
    proxy.cut_after_downstream_bytes(CUT_AT);
    let tx = ok("begin", victim.begin(TxOptions::new()).await);
    ok(
        "insert in the transaction",
        tx.execute(
            &format!("INSERT INTO {t} (id, name) VALUES ($1, $2)"),
            &[Value::from(0_i64), Value::from("in tx")],
        )
        .await,
    );
    let (result, _) = bounded(
        "query in a transaction cut mid-stream",
        SLACK * 3,
        tx.query(&all, &[]),
    )
    .await;
    let e = match result {
        Ok(rows) => panic!(
            "a cut result in a transaction was returned with {} rows",
            rows.len()
        ),
        Err(e) => e,
    };
    assert_eq!(e.kind(), ErrorKind::ConnectionLost, "{}", show(&e));
    let (commit, _) = bounded("commit after the cut", SLACK * 3, tx.commit()).await;
    match commit {
        Ok(()) => panic!("a transaction whose connection was lost committed"),
        Err(e) => eprintln!("{driver}: commit after the cut: {}", show(&e)),
    }
    assert_eq!(
        count(admin, &t, "id = 0").await,
        0,
        "the lost transaction's row"
    );

    // The pool recovers.
    let failures = recovers(&*victim, &all, 1, "after the cuts").await;
    assert!(failures.is_empty() || failures.len() == 1);
    let again = ok(
        "the full result after the cuts",
        victim.query(&all, &[]).await,
    );
    assert_eq!(again.len() as i64, ROWS, "the full result after the cuts");
    assert_pool_idle(&*victim, "after the cuts").await;
    assert_stats_consistent(&*victim, 1, "after the cuts");
    eprintln!("{driver}: after the cuts: stats {:?}", victim.stats());
    ok(
        "closing the victim",
        victim.close(Duration::from_secs(5)).await,
    );
    drop(proxy);
    drop_tables(admin, &[&t]).await;
}

/// A server restart as the network sees it: every connection is reset (one of them in
/// the middle of a statement) and connects are refused for a second, then accepted
/// again. The statement in flight fails at once as `ConnectionLost`; while the server
/// is away queries and `health()` fail within the configured timeout; afterwards the
/// first query works (or fails once as `ConnectionLost`) and health recovers.
pub async fn server_restart_through_the_proxy(admin: &dyn Database) {
    let Some(driver) = server_driver(admin, "server_restart_through_the_proxy") else {
        return;
    };
    const POOL: u32 = 2;
    let timeout = Duration::from_secs(1);
    let interval = Duration::from_millis(200);
    let proxy = proxy_for(driver).await;
    let victim = open_victim(
        admin,
        Some(&proxy),
        VictimOptions::new(POOL)
            .timeout(timeout)
            .health_interval(interval),
    )
    .await;
    // Both connections open.
    let a = ok("begin a", victim.begin(TxOptions::new()).await);
    let b = ok("begin b", victim.begin(TxOptions::new()).await);
    ok("commit a", a.commit().await);
    ok("commit b", b.commit().await);

    let sleeper = {
        let victim = Arc::clone(&victim);
        let sql = sleep_sql(driver, 5);
        tokio::spawn(async move {
            let started = Instant::now();
            let r = victim.query(&sql, &[]).await;
            (r, started)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    proxy.refuse_new().await;
    proxy.cut_all();
    let down = Instant::now();

    let (joined, _) = bounded("the statement in flight at the cut", SLACK * 2, sleeper).await;
    let (result, _) = joined.expect("the sleeper task");
    match result {
        Ok(_) => panic!("a statement whose connection was reset succeeded"),
        Err(e) => {
            eprintln!("{driver}: statement in flight at the cut: {}", show(&e));
            assert_eq!(e.kind(), ErrorKind::ConnectionLost, "{}", show(&e));
        }
    }
    assert!(
        down.elapsed() < Duration::from_secs(4),
        "the reset statement waited for its 5 s sleep instead of failing at once"
    );

    // While the server is away.
    let (result, took) = bounded(
        "a query while refused",
        timeout + SLACK * 2,
        victim.query("SELECT 1", &[]),
    )
    .await;
    match result {
        Ok(_) => panic!("a query succeeded while the server refused connections"),
        Err(e) => {
            eprintln!("{driver}: query while refused: {} after {took:?}", show(&e));
            assert!(
                matches!(e.kind(), ErrorKind::Connect | ErrorKind::ConnectionLost),
                "{}",
                show(&e)
            );
        }
    }
    let (report, took) = bounded(
        "health() while refused",
        timeout + SLACK * 2,
        victim.health(),
    )
    .await;
    eprintln!(
        "{driver}: health() while refused after {took:?}: healthy={} {:?}",
        report.healthy, report.error
    );
    assert!(
        !report.healthy,
        "healthy while the server refused connections"
    );

    // Back after a second.
    let away = Duration::from_secs(1).saturating_sub(down.elapsed());
    tokio::time::sleep(away).await;
    proxy.resume().await;
    let up = Instant::now();
    let failures = recovers(&*victim, "SELECT 1", POOL as usize, "after the restart").await;
    let healthy = healthy_within(&*victim, Duration::from_secs(2) + SLACK).await;
    eprintln!(
        "{driver}: after the restart: {} failure(s) {:?}; healthy after {healthy:?} (first \
         query {:?} after resuming); stats {:?}",
        failures.len(),
        failures.iter().map(show).collect::<Vec<_>>(),
        up.elapsed(),
        victim.stats()
    );
    assert!(
        healthy.is_some(),
        "health() did not recover after the restart"
    );
    assert!(
        background_check_is(&*victim, true, Duration::from_secs(2) + SLACK).await,
        "the background health check did not recover: {:?}",
        victim.last_health_check()
    );
    assert_pool_idle(&*victim, "after the restart").await;
    assert_stats_consistent(&*victim, POOL, "after the restart");
    ok(
        "closing the victim",
        victim.close(Duration::from_secs(5)).await,
    );
}

// ---------------------------------------------------------------------------------------
// 3. A COMMIT whose connection dies in flight
// ---------------------------------------------------------------------------------------

/// What a COMMIT reports when its connection is reset before the answer arrives, in the
/// two cases the client cannot tell apart:
/// - the server received the COMMIT and committed (its answer was held back);
/// - the COMMIT never reached the server (nothing was committed).
///
/// The layer reports the same kind for both (`CommitOutcomeUnknown`): the outcome is
/// unknown to it. The message must not claim that nothing was committed or that the
/// transaction was rolled back.
pub async fn commit_connection_lost_in_flight(admin: &dyn Database) {
    let Some(driver) = server_driver(admin, "commit_connection_lost_in_flight") else {
        return;
    };
    let t = unique_name("commit_lost");
    create_simple_table(admin, &t).await;
    let insert = format!("INSERT INTO {t} (id, name) VALUES ($1, $2)");
    let mut kinds = Vec::new();
    for (case, id, server_gets_commit) in [
        ("COMMIT reached the server, answer lost", 1_i64, true),
        ("COMMIT never reached the server", 2_i64, false),
    ] {
        let proxy = proxy_for(driver).await;
        let victim = open_victim(admin, Some(&proxy), VictimOptions::new(1)).await;
        let tx = ok("begin", victim.begin(TxOptions::new()).await);
        ok(
            "insert",
            tx.execute(&insert, &[Value::from(id), Value::from(case)])
                .await,
        );
        if server_gets_commit {
            proxy.blackhole_downstream();
        } else {
            proxy.blackhole();
        }
        let commit = tokio::spawn(async move { tx.commit().await });
        if server_gets_commit {
            // Cut only once the server has committed.
            let deadline = Instant::now() + Duration::from_secs(5);
            while count(admin, &t, &format!("id = {id}")).await == 0 {
                assert!(
                    Instant::now() < deadline,
                    "{case}: the COMMIT never arrived"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        } else {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        proxy.cut_all();
        let (joined, _) = bounded(&format!("{case}: commit"), SLACK * 2, commit).await;
        let e = match joined.expect("the commit task") {
            Ok(()) => panic!("{case}: commit succeeded although its connection was reset"),
            Err(e) => e,
        };
        let committed = count(admin, &t, &format!("id = {id}")).await == 1;
        assert_eq!(
            committed, server_gets_commit,
            "{case}: committed on the server"
        );
        eprintln!(
            "{driver}: {case}: commit returned {} (retryable: {}); committed on the server: {committed}",
            show(&e),
            e.is_retryable()
        );
        let text = e.to_string().to_lowercase();
        assert!(
            !text.contains("nothing was committed") && !text.contains("rolled back"),
            "{case}: the message claims an outcome the layer cannot know: {e}"
        );
        kinds.push(e.kind());
        ok(
            "closing the victim",
            victim.close(Duration::from_secs(5)).await,
        );
    }
    assert_eq!(
        kinds[0], kinds[1],
        "the two cases are indistinguishable to the client and should report the same kind"
    );
    assert_eq!(kinds[0], ErrorKind::CommitOutcomeUnknown);

    // The server ends the transaction's session before COMMIT is sent: nothing is
    // committed, and the commit fails as ConnectionLost, or as CommitOutcomeUnknown where
    // the driver learns of the closed session only from the COMMIT itself.
    let victim = open_victim(admin, None, VictimOptions::new(1)).await;
    let tx = ok("begin", victim.begin(TxOptions::new()).await);
    ok(
        "insert",
        tx.execute(&insert, &[Value::from(3_i64), Value::from("killed")])
            .await,
    );
    let id = ok("session id", session_id(&*tx, driver).await);
    kill_session(admin, id).await;
    wait_session_gone(admin, id, Duration::from_secs(5)).await;
    let (commit, _) = bounded("commit on a killed session", SLACK * 2, tx.commit()).await;
    let e = match commit {
        Ok(()) => panic!("commit succeeded on a session the server had ended"),
        Err(e) => e,
    };
    eprintln!(
        "{driver}: COMMIT after the server ended the session: {}",
        show(&e)
    );
    // PostgreSQL's client knows the session is gone and sends nothing ("nothing was
    // committed"); mysql_async finds out only when COMMIT is on the wire, and then the
    // layer cannot tell a lost answer from a COMMIT that never arrived.
    assert!(
        matches!(
            e.kind(),
            ErrorKind::ConnectionLost | ErrorKind::CommitOutcomeUnknown
        ),
        "{}",
        show(&e)
    );
    assert_eq!(
        count(admin, &t, "id = 3").await,
        0,
        "the killed transaction's row"
    );
    let failures = recovers(&*victim, "SELECT 1", 1, "after the killed transaction").await;
    assert!(failures.len() <= 1);
    assert_pool_idle(&*victim, "after the killed transaction").await;
    assert_stats_consistent(&*victim, 1, "after the killed transaction");
    ok(
        "closing the victim",
        victim.close(Duration::from_secs(5)).await,
    );
    drop_tables(admin, &[&t]).await;
}
