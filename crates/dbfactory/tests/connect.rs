//! `dbfactory::connect` end to end on SQLite, through the default registry.
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used)] // tests may panic on failure

use std::time::Duration;

use dbfactory::{ConfigLoader, ConnectOptions, DatabaseType, DriverRegistry, ErrorKind, params};

#[tokio::test]
async fn connects_sqlite_memory_from_a_url_and_runs_queries() {
    let loaded = ConfigLoader::new()
        .env_vars([("DATABASE_URL", "sqlite::memory:")])
        .load()
        .unwrap();
    let db = dbfactory::connect(&loaded.config).await.unwrap();
    assert_eq!(db.database_type(), DatabaseType::Sqlite);
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)", &[])
        .await
        .unwrap();
    let n = db
        .execute(
            "INSERT INTO t (id, name) VALUES ($1, $2), ($3, $4)",
            &params![1, "alice", 2, "bob"],
        )
        .await
        .unwrap();
    assert_eq!(n, 2);
    let rows = db
        .query("SELECT name FROM t ORDER BY id", &[])
        .await
        .unwrap();
    let names: Vec<String> = rows.iter().map(|r| r.get("name").unwrap()).collect();
    assert_eq!(names, ["alice", "bob"]);
    db.ping().await.unwrap();
    assert!(db.health().await.healthy);
    db.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn connect_with_goes_through_the_registry() {
    let config = dbfactory::config_from_url("sqlite://:memory:").unwrap();
    let registry = DriverRegistry::with_defaults();
    let db = registry
        .connect(&config, &ConnectOptions::new())
        .await
        .unwrap();
    assert!(
        db.as_any()
            .downcast_ref::<dbfactory::db_sqlite::SqliteDatabase>()
            .is_some()
    );
    let row = db.query_one("SELECT 6 * 7 AS n", &[]).await.unwrap();
    assert_eq!(row.get::<i64>("n").unwrap(), 42);
    db.close(Duration::from_secs(5)).await.unwrap();

    let db = dbfactory::connect_with(&config, &ConnectOptions::new().on_retry(|_| {}))
        .await
        .unwrap();
    db.close(Duration::from_secs(5)).await.unwrap();
}

#[cfg(not(feature = "postgres"))]
#[tokio::test]
async fn postgres_is_not_compiled_in() {
    let config = dbfactory::config_from_url("postgres://localhost/app").unwrap();
    let err = dbfactory::connect(&config).await.err().unwrap();
    assert_eq!(err.kind(), ErrorKind::UnsupportedDatabase);
    assert!(
        err.to_string().contains("`postgres` feature of dbfactory"),
        "{err}"
    );
}

/// With the driver compiled in, a postgres URL reaches it: a port where nothing listens
/// fails as a connection error naming the target and the attempts, without the password.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_url_reaches_the_driver() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config =
        dbfactory::config_from_url(&format!("postgres://u:sentinel-pw@127.0.0.1:{port}/app"))
            .unwrap();
    config.postgres.max_retries = 1;
    config.postgres.retry_delay = Duration::from_millis(10);
    let err = dbfactory::connect(&config).await.err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("postgres at 127.0.0.1:{port}/app")),
        "{msg}"
    );
    assert!(msg.contains("after 2 attempt(s)"), "{msg}");
    assert!(!msg.contains("sentinel-pw"), "{msg}");
}

#[tokio::test]
async fn invalid_config_is_rejected_before_connecting() {
    let mut config = dbfactory::config_from_url("sqlite::memory:").unwrap();
    config.sqlite.file_path = String::new();
    let err = dbfactory::connect(&config).await.err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        err.to_string().contains("database.sqlite.filePath"),
        "{err}"
    );
}
