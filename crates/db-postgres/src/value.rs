//! Conversions between [`dbcore::Value`] and PostgreSQL types.
//!
//! Parameters are bound to the types the server inferred for the prepared statement:
//! a `Value::Int` bound to an `int4` parameter is range-checked and sent as `int4`.
//! A value with no binary encoding for the parameter's type (text into `numeric`,
//! `date`, `inet`, an enum ...) is sent in text format, so the server parses it as it
//! would a literal. Results are read from the binary format; see [`read_value`].

use std::error::Error as StdError;

use bytes::BytesMut;
use dbcore::{Error, Value};
use tokio_postgres::types::{Format, FromSql, IsNull, Kind, ToSql, Type, to_sql_checked};

type BoxError = Box<dyn StdError + Sync + Send>;

/// One parameter, converted for the type the server expects.
#[derive(Debug)]
pub(crate) enum Param<'a> {
    Null,
    Bool(bool),
    I16(i16),
    I32(i32),
    I64(i64),
    U32(u32),
    F32(f32),
    F64(f64),
    Str(&'a str),
    Owned(String),
    Bytes(&'a [u8]),
    /// Sent in text format: the server parses it with the type's input function.
    TextFormat(String),
    TextFormatRef(&'a str),
    #[cfg(feature = "json")]
    Json(&'a serde_json::Value),
    #[cfg(feature = "uuid")]
    Uuid(uuid::Uuid),
    #[cfg(feature = "chrono")]
    Date(chrono::NaiveDate),
    #[cfg(feature = "chrono")]
    Time(chrono::NaiveTime),
    #[cfg(feature = "chrono")]
    DateTime(chrono::NaiveDateTime),
    #[cfg(feature = "chrono")]
    Timestamp(chrono::DateTime<chrono::Utc>),
}

impl Param<'_> {
    /// Whether the parameter is sent in text format (not possible in binary COPY).
    pub(crate) fn is_text_format(&self) -> bool {
        matches!(self, Param::TextFormat(_) | Param::TextFormatRef(_))
    }
}

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        // `bind` chose the conversion for the domain's base type; encode for it too
        // (a domain's binary format is its base type's: `jsonb` needs its version byte).
        let ty = base_type(ty);
        match self {
            Param::Null => Ok(IsNull::Yes),
            Param::Bool(v) => v.to_sql(ty, out),
            Param::I16(v) => v.to_sql(ty, out),
            Param::I32(v) => v.to_sql(ty, out),
            Param::I64(v) => v.to_sql(ty, out),
            Param::U32(v) => v.to_sql(ty, out),
            Param::F32(v) => v.to_sql(ty, out),
            Param::F64(v) => v.to_sql(ty, out),
            Param::Str(s) => s.to_sql(ty, out),
            Param::Owned(s) => s.to_sql(ty, out),
            Param::Bytes(b) => b.to_sql(ty, out),
            Param::TextFormat(s) => {
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            Param::TextFormatRef(s) => {
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            #[cfg(feature = "json")]
            Param::Json(j) => match *ty {
                Type::JSON | Type::JSONB => j.to_sql(ty, out),
                _ => j.to_string().to_sql(ty, out),
            },
            #[cfg(feature = "uuid")]
            Param::Uuid(u) => u.to_sql(ty, out),
            #[cfg(feature = "chrono")]
            Param::Date(d) => d.to_sql(ty, out),
            #[cfg(feature = "chrono")]
            Param::Time(t) => t.to_sql(ty, out),
            #[cfg(feature = "chrono")]
            Param::DateTime(t) => t.to_sql(ty, out),
            #[cfg(feature = "chrono")]
            Param::Timestamp(t) => t.to_sql(ty, out),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        // `bind` has already matched every value to its parameter's type.
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        if self.is_text_format() {
            Format::Text
        } else {
            Format::Binary
        }
    }

    to_sql_checked!();
}

/// The type whose binary format a value of `ty` uses: the base type of a domain (of a
/// domain ...), else `ty` itself.
fn base_type(ty: &Type) -> &Type {
    match ty.kind() {
        Kind::Domain(base) => base_type(base),
        _ => ty,
    }
}

fn is_text_type(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN
    ) || ty.name() == "citext"
}

fn out_of_range(index: usize, value: impl std::fmt::Display, ty: &Type) -> Error {
    Error::parameter(
        index + 1,
        format!("value {value} is out of range for PostgreSQL type {ty}"),
    )
}

fn mismatch(index: usize, value: &Value, ty: &Type) -> Error {
    Error::parameter(
        index + 1,
        format!(
            "cannot bind a {} value to a parameter of PostgreSQL type {ty}",
            value.type_name()
        ),
    )
}

/// Converts `value` for parameter `index` (0-based) of type `ty`.
pub(crate) fn bind<'a>(index: usize, value: &'a Value, ty: &Type) -> Result<Param<'a>, Error> {
    // Domains bind like their base type (and `Param::to_sql` encodes for it).
    let ty = base_type(ty);
    Ok(match value {
        Value::Null => Param::Null,
        Value::Bool(b) => match *ty {
            Type::BOOL => Param::Bool(*b),
            _ if is_text_type(ty) => Param::Str(if *b { "true" } else { "false" }),
            _ => return Err(mismatch(index, value, ty)),
        },
        Value::Int(i) => bind_int(index, *i, ty)?,
        Value::Float(f) => bind_float(index, *f, ty)?,
        Value::Text(s) => match *ty {
            Type::BYTEA => Param::Bytes(s.as_bytes()),
            _ if is_text_type(ty) => Param::Str(s),
            _ => Param::TextFormatRef(s),
        },
        Value::Bytes(b) => match *ty {
            Type::BYTEA => Param::Bytes(b),
            _ => return Err(mismatch(index, value, ty)),
        },
        #[cfg(feature = "json")]
        Value::Json(j) => match *ty {
            Type::JSON | Type::JSONB => Param::Json(j),
            _ if is_text_type(ty) => Param::Owned(j.to_string()),
            _ => return Err(mismatch(index, value, ty)),
        },
        #[cfg(feature = "uuid")]
        Value::Uuid(u) => match *ty {
            Type::UUID => Param::Uuid(*u),
            _ if is_text_type(ty) => Param::Owned(u.hyphenated().to_string()),
            _ => return Err(mismatch(index, value, ty)),
        },
        #[cfg(feature = "chrono")]
        Value::Date(d) => match *ty {
            Type::DATE => Param::Date(*d),
            _ if is_text_type(ty) => Param::Owned(d.format("%Y-%m-%d").to_string()),
            _ => Param::TextFormat(d.format("%Y-%m-%d").to_string()),
        },
        #[cfg(feature = "chrono")]
        Value::Time(t) => match *ty {
            Type::TIME => Param::Time(*t),
            _ if is_text_type(ty) => Param::Owned(t.format("%H:%M:%S%.f").to_string()),
            _ => Param::TextFormat(t.format("%H:%M:%S%.f").to_string()),
        },
        #[cfg(feature = "chrono")]
        Value::DateTime(t) => match *ty {
            Type::TIMESTAMP => Param::DateTime(*t),
            _ if is_text_type(ty) => Param::Owned(t.format("%Y-%m-%d %H:%M:%S%.f").to_string()),
            // timestamptz and others: the server reads it in the session time zone.
            _ => Param::TextFormat(t.format("%Y-%m-%d %H:%M:%S%.f").to_string()),
        },
        #[cfg(feature = "chrono")]
        Value::Timestamp(t) => match *ty {
            Type::TIMESTAMPTZ => Param::Timestamp(*t),
            Type::TIMESTAMP => Param::DateTime(t.naive_utc()),
            _ if is_text_type(ty) => Param::Owned(t.to_rfc3339()),
            _ => Param::TextFormat(t.to_rfc3339()),
        },
        #[allow(unreachable_patterns)]
        other => return Err(mismatch(index, other, ty)),
    })
}

