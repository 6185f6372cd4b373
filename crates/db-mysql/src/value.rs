//! Conversions between [`dbcore::Value`] and MySQL values, driven by column metadata.
//!
//! | MySQL column | `Value` |
//! |---|---|
//! | TINYINT..BIGINT, YEAR | `Int` (TINYINT(1) / BOOLEAN too: `row.get::<bool>` reads 0/1) |
//! | BIGINT UNSIGNED | `Int` when it fits, else a decode error naming the column |
//! | BIT(1) | `Bool`; wider BIT(n) `Int` |
//! | FLOAT, DOUBLE | `Float` |
//! | DECIMAL | `Text` (exact digits, never rounded through a float) |
//! | CHAR, VARCHAR, TEXT, ENUM, SET | `Text` (UTF-8 checked) |
//! | BINARY, VARBINARY, BLOB, GEOMETRY | `Bytes` |
//! | JSON | `Json` with the `json` feature, else `Text` |
//! | DATE, DATETIME, TIMESTAMP, TIME | `Date` / `DateTime` / `Time` with the `chrono` feature and `parseTime: true`, else text |

use std::fmt::Write as _;

use dbcore::{Columns, Error, FromRow, Row, RowReader, RowSource, Value};
use mysql_async::Value as My;
use mysql_async::consts::{ColumnFlags, ColumnType};

/// The binary collation number: a string column with it holds bytes, not text.
const BINARY_CHARSET: u16 = 63;

/// Converts the caller's parameters into MySQL values in the order the `?` placeholders
/// need: `order` holds the caller's 0-based parameter index for each placeholder (checked
/// against `values` by the caller, `PreparedSql::check_params`).
pub(crate) fn to_params(
    values: &[Value],
    order: &[usize],
    zone: Option<i32>,
) -> Result<Vec<My>, Error> {
    order
        .iter()
        .map(|&pos| {
            let v = values
                .get(pos)
                .ok_or_else(|| Error::parameter(pos + 1, "missing parameter".to_owned()))?;
            to_mysql(v, zone).map_err(|m| Error::parameter(pos + 1, m))
        })
        .collect()
}

/// [`to_mysql`] for an owned value: text and bytes are moved.
pub(crate) fn into_mysql(value: Value, zone: Option<i32>) -> Result<My, String> {
    match value {
        Value::Text(s) => Ok(My::Bytes(s.into_bytes())),
        Value::Bytes(b) => Ok(My::Bytes(b)),
        other => to_mysql(&other, zone),
    }
}

/// One value as a MySQL parameter. `zone` is the session's UTC offset in minutes when it
/// is fixed (needed to bind `Value::Timestamp`).
pub(crate) fn to_mysql(value: &Value, zone: Option<i32>) -> Result<My, String> {
    let _ = zone;
    Ok(match value {
        Value::Null => My::NULL,
        Value::Bool(b) => My::Int(i64::from(*b)),
        Value::Int(i) => My::Int(*i),
        Value::Float(f) => My::Double(*f),
        Value::Text(s) => My::Bytes(s.as_bytes().to_vec()),
        Value::Bytes(b) => My::Bytes(b.clone()),
        #[cfg(feature = "json")]
        Value::Json(j) => My::Bytes(j.to_string().into_bytes()),
        #[cfg(feature = "uuid")]
        Value::Uuid(u) => My::Bytes(u.hyphenated().to_string().into_bytes()),
        #[cfg(feature = "chrono")]
        Value::Date(d) => chrono_support::date(d)?,
        #[cfg(feature = "chrono")]
        Value::Time(t) => chrono_support::time(t),
        #[cfg(feature = "chrono")]
        Value::DateTime(t) => chrono_support::datetime(t)?,
        #[cfg(feature = "chrono")]
        Value::Timestamp(t) => {
            let Some(minutes) = zone else {
                return Err(
                    "a Timestamp needs the session time zone (loc) to be UTC, Local or \
                            a fixed offset; with an IANA name bind a DateTime in that zone"
                        .into(),
                );
            };
            let in_session_zone =
                |m: String| format!("{m} (the Timestamp {t} in the session time zone)");
            let local = t
                .naive_utc()
                .checked_add_signed(chrono::Duration::minutes(i64::from(minutes)))
                .ok_or_else(|| in_session_zone(chrono_support::out_of_range(t)))?;
            chrono_support::datetime(&local).map_err(in_session_zone)?
        }
        #[allow(unreachable_patterns)]
        other => return Err(format!("{} values are not supported", other.type_name())),
    })
}

