//! [`Value`], the owned parameter and column value shared by all drivers, and
//! [`FromValue`] for typed reads.

use std::fmt;

use crate::row::{RowSource, column_error, column_via_value};

/// An owned SQL value: what you bind as a parameter and what a [`Row`](crate::Row) holds.
///
/// Build parameters with `From` (`Value::from(42)`, `Value::from("text")`,
/// `Value::from(None::<i64>)`) or with the [`params!`](crate::params) macro.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A 64-bit signed integer (every integer column type that fits).
    Int(i64),
    /// A double-precision float.
    Float(f64),
    /// Text.
    Text(String),
    /// Binary data.
    Bytes(Vec<u8>),
    /// A JSON document (`json`/`jsonb` in PostgreSQL, `JSON` in MySQL, text in SQLite).
    #[cfg(feature = "json")]
    Json(serde_json::Value),
    /// A UUID (native in PostgreSQL; text elsewhere).
    #[cfg(feature = "uuid")]
    Uuid(uuid::Uuid),
    /// A calendar date.
    #[cfg(feature = "chrono")]
    Date(chrono::NaiveDate),
    /// A time of day.
    #[cfg(feature = "chrono")]
    Time(chrono::NaiveTime),
    /// A date and time without time zone.
    #[cfg(feature = "chrono")]
    DateTime(chrono::NaiveDateTime),
    /// An instant in UTC (`timestamptz`).
    #[cfg(feature = "chrono")]
    Timestamp(chrono::DateTime<chrono::Utc>),
}

impl Value {
    /// A single-precision column value (PostgreSQL `real`, MySQL `FLOAT`) as a
    /// [`Value::Float`]: the `f64` nearest to the shortest decimal that identifies the
    /// `f32`, i.e. what SQL clients display. A stored `0.1` reads as `0.1`, not as the
    /// exact widening `0.10000000149011612`; NaN and the infinities pass unchanged.
    pub fn from_f32(f: f32) -> Value {
        let widened = if f.is_finite() {
            f.to_string().parse().unwrap_or(f64::from(f))
        } else {
            f64::from(f)
        };
        Value::Float(widened)
    }

    /// The name of this value's kind, used in decode errors (`integer`, `text`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Text(_) => "text",
            Value::Bytes(_) => "bytes",
            #[cfg(feature = "json")]
            Value::Json(_) => "json",
            #[cfg(feature = "uuid")]
            Value::Uuid(_) => "uuid",
            #[cfg(feature = "chrono")]
            Value::Date(_) => "date",
            #[cfg(feature = "chrono")]
            Value::Time(_) => "time",
            #[cfg(feature = "chrono")]
            Value::DateTime(_) => "datetime",
            #[cfg(feature = "chrono")]
            Value::Timestamp(_) => "timestamp",
        }
    }

    /// Whether this is [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The text, if this is [`Value::Text`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is [`Value::Int`].
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("Null"),
            Value::Bool(b) => write!(f, "Bool({b})"),
            Value::Int(i) => write!(f, "Int({i})"),
            Value::Float(x) => write!(f, "Float({x:?})"),
            Value::Text(s) => write!(f, "Text({s:?})"),
            Value::Bytes(b) if b.len() <= 32 => write!(f, "Bytes({b:02x?})"),
            Value::Bytes(b) => write!(f, "Bytes(<{} bytes>)", b.len()),
            #[cfg(feature = "json")]
            Value::Json(j) => write!(f, "Json({j})"),
            #[cfg(feature = "uuid")]
            Value::Uuid(u) => write!(f, "Uuid({u})"),
            #[cfg(feature = "chrono")]
            Value::Date(d) => write!(f, "Date({d})"),
            #[cfg(feature = "chrono")]
            Value::Time(t) => write!(f, "Time({t})"),
            #[cfg(feature = "chrono")]
            Value::DateTime(t) => write!(f, "DateTime({t})"),
            #[cfg(feature = "chrono")]
            Value::Timestamp(t) => write!(f, "Timestamp({t})"),
        }
    }
}