fn bind_int(index: usize, i: i64, ty: &Type) -> Result<Param<'static>, Error> {
    const EXACT_F64: i64 = 1 << 53;
    const EXACT_F32: i64 = 1 << 24;
    Ok(match *ty {
        Type::INT8 => Param::I64(i),
        Type::INT4 => Param::I32(i32::try_from(i).map_err(|_| out_of_range(index, i, ty))?),
        Type::INT2 => Param::I16(i16::try_from(i).map_err(|_| out_of_range(index, i, ty))?),
        Type::OID => Param::U32(u32::try_from(i).map_err(|_| out_of_range(index, i, ty))?),
        Type::FLOAT8 if (-EXACT_F64..=EXACT_F64).contains(&i) => Param::F64(i as f64),
        Type::FLOAT4 if (-EXACT_F32..=EXACT_F32).contains(&i) => Param::F32(i as f32),
        Type::FLOAT8 | Type::FLOAT4 => {
            return Err(Error::parameter(
                index + 1,
                format!("integer {i} cannot be represented exactly as PostgreSQL type {ty}"),
            ));
        }
        Type::BOOL => match i {
            0 => Param::Bool(false),
            1 => Param::Bool(true),
            _ => return Err(out_of_range(index, i, ty)),
        },
        Type::BYTEA => return Err(mismatch(index, &Value::Int(i), ty)),
        _ if is_text_type(ty) => Param::Owned(i.to_string()),
        // numeric, money, ...: parsed by the server like a literal.
        _ => Param::TextFormat(i.to_string()),
    })
}