/// How a column's values are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    UInt,
    Float,
    Decimal,
    Text,
    Bytes,
    Bit { width: u32 },
    Json,
    Date,
    DateTime { decimals: u8 },
    Time { decimals: u8 },
}

impl Kind {
    fn of(column: &mysql_async::Column) -> Kind {
        use ColumnType::*;
        let binary = column.character_set() == BINARY_CHARSET;
        let unsigned = column.flags().contains(ColumnFlags::UNSIGNED_FLAG);
        match column.column_type() {
            MYSQL_TYPE_LONGLONG if unsigned => Kind::UInt,
            MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_LONG | MYSQL_TYPE_INT24
            | MYSQL_TYPE_LONGLONG | MYSQL_TYPE_YEAR => Kind::Int,
            MYSQL_TYPE_FLOAT | MYSQL_TYPE_DOUBLE => Kind::Float,
            MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => Kind::Decimal,
            MYSQL_TYPE_BIT => Kind::Bit {
                width: column.column_length(),
            },
            MYSQL_TYPE_JSON => Kind::Json,
            MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => Kind::Date,
            MYSQL_TYPE_DATETIME
            | MYSQL_TYPE_DATETIME2
            | MYSQL_TYPE_TIMESTAMP
            | MYSQL_TYPE_TIMESTAMP2 => Kind::DateTime {
                decimals: column.decimals(),
            },
            MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => Kind::Time {
                decimals: column.decimals(),
            },
            MYSQL_TYPE_GEOMETRY => Kind::Bytes,
            _ if binary => Kind::Bytes,
            _ => Kind::Text,
        }
    }

    fn sql_name(self) -> &'static str {
        match self {
            Kind::Int => "integer",
            Kind::UInt => "BIGINT UNSIGNED",
            Kind::Float => "FLOAT/DOUBLE",
            Kind::Decimal => "DECIMAL",
            Kind::Text => "text",
            Kind::Bytes => "binary",
            Kind::Bit { .. } => "BIT",
            Kind::Json => "JSON",
            Kind::Date => "DATE",
            Kind::DateTime { .. } => "DATETIME/TIMESTAMP",
            Kind::Time { .. } => "TIME",
        }
    }
}

/// Reads the rows of one result set: column names shared by every row, a kind per column.
#[derive(Debug)]
pub(crate) struct Decoder {
    names: Columns,
    kinds: Vec<Kind>,
    parse_time: bool,
}

impl Decoder {
    pub(crate) fn new(columns: &[mysql_async::Column], parse_time: bool) -> Self {
        let names: Vec<String> = columns.iter().map(|c| c.name_str().into_owned()).collect();
        Decoder {
            names: names.into(),
            kinds: columns.iter().map(Kind::of).collect(),
            parse_time,
        }
    }

    /// The `parseTime` it decodes dates with.
    pub(crate) fn parse_time(&self) -> bool {
        self.parse_time
    }

    /// Whether this decoder reads results with exactly these columns (names and kinds).
    pub(crate) fn matches(&self, columns: &[mysql_async::Column]) -> bool {
        columns.len() == self.kinds.len()
            && columns
                .iter()
                .zip(self.names.iter().zip(&self.kinds))
                .all(|(c, (name, kind))| c.name_ref() == name.as_bytes() && Kind::of(c) == *kind)
    }

