//! PostgreSQL test databases: each test works in a schema of its own
//! (`dbl_test_<pid>_<n>_<random>`), created on the server named by
//! `DB_TEST_POSTGRES_URL`, set as the `search_path` of every pooled connection, and
//! dropped (with everything in it) when the test ends.

use std::sync::Arc;
use std::time::Duration;

use db_postgres::{PgDatabase, PgOptions};
use dbcore::{Database, Executor, PostgresConfig};

use crate::harness::{POSTGRES_URL_ENV, TestDb, TestDbOptions, unique_name};

/// The server used when `DB_TEST_POSTGRES_URL` is not set.
pub(crate) const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The server configuration from `DB_TEST_POSTGRES_URL` (or the local default), read by
/// the same URL parser `DATABASE_URL` uses.
///
/// # Panics
/// When the variable cannot be parsed.
pub fn server_config() -> PostgresConfig {
    let url = std::env::var(POSTGRES_URL_ENV).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
    match dbfactory::config_from_url(&url) {
        Ok(cfg) => cfg.postgres,
        // The parser's message never contains the password.
        Err(e) => panic!("{POSTGRES_URL_ENV} is not a usable postgres:// URL: {e}"),
    }
}

/// A one-connection pool on the server, for creating and dropping test schemas.
async fn admin(base: &PostgresConfig) -> Result<PgDatabase, dbcore::Error> {
    let cfg = base
        .clone()
        .with_max_open_conns(1)
        .with_max_idle_conns(1)
        .with_max_retries(0)
        .with_health_check_interval(Duration::ZERO)
        .with_timeout(Duration::from_secs(10));
    PgDatabase::connect(&cfg).await
}

pub(crate) async fn connect_postgres(options: &TestDbOptions, max_open: u32) -> TestDb {
    let base = server_config();
    let creator = admin(&base).await.unwrap_or_else(|e| {
        panic!(
            "cannot reach the PostgreSQL test server ({}): {e}. Start it (e.g. \
             `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`) or set \
             {POSTGRES_URL_ENV}=postgres://user:password@host:port/database",
            base.target()
        )
    });
    let schema = unique_name("dbl_test");
    if let Err(e) = creator
        .execute(&format!("CREATE SCHEMA {schema}"), &[])
        .await
    {
        panic!("cannot create the test schema {schema}: {e}");
    }
    let _ = creator.close(Duration::from_secs(5)).await;

    let mut cfg = base.clone();
    cfg.max_open_conns = max_open;
    cfg.max_idle_conns = cfg.max_idle_conns.min(max_open);
    if let Some(timeout) = options.timeout {
        cfg.timeout = timeout;
    }
    let description = format!("postgres schema {schema} on {}", base.target());
    let cleanup_schema = schema.clone();
    let cleanup: crate::harness::Cleanup = Box::new(move || {
        Box::pin(async move {
            match admin(&base).await {
                Ok(admin) => {
                    if let Err(e) = admin
                        .execute_batch(&format!(
                            "SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {cleanup_schema} CASCADE"
                        ))
                        .await
                    {
                        eprintln!("warning: dropping test schema {cleanup_schema} failed: {e}");
                    }
                    let _ = admin.close(Duration::from_secs(5)).await;
                }
                Err(e) => eprintln!("warning: cannot drop test schema {cleanup_schema}: {e}"),
            }
        })
    });
    let pg_options = PgOptions::new()
        .application_name("dblayer-conformance")
        .search_path([schema.clone()]);
    let db = match PgDatabase::connect_with(&cfg, pg_options).await {
        Ok(db) => db,
        Err(e) => {
            cleanup().await;
            panic!("could not open the test database ({description}): {e}");
        }
    };
    TestDb::on_server(
        Arc::new(db) as Arc<dyn Database>,
        max_open,
        description,
        cleanup,
    )
}
