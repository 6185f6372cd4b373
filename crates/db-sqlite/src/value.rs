//! Conversions between [`dbcore::Value`] and SQLite values.

use dbcore::{Error, RowSource, Value};
use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};

use crate::error::map_error;

/// A borrowed [`Value`] bound as a SQLite parameter.
pub(crate) struct Param<'a>(pub(crate) &'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Bool(b) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*b))),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Float(f) => ToSqlOutput::Borrowed(ValueRef::Real(*f)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            #[cfg(feature = "json")]
            Value::Json(j) => ToSqlOutput::Owned(rusqlite::types::Value::Text(j.to_string())),
            #[cfg(feature = "uuid")]
            Value::Uuid(u) => {
                ToSqlOutput::Owned(rusqlite::types::Value::Text(u.hyphenated().to_string()))
            }
            #[cfg(feature = "chrono")]
            Value::Date(d) => text(d.format("%Y-%m-%d").to_string()),
            #[cfg(feature = "chrono")]
            Value::Time(t) => text(t.format("%H:%M:%S%.f").to_string()),
            #[cfg(feature = "chrono")]
            Value::DateTime(t) => text(t.format("%Y-%m-%d %H:%M:%S%.f").to_string()),
            #[cfg(feature = "chrono")]
            Value::Timestamp(t) => text(t.to_rfc3339()),
            #[allow(unreachable_patterns)]
            other => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    format!("{} values are not supported by SQLite", other.type_name()).into(),
                ));
            }
        })
    }
}

#[cfg(feature = "chrono")]
fn text(s: String) -> ToSqlOutput<'static> {
    ToSqlOutput::Owned(rusqlite::types::Value::Text(s))
}

/// Reads a column value. Text that is not UTF-8 is an error naming the column.
pub(crate) fn read_value(v: ValueRef<'_>, column: &str) -> Result<Value, Error> {
    Ok(match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Float(f),
        ValueRef::Text(t) => Value::Text(read_text(t, column)?),
        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
    })
}

/// A text column's value, which must be UTF-8.
fn read_text(t: &[u8], column: &str) -> Result<String, Error> {
    match std::str::from_utf8(t) {
        Ok(s) => Ok(s.to_owned()),
        Err(e) => Err(Error::Decode {
            column: column.to_owned(),
            message: format!(
                "text is not valid UTF-8 ({e}); read it as bytes with CAST(... AS BLOB)"
            ),
        }),
    }
}

/// A native row read column by column into a typed result
/// ([`dbcore::FromRow::from_columns`]): integers, reals and text are read straight into
/// `i64`, `f64` and `String` with the conversions (and errors) of [`read_value`]; every
/// other column goes through its [`Value`].
pub(crate) struct NativeRow<'r, 's>(pub(crate) &'r rusqlite::Row<'s>);

impl RowSource for NativeRow<'_, '_> {
    fn len(&self) -> usize {
        self.0.as_ref().column_count()
    }

    fn name(&self, index: usize) -> &str {
        self.0.as_ref().column_name(index).unwrap_or("")
    }

    fn value(&mut self, index: usize) -> Result<Value, Error> {
        let v = self.0.get_ref(index).map_err(map_error)?;
        read_value(v, self.name(index))
    }

    fn int(&mut self, index: usize) -> Option<Result<i64, Error>> {
        match self.0.get_ref(index) {
            Ok(ValueRef::Integer(i)) => Some(Ok(i)),
            _ => None,
        }
    }

    fn float(&mut self, index: usize) -> Option<Result<f64, Error>> {
        match self.0.get_ref(index) {
            Ok(ValueRef::Real(f)) => Some(Ok(f)),
            _ => None,
        }
    }

    fn text(&mut self, index: usize) -> Option<Result<String, Error>> {
        match self.0.get_ref(index) {
            Ok(ValueRef::Text(t)) => Some(read_text(t, self.name(index))),
            _ => None,
        }
    }

    fn is_null(&mut self, index: usize) -> Option<bool> {
        self.0
            .get_ref(index)
            .ok()
            .map(|v| matches!(v, ValueRef::Null))
    }
}
