//! Running statements on one native client: shared by the pool path and transactions.

use std::sync::Arc;

use dbcore::{
    Columns, DatabaseType, Error, FromRow, InsertPlan, PreparedSql, Result, Row, RowReader, Value,
    quote_identifier,
};
use deadpool_postgres::ClientWrapper;
use futures_util::{StreamExt, pin_mut};
use tokio_postgres::Statement;
use tokio_postgres::binary_copy::BinaryCopyInWriter;

use crate::error::map_error;
use crate::statements::Statements;
use crate::value::{Bound, NativeRow, Param, bind, bind_all, read_value};

/// Prepared statements kept per connection before the cache is emptied.
const MAX_CACHED_STATEMENTS: usize = 512;

/// How often (in calls on one thread) the cache size is checked: counting the cache
/// walks all of it, so it is not done per statement. A cache grows by at most one
/// statement per call, so it overshoots `MAX_CACHED_STATEMENTS` by at most this many
/// per executor thread before it is emptied.
const SIZE_CHECK_EVERY: u32 = 64;

thread_local! {
    static PREPARE_CALLS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Prepares `sql` once per connection: found in the SQL's own table of statements
/// ([`Statements`]), else through the connection's cache (`prepare_cached`).
pub(crate) async fn prepare(client: &ClientWrapper, sql: &PreparedSql) -> Result<Statement> {
    let statements = Statements::of(sql);
    if let Some(statement) = statements.and_then(|s| s.get(client)) {
        return Ok(statement);
    }
    let statement = prepare_text(client, &sql.sql).await?;
    if let Some(statements) = statements {
        statements.insert(client, statement.clone());
    }
    Ok(statement)
}

/// Prepares `sql` once per connection through the connection's cache.
async fn prepare_text(client: &ClientWrapper, sql: &str) -> Result<Statement> {
    let calls = PREPARE_CALLS.with(|c| {
        let n = c.get().wrapping_add(1);
        c.set(n);
        n
    });
    if calls.is_multiple_of(SIZE_CHECK_EVERY)
        && client.statement_cache.size() >= MAX_CACHED_STATEMENTS
    {
        client.statement_cache.clear();
    }
    client.prepare_cached(sql).await.map_err(map_error)
}

/// Whether `e` says the connection's prepared statement cannot be used again: its plan
/// no longer fits the table (after DDL), or the server no longer has it (`DEALLOCATE`,
/// `DISCARD ALL`). Both are reported before the statement runs, so it can be prepared
/// again and re-run.
fn stale_plan(e: &Error) -> bool {
    match e.code() {
        Some("0A000") => e
            .to_string()
            .contains("cached plan must not change result type"),
        Some("26000") => true,
        _ => false,
    }
}

/// The answer of a statement run again after `stale` (see [`stale_plan`]). Inside a
/// transaction block the first error has aborted the transaction, so the second run
/// can only report that; the first error, which says why, is returned instead.
fn after_retry<T>(stale: Error, retried: Result<T>) -> Result<T> {
    match retried {
        Err(e) if e.code() == Some("25P02") => Err(stale),
        other => other,
    }
}

/// Forgets `sql`'s statement on `client`'s connection, in both caches.
fn forget(client: &ClientWrapper, sql: &PreparedSql) {
    client.statement_cache.remove(&sql.sql, &[]);
    if let Some(statements) = Statements::of(sql) {
        statements.remove(client);
    }
}

/// Runs one statement and returns the rows it affected: 0 for a query that only reads
/// (see [`only_reads`]), as on the other backends.
pub(crate) async fn execute(
    client: &ClientWrapper,
    sql: &PreparedSql,
    params: &[Value],
) -> Result<u64> {
    let affected = execute_counted(client, sql, params).await?;
    Ok(if affected != 0 && only_reads(sql) {
        0
    } else {
        affected
    })
}

/// Whether `sql` is a query that changes no rows, whatever it returns. PostgreSQL's
/// count for `SELECT` (and `VALUES`, `TABLE`, `SHOW`, `EXPLAIN`) is the number of rows
/// returned, not affected; MySQL and SQLite report 0 there, and so does the layer. (A
/// `WITH` statement keeps PostgreSQL's count: it is the main statement's, which may
/// write.)
fn only_reads(sql: &PreparedSql) -> bool {
    matches!(
        sql.leading_keyword.as_deref(),
        Some("SELECT" | "VALUES" | "TABLE" | "SHOW" | "EXPLAIN")
    )
}

/// Runs one statement and returns the count of its command tag.
async fn execute_counted(
    client: &ClientWrapper,
    sql: &PreparedSql,
    params: &[Value],
) -> Result<u64> {
    let stmt = prepare(client, sql).await?;
    let mut bound = Bound::new();
    bind_all(&mut bound, params, stmt.params())?;
    match client
        .execute_raw(&stmt, bound.iter())
        .await
        .map_err(map_error)
    {
        Err(e) if stale_plan(&e) => {
            forget(client, sql);
            let retried = async {
                let stmt = prepare(client, sql).await?;
                let mut bound = Bound::new();
                bind_all(&mut bound, params, stmt.params())?;
                client
                    .execute_raw(&stmt, bound.iter())
                    .await
                    .map_err(map_error)
            };
            after_retry(e, retried.await)
        }
        other => other,
    }
}

/// How many rows a query may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Every row.
    All,
    /// At most one: `query_one` / `query_opt`. A second row is
    /// [`Error::TooManyRows`] as soon as it arrives (the connection discards the
    /// rest), and no list is built for the one row.
    AtMostOne,
}