impl fmt::Display for Value {
    /// Renders the value as text: `NULL`, numbers as written, text as is, bytes as hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Text(s) => f.write_str(s),
            Value::Bytes(b) => {
                f.write_str("\\x")?;
                for byte in b {
                    write!(f, "{byte:02x}")?;
                }
                Ok(())
            }
            #[cfg(feature = "json")]
            Value::Json(j) => write!(f, "{j}"),
            #[cfg(feature = "uuid")]
            Value::Uuid(u) => write!(f, "{u}"),
            #[cfg(feature = "chrono")]
            Value::Date(d) => write!(f, "{d}"),
            #[cfg(feature = "chrono")]
            Value::Time(t) => write!(f, "{t}"),
            #[cfg(feature = "chrono")]
            Value::DateTime(t) => write!(f, "{t}"),
            #[cfg(feature = "chrono")]
            Value::Timestamp(t) => write!(f, "{}", t.to_rfc3339()),
        }
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self { Value::Int(i64::from(v)) }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value::Float(f64::from(v))
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Bytes(v)
    }
}
impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Value::Bytes(v.to_vec())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}
#[cfg(feature = "json")]
impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Self {
        Value::Json(v)
    }
}
#[cfg(feature = "uuid")]
impl From<uuid::Uuid> for Value {
    fn from(v: uuid::Uuid) -> Self {
        Value::Uuid(v)
    }
}
#[cfg(feature = "chrono")]
impl From<chrono::NaiveDate> for Value {
    fn from(v: chrono::NaiveDate) -> Self {
        Value::Date(v)
    }
}
#[cfg(feature = "chrono")]
impl From<chrono::NaiveTime> for Value {
    fn from(v: chrono::NaiveTime) -> Self {
        Value::Time(v)
    }
}
#[cfg(feature = "chrono")]
impl From<chrono::NaiveDateTime> for Value {
    fn from(v: chrono::NaiveDateTime) -> Self {
        Value::DateTime(v)
    }
}
#[cfg(feature = "chrono")]
impl From<chrono::DateTime<chrono::Utc>> for Value {
    fn from(v: chrono::DateTime<chrono::Utc>) -> Self {
        Value::Timestamp(v)
    }
}

/// Builds the parameters of one statement, `[Value; N]`, from expressions of any type
/// with `Into<Value>`: `&params![..]` is the `&[Value]` the statement methods take,
/// with nothing allocated for the list. Where a `Vec<Value>` is wanted (the rows of
/// `insert_many`, a list built up in steps), convert it: `Vec::from(params![..])`.
///
/// ```
/// use dbcore::{params, Value};
///
/// let name: Option<&str> = None;
/// let p = params![1, "alice", 2.5, name, true];
/// assert_eq!(p[0], Value::Int(1));
/// assert_eq!(p[3], Value::Null);
/// assert!(params![].is_empty());
/// let row: Vec<Value> = Vec::from(params![2, "bob"]);
/// assert_eq!(row.len(), 2);
/// ```
#[macro_export]
macro_rules! params {
    () => { [] as [$crate::Value; 0] };
    ($($v:expr),+ $(,)?) => { [$($crate::Value::from($v)),+] };
}

/// Why a [`Value`] could not be converted; [`Row::get`](crate::Row::get) adds the column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// The Rust type that was requested.
    pub expected: &'static str,
    /// What the value was.
    pub found: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot read {} as {}", self.found, self.expected)
    }
}

impl DecodeError {
    fn new(expected: &'static str, value: &Value) -> Self {
        DecodeError {
            expected,
            found: value.type_name().to_owned(),
        }
    }

    fn out_of_range(expected: &'static str, value: &Value) -> Self {
        DecodeError {
            expected,
            found: format!("{} {value} (out of range)", value.type_name()),
        }
    }
}

/// Conversion from a column [`Value`] into a Rust type.
///
/// Conversions are lossless across backends: integers 0/1 read as `bool` (SQLite and
/// MySQL have no boolean type), integers read as floats only when exactly
/// representable, and out-of-range integers are an error, never truncated.
pub trait FromValue: Sized {
    /// Converts `value`, or says why not.
    fn from_value(value: &Value) -> Result<Self, DecodeError>;

    /// Converts an owned value; override to avoid a copy.
    fn from_owned_value(value: Value) -> Result<Self, DecodeError> {
        Self::from_value(&value)
    }

