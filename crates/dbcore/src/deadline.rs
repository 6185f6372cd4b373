//! Deadlines for waits on a pool, kept by one watcher thread instead of the async
//! runtime's timer.
//!
//! A checkout that finds every connection taken must not wait forever, so it gets a
//! deadline. `tokio::time::timeout` would do, but while any tokio timer is pending every
//! idle runtime worker parks with a finite `epoll_wait` timeout and walks the timer
//! wheel on each wake-up. Under a steady load of waiting checkouts (more tasks than
//! connections) some deadline is always pending, so that cost is paid on every park,
//! for deadlines that almost never expire. [`within`] keeps its deadlines in a table
//! read by one background thread (started on the first wait, gone after a minute
//! without any) that wakes only when the earliest deadline passes; the runtime never
//! sees them.
//!
//! ```
//! use std::time::Duration;
//! use dbcore::deadline::{Elapsed, within};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let never = std::pin::pin!(std::future::pending::<()>());
//! assert_eq!(within(Duration::from_millis(20), never).await, Err(Elapsed));
//! let ready = std::pin::pin!(async { 7 });
//! assert_eq!(within(Duration::from_secs(5), ready).await, Ok(7));
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How long the watcher thread stays without any deadline before it exits.
const IDLE_EXIT: Duration = Duration::from_secs(60);

/// The deadline of a [`within`] passed before its future completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl std::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline elapsed")
    }
}

impl std::error::Error for Elapsed {}

/// Runs `fut` until it completes or `timeout` passes, whichever is first. The clock is
/// read, and the deadline registered, only when a poll first finds `fut` pending: a
/// future that completes on its first poll costs nothing more than that poll (a pool
/// checkout that finds an idle connection). The `timeout` counts from that first
/// pending poll. Pin the future first (`std::pin::pin!`) if it is not `Unpin`.
pub fn within<F: Future + Unpin>(timeout: Duration, fut: F) -> Within<F> {
    Within {
        fut,
        deadline: Deadline::new(timeout),
    }
}

/// [`within`], counting `timeout` from `start`, a time the caller already read. A
/// deadline that has passed fails at the first poll that finds `fut` pending.
pub fn within_from<F: Future + Unpin>(start: Instant, timeout: Duration, fut: F) -> Within<F> {
    Within {
        fut,
        deadline: Deadline::from_start(start, timeout),
    }
}

/// The future returned by [`within`] and [`within_from`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Within<F> {
    fut: F,
    deadline: Deadline,
}

impl<F> Within<F> {
    /// When the wait began: the time given to [`within_from`], else the first poll that
    /// found the future pending; `None` if it never waited (it completed at its first
    /// poll).
    pub fn waited_since(&self) -> Option<Instant> {
        self.deadline.waited_since()
    }
}

impl<F: Future + Unpin> Future for Within<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Poll::Ready(out) = Pin::new(&mut this.fut).poll(cx) {
            this.deadline.release();
            return Poll::Ready(Ok(out));
        }
        this.deadline.poll_expired(cx).map(Err)
    }
}

/// The deadline of a wait, for a caller that polls the awaited future itself (to take
/// its output where it is produced, instead of through a wrapper future such as
/// [`Within`], which moves it once more). Call [`poll_expired`](Self::poll_expired)
/// after each poll that found the future pending; the deadline is registered (and the
/// clock read) at the first such call, and released when the `Deadline` is dropped.
#[derive(Debug)]
pub struct Deadline {
    timeout: Duration,
    /// Where `timeout` counts from: given, or the first pending poll.
    started: Option<Instant>,
    slot: Slot,
}

#[derive(Debug)]
enum Slot {
    Unregistered,
    /// The index of this wait's entry in the watcher's table.
    Registered(usize),
    /// The watcher thread could not be started: the runtime's timer keeps the deadline.
    Fallback(Pin<Box<tokio::time::Sleep>>),
    /// No deadline: too far in the future to represent, or it has already fired.
    Unbounded,
}

