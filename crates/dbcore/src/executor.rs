//! [`Executor`], the query surface shared by databases and transactions.

use std::future::Future;

use async_trait::async_trait;

use crate::{DatabaseType, Error, FromRow, Result, Row, RowSource, RowValues, Value};

/// What [`Executor::query_opt_with`] hands a row to: reads the columns it needs from
/// the driver's row.
pub type RowReader<'a> = dyn FnMut(&mut dyn RowSource) -> Result<()> + Send + 'a;

/// Runs SQL. Implemented by every [`Database`](crate::Database) (each call takes a pooled
/// connection) and every [`Transaction`](crate::Transaction) (each call runs on the
/// transaction's connection).
///
/// SQL is written once with PostgreSQL-style placeholders `$1, $2, ...`; each driver
/// rewrites them for its backend, and a placeholder may be used more than once.
/// Plain queries run exactly one statement, and transaction control (`BEGIN`, `COMMIT`,
/// ...) is refused with [`ErrorKind::TransactionControl`](crate::ErrorKind::TransactionControl):
/// use [`Database::begin`](crate::Database::begin) instead.
///
/// The trait is object safe: code written against `&dyn Executor` works for every
/// driver, inside or outside a transaction.
#[async_trait]
pub trait Executor: Send + Sync {
    /// The backend this executor talks to.
    fn database_type(&self) -> DatabaseType;

    /// Runs one statement and returns the number of rows it affected (inserted, updated
    /// or deleted). A query that only reads (`SELECT`, `VALUES`) affects none: 0 on every
    /// backend, whatever rows it returns (use [`query`](Self::query) to read them).
    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64>;

    /// Runs one query and returns all of its rows.
    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>>;

    /// Runs one query that must return exactly one row
    /// ([`Error::RowNotFound`] / [`Error::TooManyRows`] otherwise).
    async fn query_one(&self, sql: &str, params: &[Value]) -> Result<Row> {
        single_row(self.query(sql, params).await?)
    }

    /// Runs one query that returns at most one row.
    async fn query_opt(&self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        optional_row(self.query(sql, params).await?)
    }

    /// Runs one query that returns at most one row and hands that row to `read` as the
    /// driver reads it, column by column ([`RowSource`]): the object-safe hook behind
    /// [`ExecutorExt::query_one_as`] and [`ExecutorExt::query_opt_as`], which are what
    /// to call. Returns whether there was a row. A second row is
    /// [`Error::TooManyRows`] (`read` may have seen the first); an error from `read`
    /// stops the query and is returned.
    ///
    /// The default implementation runs [`query_opt`](Self::query_opt) and reads the
    /// [`Row`] ([`RowValues`]); drivers override it to decode their native rows without
    /// building one.
    async fn query_opt_with(
        &self,
        sql: &str,
        params: &[Value],
        read: &mut RowReader<'_>,
    ) -> Result<bool> {
        match self.query_opt(sql, params).await? {
            Some(row) => {
                read(&mut RowValues::from(row))?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Runs a script of one or more statements separated by `;`, without parameters.
    /// This is the only method that runs several statements; never build its text from
    /// untrusted input.
    async fn execute_batch(&self, sql: &str) -> Result<()>;

    /// Runs a query and hands each row to `f` as it arrives, for results too large to
    /// hold in memory. Returns the number of rows seen. An error from `f` stops the
    /// query and is returned.
    ///
    /// The default implementation buffers the whole result; drivers override it to
    /// stream.
    async fn for_each_row(
        &self,
        sql: &str,
        params: &[Value],
        f: &mut (dyn FnMut(Row) -> Result<()> + Send),
    ) -> Result<u64> {
        let rows = self.query(sql, params).await?;
        let mut n = 0;
        for row in rows {
            f(row)?;
            n += 1;
        }
        Ok(n)
    }

    /// Inserts many rows into `table` using the backend's fastest bulk path (PostgreSQL
    /// binary COPY, MySQL multi-row INSERT batches, SQLite one prepared statement).
    /// Every row must have one value per column (build one with
    /// `Vec::from(params![..])`). The rows are moved in, so large loads are not copied.
    /// Returns the number of rows inserted.
    ///
    /// On a [`Database`](crate::Database) the whole insert is one transaction: either
    /// every row is inserted or none is.
    ///
    /// The default implementation sends multi-row `INSERT` statements, each under the
    /// backend's bind-parameter limit.
    async fn insert_many(
        &self,
        table: &str,
        columns: &[&str],
        rows: Vec<Vec<Value>>,
    ) -> Result<u64> {
        let db_type = self.database_type();
        let plan = crate::bulk::InsertPlan::new(db_type, table, columns, &rows)?;
        let mut total = 0;
        for (sql, chunk) in plan.statements() {
            let params: Vec<Value> = chunk.iter().flatten().cloned().collect();
            total += self.execute(&sql, &params).await?;
        }
        Ok(total)
    }
}

/// Typed queries on every [`Executor`], including `dyn Database` and
/// `dyn Transaction`: the row is decoded straight into `T` ([`FromRow`], e.g. a tuple)
/// through [`Executor::query_opt_with`], so the drivers that read their native rows
/// column by column build no [`Row`] on the way.
///
/// A driver's concrete type (`PgDatabase`, ...) has inherent methods of the same names,
/// which method-call syntax picks there (without the boxed future of the object-safe
/// trait); this trait brings them to trait objects.
///
/// ```
/// use dbcore::{Executor, ExecutorExt, Result, params};
///
/// async fn user_name(db: &dyn Executor, id: i64) -> Result<Option<String>> {
///     let row: Option<(String,)> = db
///         .query_opt_as("SELECT name FROM users WHERE id = $1", &params![id])
///         .await?;
///     Ok(row.map(|(name,)| name))
/// }
/// ```
pub trait ExecutorExt: Executor {
    /// Runs one query that must return exactly one row ([`Error::RowNotFound`] /
    /// [`Error::TooManyRows`] otherwise) and decodes it into `T`: as many columns as `T`
    /// has elements, a column that does not fit named in the error.
    fn query_one_as<'a, T: FromRow + Send + 'a>(
        &'a self,
        sql: &'a str,
        params: &'a [Value],
    ) -> impl Future<Output = Result<T>> + Send + 'a {
        async move {
            self.query_opt_as(sql, params)
                .await?
                .ok_or(Error::RowNotFound)
        }
    }

    /// Runs one query that returns at most one row and decodes it into `T`, as
    /// [`query_one_as`](Self::query_one_as) does: `None` for no row.
    fn query_opt_as<'a, T: FromRow + Send + 'a>(
        &'a self,
        sql: &'a str,
        params: &'a [Value],
    ) -> impl Future<Output = Result<Option<T>>> + Send + 'a {
        async move {
            let mut decoded = None;
            let mut read = |row: &mut dyn RowSource| {
                decoded = Some(T::from_columns(row)?);
                Ok(())
            };
            self.query_opt_with(sql, params, &mut read).await?;
            Ok(decoded)
        }
    }

    /// Runs one query and decodes each of its rows into `T`, streaming them
    /// ([`Executor::for_each_row`]): no list of [`Row`]s is held.
    fn query_as<'a, T: FromRow + Send + 'a>(
        &'a self,
        sql: &'a str,
        params: &'a [Value],
    ) -> impl Future<Output = Result<Vec<T>>> + Send + 'a {
        async move {
            let mut decoded = Vec::new();
            let mut each = |row: Row| {
                decoded.push(row.decode()?);
                Ok(())
            };
            self.for_each_row(sql, params, &mut each).await?;
            Ok(decoded)
        }
    }
}