    /// Converts one native row.
    pub(crate) fn row(&self, row: mysql_async::Row) -> Result<Row, Error> {
        let raw = row.unwrap();
        let mut values = Vec::with_capacity(raw.len());
        for (i, v) in raw.into_iter().enumerate() {
            let kind = self.kind(i);
            values.push(
                self.value(v, kind)
                    .map_err(|message| self.column_error(i, kind, message))?,
            );
        }
        Ok(Row::new(self.names.clone(), values))
    }

    /// Decodes one native row straight into `T` ([`FromRow::from_columns`]), without a
    /// [`Row`]: integers, doubles and text are read without a [`Value`] (see
    /// [`NativeRow`]).
    pub(crate) fn decode<T: FromRow>(&self, row: mysql_async::Row) -> Result<T, Error> {
        T::from_columns(&mut NativeRow {
            decoder: self,
            values: row.unwrap(),
        })
    }

    /// Hands one native row to a caller's reader as a [`NativeRow`]
    /// ([`Executor::query_opt_with`](dbcore::Executor::query_opt_with)).
    pub(crate) fn read(
        &self,
        row: mysql_async::Row,
        read: &mut RowReader<'_>,
    ) -> Result<(), Error> {
        read(&mut NativeRow {
            decoder: self,
            values: row.unwrap(),
        })
    }

    /// The kind of column `index`.
    fn kind(&self, index: usize) -> Kind {
        self.kinds.get(index).copied().unwrap_or(Kind::Bytes)
    }

    /// The name of column `index` (`#index` past the known columns).
    fn name(&self, index: usize) -> std::borrow::Cow<'_, str> {
        match self.names.get(index) {
            Some(name) => name.as_str().into(),
            None => format!("#{index}").into(),
        }
    }

    /// The error of column `index` that could not be read.
    fn column_error(&self, index: usize, kind: Kind, message: String) -> Error {
        Error::Decode {
            column: self.name(index).into_owned(),
            message: format!("{} column: {message}", kind.sql_name()),
        }
    }

    fn value(&self, v: My, kind: Kind) -> Result<Value, String> {
        Ok(match v {
            My::NULL => Value::Null,
            My::Int(i) => Value::Int(i),
            My::UInt(u) => Value::Int(unsigned(u)?),
            // Through the shortest decimal form, so FLOAT 0.1 reads as 0.1, not 0.100000001.
            My::Float(f) => Value::from_f32(f),
            My::Double(d) => Value::Float(d),
            My::Bytes(b) => self.bytes(b, kind)?,
            My::Date(y, mo, d, h, mi, s, us) => {
                self.date(kind, [y, mo.into(), d.into()], [h, mi, s], us)
            }
            My::Time(neg, days, h, mi, s, us) => self.time(kind, neg, days, [h, mi, s], us),
        })
    }

    /// A value that arrived as bytes: every string-like column, DECIMAL, BIT, JSON, and
    /// every column of a text-protocol result.
    fn bytes(&self, b: Vec<u8>, kind: Kind) -> Result<Value, String> {
        Ok(match kind {
            Kind::Bytes => Value::Bytes(b),
            Kind::Text | Kind::Decimal => Value::Text(utf8(b)?),
            Kind::Int => {
                let s = utf8(b)?;
                Value::Int(
                    s.parse()
                        .map_err(|_| format!("cannot read {s:?} as an integer (i64)"))?,
                )
            }
            Kind::UInt => {
                let s = utf8(b)?;
                let u: u64 = s
                    .parse()
                    .map_err(|_| format!("cannot read {s:?} as BIGINT UNSIGNED"))?;
                Value::Int(unsigned(u)?)
            }
            Kind::Float => {
                let s = utf8(b)?;
                Value::Float(
                    s.parse()
                        .map_err(|_| format!("cannot read {s:?} as a float (f64)"))?,
                )
            }
            Kind::Bit { width } => {
                if b.len() > 8 {
                    return Err(format!(
                        "BIT value of {} bytes does not fit in i64",
                        b.len()
                    ));
                }
                let n = b
                    .iter()
                    .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte));
                if width == 1 {
                    Value::Bool(n != 0)
                } else {
                    Value::Int(unsigned(n)?)
                }
            }
            Kind::Json => json(b)?,
            Kind::Date | Kind::DateTime { .. } | Kind::Time { .. } => {
                let s = utf8(b)?;
                self.temporal_text(kind, s)
            }
        })
    }

    #[cfg_attr(not(feature = "chrono"), allow(clippy::unused_self))]
    fn date(&self, kind: Kind, ymd: [u16; 3], hms: [u8; 3], micros: u32) -> Value {
        #[cfg(feature = "chrono")]
        if self.parse_time
            && let Some(v) = chrono_support::read_date(kind, ymd, hms, micros)
        {
            return v;
        }
        Value::Text(format_date(kind, ymd, hms, micros))
    }

    #[cfg_attr(not(feature = "chrono"), allow(clippy::unused_self))]
    fn time(&self, kind: Kind, negative: bool, days: u32, hms: [u8; 3], micros: u32) -> Value {
        #[cfg(feature = "chrono")]
        if self.parse_time
            && !negative
            && days == 0
            && let Some(t) = chrono::NaiveTime::from_hms_micro_opt(
                hms[0].into(),
                hms[1].into(),
                hms[2].into(),
                micros,
            )
        {
            return Value::Time(t);
        }
        let decimals = match kind {
            Kind::Time { decimals } => decimals,
            _ => 0,
        };
        let mut s = String::new();
        if negative {
            s.push('-');
        }
        let hours = u64::from(days) * 24 + u64::from(hms[0]);
        let _ = write!(s, "{hours:02}:{:02}:{:02}", hms[1], hms[2]);
        push_fraction(&mut s, micros, decimals);
        Value::Text(s)
    }

    /// A date/time column read through the text protocol.
    fn temporal_text(&self, kind: Kind, s: String) -> Value {
        #[cfg(feature = "chrono")]
        if self.parse_time
            && let Some(v) = chrono_support::parse_text(kind, &s)
        {
            return v;
        }
        let _ = kind;
        Value::Text(s)
    }
}

