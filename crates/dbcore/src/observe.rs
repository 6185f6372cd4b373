//! The `tracing` vocabulary every driver uses: `db.query` spans around statements,
//! `db.transaction` spans around transactions, and a WARN event for slow statements.
//!
//! Field names follow OpenTelemetry's database conventions: `db.system`,
//! `db.operation`, `db.statement` (the SQL text, never parameter values), `db.rows`,
//! `elapsed_ms`. Spans are at DEBUG level; with no subscriber interested they cost a
//! few atomic loads.

use std::future::Future;
use std::time::{Duration, Instant};

use std::pin::Pin;
use std::task::Poll;

use tracing::Instrument;
use tracing::field::Empty;

use crate::{DatabaseType, Result, Row, TxOptions};

/// Statements that take at least this long are logged at WARN (target `dbcore::slow`).
pub const SLOW_STATEMENT: Duration = Duration::from_secs(1);

/// A `db.query` span for one statement (its parent is the current span, e.g. the
/// transaction's).
pub fn query_span(system: DatabaseType, operation: &'static str, statement: &str) -> tracing::Span {
    tracing::debug_span!(
        "db.query",
        db.system = system.as_str(),
        db.operation = operation,
        db.statement = statement,
        db.rows = Empty,
        elapsed_ms = Empty,
        error = Empty,
    )
}

/// A `db.transaction` span; its `outcome` is recorded with [`record_outcome`].
pub fn transaction_span(system: DatabaseType, options: &TxOptions) -> tracing::Span {
    tracing::debug_span!(
        "db.transaction",
        db.system = system.as_str(),
        read_only = options.read_only,
        isolation = options.isolation.map(|i| i.as_sql()),
        timeout_ms = options.timeout.map(millis),
        outcome = Empty,
    )
}

/// A `db.connect` span: opening a pool and its first connection, retries included.
/// `target` describes where to (never a password).
pub fn connect_span(system: DatabaseType, target: &str) -> tracing::Span {
    tracing::debug_span!(
        "db.connect",
        db.system = system.as_str(),
        target = target,
        elapsed_ms = Empty,
        error = Empty,
    )
}

/// A `db.acquire` span, for a checkout that has to wait for a connection (one that
/// finds an idle connection gets none).
pub fn acquire_span(system: DatabaseType) -> tracing::Span {
    tracing::debug_span!(
        "db.acquire",
        db.system = system.as_str(),
        elapsed_ms = Empty,
        error = Empty,
    )
}

/// Whether a subscriber listens for [`acquire_span`]s (DEBUG spans of this module): a
/// few atomic loads, so a checkout asks before anything else and, when nobody listens,
/// awaits its own future (polled under a [`Deadline`](crate::deadline::Deadline))
/// directly, with no wrapper future.
pub fn acquire_traced() -> bool {
    tracing::enabled!(tracing::Level::DEBUG)
}

/// Awaits a pool checkout `fut` (which keeps its own deadline, e.g. with
/// [`Deadline`](crate::deadline::Deadline)) when [`acquire_traced`]: a checkout that
/// completes at its first poll gets no span; one that has to wait does the rest of its
/// wait in a `db.acquire` span ([`acquire_span`]) that records `elapsed_ms`, and `error`
/// when the checkout failed.
pub async fn traced_checkout<F, T>(system: DatabaseType, fut: &mut F) -> Result<T>
where
    F: Future<Output = Result<T>> + Unpin,
{
    let first = std::future::poll_fn(|cx| {
        Poll::Ready(match Pin::new(&mut *fut).poll(cx) {
            Poll::Ready(out) => Some(out),
            Poll::Pending => None,
        })
    })
    .await;
    if let Some(out) = first {
        return out;
    }
    timed(acquire_span(system), fut).await
}

/// Runs `fut` inside `span` and records `elapsed_ms`, and `error` if it fails
/// (for [`connect_span`] and [`acquire_span`]).
pub async fn timed<T, E, F>(span: tracing::Span, fut: F) -> std::result::Result<T, E>
where
    E: std::fmt::Display,
    F: Future<Output = std::result::Result<T, E>>,
{
    if span.is_disabled() {
        return fut.await;
    }
    let started = Instant::now();
    let out = fut.instrument(span.clone()).await;
    span.record("elapsed_ms", millis(started.elapsed()));
    if let Err(e) = &out {
        span.record("error", tracing::field::display(e));
    }
    out
}

