//! [`Checkout`]: one pooled connection in the hands of the layer, with the state the layer
//! tracks so that the connection goes back to the pool clean.
//!
//! mysql_async's per-checkout `COM_RESET_CONNECTION` is turned off for the layer's own
//! checkouts (it costs a round trip per checkout and empties the statement cache); it
//! stays on for connections taken through the raw pool, whose use the layer cannot see.
//! Instead the layer knows what it ran:
//!
//! - `busy`: an operation was started and not finished (its future was cancelled). The
//!   protocol state is unknown: the connection is closed, never reused.
//! - `in_tx`: a transaction was started and not ended. `ROLLBACK` runs before the
//!   connection returns to the pool; if that fails, it is closed.
//! - `needs_reset`: a statement that changes session state ran (`SET`, `USE`,
//!   `LOCK TABLES`, temporary tables, user variables, named locks, `PREPARE`, ...). The
//!   connection is reset (`COM_RESET_CONNECTION`, then charset and time zone again) before
//!   it returns to the pool.
//!
//! The rollback and the reset run on a task of the pool's runtime after the handle is
//! dropped; until they finish the connection is not in the pool, so nobody else gets it.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use dbcore::{Error, PreparedSql, Result, Row, Value};
use mysql_async::prelude::{Protocol, Queryable};
use mysql_async::{Conn, Opts, Params, QueryResult};

use crate::error::{code, map_error};
use crate::stats::Counters;
use crate::value::{Decoder, to_params};

/// What every checkout of one pool shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) counters: Arc<Counters>,
    /// The connection options, for side connections that send `KILL`.
    pub(crate) opts: Opts,
    /// The runtime the pool was created on: cleanup after a drop runs there.
    pub(crate) runtime: tokio::runtime::Handle,
    /// `parseTime`.
    pub(crate) parse_time: bool,
    /// The session's UTC offset in minutes, when fixed.
    pub(crate) zone: Option<i32>,
}

/// Slots of each thread's decoder cache.
const DECODER_SLOTS: usize = 64;

/// A cached decoder and the [`PreparedSql`] address it was built for.
type DecoderSlot = Option<(usize, Arc<Decoder>)>;

thread_local! {
    /// The result decoder (column names and kinds) last built on this thread per
    /// statement, in a slot chosen by the address of its cached [`PreparedSql`]. It is
    /// checked against the columns of every result (and the pool's `parseTime`) before
    /// use (an address may be reused, a table may change) and rebuilt when it differs.
    /// Per thread, so that a hit takes no lock and touches no shared reference count.
    static DECODERS: std::cell::RefCell<[DecoderSlot; DECODER_SLOTS]> =
        const { std::cell::RefCell::new([const { None }; DECODER_SLOTS]) };
}

impl Shared {
    /// A decoder for `columns`, the result of `sql`: the cached one when it matches.
    fn decoder(&self, sql: &PreparedSql, columns: &[mysql_async::Column]) -> Arc<Decoder> {
        let key = std::ptr::from_ref(sql) as usize;
        let slot = (key >> 4) % DECODER_SLOTS;
        let build = || Arc::new(Decoder::new(columns, self.parse_time));
        DECODERS
            .try_with(|cache| {
                let Ok(mut cache) = cache.try_borrow_mut() else {
                    return build();
                };
                if let Some((k, decoder)) = &cache[slot]
                    && *k == key
                    && decoder.parse_time() == self.parse_time
                    && decoder.matches(columns)
                {
                    return Arc::clone(decoder);
                }
                let decoder = build();
                cache[slot] = Some((key, Arc::clone(&decoder)));
                decoder
            })
            .unwrap_or_else(|_| build())
    }
}

