//! Pool statistics: counters kept by the layer plus mysql_async's own gauges.
//!
//! mysql_async reports open / idle / in-use connections and a few event counters
//! ([`mysql_async::Metrics`]); the layer counts waits, acquire timeouts, connections
//! opened (through the `after_connect` hook) and connections it discarded itself.
//! mysql_async does not say why it closed an expired connection (lifetime or idle time):
//! both are reported as `max_lifetime_closed` when `connMaxLifetime` is set and as
//! `max_idle_time_closed` otherwise — an approximation.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use dbcore::PoolStats;
use mysql_async::Metrics;

/// Counters updated by the layer.
#[derive(Debug)]
pub(crate) struct Counters {
    wait_count: AtomicU64,
    wait_nanos: AtomicU64,
    acquire_timeouts: AtomicU64,
    opened: AtomicU64,
    discarded: AtomicU64,
    resets: AtomicU64,
    /// Connections checked out of the pool and not yet given back (including those the
    /// layer is still rolling back, resetting or closing after their handle was dropped).
    in_use: AtomicUsize,
    /// mysql_async's expired-connection count when `close` began (`u64::MAX`: still
    /// open): the connections `close` itself shuts down are counted there too, and they
    /// did not expire.
    expired_at_close: AtomicU64,
    /// The closed connections no mysql_async counter records ([`Counters::uncounted`])
    /// when `close` began (`u64::MAX`: still open).
    uncounted_at_close: AtomicU64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            wait_count: AtomicU64::new(0),
            wait_nanos: AtomicU64::new(0),
            acquire_timeouts: AtomicU64::new(0),
            opened: AtomicU64::new(0),
            discarded: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            in_use: AtomicUsize::new(0),
            expired_at_close: AtomicU64::new(u64::MAX),
            uncounted_at_close: AtomicU64::new(u64::MAX),
        }
    }
}

impl Counters {
    /// An acquisition that found no idle connection and waited `waited`.
    pub(crate) fn record_wait(&self, waited: Duration) {
        self.wait_count.fetch_add(1, Ordering::Relaxed);
        self.wait_nanos.fetch_add(
            u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    pub(crate) fn record_timeout(&self) {
        self.acquire_timeouts.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_open(&self) {
        self.opened.fetch_add(1, Ordering::Relaxed);
    }

    /// Connections the layer decided to close (also counted by the pool as discarded).
    pub(crate) fn layer_discards(&self) -> u64 {
        self.discarded.load(Ordering::Relaxed)
    }

    pub(crate) fn record_discard(&self) {
        self.discarded.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection was checked out.
    pub(crate) fn record_checkout(&self) {
        self.in_use.fetch_add(1, Ordering::Relaxed);
    }

    /// Connections the layer has checked out and not given back (or closed) yet.
    pub(crate) fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Relaxed)
    }

    /// A checked-out connection went back to the pool, or was closed.
    pub(crate) fn record_release(&self) {
        self.in_use.fetch_sub(1, Ordering::Relaxed);
    }

    /// `close` begins: from now on the pool's closing of connections is not counted as
    /// expiry.
    pub(crate) fn record_close(&self, metrics: &Metrics) {
        let expired = metrics.discarded_expired_connection.load(Ordering::Relaxed) as u64;
        let _ = self.uncounted_at_close.compare_exchange(
            u64::MAX,
            self.uncounted(metrics),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        let _ = self.expired_at_close.compare_exchange(
            u64::MAX,
            expired,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Connections opened and since closed that no mysql_async counter records: those
    /// its liveness check at checkout found dead (the server ended the session, a
    /// network error) and dropped without a metric. Every other opened connection is
    /// open, or was closed as superfluous, as expired, or as broken (a failed clean-up, a
    /// connection the layer closed), each with a metric of its own.
    fn uncounted(&self, metrics: &Metrics) -> u64 {
        let count = |a: &std::sync::atomic::AtomicUsize| a.load(Ordering::Relaxed) as u64;
        let accounted = count(&metrics.connection_count)
            + count(&metrics.discarded_superfluous_connection)
            + count(&metrics.discarded_expired_connection)
            + count(&metrics.discarded_error_during_cleanup)
            + count(&metrics.discarded_unestablished_connection);
        self.opened
            .load(Ordering::Relaxed)
            .saturating_sub(accounted)
    }

    pub(crate) fn record_reset(&self) {
        self.resets.fetch_add(1, Ordering::Relaxed);
    }

    /// How many connections were reset because a statement changed session state.
    pub(crate) fn resets(&self) -> u64 {
        self.resets.load(Ordering::Relaxed)
    }

    /// A snapshot combined with mysql_async's gauges. `open == in_use + idle` holds.
    pub(crate) fn snapshot(
        &self,
        metrics: &Metrics,
        max_open: u32,
        lifetime_configured: bool,
    ) -> PoolStats {
        let load = |a: &std::sync::atomic::AtomicUsize| {
            u32::try_from(a.load(Ordering::Relaxed)).unwrap_or(u32::MAX)
        };
        let count = |a: &std::sync::atomic::AtomicUsize| a.load(Ordering::Relaxed) as u64;
        let mut s = PoolStats::default();
        s.max_open = max_open;
        s.open = load(&metrics.connection_count);
        // In use: what the layer has checked out and not given back. mysql_async's own
        // idle gauge lags behind: a connection given back is not in it until the pool's
        // recycler task has taken it in, so `open - idle` would show a connection in use
        // right after every statement.
        s.in_use = u32::try_from(self.in_use.load(Ordering::Relaxed))
            .unwrap_or(u32::MAX)
            .min(s.open);
        s.idle = s.open - s.in_use;
        s.wait_count = self.wait_count.load(Ordering::Relaxed);
        s.wait_duration = Duration::from_nanos(self.wait_nanos.load(Ordering::Relaxed));
        s.acquire_timeouts = self.acquire_timeouts.load(Ordering::Relaxed);
        s.opened_total = self.opened.load(Ordering::Relaxed);
        s.max_idle_closed = count(&metrics.discarded_superfluous_connection);
        let expired = count(&metrics.discarded_expired_connection)
            .min(self.expired_at_close.load(Ordering::Acquire));
        if lifetime_configured {
            s.max_lifetime_closed = expired;
        } else {
            s.max_idle_time_closed = expired;
        }
        // Connections the layer closes (cancelled mid-statement, failed cleanup) reach the
        // pool closed and are counted there, with those lost to I/O errors.
        s.discarded = count(&metrics.discarded_error_during_cleanup)
            + count(&metrics.discarded_unestablished_connection)
            + self
                .uncounted(metrics)
                .min(self.uncounted_at_close.load(Ordering::Acquire));
        s
    }
}