impl Deadline {
    /// A deadline `timeout` after the first pending poll.
    pub fn new(timeout: Duration) -> Self {
        Deadline {
            timeout,
            started: None,
            slot: Slot::Unregistered,
        }
    }

    /// A deadline `timeout` after `start`.
    pub fn from_start(start: Instant, timeout: Duration) -> Self {
        Deadline {
            timeout,
            started: Some(start),
            slot: Slot::Unregistered,
        }
    }

    /// When the wait began: the start given to [`from_start`](Self::from_start), else the first
    /// [`poll_expired`](Self::poll_expired); `None` before either.
    pub fn waited_since(&self) -> Option<Instant> {
        self.started
    }

    /// Called when the awaited future is pending: `Ready(Elapsed)` once the deadline
    /// has passed, else `Pending`, with the task woken at the deadline.
    pub fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<Elapsed> {
        match &mut self.slot {
            Slot::Unregistered => {
                let started = *self.started.get_or_insert_with(Instant::now);
                let Some(deadline) = started.checked_add(self.timeout) else {
                    self.slot = Slot::Unbounded;
                    return Poll::Pending;
                };
                // A deadline that has already passed is fired by the watcher at once.
                self.slot = match WATCHER.register(deadline, cx.waker()) {
                    Some(index) => Slot::Registered(index),
                    None => {
                        let mut sleep = Box::pin(tokio::time::sleep_until(deadline.into()));
                        if sleep.as_mut().poll(cx).is_ready() {
                            self.slot = Slot::Unbounded;
                            return Poll::Ready(Elapsed);
                        }
                        Slot::Fallback(sleep)
                    }
                };
                Poll::Pending
            }
            Slot::Registered(index) => {
                if WATCHER.check(*index, cx.waker()) {
                    self.slot = Slot::Unbounded;
                    Poll::Ready(Elapsed)
                } else {
                    Poll::Pending
                }
            }
            Slot::Fallback(sleep) => sleep.as_mut().poll(cx).map(|()| Elapsed),
            Slot::Unbounded => Poll::Pending,
        }
    }

    /// Takes the deadline out of the watcher's table (the wait is over).
    fn release(&mut self) {
        if let Slot::Registered(index) = std::mem::replace(&mut self.slot, Slot::Unregistered) {
            WATCHER.remove(index);
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        self.release();
    }
}

/// One pending deadline.
#[derive(Debug)]
struct Entry {
    deadline: Instant,
    waker: Waker,
    /// The deadline passed and the waker was woken; the wait removes the entry.
    fired: bool,
}

/// The table of pending deadlines and its thread.
#[derive(Debug)]
struct Watcher {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug)]
struct State {
    entries: Vec<Option<Entry>>,
    free: Vec<usize>,
    live: usize,
    running: bool,
    /// When the thread will next look at the table (`None`: it waits for an entry).
    next_wake: Option<Instant>,
}

static WATCHER: Watcher = Watcher {
    state: Mutex::new(State {
        entries: Vec::new(),
        free: Vec::new(),
        live: 0,
        running: false,
        next_wake: None,
    }),
    changed: Condvar::new(),
};

impl Watcher {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a deadline; `None` when the watcher thread cannot be started.
    fn register(&'static self, deadline: Instant, waker: &Waker) -> Option<usize> {
        let mut state = self.lock();
        if !state.running {
            let started = std::thread::Builder::new()
                .name("dblayer-deadlines".into())
                .spawn(move || self.run());
            if let Err(e) = started {
                tracing::warn!(target: "dbcore", error = %e, "cannot start the deadline thread; using the runtime's timer");
                return None;
            }
            state.running = true;
        }
        let entry = Entry {
            deadline,
            waker: waker.clone(),
            fired: false,
        };
        let index = match state.free.pop() {
            Some(i) => {
                state.entries[i] = Some(entry);
                i
            }
            None => {
                state.entries.push(Some(entry));
                state.entries.len() - 1
            }
        };
        state.live += 1;
        // The thread sleeps until `next_wake`; only an earlier deadline needs it now.
        if state.next_wake.is_none_or(|at| deadline < at) {
            state.next_wake = Some(deadline);
            self.changed.notify_one();
        }
        Some(index)
    }

