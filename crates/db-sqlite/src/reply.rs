//! The answer to one job: a one-shot slot that a worker thread fills and the waiting
//! async caller reads, with a claim on the job built in.
//!
//! The claim makes "started" and "withdrawn" mutually exclusive: a worker starts a
//! queued job only if its caller has not withdrawn it (given up at the pool deadline)
//! or stopped waiting, and a caller withdraws only a job no worker has started, so a
//! job reported as timed out never runs. One allocation per job, shared by both sides.
//!
//! The slot also carries the cancellation of a running job: a caller whose future is
//! dropped before the answer arrived marks the slot, and the worker's progress handler
//! (see [`crate::manager`]) watches the slot of the job it runs ([`Reply::caller`]) and
//! interrupts the statement. The mark lives in the job's own slot, so it can never reach
//! another job, whatever the timing. "Answered" and "cancelled" exclude each other: the
//! worker's [`Reply::send`] and the caller's [`Answer::abandon`] agree on which came
//! first.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;

/// A worker has started the job.
const STARTED: u8 = 1;
/// The caller withdrew the job before any worker started it.
const WITHDRAWN: u8 = 2;
/// The worker is done: the slot holds the answer, or nothing if the worker dropped
/// its end without answering.
const DONE: u8 = 4;
/// The caller stopped waiting (its future was dropped).
const CALLER_GONE: u8 = 8;

struct Slot<T> {
    state: AtomicU8,
    value: Mutex<Option<T>>,
    waker: AtomicWaker,
}

/// The caller of a running job, as the worker's progress handler sees it.
pub(crate) trait Caller: Send + Sync {
    /// Whether the caller stopped waiting before the answer arrived: the job should
    /// stop.
    fn gone(&self) -> bool;
}

impl<T: Send> Caller for Slot<T> {
    fn gone(&self) -> bool {
        self.state.load(Ordering::Acquire) & CALLER_GONE != 0
    }
}

/// A new slot: the worker's end and the caller's end.
pub(crate) fn channel<T>() -> (Reply<T>, Answer<T>) {
    let slot = Arc::new(Slot {
        state: AtomicU8::new(0),
        value: Mutex::new(None),
        waker: AtomicWaker::new(),
    });
    (
        Reply {
            slot: Arc::clone(&slot),
            answered: false,
        },
        Answer { slot },
    )
}

/// The worker's end: answers once. Dropping it unanswered tells the caller the worker
/// stopped ([`Closed`]).
pub(crate) struct Reply<T> {
    slot: Arc<Slot<T>>,
    answered: bool,
}

