//! MySQL / MariaDB under network faults, through the conformance suite's fault proxy
//! (`tests/src/fault_proxy.rs`, the same source) in front of the real test server
//! (`DB_TEST_MYSQL_URL`, default `mysql://root@127.0.0.1:3306/test`).
//!
//! These reproduce, for MySQL only, bugs the conformance fault scenarios
//! (`tests/src/scenarios/faults.rs`) found: partitions under `begin`, `commit` and
//! `health()`, a connect through a partition, and sessions found dead at checkout.

#![allow(clippy::unwrap_used)] // tests may panic on failure

#[allow(unreachable_pub, dead_code)]
#[path = "../../../tests/src/fault_proxy.rs"]
mod fault_proxy;

use std::time::{Duration, Instant};

use db_mysql::{Database, ErrorKind, Executor, MySqlConfig, MySqlDatabase, TxOptions, Value};
use dbcore::Secret;
use fault_proxy::FaultProxy;

/// Added to every bound: the machine may be loaded.
const SLACK: Duration = Duration::from_secs(3);

fn server() -> (String, u16, String, String, String) {
    let url = std::env::var("DB_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned());
    let rest = url
        .strip_prefix("mysql://")
        .or_else(|| url.strip_prefix("mariadb://"))
        .expect("DB_TEST_MYSQL_URL must start with mysql://");
    let rest = rest.split('?').next().unwrap_or(rest);
    let (userinfo, hostpart) = rest.rsplit_once('@').unwrap_or(("root", rest));
    let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let (hostport, name) = hostpart.split_once('/').unwrap_or((hostpart, "test"));
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "3306"));
    (
        host.to_owned(),
        port.parse().expect("port"),
        user.to_owned(),
        pass.to_owned(),
        name.to_owned(),
    )
}

fn config(host: &str, port: u16, max_open: u32, timeout: Duration) -> MySqlConfig {
    let (_, _, user, pass, name) = server();
    MySqlConfig::default()
        .with_host(host)
        .with_port(port)
        .with_username(user)
        .with_password(Secret::new(pass))
        .with_name(name)
        .with_max_open_conns(max_open)
        .with_max_idle_conns(max_open)
        .with_max_retries(0)
        .with_timeout(timeout)
        .with_health_check_interval(Duration::ZERO)
}

/// A proxy to the test server and a pool through it (one query run).
async fn through_proxy(
    cfg: impl FnOnce(MySqlConfig) -> MySqlConfig,
) -> (FaultProxy, MySqlDatabase) {
    let (host, port, ..) = server();
    let proxy = FaultProxy::start_to(&host, port).await.unwrap();
    let addr = proxy.addr();
    let cfg = cfg(config(
        &addr.ip().to_string(),
        addr.port(),
        2,
        Duration::from_secs(1),
    ));
    let db = MySqlDatabase::connect(&cfg).await.unwrap();
    db.query("SELECT 1", &[]).await.unwrap();
    (proxy, db)
}

/// Runs `fut`, panicking if it has not finished after `limit`.
async fn bounded<F: std::future::Future>(
    what: &str,
    limit: Duration,
    fut: F,
) -> (F::Output, Duration) {
    let started = Instant::now();
    match tokio::time::timeout(limit, fut).await {
        Ok(out) => (out, started.elapsed()),
        Err(_) => panic!("{what} did not finish within {limit:?}: it hangs"),
    }
}

/// `START TRANSACTION` is sent without the transaction's deadline, so `begin` with a
/// timeout on a partitioned connection waits until TCP gives up (with a blackhole that
/// keeps acknowledging: forever) instead of failing with `Timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn begin_during_a_partition_ends_at_the_deadline() {
    // One connection: begin gets the idle one (it does not open another).
    let (proxy, db) = through_proxy(|c| c.with_max_open_conns(1).with_max_idle_conns(1)).await;
    let tx_timeout = Duration::from_millis(500);
    proxy.blackhole();
    let bound = tx_timeout + Duration::from_secs(1) + Duration::from_secs(2) + SLACK;
    let (result, took) = bounded(
        "begin during a partition",
        bound,
        db.begin(TxOptions::new().timeout(tx_timeout)),
    )
    .await;
    let Err(e) = result else {
        panic!("begin succeeded through a partition")
    };
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e} after {took:?}");
    proxy.resume().await;
    db.close(Duration::from_secs(2)).await.unwrap();
}

