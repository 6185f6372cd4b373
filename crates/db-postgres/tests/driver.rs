//! PostgreSQL-only tests against a real server (`DB_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`). Each test works in a schema of its own,
//! dropped at the end.

#![allow(clippy::unwrap_used)] // tests may panic on failure

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use db_postgres::{
    ConnectOptions, Database, Error, ErrorKind, Executor, ExecutorExt, PgDatabase, PgOptions,
    PostgresConfig, SslMode, Transaction, TxOptions, Value, params,
};
use dbcore::{DatabaseConfig, Driver, Secret};

const URL_ENV: &str = "DB_TEST_POSTGRES_URL";
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// `postgres://user[:password]@host[:port]/database` (no percent-decoding needed for
/// the test servers).
fn base_config() -> PostgresConfig {
    let url = std::env::var(URL_ENV).unwrap_or_else(|_| DEFAULT_URL.to_owned());
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .unwrap_or_else(|| panic!("{URL_ENV} must start with postgres://"));
    let rest = rest.split('?').next().unwrap_or(rest);
    let (userinfo, hostpart) = rest.rsplit_once('@').unwrap_or(("postgres", rest));
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let (hostport, name) = hostpart.split_once('/').unwrap_or((hostpart, "test"));
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().unwrap()),
        None => (hostport, 5432),
    };
    PostgresConfig::default()
        .with_host(host)
        .with_port(port)
        .with_name(name)
        .with_username(user)
        .with_password(Secret::new(password))
        .with_ssl_mode(SslMode::Disable)
        .with_max_retries(0)
        .with_timeout(Duration::from_secs(10))
        .with_health_check_interval(Duration::ZERO)
}

/// Pool sizing for a test: `n` connections, all of which may stay idle.
trait WithPool {
    fn with_pool(self, n: u32) -> Self;
}

impl WithPool for PostgresConfig {
    fn with_pool(self, n: u32) -> Self {
        self.with_max_open_conns(n).with_max_idle_conns(n)
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A schema of its own, dropped by [`Schema::drop_now`].
struct Schema {
    name: String,
    admin: PgDatabase,
}

impl Schema {
    async fn new() -> Schema {
        let name = format!(
            "dbl_pgtest_{}_{}_{:06x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            fastrand_u32()
        );
        let admin = PgDatabase::connect(&base_config().with_pool(2))
            .await
            .unwrap_or_else(|e| {
                panic!("cannot reach the PostgreSQL test server (set {URL_ENV}): {e}")
            });
        admin
            .execute(&format!("CREATE SCHEMA {name}"), &[])
            .await
            .unwrap();
        Schema { name, admin }
    }

    fn options(&self, app: &str) -> PgOptions {
        PgOptions::new()
            .application_name(app)
            .search_path([self.name.clone()])
    }

    async fn connect(&self, cfg: &PostgresConfig, app: &str) -> PgDatabase {
        PgDatabase::connect_with(cfg, self.options(app))
            .await
            .unwrap()
    }

    async fn drop_now(self) {
        self.admin
            .execute_batch(&format!(
                "SET lock_timeout = '10s'; DROP SCHEMA {} CASCADE",
                self.name
            ))
            .await
            .unwrap();
        self.admin.close(Duration::from_secs(5)).await.unwrap();
    }
}

fn fastrand_u32() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    nanos & 0x00ff_ffff
}

fn app_name(test: &str) -> String {
    format!("dbl-{test}-{}", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_transaction_never_returns_inside_a_transaction() {
    let schema = Schema::new().await;
    let db = schema.connect(&base_config().with_pool(1), "drop").await;
    db.execute("CREATE TABLE t (id int4 PRIMARY KEY)", &[])
        .await
        .unwrap();

    // A transaction that wrote (so it has an xid) and is dropped mid-statement.
    let tx = db.begin(TxOptions::new()).await.unwrap();
    tx.execute("INSERT INTO t VALUES (1)", &[]).await.unwrap();
    let slow = tokio::time::timeout(
        Duration::from_millis(50),
        tx.query("SELECT pg_sleep(0.5)", &[]),
    )
    .await;
    assert!(slow.is_err(), "the sleep should have been cut off");
    drop(tx);

    // The next checkout (same single connection) is outside any transaction.
    let row = db
        .query_one("SELECT txid_current_if_assigned() AS x", &[])
        .await
        .unwrap();
    assert_eq!(row.value("x").unwrap(), &Value::Null);
    let n: i64 = db
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 0, "the dropped transaction's insert must be rolled back");

    // A future cancelled while BEGIN READ ONLY is in flight leaves nothing behind either.
    for _ in 0..20 {
        let _ = tokio::time::timeout(
            Duration::from_micros(200),
            db.begin(TxOptions::read_only_tx()),
        )
        .await;
    }
    // Raw probe: SAVEPOINT fails with 25P01 outside a transaction block.
    let client = db.pool().get().await.unwrap();
    let probe = client.batch_execute("SAVEPOINT probe").await.unwrap_err();
    assert_eq!(probe.code().map(|c| c.code()), Some("25P01"), "{probe}");
    let ro = client
        .query_one("SHOW transaction_read_only", &[])
        .await
        .unwrap();
    assert_eq!(ro.get::<_, String>(0), "off");
    drop(client);

    db.close(Duration::from_secs(5)).await.unwrap();
    schema.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_timeout_cancels_the_statement_on_the_server() {
    let schema = Schema::new().await;
    let app = app_name("cancel");
    let db = schema.connect(&base_config().with_pool(2), &app).await;
    let tx = db
        .begin(TxOptions::new().timeout(Duration::from_millis(300)))
        .await
        .unwrap();
    let started = Instant::now();
    let err = tx.query("SELECT pg_sleep(30)", &[]).await.unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    // Later statements and commit report the timeout too.
    let again = tx.query("SELECT 1", &[]).await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Timeout);
    drop(tx);

    // No backend runs the sleep any more.
    let sql = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 \
               AND state = 'active' AND query LIKE '%pg_sleep(30)%'";
    let mut running = -1;
    for _ in 0..50 {
        running = schema
            .admin
            .query_one(sql, &params![app.as_str()])
            .await
            .unwrap()
            .get::<i64>(0)
            .unwrap();
        if running == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        running, 0,
        "the cancelled statement still runs on the server"
    );
    // Both connections are usable and outside a transaction.
    for _ in 0..2 {
        let row = db
            .query_one("SELECT txid_current_if_assigned() AS x", &[])
            .await
            .unwrap();
        assert!(row.value("x").unwrap().is_null());
    }
    db.close(Duration::from_secs(5)).await.unwrap();
    schema.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_transaction_does_not_outlive_its_deadline_on_the_server() {
    let schema = Schema::new().await;
    let app = app_name("idle-deadline");
    let db = schema.connect(&base_config().with_pool(2), &app).await;
    db.execute("CREATE TABLE held (id INTEGER PRIMARY KEY)", &[])
        .await
        .unwrap();
    let tx = db
        .begin(TxOptions::new().timeout(Duration::from_millis(300)))
        .await
        .unwrap();
    tx.execute("INSERT INTO held (id) VALUES (1)", &[])
        .await
        .unwrap();
    let pid: i32 = tx
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    // The client goes quiet, holding the transaction (and its row lock) open.
    let sql = "SELECT count(*) FROM pg_stat_activity WHERE pid = $1";
    let mut alive = -1;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        alive = schema
            .admin
            .query_one(sql, &params![pid])
            .await
            .unwrap()
            .get::<i64>(0)
            .unwrap();
        if alive == 0 {
            break;
        }
    }
    assert_eq!(
        alive, 0,
        "the idle transaction's session is still open on the server"
    );
    // A late statement and the late commit fail with the reason, the deadline (the
    // server's end of the session is its consequence), and the pool keeps working.
    let err = tx.query("SELECT 1", &[]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    let err = Box::new(tx).commit().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    let n: i64 = db
        .query_one("SELECT count(*) FROM held", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 0);
    db.close(Duration::from_secs(5)).await.unwrap();
    schema.drop_now().await;
}

/// A stand-in for a server without TLS: answers `N` to every SSLRequest.
async fn server_refusing_tls() -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 8];
                if socket.read_exact(&mut request).await.is_ok() {
                    let _ = socket.write_all(b"N").await;
                    let mut rest = Vec::new();
                    let _ = socket.read_to_end(&mut rest).await;
                }
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_require_against_a_server_without_tls_is_a_clear_error() {
    let port = server_refusing_tls().await;
    for mode in [SslMode::Require, SslMode::VerifyCa, SslMode::VerifyFull] {
        let retries = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&retries);
        let cfg = base_config()
            .with_host("127.0.0.1")
            .with_port(port)
            .with_ssl_mode(mode)
            .with_max_retries(3)
            .with_retry_delay(Duration::from_millis(10));
        let options = PgOptions::new().connect_options(ConnectOptions::new().on_retry(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        }));
        let err = PgDatabase::connect_with(&cfg, options).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{mode:?}: {err}");
        assert_eq!(
            retries.load(Ordering::SeqCst),
            0,
            "a TLS mismatch is not retried"
        );
        let msg = err.to_string();
        assert!(msg.contains("after 1 attempt(s)"), "{msg}");
        assert!(msg.contains("does not support TLS"), "{msg}");
        assert!(
            msg.contains(&format!("sslMode is `{}`", mode.as_str())),
            "{msg}"
        );
        assert!(msg.contains("never falls back to plaintext"), "{msg}");
    }
}