/// What a query returned, one `R` per row: inline when there is at most one.
pub(crate) type Fetched<R> = smallvec::SmallVec<[R; 1]>;

/// `db.rows` of a query's result (for tracing).
pub(crate) fn rows_in<R>(rows: &Fetched<R>) -> Option<u64> {
    Some(rows.len() as u64)
}

/// A reader of a result's rows: given the statement, returns the function that
/// converts each native row.
pub(crate) trait ReadRows {
    /// What one row becomes.
    type Out;
    /// The converter of one result's rows.
    fn reader(
        &mut self,
        sql: &PreparedSql,
        stmt: &Statement,
    ) -> impl FnMut(&tokio_postgres::Row) -> Result<Self::Out>;
}

/// Rows as portable [`Row`]s, sharing their column names.
pub(crate) struct PortableRows;

impl ReadRows for PortableRows {
    type Out = Row;
    fn reader(
        &mut self,
        sql: &PreparedSql,
        stmt: &Statement,
    ) -> impl FnMut(&tokio_postgres::Row) -> Result<Row> {
        let columns = column_names(sql, stmt);
        move |row| convert_row(&columns, row)
    }
}

/// Rows decoded straight into `T` ([`FromRow::from_columns`]): no [`Row`], no list of
/// values, column names only for an error, and the common column types read without a
/// [`Value`] ([`NativeRow`]).
pub(crate) struct TypedRows<T>(std::marker::PhantomData<fn() -> T>);

impl<T> TypedRows<T> {
    pub(crate) fn new() -> Self {
        TypedRows(std::marker::PhantomData)
    }
}

impl<T: FromRow> ReadRows for TypedRows<T> {
    type Out = T;
    fn reader(
        &mut self,
        _sql: &PreparedSql,
        _stmt: &Statement,
    ) -> impl FnMut(&tokio_postgres::Row) -> Result<T> {
        |row| T::from_columns(&mut NativeRow(row))
    }
}

/// Rows handed to a caller's [`RowReader`] ([`Executor::query_opt_with`]) as
/// [`NativeRow`]s.
///
/// [`Executor::query_opt_with`]: dbcore::Executor::query_opt_with
pub(crate) struct ReaderRows<'r, 'f>(pub(crate) &'r mut RowReader<'f>);

impl ReadRows for ReaderRows<'_, '_> {
    type Out = ();
    fn reader(
        &mut self,
        _sql: &PreparedSql,
        _stmt: &Statement,
    ) -> impl FnMut(&tokio_postgres::Row) -> Result<()> {
        |row| (self.0)(&mut NativeRow(row))
    }
}

/// Runs one query and returns its rows (see [`Shape`]) as `read` converts them.
pub(crate) async fn query<R: ReadRows>(
    client: &ClientWrapper,
    sql: &PreparedSql,
    params: &[Value],
    shape: Shape,
    mut read: R,
) -> Result<Fetched<R::Out>> {
    let stmt = prepare(client, sql).await?;
    match collect_rows(client, sql, &stmt, params, shape, &mut read).await {
        // The plan error arrives before any row, so nothing was delivered twice.
        Err(e) if stale_plan(&e) => {
            forget(client, sql);
            // Read the rows with the re-prepared statement: its columns may differ
            // from the stale one's.
            let retried = async {
                let stmt = prepare(client, sql).await?;
                collect_rows(client, sql, &stmt, params, shape, &mut read).await
            };
            after_retry(e, retried.await)
        }
        other => other,
    }
}