    /// Reads column `index` of a driver's native row ([`FromRow::from_columns`]). The
    /// default reads the column's [`Value`] and converts it; `i64`, `f64`, `String`, the
    /// other integers and `Option`s of them first try the source's typed shortcut, which
    /// gives the same result without the intermediate value.
    ///
    /// [`FromRow::from_columns`]: crate::FromRow::from_columns
    fn from_column<S: RowSource + ?Sized>(source: &mut S, index: usize) -> crate::Result<Self> {
        column_via_value(source, index)
    }
}

impl FromValue for Value {
    fn from_value(value: &Value) -> Result<Self, DecodeError> {
        Ok(value.clone())
    }
    fn from_owned_value(value: Value) -> Result<Self, DecodeError> {
        Ok(value)
    }
}

impl FromValue for bool {
    fn from_value(value: &Value) -> Result<Self, DecodeError> {
        match value {
            Value::Bool(b) => Ok(*b),
            Value::Int(0) => Ok(false),
            Value::Int(1) => Ok(true),
            Value::Int(_) => Err(DecodeError::out_of_range("bool", value)),
            _ => Err(DecodeError::new("bool", value)),
        }
    }
}

impl FromValue for i64 {
    fn from_value(value: &Value) -> Result<Self, DecodeError> {
        match value {
            Value::Int(i) => Ok(*i),
            Value::Bool(b) => Ok(i64::from(*b)),
            _ => Err(DecodeError::new("i64", value)),
        }
    }
    fn from_column<S: RowSource + ?Sized>(source: &mut S, index: usize) -> crate::Result<Self> {
        match source.int(index) {
            Some(read) => read,
            None => column_via_value(source, index),
        }
    }
}

macro_rules! from_value_int {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(value: &Value) -> Result<Self, DecodeError> {
                let wide = i64::from_value(value).map_err(|_| DecodeError::new(stringify!($t), value))?;
                <$t>::try_from(wide).map_err(|_| DecodeError::out_of_range(stringify!($t), value))
            }
            fn from_column<S: RowSource + ?Sized>(source: &mut S, index: usize) -> crate::Result<Self> {
                match source.int(index) {
                    Some(Ok(wide)) => <$t>::try_from(wide).map_err(|_| {
                        let error = DecodeError::out_of_range(stringify!($t), &Value::Int(wide));
                        column_error(source, index, error)
                    }),
                    Some(Err(e)) => Err(e),
                    None => column_via_value(source, index),
                }
            }
        }
    )*};
}
from_value_int!(i8, i16, i32, u8, u16, u32, u64, usize, isize);

impl FromValue for f64 {
    fn from_value(value: &Value) -> Result<Self, DecodeError> {
        match value {
            Value::Float(x) => Ok(*x),
            // Exactly representable integers only (|i| <= 2^53).
            Value::Int(i) if i.unsigned_abs() <= (1u64 << 53) => Ok(*i as f64),
            Value::Int(_) => Err(DecodeError::out_of_range("f64", value)),
            _ => Err(DecodeError::new("f64", value)),
        }
    }
    fn from_column<S: RowSource + ?Sized>(source: &mut S, index: usize) -> crate::Result<Self> {
        match source.float(index) {
            Some(read) => read,
            None => column_via_value(source, index),
        }
    }
}

impl FromValue for f32 {
    fn from_value(value: &Value) -> Result<Self, DecodeError> {
        match value {
            Value::Float(x) => {
                let narrow = *x as f32;
                if x.is_finite() && !narrow.is_finite() {
                    Err(DecodeError::out_of_range("f32", value))
                } else {
                    Ok(narrow)
                }
            }
            Value::Int(i) if i.unsigned_abs() <= (1u64 << 24) => Ok(*i as f32),
            Value::Int(_) => Err(DecodeError::out_of_range("f32", value)),
            _ => Err(DecodeError::new("f32", value)),
        }
    }
}

