//! MySQL / MariaDB-specific behaviour against a real server (`DB_TEST_MYSQL_URL`, default
//! `mysql://root@127.0.0.1:3306/test`): connection hygiene, KILL QUERY on timeouts,
//! smuggled statements, LOCAL INFILE, decode errors, connect retry and errors, load.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use db_mysql::{
    Database, ErrorKind, Executor, MySqlConfig, MySqlDatabase, TxOptions, Value, params,
};
use dbcore::{ConnectOptions, DatabaseConfig, Driver, Secret};

fn base_config() -> MySqlConfig {
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
    MySqlConfig::default()
        .with_host(host)
        .with_port(port.parse::<u16>().expect("port"))
        .with_username(user)
        .with_password(Secret::new(pass))
        .with_name(name)
        .with_health_check_interval(Duration::ZERO)
        .with_timeout(Duration::from_secs(10))
}

fn pool_config(max_open: u32) -> MySqlConfig {
    base_config()
        .with_max_open_conns(max_open)
        .with_max_idle_conns(max_open)
}

async fn connect(max_open: u32) -> MySqlDatabase {
    MySqlDatabase::connect(&pool_config(max_open))
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the MySQL test server: {e}"))
}

fn table(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "dbm_{tag}_{}_{}_{:04x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        fastrand_u16()
    )
}

fn fastrand_u16() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (nanos >> 8) as u16
}

