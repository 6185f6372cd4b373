//! TLS (`sslMode`) against real servers.
//!
//! - `DB_TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306/test`), with or without TLS
//!   (`have_ssl`): `require` and stricter fail after one attempt on a server without TLS,
//!   `prefer` connects in plaintext there, and encrypts where the server offers TLS.
//! - `DB_TEST_MYSQL_TLS_URL` (optional, `tls` feature): a server with TLS whose certificate
//!   chains to a CA in the system store (or in `SSL_CERT_FILE`) and is issued for the
//!   URL's host, which `DB_TEST_MYSQL_TLS_OTHER_HOST` (default `127.0.0.1`) reaches under a
//!   name the certificate does not carry: `verify-full` and `verify-ca` for real.
//!
//! Without the `tls` feature, every mode but `disable` fails before anything is sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use db_mysql::{Database, ErrorKind, MySqlConfig, MySqlDatabase};
use dbcore::{ConnectOptions, Secret, SslMode};

const DEFAULT_URL: &str = "mysql://root@127.0.0.1:3306/test";

/// `mysql://user:pass@host:port/name` → configuration (no health checks, 10 s timeout).
fn config_from_url(url: &str) -> MySqlConfig {
    let rest = url
        .strip_prefix("mysql://")
        .or_else(|| url.strip_prefix("mariadb://"))
        .expect("the test URL must start with mysql://");
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
        .with_max_open_conns(2)
        .with_max_idle_conns(2)
        .with_health_check_interval(Duration::ZERO)
        .with_timeout(Duration::from_secs(10))
}

fn test_config() -> MySqlConfig {
    config_from_url(&std::env::var("DB_TEST_MYSQL_URL").unwrap_or_else(|_| DEFAULT_URL.into()))
}

/// The session's TLS cipher: empty for a plaintext connection.
async fn cipher(db: &MySqlDatabase) -> String {
    let row = db
        .query_one("SHOW SESSION STATUS LIKE 'Ssl_cipher'", &[])
        .await
        .expect("Ssl_cipher");
    row.get::<String>("Value").expect("text")
}

/// Connects, counting retries.
async fn connect_counting(cfg: &MySqlConfig) -> (dbcore::Result<MySqlDatabase>, u32) {
    let retries = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&retries);
    let options = ConnectOptions::new().on_retry(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    let result = MySqlDatabase::connect_with(cfg, &options).await;
    (result, retries.load(Ordering::SeqCst))
}

/// Asserts `cfg` fails with [`ErrorKind::Tls`] after one attempt, and returns the message.
#[cfg(feature = "tls")]
async fn assert_tls_failure(cfg: &MySqlConfig) -> String {
    let (result, retries) = connect_counting(cfg).await;
    let err = result.expect_err("TLS must fail");
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(err.to_string().contains("after 1 attempt(s)"), "{err}");
    assert_eq!(retries, 0, "a TLS failure is not retried");
    err.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_connects_in_plaintext() {
    let db = MySqlDatabase::connect(&test_config().with_ssl_mode(SslMode::Disable))
        .await
        .expect("connect");
    assert!(!db.is_tls());
    assert_eq!(cipher(&db).await, "");
    db.close(Duration::from_secs(5)).await.expect("close");
}

#[cfg(not(feature = "tls"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_feature_tls_modes_fail_before_connecting() {
    // Nothing listens on this port: the error must come before any connect attempt.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    for mode in [
        SslMode::Prefer,
        SslMode::Require,
        SslMode::VerifyCa,
        SslMode::VerifyFull,
    ] {
        for cfg in [
            test_config(),
            test_config().with_host("127.0.0.1").with_port(port),
        ] {
            let (result, retries) = connect_counting(&cfg.with_ssl_mode(mode)).await;
            let err = result.expect_err("no TLS support compiled in");
            assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
            let msg = err.to_string();
            assert!(msg.contains("`tls` feature of db-mysql"), "{msg}");
            assert!(msg.contains("`mysql-tls`"), "{msg}");
            assert!(!msg.contains("attempt"), "no connect was attempted: {msg}");
            assert_eq!(retries, 0);
        }
    }
}