fn bind_float(index: usize, f: f64, ty: &Type) -> Result<Param<'static>, Error> {
    Ok(match *ty {
        Type::FLOAT8 => Param::F64(f),
        Type::FLOAT4 => {
            if f.is_finite() && f.abs() > f64::from(f32::MAX) {
                return Err(out_of_range(index, f, ty));
            }
            Param::F32(f as f32)
        }
        Type::INT2 | Type::INT4 | Type::INT8 => {
            if f.fract() != 0.0 || !f.is_finite() || f.abs() >= 9.223_372_036_854_776e18 {
                return Err(Error::parameter(
                    index + 1,
                    format!("float {f} is not an integer value for PostgreSQL type {ty}"),
                ));
            }
            bind_int(index, f as i64, ty)?
        }
        Type::BOOL | Type::BYTEA => return Err(mismatch(index, &Value::Float(f), ty)),
        _ if is_text_type(ty) => Param::Owned(float_text(f)),
        _ => Param::TextFormat(float_text(f)),
    })
}

fn float_text(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        // `{:?}` is the shortest representation that reads back exactly.
        format!("{f:?}")
    }
}

/// Bound parameters: up to eight stay on the stack (no allocation per statement).
pub(crate) type Bound<'a> = smallvec::SmallVec<[Param<'a>; 8]>;

/// Converts every parameter for a statement whose parameter types are `types` into
/// `bound` (empty; filled in place, where a returned list would be copied). The count
/// has been checked before.
pub(crate) fn bind_all<'a>(
    bound: &mut Bound<'a>,
    params: &'a [Value],
    types: &[Type],
) -> Result<(), Error> {
    if params.len() != types.len() {
        return Err(Error::Parameter {
            position: "count".into(),
            message: format!(
                "the statement takes {} parameter(s), {} given",
                types.len(),
                params.len()
            ),
        });
    }
    bound.reserve(params.len());
    for (i, (value, ty)) in params.iter().zip(types).enumerate() {
        bound.push(bind(i, value, ty)?);
    }
    Ok(())
}