/// Binds `params`, runs `stmt` and converts its rows as they arrive (no intermediate
/// list of native rows).
async fn collect_rows<R: ReadRows>(
    client: &ClientWrapper,
    sql: &PreparedSql,
    stmt: &Statement,
    params: &[Value],
    shape: Shape,
    read: &mut R,
) -> Result<Fetched<R::Out>> {
    let mut bound = Bound::new();
    bind_all(&mut bound, params, stmt.params())?;
    let stream = client
        .query_raw(stmt, bound.iter())
        .await
        .map_err(map_error)?;
    pin_mut!(stream);
    let mut convert = read.reader(sql, stmt);
    let mut rows = Fetched::new();
    while let Some(row) = stream.next().await {
        let row = row.map_err(map_error)?;
        if shape == Shape::AtMostOne && !rows.is_empty() {
            return Err(Error::TooManyRows);
        }
        rows.push(convert(&row)?);
    }
    Ok(rows)
}

/// The result's column names, shared by its rows (and with later results of the same
/// statement: no allocation per query).
fn column_names(sql: &PreparedSql, stmt: &Statement) -> Columns {
    let columns = stmt.columns();
    dbcore::shared_columns(sql, columns.len(), |i| columns[i].name())
}

fn convert_row(columns: &Columns, row: &tokio_postgres::Row) -> Result<Row> {
    // A plain loop into an exactly sized list: `collect::<Result<Vec<_>>>()` cannot
    // size its list up front.
    let mut values = Vec::with_capacity(columns.len());
    for (i, name) in columns.iter().enumerate() {
        values.push(read_value(row, i, name)?);
    }
    Ok(Row::new(Arc::clone(columns), values))
}

/// Streams a query's rows into `f`.
pub(crate) async fn for_each_row(
    client: &ClientWrapper,
    sql: &PreparedSql,
    params: &[Value],
    f: &mut (dyn FnMut(Row) -> Result<()> + Send),
) -> Result<u64> {
    let stmt = prepare(client, sql).await?;
    let mut n = 0;
    match stream_rows(client, sql, &stmt, params, f, &mut n).await {
        // Only before the first row: a row handed to `f` is not handed over again.
        Err(e) if n == 0 && stale_plan(&e) => {
            forget(client, sql);
            let retried = async {
                let stmt = prepare(client, sql).await?;
                stream_rows(client, sql, &stmt, params, f, &mut n).await
            };
            after_retry(e, retried.await)?;
        }
        other => other?,
    }
    Ok(n)
}

/// Binds `params`, runs `stmt` and hands each row to `f`, counting them in `n`.
async fn stream_rows(
    client: &ClientWrapper,
    sql: &PreparedSql,
    stmt: &Statement,
    params: &[Value],
    f: &mut (dyn FnMut(Row) -> Result<()> + Send),
    n: &mut u64,
) -> Result<()> {
    let mut bound = Bound::new();
    bind_all(&mut bound, params, stmt.params())?;
    let stream = client
        .query_raw(stmt, bound.iter())
        .await
        .map_err(map_error)?;
    pin_mut!(stream);
    let columns = column_names(sql, stmt);
    while let Some(row) = stream.next().await {
        let row = row.map_err(map_error)?;
        f(convert_row(&columns, &row)?)?;
        *n += 1;
    }
    Ok(())
}

/// Runs a script through the simple-query protocol.
pub(crate) async fn batch(client: &ClientWrapper, sql: &str) -> Result<()> {
    client.batch_execute(sql).await.map_err(map_error)
}

/// Whether the connection is inside a transaction block: `SAVEPOINT` succeeds only
/// there (and fails with `25P01` outside one). A probe that succeeds is released.
pub(crate) async fn in_transaction(client: &ClientWrapper) -> bool {
    match client.batch_execute("SAVEPOINT dblayer_probe").await {
        Ok(()) => {
            let _ = client
                .batch_execute("RELEASE SAVEPOINT dblayer_probe")
                .await;
            true
        }
        Err(e) => e.code().map(|c| c.code()) != Some("25P01"),
    }
}

