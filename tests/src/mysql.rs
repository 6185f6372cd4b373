//! MySQL / MariaDB test databases: each test gets a database of its own
//! (`dbl_test_<pid>_<n>_<random>`), created through the server named by
//! `DB_TEST_MYSQL_URL` and dropped when the test ends.

use std::sync::Arc;
use std::time::Duration;

use db_mysql::MySqlDatabase;
use dbcore::{Database, MySqlConfig, Secret};

use crate::harness::{MYSQL_URL_ENV, TestDb, TestDbOptions, unique_name};

/// The server used when `DB_TEST_MYSQL_URL` is not set.
pub(crate) const DEFAULT_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/test";

/// Reads `mysql://user[:password]@host[:port]/database` (percent-encoded user and
/// password) into a configuration.
pub(crate) fn config_from_url(url: &str) -> Result<MySqlConfig, String> {
    let rest = url
        .strip_prefix("mysql://")
        .or_else(|| url.strip_prefix("mariadb://"))
        .ok_or_else(|| format!("{url:?} does not start with mysql://"))?;
    let rest = rest.split('?').next().unwrap_or(rest);
    let (userinfo, hostpart) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let (hostport, name) = hostpart.split_once('/').unwrap_or((hostpart, "test"));
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("bad port {p:?} in {MYSQL_URL_ENV}"))?,
        ),
        None => (hostport, 3306),
    };
    let mut cfg = MySqlConfig::default()
        .with_host(host)
        .with_port(port)
        .with_name(if name.is_empty() { "test" } else { name });
    if let Some(userinfo) = userinfo {
        let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        cfg = cfg
            .with_username(percent_decode(user))
            .with_password(Secret::new(percent_decode(pass)));
    }
    Ok(cfg)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The server configuration from `DB_TEST_MYSQL_URL` (or the local default).
///
/// # Panics
/// When the variable cannot be parsed.
pub(crate) fn server_config() -> MySqlConfig {
    let url = std::env::var(MYSQL_URL_ENV).unwrap_or_else(|_| DEFAULT_MYSQL_URL.to_owned());
    config_from_url(&url).unwrap_or_else(|e| panic!("{MYSQL_URL_ENV}: {e}"))
}

/// A small pool on the server's base database, for creating and dropping test databases.
async fn admin(base: &MySqlConfig) -> Result<MySqlDatabase, dbcore::Error> {
    let cfg = base
        .clone()
        .with_max_open_conns(1)
        .with_max_idle_conns(1)
        .with_max_retries(0)
        .with_health_check_interval(Duration::ZERO)
        .with_timeout(Duration::from_secs(10));
    MySqlDatabase::connect(&cfg).await
}

pub(crate) async fn connect_mysql(options: &TestDbOptions, max_open: u32) -> TestDb {
    let base = server_config();
    let creator = admin(&base).await.unwrap_or_else(|e| {
        panic!(
            "cannot reach the MySQL/MariaDB test server ({}): {e}. Start it (e.g. \
             `start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd`) or set \
             {MYSQL_URL_ENV}=mysql://user:password@host:port/database",
            base.target()
        )
    });
    let name = unique_name("dbl_test");
    if let Err(e) = creator
        .execute(
            &format!("CREATE DATABASE {name} CHARACTER SET utf8mb4"),
            &[],
        )
        .await
    {
        panic!("cannot create the test database {name}: {e}");
    }
    let _ = creator.close(Duration::from_secs(5)).await;

    let mut cfg = base.clone().with_name(name.clone());
    cfg.max_open_conns = max_open;
    cfg.max_idle_conns = cfg.max_idle_conns.min(max_open);
    if let Some(timeout) = options.timeout {
        cfg.timeout = timeout;
    }
    let description = format!("mysql database {name} on {}", base.target());
    let cleanup_name = name.clone();
    let cleanup: crate::harness::Cleanup = Box::new(move || {
        Box::pin(async move {
            match admin(&base).await {
                Ok(admin) => {
                    if let Err(e) = admin
                        .execute(&format!("DROP DATABASE IF EXISTS {cleanup_name}"), &[])
                        .await
                    {
                        eprintln!("warning: dropping test database {cleanup_name} failed: {e}");
                    }
                    let _ = admin.close(Duration::from_secs(5)).await;
                }
                Err(e) => eprintln!("warning: cannot drop test database {cleanup_name}: {e}"),
            }
        })
    });
    let db = match MySqlDatabase::connect(&cfg).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let cfg = config_from_url("mysql://root@127.0.0.1:3306/test").expect("valid");
        assert_eq!(
            (
                cfg.host.as_str(),
                cfg.port,
                cfg.name.as_str(),
                cfg.username.as_str()
            ),
            ("127.0.0.1", 3306, "test", "root")
        );
        assert!(cfg.password.is_empty());
        let cfg = config_from_url("mysql://u:p%40ss@db:3307/app?x=1").expect("valid");
        assert_eq!(cfg.password.expose(), "p@ss");
        assert_eq!((cfg.host.as_str(), cfg.port), ("db", 3307));
        assert!(config_from_url("postgres://x").is_err());
    }
}
