//! Pool statistics: counters kept by the layer plus r2d2's own state.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dbcore::PoolStats;

use crate::manager::ManagerCounters;

/// Counters updated by workers, the inline path and r2d2 events.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    wait_count: AtomicU64,
    wait_nanos: AtomicU64,
    acquire_timeouts: AtomicU64,
    opened: AtomicU64,
    lifetime_closed: AtomicU64,
    idle_time_closed: AtomicU64,
    idle_workers: std::sync::atomic::AtomicUsize,
    pub(crate) manager: Arc<ManagerCounters>,
}

impl Counters {
    pub(crate) fn new(manager: Arc<ManagerCounters>) -> Self {
        Counters {
            manager,
            ..Counters::default()
        }
    }

    /// Records an acquisition that found every connection busy and waited `waited`.
    pub(crate) fn record_wait(&self, waited: Duration) {
        self.wait_count.fetch_add(1, Ordering::Relaxed);
        self.wait_nanos.fetch_add(
            u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// A worker starts (`true`) or stops (`false`) waiting for a job.
    pub(crate) fn worker_idle(&self, idle: bool) {
        if idle {
            self.idle_workers.fetch_add(1, Ordering::AcqRel);
        } else {
            self.idle_workers.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Whether some worker is waiting for a job right now.
    pub(crate) fn any_worker_idle(&self) -> bool {
        self.idle_workers.load(Ordering::Acquire) > 0
    }

    pub(crate) fn record_timeout(&self) {
        self.acquire_timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// A snapshot combined with r2d2's live counts.
    pub(crate) fn snapshot(&self, state: Option<r2d2::State>, max_open: u32) -> PoolStats {
        let mut s = PoolStats::default();
        s.max_open = max_open;
        if let Some(state) = state {
            s.open = state.connections;
            s.idle = state.idle_connections;
            s.in_use = state.connections.saturating_sub(state.idle_connections);
        }
        s.wait_count = self.wait_count.load(Ordering::Relaxed);
        s.wait_duration = Duration::from_nanos(self.wait_nanos.load(Ordering::Relaxed));
        s.acquire_timeouts = self.acquire_timeouts.load(Ordering::Relaxed);
        s.opened_total = self.opened.load(Ordering::Relaxed);
        s.max_lifetime_closed = self.lifetime_closed.load(Ordering::Relaxed);
        s.max_idle_time_closed = self.idle_time_closed.load(Ordering::Relaxed);
        s.discarded = self.manager.discarded.load(Ordering::Relaxed);
        s
    }
}

/// Feeds r2d2's connection events into [`Counters`].
#[derive(Debug)]
pub(crate) struct EventHandler {
    pub(crate) counters: Arc<Counters>,
    pub(crate) max_lifetime: Option<Duration>,
}

impl r2d2::HandleEvent for EventHandler {
    fn handle_acquire(&self, _event: r2d2::event::AcquireEvent) {
        self.counters.opened.fetch_add(1, Ordering::Relaxed);
    }

    fn handle_release(&self, event: r2d2::event::ReleaseEvent) {
        // r2d2 releases a connection when it is broken (counted by the manager), too
        // old, or idle too long; the age tells the last two apart.
        let pending = &self.counters.manager.pending_discards;
        if pending
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
        {
            return; // a broken connection, already counted as discarded
        }
        match self.max_lifetime {
            Some(max) if event.age() >= max => {
                self.counters
                    .lifetime_closed
                    .fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                self.counters
                    .idle_time_closed
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