/// Inserts `rows` with binary `COPY ... FROM STDIN`, the column types read from the
/// table. Returns `Ok(None)` when some value can only be sent as text (e.g. text into
/// a `numeric` or `inet` column), for which the caller falls back to `INSERT`.
pub(crate) async fn copy_in(
    client: &ClientWrapper,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Value>],
    in_transaction: bool,
) -> Result<Option<u64>> {
    // Validates the shape (columns, row widths) and the identifiers.
    InsertPlan::new(DatabaseType::Postgres, table, columns, rows)?;
    let table = quote_identifier(DatabaseType::Postgres, table)?;
    let cols = columns
        .iter()
        .map(|c| quote_identifier(DatabaseType::Postgres, c))
        .collect::<Result<Vec<_>>>()?
        .join(", ");
    // Not from a statement cache: a cached probe keeps the column types it was
    // prepared with, and after `ALTER TABLE ... TYPE` the COPY would send the old
    // binary format (22P03). One round trip per load.
    let probe = client
        .prepare(&format!("SELECT {cols} FROM {table} LIMIT 0"))
        .await
        .map_err(map_error)?;
    let types: Vec<_> = probe.columns().iter().map(|c| c.type_().clone()).collect();
    // A bad value must fail without side effects. Outside a transaction block the
    // COPY is its own transaction: a bad value met while streaming aborts it (the
    // writer is dropped unfinished, which sends `CopyFail`), so the rows are checked as
    // they are written, in one pass. Inside a transaction an aborted COPY would leave
    // the transaction failed, so every value is checked before the COPY starts.
    let row_error = |r: usize, e: Error| match e {
        Error::Parameter { position, message } => Error::Parameter {
            position: format!("row {r}, column {}", column_of(&position, columns)),
            message,
        },
        other => other,
    };
    if in_transaction {
        for (r, row) in rows.iter().enumerate() {
            for (i, (value, ty)) in row.iter().zip(&types).enumerate() {
                if bind(i, value, ty)
                    .map_err(|e| row_error(r, e))?
                    .is_text_format()
                {
                    return Ok(None);
                }
            }
        }
    }
    let sink = client
        .copy_in(&format!("COPY {table} ({cols}) FROM STDIN (FORMAT binary)"))
        .await
        .map_err(map_error)?;
    let writer = BinaryCopyInWriter::new(sink, &types);
    pin_mut!(writer);
    // Stream: each row is encoded into the writer's buffer, which is sent to the
    // server whenever it fills, while the next rows are encoded.
    let mut params: Vec<Param<'_>> = Vec::with_capacity(types.len());
    for (r, row) in rows.iter().enumerate() {
        params.clear();
        for (i, (value, ty)) in row.iter().zip(&types).enumerate() {
            // An early return drops the writer unfinished: the COPY is aborted.
            let param = bind(i, value, ty).map_err(|e| row_error(r, e))?;
            if param.is_text_format() {
                return Ok(None);
            }
            params.push(param);
        }
        writer
            .as_mut()
            .write_raw(params.iter())
            .await
            .map_err(map_error)?;
    }
    writer.as_mut().finish().await.map_err(map_error).map(Some)
}

/// `$2` → the name of the second column.
fn column_of<'a>(position: &'a str, columns: &[&'a str]) -> &'a str {
    position
        .strip_prefix('$')
        .and_then(|n| n.parse::<usize>().ok())
        .and_then(|n| columns.get(n.wrapping_sub(1)).copied())
        .unwrap_or(position)
}

/// The fallback for [`copy_in`]: multi-row `INSERT`s under the parameter limit. The
/// caller provides the transaction.
pub(crate) async fn insert_rows(
    client: &ClientWrapper,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Value>],
) -> Result<u64> {
    let plan = InsertPlan::new(DatabaseType::Postgres, table, columns, rows)?;
    let mut total = 0;
    for (sql, chunk) in plan.statements() {
        let params: Vec<Value> = chunk.iter().flatten().cloned().collect();
        // One-off SQL shapes are not worth a cached statement each.
        let stmt = client.prepare(&sql).await.map_err(map_error)?;
        let mut bound = Bound::new();
        bind_all(&mut bound, &params, stmt.params())?;
        total += client
            .execute_raw(&stmt, bound.iter())
            .await
            .map_err(map_error)?;
    }
    Ok(total)
}
