//! Running one operation on one connection: the code shared by the inline fast path,
//! the worker threads and transactions.

use std::any::Any;
use std::sync::Arc;

use dbcore::observe;
use dbcore::{Columns, DatabaseType, Error, FromRow, PreparedSql, Result, Row, Value};
use rusqlite::Connection;

use crate::error::map_error;
use crate::value::{NativeRow, Param, read_value};

/// A statement's parameters, carried to the worker thread. Up to four are stored in
/// the job itself: no allocation, and no extra cache miss on the worker, for the usual
/// short statement.
pub(crate) type Params = smallvec::SmallVec<[Value; 4]>;

/// How many rows the caller of a query wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Every row (`query`).
    All,
    /// At most one (`query_one`, `query_opt`): no list is built, and a second row is
    /// [`Error::TooManyRows`].
    AtMostOne,
}

/// The rows a query read, in the [`Shape`] asked for.
#[derive(Debug)]
pub(crate) enum Rows {
    All(Vec<Row>),
    One(Option<Row>),
}

impl Rows {
    /// How many rows were read.
    pub(crate) fn count(&self) -> u64 {
        match self {
            Rows::All(rows) => rows.len() as u64,
            Rows::One(row) => u64::from(row.is_some()),
        }
    }

    /// Every row.
    pub(crate) fn all(self) -> Vec<Row> {
        match self {
            Rows::All(rows) => rows,
            Rows::One(row) => row.into_iter().collect(),
        }
    }

    /// The row, if any (more than one was refused while reading).
    pub(crate) fn at_most_one(self) -> Result<Option<Row>> {
        match self {
            Rows::All(rows) => dbcore::optional_row(rows),
            Rows::One(row) => Ok(row),
        }
    }

    /// Exactly one row.
    pub(crate) fn one(self) -> Result<Row> {
        self.at_most_one()?.ok_or(Error::RowNotFound)
    }
}

/// One unit of work for a connection.
#[derive(Debug)]
pub(crate) enum Op {
    /// One statement; returns rows affected.
    Execute {
        sql: Arc<PreparedSql>,
        params: Params,
    },
    /// One query; returns its rows in `shape`.
    Query {
        sql: Arc<PreparedSql>,
        params: Params,
        shape: Shape,
    },
    /// One query of at most one row, decoded by `decode` (a second row is
    /// [`Error::TooManyRows`]); returns the decoded value.
    QueryAs {
        sql: Arc<PreparedSql>,
        params: Params,
        decode: DecodeRow,
    },
    /// One query whose rows are sent in chunks as they are read; returns the row count.
    /// Stops early when the receiver is dropped.
    Stream {
        sql: Arc<PreparedSql>,
        params: Params,
        chunks: tokio::sync::mpsc::Sender<Vec<Row>>,
    },
    /// A script of statements without parameters.
    Batch { sql: String },
    /// A bulk insert: one prepared single-row INSERT run once per row.
    InsertMany {
        sql: Arc<PreparedSql>,
        rows: Vec<Vec<Value>>,
        /// Whether to wrap the rows in a transaction of their own (outside a
        /// transaction) or run them in the current one.
        own_transaction: bool,
    },
}

/// Decodes one native row into a typed value (boxed, to cross to the caller's thread).
pub(crate) type DecodeRow = fn(&rusqlite::Row<'_>) -> Result<Box<dyn Any + Send>>;

/// [`DecodeRow`] for `T`: [`FromRow::from_columns`] over the native row.
pub(crate) fn decode_row<T: FromRow + Send + 'static>(
    row: &rusqlite::Row<'_>,
) -> Result<Box<dyn Any + Send>> {
    Ok(Box::new(T::from_columns(&mut NativeRow(row))?))
}

/// What an [`Op`] produced.
#[derive(Debug)]
pub(crate) enum Output {
    Count(u64),
    Rows(Rows),
    /// The value of a [`Op::QueryAs`], if there was a row.
    Typed(Option<Box<dyn Any + Send>>),
    Unit,
}

