//! The deadpool pool, its hooks (lifetime and idle-time limits, counters), and
//! [`PooledConn`], the layer's handle on one checked-out connection.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use dbcore::{PoolStats, PostgresConfig};
use deadpool_postgres::{
    ClientWrapper, Hook, HookError, Manager, ManagerConfig, Metrics, Object, Pool, RecyclingMethod,
    Runtime, Timeouts,
};

use crate::tls::Tls;

/// Identifies a pooled connection across moves: the address of its statement cache.
pub(crate) fn conn_key(client: &ClientWrapper) -> usize {
    Arc::as_ptr(&client.statement_cache) as usize
}

/// Counters and per-connection bookkeeping shared by the pool hooks, the reaper and the
/// layer.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    wait_count: AtomicU64,
    wait_nanos: AtomicU64,
    acquire_timeouts: AtomicU64,
    opened: AtomicU64,
    lifetime_closed: AtomicU64,
    idle_time_closed: AtomicU64,
    max_idle_closed: AtomicU64,
    discarded: AtomicU64,
    /// When an idle connection was last returned to the pool, for connections held
    /// long enough that the pool's checkout time would overstate their idle time.
    returned_at: Mutex<HashMap<usize, Instant>>,
    max_lifetime: Option<Duration>,
    max_idle_time: Option<Duration>,
    /// Raw access to the pool was handed out ([`Shared::enable_raw_access`]): from then
    /// on a connection is reused only if the layer itself gave it back.
    raw_access: AtomicBool,
    /// With raw access: the idle connections the layer gave back (known clean).
    clean: Mutex<HashSet<usize>>,
}

/// Why a connection is no longer reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expired {
    Lifetime,
    IdleTime,
}

impl Shared {
    pub(crate) fn new(config: &PostgresConfig) -> Self {
        Shared {
            max_lifetime: non_zero(config.conn_max_lifetime),
            max_idle_time: non_zero(config.conn_max_idle_time),
            ..Shared::default()
        }
    }