/// Whether the test server offers TLS (`ssl = on`).
async fn server_has_tls() -> bool {
    let probe = PgDatabase::connect(&base_config()).await.unwrap();
    let ssl: String = probe
        .query_one("SHOW ssl", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    probe.close(Duration::from_secs(1)).await.unwrap();
    ssl == "on"
}

async fn uses_tls(db: &PgDatabase) -> bool {
    db.query_one(
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        &[],
    )
    .await
    .unwrap()
    .get(0)
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_modes_against_the_test_server() {
    if !server_has_tls().await {
        eprintln!("note: the test server has ssl=off; only disable/prefer are checked");
        let db = PgDatabase::connect(&base_config().with_ssl_mode(SslMode::Prefer))
            .await
            .unwrap();
        assert!(!uses_tls(&db).await);
        return;
    }
    for (mode, tls) in [
        (SslMode::Disable, false),
        (SslMode::Prefer, true),
        (SslMode::Require, true),
    ] {
        let db = PgDatabase::connect(&base_config().with_ssl_mode(mode))
            .await
            .unwrap();
        assert_eq!(uses_tls(&db).await, tls, "{mode:?}");
        db.close(Duration::from_secs(1)).await.unwrap();
    }
    // verify-ca checks the chain only; verify-full also the host name. Debian's
    // self-signed snakeoil certificate (CN=localhost) is trusted where the system store
    // lists it, never for the name 127.0.0.1.
    let at = |host: &str, mode| base_config().with_host(host).with_ssl_mode(mode);
    let ca = PgDatabase::connect(&at("127.0.0.1", SslMode::VerifyCa)).await;
    let full_ip = PgDatabase::connect(&at("127.0.0.1", SslMode::VerifyFull)).await;
    let err = full_ip.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(err.to_string().contains("certificate"), "{err}");
    match ca {
        Ok(db) => {
            assert!(uses_tls(&db).await);
            db.close(Duration::from_secs(1)).await.unwrap();
            let full = PgDatabase::connect(&at("localhost", SslMode::VerifyFull))
                .await
                .unwrap();
            assert!(uses_tls(&full).await);
            full.close(Duration::from_secs(1)).await.unwrap();
        }
        Err(err) => {
            // The certificate is not trusted here: verify-full fails the same way.
            assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
            let full = PgDatabase::connect(&at("localhost", SslMode::VerifyFull)).await;
            assert_eq!(full.unwrap_err().kind(), ErrorKind::Tls);
        }
    }
    // Cancel on timeout works over TLS too (the cancel request uses the TLS connector).
    let db = PgDatabase::connect_with(
        &base_config().with_ssl_mode(SslMode::Require).with_pool(1),
        PgOptions::new().application_name(app_name("tlscancel")),
    )
    .await
    .unwrap();
    let tx = db
        .begin(TxOptions::new().timeout(Duration::from_millis(200)))
        .await
        .unwrap();
    let started = Instant::now();
    let err = tx.query("SELECT pg_sleep(30)", &[]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    drop(tx);
    let row = db.query_one("SELECT 1", &[]).await.unwrap();
    assert_eq!(row.get::<i64>(0).unwrap(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    db.close(Duration::from_secs(1)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_their_lifetime_or_idle_time_are_replaced() {
    let schema = Schema::new().await;
    let pid_sql = "SELECT pg_backend_pid()";

    let cfg = base_config()
        .with_pool(1)
        .with_conn_max_lifetime(Duration::from_millis(300))
        .with_conn_max_idle_time(Duration::ZERO);
    let db = schema.connect(&cfg, "lifetime").await;
    let first: i64 = db.query_one(pid_sql, &[]).await.unwrap().get(0).unwrap();
    let same: i64 = db.query_one(pid_sql, &[]).await.unwrap().get(0).unwrap();
    assert_eq!(first, same, "a young connection is reused");
    tokio::time::sleep(Duration::from_millis(450)).await;
    let next: i64 = db.query_one(pid_sql, &[]).await.unwrap().get(0).unwrap();
    assert_ne!(
        first, next,
        "a connection past connMaxLifetime must be replaced"
    );
    assert!(db.stats().max_lifetime_closed >= 1, "{:?}", db.stats());
    db.close(Duration::from_secs(5)).await.unwrap();

    let cfg = base_config()
        .with_pool(1)
        .with_conn_max_lifetime(Duration::ZERO)
        .with_conn_max_idle_time(Duration::from_millis(300));
    let db = schema.connect(&cfg, "idle").await;
    let first: i64 = db.query_one(pid_sql, &[]).await.unwrap().get(0).unwrap();
    // Busy for longer than the idle limit: not idle, so kept.
    let held = db.begin(TxOptions::new()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    held.rollback().await.unwrap();
    let same: i64 = db.query_one(pid_sql, &[]).await.unwrap().get(0).unwrap();
    assert_eq!(first, same, "time in use does not count as idle time");
    tokio::time::sleep(Duration::from_millis(450)).await;
    let next: i64 = db.query_one(pid_sql, &[]).await.unwrap().get(0).unwrap();
    assert_ne!(
        first, next,
        "a connection idle past connMaxIdleTime must be replaced"
    );
    assert!(db.stats().max_idle_time_closed >= 1, "{:?}", db.stats());
    db.close(Duration::from_secs(5)).await.unwrap();
    schema.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_tasks_on_a_pool_of_five() {
    let schema = Schema::new().await;
    let db = Arc::new(schema.connect(&base_config().with_pool(5), "many").await);
    db.execute("CREATE TABLE hits (id int4 PRIMARY KEY)", &[])
        .await
        .unwrap();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let db = Arc::clone(&db);
            tokio::spawn(async move {
                db.query("SELECT pg_sleep(0.002)", &[]).await?;
                db.execute("INSERT INTO hits (id) VALUES ($1)", &params![i])
                    .await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), 1);
    }
    let n: i64 = db
        .query_one("SELECT count(*) FROM hits", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 200);
    let stats = db.stats();
    assert!(stats.open <= 5, "{stats:?}");
    assert_eq!(stats.in_use, 0, "{stats:?}");
    assert!(stats.wait_count > 0, "{stats:?}");
    db.close(Duration::from_secs(5)).await.unwrap();
    schema.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_database_fails_after_one_attempt() {
    let retries = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&retries);
    let cfg = base_config()
        .with_name("dblayer_no_such_database")
        .with_password(Secret::new("sentinel-pw-93417"))
        .with_max_retries(3)
        .with_retry_delay(Duration::from_millis(10));
    let options = PgOptions::new().connect_options(ConnectOptions::new().on_retry(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    }));
    let err = PgDatabase::connect_with(&cfg, options).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownDatabase, "{err}");
    assert_eq!(err.code(), Some("3D000"));
    assert_eq!(retries.load(Ordering::SeqCst), 0);
    let msg = err.to_string();
    assert!(msg.contains("after 1 attempt(s)"), "{msg}");
    assert!(msg.contains("dblayer_no_such_database"), "{msg}");
    assert!(!msg.contains("sentinel-pw-93417"), "{msg}");
    assert!(!format!("{err:?}").contains("sentinel-pw-93417"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening_retries_then_names_the_attempts() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let retries = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&retries);
    let cfg = base_config()
        .with_host("127.0.0.1")
        .with_port(port)
        .with_max_retries(2)
        .with_retry_delay(Duration::from_millis(20));
    let options = PgOptions::new().connect_options(ConnectOptions::new().on_retry(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    }));
    let err = PgDatabase::connect_with(&cfg, options).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    assert_eq!(retries.load(Ordering::SeqCst), 2);
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "could not connect to postgres at 127.0.0.1:{port}/"
        )),
        "{msg}"
    );
    assert!(msg.contains("after 3 attempt(s)"), "{msg}");
    assert!(msg.to_lowercase().contains("refused"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_copy_bulk_insert_and_text_fallback() {
    let schema = Schema::new().await;
    let db = schema.connect(&base_config(), "copy").await;
    db.execute(
        "CREATE TABLE bulk (id int4 PRIMARY KEY, small int2, name text, score float8, \
         data bytea, ok bool)",
        &[],
    )
    .await
    .unwrap();
    let rows: Vec<Vec<Value>> = (0..20_000)
        .map(|i| {
            vec![
                Value::Int(i),
                if i % 7 == 0 {
                    Value::Null
                } else {
                    Value::Int(i % 100)
                },
                Value::Text(format!("row {i}")),
                Value::Float(f64::from(i as i32) / 2.0),
                Value::Bytes(vec![(i % 256) as u8; 3]),
                Value::Bool(i % 2 == 0),
            ]
        })
        .collect();
    let n = db
        .insert_many(
            "bulk",
            &["id", "small", "name", "score", "data", "ok"],
            rows,
        )
        .await
        .unwrap();
    assert_eq!(n, 20_000);
    let row = db
        .query_one(
            "SELECT name, score, data, ok, small FROM bulk WHERE id = $1",
            &params![4321],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<String>("name").unwrap(), "row 4321");
    assert_eq!(row.get::<f64>("score").unwrap(), 2160.5);
    assert_eq!(
        row.get::<Vec<u8>>("data").unwrap(),
        vec![(4321 % 256) as u8; 3]
    );
    assert!(!row.get::<bool>("ok").unwrap());
    assert_eq!(row.get::<i64>("small").unwrap(), 21);

    // A value out of range for its column is an error naming the row and column, and
    // nothing is inserted.
    let err = db
        .insert_many(
            "bulk",
            &["id", "small"],
            vec![
                vec![Value::Int(1_000_000), Value::Int(1)],
                vec![Value::Int(1_000_001), Value::Int(70_000)],
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Parameter, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("row 1, column small"), "{msg}");

    // Text into numeric has no binary encoding here: the INSERT fallback runs, atomically.
    db.execute(
        "CREATE TABLE money (id int4 PRIMARY KEY, amount numeric(12, 2))",
        &[],
    )
    .await
    .unwrap();
    let n = db
        .insert_many(
            "money",
            &["id", "amount"],
            vec![
                vec![Value::Int(1), Value::Text("12.50".into())],
                vec![Value::Int(2), Value::Int(7)],
                vec![Value::Int(3), Value::Float(0.25)],
            ],
        )
        .await
        .unwrap();
    assert_eq!(n, 3);
    let amounts: Vec<String> = db
        .query("SELECT amount FROM money ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String>(0).unwrap())
        .collect();
    assert_eq!(amounts, ["12.50", "7.00", "0.25"]);
    db.close(Duration::from_secs(5)).await.unwrap();
    schema.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_are_converted_to_the_inferred_types() {
    let schema = Schema::new().await;
    let db = schema.connect(&base_config(), "types").await;
    db.execute(
        "CREATE TABLE v (id int4 PRIMARY KEY, s int2, n numeric, d date, ts timestamptz, \
         j jsonb, u uuid, ip inet)",
        &[],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO v VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &params![
            1,
            -5,
            "123456789.000000001",
            "2024-02-29",
            "2024-02-29 12:34:56.5+00",
            r#"{"a": [1, 2]}"#,
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "10.1.2.3"
        ],
    )
    .await
    .unwrap();
    let row = db
        .query_one("SELECT s, n, d, j, u, ip::text AS ip FROM v", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<i64>("s").unwrap(), -5);
    assert_eq!(row.get::<String>("n").unwrap(), "123456789.000000001");
    assert_eq!(row.get::<String>("ip").unwrap(), "10.1.2.3/32");
    #[cfg(not(feature = "chrono"))]
    assert_eq!(row.get::<String>("d").unwrap(), "2024-02-29");
    #[cfg(not(feature = "uuid"))]
    assert_eq!(
        row.get::<String>("u").unwrap(),
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    );
    #[cfg(not(feature = "json"))]
    assert_eq!(row.get::<String>("j").unwrap(), r#"{"a": [1, 2]}"#);
    let _ = row;

    // An int out of range for the parameter's type names the placeholder.
    let err = db
        .execute("INSERT INTO v (id, s) VALUES ($1, $2)", &params![2, 40_000])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Parameter);
    assert!(err.to_string().contains("$2"), "{err}");
    assert!(err.to_string().contains("int2"), "{err}");
    // An unsupported column type is a decode error naming column and type.
    let err = db.query("SELECT ip FROM v", &[]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    assert!(err.to_string().contains("column ip"), "{err}");
    assert!(err.to_string().contains("inet"), "{err}");
    // NULL binds to any type.
    db.execute(
        "INSERT INTO v VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            Value::Int(3),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
        ],
    )
    .await
    .unwrap();
    db.close(Duration::from_secs(5)).await.unwrap();
    schema.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_control_and_stacked_statements_are_refused() {
    let schema = Schema::new().await;
    let db = schema.connect(&base_config().with_pool(1), "control").await;
    db.execute("CREATE TABLE t (id int4)", &[]).await.unwrap();
    for sql in [
        "BEGIN",
        "begin read only",
        "COMMIT",
        "SET TRANSACTION READ ONLY",
    ] {
        let err = db.execute(sql, &[]).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TransactionControl, "{sql}: {err}");
    }
    let err = db
        .execute("INSERT INTO t VALUES (1); DROP TABLE t", &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::MultipleStatements), "{err}");
    // A script that leaves a transaction open is rolled back and reported; the next
    // borrower is clean and may write.
    let err = db
        .execute_batch("BEGIN READ ONLY; SELECT 1")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TransactionControl, "{err}");
    db.execute("INSERT INTO t VALUES (2)", &[]).await.unwrap();
    let row = db
        .query_one("SELECT txid_current_if_assigned() AS x", &[])
        .await
        .unwrap();
    assert!(row.value("x").unwrap().is_null());
    // A balanced script is fine.
    db.execute_batch("BEGIN; INSERT INTO t VALUES (3); COMMIT")
        .await
        .unwrap();
    let n: i64 = db
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 2);
    db.close(Duration::from_secs(5)).await.unwrap();
    schema.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_sqlstate_and_aborted_transactions_do_not_commit() {
    let schema = Schema::new().await;
    let db = schema.connect(&base_config(), "errors").await;
    db.execute("CREATE TABLE t (id int4 PRIMARY KEY)", &[])
        .await
        .unwrap();
    db.execute("INSERT INTO t VALUES (1)", &[]).await.unwrap();
    let err = db
        .execute("INSERT INTO t VALUES (1)", &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UniqueViolation);
    assert_eq!(err.code(), Some("23505"));
    let err = db.execute("SELEC 1", &[]).await.unwrap_err();
    assert_eq!((err.kind(), err.code()), (ErrorKind::Syntax, Some("42601")));

    // Commit after an error inside the transaction reports it instead of a silent
    // rollback.
    // Statements after the error, and the commit, are refused with the first error's
    // kind and say what it was.
    let tx = db.begin(TxOptions::new()).await.unwrap();
    tx.execute("INSERT INTO t VALUES (2)", &[]).await.unwrap();
    assert!(tx.execute("INSERT INTO t VALUES (1)", &[]).await.is_err());
    let err = tx
        .execute("INSERT INTO t VALUES (5)", &[])
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.code()),
        (ErrorKind::UniqueViolation, Some("25P02"))
    );
    assert!(
        err.to_string().contains("aborted by an earlier error"),
        "{err}"
    );
    assert!(err.to_string().contains("23505"), "{err}");
    let err = tx.commit().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UniqueViolation, "{err}");
    assert!(err.to_string().contains("nothing was committed"), "{err}");
    let n: i64 = db
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 1);

    // A savepoint recovers from the error.
    let mut tx = db.begin(TxOptions::new()).await.unwrap();
    tx.execute("INSERT INTO t VALUES (3)", &[]).await.unwrap();
    {
        let sp = tx.savepoint().await.unwrap();
        assert!(sp.execute("INSERT INTO t VALUES (1)", &[]).await.is_err());
        // dropped: ROLLBACK TO SAVEPOINT before the parent's next statement
    }
    tx.execute("INSERT INTO t VALUES (4)", &[]).await.unwrap();
    tx.commit().await.unwrap();
    let n: i64 = db
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 3);

    // Read-only transactions refuse writes with their own kind.
    let tx = db.begin(TxOptions::read_only_tx()).await.unwrap();
    let err = tx
        .execute("INSERT INTO t VALUES (9)", &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ReadOnlyViolation);
    assert_eq!(err.code(), Some("25006"));
    tx.rollback().await.unwrap();
    db.close(Duration::from_secs(5)).await.unwrap();
    schema.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_pool_from_a_driver_created_database_and_health() {
    let config = DatabaseConfig::postgres(
        base_config().with_health_check_interval(Duration::from_millis(50)),
    );
    let db: Box<dyn Database> = db_postgres::DRIVER
        .connect(&config, &ConnectOptions::new())
        .await
        .unwrap();
    let pg = db.as_any().downcast_ref::<PgDatabase>().unwrap();
    let client = pg.pool().get().await.unwrap();
    let row = client.query_one("SELECT 41 + 1", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 42);
    drop(client);
    let version = db.server_version().await.unwrap();
    assert!(version.starts_with("PostgreSQL "), "{version}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let check = db.last_health_check().expect("the health check has run");
    assert!(check.ok, "{check:?}");
    let report = db.health().await;
    assert!(report.healthy, "{report:?}");
    db.close(Duration::from_secs(5)).await.unwrap();
    assert!(db.is_closed());
    assert_eq!(
        db.query("SELECT 1", &[]).await.unwrap_err().kind(),
        ErrorKind::PoolClosed
    );
}

/// A `Value::Json` bound to a domain over `jsonb` (or over such a domain) is encoded for
/// the base type, version byte included: as a parameter and through `insert_many`'s COPY.
#[cfg(feature = "json")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_binds_to_a_domain_over_jsonb() {
    let schema = Schema::new().await;
    let db = schema.connect(&base_config(), "jsondomain").await;
    db.execute_batch(
        "CREATE DOMAIN d AS jsonb; CREATE DOMAIN dd AS d; CREATE DOMAIN dj AS json; \
         CREATE TABLE docs (id int4 PRIMARY KEY, a d, b dd, c dj)",
    )
    .await
    .unwrap();
    let doc = serde_json::json!({"a": 1});
    for cast in ["d", "dd", "dj"] {
        let row = db
            .query_one(
                &format!("SELECT $1::{cast} AS v"),
                &[Value::Json(doc.clone())],
            )
            .await
            .unwrap_or_else(|e| panic!("$1::{cast}: {e}"));
        assert_eq!(row.get::<Value>("v").unwrap(), Value::Json(doc.clone()));
    }
    db.execute(
        "INSERT INTO docs VALUES ($1, $2, $3, $4)",
        &[
            Value::Int(1),
            Value::Json(doc.clone()),
            Value::Json(doc.clone()),
            Value::Json(doc.clone()),
        ],
    )
    .await
    .unwrap();
    // Binary COPY encodes each column for its type the same way.
    let n = db
        .insert_many(
            "docs",
            &["id", "a", "b", "c"],
            vec![vec![
                Value::Int(2),
                Value::Json(doc.clone()),
                Value::Json(doc.clone()),
                Value::Json(doc.clone()),
            ]],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    let rows = db
        .query("SELECT a, b, c FROM docs ORDER BY id", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        for col in ["a", "b", "c"] {
            assert_eq!(row.get::<serde_json::Value>(col).unwrap(), doc, "{col}");
        }
    }
    db.close(Duration::from_secs(5)).await.unwrap();
    schema.drop_now().await;
}

/// `"char"` is one byte: ASCII reads as text, any other byte as bytes (never as the
/// Latin-1 character it is not).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn char_reads_as_text_only_when_ascii() {
    let schema = Schema::new().await;
    let db = schema.connect(&base_config(), "char").await;
    let row = db
        .query_one(
            "SELECT 'a'::\"char\" AS ascii, 'é'::\"char\" AS utf8, ''::\"char\" AS nul",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<Value>("ascii").unwrap(), Value::Text("a".into()));
    // 'é' is C3 A9 in UTF-8; "char" keeps the first byte.
    assert_eq!(row.get::<Value>("utf8").unwrap(), Value::Bytes(vec![0xC3]));
    assert_eq!(row.get::<Value>("nul").unwrap(), Value::Text(String::new()));
    db.close(Duration::from_secs(5)).await.unwrap();
    schema.drop_now().await;
}

/// With chrono, the values chrono cannot hold are never changed: `24:00:00` and the
/// infinities read as the text PostgreSQL prints (as without chrono), and a year beyond
/// chrono's range is a decode error naming the column.
#[cfg(feature = "chrono")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chrono_keeps_24_00_and_infinity_as_text() {
    let schema = Schema::new().await;
    let db = schema.connect(&base_config(), "chronospecial").await;
    let row = db
        .query_one(
            "SELECT '24:00:00'::time AS t24, '23:59:59.5'::time AS t, \
             'infinity'::date AS d_inf, '-infinity'::date AS d_ninf, \
             'infinity'::timestamp AS ts_inf, '-infinity'::timestamp AS ts_ninf, \
             'infinity'::timestamptz AS tz_inf, '-infinity'::timestamptz AS tz_ninf, \
             '0044-03-15 BC'::date AS bc",
            &[],
        )
        .await
        .unwrap();
    let text = |col: &str| row.get::<Value>(col).unwrap();
    assert_eq!(text("t24"), Value::Text("24:00:00".into()));
    assert_eq!(
        text("t"),
        Value::Time(chrono::NaiveTime::from_hms_milli_opt(23, 59, 59, 500).unwrap())
    );
    for col in ["d_inf", "ts_inf", "tz_inf"] {
        assert_eq!(text(col), Value::Text("infinity".into()), "{col}");
    }
    for col in ["d_ninf", "ts_ninf", "tz_ninf"] {
        assert_eq!(text(col), Value::Text("-infinity".into()), "{col}");
    }
    // 44 BC is chrono's year -43, written like the text of the build without chrono.
    let bc = text("bc");
    assert_eq!(
        bc,
        Value::Date(chrono::NaiveDate::from_ymd_opt(-43, 3, 15).unwrap())
    );
    assert_eq!(bc.to_string(), "-0043-03-15");
    // PostgreSQL dates go up to 5874897 AD, chrono's stop before 262144.
    for (sql, ty) in [
        ("SELECT '300000-01-01'::date AS far", "date"),
        ("SELECT '290000-01-01 00:00'::timestamp AS far", "timestamp"),
        (
            "SELECT '290000-01-01 00:00+00'::timestamptz AS far",
            "timestamptz",
        ),
    ] {
        let err = db.query(sql, &[]).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
        let msg = err.to_string();
        assert!(msg.contains("column far"), "{msg}");
        assert!(msg.contains(ty), "{msg}");
        assert!(msg.contains("chrono"), "{msg}");
    }
    db.close(Duration::from_secs(5)).await.unwrap();
    schema.drop_now().await;
}

/// Without chrono, dates and times are text: BC years as chrono numbers them
/// (`-0043-03-15` for 44 BC), a space between date and time as PostgreSQL prints it.
#[cfg(not(feature = "chrono"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dates_and_timestamps_as_text_without_chrono() {
    let schema = Schema::new().await;
    let db = schema.connect(&base_config(), "datetext").await;
    let row = db
        .query_one(
            "SELECT '0044-03-15 BC'::date AS bc, '0001-01-01 BC'::date AS bc1, \
             '10000-01-01'::date AS far, '2024-01-02'::date AS d, \
             '2024-01-02 13:05:09.5'::timestamp AS ts, \
             '0044-03-15 12:00:00 BC'::timestamp AS ts_bc, \
             '2024-01-02 13:05:09+02'::timestamptz AS tz, \
             '24:00:00'::time AS t24, 'infinity'::date AS d_inf, \
             '-infinity'::timestamptz AS tz_ninf",
            &[],
        )
        .await
        .unwrap();
    let text = |col: &str| row.get::<String>(col).unwrap();
    assert_eq!(text("bc"), "-0043-03-15");
    assert_eq!(text("bc1"), "0000-01-01");
    assert_eq!(text("far"), "+10000-01-01");
    assert_eq!(text("d"), "2024-01-02");
    assert_eq!(text("ts"), "2024-01-02 13:05:09.500000");
    assert_eq!(text("ts_bc"), "-0043-03-15 12:00:00");
    assert_eq!(text("tz"), "2024-01-02 11:05:09Z");
    assert_eq!(text("t24"), "24:00:00");
    assert_eq!(text("d_inf"), "infinity");
    assert_eq!(text("tz_ninf"), "-infinity");
    db.close(Duration::from_secs(5)).await.unwrap();
    schema.drop_now().await;
}

/// A bad value (or one that needs the text fallback) far into a bulk load, after
/// earlier rows were already streamed: the COPY is aborted, nothing is inserted, and
/// the connection (the only one) stays usable. In a transaction the values are checked
/// before the COPY starts, so the transaction stays usable too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_copy_aborted_mid_stream_leaves_nothing_behind() {
    let schema = Schema::new().await;
    let db = schema
        .connect(&base_config().with_pool(1), "copy-abort")
        .await;
    db.execute(
        "CREATE TABLE t (id int4 PRIMARY KEY, small int2, amount numeric(12, 2))",
        &[],
    )
    .await
    .unwrap();
    let rows = |bad: Vec<Value>| -> Vec<Vec<Value>> {
        let mut rows: Vec<Vec<Value>> = (0..20_000)
            .map(|i| vec![Value::Int(i), Value::Int(i % 100), Value::Null])
            .collect();
        rows.push(bad);
        rows.extend((30_000..31_000).map(|i| vec![Value::Int(i), Value::Null, Value::Null]));
        rows
    };
    let count = |db: &PgDatabase| {
        let db = db.clone();
        async move {
            db.query_one("SELECT count(*) FROM t", &[])
                .await
                .unwrap()
                .get::<i64>(0)
                .unwrap()
        }
    };

    let err = db
        .insert_many(
            "t",
            &["id", "small", "amount"],
            rows(vec![Value::Int(25_000), Value::Int(70_000), Value::Null]),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Parameter, "{err}");
    assert!(err.to_string().contains("row 20000, column small"), "{err}");
    assert_eq!(count(&db).await, 0);

    // Text into numeric mid-stream: the INSERT fallback inserts every row.
    let n = db
        .insert_many(
            "t",
            &["id", "small", "amount"],
            rows(vec![
                Value::Int(25_000),
                Value::Null,
                Value::Text("1.5".into()),
            ]),
        )
        .await
        .unwrap();
    assert_eq!(n, 21_001);
    assert_eq!(count(&db).await, 21_001);
    db.execute("DELETE FROM t", &[]).await.unwrap();

    let tx = db.begin(TxOptions::new()).await.unwrap();
    let err = tx
        .insert_many(
            "t",
            &["id", "small", "amount"],
            rows(vec![Value::Int(25_000), Value::Int(70_000), Value::Null]),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Parameter, "{err}");
    tx.execute("INSERT INTO t (id) VALUES (1)", &[])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(count(&db).await, 1);
    db.close(Duration::from_secs(5)).await.unwrap();
    schema.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_settings_are_checked_against_the_server_limits() {
    let admin = PgDatabase::connect(&base_config().with_max_open_conns(2).with_max_idle_conns(2))
        .await
        .unwrap();
    let limits = admin
        .query_one(
            "SELECT current_setting('max_connections')::bigint \
               - current_setting('superuser_reserved_connections')::bigint",
            &[],
        )
        .await
        .unwrap();
    let usable: i64 = limits.get(0).unwrap();
    assert!(
        admin.limit_warnings().is_empty(),
        "{:?}",
        admin.limit_warnings()
    );
    admin.close(Duration::from_secs(5)).await.unwrap();

    // More connections than the server accepts: connecting works (the pool opens them
    // lazily) and the check names the field and both numbers.
    let too_many = u32::try_from(usable + 1).unwrap();
    let db = PgDatabase::connect(
        &base_config()
            .with_max_open_conns(too_many)
            .with_max_idle_conns(2),
    )
    .await
    .unwrap();
    let warnings = db.limit_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains(&format!("database.postgres.maxOpenConns is {too_many}")),
        "{warnings:?}"
    );
    assert!(
        warnings[0].contains(&format!("accepts {usable}")),
        "{warnings:?}"
    );
    db.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_reads_as_its_shortest_decimal_like_mysql_float() {
    let db = PgDatabase::connect(&base_config().with_max_open_conns(1).with_max_idle_conns(1))
        .await
        .unwrap();
    let row = db
        .query_one("SELECT 0.1::real, 2.5::real, 'NaN'::real, 0.1::float8", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<f64>(0).unwrap(), 0.1);
    assert_eq!(row.get::<f64>(1).unwrap(), 2.5);
    assert!(row.get::<f64>(2).unwrap().is_nan());
    assert_eq!(row.get::<f64>(3).unwrap(), 0.1);
    db.close(Duration::from_secs(5)).await.unwrap();
}

/// Each connection keeps a bounded number of prepared statements on the server: a
/// service that runs many distinct statements does not grow the session without limit.
#[tokio::test(flavor = "current_thread")]
async fn prepared_statements_per_connection_stay_bounded() {
    let db = PgDatabase::connect(&base_config().with_pool(1))
        .await
        .unwrap();
    let tx = db.begin(TxOptions::new()).await.unwrap();
    let mut most = 0;
    for i in 0..1200 {
        let row = tx
            .query_one(&format!("SELECT {i}::int8 AS n"), &[])
            .await
            .unwrap();
        assert_eq!(row.get::<i64>("n").unwrap(), i);
        if i % 50 == 49 {
            let prepared: i64 = tx
                .query_one("SELECT count(*) FROM pg_prepared_statements", &[])
                .await
                .unwrap()
                .get(0)
                .unwrap();
            most = most.max(prepared);
        }
    }
    // 512 kept by the connection's cache, plus at most 64 (one thread) between two size
    // checks, plus those of the at most 256 SQL texts the thread's SQL cache still holds
    // (each keeps its statement), plus the count query.
    assert!(most > 100, "statements are cached: saw at most {most}");
    assert!(
        most <= 512 + 64 + 256 + 1,
        "the cache is bounded: saw {most}"
    );
    tx.rollback().await.unwrap();
    db.close(Duration::from_secs(5)).await.unwrap();
}

/// A connection's prepared statement that the server can no longer use is prepared
/// again and the statement run again: after DDL changed the result's columns, and after
/// `DEALLOCATE ALL`. Inside a transaction block the second run cannot succeed (the first
/// error aborted the transaction): the error that says why is returned, not "current
/// transaction is aborted".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_the_server_dropped_or_outdated_are_prepared_again() {
    let schema = Schema::new().await;
    let db = schema
        .connect(&base_config().with_pool(1), &app_name("stale"))
        .await;
    db.execute_batch("CREATE TABLE stale (a int8); INSERT INTO stale VALUES (1)")
        .await
        .unwrap();
    let select = "SELECT * FROM stale";
    assert_eq!(db.query_one(select, &[]).await.unwrap().len(), 1);

    db.execute_batch("ALTER TABLE stale ADD COLUMN b int8 DEFAULT 5")
        .await
        .unwrap();
    let row = db.query_one(select, &[]).await.unwrap();
    assert_eq!(row.get::<i64>("b").unwrap(), 5);
    let typed: (i64, i64) = db.query_one_as(select, &[]).await.unwrap();
    assert_eq!(typed, (1, 5));
    db.execute_batch("ALTER TABLE stale ALTER COLUMN b TYPE int4")
        .await
        .unwrap();
    let streamed: Vec<(i64, i64)> = db.query_as(select, &[]).await.unwrap();
    assert_eq!(streamed, [(1, 5)]);

    let update = "UPDATE stale SET b = b + 1";
    assert_eq!(db.execute(update, &[]).await.unwrap(), 1);
    db.execute_batch("DEALLOCATE ALL").await.unwrap();
    assert_eq!(db.execute(update, &[]).await.unwrap(), 1);
    let typed: (i64, i64) = db.query_one_as(select, &[]).await.unwrap();
    assert_eq!(typed, (1, 7));
    db.execute_batch("DEALLOCATE ALL").await.unwrap();
    let streamed: Vec<(i64, i64)> = db.query_as(select, &[]).await.unwrap();
    assert_eq!(streamed, [(1, 7)]);

    // insert_many's COPY reads the column types from a prepared probe of the table.
    let load = |id: i64| vec![vec![Value::Int(id), Value::Int(id * 10)]];
    assert_eq!(
        db.insert_many("stale", &["a", "b"], load(2)).await.unwrap(),
        1
    );
    db.execute_batch("ALTER TABLE stale ALTER COLUMN b TYPE int2")
        .await
        .unwrap();
    assert_eq!(
        db.insert_many("stale", &["a", "b"], load(3)).await.unwrap(),
        1
    );
    db.execute_batch("DELETE FROM stale WHERE a > 1")
        .await
        .unwrap();

    db.execute_batch("ALTER TABLE stale ADD COLUMN c int8")
        .await
        .unwrap();
    let tx = db.begin(TxOptions::new()).await.unwrap();
    let err = tx
        .query_one(select, &[])
        .await
        .expect_err("the plan is stale inside the transaction");
    assert_eq!(err.code(), Some("0A000"), "{err}");
    tx.rollback().await.unwrap();
    assert_eq!(db.query_one(select, &[]).await.unwrap().len(), 3);

    db.close(Duration::from_secs(5)).await.unwrap();
    schema.drop_now().await;
}