/// Any column value, undecoded.
struct Raw<'a>(Option<&'a [u8]>);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Raw(Some(raw)))
    }
    fn from_sql_null(_ty: &Type) -> Result<Self, BoxError> {
        Ok(Raw(None))
    }
    fn accepts(_ty: &Type) -> bool {
        true
    }
}

/// Reads column `index` (named `name`) of `row`.
///
/// | PostgreSQL | `Value` |
/// |---|---|
/// | `int2`, `int4`, `int8`, `oid` | `Int` |
/// | `float4`, `float8` | `Float` |
/// | `numeric` | `Text`, the exact decimal (`NaN`, `Infinity` spelled out) |
/// | `bool` | `Bool` |
/// | `text`, `varchar`, `char(n)`, `name`, `citext`, enums | `Text` |
/// | `bytea` | `Bytes` |
/// | `json`, `jsonb` | `Json` (feature `json`), else `Text` |
/// | `uuid` | `Uuid` (feature `uuid`), else `Text` |
/// | `"char"` | `Text` for an ASCII byte, else `Bytes` |
/// | `date`, `time`, `timestamp`, `timestamptz` | `Date`, `Time`, `DateTime`, `Timestamp` (feature `chrono`), else `Text`; `infinity`, `-infinity` and `24:00:00` always `Text` |
/// | `void` | `Null` |
///
/// Other types are a decode error naming the column and the type; cast them in SQL
/// (`col::text`).
pub(crate) fn read_value(
    row: &tokio_postgres::Row,
    index: usize,
    name: &str,
) -> Result<Value, Error> {
    let ty = row.columns()[index].type_();
    match raw_column(row, index, name, ty)? {
        None => Ok(Value::Null),
        Some(bytes) => decode(ty, bytes).map_err(|e| decode_error(name, ty, &e.to_string())),
    }
}

/// The undecoded bytes of column `index` (`None` for NULL).
#[inline]
fn raw_column<'r>(
    row: &'r tokio_postgres::Row,
    index: usize,
    name: &str,
    ty: &Type,
) -> Result<Option<&'r [u8]>, Error> {
    row.try_get::<_, Raw<'r>>(index)
        .map(|raw| raw.0)
        .map_err(|e| decode_error(name, ty, &e.to_string()))
}

/// A native row read column by column into a typed result
/// ([`dbcore::FromRow::from_columns`]): `int8`, `int4`, `int2` and `oid`, `float8`, and
/// `text`, `varchar`, `bpchar`, `name` and `unknown` columns are read straight into
/// the requested type, with the very conversions (and errors) [`read_value`] applies;
/// every other column goes through its [`Value`].
pub(crate) struct NativeRow<'r>(pub(crate) &'r tokio_postgres::Row);

impl NativeRow<'_> {
    /// Column `index` as `C` when its type is one `C` accepts and it is not NULL. Any
    /// other outcome (another type, NULL, bytes that do not decode) is `None`: the caller
    /// then reads the column through [`read_value`], which gives the value, or the very
    /// error, of the `Value` path. One `try_get` per column, as a raw typed read does.
    #[inline]
    fn shortcut<'a, C: FromSql<'a>>(&'a self, index: usize) -> Option<C> {
        self.0.try_get::<_, Option<C>>(index).ok().flatten()
    }
}

/// An `int8`, `int4`, `int2` or `oid` column, read as [`read_value`] reads it.
struct IntColumn(i64);

impl<'a> FromSql<'a> for IntColumn {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(IntColumn(match *ty {
            Type::INT8 => i64::from_sql(ty, raw)?,
            Type::INT4 => i32::from_sql(ty, raw)?.into(),
            Type::INT2 => i16::from_sql(ty, raw)?.into(),
            _ => u32::from_sql(ty, raw)?.into(),
        }))
    }
    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::INT8 | Type::INT4 | Type::INT2 | Type::OID)
    }
}

/// A `float8` column.
struct FloatColumn(f64);