/// COMMIT "runs to completion even past the deadline": on a partitioned connection that
/// is never. It should give up some bounded time after the deadline, close the
/// connection and say that the outcome is unknown (`ConnectionLost`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_during_a_partition_ends() {
    let (proxy, db) = through_proxy(|c| c).await;
    let t = format!("dbm_fault_commit_{}", std::process::id());
    db.execute(
        &format!("CREATE TABLE {t} (id INT PRIMARY KEY, name VARCHAR(40))"),
        &[],
    )
    .await
    .unwrap();
    let tx_timeout = Duration::from_millis(500);
    let tx = db
        .begin(TxOptions::new().timeout(tx_timeout))
        .await
        .unwrap();
    tx.execute(
        &format!("INSERT INTO {t} (id, name) VALUES ($1, $2)"),
        &[Value::from(1_i64), Value::from("x")],
    )
    .await
    .unwrap();
    proxy.blackhole();
    let bound = tx_timeout + Duration::from_secs(1) + SLACK;
    let started = Instant::now();
    let outcome = tokio::time::timeout(bound, tx.commit()).await;
    let took = started.elapsed();
    // Clean up before asserting, over a connection of its own (not through the proxy).
    proxy.resume().await;
    let (host, port, ..) = server();
    let direct = MySqlDatabase::connect(&config(&host, port, 1, Duration::from_secs(5)))
        .await
        .unwrap();
    let dropped = direct
        .execute_batch(&format!(
            "SET SESSION lock_wait_timeout = 10; DROP TABLE IF EXISTS {t}"
        ))
        .await;
    direct.close(Duration::from_secs(2)).await.unwrap();
    let e = match outcome {
        Err(_) => panic!("COMMIT during a partition did not finish within {bound:?}: it hangs"),
        Ok(Ok(())) => panic!("COMMIT answered through a partition"),
        Ok(Err(e)) => e,
    };
    assert_eq!(e.kind(), ErrorKind::ConnectionLost, "{e} after {took:?}");
    assert!(e.to_string().contains("unknown"), "{e}");
    dropped.unwrap();
    db.close(Duration::from_secs(2)).await.unwrap();
}

/// `ping` (and so `health()` and the background health check) waits for the server's
/// answer without a deadline: during a partition `health()` never returns, and
/// `last_health_check()` keeps reporting the last success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_during_a_partition_is_bounded() {
    let interval = Duration::from_millis(200);
    let (proxy, db) = through_proxy(|c| c.with_health_check_interval(interval)).await;
    let deadline = Instant::now() + SLACK;
    while !db.last_health_check().is_some_and(|c| c.ok) {
        assert!(Instant::now() < deadline, "no successful background check");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.blackhole();
    let (report, _) = bounded(
        "health() during a partition",
        Duration::from_secs(1) + SLACK,
        db.health(),
    )
    .await;
    assert!(!report.healthy, "{report:?}");
    let deadline = Instant::now() + Duration::from_secs(1) + interval + SLACK;
    while db.last_health_check().is_none_or(|c| c.ok) {
        assert!(
            Instant::now() < deadline,
            "the background check still reports success during a partition: {:?}",
            db.last_health_check()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.resume().await;
    db.close(Duration::from_secs(2)).await.unwrap();
}

/// A checkout that must open a connection, and whose connect gets no answer, fails
/// after `timeout` as `PoolTimeout` ("raise maxOpenConns") although the pool was not
/// exhausted: it should be a connect failure (`ErrorKind::Connect`), as on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_through_a_partition_is_a_connect_failure() {
    let (proxy, db) = through_proxy(|c| c).await;
    proxy.blackhole();
    proxy.cut_all();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (result, took) = bounded(
        "a query needing a new connection",
        Duration::from_secs(1) + SLACK,
        db.query("SELECT 1", &[]),
    )
    .await;
    let e = result.expect_err("a query succeeded through a partition");
    assert_eq!(e.kind(), ErrorKind::Connect, "{e} after {took:?}");
    assert_eq!(db.stats().acquire_timeouts, 0, "{:?}", db.stats());
    proxy.resume().await;
    db.close(Duration::from_secs(2)).await.unwrap();
}

/// Idle sessions the server ended (`KILL CONNECTION`) are dropped by mysql_async's
/// liveness check at checkout, and new ones opened; `PoolStats` counts them as
/// discarded, so `opened_total - open` is the sum of the closed counters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_found_dead_at_checkout_are_counted() {
    let (host, port, ..) = server();
    let db = MySqlDatabase::connect(&config(&host, port, 1, Duration::from_secs(5)))
        .await
        .unwrap();
    let admin = MySqlDatabase::connect(&config(&host, port, 1, Duration::from_secs(5)))
        .await
        .unwrap();
    let id: i64 = db
        .query_one("SELECT CONNECTION_ID()", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    admin
        .execute(&format!("KILL CONNECTION {id}"), &[])
        .await
        .unwrap();
    let deadline = Instant::now() + SLACK;
    loop {
        let n: i64 = admin
            .query_one(
                &format!("SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID = {id}"),
                &[],
            )
            .await
            .unwrap()
            .get(0)
            .unwrap();
        if n == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "session {id} still there");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let now: i64 = db
        .query_one("SELECT CONNECTION_ID()", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_ne!(now, id);
    let s = db.stats();
    let closed = s.max_idle_closed + s.max_idle_time_closed + s.max_lifetime_closed + s.discarded;
    assert_eq!(
        s.opened_total - u64::from(s.open),
        closed,
        "every closed connection is counted somewhere: {s:?}"
    );
    db.close(Duration::from_secs(2)).await.unwrap();
    admin.close(Duration::from_secs(2)).await.unwrap();
}