/// One statement or script to run on a connection.
pub(crate) enum Op<'a> {
    /// One statement, rows affected.
    Execute {
        sql: &'a PreparedSql,
        params: &'a [Value],
    },
    /// One query, all rows.
    Query {
        sql: &'a PreparedSql,
        params: &'a [Value],
    },
    /// One query, rows handed to `f` as they arrive.
    Each {
        sql: &'a PreparedSql,
        params: &'a [Value],
        f: &'a mut (dyn FnMut(Row) -> Result<()> + Send),
    },
    /// One query, native rows handed to `f` with their result's decoder as they arrive
    /// (typed queries decode them without a [`Row`]).
    Native {
        sql: &'a PreparedSql,
        params: &'a [Value],
        f: &'a mut NativeSink<'a>,
    },
    /// The layer's own multi-row `INSERT` (`insert_many`): the statement is known not to
    /// change session state and its placeholders take the values in order (the identity
    /// order); the values were already converted (moved) into native parameters.
    Insert {
        sql: &'a PreparedSql,
        params: Vec<mysql_async::Value>,
    },
    /// A script through the text protocol (several statements, no parameters).
    Batch { sql: &'a str },
    /// SQL of the layer itself (transaction control), through the text protocol.
    Control { sql: &'a str },
    /// `COM_PING`.
    Ping,
}

impl Op<'_> {
    /// Whether the operation reads a result set ([`run_query`]).
    fn is_query(&self) -> bool {
        matches!(self, Op::Query { .. } | Op::Each { .. } | Op::Native { .. })
    }
}

/// A consumer of a result's native rows, given with the result's decoder; an error stops
/// the query (the rest of the result is read and dropped).
pub(crate) type NativeSink<'a> = dyn FnMut(&Decoder, mysql_async::Row) -> Result<()> + Send + 'a;

/// A sink for a query that returns at most one row: the row goes to `read`; a second
/// row stops the query with [`Error::TooManyRows`]. The [`Op::Native`]'s count is then
/// 1 for a row, 0 for none.
pub(crate) fn at_most_one<'s>(
    mut read: impl FnMut(&Decoder, mysql_async::Row) -> Result<()> + Send + 's,
) -> impl FnMut(&Decoder, mysql_async::Row) -> Result<()> + Send + 's {
    let mut seen = false;
    move |decoder, row| {
        if std::mem::replace(&mut seen, true) {
            return Err(Error::TooManyRows);
        }
        read(decoder, row)
    }
}

/// The result of an [`Op`].
pub(crate) enum Output {
    Count(u64),
    Rows(Vec<Row>),
    Done,
}

impl Output {
    pub(crate) fn count(self) -> u64 {
        match self {
            Output::Count(n) => n,
            _ => 0,
        }
    }

    pub(crate) fn rows(self) -> Vec<Row> {
        match self {
            Output::Rows(rows) => rows,
            _ => Vec::new(),
        }
    }
}

/// A pooled connection held by the layer. Dropping it returns the connection to the pool
/// clean, or closes it (see the module docs).
pub(crate) struct Checkout<'a> {
    conn: Option<Conn>,
    busy: bool,
    pub(crate) in_tx: bool,
    needs_reset: bool,
    /// Borrowed for a statement on the pool (no reference count touched per statement),
    /// owned by a transaction.
    shared: Cow<'a, Arc<Shared>>,
}

impl std::fmt::Debug for Checkout<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkout")
            .field("id", &self.conn.as_ref().map(Conn::id))
            .field("busy", &self.busy)
            .field("in_tx", &self.in_tx)
            .field("needs_reset", &self.needs_reset)
            .finish()
    }
}

impl<'a> Checkout<'a> {
    /// Takes charge of `conn`, just checked out of the pool (counted as in use until it
    /// goes back or is closed).
    pub(crate) fn new(mut conn: Conn, shared: &'a Arc<Shared>) -> Self {
        // The pool resets every connection given back (see `native_opts`); the layer
        // knows what it ran on its own checkouts and resets only when needed (`Drop`).
        conn.reset_connection(false);
        shared.counters.record_checkout();
        Checkout {
            conn: Some(conn),
            busy: false,
            in_tx: false,
            needs_reset: false,
            shared: Cow::Borrowed(shared),
        }
    }