impl<'a> FromSql<'a> for FloatColumn {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        f64::from_sql(ty, raw).map(FloatColumn)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::FLOAT8
    }
}

/// A `text`, `varchar`, `bpchar`, `name` or `unknown` column (checked UTF-8).
struct TextColumn<'a>(&'a str);

impl<'a> FromSql<'a> for TextColumn<'a> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        <&str>::from_sql(ty, raw).map(TextColumn)
    }
    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN
        )
    }
}

impl dbcore::RowSource for NativeRow<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn name(&self, index: usize) -> &str {
        self.0.columns()[index].name()
    }

    fn value(&mut self, index: usize) -> Result<Value, Error> {
        read_value(self.0, index, self.name(index))
    }

    fn int(&mut self, index: usize) -> Option<Result<i64, Error>> {
        self.shortcut(index).map(|IntColumn(n)| Ok(n))
    }

    fn float(&mut self, index: usize) -> Option<Result<f64, Error>> {
        self.shortcut(index).map(|FloatColumn(f)| Ok(f))
    }

    fn text(&mut self, index: usize) -> Option<Result<String, Error>> {
        self.shortcut(index).map(|TextColumn(s)| Ok(s.to_owned()))
    }

    fn is_null(&mut self, index: usize) -> Option<bool> {
        self.0
            .try_get::<_, Raw<'_>>(index)
            .ok()
            .map(|raw| raw.0.is_none())
    }
}

fn decode_error(column: &str, ty: &Type, why: &str) -> Error {
    Error::Decode {
        column: column.to_owned(),
        message: format!("cannot read PostgreSQL type {ty} into a Value: {why}"),
    }
}

fn decode(ty: &Type, raw: &[u8]) -> Result<Value, BoxError> {
    fn get<'a, T: FromSql<'a>>(ty: &Type, raw: &'a [u8]) -> Result<T, BoxError> {
        T::from_sql(ty, raw)
    }
    Ok(match *ty {
        Type::BOOL => Value::Bool(get(ty, raw)?),
        Type::INT2 => Value::Int(get::<i16>(ty, raw)?.into()),
        Type::INT4 => Value::Int(get::<i32>(ty, raw)?.into()),
        Type::INT8 => Value::Int(get(ty, raw)?),
        Type::OID => Value::Int(get::<u32>(ty, raw)?.into()),
        Type::FLOAT4 => Value::from_f32(get::<f32>(ty, raw)?),
        Type::FLOAT8 => Value::Float(get(ty, raw)?),
        Type::NUMERIC => Value::Text(numeric_text(raw)?),
        Type::BYTEA => Value::Bytes(raw.to_vec()),
        Type::CHAR => char_value(get::<i8>(ty, raw)? as u8),
        Type::VOID => Value::Null,
        Type::JSON | Type::JSONB => {
            let text = if *ty == Type::JSONB {
                match raw.split_first() {
                    Some((1, rest)) => rest,
                    _ => return Err("unsupported jsonb version".into()),
                }
            } else {
                raw
            };
            let text = std::str::from_utf8(text)?;
            #[cfg(feature = "json")]
            {
                Value::Json(serde_json::from_str(text)?)
            }
            #[cfg(not(feature = "json"))]
            {
                Value::Text(text.to_owned())
            }
        }
        Type::UUID => {
            let bytes: [u8; 16] = raw.try_into().map_err(|_| "uuid is not 16 bytes")?;
            #[cfg(feature = "uuid")]
            {
                Value::Uuid(uuid::Uuid::from_bytes(bytes))
            }
            #[cfg(not(feature = "uuid"))]
            {
                Value::Text(uuid_text(bytes))
            }
        }
        Type::DATE | Type::TIME | Type::TIMESTAMP | Type::TIMESTAMPTZ => date_time(ty, raw)?,
        _ if <&str as FromSql>::accepts(ty) => Value::Text(get::<&str>(ty, raw)?.to_owned()),
        _ => match ty.kind() {
            Kind::Enum(_) => Value::Text(std::str::from_utf8(raw)?.to_owned()),
            Kind::Domain(base) => decode(base, raw)?,
            _ => {
                return Err(
                    "the type has no Value mapping; cast the column in SQL (`::text`)".into(),
                );
            }
        },
    })
}