    /// Whether the deadline at `index` has fired (the entry is then removed); else
    /// keeps the entry's waker current.
    fn check(&self, index: usize, waker: &Waker) -> bool {
        let mut state = self.lock();
        let Some(entry) = state.entries.get_mut(index).and_then(Option::as_mut) else {
            return false;
        };
        if !entry.fired {
            if !entry.waker.will_wake(waker) {
                entry.waker = waker.clone();
            }
            return false;
        }
        state.entries[index] = None;
        state.free.push(index);
        state.live -= 1;
        true
    }

    fn remove(&self, index: usize) {
        let mut state = self.lock();
        if let Some(slot) = state.entries.get_mut(index)
            && slot.take().is_some()
        {
            state.free.push(index);
            state.live -= 1;
        }
    }

    /// The thread: wakes the waits whose deadline passed, sleeps until the next one.
    fn run(&self) {
        /// Marks the thread as gone if it ends by a panic (a waker that panics), so that
        /// the next registration starts a new one, which fires what is due. (A normal
        /// exit clears `running` under the same lock that saw no live entry.)
        struct Exit<'w>(&'w Watcher);
        impl Drop for Exit<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    self.0.lock().running = false;
                }
            }
        }
        let _exit = Exit(self);
        let mut due: Vec<Waker> = Vec::new();
        let mut state = self.lock();
        loop {
            let now = Instant::now();
            let mut next: Option<Instant> = None;
            for entry in state.entries.iter_mut().flatten() {
                if entry.fired {
                    continue;
                }
                if entry.deadline <= now {
                    entry.fired = true;
                    due.push(entry.waker.clone());
                } else if next.is_none_or(|at| entry.deadline < at) {
                    next = Some(entry.deadline);
                }
            }
            state.next_wake = next;
            if !due.is_empty() {
                drop(state);
                for waker in due.drain(..) {
                    // A waker that panics must not keep the others asleep.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| waker.wake()));
                }
                state = self.lock();
                continue;
            }
            state = match next {
                Some(at) => {
                    let wait = at.saturating_duration_since(now);
                    self.changed
                        .wait_timeout(state, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => {
                    let (guard, result) = self
                        .changed
                        .wait_timeout(state, IDLE_EXIT)
                        .unwrap_or_else(PoisonError::into_inner);
                    let mut guard = guard;
                    if result.timed_out() && guard.live == 0 {
                        guard.running = false;
                        // Give the memory of a burst of waits back.
                        guard.entries = Vec::new();
                        guard.free = Vec::new();
                        return;
                    }
                    guard
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Polls `wait` once.
    async fn poll_once<F: Future + Unpin>(
        wait: &mut Within<F>,
    ) -> Poll<Result<F::Output, Elapsed>> {
        std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *wait).poll(cx))).await
    }

    #[tokio::test]
    async fn a_ready_future_is_not_registered() {
        let fut = std::pin::pin!(async { 1 });
        let mut wait = within(Duration::from_millis(1), fut);
        assert_eq!(poll_once(&mut wait).await, Poll::Ready(Ok(1)));
        assert!(matches!(wait.deadline.slot, Slot::Unregistered));
    }

    #[tokio::test]
    async fn a_pending_future_times_out_near_its_deadline() {
        let started = Instant::now();
        let fut = std::pin::pin!(std::future::pending::<()>());
        assert_eq!(within(Duration::from_millis(50), fut).await, Err(Elapsed));
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(50), "returned after {took:?}");
        assert!(took < Duration::from_secs(5), "returned after {took:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_waits_with_mixed_outcomes_each_get_theirs() {
        let finished = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..200u64 {
            let finished = Arc::clone(&finished);
            tasks.push(tokio::spawn(async move {
                // Even tasks complete well before their deadline, odd ones never do.
                let work = async move {
                    if i % 2 == 0 {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    } else {
                        std::future::pending::<()>().await;
                    }
                    i
                };
                let fut = std::pin::pin!(work);
                let got = within(Duration::from_millis(100 + i % 7), fut).await;
                finished.fetch_add(1, Ordering::Relaxed);
                got
            }));
        }
        for (i, task) in tasks.into_iter().enumerate() {
            let got = task.await.expect("task");
            if i % 2 == 0 {
                assert_eq!(got, Ok(i as u64));
            } else {
                assert_eq!(got, Err(Elapsed));
            }
        }
        assert_eq!(finished.load(Ordering::Relaxed), 200);
    }

    #[tokio::test]
    async fn a_deadline_in_the_past_fails_promptly() {
        let started = Instant::now();
        let fut = std::pin::pin!(std::future::pending::<()>());
        let past = started
            .checked_sub(Duration::from_millis(5))
            .unwrap_or(started);
        assert_eq!(within_from(past, Duration::ZERO, fut).await, Err(Elapsed));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_waker_that_panics_does_not_stop_the_watcher() {
        struct Panics;
        impl std::task::Wake for Panics {
            fn wake(self: Arc<Self>) {
                panic!("this waker panics (expected in this test)");
            }
        }
        let waker = Waker::from(Arc::new(Panics));
        let mut cx = Context::from_waker(&waker);
        let fut = std::pin::pin!(std::future::pending::<()>());
        let mut bad = within(Duration::from_millis(10), fut);
        assert!(Pin::new(&mut bad).poll(&mut cx).is_pending());
        // A wait due after it is still woken at its deadline.
        let fut = std::pin::pin!(std::future::pending::<()>());
        let woken = tokio::time::timeout(
            Duration::from_secs(10),
            within(Duration::from_millis(80), fut),
        );
        assert_eq!(woken.await, Ok(Err(Elapsed)), "the watcher stopped");
        drop(bad);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wait_is_woken_by_its_future_or_its_deadline_counted_from_its_first_pending_poll() {
        for (send_after, expected) in [(Some(20), Ok(Ok(5))), (None, Err(Elapsed))] {
            let (tx, mut rx) = tokio::sync::oneshot::channel::<u32>();
            let mut wait = within(Duration::from_millis(300), &mut rx);
            assert_eq!(wait.waited_since(), None);
            let before = Instant::now();
            assert!(poll_once(&mut wait).await.is_pending());
            let since = wait.waited_since().expect("a pending poll starts the wait");
            assert!(since >= before, "the wait starts at its first pending poll");
            if let Some(ms) = send_after {
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    let _ = tx.send(5);
                });
            } else {
                std::mem::forget(tx);
            }
            let got = wait.await;
            assert_eq!(got.map(|r| r.map_err(drop)), expected);
            if expected.is_err() {
                assert!(since.elapsed() >= Duration::from_millis(300));
            }
        }
    }

    #[tokio::test]
    async fn a_wait_that_never_waited_has_no_start() {
        let fut = std::pin::pin!(async { 3 });
        let mut wait = within(Duration::from_secs(1), fut);
        assert_eq!(poll_once(&mut wait).await, Poll::Ready(Ok(3)));
        assert_eq!(wait.waited_since(), None);
    }

    #[tokio::test]
    async fn a_dropped_wait_leaves_no_entry() {
        let fut = std::pin::pin!(std::future::pending::<()>());
        // A deadline no other test uses, to find this wait's entry.
        let timeout = Duration::from_secs(3600) + Duration::from_nanos(7919);
        let mut wait = within(timeout, fut);
        assert!(poll_once(&mut wait).await.is_pending());
        let deadline = wait.waited_since().expect("waiting") + timeout;
        let ours = |state: &State| {
            state
                .entries
                .iter()
                .flatten()
                .any(|e| e.deadline == deadline)
        };
        assert!(matches!(wait.deadline.slot, Slot::Registered(_)));
        assert!(ours(&WATCHER.lock()));
        drop(wait);
        assert!(!ours(&WATCHER.lock()));
    }
}