    /// The same checkout, no longer tied to the borrow it was made with (for a
    /// transaction, which outlives it).
    pub(crate) fn into_owned(mut self) -> Checkout<'static> {
        Checkout {
            conn: self.conn.take(),
            busy: self.busy,
            in_tx: self.in_tx,
            needs_reset: self.needs_reset,
            shared: Cow::Owned(Arc::clone(&self.shared)),
        }
    }

    /// The server's id of this connection (for `KILL QUERY`).
    pub(crate) fn id(&self) -> u32 {
        self.conn.as_ref().map_or(0, Conn::id)
    }

    /// Whether the connection is known to be closed (an I/O error on it, or released).
    pub(crate) fn is_disconnected(&self) -> bool {
        self.conn.as_ref().is_none_or(Conn::is_disconnected)
    }

    /// Whether an operation was cancelled half-way: the connection cannot be used again.
    pub(crate) fn is_poisoned(&self) -> bool {
        self.busy || self.conn.is_none()
    }

    /// Runs `op`. If the returned future is dropped before it finishes, the connection is
    /// marked as poisoned and will be closed instead of reused.
    ///
    /// A query's result is read in a boxed future of its own (mysql_async's result
    /// futures are large), so that the future of every other statement, and of each of a
    /// transaction's statements, stays small: a transaction statement's boxed future was
    /// ~1.9 KB with the result reader inline, ~0.8 KB without (glibc serves blocks up to
    /// ~1 KB from its per-thread cache; larger ones take the allocator's slow path, and
    /// every copy of a future copies all of it).
    pub(crate) async fn perform(&mut self, op: Op<'_>) -> Result<Output> {
        let (conn, shared) = self.start(&op)?;
        let result = if op.is_query() {
            Box::pin(run_query(conn, op, shared)).await
        } else {
            run_simple(conn, op, shared).await
        };
        self.busy = false;
        result
    }

    /// [`Checkout::perform`] with a query's result read inline: for the pool's own
    /// queries, whose future is the caller's (the concrete API's point-select path).
    pub(crate) async fn perform_inline(&mut self, op: Op<'_>) -> Result<Output> {
        let (conn, shared) = self.start(&op)?;
        let result = if op.is_query() {
            run_query(conn, op, shared).await
        } else {
            run_simple(conn, op, shared).await
        };
        self.busy = false;
        result
    }

    /// The connection, marked busy for `op` (and for a reset before reuse when `op` may
    /// change the session).
    fn start(&mut self, op: &Op<'_>) -> Result<(&mut Conn, &Shared)> {
        if self.is_poisoned() {
            return Err(Error::Internal(
                "the connection was left in the middle of a statement by a cancelled \
                 operation and has been discarded"
                    .into(),
            ));
        }
        if let Op::Execute { sql, .. }
        | Op::Query { sql, .. }
        | Op::Each { sql, .. }
        | Op::Native { sql, .. } = op
            && sql.may_change_session()
        {
            self.needs_reset = true;
        }
        if let Op::Batch { .. } = op {
            // A script may do anything to the session; reset it before reuse.
            self.needs_reset = true;
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(Error::Internal(
                "the connection has already been released".into(),
            ));
        };
        self.busy = true;
        Ok((conn, &self.shared))
    }

    /// Closes the connection now instead of returning it to the pool. If a statement may
    /// still be running on it, the server session is killed from a side connection too, so
    /// that it does not hold locks until the statement ends.
    pub(crate) fn discard(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.shared.counters.record_discard();
            let running = self.busy;
            let id = conn.id();
            let shared = Arc::clone(&*self.shared);
            drop(self.shared.runtime.spawn(async move {
                let _ = conn.disconnect().await;
                shared.counters.record_release();
                if running {
                    kill(&shared.opts, "CONNECTION", id, Duration::from_secs(5)).await;
                }
            }));
        }
    }
}