    pub(crate) fn record_wait(&self, waited: Duration) {
        self.wait_count.fetch_add(1, Ordering::Relaxed);
        self.wait_nanos.fetch_add(
            u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Called when the caller takes the native pool: connections it checks out
    /// directly go back without the layer seeing their state (a `BEGIN` left open would
    /// swallow every later write on that connection). From now on the layer marks the
    /// connections it gives back, and a checkout closes an unmarked one instead of
    /// reusing it. The idle connections, all given back by the layer so far, are marked
    /// now. Until raw access is used, none of this costs anything.
    pub(crate) fn enable_raw_access(&self, pool: &Pool) {
        if self.raw_access.swap(true, Ordering::AcqRel) {
            return;
        }
        // Marked while the pool's lock is held (the reaper takes the locks in the same
        // order), so no idle connection can be closed between being seen and marked,
        // which would leave a mark for an address a new connection may reuse.
        pool.retain(|client, _| {
            self.clean_set().insert(conn_key(client));
            true
        });
    }

    /// The layer gives a connection back in a clean state.
    fn returned_clean(&self, key: usize) {
        if self.raw_access.load(Ordering::Acquire) {
            self.clean_set().insert(key);
        }
    }

    /// Whether a connection being checked out may be reused: always, unless raw access
    /// is on and the layer did not give it back itself. Takes the mark away: it holds
    /// for one return only.
    fn reusable(&self, key: usize) -> bool {
        !self.raw_access.load(Ordering::Acquire) || self.clean_set().remove(&key)
    }

    fn clean_set(&self) -> std::sync::MutexGuard<'_, HashSet<usize>> {
        self.clean.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn record_acquire_timeout(&self) {
        self.acquire_timeouts.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_discard(&self, key: usize) {
        self.discarded.fetch_add(1, Ordering::Relaxed);
        self.forget(key);
    }

    fn forget(&self, key: usize) {
        self.map().remove(&key);
        if self.raw_access.load(Ordering::Acquire) {
            self.clean_set().remove(&key);
        }
    }

    pub(crate) fn forget_all(&self) {
        self.map().clear();
        self.clean_set().clear();
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<usize, Instant>> {
        self.returned_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether an idle connection is past `connMaxLifetime` or `connMaxIdleTime`.
    ///
    /// The idle time is measured from the connection's return to the pool. The pool's
    /// own metrics give the last checkout (`recycled`), which is never later than the
    /// last return, so `now - recycled` bounds the idle time from above: below the limit
    /// nothing else is looked up. Only above it is the return time consulted; it is
    /// recorded (see [`Shared::returned_after`]) only for connections held long enough
    /// to matter, so the common checkout and return take no lock.
    fn expired(&self, key: usize, metrics: &Metrics) -> Option<Expired> {
        if self.max_lifetime.is_none() && self.max_idle_time.is_none() {
            return None;
        }
        // Compared as instants (`created + max <= now`), not as durations: this runs on
        // every checkout, and subtracting two instants costs several times more.
        let now = Instant::now();
        let past =
            |since: Instant, max: Duration| since.checked_add(max).is_some_and(|end| end <= now);
        if self
            .max_lifetime
            .is_some_and(|max| past(metrics.created, max))
        {
            return Some(Expired::Lifetime);
        }
        let max_idle = self.max_idle_time?;
        let last_checkout = metrics.recycled.unwrap_or(metrics.created);
        if !past(last_checkout, max_idle) {
            return None;
        }
        let since_checkout = now.saturating_duration_since(last_checkout);
        let idle = match self.map().get(&key) {
            // An entry older than the last checkout is stale: `since_checkout` is the
            // better (smaller) upper bound then.
            Some(at) => now.saturating_duration_since(*at).min(since_checkout),
            None => since_checkout,
        };
        (idle >= max_idle).then_some(Expired::IdleTime)
    }

    /// How long a connection may be held before its return time is recorded: a
    /// shorter hold makes the idle time read at most this much too long (1% of
    /// `connMaxIdleTime`), which is not worth a lock on every return.
    fn record_threshold(&self) -> Option<Duration> {
        self.max_idle_time.map(|d| d / 100)
    }

    /// Called when a connection goes back to the pool.
    fn returned_after(&self, key: usize, metrics: &Metrics) {
        let Some(threshold) = self.record_threshold() else {
            return;
        };
        let now = Instant::now();
        let checked_out = metrics.recycled.unwrap_or(metrics.created);
        // `checked_out + threshold <= now`, i.e. held at least `threshold` (cheaper than
        // the duration between the two instants).
        if checked_out
            .checked_add(threshold)
            .is_some_and(|end| end <= now)
        {
            self.map().insert(key, now);
        }
    }

    fn count_expired(&self, why: Expired, key: usize) {
        match why {
            Expired::Lifetime => &self.lifetime_closed,
            Expired::IdleTime => &self.idle_time_closed,
        }
        .fetch_add(1, Ordering::Relaxed);
        self.forget(key);
    }

    /// Statistics, combined with the pool's live counts.
    pub(crate) fn snapshot(&self, pool: &Pool, max_open: u32) -> PoolStats {
        let status = pool.status();
        let mut s = PoolStats::default();
        s.max_open = max_open;
        s.open = u32::try_from(status.size).unwrap_or(u32::MAX);
        s.idle = u32::try_from(status.available).unwrap_or(u32::MAX);
        s.in_use = s.open.saturating_sub(s.idle);
        s.wait_count = self.wait_count.load(Ordering::Relaxed);
        s.wait_duration = Duration::from_nanos(self.wait_nanos.load(Ordering::Relaxed));
        s.acquire_timeouts = self.acquire_timeouts.load(Ordering::Relaxed);
        s.opened_total = self.opened.load(Ordering::Relaxed);
        s.max_idle_closed = self.max_idle_closed.load(Ordering::Relaxed);
        s.max_idle_time_closed = self.idle_time_closed.load(Ordering::Relaxed);
        s.max_lifetime_closed = self.lifetime_closed.load(Ordering::Relaxed);
        s.discarded = self.discarded.load(Ordering::Relaxed);
        s
    }
}

fn non_zero(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

/// Builds the pool: `maxOpenConns` connections at most, every wait bounded by
/// `timeout`, and a pre-recycle hook that closes connections that are broken or past
/// `connMaxLifetime` / `connMaxIdleTime` instead of handing them out. Recycling
/// itself costs no round trip (`RecyclingMethod::Fast`): the layer never lets a
/// connection go back inside a transaction, so there is nothing to verify.
pub(crate) fn build_pool(
    native: tokio_postgres::Config,
    tls: Tls,
    config: &PostgresConfig,
    shared: &Arc<Shared>,
) -> Result<Pool, dbcore::Error> {
    let manager = Manager::from_config(
        native,
        tls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let on_create = Arc::clone(shared);
    let on_recycle = Arc::clone(shared);
    Pool::builder(manager)
        .max_size(config.max_open_conns as usize)
        .runtime(Runtime::Tokio1)
        .timeouts(timeouts(config.timeout))
        .post_create(Hook::sync_fn(move |_client, _metrics| {
            on_create.opened.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }))
        .pre_recycle(Hook::sync_fn(move |client, metrics| {
            let key = conn_key(client);
            if client.is_closed() {
                on_recycle.record_discard(key);
                return Err(HookError::message("connection closed"));
            }
            if !on_recycle.reusable(key) {
                // Given back through the raw pool: its state is not known.
                on_recycle.record_discard(key);
                return Err(HookError::message(
                    "connection returned through the raw pool; its state is unknown",
                ));
            }
            match on_recycle.expired(key, metrics) {
                Some(why) => {
                    on_recycle.count_expired(why, key);
                    Err(HookError::message("connection expired"))
                }
                None => Ok(()),
            }
        }))
        .build()
        .map_err(|e| dbcore::Error::Internal(format!("cannot build the connection pool: {e}")))
}

/// Timeouts for the layer's checkouts. Waiting for a connection is bounded by the
/// layer itself (it arms that deadline only when the first poll finds no connection);
/// creating one is bounded by `timeout`; recycling needs no deadline because
/// `RecyclingMethod::Fast` does no I/O (the pre-recycle hook is synchronous).
pub(crate) fn checkout_timeouts(timeout: Duration) -> Timeouts {
    Timeouts {
        wait: None,
        create: Some(timeout),
        recycle: None,
    }
}

pub(crate) fn timeouts(timeout: Duration) -> Timeouts {
    Timeouts {
        wait: Some(timeout),
        create: Some(timeout),
        recycle: Some(timeout),
    }
}

/// Starts the background task that closes idle connections past their lifetime or
/// idle time, and idle connections beyond `maxIdleConns`. Returns `None` when no limit
/// needs it.
pub(crate) fn spawn_reaper(
    pool: &Pool,
    shared: &Arc<Shared>,
    max_idle_conns: u32,
    max_open_conns: u32,
) -> Option<tokio::task::AbortHandle> {
    let shortest = [shared.max_lifetime, shared.max_idle_time]
        .into_iter()
        .flatten()
        .min();
    let limit_idle = max_idle_conns < max_open_conns;
    if shortest.is_none() && !limit_idle {
        return None;
    }
    let period = shortest
        .map_or(Duration::from_secs(1), |d| d / 2)
        .clamp(Duration::from_millis(50), Duration::from_secs(1));
    let pool = pool.weak();
    let shared: Weak<Shared> = Arc::downgrade(shared);
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    let task = runtime.spawn(async move {
        loop {
            tokio::time::sleep(period).await;
            let (Some(pool), Some(shared)) = (pool.upgrade(), shared.upgrade()) else {
                return;
            };
            if pool.is_closed() {
                return;
            }
            let mut kept = 0u32;
            let removed = pool.retain(|client, metrics| {
                let key = conn_key(client);
                if client.is_closed() {
                    shared.record_discard(key);
                    return false;
                }
                if let Some(why) = shared.expired(key, &metrics) {
                    shared.count_expired(why, key);
                    return false;
                }
                if kept >= max_idle_conns {
                    shared.max_idle_closed.fetch_add(1, Ordering::Relaxed);
                    shared.forget(key);
                    return false;
                }
                kept += 1;
                true
            });
            // Closing happens outside the pool's lock.
            drop(removed);
        }
    });
    Some(task.abort_handle())
}

/// One checked-out connection. Dropping it returns the connection to the pool, unless
/// a statement was still running (its future was cancelled): then the statement is
/// cancelled on the server and the connection discarded.
pub(crate) struct PooledConn<'a> {
    obj: Option<Object>,
    home: Home<'a>,
    /// A statement was sent and its result not fully read.
    pub(crate) busy: bool,
}

/// The pool state a connection reports to when it goes back: borrowed for a statement
/// on the pool (no reference counts touched per statement), owned by a transaction.
enum Home<'a> {
    Borrowed { shared: &'a Shared, tls: &'a Tls },
    Owned { shared: Arc<Shared>, tls: Tls },
}

impl std::fmt::Debug for PooledConn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledConn")
            .field("busy", &self.busy)
            .finish_non_exhaustive()
    }
}

impl<'a> PooledConn<'a> {
    /// Wraps a checked-out object.
    pub(crate) fn new(obj: Object, shared: &'a Shared, tls: &'a Tls) -> Self {
        PooledConn {
            obj: Some(obj),
            home: Home::Borrowed { shared, tls },
            busy: false,
        }
    }

    /// A handle that holds no connection yet: the checkout stores one with
    /// [`fill`](Self::fill) where the handle stands (no copy of the object through the
    /// checkout's futures). Dropped vacant, it does nothing.
    pub(crate) fn vacant(shared: &'a Shared, tls: &'a Tls) -> Self {
        PooledConn {
            obj: None,
            home: Home::Borrowed { shared, tls },
            busy: false,
        }
    }

    /// Stores the checked-out object in a [`vacant`](Self::vacant) handle.
    pub(crate) fn fill(&mut self, obj: Object) {
        debug_assert!(self.obj.is_none(), "a PooledConn holds one connection");
        self.obj = Some(obj);
    }

    /// The same connection, no longer tied to the borrow it was checked out with (for
    /// a transaction, which outlives it).
    pub(crate) fn into_owned(mut self, shared: Arc<Shared>, tls: Tls) -> PooledConn<'static> {
        PooledConn {
            obj: self.obj.take(),
            home: Home::Owned { shared, tls },
            busy: self.busy,
        }
    }

    fn shared(&self) -> &Shared {
        match &self.home {
            Home::Borrowed { shared, .. } => shared,
            Home::Owned { shared, .. } => shared,
        }
    }

    /// The native client.
    pub(crate) fn client(&self) -> &ClientWrapper {
        match &self.obj {
            Some(obj) => obj,
            None => unreachable!("a PooledConn is used only once the checkout filled it"),
        }
    }

    pub(crate) fn tls(&self) -> &Tls {
        match &self.home {
            Home::Borrowed { tls, .. } => tls,
            Home::Owned { tls, .. } => tls,
        }
    }

    /// Closes the connection instead of returning it to the pool.
    pub(crate) fn discard(mut self) {
        if let Some(obj) = self.obj.take() {
            self.shared().record_discard(conn_key(&obj));
            drop(Object::take(obj));
        }
    }

    /// Discards the connection if `error` says it is gone; returns `error`.
    pub(crate) fn check_error(self, error: dbcore::Error) -> dbcore::Error {
        if error.kind() == dbcore::ErrorKind::ConnectionLost || self.client().is_closed() {
            self.discard();
        }
        error
    }
}

impl Drop for PooledConn<'_> {
    fn drop(&mut self) {
        let Some(obj) = &self.obj else { return };
        let key = conn_key(obj);
        if self.busy {
            // Cancelled mid-statement: stop the statement on the server, and do not
            // reuse the connection (its protocol state is not known to be clean).
            self.shared().record_discard(key);
            let token = obj.cancel_token();
            let tls = self.tls().clone();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(10), token.cancel_query(tls))
                        .await;
                });
            }
            if let Some(obj) = self.obj.take() {
                drop(Object::take(obj));
            }
            return;
        }
        self.shared().returned_after(key, Object::metrics(obj));
        self.shared().returned_clean(key);
        // The object goes back to the pool when the field is dropped, in place (taking
        // it out first would copy it).
    }
}
