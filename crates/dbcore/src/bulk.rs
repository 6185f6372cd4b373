//! Helpers for bulk inserts: identifier quoting and multi-row `INSERT` planning.

use crate::{DatabaseType, Error, Result, Value};

/// The maximum number of bind parameters one statement may carry on `db_type`.
pub fn max_bind_params(db_type: DatabaseType) -> usize {
    match db_type {
        DatabaseType::Postgres | DatabaseType::Mysql => 65_535,
        // SQLITE_MAX_VARIABLE_NUMBER of the bundled SQLite (>= 3.32).
        _ => 32_766,
    }
}

/// Quotes an identifier for `db_type`. A dotted name (`schema.table`) is quoted part by
/// part. Empty parts and NUL characters are rejected.
///
/// ```
/// use dbcore::{quote_identifier, DatabaseType};
/// assert_eq!(quote_identifier(DatabaseType::Postgres, "app.user").unwrap(), r#""app"."user""#);
/// assert_eq!(quote_identifier(DatabaseType::Mysql, "we`ird").unwrap(), "`we``ird`");
/// ```
pub fn quote_identifier(db_type: DatabaseType, name: &str) -> Result<String> {
    let q = match db_type {
        DatabaseType::Mysql => '`',
        _ => '"',
    };
    let mut out = String::with_capacity(name.len() + 4);
    for (i, part) in name.split('.').enumerate() {
        if part.is_empty() || part.contains('\0') {
            return Err(Error::Sql(format!(
                "invalid identifier {name:?}: parts must be non-empty and contain no NUL"
            )));
        }
        if i > 0 {
            out.push('.');
        }
        out.push(q);
        for c in part.chars() {
            if c == q {
                out.push(q);
            }
            out.push(c);
        }
        out.push(q);
    }
    Ok(out)
}

/// A bulk insert split into statements that each stay under the parameter limit.
#[derive(Debug)]
pub struct InsertPlan<'a> {
    head: String,
    width: usize,
    rows: &'a [Vec<Value>],
    rows_per_statement: usize,
}

impl<'a> InsertPlan<'a> {
    /// Checks the input (at least one column, every row as wide as `columns`) and plans
    /// the statements.
    pub fn new(
        db_type: DatabaseType,
        table: &str,
        columns: &[&str],
        rows: &'a [Vec<Value>],
    ) -> Result<Self> {
        if columns.is_empty() {
            return Err(Error::Parameter {
                position: "columns".into(),
                message: "insert_many needs at least one column".into(),
            });
        }
        if let Some((i, row)) = rows
            .iter()
            .enumerate()
            .find(|(_, r)| r.len() != columns.len())
        {
            return Err(Error::Parameter {
                position: format!("row {i}"),
                message: format!(
                    "has {} value(s) but {} column(s) were named",
                    row.len(),
                    columns.len()
                ),
            });
        }
        let quoted: Vec<String> = columns
            .iter()
            .map(|c| quote_identifier(db_type, c))
            .collect::<Result<_>>()?;
        let head = format!(
            "INSERT INTO {} ({}) VALUES ",
            quote_identifier(db_type, table)?,
            quoted.join(", ")
        );
        let rows_per_statement = (max_bind_params(db_type) / columns.len()).clamp(1, 1000);
        Ok(InsertPlan {
            head,
            width: columns.len(),
            rows,
            rows_per_statement,
        })
    }

    /// The `INSERT ... VALUES` head shared by every statement.
    pub fn head(&self) -> &str {
        &self.head
    }

    /// The SQL for a statement of `n` rows, with `$N` placeholders.
    pub fn sql_for(&self, n: usize) -> String {
        let mut sql = String::with_capacity(self.head.len() + n * self.width * 6);
        sql.push_str(&self.head);
        let mut p = 1;
        for r in 0..n {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for c in 0..self.width {
                if c > 0 {
                    sql.push_str(", ");
                }
                sql.push('$');
                sql.push_str(&p.to_string());
                p += 1;
            }
            sql.push(')');
        }
        sql
    }

    /// The statements: SQL text and the rows it inserts.
    pub fn statements(&self) -> impl Iterator<Item = (String, &'a [Vec<Value>])> + '_ {
        self.rows
            .chunks(self.rows_per_statement)
            .map(|chunk| (self.sql_for(chunk.len()), chunk))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_chunks_under_limit() {
        let rows: Vec<Vec<Value>> = (0..2500)
            .map(|i| vec![Value::Int(i), Value::Null])
            .collect();
        let plan = InsertPlan::new(DatabaseType::Sqlite, "t", &["a", "b"], &rows).unwrap();
        let stmts: Vec<_> = plan.statements().collect();
        assert_eq!(stmts.len(), 3);
        assert!(
            stmts[0]
                .0
                .starts_with(r#"INSERT INTO "t" ("a", "b") VALUES ($1, $2), ($3, $4)"#)
        );
        assert_eq!(stmts.iter().map(|s| s.1.len()).sum::<usize>(), 2500);
    }

    #[test]
    fn ragged_rows_are_rejected() {
        let rows = vec![vec![Value::Int(1)], vec![]];
        let err = InsertPlan::new(DatabaseType::Sqlite, "t", &["a"], &rows).unwrap_err();
        assert!(err.to_string().contains("row 1"), "{err}");
    }

    #[test]
    fn quoting_escapes() {
        assert_eq!(
            quote_identifier(DatabaseType::Sqlite, "a\"b").unwrap(),
            "\"a\"\"b\""
        );
        assert!(quote_identifier(DatabaseType::Sqlite, "a..b").is_err());
    }
}