impl<T> Reply<T> {
    /// Claims the job for a worker: `false` if the caller withdrew it or stopped
    /// waiting, in which case the job must not run.
    pub(crate) fn start(&self) -> bool {
        self.slot
            .state
            .compare_exchange(0, STARTED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The job's caller, for the progress handler that stops the job once its caller is
    /// gone ([`crate::manager::CallerGuard`]).
    pub(crate) fn caller(&self) -> Arc<dyn Caller>
    where
        T: Send + 'static,
    {
        Arc::clone(&self.slot) as Arc<dyn Caller>
    }

    /// Hands the answer to the caller and wakes it. Returns `false` if the caller had
    /// stopped waiting (the answer is dropped).
    pub(crate) fn send(mut self, value: T) -> bool {
        *self
            .slot
            .value
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(value);
        self.finish() & CALLER_GONE == 0
    }

    /// Marks the slot done and wakes the caller; the state before.
    fn finish(&mut self) -> u8 {
        self.answered = true;
        let before = self.slot.state.fetch_or(DONE, Ordering::AcqRel);
        self.slot.waker.wake();
        before
    }
}

impl<T> Drop for Reply<T> {
    fn drop(&mut self) {
        if !self.answered {
            self.finish();
        }
    }
}

/// The worker dropped its end without answering (the database closed, or the worker
/// stopped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Closed;

/// The caller's end: a future of the worker's answer.
pub(crate) struct Answer<T> {
    slot: Arc<Slot<T>>,
}

impl<T> Answer<T> {
    /// Withdraws the job: `true` if no worker has started it (and none will), `false`
    /// if a worker already has, so its answer decides.
    pub(crate) fn withdraw(&self) -> bool {
        self.slot
            .state
            .compare_exchange(0, WITHDRAWN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Stops waiting (what dropping the answer does): a worker will not start the job,
    /// and one running it interrupts it. Returns `true` if the answer had not arrived,
    /// i.e. the job was cancelled before it finished or never ran; `false` if it had
    /// finished (its answer is dropped unread).
    pub(crate) fn abandon(&self) -> bool {
        self.slot.state.fetch_or(CALLER_GONE, Ordering::AcqRel) & DONE == 0
    }

    fn take(&self) -> Result<T, Closed> {
        self.slot
            .value
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or(Closed)
    }
}

impl<T> Future for Answer<T> {
    type Output = Result<T, Closed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.slot.state.load(Ordering::Acquire) & DONE != 0 {
            return Poll::Ready(self.take());
        }
        self.slot.waker.register(cx.waker());
        // Answered between the first look and the registration.
        if self.slot.state.load(Ordering::Acquire) & DONE != 0 {
            return Poll::Ready(self.take());
        }
        Poll::Pending
    }
}

impl<T> Drop for Answer<T> {
    fn drop(&mut self) {
        self.abandon();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answer_arrives_from_another_thread() {
        let (reply, answer) = channel();
        let worker = std::thread::spawn(move || {
            assert!(reply.start());
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert!(reply.send(42));
        });
        assert_eq!(answer.await, Ok(42));
        worker.join().expect("worker thread");
    }

    #[tokio::test]
    async fn a_dropped_reply_reads_as_closed() {
        let (reply, answer) = channel::<u8>();
        drop(reply);
        assert_eq!(answer.await, Err(Closed));
    }

    #[test]
    fn started_and_withdrawn_exclude_each_other() {
        let (reply, answer) = channel::<u8>();
        assert!(answer.withdraw());
        assert!(!reply.start(), "a withdrawn job must not start");

        let (reply, answer) = channel::<u8>();
        assert!(reply.start());
        assert!(!answer.withdraw(), "a started job cannot be withdrawn");
    }

    #[test]
    fn a_caller_that_stopped_waiting_is_seen() {
        let (reply, answer) = channel::<u8>();
        drop(answer);
        assert!(!reply.start(), "nobody waits for this job");
        assert!(!reply.send(1));
    }

    #[test]
    fn a_running_job_sees_its_caller_go() {
        let (reply, answer) = channel::<u8>();
        assert!(reply.start());
        let caller = reply.caller();
        assert!(!caller.gone());
        assert!(answer.abandon(), "cancelled before the answer");
        assert!(caller.gone());
        assert!(!reply.send(1));

        let (reply, answer) = channel::<u8>();
        assert!(reply.start());
        let caller = reply.caller();
        assert!(reply.send(1));
        assert!(!answer.abandon(), "the answer had arrived");
        assert!(caller.gone(), "harmless: the job is over");
    }

    #[test]
    fn answered_and_cancelled_have_one_winner() {
        for _ in 0..1000 {
            let (reply, answer) = channel::<u8>();
            assert!(reply.start());
            let worker = std::thread::spawn(move || reply.send(1));
            let cancelled = answer.abandon();
            let delivered = worker.join().expect("worker thread");
            assert!(cancelled != delivered, "exactly one side wins");
        }
    }

    #[test]
    fn the_race_between_start_and_withdraw_has_one_winner() {
        for _ in 0..1000 {
            let (reply, answer) = channel::<u8>();
            let worker = std::thread::spawn(move || reply.start());
            let withdrew = answer.withdraw();
            let started = worker.join().expect("worker thread");
            assert!(withdrew != started, "exactly one side wins");
        }
    }
}