/// Records how a transaction ended: `commit`, `rollback`, `dropped`, `timeout` or
/// `failed`.
pub fn record_outcome(span: &tracing::Span, outcome: &'static str) {
    span.record("outcome", outcome);
}

/// Records the outcome of ending a transaction with `COMMIT` (`commit`) or `ROLLBACK`:
/// `commit` / `rollback` when it succeeded, `timeout` or `failed` when not.
pub fn record_end(span: &tracing::Span, commit: bool, result: &Result<()>) {
    record_outcome(
        span,
        match (result, commit) {
            (Ok(()), true) => "commit",
            (Ok(()), false) => "rollback",
            (Err(e), _) if e.kind() == crate::ErrorKind::Timeout => "timeout",
            (Err(_), _) => "failed",
        },
    );
}

/// Records a finished statement on its span (`elapsed_ms`, and `db.rows` or `error`)
/// and logs it at WARN when it took [`SLOW_STATEMENT`] or longer.
pub fn finish_statement(
    span: &tracing::Span,
    system: DatabaseType,
    operation: &'static str,
    statement: &str,
    elapsed: Duration,
    outcome: std::result::Result<Option<u64>, &crate::Error>,
) {
    span.record("elapsed_ms", millis(elapsed));
    match outcome {
        Ok(Some(rows)) => {
            span.record("db.rows", rows);
        }
        Ok(None) => {}
        Err(e) => {
            span.record("error", tracing::field::display(e));
        }
    }
    if elapsed >= SLOW_STATEMENT {
        tracing::warn!(
            target: "dbcore::slow",
            { "db.system" = system.as_str(), "db.operation" = operation, "db.statement" = statement, elapsed_ms = millis(elapsed) },
            "slow statement"
        );
    }
}

/// The `db.query` span for one statement (a child of `parent`, or of the current
/// span), or `None` when nobody listens: no DEBUG spans and no slow-statement WARN.
///
/// Drivers check this first on their hot paths: with `None` they run the statement's
/// future directly, without a wrapper future around it (each level of wrapping moves
/// the whole statement future once more) and without timing; with a span they run it
/// through [`traced_in`]. (A helper that hands back either the bare future or the traced
/// one, e.g. as `futures::future::Either`, measured ~600 instructions more per call than
/// the `match` written out in the driver, so the drivers' hot paths spell it out.)
pub fn statement_span(
    parent: Option<&tracing::Span>,
    system: DatabaseType,
    operation: &'static str,
    statement: &str,
) -> Option<tracing::Span> {
    let span = match parent {
        Some(parent) => parent.in_scope(|| query_span(system, operation, statement)),
        None => query_span(system, operation, statement),
    };
    let listening =
        !span.is_disabled() || tracing::enabled!(target: "dbcore::slow", tracing::Level::WARN);
    listening.then_some(span)
}

/// Runs one statement's future inside `span` (from [`statement_span`]), then records
/// it with [`finish_statement`]. `rows` says how many rows an outcome stands for
/// (`None` when that is not meaningful).
pub async fn traced_in<T, F>(
    span: tracing::Span,
    system: DatabaseType,
    operation: &'static str,
    statement: &str,
    rows: impl FnOnce(&T) -> Option<u64>,
    fut: F,
) -> Result<T>
where
    F: Future<Output = Result<T>>,
{
    let started = Instant::now();
    let out = fut.instrument(span.clone()).await;
    let outcome = match &out {
        Ok(v) => Ok(rows(v)),
        Err(e) => Err(e),
    };
    finish_statement(
        &span,
        system,
        operation,
        statement,
        started.elapsed(),
        outcome,
    );
    out
}

/// Runs one statement's future inside a `db.query` span (a child of `parent`, or of
/// the current span), then records it with [`finish_statement`]: [`statement_span`]
/// and [`traced_in`] in one call, for paths where one more wrapper future does not
/// matter.
pub async fn traced<T, F>(
    parent: Option<&tracing::Span>,
    system: DatabaseType,
    operation: &'static str,
    statement: &str,
    rows: impl FnOnce(&T) -> Option<u64>,
    fut: F,
) -> Result<T>
where
    F: Future<Output = Result<T>>,
{
    match statement_span(parent, system, operation, statement) {
        // With nobody listening there is nothing to time or record.
        None => fut.await,
        Some(span) => traced_in(span, system, operation, statement, rows, fut).await,
    }
}