impl Output {
    pub(crate) fn count(self) -> Result<u64> {
        match self {
            Output::Count(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    pub(crate) fn rows(self) -> Result<Rows> {
        match self {
            Output::Rows(r) => Ok(r),
            other => Err(unexpected(other)),
        }
    }

    /// The value of a [`Op::QueryAs`], as the `T` its decoder made.
    pub(crate) fn typed<T: 'static>(self) -> Result<Option<T>> {
        match self {
            Output::Typed(None) => Ok(None),
            Output::Typed(Some(value)) => downcast(value).map(Some),
            other => Err(unexpected(other)),
        }
    }
}

/// The `T` a [`DecodeRow`] made.
pub(crate) fn downcast<T: 'static>(value: Box<dyn Any + Send>) -> Result<T> {
    value
        .downcast::<T>()
        .map(|t| *t)
        .map_err(|_| Error::Internal("a typed row was decoded into another type".into()))
}

fn unexpected(o: Output) -> Error {
    Error::Internal(format!("unexpected worker output {o:?}"))
}

impl Op {
    /// The operation name for traces (`db.operation`).
    fn name(&self) -> &'static str {
        match self {
            Op::Execute { .. } => "execute",
            Op::Query { .. } | Op::QueryAs { .. } => "query",
            Op::Stream { .. } => "for_each_row",
            Op::Batch { .. } => "execute_batch",
            Op::InsertMany { .. } => "insert_many",
        }
    }

    /// The statement text for traces (`db.statement`), never parameter values.
    fn statement(&self) -> &str {
        match self {
            Op::Execute { sql, .. }
            | Op::Query { sql, .. }
            | Op::QueryAs { sql, .. }
            | Op::Stream { sql, .. }
            | Op::InsertMany { sql, .. } => &sql.sql,
            Op::Batch { sql } => sql,
        }
    }
}

/// Runs `op` on `conn` inside a `db.query` span, and warns about slow statements
/// (neither, and no timing, when nobody listens).
pub(crate) fn run(conn: &Connection, op: Op) -> Result<Output> {
    let (name, statement) = (op.name(), op.statement());
    let Some(span) = observe::statement_span(None, DatabaseType::Sqlite, name, statement) else {
        return run_op(conn, &op);
    };
    let _entered = span.enter();
    let started = std::time::Instant::now();
    let result = run_op(conn, &op);
    let outcome = match &result {
        Ok(Output::Count(n)) => Ok(Some(*n)),
        Ok(Output::Rows(rows)) => Ok(Some(rows.count())),
        Ok(Output::Typed(value)) => Ok(Some(u64::from(value.is_some()))),
        Ok(Output::Unit) => Ok(None),
        Err(e) => Err(e),
    };
    observe::finish_statement(
        &span,
        DatabaseType::Sqlite,
        name,
        statement,
        started.elapsed(),
        outcome,
    );
    result
}

fn run_op(conn: &Connection, op: &Op) -> Result<Output> {
    match op {
        Op::Execute { sql, params } => execute(conn, sql, params).map(Output::Count),
        Op::Query { sql, params, shape } => query(conn, sql, params, *shape).map(Output::Rows),
        Op::QueryAs {
            sql,
            params,
            decode,
        } => query_as(conn, sql, params, *decode).map(Output::Typed),
        Op::Stream {
            sql,
            params,
            chunks,
        } => stream(conn, sql, params, chunks).map(Output::Count),
        Op::Batch { sql } => conn
            .execute_batch(sql)
            .map(|()| Output::Unit)
            .map_err(map_error),
        Op::InsertMany {
            sql,
            rows,
            own_transaction,
        } => insert_many(conn, sql, rows, *own_transaction).map(Output::Count),
    }
}

pub(crate) fn bind(stmt: &mut rusqlite::Statement<'_>, params: &[Value]) -> Result<()> {
    for (i, v) in params.iter().enumerate() {
        stmt.raw_bind_parameter(i + 1, Param(v))
            .map_err(|e| match e {
                rusqlite::Error::ToSqlConversionFailure(msg) => {
                    Error::parameter(i + 1, msg.to_string())
                }
                other => map_error(other),
            })?;
    }
    Ok(())
}

/// Prepares `sql` (cached per connection).
///
/// Preparing may have to re-read a schema another connection changed. While another
/// connection holds a lock past the busy timeout, SQLite cannot read it and answers
/// from its stale copy ("no such table", "no such column"): that is reported as the
/// lock ([`ErrorKind::Busy`](dbcore::ErrorKind::Busy), retryable), not as a mistake in
/// the statement.
pub(crate) fn prepare<'c>(
    conn: &'c Connection,
    sql: &str,
) -> Result<rusqlite::CachedStatement<'c>> {
    conn.prepare_cached(sql).map_err(|e| {
        let err = map_error(e);
        let message = err.to_string();
        let schema_miss = message.contains("no such table") || message.contains("no such column");
        if schema_miss && schema_locked(conn) {
            Error::database(
                DatabaseType::Sqlite,
                dbcore::ErrorKind::Busy,
                Some(rusqlite::ffi::SQLITE_BUSY.to_string()),
                format!(
                    "database is locked: preparing the statement needs the schema another \
                     connection changed, and another connection's lock kept it from being read \
                     within the busy timeout (SQLite answered from its old copy: {message})"
                ),
                None,
            )
        } else {
            err
        }
    })
}