impl Drop for Checkout<'_> {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if self.busy {
            // Cancelled in the middle of a statement: the protocol state is unknown.
            self.conn = Some(conn);
            self.discard();
            return;
        }
        if !self.in_tx && !self.needs_reset {
            drop(conn); // back to the pool
            self.shared.counters.record_release();
            return;
        }
        let (in_tx, reset) = (self.in_tx, self.needs_reset);
        let shared = Arc::clone(&*self.shared);
        let cleanup = self.shared.runtime.spawn(async move {
            let cleaned = async {
                if in_tx {
                    conn.query_drop("ROLLBACK").await?;
                }
                if reset {
                    shared.counters.record_reset();
                    conn.reset().await?;
                }
                Ok::<_, mysql_async::Error>(())
            }
            .await;
            match cleaned {
                Ok(()) => drop(conn),
                Err(e) => {
                    tracing::debug!(target: "db_mysql", error = %e, "cleanup failed; closing the connection");
                    shared.counters.record_discard();
                    let _ = conn.disconnect().await;
                }
            }
            shared.counters.record_release();
        });
        drop(cleanup); // detached
    }
}

/// Sends `KILL QUERY id` or `KILL CONNECTION id` from a connection of its own (never from
/// the pool, which may be exhausted). Best effort: failures are logged.
pub(crate) async fn kill(opts: &Opts, what: &str, id: u32, timeout: Duration) {
    let attempt = async {
        let mut conn = Conn::new(opts.clone()).await?;
        let killed = conn.query_drop(format!("KILL {what} {id}")).await;
        let _ = conn.disconnect().await;
        killed
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(())) => tracing::debug!(target: "db_mysql", id, what, "killed"),
        // The session may already be gone (1094: unknown thread id).
        Ok(Err(e)) => {
            tracing::debug!(target: "db_mysql", id, what, error = %map_error(e), "KILL failed")
        }
        Err(_) => tracing::warn!(target: "db_mysql", id, what, "KILL timed out"),
    }
}

/// Whether the SQL asks the client to send one of its files (`LOAD DATA LOCAL INFILE`,
/// `LOAD XML LOCAL INFILE`). Refused before anything is sent.
pub(crate) fn is_local_infile(sql: &str) -> bool {
    let upper = sql.to_ascii_uppercase();
    let words: Vec<&str> = upper
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    words.windows(2).enumerate().any(|(i, w)| {
        w[0] == "LOAD"
            && (w[1] == "DATA" || w[1] == "XML")
            && words[i + 2..].iter().take(2).any(|w| *w == "LOCAL")
    })
}

pub(crate) fn local_infile_refused() -> Error {
    Error::Unsupported(
        "LOAD DATA LOCAL INFILE is refused: this driver never sends client files to the \
         server; load the data with insert_many or a server-side LOAD DATA INFILE"
            .into(),
    )
}

fn params_of(sql: &PreparedSql, params: &[Value], shared: &Shared) -> Result<Params> {
    sql.check_params(params.len())?;
    if sql.param_order.is_empty() {
        return Ok(Params::Empty);
    }
    Ok(Params::Positional(to_params(
        params,
        &sql.param_order,
        shared.zone,
    )?))
}

/// Whether a prepared-statement failure means "run it through the text protocol".
fn unsupported_ps(err: &mysql_async::Error, no_params: bool) -> bool {
    no_params && matches!(err, mysql_async::Error::Server(e) if e.code == code::UNSUPPORTED_PS)
}

