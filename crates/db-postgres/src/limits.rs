//! The start-up check of the pool settings against the server's limits: a pool that
//! may open more connections than the server accepts, or keep idle connections longer
//! than the server lets a session idle, fails later in ways that are hard to trace back
//! to the configuration. The check costs one query at connect and only warns.

use std::time::Duration;

use dbcore::PostgresConfig;
use deadpool_postgres::ClientWrapper;

/// The server settings the check reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ServerLimits {
    pub(crate) max_connections: i64,
    pub(crate) superuser_reserved_connections: i64,
    /// `idle_session_timeout` (PostgreSQL 14+); `None` when unset (0) or unknown.
    pub(crate) idle_session_timeout: Option<Duration>,
}

/// Reads the limits over `client` (one round trip).
pub(crate) async fn read(client: &ClientWrapper) -> Result<ServerLimits, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT \
               (SELECT setting::bigint FROM pg_settings WHERE name = 'max_connections'), \
               (SELECT setting::bigint FROM pg_settings \
                  WHERE name = 'superuser_reserved_connections'), \
               (SELECT setting::bigint FROM pg_settings WHERE name = 'idle_session_timeout')",
            &[],
        )
        .await?;
    let idle_ms: Option<i64> = row.try_get(2)?;
    Ok(ServerLimits {
        max_connections: row.try_get::<_, Option<i64>>(0)?.unwrap_or(i64::MAX),
        superuser_reserved_connections: row.try_get::<_, Option<i64>>(1)?.unwrap_or(0),
        idle_session_timeout: idle_ms
            .filter(|ms| *ms > 0)
            .map(|ms| Duration::from_millis(ms.unsigned_abs())),
    })
}

/// What the limits say about `config`: one sentence per problem, empty when the
/// settings fit.
pub(crate) fn warnings(config: &PostgresConfig, limits: &ServerLimits) -> Vec<String> {
    let mut out = Vec::new();
    let usable = limits.max_connections - limits.superuser_reserved_connections;
    if i64::from(config.max_open_conns) > usable {
        out.push(format!(
            "database.postgres.maxOpenConns is {} but the server accepts {usable} connections \
             for ordinary roles (max_connections {} minus superuser_reserved_connections {}), \
             shared with every other client: checkouts beyond that fail with \"too many \
             clients\"; lower maxOpenConns or raise max_connections",
            config.max_open_conns, limits.max_connections, limits.superuser_reserved_connections
        ));
    }
    if let Some(server_idle) = limits.idle_session_timeout {
        out.extend(dbcore::limits::idle_outlives_server(
            server_idle,
            "idle_session_timeout",
            "sessions",
            "",
            "database.postgres.connMaxIdleTime",
            config.conn_max_idle_time,
            config.conn_max_lifetime,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: i64, reserved: i64, idle: Option<u64>) -> ServerLimits {
        ServerLimits {
            max_connections: max,
            superuser_reserved_connections: reserved,
            idle_session_timeout: idle.map(Duration::from_secs),
        }
    }

    #[test]
    fn defaults_fit_a_default_server() {
        let config = PostgresConfig::default();
        assert!(warnings(&config, &limits(100, 3, None)).is_empty());
    }

    #[test]
    fn too_many_connections_is_named_with_the_field() {
        let config = PostgresConfig::default().with_max_open_conns(98);
        let w = warnings(&config, &limits(100, 3, None));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("database.postgres.maxOpenConns is 98"),
            "{w:?}"
        );
        assert!(w[0].contains("accepts 97"), "{w:?}");
        let config = PostgresConfig::default().with_max_open_conns(97);
        assert!(warnings(&config, &limits(100, 3, None)).is_empty());
    }

    #[test]
    fn idle_connections_must_retire_before_the_server_closes_them() {
        let mut config = PostgresConfig::default()
            .with_conn_max_idle_time(Duration::from_secs(600))
            .with_conn_max_lifetime(Duration::ZERO);
        let w = warnings(&config, &limits(100, 3, Some(300)));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("connMaxIdleTime"), "{w:?}");
        config = config.with_conn_max_idle_time(Duration::from_secs(60));
        assert!(warnings(&config, &limits(100, 3, Some(300))).is_empty());
        // Neither limit set: idle connections are kept forever.
        config = config.with_conn_max_idle_time(Duration::ZERO);
        let w = warnings(&config, &limits(100, 3, Some(300)));
        assert!(w[0].contains("for ever"), "{w:?}");
    }
}