#[cfg(feature = "tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_modes_against_the_test_server() {
    let plain = MySqlDatabase::connect(&test_config())
        .await
        .expect("connect");
    let have_ssl = plain
        .query_one("SHOW VARIABLES LIKE 'have_ssl'", &[])
        .await
        .expect("have_ssl")
        .get::<String>("Value")
        .expect("text");
    plain.close(Duration::from_secs(5)).await.expect("close");
    let cfg = test_config()
        .with_max_retries(3)
        .with_retry_delay(Duration::from_millis(10));

    if have_ssl.eq_ignore_ascii_case("YES") {
        for mode in [SslMode::Prefer, SslMode::Require] {
            let db = MySqlDatabase::connect(&cfg.clone().with_ssl_mode(mode))
                .await
                .unwrap_or_else(|e| panic!("{mode}: {e}"));
            assert!(db.is_tls(), "{mode}");
            assert!(!cipher(&db).await.is_empty(), "{mode}: encrypted");
            db.close(Duration::from_secs(5)).await.expect("close");
        }
        return;
    }

    // No TLS on the server (have_ssl DISABLED or NO): never plaintext for require and
    // stricter, one attempt, a message saying what to change.
    for mode in [SslMode::Require, SslMode::VerifyCa, SslMode::VerifyFull] {
        let msg = assert_tls_failure(&cfg.clone().with_ssl_mode(mode)).await;
        assert!(msg.contains("the server does not offer it"), "{msg}");
        assert!(msg.contains("before any credentials were sent"), "{msg}");
    }
    // prefer: plaintext, since the server offers nothing else.
    let db = MySqlDatabase::connect(&cfg.clone().with_ssl_mode(SslMode::Prefer))
        .await
        .expect("prefer falls back to plaintext");
    assert!(!db.is_tls());
    assert_eq!(cipher(&db).await, "");
    // The whole pool works (a second connection, a transaction).
    let (a, b) = tokio::join!(cipher(&db), cipher(&db));
    assert_eq!((a.as_str(), b.as_str()), ("", ""));
    let tx = db.begin(dbcore::TxOptions::new()).await.expect("begin");
    tx.query_one("SELECT 1 AS one", &[]).await.expect("select");
    tx.commit().await.expect("commit");
    db.close(Duration::from_secs(5)).await.expect("close");
}

#[cfg(feature = "tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_tls_against_a_tls_server() {
    let Ok(url) = std::env::var("DB_TEST_MYSQL_TLS_URL") else {
        eprintln!("DB_TEST_MYSQL_TLS_URL is not set: skipping verify-ca / verify-full");
        return;
    };
    let cfg = config_from_url(&url)
        .with_max_retries(3)
        .with_retry_delay(Duration::from_millis(10));
    let other_host =
        std::env::var("DB_TEST_MYSQL_TLS_OTHER_HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let elsewhere = cfg.clone().with_host(other_host);

    // verify-full: chain and host name; verify-ca: chain only; require: neither.
    for (cfg, mode) in [
        (&cfg, SslMode::VerifyFull),
        (&cfg, SslMode::VerifyCa),
        (&elsewhere, SslMode::VerifyCa),
        (&elsewhere, SslMode::Require),
        (&elsewhere, SslMode::Prefer),
    ] {
        let cfg = cfg.clone().with_ssl_mode(mode);
        let db = MySqlDatabase::connect(&cfg)
            .await
            .unwrap_or_else(|e| panic!("{mode} at {}: {e}", cfg.host));
        assert!(db.is_tls());
        // Two connections of the pool at once, both encrypted.
        let (a, b) = tokio::join!(cipher(&db), cipher(&db));
        assert!(!a.is_empty() && !b.is_empty(), "{mode} at {}", cfg.host);
        db.close(Duration::from_secs(5)).await.expect("close");
    }

    // A name the certificate does not carry fails verify-full, once, as a TLS error.
    let msg = assert_tls_failure(&elsewhere.clone().with_ssl_mode(SslMode::VerifyFull)).await;
    assert!(msg.contains("not valid for name"), "{msg}");

    // A transaction deadline stops the statement with KILL QUERY from a side connection,
    // which goes over TLS too.
    let db = MySqlDatabase::connect(&cfg.clone().with_ssl_mode(SslMode::VerifyFull))
        .await
        .expect("connect");
    let marker = format!("dblayer_tls_kill_{}", std::process::id());
    let tx = db
        .begin(dbcore::TxOptions::new().timeout(Duration::from_millis(300)))
        .await
        .expect("begin");
    let err = tx
        .query(&format!("SELECT SLEEP(30) AS {marker}"), &[])
        .await
        .expect_err("the deadline stops the statement");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    drop(tx);
    let running = db
        .query_one(
            "SELECT count(*) AS n FROM information_schema.processlist \
             WHERE info LIKE $1 AND id <> CONNECTION_ID()",
            &[format!("%{marker}%").into()],
        )
        .await
        .expect("processlist")
        .get::<i64>("n")
        .expect("count");
    assert_eq!(running, 0, "KILL QUERY over TLS stopped the statement");
    assert!(!cipher(&db).await.is_empty());
    db.close(Duration::from_secs(5)).await.expect("close");
}