/// Runs a statement that returns no result set (see [`Op::is_query`]).
async fn run_simple(conn: &mut Conn, op: Op<'_>, shared: &Shared) -> Result<Output> {
    match op {
        Op::Execute { sql, params } => {
            let params = params_of(sql, params, shared)?;
            let no_params = matches!(params, Params::Empty);
            match conn.exec_drop(sql.sql.as_str(), params).await {
                Ok(()) => {}
                // One statement (checked), no parameters: the text protocol is equivalent.
                Err(e) if unsupported_ps(&e, no_params) => {
                    conn.query_drop(sql.sql.as_str()).await.map_err(map_error)?;
                }
                Err(e) => return Err(map_error(e)),
            }
            Ok(Output::Count(conn.affected_rows()))
        }
        Op::Insert { sql, params } => {
            sql.check_params(params.len())?;
            conn.exec_drop(sql.sql.as_str(), Params::Positional(params))
                .await
                .map_err(map_error)?;
            Ok(Output::Count(conn.affected_rows()))
        }
        Op::Batch { sql } | Op::Control { sql } => {
            conn.query_drop(sql).await.map_err(map_error)?;
            Ok(Output::Done)
        }
        Op::Ping => {
            conn.ping().await.map_err(map_error)?;
            Ok(Output::Done)
        }
        // Not reached: `perform` sends queries to `run_query`.
        Op::Query { .. } | Op::Each { .. } | Op::Native { .. } => {
            Box::pin(run_query(conn, op, shared)).await
        }
    }
}

/// Runs a query, reading its result set (see [`Op::is_query`]).
async fn run_query(conn: &mut Conn, op: Op<'_>, shared: &Shared) -> Result<Output> {
    match op {
        Op::Query { sql, params } => {
            let mut rows = Vec::new();
            let mut push = |decoder: &Decoder, row| {
                rows.push(decoder.row(row)?);
                Ok(())
            };
            stream(conn, sql, params, shared, &mut push).await?;
            Ok(Output::Rows(rows))
        }
        Op::Each { sql, params, f } => {
            let mut each = |decoder: &Decoder, row| decoder.row(row).and_then(&mut *f);
            stream(conn, sql, params, shared, &mut each)
                .await
                .map(Output::Count)
        }
        Op::Native { sql, params, f } => stream(conn, sql, params, shared, f)
            .await
            .map(Output::Count),
        // Not reached: `perform` sends only queries here.
        other => Box::pin(run_simple(conn, other, shared)).await,
    }
}

async fn stream(
    conn: &mut Conn,
    sql: &PreparedSql,
    params: &[Value],
    shared: &Shared,
    f: &mut NativeSink<'_>,
) -> Result<u64> {
    let params = params_of(sql, params, shared)?;
    let no_params = matches!(params, Params::Empty);
    match conn.exec_iter(sql.sql.as_str(), params).await {
        Ok(result) => return drain(result, sql, shared, f).await,
        Err(e) if unsupported_ps(&e, no_params) => {}
        Err(e) => return Err(map_error(e)),
    }
    let result = conn.query_iter(sql.sql.as_str()).await.map_err(map_error)?;
    drain(result, sql, shared, f).await
}

async fn drain<P: Protocol>(
    mut result: QueryResult<'_, 'static, P>,
    sql: &PreparedSql,
    shared: &Shared,
    f: &mut NativeSink<'_>,
) -> Result<u64> {
    let decoder = shared.decoder(sql, result.columns_ref());
    let mut n = 0;
    loop {
        let row = match result.next().await {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(e) => return Err(map_error(e)),
        };
        let outcome = f(&decoder, row);
        if let Err(e) = outcome {
            // Read and discard the rest, so the connection stays usable.
            result.drop_result().await.map_err(map_error)?;
            return Err(e);
        }
        n += 1;
    }
    // Further result sets (a CALL) are read and dropped.
    result.drop_result().await.map_err(map_error)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_infile_is_detected() {
        for sql in [
            "LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE t",
            "load data low_priority local infile 'x' into table t",
            "LOAD XML LOCAL INFILE 'x' INTO TABLE t",
            "/* c */ LOAD\nDATA CONCURRENT LOCAL INFILE 'x' INTO TABLE t",
        ] {
            assert!(is_local_infile(sql), "{sql}");
        }
        for sql in [
            "LOAD DATA INFILE '/tmp/x' INTO TABLE t",
            "SELECT 'load' AS local",
            "INSERT INTO t VALUES (1)",
        ] {
            assert!(!is_local_infile(sql), "{sql}");
        }
    }
}