/// One native row of a result, read column by column into a typed result
/// ([`FromRow::from_columns`]). The shortcuts give what [`Decoder::value`] gives:
/// `Int` values are integers and `Double` values floats whatever the column, and text
/// columns' bytes are the text (checked UTF-8, with the same error); every other value
/// goes through its [`Value`].
pub(crate) struct NativeRow<'d> {
    decoder: &'d Decoder,
    values: Vec<My>,
}

impl NativeRow<'_> {
    /// Takes column `index`'s value out of the row (each is read once).
    fn take(&mut self, index: usize) -> My {
        self.values
            .get_mut(index)
            .map_or(My::NULL, |v| std::mem::replace(v, My::NULL))
    }
}

impl RowSource for NativeRow<'_> {
    fn len(&self) -> usize {
        self.values.len()
    }

    fn name(&self, index: usize) -> &str {
        self.decoder.names.get(index).map_or("", String::as_str)
    }

    fn value(&mut self, index: usize) -> Result<Value, Error> {
        let kind = self.decoder.kind(index);
        let v = self.take(index);
        self.decoder
            .value(v, kind)
            .map_err(|message| self.decoder.column_error(index, kind, message))
    }

    fn int(&mut self, index: usize) -> Option<Result<i64, Error>> {
        match self.values.get(index)? {
            My::Int(i) => Some(Ok(*i)),
            _ => None,
        }
    }

    fn float(&mut self, index: usize) -> Option<Result<f64, Error>> {
        match self.values.get(index)? {
            My::Double(d) => Some(Ok(*d)),
            _ => None,
        }
    }

    fn text(&mut self, index: usize) -> Option<Result<String, Error>> {
        let kind = self.decoder.kind(index);
        if !matches!(kind, Kind::Text | Kind::Decimal)
            || !matches!(self.values.get(index)?, My::Bytes(_))
        {
            return None;
        }
        let My::Bytes(b) = self.take(index) else {
            return None;
        };
        Some(utf8(b).map_err(|message| self.decoder.column_error(index, kind, message)))
    }

    fn is_null(&mut self, index: usize) -> Option<bool> {
        self.values.get(index).map(|v| matches!(v, My::NULL))
    }
}

