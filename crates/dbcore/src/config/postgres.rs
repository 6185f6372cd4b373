//! PostgreSQL settings.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Checker, GoDuration, SECTION, Secret, config_enum, into_result, setters};
use crate::error::{ConfigProblem, Error};
use crate::retry::RetryPolicy;

config_enum! {
    /// How a PostgreSQL or MySQL connection uses TLS (`sslMode`), with libpq's meanings.
    ///
    /// Written in lower case (`verify-full`); read case-insensitively.
    /// `require` and stricter modes never fall back to plaintext.
    /// The PostgreSQL default is `prefer`, the MySQL default `disable`.
    #[derive(Default)]
    pub enum SslMode("sslMode") {
        /// No TLS.
        Disable => "disable",
        /// TLS if the server offers it, plaintext otherwise. The PostgreSQL default
        /// (and `SslMode::default()`).
        #[default]
        Prefer => "prefer",
        /// TLS is required; the certificate is not verified.
        Require => "require",
        /// TLS is required and the server certificate must chain to a trusted CA.
        VerifyCa => "verify-ca",
        /// Like `verify-ca`, and the certificate must also match the host name.
        VerifyFull => "verify-full",
    }
}

impl SslMode {
    /// Whether a connection without TLS must be refused (`require` and stricter).
    pub fn requires_tls(self) -> bool {
        matches!(
            self,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
        )
    }

    /// Whether the server certificate must chain to a trusted CA.
    pub fn verifies_certificate(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }

    /// Whether the server certificate must match the host name.
    pub fn verifies_hostname(self) -> bool {
        matches!(self, SslMode::VerifyFull)
    }
}

/// PostgreSQL settings (the `postgres` section).
///
/// Durations are written as Go-style strings (`"30s"`, `"5m"`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct PostgresConfig {
    /// Server host name, IP address, or Unix-socket directory. Default `localhost`.
    pub host: String,
    /// Server port, 1–65535. Default 5432.
    #[serde(deserialize_with = "super::port::deserialize")]
    pub port: u16,
    /// Database name. Default `postgres`.
    pub name: String,
    /// User name. Default `postgres`.
    pub username: String,
    /// Password; empty for none (trust or peer authentication). Never printed.
    pub password: Secret,
    /// TLS mode. Default `prefer`.
    pub ssl_mode: SslMode,
    /// Most connections the pool opens at once. At least 1. Default 25.
    #[serde(deserialize_with = "super::whole::deserialize")]
    pub max_open_conns: u32,
    /// Most idle connections kept in the pool; at most `maxOpenConns`. Default 5.
    /// When it is not set, it follows a lower `maxOpenConns` (as in Go's `database/sql`):
    /// see [`with_max_open_conns`](Self::with_max_open_conns); `dbfactory`'s loader
    /// does the same for values nobody set.
    #[serde(deserialize_with = "super::whole::deserialize")]
    pub max_idle_conns: u32,
    /// A connection older than this is closed instead of reused; `0` means unlimited.
    /// Default `5m`.
    #[serde(with = "super::duration")]
    pub conn_max_lifetime: Duration,
    /// A connection idle for longer than this is closed; `0` means unlimited.
    /// Default `1m`.
    #[serde(with = "super::duration")]
    pub conn_max_idle_time: Duration,
    /// Deadline for establishing one connection and for waiting for a free pooled
    /// connection. Must be greater than 0. Default `30s`.
    #[serde(with = "super::duration")]
    pub timeout: Duration,
    /// How often a failed connect is retried (transient failures only); at most 100.
    /// Default 3.
    #[serde(deserialize_with = "super::whole::deserialize")]
    pub max_retries: u32,
    /// Delay before the first connect retry; doubles with each further retry, with jitter.
    /// Must be greater than 0 when `maxRetries` is not 0. Default `1s`.
    #[serde(with = "super::duration")]
    pub retry_delay: Duration,
    /// Interval of the background health check; `0` disables it. Default `30s`.
    #[serde(with = "super::duration")]
    pub health_check_interval: Duration,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            host: "localhost".to_owned(),
            port: 5432,
            name: "postgres".to_owned(),
            username: "postgres".to_owned(),
            password: Secret::default(),
            ssl_mode: SslMode::Prefer,
            max_open_conns: 25,
            max_idle_conns: 5,
            conn_max_lifetime: Duration::from_secs(5 * 60),
            conn_max_idle_time: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
            max_retries: 3,
            retry_delay: Duration::from_secs(1),
            health_check_interval: Duration::from_secs(30),
        }
    }
}

setters!(PostgresConfig {
    into with_host(host: String),
    set with_port(port: u16),
    into with_name(name: String),
    into with_username(username: String),
    into with_password(password: Secret),
    set with_ssl_mode(ssl_mode: SslMode),
    max_open with_max_open_conns(max_open_conns: u32),
    set with_max_idle_conns(max_idle_conns: u32),
    set with_conn_max_lifetime(conn_max_lifetime: Duration),
    set with_conn_max_idle_time(conn_max_idle_time: Duration),
    set with_timeout(timeout: Duration),
    set with_max_retries(max_retries: u32),
    set with_retry_delay(retry_delay: Duration),
    set with_health_check_interval(health_check_interval: Duration),
});

impl PostgresConfig {
    /// Checks every rule and returns [`Error::Config`] listing every problem, with paths
    /// under `database.postgres`.
    pub fn validate(&self) -> Result<(), Error> {
        into_result(self.problems_at(&format!("{SECTION}.postgres")))
    }

