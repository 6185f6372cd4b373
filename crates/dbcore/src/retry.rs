//! Connect retry with exponential backoff and jitter.
//!
//! Only failures that can heal by themselves (refused, reset, DNS, server starting up,
//! timeouts) are retried; wrong credentials, an unknown database or a TLS mismatch fail
//! after the first attempt (see [`ErrorKind::is_transient_connect`](crate::error::ErrorKind::is_transient_connect)).

use std::future::Future;
use std::time::Duration;

use crate::error::Error;

/// The longest single wait between two attempts unless configured otherwise.
const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(30);

/// How often and how patiently to retry a failed connect.
///
/// Attempt `n + 1` (retry `n`) waits a random duration in `[d/2, d]`, where
/// `d = min(initial_delay * 2^(n-1), max_delay)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Retries after the first attempt; `0` means a single attempt.
    pub max_retries: u32,
    /// The (un-jittered) wait before the first retry.
    pub initial_delay: Duration,
    /// The cap on any single wait.
    pub max_delay: Duration,
    /// Total budget for all attempts and the waits between them, if any. No wait is started
    /// that would end past it, and an attempt still running when it is spent is abandoned.
    pub deadline: Option<Duration>,
}

impl Default for RetryPolicy {
    /// Three retries starting at one second, the configuration defaults.
    fn default() -> Self {
        RetryPolicy::new(3, Duration::from_secs(1))
    }
}

impl RetryPolicy {
    /// `max_retries` retries, the first after about `retry_delay`, doubling each time, each
    /// wait capped at 16 × `retry_delay` or 30 s, whichever is smaller (but never below
    /// `retry_delay`); no total deadline.
    pub fn new(max_retries: u32, retry_delay: Duration) -> Self {
        let max_delay = retry_delay
            .saturating_mul(16)
            .min(DEFAULT_MAX_DELAY)
            .max(retry_delay);
        RetryPolicy {
            max_retries,
            initial_delay: retry_delay,
            max_delay,
            deadline: None,
        }
    }

    /// A policy that makes exactly one attempt.
    pub fn no_retry() -> Self {
        RetryPolicy::new(0, Duration::ZERO)
    }

    /// Sets the cap on any single wait.
    #[must_use]
    pub fn with_max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// Sets the total budget for all attempts and waits (`None`: unlimited).
    #[must_use]
    pub fn with_deadline(mut self, deadline: impl Into<Option<Duration>>) -> Self {
        self.deadline = deadline.into();
        self
    }

    /// The most attempts this policy makes: `max_retries + 1`.
    pub fn max_attempts(&self) -> u32 {
        self.max_retries.saturating_add(1)
    }

    /// The un-jittered wait before retry number `retry` (1-based):
    /// `min(initial_delay * 2^(retry-1), max_delay)`; zero for `retry == 0`.
    pub fn base_delay_for(&self, retry: u32) -> Duration {
        if retry == 0 {
            return Duration::ZERO;
        }
        let factor = 1u32 << (retry - 1).min(31);
        self.initial_delay
            .saturating_mul(factor)
            .min(self.max_delay)
    }

    /// The wait before retry number `retry` (1-based): a random duration in
    /// `[d/2, d]` where `d` is [`base_delay_for(retry)`](Self::base_delay_for).
    /// Jitter keeps many clients that lost the server together from reconnecting in lockstep.
    pub fn delay_for(&self, retry: u32) -> Duration {
        let d = self.base_delay_for(retry);
        let half = d / 2;
        let span = u64::try_from((d - half).as_nanos()).unwrap_or(u64::MAX);
        half.saturating_add(Duration::from_nanos(fastrand::u64(0..=span)))
    }
}

/// One failed attempt that will be retried, as reported to the `on_retry` callback of
/// [`retry_connect`].
#[derive(Debug)]
pub struct RetryEvent<'a> {
    /// The attempt that failed (1-based).
    pub attempt: u32,
    /// The most attempts that will be made.
    pub max_attempts: u32,
    /// Why it failed.
    pub error: &'a Error,
    /// How long until the next attempt.
    pub next_delay: Duration,
}