/// Whether another connection's lock keeps this one from reading the schema now (the
/// busy timeout set aside for the check, then restored).
fn schema_locked(conn: &Connection) -> bool {
    let Ok(timeout_ms) = conn.query_row("PRAGMA busy_timeout", [], |r| r.get::<_, i64>(0)) else {
        return false;
    };
    if conn.busy_timeout(std::time::Duration::ZERO).is_err() {
        return false;
    }
    let locked = match conn.query_row("PRAGMA schema_version", [], |r| r.get::<_, i64>(0)) {
        Err(rusqlite::Error::SqliteFailure(e, _)) => matches!(
            e.code,
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
        ),
        _ => false,
    };
    let restore = std::time::Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(0));
    let _ = conn.busy_timeout(restore);
    locked
}

/// Whether `sql` changes rows, so that `changes()` describes it (DDL and queries do
/// not update SQLite's change counter).
fn is_dml(sql: &PreparedSql) -> bool {
    matches!(
        sql.leading_keyword.as_deref(),
        Some("INSERT" | "UPDATE" | "DELETE" | "REPLACE" | "WITH")
    )
}

pub(crate) fn execute(conn: &Connection, sql: &PreparedSql, params: &[Value]) -> Result<u64> {
    let mut stmt = prepare(conn, &sql.sql)?;
    bind(&mut stmt, params)?;
    let readonly = stmt.readonly();
    // Step through any rows (e.g. INSERT ... RETURNING) so the statement completes.
    let mut rows = stmt.raw_query();
    while rows.next().map_err(map_error)?.is_some() {}
    drop(rows);
    Ok(if !readonly && is_dml(sql) {
        conn.changes()
    } else {
        0
    })
}

pub(crate) fn query(
    conn: &Connection,
    sql: &PreparedSql,
    params: &[Value],
    shape: Shape,
) -> Result<Rows> {
    let mut stmt = prepare(conn, &sql.sql)?;
    bind(&mut stmt, params)?;
    query_prepared(sql, &mut stmt, shape)
}

/// Runs an already bound statement and collects its rows in `shape`.
pub(crate) fn query_prepared(
    sql: &PreparedSql,
    stmt: &mut rusqlite::Statement<'_>,
    shape: Shape,
) -> Result<Rows> {
    match shape {
        Shape::All => {
            let mut out = Vec::new();
            for_each(sql, stmt, |row| {
                out.push(row);
                Ok(true)
            })?;
            Ok(Rows::All(out))
        }
        Shape::AtMostOne => {
            let mut first = None;
            for_each(sql, stmt, |row| {
                if first.is_some() {
                    return Err(Error::TooManyRows);
                }
                first = Some(row);
                Ok(true)
            })?;
            Ok(Rows::One(first))
        }
    }
}

pub(crate) fn query_as(
    conn: &Connection,
    sql: &PreparedSql,
    params: &[Value],
    decode: DecodeRow,
) -> Result<Option<Box<dyn Any + Send>>> {
    let mut stmt = prepare(conn, &sql.sql)?;
    bind(&mut stmt, params)?;
    query_prepared_as(&mut stmt, decode)
}

/// Steps a bound statement of at most one row and decodes it with `decode` (no
/// [`Row`]); a second row is [`Error::TooManyRows`].
pub(crate) fn query_prepared_as(
    stmt: &mut rusqlite::Statement<'_>,
    decode: DecodeRow,
) -> Result<Option<Box<dyn Any + Send>>> {
    let mut rows = stmt.raw_query();
    let mut first = None;
    while let Some(row) = rows.next().map_err(map_error)? {
        if first.is_some() {
            return Err(Error::TooManyRows);
        }
        first = Some(decode(row)?);
    }
    Ok(first)
}

/// Steps a bound statement, handing each row to `f` until it returns `false`.
fn for_each(
    sql: &PreparedSql,
    stmt: &mut rusqlite::Statement<'_>,
    mut f: impl FnMut(Row) -> Result<bool>,
) -> Result<u64> {
    let columns = column_names(sql, stmt);
    let width = columns.len();
    let mut rows = stmt.raw_query();
    let mut n = 0;
    while let Some(row) = rows.next().map_err(map_error)? {
        let mut values = Vec::with_capacity(width);
        for (i, name) in columns.iter().enumerate() {
            let v = row.get_ref(i).map_err(map_error)?;
            values.push(read_value(v, name)?);
        }
        n += 1;
        if !f(Row::new(Arc::clone(&columns), values))? {
            break;
        }
    }
    Ok(n)
}