/// `query_one` / `query_opt` stop at the second row with `TooManyRows` instead of
/// reading a large result, and the rows the server still sends are discarded: the next
/// statement on the same (only) connection sees its own result, on the pool and inside a
/// transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_row_queries_stop_at_the_second_row_and_leave_the_connection_clean() {
    let db = PgDatabase::connect(&base_config().with_pool(1))
        .await
        .unwrap();
    let many = "SELECT g FROM generate_series(1, 200000) AS g";
    for _ in 0..3 {
        let err = db.query_one(many, &[]).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TooManyRows, "{err}");
        let err = db.query_opt(many, &[]).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TooManyRows, "{err}");
        let v: i64 = db
            .query_one("SELECT $1::int8 + 1", &params![41i64])
            .await
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(v, 42);
    }
    let tx = db.begin(TxOptions::new()).await.unwrap();
    let err = tx.query_one(many, &[]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooManyRows, "{err}");
    assert!(
        tx.query_opt("SELECT 1 WHERE false", &[])
            .await
            .unwrap()
            .is_none()
    );
    let v: i64 = tx
        .query_one("SELECT 7::int8", &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(v, 7);
    tx.commit().await.unwrap();
    let stats = db.stats();
    assert_eq!(stats.discarded, 0, "{stats:?}");
    assert_eq!(stats.open, 1, "{stats:?}");
    db.close(Duration::from_secs(5)).await.unwrap();
}