impl FromValue for String {
    fn from_value(value: &Value) -> Result<Self, DecodeError> {
        match value {
            Value::Text(s) => Ok(s.clone()),
            _ => Err(DecodeError::new("String", value)),
        }
    }
    fn from_owned_value(value: Value) -> Result<Self, DecodeError> {
        match value {
            Value::Text(s) => Ok(s),
            other => Err(DecodeError::new("String", &other)),
        }
    }
    fn from_column<S: RowSource + ?Sized>(source: &mut S, index: usize) -> crate::Result<Self> {
        match source.text(index) {
            Some(read) => read,
            None => column_via_value(source, index),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: &Value) -> Result<Self, DecodeError> {
        match value {
            Value::Bytes(b) => Ok(b.clone()),
            _ => Err(DecodeError::new("Vec<u8>", value)),
        }
    }
    fn from_owned_value(value: Value) -> Result<Self, DecodeError> {
        match value {
            Value::Bytes(b) => Ok(b),
            other => Err(DecodeError::new("Vec<u8>", &other)),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Result<Self, DecodeError> {
        match value {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
    fn from_owned_value(value: Value) -> Result<Self, DecodeError> {
        match value {
            Value::Null => Ok(None),
            v => T::from_owned_value(v).map(Some),
        }
    }
    fn from_column<S: RowSource + ?Sized>(source: &mut S, index: usize) -> crate::Result<Self> {
        match source.is_null(index) {
            Some(true) => Ok(None),
            Some(false) => T::from_column(source, index).map(Some),
            None => column_via_value(source, index),
        }
    }
}

#[cfg(feature = "json")]
impl FromValue for serde_json::Value {
    fn from_value(value: &Value) -> Result<Self, DecodeError> {
        match value {
            Value::Json(j) => Ok(j.clone()),
            Value::Text(s) => serde_json::from_str(s).map_err(|e| DecodeError {
                expected: "serde_json::Value",
                found: format!("text that is not JSON ({e})"),
            }),
            _ => Err(DecodeError::new("serde_json::Value", value)),
        }
    }
}

#[cfg(feature = "uuid")]
impl FromValue for uuid::Uuid {
    fn from_value(value: &Value) -> Result<Self, DecodeError> {
        match value {
            Value::Uuid(u) => Ok(*u),
            Value::Text(s) => uuid::Uuid::parse_str(s).map_err(|_| DecodeError {
                expected: "Uuid",
                found: format!("text {s:?}"),
            }),
            // 16 raw bytes (BINARY(16)), or the text form stored in a binary column.
            Value::Bytes(b) => uuid::Uuid::from_slice(b)
                .or_else(|_| uuid::Uuid::try_parse_ascii(b))
                .map_err(|_| DecodeError {
                    expected: "Uuid",
                    found: format!("{} bytes that are not a UUID", b.len()),
                }),
            _ => Err(DecodeError::new("Uuid", value)),
        }
    }
}

#[cfg(feature = "chrono")]
mod chrono_impls {
    use super::{DecodeError, FromValue, Value};
    use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};

    fn parse_text<T>(
        expected: &'static str,
        s: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T, DecodeError> {
        parse(s).ok_or_else(|| DecodeError {
            expected,
            found: format!("text {s:?}"),
        })
    }

    impl FromValue for NaiveDate {
        fn from_value(value: &Value) -> Result<Self, DecodeError> {
            match value {
                Value::Date(d) => Ok(*d),
                Value::Text(s) => parse_text("NaiveDate", s, |s| {
                    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
                }),
                _ => Err(DecodeError::new("NaiveDate", value)),
            }
        }
    }

    impl FromValue for NaiveTime {
        fn from_value(value: &Value) -> Result<Self, DecodeError> {
            match value {
                Value::Time(t) => Ok(*t),
                Value::Text(s) => parse_text("NaiveTime", s, |s| {
                    NaiveTime::parse_from_str(s, "%H:%M:%S%.f").ok()
                }),
                _ => Err(DecodeError::new("NaiveTime", value)),
            }
        }
    }

    impl FromValue for NaiveDateTime {
        fn from_value(value: &Value) -> Result<Self, DecodeError> {
            match value {
                Value::DateTime(t) => Ok(*t),
                Value::Timestamp(t) => Ok(t.naive_utc()),
                // Text with a zone (what SQLite stores for a `Timestamp`) reads as its
                // UTC time, like `Value::Timestamp` does.
                Value::Text(s) => parse_text("NaiveDateTime", s, |s| {
                    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
                        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f"))
                        .ok()
                        .or_else(|| {
                            DateTime::parse_from_rfc3339(s)
                                .ok()
                                .map(|t| t.with_timezone(&Utc).naive_utc())
                        })
                }),
                _ => Err(DecodeError::new("NaiveDateTime", value)),
            }
        }
    }

    impl FromValue for DateTime<Utc> {
        fn from_value(value: &Value) -> Result<Self, DecodeError> {
            match value {
                Value::Timestamp(t) => Ok(*t),
                Value::Text(s) => parse_text("DateTime<Utc>", s, |s| {
                    DateTime::parse_from_rfc3339(s)
                        .ok()
                        .map(|t| t.with_timezone(&Utc))
                }),
                _ => Err(DecodeError::new("DateTime<Utc>", value)),
            }
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn single_precision_reads_as_its_shortest_decimal() {
        assert_eq!(Value::from_f32(0.1), Value::Float(0.1));
        assert_eq!(Value::from_f32(-3.25), Value::Float(-3.25));
        assert_eq!(Value::from_f32(16_777_217.0), Value::Float(16_777_216.0));
        assert_eq!(Value::from_f32(f32::MAX), Value::Float(3.402_823_5e38));
        assert_eq!(Value::from_f32(f32::INFINITY), Value::Float(f64::INFINITY));
        assert!(matches!(Value::from_f32(f32::NAN), Value::Float(f) if f.is_nan()));
    }

    use super::*;

    #[test]
    fn integers_coerce_losslessly() {
        assert_eq!(bool::from_value(&Value::Int(1)), Ok(true));
        assert_eq!(bool::from_value(&Value::Int(0)), Ok(false));
        assert!(bool::from_value(&Value::Int(2)).is_err());
        assert_eq!(i32::from_value(&Value::Int(7)), Ok(7));
        assert!(i8::from_value(&Value::Int(300)).is_err());
        assert!(u32::from_value(&Value::Int(-1)).is_err());
        assert_eq!(f64::from_value(&Value::Int(3)), Ok(3.0));
        assert!(f64::from_value(&Value::Int(i64::MAX)).is_err());
        assert!(String::from_value(&Value::Int(1)).is_err());
    }

    #[test]
    fn option_reads_null() {
        assert_eq!(Option::<i64>::from_value(&Value::Null), Ok(None));
        assert_eq!(Option::<i64>::from_value(&Value::Int(4)), Ok(Some(4)));
        assert!(i64::from_value(&Value::Null).is_err());
    }

    #[test]
    fn decode_error_names_both_types() {
        let err = i64::from_value(&Value::Text("x".into())).unwrap_err();
        assert_eq!(err.to_string(), "cannot read text as i64");
        let err = u8::from_value(&Value::Int(999)).unwrap_err();
        assert!(err.to_string().contains("out of range"), "{err}");
    }

    #[cfg(feature = "chrono")]
    #[test]
    fn zoned_text_reads_as_utc_naive_datetime() {
        let v = Value::Text("2024-01-02T13:05:09+02:00".into());
        let t = chrono::NaiveDateTime::from_value(&v).unwrap();
        assert_eq!(t.to_string(), "2024-01-02 11:05:09");
    }

    #[cfg(feature = "uuid")]
    #[test]
    fn uuid_from_text_bytes() {
        let text = "67e55044-10b1-426f-9247-bb680e5fe0c8";
        let u = uuid::Uuid::from_value(&Value::Bytes(text.as_bytes().to_vec())).unwrap();
        assert_eq!(u.to_string(), text);
        assert!(uuid::Uuid::from_value(&Value::Bytes(vec![1, 2, 3])).is_err());
    }

    #[test]
    fn params_macro_converts() {
        let p = params![1i32, "a", None::<i64>, vec![1u8, 2]];
        assert_eq!(
            p,
            [
                Value::Int(1),
                Value::Text("a".into()),
                Value::Null,
                Value::Bytes(vec![1, 2])
            ]
        );
        // A statement's parameter list, with nothing allocated for it.
        let list: &[Value] = &params![7];
        assert_eq!(list, [Value::Int(7)]);
        assert_eq!(params![].len(), 0);
    }
}