/// `"char"` is one byte, not a character. An ASCII byte reads as one-character text (NUL
/// as the empty string, as PostgreSQL prints it). Any other byte is not text on its own
/// (`'é'::"char"` keeps the first byte of its UTF-8 encoding), so it reads as `Bytes`.
fn char_value(byte: u8) -> Value {
    match byte {
        0 => Value::Text(String::new()),
        b if b.is_ascii() => Value::Text(char::from(b).to_string()),
        b => Value::Bytes(vec![b]),
    }
}

/// Microseconds in a day: `time '24:00:00'`.
const US_PER_DAY: i64 = 86_400_000_000;

/// The values chrono cannot hold, as PostgreSQL prints them (the same text with or without
/// the `chrono` feature): `infinity` / `-infinity` for `date`, `timestamp` and
/// `timestamptz`, and `24:00:00` for `time`.
fn special_date_time(ty: &Type, raw: &[u8]) -> Result<Option<&'static str>, BoxError> {
    Ok(match *ty {
        Type::DATE => match i32::from_sql(ty, raw)? {
            i32::MAX => Some("infinity"),
            i32::MIN => Some("-infinity"),
            _ => None,
        },
        Type::TIME => (i64::from_sql(ty, raw)? == US_PER_DAY).then_some("24:00:00"),
        _ => match i64::from_sql(ty, raw)? {
            i64::MAX => Some("infinity"),
            i64::MIN => Some("-infinity"),
            _ => None,
        },
    })
}

/// With chrono: `Date`, `Time`, `DateTime`, `Timestamp`, except for the values chrono cannot
/// hold. `infinity`, `-infinity` and `24:00:00` read as text (see [`special_date_time`]);
/// a date beyond chrono's years (PostgreSQL goes up to 5874897 AD) is a decode error.
#[cfg(feature = "chrono")]
fn date_time(ty: &Type, raw: &[u8]) -> Result<Value, BoxError> {
    use chrono::Datelike as _;
    if let Some(text) = special_date_time(ty, raw)? {
        return Ok(Value::Text(text.to_owned()));
    }
    // The buffer size was checked above: what is left to fail is the range.
    let out_of_range = |_: BoxError| -> BoxError {
        format!(
            "the value is outside the years chrono can hold ({} to {}); cast the column \
             in SQL (`::text`)",
            chrono::NaiveDate::MIN.year(),
            chrono::NaiveDate::MAX.year()
        )
        .into()
    };
    Ok(match *ty {
        Type::DATE => Value::Date(chrono::NaiveDate::from_sql(ty, raw).map_err(out_of_range)?),
        Type::TIME => Value::Time(chrono::NaiveTime::from_sql(ty, raw)?),
        Type::TIMESTAMP => {
            Value::DateTime(chrono::NaiveDateTime::from_sql(ty, raw).map_err(out_of_range)?)
        }
        _ => Value::Timestamp(
            chrono::DateTime::<chrono::Utc>::from_sql(ty, raw).map_err(out_of_range)?,
        ),
    })
}