impl<E: Executor + ?Sized> ExecutorExt for E {}

/// The one row of a result that must have exactly one: what
/// [`Executor::query_one`] returns for `rows` ([`Error::RowNotFound`] /
/// [`Error::TooManyRows`] otherwise). For drivers that override `query_one`.
pub fn single_row(rows: Vec<Row>) -> Result<Row> {
    let mut rows = rows.into_iter();
    match (rows.next(), rows.next()) {
        (Some(row), None) => Ok(row),
        (None, _) => Err(Error::RowNotFound),
        (Some(_), Some(_)) => Err(Error::TooManyRows),
    }
}

/// The row of a result that may have at most one: what [`Executor::query_opt`]
/// returns for `rows` ([`Error::TooManyRows`] for more). For drivers that override
/// `query_opt`.
pub fn optional_row(rows: Vec<Row>) -> Result<Option<Row>> {
    let mut rows = rows.into_iter();
    match (rows.next(), rows.next()) {
        (row, None) => Ok(row),
        (Some(_), Some(_)) | (None, Some(_)) => Err(Error::TooManyRows),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::ErrorKind;

    fn rows(n: i64) -> Vec<Row> {
        let columns: crate::Columns = Arc::from(vec!["id".to_owned()]);
        (0..n)
            .map(|i| Row::new(Arc::clone(&columns), vec![Value::Int(i)]))
            .collect()
    }

    #[test]
    fn single_row_wants_exactly_one() {
        let row = single_row(rows(1)).expect("one row");
        let id: i64 = row.get(0).expect("id");
        assert_eq!(id, 0);
        assert_eq!(
            single_row(rows(0)).expect_err("no row").kind(),
            ErrorKind::RowNotFound
        );
        assert_eq!(
            single_row(rows(2)).expect_err("two rows").kind(),
            ErrorKind::TooManyRows
        );
    }

    #[test]
    fn optional_row_wants_at_most_one() {
        assert!(optional_row(rows(0)).expect("no row").is_none());
        assert!(optional_row(rows(1)).expect("one row").is_some());
        assert_eq!(
            optional_row(rows(3)).expect_err("three rows").kind(),
            ErrorKind::TooManyRows
        );
    }
}
