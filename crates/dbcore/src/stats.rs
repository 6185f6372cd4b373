//! [`PoolStats`] and [`HealthReport`].

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::{DatabaseType, ErrorKind};

fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

fn ser_opt_duration<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser_duration(d, s),
        None => s.serialize_none(),
    }
}

/// Connection-pool statistics, in the spirit of Go's `sql.DBStats`.
///
/// Durations serialize as milliseconds (`wait_duration_ms`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PoolStats {
    /// The configured maximum number of open connections.
    pub max_open: u32,
    /// Connections currently open (in use + idle).
    pub open: u32,
    /// Connections currently handed out.
    pub in_use: u32,
    /// Connections open and idle in the pool.
    pub idle: u32,
    /// How many acquisitions had to wait for a connection.
    pub wait_count: u64,
    /// Total time spent waiting for connections.
    #[serde(rename = "wait_duration_ms", serialize_with = "ser_duration")]
    pub wait_duration: Duration,
    /// Acquisitions that gave up after the pool timeout.
    pub acquire_timeouts: u64,
    /// Connections opened since the pool started.
    pub opened_total: u64,
    /// Connections closed because more than `maxIdleConns` were idle.
    pub max_idle_closed: u64,
    /// Connections closed because they were idle longer than `connMaxIdleTime`.
    pub max_idle_time_closed: u64,
    /// Connections closed because they were older than `connMaxLifetime`.
    pub max_lifetime_closed: u64,
    /// Connections discarded because they were broken or left in an unknown state.
    pub discarded: u64,
}

/// The result of a health check.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct HealthReport {
    /// Whether the database answered.
    pub healthy: bool,
    /// The backend.
    pub database_type: DatabaseType,
    /// The server's version string, when it answered.
    pub server_version: Option<String>,
    /// Round-trip time of the ping.
    #[serde(rename = "latency_ms", serialize_with = "ser_opt_duration")]
    pub latency: Option<Duration>,
    /// What went wrong, when unhealthy.
    pub error: Option<String>,
    /// The kind of the error, when unhealthy.
    #[serde(serialize_with = "ser_opt_kind")]
    pub error_kind: Option<ErrorKind>,
    /// Pool statistics at the time of the check.
    pub stats: PoolStats,
    /// When the check ran.
    #[serde(serialize_with = "ser_time")]
    pub checked_at: SystemTime,
}

fn ser_opt_kind<S: serde::Serializer>(k: &Option<ErrorKind>, s: S) -> Result<S::Ok, S::Error> {
    match k {
        Some(k) => s.serialize_str(k.as_str()),
        None => s.serialize_none(),
    }
}

fn ser_time<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    s.serialize_f64(secs)
}

impl HealthReport {
    /// A report for a database that answered.
    pub fn healthy(
        database_type: DatabaseType,
        server_version: Option<String>,
        latency: Duration,
        stats: PoolStats,
    ) -> Self {
        HealthReport {
            healthy: true,
            database_type,
            server_version,
            latency: Some(latency),
            error: None,
            error_kind: None,
            stats,
            checked_at: SystemTime::now(),
        }
    }

    /// A report for a database that did not answer.
    pub fn unhealthy(database_type: DatabaseType, error: &crate::Error, stats: PoolStats) -> Self {
        HealthReport {
            healthy: false,
            database_type,
            server_version: None,
            latency: None,
            error: Some(error.to_string()),
            error_kind: Some(error.kind()),
            stats,
            checked_at: SystemTime::now(),
        }
    }
}