/// The typed reads of `query_one_as` (integers, `float8` and text read without a
/// `Value`) give the right values and errors. That they agree with the `Value` path for
/// every common column type and requested type is the conformance scenario
/// `typed_reads_agree_with_values`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_reads_give_the_right_values() {
    let db = PgDatabase::connect(&base_config().with_pool(1))
        .await
        .unwrap();
    // Driver-specific values (the common ones are the conformance scenario's).
    let (c,): (String,) = db.query_one_as("SELECT 'c'::char(3)", &[]).await.unwrap();
    assert_eq!(c, "c  ");
    db.close(Duration::from_secs(5)).await.unwrap();
}

/// `query_one_as` / `query_opt_as` decode straight into a tuple with the same rules as
/// `query_one(..).decode()`: one row, as many columns as elements, a column that does
/// not fit named in the error; `query_opt_as` gives `None` for no row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_single_row_queries_decode_into_tuples() {
    let db = PgDatabase::connect(&base_config().with_pool(1))
        .await
        .unwrap();
    let sql =
        "SELECT $1::int8 AS id, 'Ada'::text AS name, 0.5::float8 AS score, NULL::int4 AS gone";
    let (id, name, score, gone): (i64, String, f64, Option<i32>) =
        db.query_one_as(sql, &params![7i64]).await.unwrap();
    assert_eq!((id, name.as_str(), score, gone), (7, "Ada", 0.5, None));
    let same: (i64, String, f64, Option<i32>) = db
        .query_one(sql, &params![7i64])
        .await
        .unwrap()
        .decode()
        .unwrap();
    assert_eq!(same, (id, name, score, gone));

    let err = db
        .query_one_as::<(i64, i64, f64, Option<i32>)>(sql, &params![7i64])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    assert!(err.to_string().contains("name"), "{err}");
    let err = db
        .query_one_as::<(i64, String)>(sql, &params![7i64])
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("4 column(s) but the tuple has 2"),
        "{err}"
    );

    let none: Option<(i64,)> = db
        .query_opt_as("SELECT 1::int8 WHERE false", &[])
        .await
        .unwrap();
    assert!(none.is_none());
    let err = db
        .query_one_as::<(i64,)>("SELECT 1::int8 WHERE false", &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RowNotFound, "{err}");
    let err = db
        .query_opt_as::<(i32,)>("SELECT generate_series(1, 3)", &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooManyRows, "{err}");
    // The connection is clean after the errors.
    let (n,): (i64,) = db.query_one_as("SELECT 41::int8 + 1", &[]).await.unwrap();
    assert_eq!(n, 42);
    db.close(Duration::from_secs(5)).await.unwrap();
}

