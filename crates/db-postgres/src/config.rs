//! Translating [`PostgresConfig`] into a [`tokio_postgres::Config`] with typed setters
//! (never a formatted connection string), and the driver's own [`PgOptions`].

use std::fmt;
use std::time::Duration;

use dbcore::{ConnectOptions, Error, PostgresConfig, SslMode};

/// TCP keepalive: first probe after this much idle time.
pub(crate) const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
/// TCP keepalive: time between probes.
pub(crate) const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// TCP keepalive: unanswered probes before the connection is considered dead.
pub(crate) const KEEPALIVE_RETRIES: u32 = 3;
/// How long sent data may stay unacknowledged before the connection is given up (Linux
/// `TCP_USER_TIMEOUT`): a statement sent into a partition fails after this long instead
/// of after the kernel's ~15 minutes of retransmissions. It only counts while data waits
/// for an acknowledgement, so a long-running query on a healthy link is unaffected; the
/// same span as the keepalive probes (30 s idle + 3 × 10 s).
pub(crate) const TCP_USER_TIMEOUT: Duration = Duration::from_secs(60);

/// The `application_name` reported to the server unless [`PgOptions`] sets another.
pub const DEFAULT_APPLICATION_NAME: &str = "dblayer";

/// PostgreSQL settings beyond the portable [`PostgresConfig`]: the application name,
/// the schema search path of every pooled connection, and connect hooks.
///
/// ```
/// use db_postgres::PgOptions;
///
/// let options = PgOptions::new()
///     .application_name("billing")
///     .search_path(["app", "public"]);
/// assert_eq!(options.get_search_path(), ["app", "public"]);
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct PgOptions {
    application_name: Option<String>,
    search_path: Vec<String>,
    connect: ConnectOptions,
}

impl PgOptions {
    /// The defaults: `application_name = dblayer`, the server's search path.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the `application_name` shown in `pg_stat_activity`.
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = Some(name.into());
        self
    }

    /// Sets `search_path` on every connection of the pool (at connection start-up, no
    /// extra round trip). Each entry is one schema name, quoted as an identifier.
    pub fn search_path<I, S>(mut self, schemas: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.search_path = schemas.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the hooks of [`ConnectOptions`] (e.g. the connect-retry callback).
    pub fn connect_options(mut self, options: ConnectOptions) -> Self {
        self.connect = options;
        self
    }

    /// The configured search path (empty: the server's default).
    pub fn get_search_path(&self) -> &[String] {
        &self.search_path
    }

    pub(crate) fn hooks(&self) -> &ConnectOptions {
        &self.connect
    }
}

impl fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgOptions")
            .field("application_name", &self.application_name)
            .field("search_path", &self.search_path)
            .finish_non_exhaustive()
    }
}

/// The native sslmode for ours: `verify-ca` and `verify-full` are `require` at the
/// protocol level; the certificate checks live in the TLS connector.
pub(crate) fn native_ssl_mode(mode: SslMode) -> tokio_postgres::config::SslMode {
    match mode {
        SslMode::Disable => tokio_postgres::config::SslMode::Disable,
        SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        _ => tokio_postgres::config::SslMode::Require,
    }
}

/// Builds the native configuration from `config` and `options`, with typed setters
/// only: a password or database name containing `host=` or `options=` stays a value.
pub fn to_native(
    config: &PostgresConfig,
    options: &PgOptions,
) -> Result<tokio_postgres::Config, Error> {
    let mut native = tokio_postgres::Config::new();
    native
        .host(&config.host)
        .port(config.port)
        .dbname(&config.name)
        .user(&config.username)
        .ssl_mode(native_ssl_mode(config.ssl_mode))
        .connect_timeout(config.timeout)
        .keepalives(true)
        .keepalives_idle(KEEPALIVE_IDLE)
        .keepalives_interval(KEEPALIVE_INTERVAL)
        .keepalives_retries(KEEPALIVE_RETRIES)
        .tcp_user_timeout(TCP_USER_TIMEOUT)
        .application_name(
            options
                .application_name
                .as_deref()
                .unwrap_or(DEFAULT_APPLICATION_NAME),
        );
    if !config.password.is_empty() {
        native.password(config.password.expose());
    }
    if !options.search_path.is_empty() {
        native.options(search_path_option(&options.search_path)?);
    }
    Ok(native)
}