fn unsigned(u: u64) -> Result<i64, String> {
    i64::try_from(u).map_err(|_| {
        format!(
            "BIGINT UNSIGNED value {u} does not fit in a signed 64-bit integer (Value::Int, i64); \
             CAST it to CHAR or DECIMAL in the query to read it as text"
        )
    })
}

fn utf8(b: Vec<u8>) -> Result<String, String> {
    String::from_utf8(b).map_err(|e| {
        format!(
            "text is not valid UTF-8 ({}); read the column as bytes with CAST(... AS BINARY)",
            e.utf8_error()
        )
    })
}

#[cfg(feature = "json")]
fn json(b: Vec<u8>) -> Result<Value, String> {
    serde_json::from_slice(&b)
        .map(Value::Json)
        .map_err(|e| format!("JSON column holds invalid JSON: {e}"))
}

#[cfg(not(feature = "json"))]
fn json(b: Vec<u8>) -> Result<Value, String> {
    utf8(b).map(Value::Text)
}

fn push_fraction(s: &mut String, micros: u32, decimals: u8) {
    let digits = usize::from(decimals.min(6));
    if digits > 0 {
        let all = format!("{micros:06}");
        s.push('.');
        s.push_str(&all[..digits]);
    } else if micros != 0 && decimals == 0 {
        // Computed values without column metadata: keep what the server sent.
        let _ = write!(s, ".{micros:06}");
    }
}

/// `YYYY-MM-DD` for DATE, `YYYY-MM-DD HH:MM:SS[.ffffff]` for DATETIME / TIMESTAMP.
fn format_date(kind: Kind, ymd: [u16; 3], hms: [u8; 3], micros: u32) -> String {
    let mut s = format!("{:04}-{:02}-{:02}", ymd[0], ymd[1], ymd[2]);
    if kind != Kind::Date {
        let _ = write!(s, " {:02}:{:02}:{:02}", hms[0], hms[1], hms[2]);
        let decimals = match kind {
            Kind::DateTime { decimals } => decimals,
            _ => 0,
        };
        push_fraction(&mut s, micros, decimals);
    }
    s
}

#[cfg(feature = "chrono")]
mod chrono_support {
    use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
    use dbcore::Value;
    use mysql_async::Value as My;

    use super::Kind;

    fn narrow(n: u32) -> u8 {
        u8::try_from(n).unwrap_or(u8::MAX)
    }

    /// The years a date can be bound with: MariaDB stores DATE / DATETIME from 0000 to
    /// 9999 (MySQL documents 1000 to 9999). The protocol could carry years up to 65535,
    /// but the server turned 10000 into `0000-00-00` without an error.
    const YEARS: std::ops::RangeInclusive<i32> = 0..=9999;

    pub(super) fn out_of_range(value: &dyn std::fmt::Display) -> String {
        format!(
            "date {value} is outside the years MySQL / MariaDB can store (0000 to 9999; \
             MySQL's DATE starts at 1000)"
        )
    }

    /// The year of `value`, refused rather than changed when the server cannot store it.
    fn year(year: i32, value: &dyn std::fmt::Display) -> Result<u16, String> {
        if YEARS.contains(&year) {
            u16::try_from(year).map_err(|_| out_of_range(value))
        } else {
            Err(out_of_range(value))
        }
    }

    pub(super) fn date(d: &NaiveDate) -> Result<My, String> {
        Ok(My::Date(
            year(d.year(), d)?,
            narrow(d.month()),
            narrow(d.day()),
            0,
            0,
            0,
            0,
        ))
    }