    /// Every invalid value, with field paths under `prefix` (e.g. `database.postgres`).
    pub fn problems_at(&self, prefix: &str) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        self.collect_problems(prefix, &mut problems);
        problems
    }

    pub(crate) fn collect_problems(&self, prefix: &str, problems: &mut Vec<ConfigProblem>) {
        let mut c = Checker::new(prefix, problems);
        c.non_empty("host", &self.host);
        c.port("port", self.port);
        c.non_empty("name", &self.name);
        c.non_empty("username", &self.username);
        c.pool(self.max_open_conns, self.max_idle_conns);
        c.timeout(self.timeout);
        c.retries(self.max_retries, self.retry_delay);
    }

    /// What is being connected to, for messages and logs, without secrets:
    /// `postgres at localhost:5432/app`.
    pub fn target(&self) -> String {
        format!(
            "postgres at {}/{}",
            super::host_port(&self.host, self.port),
            self.name
        )
    }

    /// The connect-retry policy from `maxRetries` and `retryDelay` (no total deadline).
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy::new(self.max_retries, self.retry_delay)
    }
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("name", &self.name)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("ssl_mode", &self.ssl_mode)
            .field("max_open_conns", &self.max_open_conns)
            .field("max_idle_conns", &self.max_idle_conns)
            .field("conn_max_lifetime", &GoDuration(self.conn_max_lifetime))
            .field("conn_max_idle_time", &GoDuration(self.conn_max_idle_time))
            .field("timeout", &GoDuration(self.timeout))
            .field("max_retries", &self.max_retries)
            .field("retry_delay", &GoDuration(self.retry_delay))
            .field(
                "health_check_interval",
                &GoDuration(self.health_check_interval),
            )
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic on failure
mod tests {
    use super::*;

    #[test]
    fn ssl_mode_spellings() {
        for (text, mode) in [
            ("disable", SslMode::Disable),
            ("prefer", SslMode::Prefer),
            ("require", SslMode::Require),
            ("verify-ca", SslMode::VerifyCa),
            ("verify-full", SslMode::VerifyFull),
            ("VERIFY-FULL", SslMode::VerifyFull),
        ] {
            let json = format!("\"{text}\"");
            assert_eq!(serde_json::from_str::<SslMode>(&json).unwrap(), mode);
            assert_eq!(text.parse::<SslMode>(), Ok(mode));
        }
        assert_eq!(
            serde_json::to_string(&SslMode::VerifyCa).unwrap(),
            "\"verify-ca\""
        );
        assert_eq!(SslMode::default(), SslMode::Prefer);
        assert!(SslMode::Require.requires_tls());
        assert!(!SslMode::Prefer.requires_tls());
        assert!(SslMode::VerifyCa.verifies_certificate());
        assert!(!SslMode::VerifyCa.verifies_hostname());
        assert!(SslMode::VerifyFull.verifies_hostname());
    }

    #[test]
    fn unknown_ssl_mode_lists_accepted_values() {
        let err = serde_json::from_str::<PostgresConfig>(r#"{"sslMode":"verify-everything"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("expected one of disable, prefer, require, verify-ca, verify-full"),
            "{err}"
        );
        assert!(err.contains("verify-everything"), "{err}");
    }

    #[test]
    fn every_rule_is_reported() {
        let cfg = PostgresConfig::default()
            .with_host("  ")
            .with_name("")
            .with_username("")
            .with_port(0)
            .with_max_open_conns(2)
            .with_max_idle_conns(3)
            .with_timeout(Duration::ZERO)
            .with_max_retries(101)
            .with_retry_delay(Duration::ZERO);
        let problems = cfg.problems_at("database.postgres");
        let rendered: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            rendered,
            [
                "database.postgres.host: must not be empty",
                "database.postgres.port: must be between 1 and 65535, got 0",
                "database.postgres.name: must not be empty",
                "database.postgres.username: must not be empty",
                "database.postgres.maxIdleConns: must not exceed maxOpenConns (2), got 3",
                "database.postgres.timeout: must be greater than 0 (every connect and pool wait \
                 needs a deadline), got 0",
                "database.postgres.maxRetries: must be at most 100, got 101",
                "database.postgres.retryDelay: must be greater than 0 when maxRetries is 101, \
                 got 0",
            ]
        );
        assert!(cfg.validate().is_err());
        // No retries: a zero delay is fine.
        let ok = PostgresConfig::default()
            .with_max_retries(0)
            .with_retry_delay(Duration::ZERO);
        ok.validate().unwrap();
        // Zero durations mean "disabled/unlimited" and are valid.
        PostgresConfig::default()
            .with_conn_max_lifetime(Duration::ZERO)
            .with_conn_max_idle_time(Duration::ZERO)
            .with_health_check_interval(Duration::ZERO)
            .validate()
            .unwrap();
    }

    #[test]
    fn target_and_retry_policy() {
        let cfg = PostgresConfig::default()
            .with_host("db.example.com")
            .with_name("app")
            .with_password("hunter2");
        assert_eq!(cfg.target(), "postgres at db.example.com:5432/app");
        assert_eq!(
            PostgresConfig::default().with_host("::1").target(),
            "postgres at [::1]:5432/postgres"
        );
        let p = cfg.retry_policy();
        assert_eq!(p.max_retries, 3);
        assert_eq!(p.initial_delay, Duration::from_secs(1));
    }
}