/// `-c search_path=...` for the startup `options` parameter: each schema quoted as an
/// identifier, spaces and backslashes escaped as libpq's option parser expects.
fn search_path_option(schemas: &[String]) -> Result<String, Error> {
    let mut value = String::new();
    for (i, schema) in schemas.iter().enumerate() {
        if schema.is_empty() || schema.contains('\0') {
            return Err(Error::config(
                "search_path",
                format!("invalid schema name {schema:?}"),
            ));
        }
        if i > 0 {
            value.push(',');
        }
        value.push('"');
        value.push_str(&schema.replace('"', "\"\""));
        value.push('"');
    }
    let mut option = String::from("-c search_path=");
    for c in value.chars() {
        if c == ' ' || c == '\\' {
            option.push('\\');
        }
        option.push(c);
    }
    Ok(option)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic on failure
mod tests {
    use super::*;
    use dbcore::Secret;

    fn config() -> PostgresConfig {
        PostgresConfig::default()
            .with_host("db.internal")
            .with_port(6543)
            .with_name("app")
            .with_username("svc")
    }

    #[test]
    fn fields_map_one_to_one() {
        let cfg = config()
            .with_password(Secret::new("s3cr3t-pw"))
            .with_timeout(Duration::from_secs(7))
            .with_ssl_mode(SslMode::Require);
        let native = to_native(&cfg, &PgOptions::new()).unwrap();
        assert_eq!(native.get_hosts().len(), 1);
        assert_eq!(native.get_ports(), [6543]);
        assert_eq!(native.get_dbname(), Some("app"));
        assert_eq!(native.get_user(), Some("svc"));
        assert_eq!(native.get_password(), Some(&b"s3cr3t-pw"[..]));
        assert_eq!(native.get_connect_timeout(), Some(&Duration::from_secs(7)));
        assert_eq!(
            native.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
        assert!(native.get_keepalives());
        assert_eq!(native.get_keepalives_idle(), KEEPALIVE_IDLE);
        assert_eq!(native.get_keepalives_interval(), Some(KEEPALIVE_INTERVAL));
        assert_eq!(native.get_keepalives_retries(), Some(KEEPALIVE_RETRIES));
        assert_eq!(native.get_tcp_user_timeout(), Some(&TCP_USER_TIMEOUT));
        assert_eq!(
            native.get_application_name(),
            Some(DEFAULT_APPLICATION_NAME)
        );
        assert!(!format!("{native:?}").contains("s3cr3t-pw"));
    }

    #[test]
    fn crafted_values_cannot_inject_settings() {
        let cfg = config()
            .with_password(Secret::new("x host=127.0.0.9 sslmode=disable"))
            .with_name("app options=-csearch_path=evil");
        let native = to_native(&cfg, &PgOptions::new()).unwrap();
        assert_eq!(native.get_hosts().len(), 1, "{native:?}");
        assert_eq!(native.get_dbname(), Some("app options=-csearch_path=evil"));
        assert_eq!(native.get_options(), None);
        assert_eq!(
            native.get_ssl_mode(),
            tokio_postgres::config::SslMode::Prefer
        );
    }

    #[test]
    fn ssl_modes_map() {
        use tokio_postgres::config::SslMode as N;
        assert_eq!(native_ssl_mode(SslMode::Disable), N::Disable);
        assert_eq!(native_ssl_mode(SslMode::Prefer), N::Prefer);
        assert_eq!(native_ssl_mode(SslMode::Require), N::Require);
        assert_eq!(native_ssl_mode(SslMode::VerifyCa), N::Require);
        assert_eq!(native_ssl_mode(SslMode::VerifyFull), N::Require);
    }

    #[test]
    fn search_path_is_quoted_and_escaped() {
        let native = to_native(
            &config(),
            &PgOptions::new()
                .application_name("t")
                .search_path(["s1", "we ird\"x"]),
        )
        .unwrap();
        assert_eq!(
            native.get_options(),
            Some(r#"-c search_path="s1","we\ ird""x""#)
        );
        assert_eq!(native.get_application_name(), Some("t"));
        assert!(to_native(&config(), &PgOptions::new().search_path([""])).is_err());
    }
}