    pub(super) fn time(t: &NaiveTime) -> My {
        My::Time(
            false,
            0,
            narrow(t.hour()),
            narrow(t.minute()),
            narrow(t.second()),
            t.nanosecond() / 1000,
        )
    }

    pub(super) fn datetime(t: &NaiveDateTime) -> Result<My, String> {
        Ok(My::Date(
            year(t.year(), t)?,
            narrow(t.month()),
            narrow(t.day()),
            narrow(t.hour()),
            narrow(t.minute()),
            narrow(t.second()),
            t.nanosecond() / 1000,
        ))
    }

    /// `None` for values chrono cannot hold (zero dates `0000-00-00`): read as text.
    pub(super) fn read_date(kind: Kind, ymd: [u16; 3], hms: [u8; 3], micros: u32) -> Option<Value> {
        let date = NaiveDate::from_ymd_opt(i32::from(ymd[0]), ymd[1].into(), ymd[2].into())?;
        if kind == Kind::Date {
            return Some(Value::Date(date));
        }
        let time =
            NaiveTime::from_hms_micro_opt(hms[0].into(), hms[1].into(), hms[2].into(), micros)?;
        Some(Value::DateTime(date.and_time(time)))
    }

    pub(super) fn parse_text(kind: Kind, s: &str) -> Option<Value> {
        match kind {
            Kind::Date => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .map(Value::Date),
            Kind::DateTime { .. } => NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .map(Value::DateTime),
            Kind::Time { .. } => NaiveTime::parse_from_str(s, "%H:%M:%S%.f")
                .ok()
                .map(Value::Time),
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic on failure
mod tests {
    use super::*;

    fn decoder(parse_time: bool) -> Decoder {
        Decoder {
            names: vec!["c".to_owned()].into(),
            kinds: vec![Kind::Text],
            parse_time,
        }
    }

    #[test]
    fn unsigned_overflow_names_both_types() {
        let d = decoder(true);
        assert_eq!(d.value(My::UInt(5), Kind::UInt).unwrap(), Value::Int(5));
        let msg = d.value(My::UInt(u64::MAX), Kind::UInt).unwrap_err();
        assert!(
            msg.contains("BIGINT UNSIGNED value 18446744073709551615"),
            "{msg}"
        );
        assert!(msg.contains("i64"), "{msg}");
        let msg = d
            .value(My::Bytes(b"18446744073709551615".to_vec()), Kind::UInt)
            .unwrap_err();
        assert!(msg.contains("does not fit"), "{msg}");
    }

    #[test]
    fn bytes_by_kind() {
        let d = decoder(false);
        assert_eq!(
            d.value(My::Bytes(b"12.50".to_vec()), Kind::Decimal)
                .unwrap(),
            Value::Text("12.50".into())
        );
        assert_eq!(
            d.value(My::Bytes(vec![1]), Kind::Bit { width: 1 }).unwrap(),
            Value::Bool(true)
        );
        assert_eq!(
            d.value(My::Bytes(vec![1, 2]), Kind::Bit { width: 16 })
                .unwrap(),
            Value::Int(258)
        );
        assert_eq!(
            d.value(My::Bytes(vec![0xff]), Kind::Bytes).unwrap(),
            Value::Bytes(vec![0xff])
        );
        assert!(
            d.value(My::Bytes(vec![0xff]), Kind::Text)
                .unwrap_err()
                .contains("UTF-8")
        );
        assert_eq!(
            d.value(My::Bytes(b"-42".to_vec()), Kind::Int).unwrap(),
            Value::Int(-42)
        );
        assert_eq!(
            d.value(My::Float(0.1), Kind::Float).unwrap(),
            Value::Float(0.1)
        );
    }

    #[test]
    fn dates_as_text_without_parse_time() {
        let d = decoder(false);
        assert_eq!(
            d.value(My::Date(2024, 2, 29, 0, 0, 0, 0), Kind::Date)
                .unwrap(),
            Value::Text("2024-02-29".into())
        );
        assert_eq!(
            d.value(
                My::Date(2024, 2, 29, 13, 5, 9, 120_000),
                Kind::DateTime { decimals: 3 }
            )
            .unwrap(),
            Value::Text("2024-02-29 13:05:09.120".into())
        );
        assert_eq!(
            d.value(
                My::Date(2024, 2, 29, 13, 5, 9, 0),
                Kind::DateTime { decimals: 0 }
            )
            .unwrap(),
            Value::Text("2024-02-29 13:05:09".into())
        );
        assert_eq!(
            d.value(My::Time(true, 1, 2, 3, 4, 0), Kind::Time { decimals: 0 })
                .unwrap(),
            Value::Text("-26:03:04".into())
        );
    }

    #[cfg(feature = "chrono")]
    #[test]
    fn dates_with_parse_time() {
        let d = decoder(true);
        let v = d
            .value(
                My::Date(2024, 2, 29, 13, 5, 9, 5),
                Kind::DateTime { decimals: 6 },
            )
            .unwrap();
        assert_eq!(v.to_string(), "2024-02-29 13:05:09.000005");
        // A zero date cannot be a chrono value: it stays text.
        assert_eq!(
            d.value(
                My::Date(0, 0, 0, 0, 0, 0, 0),
                Kind::DateTime { decimals: 0 }
            )
            .unwrap(),
            Value::Text("0000-00-00 00:00:00".into())
        );
        assert!(matches!(
            d.value(My::Bytes(b"2024-01-02".to_vec()), Kind::Date)
                .unwrap(),
            Value::Date(_)
        ));
    }

    #[cfg(feature = "chrono")]
    #[test]
    fn dates_outside_years_0_to_9999_are_refused() {
        let date = |y| Value::Date(chrono::NaiveDate::from_ymd_opt(y, 1, 2).unwrap());
        assert_eq!(
            to_mysql(&date(0), None).unwrap(),
            My::Date(0, 1, 2, 0, 0, 0, 0)
        );
        assert_eq!(
            to_mysql(&date(9999), None).unwrap(),
            My::Date(9999, 1, 2, 0, 0, 0, 0)
        );
        for y in [-1, 10_000, 65_536] {
            let err = to_params(&[Value::Null, Value::Null, date(y)], &[2], None).unwrap_err();
            assert_eq!(err.kind(), dbcore::ErrorKind::Parameter);
            let msg = err.to_string();
            assert!(msg.contains("$3"), "{msg}");
            assert!(msg.contains("0000 to 9999"), "{msg}");
        }
        let late = chrono::NaiveDate::from_ymd_opt(9999, 12, 31)
            .unwrap()
            .and_hms_opt(23, 30, 0)
            .unwrap();
        assert!(to_mysql(&Value::DateTime(late), Some(0)).is_ok());
        // +01:00 moves the instant into year 10000.
        let msg = to_mysql(&Value::Timestamp(late.and_utc()), Some(60)).unwrap_err();
        assert!(msg.contains("+10000-01-01 00:30:00"), "{msg}");
        assert!(msg.contains("session time zone"), "{msg}");
        // chrono's last instant plus an offset overflows chrono itself: refused too.
        let msg = to_mysql(
            &Value::Timestamp(chrono::DateTime::<chrono::Utc>::MAX_UTC),
            Some(60),
        )
        .unwrap_err();
        assert!(msg.contains("0000 to 9999"), "{msg}");
    }

    #[test]
    fn params_convert() {
        let p = to_params(&[Value::Text("x".into()), Value::Bool(true)], &[1, 0], None).unwrap();
        assert_eq!(p, vec![My::Int(1), My::Bytes(b"x".to_vec())]);
        let owned: Vec<My> = [Value::Bool(true), Value::Text("x".into())]
            .into_iter()
            .map(|v| into_mysql(v, None).unwrap())
            .collect();
        assert_eq!(owned, p);
    }
}
