//! Pieces of the drivers' start-up check of pool settings against a server's limits
//! (see `Database::limit_warnings`).

use std::time::Duration;

/// How long the pool may keep a connection idle: the smaller non-zero of
/// `connMaxIdleTime` and `connMaxLifetime`, `None` when both are `0` (for ever).
pub fn pool_idle_bound(
    conn_max_idle_time: Duration,
    conn_max_lifetime: Duration,
) -> Option<Duration> {
    [conn_max_idle_time, conn_max_lifetime]
        .into_iter()
        .filter(|d| !d.is_zero())
        .min()
}

/// The server closes idle sessions after `server_idle` (its setting `setting`); warns
/// when the pool may keep a connection idle at least that long, naming `field` (e.g.
/// `database.mysql.connMaxIdleTime`). `closes` says what the server closes
/// (`sessions`, `connections`) and `symptom` how the failure shows (may be empty).
pub fn idle_outlives_server(
    server_idle: Duration,
    setting: &str,
    closes: &str,
    symptom: &str,
    field: &str,
    conn_max_idle_time: Duration,
    conn_max_lifetime: Duration,
) -> Option<String> {
    let pool_idle = pool_idle_bound(conn_max_idle_time, conn_max_lifetime);
    if server_idle.is_zero() || pool_idle.is_some_and(|d| d < server_idle) {
        return None;
    }
    Some(format!(
        "the server closes {closes} idle for {server_idle:?} ({setting}), but the pool keeps \
         idle connections for {}: a connection the server closed fails the next statement \
         on it{symptom}; set {field} below {server_idle:?}",
        pool_idle.map_or_else(|| "ever".to_owned(), |d| format!("up to {d:?}"))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smaller_non_zero_limit_bounds_idle_time() {
        let s = Duration::from_secs;
        assert_eq!(pool_idle_bound(s(60), s(300)), Some(s(60)));
        assert_eq!(pool_idle_bound(s(0), s(300)), Some(s(300)));
        assert_eq!(pool_idle_bound(s(0), s(0)), None);
        assert!(idle_outlives_server(s(0), "x", "sessions", "", "f", s(0), s(0)).is_none());
        assert!(idle_outlives_server(s(30), "x", "sessions", "", "f", s(20), s(0)).is_none());
        let w = idle_outlives_server(s(30), "x", "sessions", "", "f", s(30), s(0));
        assert!(w.is_some_and(|w| w.contains("up to 30s") && w.contains("set f below 30s")));
    }
}
