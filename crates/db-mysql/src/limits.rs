//! The start-up check of the pool settings against the server's limits. MySQL closes
//! sessions idle for longer than `wait_timeout` (8 hours by default, often much less in
//! hosted setups); a pool that keeps idle connections longer hands out a connection the
//! server already closed, and its next statement fails with "server has gone away". A
//! pool larger than `max_connections` fails with "too many connections". Both are read in
//! the query the driver sends at connect anyway, and only warn.

use std::time::Duration;

use dbcore::MySqlConfig;

/// The server settings the check reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ServerLimits {
    /// `@@wait_timeout` of a session like the pool's.
    pub(crate) wait_timeout: Duration,
    pub(crate) max_connections: u64,
}

/// What the limits say about `config`: one sentence per problem, empty when the
/// settings fit.
pub(crate) fn warnings(config: &MySqlConfig, limits: &ServerLimits) -> Vec<String> {
    let mut out = Vec::new();
    if u64::from(config.max_open_conns) > limits.max_connections {
        out.push(format!(
            "database.mysql.maxOpenConns is {} but the server accepts {} connections \
             (max_connections), shared with every other client: checkouts beyond that fail \
             with \"too many connections\"; lower maxOpenConns or raise max_connections",
            config.max_open_conns, limits.max_connections
        ));
    }
    out.extend(dbcore::limits::idle_outlives_server(
        limits.wait_timeout,
        "wait_timeout",
        "connections",
        " (\"server has gone away\")",
        "database.mysql.connMaxIdleTime",
        config.conn_max_idle_time,
        config.conn_max_lifetime,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(wait_secs: u64, max: u64) -> ServerLimits {
        ServerLimits {
            wait_timeout: Duration::from_secs(wait_secs),
            max_connections: max,
        }
    }

    #[test]
    fn defaults_fit_a_default_server() {
        assert!(warnings(&MySqlConfig::default(), &limits(28_800, 151)).is_empty());
    }

    #[test]
    fn a_pool_larger_than_the_server_is_named_with_the_field() {
        let config = MySqlConfig::default()
            .with_max_open_conns(200)
            .with_max_idle_conns(2);
        let w = warnings(&config, &limits(28_800, 151));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("database.mysql.maxOpenConns is 200"), "{w:?}");
        assert!(w[0].contains("accepts 151"), "{w:?}");
    }

    #[test]
    fn idle_connections_must_retire_before_wait_timeout() {
        // Hosted servers often set wait_timeout to a minute or less.
        let w = warnings(&MySqlConfig::default(), &limits(30, 151));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("connMaxIdleTime below 30s"), "{w:?}");
        let config = MySqlConfig::default()
            .with_conn_max_idle_time(Duration::ZERO)
            .with_conn_max_lifetime(Duration::ZERO);
        let w = warnings(&config, &limits(28_800, 151));
        assert!(w[0].contains("for ever"), "{w:?}");
        let config = MySqlConfig::default().with_conn_max_idle_time(Duration::from_secs(20));
        assert!(warnings(&config, &limits(30, 151)).is_empty());
    }
}