/// Without chrono: text computed from the binary format (days or microseconds since
/// 2000-01-01): `YYYY-MM-DD` with chrono's year convention (`-0043-03-15` is 44 BC),
/// `HH:MM:SS[.ffffff]`, `YYYY-MM-DD HH:MM:SS[.ffffff]` with a space as PostgreSQL prints
/// it, and a `Z` for `timestamptz` (in UTC). `infinity`, `-infinity` and `24:00:00` are
/// spelled out.
#[cfg(not(feature = "chrono"))]
fn date_time(ty: &Type, raw: &[u8]) -> Result<Value, BoxError> {
    if let Some(text) = special_date_time(ty, raw)? {
        return Ok(Value::Text(text.to_owned()));
    }
    Ok(Value::Text(match *ty {
        Type::DATE => civil_date(i64::from(i32::from_sql(ty, raw)?)),
        Type::TIME => time_text(i64::from_sql(ty, raw)?),
        _ => {
            let us = i64::from_sql(ty, raw)?;
            let days = us.div_euclid(US_PER_DAY);
            let rest = us.rem_euclid(US_PER_DAY);
            let zone = if *ty == Type::TIMESTAMPTZ { "Z" } else { "" };
            format!("{} {}{zone}", civil_date(days), time_text(rest))
        }
    }))
}

/// `YYYY-MM-DD` for `days` since 2000-01-01 (Howard Hinnant's civil-from-days), with
/// astronomical years as chrono writes them: year 0 is 1 BC, `-0043` is 44 BC, and a
/// year past 9999 takes a `+` sign (`+10000-01-01`).
#[cfg(not(feature = "chrono"))]
fn civil_date(days_since_2000: i64) -> String {
    let z = days_since_2000 + 10_957 + 719_468; // to days since 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if (0..=9999).contains(&year) {
        format!("{year:04}-{month:02}-{day:02}")
    } else {
        format!("{year:+05}-{month:02}-{day:02}")
    }
}

#[cfg(not(feature = "chrono"))]
fn time_text(us: i64) -> String {
    let (secs, frac) = (us / 1_000_000, us % 1_000_000);
    let base = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    if frac == 0 {
        base
    } else {
        format!("{base}.{frac:06}")
    }
}

#[cfg(not(feature = "uuid"))]
fn uuid_text(b: [u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push_str(&format!("{byte:02x}"));
    }
    s
}