/// Runs `attempt` until it succeeds, fails permanently, or the policy is exhausted.
///
/// `attempt` is called with the 1-based attempt number, at most
/// [`policy.max_attempts()`](RetryPolicy::max_attempts) times. An error whose
/// [`kind`](Error::kind) is not [transient](crate::error::ErrorKind::is_transient_connect) ends the loop
/// at once. Before each wait, the retry is logged at WARN and `on_retry` is called.
///
/// The final error is [`Error::Connect`] naming `target` (which must not contain secrets),
/// the number of attempts made and the last failure; an attempt error that is itself an
/// `Error::Connect` is unwrapped so that errors do not nest. A configuration error (the
/// server refused a configured value) ends the loop at once and is returned as it is.
///
/// With a [`deadline`](RetryPolicy::deadline), no wait is started that would end past it,
/// and an attempt still running when it is spent is abandoned with a connect
/// [`Error::Timeout`].
pub async fn retry_connect<T, F, Fut>(
    policy: &RetryPolicy,
    target: &str,
    mut attempt: F,
    mut on_retry: impl FnMut(&RetryEvent<'_>),
) -> Result<T, Error>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let started = tokio::time::Instant::now();
    let max_attempts = policy.max_attempts();
    let mut n: u32 = 0;
    loop {
        n += 1;
        let outcome = match policy.deadline {
            None => attempt(n).await,
            Some(deadline) => {
                let remaining = deadline.saturating_sub(started.elapsed());
                match tokio::time::timeout(remaining, attempt(n)).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(Error::Timeout {
                        what: "connect",
                        after: deadline,
                    }),
                }
            }
        };
        let error = match outcome {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        // Classify before unwrapping: an `Error::Connect` carries its own verdict.
        let transient = error.kind().is_transient_connect();
        let error = match error {
            Error::Connect { source, .. } => *source,
            other => other,
        };
        let give_up = |error: Error| match error {
            // The server refused a configured value (an unknown time zone, say): that is
            // the configuration's problem, reported as such, not as a failed connect.
            Error::Config(_) => error,
            error => Error::Connect {
                target: target.to_owned(),
                attempts: n,
                source: Box::new(error),
            },
        };
        if !transient || n >= max_attempts {
            return Err(give_up(error));
        }
        let delay = policy.delay_for(n);
        if let Some(deadline) = policy.deadline {
            // Waiting would leave no time for another attempt.
            if started.elapsed().saturating_add(delay) >= deadline {
                tracing::warn!(
                    database = %target,
                    attempt = n,
                    max_attempts,
                    deadline = ?deadline,
                    error = %error,
                    "connect attempt failed; no time left for another attempt"
                );
                return Err(give_up(error));
            }
        }
        tracing::warn!(
            database = %target,
            attempt = n,
            max_attempts,
            delay = ?delay,
            error = %error,
            "connect attempt failed; retrying"
        );
        on_retry(&RetryEvent {
            attempt: n,
            max_attempts,
            error: &error,
            next_delay: delay,
        });
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic on failure
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::database_type::DatabaseType;
    use crate::error::ErrorKind;

    fn transient() -> Error {
        Error::database(
            DatabaseType::Postgres,
            ErrorKind::Connect,
            None,
            "connection refused",
            None,
        )
    }

    fn permanent() -> Error {
        Error::database(
            DatabaseType::Postgres,
            ErrorKind::Authentication,
            Some("28P01".into()),
            "password authentication failed",
            None,
        )
    }

    fn fast(max_retries: u32) -> RetryPolicy {
        RetryPolicy::new(max_retries, Duration::from_millis(1))
    }

    #[tokio::test]
    async fn succeeds_on_third_attempt() {
        let calls = AtomicU32::new(0);
        let mut events = Vec::new();
        let result = retry_connect(
            &fast(5),
            "postgres at h:5432/app",
            |n| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move { if n < 3 { Err(transient()) } else { Ok(n) } }
            },
            |e| events.push((e.attempt, e.max_attempts, e.error.kind())),
        )
        .await;
        assert_eq!(result.unwrap(), 3);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(
            events,
            [(1, 6, ErrorKind::Connect), (2, 6, ErrorKind::Connect)]
        );
    }

    #[tokio::test]
    async fn permanent_error_stops_after_one_attempt() {
        let calls = AtomicU32::new(0);
        let err = retry_connect(
            &fast(5),
            "postgres at h:5432/app",
            |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>(permanent()) }
            },
            |_| panic!("must not retry"),
        )
        .await
        .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let Error::Connect {
            target, attempts, ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(target, "postgres at h:5432/app");
        assert_eq!(*attempts, 1);
        assert_eq!(err.kind(), ErrorKind::Authentication);
        assert_eq!(err.code(), Some("28P01"));
    }

    #[tokio::test]
    async fn a_configuration_error_is_returned_as_it_is() {
        let calls = AtomicU32::new(0);
        let err = retry_connect(
            &fast(5),
            "mysql at h:3306/app",
            |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async {
                    Err::<(), _>(Error::config(
                        "database.mysql.loc",
                        "the server does not know this time zone",
                    ))
                }
            },
            |_| panic!("must not retry"),
        )
        .await
        .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(matches!(err, Error::Config(_)), "{err:?}");
        assert_eq!(
            err.to_string(),
            "invalid database configuration: database.mysql.loc: the server does not know this time zone"
        );
    }

    #[tokio::test]
    async fn exhausting_retries_reports_every_attempt() {
        let calls = AtomicU32::new(0);
        let err = retry_connect(
            &fast(3),
            "mysql at h:3306/app",
            |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>(transient()) }
            },
            |_| {},
        )
        .await
        .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert!(matches!(err, Error::Connect { attempts: 4, .. }), "{err:?}");
        assert_eq!(err.kind(), ErrorKind::Connect);
        let msg = err.to_string();
        assert!(
            msg.contains("could not connect to mysql at h:3306/app after 4 attempt(s)"),
            "{msg}"
        );
        assert!(msg.contains("connection refused"), "{msg}");
    }

    #[tokio::test]
    async fn no_retry_policy_makes_one_attempt() {
        let calls = AtomicU32::new(0);
        let err = retry_connect(
            &RetryPolicy::no_retry(),
            "x",
            |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>(transient()) }
            },
            |_| {},
        )
        .await
        .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(matches!(err, Error::Connect { attempts: 1, .. }));
    }

    #[tokio::test]
    async fn connect_errors_do_not_nest() {
        let err = retry_connect(
            &fast(1),
            "outer",
            |_| async {
                Err::<(), _>(Error::Connect {
                    target: "inner".into(),
                    attempts: 1,
                    source: Box::new(transient()),
                })
            },
            |_| {},
        )
        .await
        .unwrap_err();
        let Error::Connect {
            target,
            attempts,
            source,
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(target, "outer");
        assert_eq!(*attempts, 2);
        assert!(matches!(**source, Error::Database(_)), "{source:?}");

        // An `Error::Connect` wrapping a permanent failure is not retried.
        let calls = AtomicU32::new(0);
        let err = retry_connect(
            &fast(3),
            "outer",
            |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async {
                    Err::<(), _>(Error::Connect {
                        target: "inner".into(),
                        attempts: 1,
                        source: Box::new(permanent()),
                    })
                }
            },
            |_| {},
        )
        .await
        .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(err.kind(), ErrorKind::Authentication);
    }

    #[tokio::test]
    async fn deadline_stops_before_a_wait_that_would_pass_it() {
        let policy = RetryPolicy::new(10, Duration::from_millis(200))
            .with_deadline(Duration::from_millis(50));
        let calls = AtomicU32::new(0);
        let started = std::time::Instant::now();
        let err = retry_connect(
            &policy,
            "x",
            |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>(transient()) }
            },
            |_| {},
        )
        .await
        .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(matches!(err, Error::Connect { attempts: 1, .. }));
        assert!(started.elapsed() < Duration::from_millis(100));
    }

    #[tokio::test]
    async fn deadline_abandons_a_hanging_attempt() {
        let policy =
            RetryPolicy::new(3, Duration::from_millis(1)).with_deadline(Duration::from_millis(30));
        let err = retry_connect(
            &policy,
            "x",
            |_| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok::<(), Error>(())
            },
            |_| {},
        )
        .await
        .unwrap_err();
        let Error::Connect {
            attempts, source, ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(*attempts, 1);
        assert!(
            matches!(
                **source,
                Error::Timeout {
                    what: "connect",
                    ..
                }
            ),
            "{source:?}"
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy::new(10, Duration::from_secs(1));
        assert_eq!(p.max_delay, Duration::from_secs(16));
        assert_eq!(p.base_delay_for(0), Duration::ZERO);
        assert_eq!(p.base_delay_for(1), Duration::from_secs(1));
        assert_eq!(p.base_delay_for(2), Duration::from_secs(2));
        assert_eq!(p.base_delay_for(4), Duration::from_secs(8));
        assert_eq!(p.base_delay_for(5), Duration::from_secs(16));
        assert_eq!(p.base_delay_for(6), Duration::from_secs(16));
        assert_eq!(p.base_delay_for(u32::MAX), Duration::from_secs(16));
        let p = RetryPolicy::new(3, Duration::from_secs(5));
        assert_eq!(p.max_delay, Duration::from_secs(30));
        let p = RetryPolicy::new(3, Duration::from_secs(60));
        assert_eq!(p.max_delay, Duration::from_secs(60));
        let p = RetryPolicy::new(3, Duration::from_secs(1)).with_max_delay(Duration::from_secs(3));
        assert_eq!(p.base_delay_for(3), Duration::from_secs(3));
        assert_eq!(RetryPolicy::default().max_attempts(), 4);
        assert_eq!(
            RetryPolicy::new(u32::MAX, Duration::ZERO).max_attempts(),
            u32::MAX
        );
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let p = RetryPolicy::new(10, Duration::from_millis(100));
        for retry in 1..=8 {
            let d = p.base_delay_for(retry);
            let mut seen_low = false;
            let mut seen_high = false;
            for _ in 0..500 {
                let j = p.delay_for(retry);
                assert!(
                    j >= d / 2 && j <= d,
                    "retry {retry}: {j:?} not in [{:?}, {d:?}]",
                    d / 2
                );
                seen_low |= j < d * 3 / 4;
                seen_high |= j > d * 3 / 4;
            }
            assert!(
                seen_low && seen_high,
                "jitter is not spread for retry {retry}"
            );
        }
        assert_eq!(RetryPolicy::no_retry().delay_for(1), Duration::ZERO);
        let huge = RetryPolicy::new(1, Duration::MAX);
        let j = huge.delay_for(1);
        assert!(j >= Duration::MAX / 2);
    }
}