/// The statement's column names, shared with earlier results of the same statement.
fn column_names(sql: &PreparedSql, stmt: &rusqlite::Statement<'_>) -> Columns {
    dbcore::shared_columns(sql, stmt.column_count(), |i| {
        stmt.column_name(i).unwrap_or_default()
    })
}

/// Rows per chunk sent by a streaming query.
const STREAM_CHUNK: usize = 256;

fn stream(
    conn: &Connection,
    sql: &PreparedSql,
    params: &[Value],
    chunks: &tokio::sync::mpsc::Sender<Vec<Row>>,
) -> Result<u64> {
    let mut stmt = prepare(conn, &sql.sql)?;
    bind(&mut stmt, params)?;
    let mut buf = Vec::with_capacity(STREAM_CHUNK);
    let mut receiver_gone = false;
    let n = for_each(sql, &mut stmt, |row| {
        buf.push(row);
        if buf.len() == STREAM_CHUNK {
            let full = std::mem::replace(&mut buf, Vec::with_capacity(STREAM_CHUNK));
            receiver_gone = chunks.blocking_send(full).is_err();
        }
        Ok(!receiver_gone)
    })?;
    if !buf.is_empty() && !receiver_gone {
        let _ = chunks.blocking_send(buf);
    }
    Ok(n)
}

fn insert_many(
    conn: &Connection,
    sql: &PreparedSql,
    rows: &[Vec<Value>],
    own_transaction: bool,
) -> Result<u64> {
    // Inside the caller's transaction the rows go in a savepoint of their own, so that a
    // load failing part-way leaves none of its rows behind (and the transaction usable),
    // as on the pool and in the other drivers.
    let (begin, commit, roll_back) = if own_transaction {
        ("BEGIN IMMEDIATE", "COMMIT", "ROLLBACK")
    } else {
        (
            "SAVEPOINT dblayer_insert_many",
            "RELEASE dblayer_insert_many",
            "ROLLBACK TO dblayer_insert_many; RELEASE dblayer_insert_many",
        )
    };
    conn.execute_batch(begin).map_err(map_error)?;
    let result = (|| {
        let mut stmt = prepare(conn, &sql.sql)?;
        let mut n = 0u64;
        for (i, row) in rows.iter().enumerate() {
            bind(&mut stmt, row).map_err(|e| at_row(i, e))?;
            stmt.raw_execute().map_err(|e| at_row(i, map_error(e)))?;
            n += 1;
        }
        Ok(n)
    })();
    let end = if result.is_ok() { commit } else { roll_back };
    if let Err(e) = conn.execute_batch(end) {
        if own_transaction && !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        return Err(result.err().unwrap_or_else(|| map_error(e)));
    }
    result
}

fn at_row(i: usize, e: Error) -> Error {
    match e {
        Error::Parameter { position, message } => Error::Parameter {
            position: format!("{position} of row {i}"),
            message,
        },
        other => other,
    }
}

/// A streaming query and the receiving end of its row chunks.
pub(crate) fn stream_op(
    sql: Arc<PreparedSql>,
    params: &[Value],
) -> (Op, tokio::sync::mpsc::Receiver<Vec<Row>>) {
    let (chunks, rx) = tokio::sync::mpsc::channel(4);
    (
        Op::Stream {
            sql,
            params: Params::from(params),
            chunks,
        },
        rx,
    )
}

/// Hands streamed rows to `f`, then waits for the statement's own result.
///
/// An error from `f` drops the receiver, which stops the statement at its next chunk;
/// the error is returned once the statement has stopped. `done` is still awaited then,
/// not dropped: dropping it would count as a cancellation, which interrupts the
/// statement and, in a transaction, rolls the transaction back.
pub(crate) async fn drain_stream(
    mut rows: tokio::sync::mpsc::Receiver<Vec<Row>>,
    done: impl std::future::Future<Output = Result<Result<Output>, crate::reply::Closed>>,
    f: &mut (dyn FnMut(Row) -> Result<()> + Send),
) -> Result<u64> {
    let mut seen = 0;
    while let Some(chunk) = rows.recv().await {
        for row in chunk {
            if let Err(e) = f(row) {
                drop(rows);
                let _ = done.await;
                return Err(e);
            }
            seen += 1;
        }
    }
    done.await
        .map_err(|_| Error::Internal("the streaming query's worker stopped".into()))??;
    Ok(seen)
}
