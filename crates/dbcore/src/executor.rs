//! [`Executor`], the query surface shared by databases and transactions.

use async_trait::async_trait;

use crate::{DatabaseType, Error, Result, Row, Value};

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

    /// Runs one statement and returns the number of rows it affected.
    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64>;

    /// Runs one query and returns all of its rows.
    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>>;

    /// Runs one query that must return exactly one row
    /// ([`Error::RowNotFound`] / [`Error::TooManyRows`] otherwise).
    async fn query_one(&self, sql: &str, params: &[Value]) -> Result<Row> {
        let mut rows = self.query(sql, params).await?;
        match rows.len() {
            0 => Err(Error::RowNotFound),
            1 => Ok(rows.remove(0)),
            _ => Err(Error::TooManyRows),
        }
    }

    /// Runs one query that returns at most one row.
    async fn query_opt(&self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        let mut rows = self.query(sql, params).await?;
        match rows.len() {
            0 => Ok(None),
            1 => Ok(Some(rows.remove(0))),
            _ => Err(Error::TooManyRows),
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
    /// Every row must have one value per column. The rows are moved in, so large loads
    /// are not copied. Returns the number of rows inserted.
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