/// `db.rows` of a query: the rows it returned (for [`traced`]).
#[allow(clippy::ptr_arg, reason = "matches `FnOnce(&T)` for `T = Vec<Row>`")]
pub fn rows_returned(rows: &Vec<Row>) -> Option<u64> {
    Some(rows.len() as u64)
}

/// `db.rows` of a statement that reports a count (for [`traced`]).
pub fn rows_affected(n: &u64) -> Option<u64> {
    Some(*n)
}

/// No `db.rows`, e.g. for scripts (for [`traced`]).
pub fn no_rows(_: &()) -> Option<u64> {
    None
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Metadata, Subscriber};

    use super::*;

    /// Counts WARN events of target `dbcore::slow`.
    struct SlowWarnings(Arc<AtomicUsize>);

    impl Subscriber for SlowWarnings {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let m = event.metadata();
            if *m.level() == Level::WARN && m.target() == "dbcore::slow" {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    /// Names of the spans opened, and the names of the fields recorded on them later.
    #[derive(Clone, Default)]
    struct Spans(Arc<std::sync::Mutex<Vec<String>>>);

    impl Subscriber for Spans {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, attrs: &Attributes<'_>) -> Id {
            self.0
                .lock()
                .unwrap()
                .push(attrs.metadata().name().to_owned());
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, values: &Record<'_>) {
            struct Names<'a>(&'a mut Vec<String>);
            impl tracing::field::Visit for Names<'_> {
                fn record_debug(&mut self, field: &tracing::field::Field, _: &dyn std::fmt::Debug) {
                    self.0.push(format!("recorded {}", field.name()));
                }
            }
            values.record(&mut Names(&mut self.0.lock().unwrap()));
        }
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, _: &Event<'_>) {}
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    #[test]
    fn only_a_checkout_that_waits_gets_an_acquire_span() {
        use crate::deadline::within;
        let spans = Spans::default();
        let _guard = tracing::subscriber::set_default(spans.clone());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let taken = || std::mem::take(&mut *spans.0.lock().unwrap());
        // A checkout as a driver writes it: its own deadline, the layer's errors.
        let checkout = |fut: Pin<Box<dyn Future<Output = crate::Result<i32>>>>| {
            let mut wait = within(Duration::from_millis(50), fut);
            std::future::poll_fn(move |cx| {
                Pin::new(&mut wait).poll(cx).map(|got| {
                    got.unwrap_or(Err(crate::Error::PoolTimeout(Duration::from_millis(50))))
                })
            })
        };
        runtime.block_on(async {
            assert!(acquire_traced());
            // An idle connection at the first poll: no span.
            let mut ready = checkout(Box::pin(async { Ok(1) }));
            assert_eq!(
                traced_checkout(DatabaseType::Postgres, &mut ready)
                    .await
                    .ok(),
                Some(1)
            );
            assert!(taken().is_empty());
            // A wait that ends with a connection: the span and its time.
            let mut later = checkout(Box::pin(async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Ok(2)
            }));
            assert_eq!(
                traced_checkout(DatabaseType::Postgres, &mut later)
                    .await
                    .ok(),
                Some(2)
            );
            assert_eq!(taken(), ["db.acquire", "recorded elapsed_ms"]);
            // A wait past its deadline: the span records the error too.
            let mut never = checkout(Box::pin(std::future::pending()));
            let got = traced_checkout(DatabaseType::Postgres, &mut never).await;
            assert_eq!(
                got.map_err(|e| e.kind()),
                Err(crate::ErrorKind::PoolTimeout)
            );
            assert_eq!(
                taken(),
                ["db.acquire", "recorded elapsed_ms", "recorded error"]
            );
        });
    }

    #[test]
    fn slow_statements_are_logged_at_warn() {
        let warnings = Arc::new(AtomicUsize::new(0));
        let subscriber = SlowWarnings(Arc::clone(&warnings));
        tracing::subscriber::with_default(subscriber, || {
            let span = query_span(DatabaseType::Postgres, "query", "SELECT 1");
            let finish = |elapsed| {
                finish_statement(
                    &span,
                    DatabaseType::Postgres,
                    "query",
                    "SELECT 1",
                    elapsed,
                    Ok(Some(1)),
                );
            };
            finish(Duration::from_millis(999));
            assert_eq!(warnings.load(Ordering::Relaxed), 0);
            finish(SLOW_STATEMENT);
            assert_eq!(warnings.load(Ordering::Relaxed), 1);
        });
    }
}
