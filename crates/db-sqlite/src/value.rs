//! Conversions between [`dbcore::Value`] and SQLite values.

use dbcore::{Error, Value};
use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};

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
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => Value::Text(s.to_owned()),
            Err(e) => {
                return Err(Error::Decode {
                    column: column.to_owned(),
                    message: format!(
                        "text is not valid UTF-8 ({e}); read it as bytes with CAST(... AS BLOB)"
                    ),
                });
            }
        },
        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
    })
}