/// A connection left inside a transaction through the raw pool is never reused by the
/// layer: the layer's writes are committed, not swallowed by the leaked `BEGIN`.
/// Connections the layer gave back itself are reused as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_left_dirty_through_the_raw_pool_is_not_reused() {
    let schema = Schema::new().await;
    let db = schema
        .connect(&base_config().with_pool(1), &app_name("raw-dirty"))
        .await;
    db.execute("CREATE TABLE kept (id INTEGER PRIMARY KEY)", &[])
        .await
        .unwrap();
    let opened = db.stats().opened_total;
    // Taking the raw pool keeps the idle connection the layer gave back.
    let pool = db.pool().clone();
    db.execute("INSERT INTO kept (id) VALUES (1)", &[])
        .await
        .unwrap();
    assert_eq!(db.stats().opened_total, opened, "{:?}", db.stats());

    // The misuse: a transaction opened on a raw connection and left open.
    let raw = pool.get().await.unwrap();
    raw.batch_execute(&format!("SET search_path = {}; BEGIN", schema.name))
        .await
        .unwrap();
    drop(raw);
    for id in 2..5 {
        assert_eq!(
            db.execute("INSERT INTO kept (id) VALUES ($1)", &params![id])
                .await
                .unwrap(),
            1
        );
    }
    let stats = db.stats();
    assert_eq!(stats.discarded, 1, "{stats:?}");
    assert_eq!(stats.opened_total, opened + 1, "{stats:?}");
    // Seen from another session: every write is there.
    let n: i64 = schema
        .admin
        .query_one(&format!("SELECT count(*) FROM {}.kept", schema.name), &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 4);
    db.close(Duration::from_secs(5)).await.unwrap();
    schema.drop_now().await;
}

/// A statement after the transaction's deadline, with nothing running, rolls back
/// without sending a cancel request: a late one would stop whatever the connection's
/// next user runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_passed_between_statements_cancels_nothing_later() {
    let db = PgDatabase::connect(&base_config().with_pool(1))
        .await
        .unwrap();
    for _ in 0..20 {
        let tx = db
            .begin(TxOptions::new().timeout(Duration::from_millis(100)))
            .await
            .unwrap();
        tx.execute("SELECT pg_sleep(0.07)", &[]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
        let err = tx.query("SELECT 1", &[]).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        drop(tx);
        // The next user of the pool's only connection is not cancelled.
        db.query("SELECT pg_sleep(0.05)", &[]).await.unwrap();
    }
    db.close(Duration::from_secs(5)).await.unwrap();
}