async fn in_transaction(db: &dyn Executor) -> i64 {
    let row = db
        .query_one("SELECT @@in_transaction AS t", &[])
        .await
        .expect("@@in_transaction");
    row.get::<i64>("t").expect("int")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_transaction_leaves_a_clean_connection() {
    let db = connect(1).await;
    let t = table("drop");
    db.execute(&format!("CREATE TABLE {t} (id INT PRIMARY KEY)"), &[])
        .await
        .unwrap();
    let server_id = db
        .query_one("SELECT CONNECTION_ID() AS id", &[])
        .await
        .unwrap()
        .get::<i64>("id")
        .unwrap();

    let tx = db.begin(TxOptions::new()).await.unwrap();
    tx.execute(&format!("INSERT INTO {t} VALUES (1)"), &[])
        .await
        .unwrap();
    assert_eq!(in_transaction(&tx).await, 1);
    drop(tx);

    // The only connection of the pool comes back rolled back, and is the same session.
    let row = db
        .query_one("SELECT CONNECTION_ID() AS id, @@in_transaction AS t", &[])
        .await
        .unwrap();
    assert_eq!(
        row.get::<i64>("id").unwrap(),
        server_id,
        "reused, not replaced"
    );
    assert_eq!(row.get::<i64>("t").unwrap(), 0, "no transaction left open");
    let n = db
        .query_one(&format!("SELECT count(*) FROM {t}"), &[])
        .await
        .unwrap();
    assert_eq!(n.get::<i64>(0).unwrap(), 0);
    // Autocommit writes from the pool are visible from another session at once.
    db.execute(&format!("INSERT INTO {t} VALUES (2)"), &[])
        .await
        .unwrap();
    let other = connect(1).await;
    let n = other
        .query_one(&format!("SELECT count(*) FROM {t}"), &[])
        .await
        .unwrap();
    assert_eq!(n.get::<i64>(0).unwrap(), 1);

    // A future cancelled in the middle of a statement inside a transaction: the
    // connection is closed, not reused.
    let tx = db.begin(TxOptions::new()).await.unwrap();
    tx.execute(&format!("INSERT INTO {t} VALUES (3)"), &[])
        .await
        .unwrap();
    let cancelled =
        tokio::time::timeout(Duration::from_millis(200), tx.query("SELECT SLEEP(5)", &[])).await;
    assert!(cancelled.is_err());
    drop(tx);
    let row = db
        .query_one("SELECT CONNECTION_ID() AS id, @@in_transaction AS t", &[])
        .await
        .unwrap();
    assert_ne!(
        row.get::<i64>("id").unwrap(),
        server_id,
        "the cut-off connection was closed"
    );
    assert_eq!(row.get::<i64>("t").unwrap(), 0);
    assert!(db.layer_discards() >= 1);
    let n = other
        .query_one(&format!("SELECT count(*) FROM {t} WHERE id = 3"), &[])
        .await
        .unwrap();
    assert_eq!(
        n.get::<i64>(0).unwrap(),
        0,
        "the cut-off transaction did not commit"
    );
    // The cut-off session is killed on the server, not left sleeping with its locks.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let alive = other
            .query_one(
                "SELECT count(*) FROM information_schema.processlist WHERE id = $1",
                &params![server_id],
            )
            .await
            .unwrap()
            .get::<i64>(0)
            .unwrap();
        if alive == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "session {server_id} still alive");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    db.execute(&format!("DROP TABLE {t}"), &[]).await.unwrap();
    db.close(Duration::from_secs(5)).await.unwrap();
    other.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_changes_are_reset_before_reuse() {
    let db = connect(1).await;
    db.execute("SET @dblayer_x = 42", &[]).await.unwrap();
    db.execute("SET time_zone = '+09:00'", &[]).await.unwrap();
    let row = db
        .query_one(
            "SELECT @dblayer_x AS x, @@time_zone AS tz, @@character_set_client AS cs",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<Option<i64>>("x").unwrap(), None);
    assert_eq!(row.get::<String>("tz").unwrap(), "+00:00");
    assert_eq!(row.get::<String>("cs").unwrap(), "utf8mb4");
    assert!(db.session_resets() >= 2);
    // Plain queries do not reset.
    let before = db.session_resets();
    for _ in 0..5 {
        db.query("SELECT 1", &[]).await.unwrap();
    }
    assert_eq!(db.session_resets(), before);
    db.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charset_and_time_zone_on_every_connection() {
    let cfg = pool_config(3).with_loc("+05:30").with_charset("utf8mb4");
    let db = MySqlDatabase::connect(&cfg).await.unwrap();
    let t1 = db.begin(TxOptions::new()).await.unwrap();
    let t2 = db.begin(TxOptions::new()).await.unwrap();
    for exec in [&t1 as &dyn Executor, &t2, &db] {
        let row = exec
            .query_one(
                "SELECT @@time_zone AS tz, @@character_set_connection AS cs",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<String>("tz").unwrap(), "+05:30");
        assert_eq!(row.get::<String>("cs").unwrap(), "utf8mb4");
    }
    drop((t1, t2));
    db.close(Duration::from_secs(5)).await.unwrap();

    // An IANA zone the server does not know is a configuration error, after one attempt.
    let cfg = pool_config(1)
        .with_loc("Mars/Olympus_Mons")
        .with_max_retries(3)
        .with_retry_delay(Duration::from_millis(10));
    let err = MySqlDatabase::connect(&cfg).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    // The configuration's problem, not a failed connect that happens to say so.
    assert!(matches!(err, dbcore::Error::Config(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("database.mysql.loc"), "{msg}");
    assert!(msg.contains("Mars/Olympus_Mons"), "{msg}");

    // So is a character set the server does not know.
    let cfg = pool_config(1)
        .with_charset("klingon")
        .with_max_retries(3)
        .with_retry_delay(Duration::from_millis(10));
    let err = MySqlDatabase::connect(&cfg).await.unwrap_err();
    assert!(matches!(err, dbcore::Error::Config(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("database.mysql.charset"), "{msg}");
    assert!(msg.contains("klingon"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_kills_the_running_query() {
    let db = connect(2).await;
    let marker = format!("dblayer_kill_{}", std::process::id());
    let tx = db
        .begin(TxOptions::new().timeout(Duration::from_millis(300)))
        .await
        .unwrap();
    let started = Instant::now();
    let err = tx
        .query(&format!("SELECT SLEEP(30) AS {marker}"), &[])
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    // The transaction refuses further work.
    let err = tx.query("SELECT 1", &[]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    drop(tx);
    // Nothing runs the sleep on the server any more.
    let other = connect(1).await;
    let running = other
        .query_one(
            "SELECT count(*) AS n FROM information_schema.processlist \
             WHERE info LIKE $1 AND id <> CONNECTION_ID()",
            &params![format!("%{marker}%")],
        )
        .await
        .unwrap()
        .get::<i64>("n")
        .unwrap();
    assert_eq!(running, 0, "the timed-out statement is still running");
    // The pool is usable and clean.
    assert_eq!(in_transaction(&db).await, 0);
    db.close(Duration::from_secs(5)).await.unwrap();
    other.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smuggled_statements_never_run() {
    let db = connect(2).await;
    let t = table("smuggle");
    db.execute(
        &format!("CREATE TABLE {t} (id INT PRIMARY KEY, s TEXT)"),
        &[],
    )
    .await
    .unwrap();
    for sql in [
        format!("INSERT INTO {t} VALUES (1, 'x'); DROP TABLE {t}"),
        // MySQL reads \' as an escaped quote: the statement really ends after 'a\''.
        format!("INSERT INTO {t} VALUES (2, 'a\\''); DROP TABLE {t}; -- ')"),
        format!("INSERT INTO {t} VALUES (3, 'x') # ; DROP TABLE {t}\n; DROP TABLE {t}"),
        format!("SELECT 1; DROP TABLE {t}"),
    ] {
        let err = db.execute(&sql, &[]).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Syntax, "{sql}: {err}");
    }
    // With parameters too.
    let err = db
        .execute(
            &format!("INSERT INTO {t} VALUES ($1, $2); DELETE FROM {t}"),
            &params![4, "y"],
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Syntax, "{err}");
    let n = db
        .query_one(&format!("SELECT count(*) FROM {t}"), &[])
        .await
        .unwrap();
    assert_eq!(
        n.get::<i64>(0).unwrap(),
        0,
        "the table exists and nothing ran"
    );
    // A parameter holding SQL is only data.
    db.execute(
        &format!("INSERT INTO {t} VALUES ($1, $2)"),
        &params![5, format!("'); DROP TABLE {t}; --")],
    )
    .await
    .unwrap();
    db.execute(&format!("DROP TABLE {t}"), &[]).await.unwrap();
    db.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_data_local_infile_is_refused() {
    let db = connect(1).await;
    let t = table("infile");
    db.execute(&format!("CREATE TABLE {t} (line TEXT)"), &[])
        .await
        .unwrap();
    let load = format!("LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE {t}");
    let err = db.execute(&load, &[]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert!(err.to_string().contains("LOAD DATA LOCAL INFILE"), "{err}");
    let err = db.execute_batch(&format!("{load};")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    let err = db
        .execute(
            &format!("LOAD /* x */ DATA LOW_PRIORITY LOCAL INFILE '/etc/passwd' INTO TABLE {t}"),
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    // Even if a server asks for a file, mysql_async has no handler: nothing is sent.
    let n = db
        .query_one(&format!("SELECT count(*) FROM {t}"), &[])
        .await
        .unwrap();
    assert_eq!(n.get::<i64>(0).unwrap(), 0);
    db.execute(&format!("DROP TABLE {t}"), &[]).await.unwrap();
    db.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn value_mapping() {
    let db = connect(1).await;
    let err = db
        .query("SELECT CAST(18446744073709551615 AS UNSIGNED) AS big", &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("column big"), "{msg}");
    assert!(msg.contains("BIGINT UNSIGNED"), "{msg}");
    assert!(msg.contains("i64"), "{msg}");
    // The connection stays usable after the decode error.
    let row = db
        .query_one(
            "SELECT CAST(9223372036854775807 AS UNSIGNED) AS max_fit, CAST(1.50 AS DECIMAL(5,2)) AS d, \
             TRUE AS b, b'1' AS bit1, x'00ff' AS bin, 'é' AS txt, NULL AS n",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<i64>("max_fit").unwrap(), i64::MAX);
    assert_eq!(row.get::<String>("d").unwrap(), "1.50");
    assert!(row.get::<bool>("b").unwrap());
    assert_eq!(row.get::<Vec<u8>>("bin").unwrap(), vec![0, 0xff]);
    assert_eq!(row.get::<String>("txt").unwrap(), "é");
    assert_eq!(row.get::<Option<i64>>("n").unwrap(), None);

    let t = table("types");
    db.execute(
        &format!(
            "CREATE TABLE {t} (id INT PRIMARY KEY, flag TINYINT(1), bit1 BIT(1), u BIGINT UNSIGNED, \
             dt DATETIME(3), d DATE, dec_ DECIMAL(20,4), blob_ LONGBLOB, f FLOAT)"
        ),
        &[],
    )
    .await
    .unwrap();
    db.execute(
        &format!("INSERT INTO {t} VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"),
        &params![
            1,
            true,
            true,
            7,
            "2024-02-29 13:05:09.120",
            "2024-02-29",
            "12345.6789",
            vec![1u8, 2, 3],
            0.5
        ],
    )
    .await
    .unwrap();
    let row = db
        .query_one(&format!("SELECT * FROM {t}"), &[])
        .await
        .unwrap();
    assert_eq!(row.get::<Value>("flag").unwrap(), Value::Int(1));
    assert!(row.get::<bool>("flag").unwrap(), "TINYINT(1) reads as bool");
    assert_eq!(row.get::<Value>("bit1").unwrap(), Value::Bool(true));
    assert_eq!(row.get::<i64>("u").unwrap(), 7);
    assert_eq!(row.get::<String>("dec_").unwrap(), "12345.6789");
    assert_eq!(row.get::<Vec<u8>>("blob_").unwrap(), vec![1, 2, 3]);
    assert_eq!(row.get::<f64>("f").unwrap(), 0.5);
    #[cfg(not(feature = "chrono"))]
    {
        assert_eq!(row.get::<String>("dt").unwrap(), "2024-02-29 13:05:09.120");
        assert_eq!(row.get::<String>("d").unwrap(), "2024-02-29");
    }
    #[cfg(feature = "chrono")]
    {
        let dt = row.get::<Value>("dt").unwrap();
        assert!(matches!(dt, Value::DateTime(_)), "{dt:?}");
        assert_eq!(dt.to_string(), "2024-02-29 13:05:09.120");
        assert!(matches!(row.get::<Value>("d").unwrap(), Value::Date(_)));
    }
    db.execute(&format!("DROP TABLE {t}"), &[]).await.unwrap();
    db.close(Duration::from_secs(5)).await.unwrap();

    // parseTime: false reads dates as text whatever the features.
    let db = MySqlDatabase::connect(&pool_config(1).with_parse_time(false))
        .await
        .unwrap();
    let row = db
        .query_one(
            "SELECT CAST('2024-01-02 03:04:05' AS DATETIME) AS dt, DATE('2024-01-02') AS d",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<String>("dt").unwrap(), "2024-01-02 03:04:05");
    assert_eq!(row.get::<String>("d").unwrap(), "2024-01-02");
    db.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_connect_errors_fail_after_one_attempt() {
    let retries = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&retries);
    let options = ConnectOptions::new().on_retry(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    let cfg = pool_config(1)
        .with_name("dblayer_no_such_database")
        .with_max_retries(3)
        .with_retry_delay(Duration::from_millis(10));
    let err = MySqlDatabase::connect_with(&cfg, &options)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownDatabase, "{err}");
    assert_eq!(err.code(), Some("1049"));
    assert!(err.to_string().contains("after 1 attempt(s)"), "{err}");
    assert_eq!(retries.load(Ordering::SeqCst), 0);

    // A wrong password (1045) and an unknown user (MariaDB: 1698).
    for (user, code) in [
        (base_config().username, "1045"),
        ("dblayer_nobody".into(), "1698"),
    ] {
        let cfg = pool_config(1)
            .with_username(user)
            .with_password(Secret::new("sentinel-password-4711"))
            .with_max_retries(3)
            .with_retry_delay(Duration::from_millis(10));
        let err = MySqlDatabase::connect_with(&cfg, &options)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
        if err.code() != Some("1698") {
            assert_eq!(err.code(), Some(code), "{err}");
        }
        assert!(err.to_string().contains("after 1 attempt(s)"), "{err}");
        assert!(!format!("{err} {err:?}").contains("sentinel-password-4711"));
        assert_eq!(retries.load(Ordering::SeqCst), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening_retries_then_names_the_attempts() {
    // A port that was free a moment ago.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let retries = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&retries);
    let options = ConnectOptions::new().on_retry(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    let cfg = pool_config(1)
        .with_host("127.0.0.1")
        .with_port(port)
        .with_max_retries(2)
        .with_retry_delay(Duration::from_millis(20))
        .with_timeout(Duration::from_secs(2));
    let started = Instant::now();
    let err = MySqlDatabase::connect_with(&cfg, &options)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("after 3 attempt(s)"), "{msg}");
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
    assert_eq!(retries.load(Ordering::SeqCst), 2);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_on_a_small_pool_all_complete() {
    let db = Arc::new(connect(5).await);
    let t = table("load");
    db.execute(
        &format!("CREATE TABLE {t} (id INT PRIMARY KEY, v INT)"),
        &[],
    )
    .await
    .unwrap();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let db = Arc::clone(&db);
            let t = t.clone();
            tokio::spawn(async move {
                db.execute(
                    &format!("INSERT INTO {t} VALUES ($1, $2)"),
                    &params![i, i * 2],
                )
                .await?;
                let tx = db.begin(TxOptions::new()).await?;
                tx.execute(
                    &format!("UPDATE {t} SET v = v + 1 WHERE id = $1"),
                    &params![i],
                )
                .await?;
                tx.commit().await?;
                db.query_one(&format!("SELECT v FROM {t} WHERE id = $1"), &params![i])
                    .await?
                    .get::<i64>("v")
            })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let v = task.await.unwrap().unwrap();
        assert_eq!(v, i as i64 * 2 + 1);
    }
    let stats = db.stats();
    assert!(stats.open <= 5, "{stats:?}");
    assert!(stats.wait_count > 0, "{stats:?}");
    db.execute(&format!("DROP TABLE {t}"), &[]).await.unwrap();
    db.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_pool_through_a_driver_created_database() {
    let mut config = DatabaseConfig::default();
    config.database_type = dbcore::DatabaseType::Mysql;
    config.mysql = pool_config(2);
    let db: Box<dyn Database> = db_mysql::DRIVER
        .connect(&config, &ConnectOptions::new())
        .await
        .unwrap();
    let mysql = db
        .as_any()
        .downcast_ref::<MySqlDatabase>()
        .expect("a MySqlDatabase");
    use db_mysql::mysql_async::prelude::Queryable;
    let mut conn = mysql.pool().get_conn().await.unwrap();
    let one: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    drop(conn);
    assert!(mysql.max_allowed_packet() > 1024);
    let version = db.server_version().await.unwrap();
    assert!(!version.is_empty());
    db.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_insert_in_batches_in_one_transaction() {
    let db = connect(2).await;
    let t = table("bulk");
    db.execute(
        &format!("CREATE TABLE {t} (id INT PRIMARY KEY, name VARCHAR(64), payload LONGBLOB)"),
        &[],
    )
    .await
    .unwrap();
    let rows: Vec<Vec<Value>> = (0..5000)
        .map(|i| {
            vec![
                Value::Int(i),
                Value::from(format!("row {i}")),
                Value::Bytes(vec![7; 16]),
            ]
        })
        .collect();
    let n = db
        .insert_many(&t, &["id", "name", "payload"], rows)
        .await
        .unwrap();
    assert_eq!(n, 5000);
    // A failing batch rolls the whole insert back.
    let rows: Vec<Vec<Value>> = (5000..7000)
        .chain([1])
        .map(|i| vec![Value::Int(i), Value::Null, Value::Null])
        .collect();
    let err = db
        .insert_many(&t, &["id", "name", "payload"], rows)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UniqueViolation, "{err}");
    let count = db
        .query_one(&format!("SELECT count(*) FROM {t}"), &[])
        .await
        .unwrap();
    assert_eq!(count.get::<i64>(0).unwrap(), 5000);
    db.execute(&format!("DROP TABLE {t}"), &[]).await.unwrap();
    db.close(Duration::from_secs(5)).await.unwrap();
}

#[cfg(all(feature = "json", feature = "uuid", feature = "chrono"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feature_values_round_trip() {
    let db = connect(1).await;
    let t = table("feat");
    db.execute(
        &format!(
            "CREATE TABLE {t} (id INT PRIMARY KEY, j JSON, u CHAR(36), d DATE, tm TIME(6), \
             dt DATETIME(6), ts TIMESTAMP(6) NULL)"
        ),
        &[],
    )
    .await
    .unwrap();
    let json: serde_json::Value = serde_json::json!({"a": [1, 2, {"b": null}]});
    let uuid = uuid::Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0);
    let date = chrono::NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
    let time = chrono::NaiveTime::from_hms_micro_opt(13, 5, 9, 42).unwrap();
    let dt = date.and_time(time);
    let ts = dt.and_utc();
    db.execute(
        &format!("INSERT INTO {t} VALUES (1, $1, $2, $3, $4, $5, $6)"),
        &params![json.clone(), uuid, date, time, dt, ts],
    )
    .await
    .unwrap();
    let row = db
        .query_one(&format!("SELECT * FROM {t}"), &[])
        .await
        .unwrap();
    assert_eq!(row.get::<serde_json::Value>("j").unwrap(), json);
    assert_eq!(row.get::<uuid::Uuid>("u").unwrap(), uuid);
    assert_eq!(row.get::<chrono::NaiveDate>("d").unwrap(), date);
    assert_eq!(row.get::<chrono::NaiveTime>("tm").unwrap(), time);
    assert_eq!(row.get::<chrono::NaiveDateTime>("dt").unwrap(), dt);
    // loc is UTC: the TIMESTAMP reads back as the same wall-clock time.
    assert_eq!(row.get::<chrono::NaiveDateTime>("ts").unwrap(), dt);
    db.execute(&format!("DROP TABLE {t}"), &[]).await.unwrap();
    db.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_session_is_discarded_not_reused() {
    let db = connect(1).await;
    let id = db
        .query_one("SELECT CONNECTION_ID() AS id", &[])
        .await
        .unwrap()
        .get::<i64>("id")
        .unwrap();
    let other = connect(1).await;
    other
        .execute(&format!("KILL CONNECTION {id}"), &[])
        .await
        .unwrap();
    // The first use of the dead pooled connection fails as lost (or, if the pool noticed
    // first, succeeds on a fresh one); either way the next query runs on a new session.
    match db.query("SELECT 1", &[]).await {
        Ok(_) => {}
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionLost, "{e}"),
    }
    let row = db
        .query_one("SELECT CONNECTION_ID() AS id, @@time_zone AS tz", &[])
        .await
        .unwrap();
    assert_ne!(row.get::<i64>("id").unwrap(), id);
    assert_eq!(row.get::<String>("tz").unwrap(), "+00:00");
    db.close(Duration::from_secs(5)).await.unwrap();
    other.close(Duration::from_secs(5)).await.unwrap();
}

/// A date the server cannot store (years outside 0000..=9999) is refused as a parameter
/// error naming the placeholder, never bound as another date.
#[cfg(feature = "chrono")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dates_outside_years_0_to_9999_are_parameter_errors() {
    use chrono::NaiveDate;
    let db = connect(1).await;
    let t = table("years");
    db.execute(
        &format!("CREATE TABLE {t} (id INT PRIMARY KEY, d DATE, dt DATETIME(6))"),
        &[],
    )
    .await
    .unwrap();
    let ymd = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    let bad = [
        Value::Date(ymd(-1, 1, 2)),
        Value::Date(ymd(10_000, 1, 1)),
        Value::DateTime(ymd(-1, 1, 2).and_hms_opt(3, 4, 5).unwrap()),
        Value::DateTime(ymd(10_000, 1, 1).and_hms_opt(0, 0, 0).unwrap()),
        Value::Timestamp(ymd(10_000, 1, 1).and_hms_opt(0, 0, 0).unwrap().and_utc()),
    ];
    for value in bad {
        for sql in [
            format!("INSERT INTO {t} (id, d) VALUES ($1, $2)"),
            format!("INSERT INTO {t} (id, dt) VALUES ($1, $2)"),
        ] {
            let err = db
                .execute(&sql, &[Value::Int(1), value.clone()])
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Parameter, "{value:?}: {err}");
            let msg = err.to_string();
            assert!(msg.contains("$2"), "{msg}");
            assert!(msg.contains("0000 to 9999"), "{msg}");
        }
    }
    let count = db
        .query_one(&format!("SELECT count(*) FROM {t}"), &[])
        .await
        .unwrap();
    assert_eq!(count.get::<i64>(0).unwrap(), 0, "nothing was stored");
    // The edges of the range still bind, unchanged.
    let first = ymd(0, 1, 2);
    let last = ymd(9999, 12, 31)
        .and_hms_micro_opt(23, 59, 59, 999_999)
        .unwrap();
    db.execute(
        &format!("INSERT INTO {t} VALUES ($1, $2, $3), ($4, $5, $6)"),
        &[
            Value::Int(1),
            Value::Date(first),
            Value::DateTime(first.and_hms_opt(0, 0, 0).unwrap()),
            Value::Int(2),
            Value::Date(last.date()),
            Value::DateTime(last),
        ],
    )
    .await
    .unwrap();
    let rows = db
        .query(&format!("SELECT d, dt FROM {t} ORDER BY id"), &[])
        .await
        .unwrap();
    assert_eq!(rows[0].get::<NaiveDate>("d").unwrap(), first);
    assert_eq!(
        rows[0].get::<chrono::NaiveDateTime>("dt").unwrap(),
        first.and_hms_opt(0, 0, 0).unwrap()
    );
    assert_eq!(rows[1].get::<NaiveDate>("d").unwrap(), last.date());
    assert_eq!(rows[1].get::<chrono::NaiveDateTime>("dt").unwrap(), last);
    db.execute(&format!("DROP TABLE {t}"), &[]).await.unwrap();
    db.close(Duration::from_secs(5)).await.unwrap();
}

/// `Value::Bytes` goes out with the same wire type as text (mysql_async sends every
/// `Bytes` parameter as MYSQL_TYPE_VAR_STRING and has no way to mark one binary), so the
/// server gives it the connection's character set. Into a binary column it is stored
/// exactly; `SELECT $1` is a text column, which needs `CAST($1 AS BINARY)` to read back
/// bytes that are not UTF-8.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_parameters_are_sent_as_strings() {
    let db = connect(1).await;
    let bytes = Value::Bytes(vec![0xff, 0x00]);
    let t = table("bytes");
    db.execute(
        &format!("CREATE TABLE {t} (id INT PRIMARY KEY, b LONGBLOB, vb VARBINARY(8))"),
        &[],
    )
    .await
    .unwrap();
    db.execute(
        &format!("INSERT INTO {t} VALUES (1, $1, $1)"),
        std::slice::from_ref(&bytes),
    )
    .await
    .unwrap();
    let row = db
        .query_one(&format!("SELECT b, vb FROM {t}"), &[])
        .await
        .unwrap();
    assert_eq!(row.get::<Value>("b").unwrap(), bytes);
    assert_eq!(row.get::<Value>("vb").unwrap(), bytes);
    let row = db
        .query_one(
            "SELECT CAST($1 AS BINARY) AS v",
            std::slice::from_ref(&bytes),
        )
        .await
        .unwrap();
    assert_eq!(row.get::<Value>("v").unwrap(), bytes);
    // The documented limit: the bare placeholder is a text column.
    let err = db
        .query("SELECT $1 AS v", std::slice::from_ref(&bytes))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("column v"), "{msg}");
    assert!(msg.contains("CAST(... AS BINARY)"), "{msg}");
    db.execute(&format!("DROP TABLE {t}"), &[]).await.unwrap();
    db.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_settings_are_checked_against_the_server_limits() {
    let db = connect(2).await;
    let row = db
        .query_one("SELECT @@wait_timeout, @@max_connections", &[])
        .await
        .unwrap();
    let wait_timeout: i64 = row.get(0).unwrap();
    let max_connections: i64 = row.get(1).unwrap();
    // The defaults (idle connections retired after a minute) fit a server that keeps
    // idle sessions for longer than that.
    if wait_timeout > 300 {
        assert!(db.limit_warnings().is_empty(), "{:?}", db.limit_warnings());
    }
    db.close(Duration::from_secs(5)).await.unwrap();

    // Idle connections kept for ever, and more of them than the server accepts.
    let too_many = u32::try_from(max_connections + 1).unwrap();
    let db = MySqlDatabase::connect(
        &base_config()
            .with_max_open_conns(too_many)
            .with_max_idle_conns(2)
            .with_conn_max_idle_time(Duration::ZERO)
            .with_conn_max_lifetime(Duration::ZERO),
    )
    .await
    .unwrap();
    let warnings = db.limit_warnings();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].contains(&format!("database.mysql.maxOpenConns is {too_many}")),
        "{warnings:?}"
    );
    assert!(warnings[1].contains("wait_timeout"), "{warnings:?}");
    assert!(warnings[1].contains("connMaxIdleTime"), "{warnings:?}");
    db.close(Duration::from_secs(5)).await.unwrap();
}

/// Two pools with different `parseTime` run the same statement text on one thread: the
/// per-thread statement and decoder caches must not hand one pool's result decoding to
/// the other.
#[cfg(feature = "chrono")]
#[tokio::test(flavor = "current_thread")]
async fn pools_with_different_parse_time_decode_the_same_statement_their_own_way() {
    let as_dates = MySqlDatabase::connect(&pool_config(1).with_parse_time(true))
        .await
        .unwrap();
    let as_text = MySqlDatabase::connect(&pool_config(1).with_parse_time(false))
        .await
        .unwrap();
    let sql = "SELECT CAST('2024-01-02 03:04:05' AS DATETIME) AS dt";
    for _ in 0..3 {
        let dt = as_dates
            .query_one(sql, &[])
            .await
            .unwrap()
            .get::<Value>("dt")
            .unwrap();
        assert!(matches!(dt, Value::DateTime(_)), "{dt:?}");
        let dt = as_text
            .query_one(sql, &[])
            .await
            .unwrap()
            .get::<Value>("dt")
            .unwrap();
        assert_eq!(dt, Value::Text("2024-01-02 03:04:05".into()));
    }
    as_dates.close(Duration::from_secs(5)).await.unwrap();
    as_text.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_single_row_queries_decode_into_tuples() {
    let db = MySqlDatabase::connect(&pool_config(1)).await.unwrap();
    let (id, name): (i64, String) = db
        .query_one_as("SELECT CAST($1 AS SIGNED), 'Ada'", &params![7])
        .await
        .unwrap();
    assert_eq!((id, name.as_str()), (7, "Ada"));
    let none: Option<(i64,)> = db
        .query_opt_as("SELECT 1 FROM DUAL WHERE 1 = 0", &[])
        .await
        .unwrap();
    assert!(none.is_none());
    let err = db
        .query_one_as::<(i64, i64)>("SELECT 1, 'x'", &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    db.close(Duration::from_secs(5)).await.unwrap();
}

/// The typed reads of `query_one_as` (integers, doubles and text read without a
/// `Value`) give the right values and errors; a second row stops the query and leaves
/// the connection clean. That they agree with the `Value` path for every common column
/// type and requested type is the conformance scenario `typed_reads_agree_with_values`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_reads_give_the_right_values() {
    let db = MySqlDatabase::connect(&pool_config(1)).await.unwrap();
    // Driver-specific values (the common ones are the conformance scenario's).
    let err = db
        .query_one_as::<(i64,)>("SELECT CAST(18446744073709551615 AS UNSIGNED) AS c", &[])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not fit"), "{err}");
    let (d,): (String,) = db.query_one_as("SELECT 1.50 AS d", &[]).await.unwrap();
    assert_eq!(d, "1.50");

    // A second row stops the query; the connection (the pool's only one) stays usable.
    let err = db
        .query_opt_as::<(i64,)>("SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3", &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooManyRows, "{err}");
    let err = db
        .query_one_as::<(i64,)>("SELECT 1 FROM DUAL WHERE 1 = 0", &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RowNotFound, "{err}");
    let (n,): (i64,) = db.query_one_as("SELECT 41 + 1", &[]).await.unwrap();
    assert_eq!(n, 42);
    let stats = db.stats();
    assert_eq!(stats.discarded, 0, "{stats:?}");
    db.close(Duration::from_secs(5)).await.unwrap();
}

/// A statement that has returned leaves no connection in use, at once: mysql_async
/// takes a given-back connection into its idle list on a task of its own, later, so the
/// layer counts its checkouts itself. Connections the layer still has to clean up (a
/// dropped transaction is rolled back first) count as in use until that is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_count_connections_in_use_exactly() {
    let db = MySqlDatabase::connect(&pool_config(2)).await.unwrap();
    for _ in 0..20 {
        db.query("SELECT 1", &[]).await.unwrap();
        db.ping().await.unwrap();
        let stats = db.stats();
        assert_eq!(stats.in_use, 0, "{stats:?}");
        assert_eq!(stats.open, stats.idle, "{stats:?}");
    }
    let tx = db.begin(TxOptions::new()).await.unwrap();
    tx.execute("SELECT 1", &[]).await.unwrap();
    assert_eq!(db.stats().in_use, 1, "{:?}", db.stats());
    drop(tx); // rolled back on a task of the pool, then given back
    let deadline = Instant::now() + Duration::from_secs(5);
    while db.stats().in_use != 0 {
        assert!(Instant::now() < deadline, "{:?}", db.stats());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let tx = db.begin(TxOptions::new()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(db.stats().in_use, 0, "{:?}", db.stats());
    db.close(Duration::from_secs(5)).await.unwrap();
    // The connections `close` shut down did not expire.
    let stats = db.stats();
    assert_eq!(stats.max_lifetime_closed, 0, "{stats:?}");
    assert_eq!(stats.max_idle_time_closed, 0, "{stats:?}");
}

/// A connection left inside a transaction through the raw pool is reset before the layer
/// uses it again: the layer's writes are committed, not swallowed by the leaked `BEGIN`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_left_dirty_through_the_raw_pool_is_reset() {
    use mysql_async::prelude::Queryable;

    let db = MySqlDatabase::connect(&pool_config(1)).await.unwrap();
    let t = table("rawdirty");
    db.execute(&format!("CREATE TABLE {t} (id INT PRIMARY KEY)"), &[])
        .await
        .unwrap();
    let pool = db.pool().clone();
    // The layer uses the connection after raw access was handed out, and gives it back.
    db.execute(&format!("INSERT INTO {t} VALUES (0)"), &[])
        .await
        .unwrap();
    let mut raw = pool.get_conn().await.unwrap();
    raw.query_drop("BEGIN").await.unwrap();
    raw.query_drop("SET @leaked = 1").await.unwrap();
    drop(raw);
    for id in 1..4 {
        db.execute(&format!("INSERT INTO {t} VALUES ($1)"), &params![id])
            .await
            .unwrap();
    }
    let leaked = db.query_one("SELECT @leaked AS v", &[]).await.unwrap();
    assert!(leaked.value("v").unwrap().is_null(), "{leaked:?}");
    // Seen from another session: every write is there.
    let other = MySqlDatabase::connect(&pool_config(1)).await.unwrap();
    let n: i64 = other
        .query_one(&format!("SELECT COUNT(*) FROM {t} WHERE id < 100"), &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 4);
    other.close(Duration::from_secs(5)).await.unwrap();
    db.execute(&format!("DROP TABLE {t}"), &[]).await.unwrap();
    db.close(Duration::from_secs(5)).await.unwrap();
}

/// `insert_many` in a transaction whose future is dropped between two batches (here:
/// while it waits for the transaction's connection, which another statement of the same
/// transaction holds) leaves none of its rows behind: its savepoint is rolled back
/// before the transaction's next statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_many_cancelled_between_batches_leaves_no_rows() {
    let db = MySqlDatabase::connect(&pool_config(2)).await.unwrap();
    let t = table("bulkcancel");
    db.execute(&format!("CREATE TABLE {t} (id INT PRIMARY KEY)"), &[])
        .await
        .unwrap();
    let tx = db.begin(TxOptions::new()).await.unwrap();
    tx.execute(&format!("INSERT INTO {t} VALUES (-1)"), &[])
        .await
        .unwrap();
    let rows: Vec<Vec<Value>> = (0..20_000).map(|i| vec![Value::from(i)]).collect();
    let load = tokio::time::timeout(
        Duration::from_millis(300),
        tx.insert_many(&t, &["id"], rows),
    );
    let other = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.execute("DO SLEEP(0.6)", &[]).await
    };
    let (load, other) = tokio::join!(load, other);
    assert!(
        load.is_err(),
        "the load should have been cut short: {load:?}"
    );
    other.unwrap();
    let n: i64 = tx
        .query_one(&format!("SELECT COUNT(*) FROM {t}"), &[])
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 1, "only the row inserted before the load");
    tx.commit().await.unwrap();
    db.execute(&format!("DROP TABLE {t}"), &[]).await.unwrap();
    db.close(Duration::from_secs(5)).await.unwrap();
}

/// The concrete transaction (`MySqlDatabase::begin`, inherent statement methods) commits,
/// rolls back and reads its own writes exactly as the boxed trait object does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concrete_transaction_commits_and_rolls_back() {
    let db = connect(2).await;
    let t = table("concrete_tx");
    db.execute(&format!("CREATE TABLE {t} (id BIGINT PRIMARY KEY)"), &[])
        .await
        .unwrap();

    let tx: db_mysql::MySqlTransaction<'static> = db.begin(TxOptions::new()).await.unwrap();
    let sql = format!("INSERT INTO {t} VALUES ($1)");
    assert_eq!(tx.execute(&sql, &params![1]).await.unwrap(), 1);
    let count = format!("SELECT COUNT(*) AS n FROM {t}");
    let seen = tx.query_one(&count, &[]).await.unwrap();
    assert_eq!(seen.get::<i64>("n").unwrap(), 1);
    assert!(
        tx.query_opt(&format!("SELECT id FROM {t} WHERE id = 2"), &[])
            .await
            .unwrap()
            .is_none()
    );
    tx.commit().await.unwrap();

    let tx = db.begin(TxOptions::new()).await.unwrap();
    tx.execute(&sql, &params![2]).await.unwrap();
    assert_eq!(
        tx.query(&format!("SELECT id FROM {t}"), &[])
            .await
            .unwrap()
            .len(),
        2
    );
    tx.rollback().await.unwrap();

    let rows = db
        .query(&format!("SELECT id FROM {t} ORDER BY id"), &[])
        .await
        .unwrap();
    let ids: Vec<i64> = rows.iter().map(|r| r.get::<i64>("id").unwrap()).collect();
    assert_eq!(ids, [1]);
    assert_eq!(db.stats().in_use, 0, "{:?}", db.stats());
    db.execute(&format!("DROP TABLE {t}"), &[]).await.unwrap();
    db.close(Duration::from_secs(5)).await.unwrap();
}

/// InnoDB rolls a deadlock victim's whole transaction back and leaves the session
/// outside any transaction: a statement the caller runs next "in the transaction" would
/// autocommit on its own, and a later `rollback` could not take it back. The layer
/// refuses statements after that (and `commit` says the transaction was rolled back), so
/// nothing is written outside the transaction the caller believes it has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_after_a_deadlock_rollback_never_autocommit() {
    let db = Arc::new(connect(3).await);
    let t = table("deadlock");
    db.execute(
        &format!("CREATE TABLE {t} (id INT PRIMARY KEY, v INT)"),
        &[],
    )
    .await
    .unwrap();
    db.execute(&format!("INSERT INTO {t} VALUES (1, 0), (2, 0)"), &[])
        .await
        .unwrap();
    let update = format!("UPDATE {t} SET v = v + 1 WHERE id = $1");

    // Two transactions lock the rows in opposite orders: one of them is the victim.
    let a = db.begin(TxOptions::new()).await.unwrap();
    let b = db.begin(TxOptions::new()).await.unwrap();
    a.execute(&update, &params![1]).await.unwrap();
    b.execute(&update, &params![2]).await.unwrap();
    let (ra, rb) = tokio::join!(
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            a.execute(&update, &params![2]).await
        },
        async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            b.execute(&update, &params![1]).await
        },
    );
    let (victim, survivor, err) = match (ra, rb) {
        (Err(e), Ok(_)) => (a, b, e),
        (Ok(_), Err(e)) => (b, a, e),
        other => panic!("expected one deadlock victim, got {other:?}"),
    };
    assert_eq!(err.kind(), ErrorKind::Deadlock, "{err}");
    survivor.commit().await.unwrap();

    // The victim's transaction is gone on the server; the caller carries on with it.
    let insert = format!("INSERT INTO {t} VALUES ($1, 0)");
    let after = victim.execute(&insert, &params![3]).await;
    let err = after.expect_err("a statement after the server rolled the transaction back");
    assert_eq!(err.kind(), ErrorKind::Deadlock, "{err}");
    assert!(
        err.to_string().contains("rolled this transaction back"),
        "{err}"
    );
    let committed = victim.commit().await;
    let err = committed.expect_err("commit of a transaction the server rolled back");
    assert_eq!(err.kind(), ErrorKind::Deadlock, "{err}");

    let rows = db
        .query(&format!("SELECT id FROM {t} WHERE id = 3"), &[])
        .await
        .unwrap();
    assert!(
        rows.is_empty(),
        "a statement ran outside the transaction: {rows:?}"
    );
    let stats = db.stats();
    assert_eq!(stats.in_use, 0, "{stats:?}");
    db.execute(&format!("DROP TABLE {t}"), &[]).await.unwrap();
}

/// A lock wait timeout rolls back only the waiting statement (unless the server runs with
/// `innodb_rollback_on_timeout`): the transaction goes on, and what it did before and
/// after commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_wait_timeout_leaves_the_transaction_usable() {
    let db = connect(3).await;
    let setting = db
        .query_one("SELECT @@innodb_rollback_on_timeout AS r", &[])
        .await
        .unwrap();
    if setting.get::<i64>("r").unwrap() != 0 {
        eprintln!(
            "note: the server rolls back whole transactions on lock wait timeouts; nothing to check"
        );
        return;
    }
    let t = table("lockwait");
    db.execute(
        &format!("CREATE TABLE {t} (id INT PRIMARY KEY, v INT)"),
        &[],
    )
    .await
    .unwrap();
    db.execute(&format!("INSERT INTO {t} VALUES (1, 0)"), &[])
        .await
        .unwrap();
    let holder = db.begin(TxOptions::new()).await.unwrap();
    holder
        .execute(&format!("UPDATE {t} SET v = 1 WHERE id = 1"), &[])
        .await
        .unwrap();
    let waiter = db.begin(TxOptions::new()).await.unwrap();
    waiter
        .execute("SET SESSION innodb_lock_wait_timeout = 1", &[])
        .await
        .unwrap();
    let insert = format!("INSERT INTO {t} VALUES ($1, 0)");
    waiter.execute(&insert, &params![5]).await.unwrap();
    let err = waiter
        .execute(&format!("UPDATE {t} SET v = 2 WHERE id = 1"), &[])
        .await
        .expect_err("the row is locked");
    assert_eq!(err.code(), Some("1205"), "{err}");
    waiter.execute(&insert, &params![6]).await.unwrap();
    waiter.commit().await.unwrap();
    holder.rollback().await.unwrap();
    let rows = db
        .query(&format!("SELECT id FROM {t} WHERE id > 1 ORDER BY id"), &[])
        .await
        .unwrap();
    let ids: Vec<i64> = rows.iter().map(|r| r.get::<i64>("id").unwrap()).collect();
    assert_eq!(ids, [5, 6]);
    db.execute(&format!("DROP TABLE {t}"), &[]).await.unwrap();
}