/// The exact decimal text of a binary `numeric`.
fn numeric_text(raw: &[u8]) -> Result<String, BoxError> {
    let word = |i: usize| -> Result<i16, BoxError> {
        let b = raw.get(2 * i..2 * i + 2).ok_or("truncated numeric")?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    };
    let ndigits = usize::try_from(word(0)?).map_err(|_| "invalid numeric")?;
    let weight = i32::from(word(1)?);
    let sign = word(2)? as u16;
    let dscale = usize::try_from(word(3)?).map_err(|_| "invalid numeric")?;
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        0x0000 | 0x4000 => {}
        _ => return Err("invalid numeric sign".into()),
    }
    let digits: Vec<i16> = (0..ndigits)
        .map(|i| word(4 + i))
        .collect::<Result<_, _>>()?;
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    // Integer part: base-10000 digits with weight >= 0.
    if weight < 0 {
        out.push('0');
    } else {
        for w in 0..=weight {
            let d = usize::try_from(w)
                .ok()
                .and_then(|w| digits.get(w))
                .copied()
                .unwrap_or(0);
            if w == 0 {
                out.push_str(&d.to_string());
            } else {
                out.push_str(&format!("{d:04}"));
            }
        }
    }
    if dscale > 0 {
        out.push('.');
        let mut frac = String::new();
        let mut w = weight + 1;
        while frac.len() < dscale {
            let d = usize::try_from(w)
                .ok()
                .and_then(|w| digits.get(w))
                .copied()
                .unwrap_or(0);
            frac.push_str(&format!("{d:04}"));
            w += 1;
        }
        frac.truncate(dscale);
        out.push_str(&frac);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic on failure
mod tests {
    use super::*;

    fn numeric(ndigits: i16, weight: i16, sign: u16, dscale: i16, digits: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        for w in [ndigits, weight, sign as i16, dscale] {
            v.extend_from_slice(&w.to_be_bytes());
        }
        for d in digits {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    #[test]
    fn numeric_decodes_exactly() {
        // 12345.678 = [1, 2345, 6780], weight 1, dscale 3
        assert_eq!(
            numeric_text(&numeric(3, 1, 0, 3, &[1, 2345, 6780])).unwrap(),
            "12345.678"
        );
        // -0.0012 = [12], weight -1, dscale 4
        assert_eq!(
            numeric_text(&numeric(1, -1, 0x4000, 4, &[12])).unwrap(),
            "-0.0012"
        );
        // 100000000 = [1], weight 2 (trailing zero groups omitted)
        assert_eq!(
            numeric_text(&numeric(1, 2, 0, 0, &[1])).unwrap(),
            "100000000"
        );
        assert_eq!(numeric_text(&numeric(0, 0, 0, 2, &[])).unwrap(), "0.00");
        assert_eq!(numeric_text(&numeric(0, 0, 0xC000, 0, &[])).unwrap(), "NaN");
    }

    #[test]
    fn ints_are_range_checked_per_parameter_type() {
        assert!(matches!(
            bind(0, &Value::Int(7), &Type::INT4).unwrap(),
            Param::I32(7)
        ));
        let err = bind(2, &Value::Int(3_000_000_000), &Type::INT4).unwrap_err();
        assert_eq!(err.kind(), dbcore::ErrorKind::Parameter);
        let msg = err.to_string();
        assert!(msg.contains("$3"), "{msg}");
        assert!(
            msg.contains("out of range for PostgreSQL type int4"),
            "{msg}"
        );
        assert!(bind(0, &Value::Int(40_000), &Type::INT2).is_err());
        assert!(matches!(
            bind(0, &Value::Int(5), &Type::NUMERIC).unwrap(),
            Param::TextFormat(_)
        ));
        assert!(matches!(
            bind(0, &Value::Int(5), &Type::TEXT).unwrap(),
            Param::Owned(_)
        ));
        assert!(bind(0, &Value::Bytes(vec![1]), &Type::INT4).is_err());
        assert!(matches!(
            bind(0, &Value::Text("2024-01-02".into()), &Type::DATE).unwrap(),
            Param::TextFormatRef(_)
        ));
        assert!(matches!(
            bind(0, &Value::Float(2.0), &Type::INT4).unwrap(),
            Param::I32(2)
        ));
        assert!(bind(0, &Value::Float(2.5), &Type::INT4).is_err());
    }

    #[test]
    fn floats_render_exactly() {
        assert_eq!(float_text(0.1), "0.1");
        assert_eq!(float_text(f64::NAN), "NaN");
        assert_eq!(float_text(f64::NEG_INFINITY), "-Infinity");
    }

    /// Days since 2000-01-01 of a proleptic Gregorian date (days-from-civil).
    #[cfg(not(feature = "chrono"))]
    fn chrono_like_days(year: i64, month: i64, day: i64) -> i64 {
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let mp = (month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468 - 10_957
    }

    #[test]
    fn char_is_text_only_when_ascii() {
        assert_eq!(char_value(b'a'), Value::Text("a".into()));
        assert_eq!(char_value(0), Value::Text(String::new()));
        assert_eq!(char_value(0xC3), Value::Bytes(vec![0xC3]));
    }

    #[cfg(not(feature = "chrono"))]
    #[test]
    fn dates_without_chrono() {
        assert_eq!(civil_date(0), "2000-01-01");
        assert_eq!(civil_date(-1), "1999-12-31");
        assert_eq!(civil_date(8766), "2024-01-01");
        // 44 BC is astronomical year -43, as chrono numbers it.
        let bc = chrono_like_days(-43, 3, 15);
        assert_eq!(civil_date(bc), "-0043-03-15");
        assert_eq!(civil_date(chrono_like_days(0, 12, 31)), "0000-12-31");
        assert_eq!(civil_date(chrono_like_days(10_000, 1, 1)), "+10000-01-01");
        assert_eq!(time_text(3_723_000_001), "01:02:03.000001");
    }
}
