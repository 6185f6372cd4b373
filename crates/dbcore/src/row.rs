//! [`Row`]: one result row, with column names shared by every row of a result.

use std::fmt;
use std::sync::Arc;

use crate::value::{FromValue, Value};
use crate::{Error, Result};

/// Column names of a result set, shared (not copied) by all of its rows.
pub type Columns = Arc<[String]>;

/// One row of a query result.
///
/// ```
/// use std::sync::Arc;
/// use dbcore::{Row, Value};
///
/// let columns: Arc<[String]> = vec!["id".to_string(), "name".to_string()].into();
/// let row = Row::new(columns, vec![Value::Int(1), Value::Null]);
/// let id: i64 = row.get("id").unwrap();
/// let name: Option<String> = row.get(1).unwrap();
/// assert_eq!((id, name), (1, None));
///
/// let err = row.get::<String>("name").unwrap_err();
/// assert_eq!(err.to_string(), "column name: cannot read NULL as String");
/// ```
#[derive(Clone, PartialEq)]
pub struct Row {
    columns: Columns,
    values: Vec<Value>,
}

/// A way to name a column: its 0-based index or its name.
pub trait ColumnIndex: sealed::Sealed + fmt::Debug {
    /// The 0-based index of this column in `columns`, or a decode error naming it.
    fn index_in(&self, columns: &[String]) -> Result<usize>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for usize {}
    impl Sealed for &str {}
    impl Sealed for &String {}
}

impl ColumnIndex for usize {
    fn index_in(&self, columns: &[String]) -> Result<usize> {
        if *self < columns.len() {
            Ok(*self)
        } else {
            Err(Error::Decode {
                column: format!("#{self}"),
                message: format!(
                    "index out of range: the row has {} column(s)",
                    columns.len()
                ),
            })
        }
    }
}

impl ColumnIndex for &str {
    fn index_in(&self, columns: &[String]) -> Result<usize> {
        columns
            .iter()
            .position(|c| c == self)
            .or_else(|| columns.iter().position(|c| c.eq_ignore_ascii_case(self)))
            .ok_or_else(|| Error::Decode {
                column: (*self).to_owned(),
                message: format!("no such column; the row has: {}", columns.join(", ")),
            })
    }
}

impl ColumnIndex for &String {
    fn index_in(&self, columns: &[String]) -> Result<usize> {
        self.as_str().index_in(columns)
    }
}

impl Row {
    /// A row with the given column names and values (same length).
    pub fn new(columns: Columns, values: Vec<Value>) -> Self {
        debug_assert_eq!(columns.len(), values.len());
        Row { columns, values }
    }

    /// The column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The shared column-name list (cheap to clone).
    pub fn columns_arc(&self) -> &Columns {
        &self.columns
    }

    /// The values, in column order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// Takes the values out of the row.
    pub fn into_values(self) -> Vec<Value> {
        self.values
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The raw value of a column, by index or name.
    pub fn value<I: ColumnIndex>(&self, column: I) -> Result<&Value> {
        let i = column.index_in(&self.columns)?;
        Ok(&self.values[i])
    }

    /// Reads a column as `T`, by index or name. A decode error names the column, the
    /// value's type and `T`.
    pub fn get<T: FromValue>(&self, column: impl ColumnIndex) -> Result<T> {
        let i = column.index_in(&self.columns)?;
        T::from_value(&self.values[i]).map_err(|e| Error::Decode {
            column: self.columns[i].clone(),
            message: e.to_string(),
        })
    }

    /// Moves a column's value out as `T`, by index or name, leaving NULL in its place:
    /// text and bytes are handed over, not copied as [`Row::get`] does.
    ///
    /// ```
    /// use dbcore::{Row, Value};
    ///
    /// let mut row = Row::new(vec!["name".to_string()].into(), vec![Value::Text("Ada".into())]);
    /// let name: String = row.take("name").unwrap();
    /// assert_eq!(name, "Ada");
    /// assert_eq!(row.value(0).unwrap(), &Value::Null);
    /// ```
    pub fn take<T: FromValue>(&mut self, column: impl ColumnIndex) -> Result<T> {
        let i = column.index_in(&self.columns)?;
        let value = std::mem::replace(&mut self.values[i], Value::Null);
        T::from_owned_value(value).map_err(|e| Error::Decode {
            column: self.columns[i].clone(),
            message: e.to_string(),
        })
    }

    /// Converts the whole row, consuming it: into a tuple with one element per column
    /// (values moved, not copied), or any other [`FromRow`] type.
    ///
    /// ```
    /// use dbcore::{Row, Value};
    ///
    /// let row = Row::new(
    ///     vec!["id".to_string(), "name".to_string()].into(),
    ///     vec![Value::Int(7), Value::Text("Ada".into())],
    /// );
    /// let (id, name): (i64, String) = row.decode().unwrap();
    /// assert_eq!((id, name.as_str()), (7, "Ada"));
    /// ```
    pub fn decode<T: FromRow>(self) -> Result<T> {
        T::from_row(self)
    }
}

/// A type a whole [`Row`] converts into with [`Row::decode`]. Implemented for tuples of
/// up to twelve [`FromValue`] types, read by position; the row must have exactly as many
/// columns as the tuple has elements.
pub trait FromRow: Sized {
    /// Converts `row`, or says which column did not fit.
    fn from_row(row: Row) -> Result<Self>;

    /// Builds `Self` from a driver's native row, reading each column once, in order,
    /// without building a [`Row`]: drivers use it to decode `query_one_as` and
    /// `query_as` results. Tuples read each element with [`FromValue::from_column`], so
    /// an `i64`, `f64` or `String` column the driver can read natively never becomes a
    /// [`Value`]. The default builds the [`Row`] and calls [`FromRow::from_row`].
    fn from_columns<S: RowSource + ?Sized>(source: &mut S) -> Result<Self> {
        let len = source.len();
        let columns: Columns = (0..len).map(|i| source.name(i).to_owned()).collect();
        let mut values = Vec::with_capacity(len);
        for i in 0..len {
            values.push(source.value(i)?);
        }
        Self::from_row(Row::new(columns, values))
    }
}

/// A driver's native result row, read one column at a time by
/// [`FromRow::from_columns`].
///
/// [`value`](Self::value) is the whole contract: it reads a column as the [`Value`] the
/// driver maps its type to. The typed readers are shortcuts a driver may add for columns
/// whose native type maps to one kind of value: each returns `None` whenever it cannot
/// answer (another type, or NULL), and the caller then goes through `value`. A shortcut
/// must give exactly what `value` followed by [`FromValue`] would: the same number, the
/// same text, the same error.
///
/// ```
/// use dbcore::{FromRow, Result, RowSource, Value};
///
/// /// A row held as values (a driver would read its native row instead).
/// struct Values<'a>(&'a [(&'a str, Value)]);
///
/// impl RowSource for Values<'_> {
///     fn len(&self) -> usize {
///         self.0.len()
///     }
///     fn name(&self, index: usize) -> &str {
///         self.0[index].0
///     }
///     fn value(&mut self, index: usize) -> Result<Value> {
///         Ok(self.0[index].1.clone())
///     }
/// }
///
/// let row = [("id", Value::Int(7)), ("name", Value::Text("Ada".into()))];
/// let (id, name): (i64, String) = FromRow::from_columns(&mut Values(&row)).unwrap();
/// assert_eq!((id, name.as_str()), (7, "Ada"));
///
/// let err = <(i64, i64)>::from_columns(&mut Values(&row)).unwrap_err();
/// assert_eq!(err.to_string(), "column name: cannot read text as i64");
/// ```
pub trait RowSource {
    /// The number of columns.
    fn len(&self) -> usize;

    /// Whether the row has no columns.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name of column `index` (for an error).
    fn name(&self, index: usize) -> &str;

    /// Column `index` as a [`Value`]; a column that cannot be read is an
    /// [`Error::Decode`] naming it.
    fn value(&mut self, index: usize) -> Result<Value>;

    /// Column `index` when it reads as [`Value::Int`]: `None` when the driver does not
    /// know without building the value (or the column is NULL).
    fn int(&mut self, index: usize) -> Option<Result<i64>> {
        let _ = index;
        None
    }

    /// Column `index` when it reads as [`Value::Float`], as [`int`](Self::int).
    fn float(&mut self, index: usize) -> Option<Result<f64>> {
        let _ = index;
        None
    }

    /// Column `index` when it reads as [`Value::Text`], as [`int`](Self::int).
    fn text(&mut self, index: usize) -> Option<Result<String>> {
        let _ = index;
        None
    }

    /// Whether column `index` is NULL, when the driver knows without reading it.
    fn is_null(&mut self, index: usize) -> Option<bool> {
        let _ = index;
        None
    }
}

/// A [`Row`] read as a [`RowSource`]: each column's value is moved out as it is read
/// (a column reads as NULL the second time). Drivers hand it to
/// [`Executor::query_opt_with`](crate::Executor::query_opt_with)'s reader when they
/// built a `Row` anyway.
///
/// ```
/// use dbcore::{FromRow, Row, RowValues, Value};
///
/// let row = Row::new(
///     vec!["id".to_string(), "name".to_string()].into(),
///     vec![Value::Int(7), Value::Text("Ada".into())],
/// );
/// let (id, name): (i64, String) = FromRow::from_columns(&mut RowValues::from(row)).unwrap();
/// assert_eq!((id, name.as_str()), (7, "Ada"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RowValues {
    row: Row,
}

impl From<Row> for RowValues {
    fn from(row: Row) -> Self {
        RowValues { row }
    }
}

impl RowSource for RowValues {
    fn len(&self) -> usize {
        self.row.values.len()
    }

    fn name(&self, index: usize) -> &str {
        self.row.columns.get(index).map_or("", String::as_str)
    }

    fn value(&mut self, index: usize) -> Result<Value> {
        let len = self.row.values.len();
        match self.row.values.get_mut(index) {
            Some(value) => Ok(std::mem::replace(value, Value::Null)),
            None => Err(Error::Decode {
                column: format!("#{index}"),
                message: format!("index out of range: the row has {len} column(s)"),
            }),
        }
    }

    fn is_null(&mut self, index: usize) -> Option<bool> {
        self.row.values.get(index).map(Value::is_null)
    }
}

/// Column `index` of `source` through its [`Value`]: the path every
/// [`FromValue::from_column`] falls back to.
pub(crate) fn column_via_value<T: FromValue, S: RowSource + ?Sized>(
    source: &mut S,
    index: usize,
) -> Result<T> {
    let value = source.value(index)?;
    T::from_owned_value(value).map_err(|e| column_error(source, index, e))
}

/// The error of column `index` that did not convert.
pub(crate) fn column_error<S: RowSource + ?Sized>(
    source: &S,
    index: usize,
    error: crate::DecodeError,
) -> Error {
    Error::Decode {
        column: source.name(index).to_owned(),
        message: error.to_string(),
    }
}

/// The error of a row whose column count is not the tuple's.
fn width_error(columns: usize, elements: usize) -> Error {
    Error::Decode {
        column: format!("#{}", columns.min(elements)),
        message: format!("the row has {columns} column(s) but the tuple has {elements} element(s)"),
    }
}

impl FromRow for Row {
    fn from_row(row: Row) -> Result<Self> {
        Ok(row)
    }
}

macro_rules! tuple_from_row {
    ($n:expr; $($t:ident),+) => {
        impl<$($t: FromValue),+> FromRow for ($($t,)+) {
            fn from_row(row: Row) -> Result<Self> {
                if row.values.len() != $n {
                    return Err(width_error(row.values.len(), $n));
                }
                let Row { columns, values } = row;
                let mut values = values.into_iter().enumerate();
                Ok(($(
                    {
                        let (i, v) = values.next().ok_or_else(|| Error::Internal("row shorter than checked".into()))?;
                        $t::from_owned_value(v).map_err(|e| Error::Decode {
                            column: columns[i].clone(),
                            message: e.to_string(),
                        })?
                    },
                )+))
            }

            // The column counter is bumped after the last element too.
            #[allow(unused_assignments)]
            fn from_columns<S: RowSource + ?Sized>(source: &mut S) -> Result<Self> {
                let len = source.len();
                if len != $n {
                    return Err(width_error(len, $n));
                }
                let mut i = 0;
                Ok(($(
                    {
                        let t = $t::from_column(source, i)?;
                        i += 1;
                        t
                    },
                )+))
            }
        }
    };
}

tuple_from_row!(1; A);
tuple_from_row!(2; A, B);
tuple_from_row!(3; A, B, C);
tuple_from_row!(4; A, B, C, D);
tuple_from_row!(5; A, B, C, D, E);
tuple_from_row!(6; A, B, C, D, E, F);
tuple_from_row!(7; A, B, C, D, E, F, G);
tuple_from_row!(8; A, B, C, D, E, F, G, H);
tuple_from_row!(9; A, B, C, D, E, F, G, H, I);
tuple_from_row!(10; A, B, C, D, E, F, G, H, I, J);
tuple_from_row!(11; A, B, C, D, E, F, G, H, I, J, K);
tuple_from_row!(12; A, B, C, D, E, F, G, H, I, J, K, L);

/// Slots in each thread's cache of column-name lists.
const COLUMN_SLOTS: usize = 16;

thread_local! {
    /// Recently built column-name lists, keyed by the address of the shared
    /// [`PreparedSql`](crate::PreparedSql) they were built for (direct-mapped). A hit is
    /// only used when its names equal the statement's, so a reused address or a changed
    /// table is harmless.
    static COLUMNS: std::cell::RefCell<[Option<(usize, Columns)>; COLUMN_SLOTS]> =
        const { std::cell::RefCell::new([const { None }; COLUMN_SLOTS]) };
}

/// The column-name list for a result of `statement` with `len` columns named by
/// `name(i)`, shared with earlier results of the same statement on this thread, so a
/// repeated query allocates no names.
///
/// Drivers call this once per result; the names are compared with the cached list on
/// every call, so a statement whose columns changed (a table altered between two runs)
/// gets a fresh list.
///
/// ```
/// use dbcore::{PlaceholderStyle, prepare_sql, shared_columns};
///
/// let sql = prepare_sql("SELECT id, name FROM t", PlaceholderStyle::Dollar).unwrap();
/// let names = ["id", "name"];
/// let first = shared_columns(&sql, names.len(), |i| names[i]);
/// let again = shared_columns(&sql, names.len(), |i| names[i]);
/// assert!(std::sync::Arc::ptr_eq(&first, &again));
/// assert_eq!(&*again, ["id".to_string(), "name".to_string()]);
/// ```
pub fn shared_columns<'n>(
    statement: &crate::PreparedSql,
    len: usize,
    mut name: impl FnMut(usize) -> &'n str,
) -> Columns {
    let key = std::ptr::from_ref(statement) as usize;
    let slot = (key >> 4) % COLUMN_SLOTS;
    let build = |name: &mut dyn FnMut(usize) -> &'n str| -> Columns {
        (0..len).map(|i| name(i).to_owned()).collect()
    };
    COLUMNS.with(|cache| {
        let Ok(mut cache) = cache.try_borrow_mut() else {
            return build(&mut name);
        };
        if let Some((k, cached)) = &cache[slot]
            && *k == key
            && cached.len() == len
            && cached.iter().enumerate().all(|(i, c)| c == name(i))
        {
            return Arc::clone(cached);
        }
        let built = build(&mut name);
        cache[slot] = Some((key, Arc::clone(&built)));
        built
    })
}

impl fmt::Debug for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (c, v) in self.columns.iter().zip(&self.values) {
            map.entry(c, v);
        }
        map.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row {
        Row::new(
            vec!["id".to_owned(), "Name".to_owned()].into(),
            vec![Value::Int(7), Value::Text("x".into())],
        )
    }

    #[test]
    fn decode_moves_values_into_a_tuple_and_names_a_bad_column() {
        let (id, name): (i64, Option<String>) = row().decode().expect("fits");
        assert_eq!((id, name.as_deref()), (7, Some("x")));

        let err = row()
            .decode::<(i64, i64)>()
            .expect_err("text is not an integer");
        assert_eq!(err.kind(), crate::ErrorKind::Decode);
        assert!(err.to_string().starts_with("column Name:"), "{err}");

        let err = row().decode::<(i64,)>().expect_err("one column too many");
        assert!(
            err.to_string()
                .contains("the row has 2 column(s) but the tuple has 1 element(s)"),
            "{err}"
        );
    }

    /// A row of values that records what was read, with or without typed shortcuts.
    struct Source {
        names: Vec<&'static str>,
        values: Vec<Value>,
        shortcuts: bool,
        reads: Vec<(usize, &'static str)>,
    }

    impl Source {
        fn new(columns: &[(&'static str, Value)], shortcuts: bool) -> Self {
            Source {
                names: columns.iter().map(|c| c.0).collect(),
                values: columns.iter().map(|c| c.1.clone()).collect(),
                shortcuts,
                reads: Vec::new(),
            }
        }
    }

    impl RowSource for Source {
        fn len(&self) -> usize {
            self.values.len()
        }
        fn name(&self, index: usize) -> &str {
            self.names[index]
        }
        fn value(&mut self, index: usize) -> Result<Value> {
            self.reads.push((index, "value"));
            match &self.values[index] {
                Value::Bytes(b) if b == b"unreadable" => Err(Error::RowNotFound),
                v => Ok(v.clone()),
            }
        }
        fn int(&mut self, index: usize) -> Option<Result<i64>> {
            match self.values[index] {
                Value::Int(i) if self.shortcuts => {
                    self.reads.push((index, "int"));
                    Some(Ok(i))
                }
                _ => None,
            }
        }
        fn float(&mut self, index: usize) -> Option<Result<f64>> {
            match self.values[index] {
                Value::Float(x) if self.shortcuts => {
                    self.reads.push((index, "float"));
                    Some(Ok(x))
                }
                _ => None,
            }
        }
        fn text(&mut self, index: usize) -> Option<Result<String>> {
            match &self.values[index] {
                Value::Text(t) if self.shortcuts => {
                    let t = t.clone();
                    self.reads.push((index, "text"));
                    Some(Ok(t))
                }
                _ => None,
            }
        }
        fn is_null(&mut self, index: usize) -> Option<bool> {
            self.shortcuts.then(|| self.values[index].is_null())
        }
    }

    fn sample() -> [(&'static str, Value); 3] {
        [
            ("id", Value::Int(7)),
            ("name", Value::Text("Ada".into())),
            ("score", Value::Float(0.5)),
        ]
    }

    #[test]
    fn from_columns_reads_each_column_once_through_the_shortcuts() {
        let mut source = Source::new(&sample(), true);
        let got: (i64, String, f64) = FromRow::from_columns(&mut source).unwrap();
        assert_eq!(got, (7, "Ada".to_owned(), 0.5));
        assert_eq!(source.reads, [(0, "int"), (1, "text"), (2, "float")]);

        // Without shortcuts (or for other types) every column goes through its value.
        let mut source = Source::new(&sample(), false);
        let got: (i64, String, f64) = FromRow::from_columns(&mut source).unwrap();
        assert_eq!(got, (7, "Ada".to_owned(), 0.5));
        assert_eq!(source.reads, [(0, "value"), (1, "value"), (2, "value")]);

        let mut source = Source::new(&sample(), true);
        let got: (Value, Option<String>, f32) = FromRow::from_columns(&mut source).unwrap();
        assert_eq!(got, (Value::Int(7), Some("Ada".to_owned()), 0.5));
        assert_eq!(source.reads, [(0, "value"), (1, "text"), (2, "value")]);
    }

    #[test]
    fn shortcuts_and_values_decode_alike() {
        let columns = [
            ("big", Value::Int(1 << 40)),
            ("small", Value::Int(-3)),
            ("nothing", Value::Null),
            ("flag", Value::Bool(true)),
            ("whole", Value::Int(4)),
        ];
        for shortcuts in [true, false] {
            let decode = |f: &dyn Fn(&mut Source) -> Result<String>| {
                f(&mut Source::new(&columns, shortcuts)).map_err(|e| e.to_string())
            };
            let fine = decode(&|s| {
                let t: (i64, i8, Option<i64>, i64, f64) = FromRow::from_columns(s)?;
                Ok(format!("{t:?}"))
            });
            assert_eq!(fine.unwrap(), "(1099511627776, -3, None, 1, 4.0)");
            let narrow = decode(&|s| {
                let t: (i32, i8, Option<i64>, bool, f64) = FromRow::from_columns(s)?;
                Ok(format!("{t:?}"))
            });
            assert_eq!(
                narrow.unwrap_err(),
                "column big: cannot read integer 1099511627776 (out of range) as i32",
                "shortcuts: {shortcuts}"
            );
            let null = decode(&|s| {
                let t: (i64, i64, i64, bool, f64) = FromRow::from_columns(s)?;
                Ok(format!("{t:?}"))
            });
            assert_eq!(
                null.unwrap_err(),
                "column nothing: cannot read NULL as i64",
                "shortcuts: {shortcuts}"
            );
            let text = decode(&|s| {
                let t: (String, i64, Option<i64>, bool, f64) = FromRow::from_columns(s)?;
                Ok(format!("{t:?}"))
            });
            assert_eq!(
                text.unwrap_err(),
                "column big: cannot read integer as String",
                "shortcuts: {shortcuts}"
            );
        }
    }

    #[test]
    fn from_columns_checks_the_width_and_stops_at_an_unreadable_column() {
        let err = <(i64, String)>::from_columns(&mut Source::new(&sample(), true)).unwrap_err();
        assert!(
            err.to_string().contains("3 column(s) but the tuple has 2"),
            "{err}"
        );
        let err = <(i64, i64, f64)>::from_columns(&mut Source::new(&sample(), true)).unwrap_err();
        assert!(
            matches!(&err, Error::Decode { column, .. } if column == "name"),
            "{err}"
        );

        // A value that cannot be read stops the decoding with its error.
        let unreadable = [("x", Value::Bytes(b"unreadable".to_vec()))];
        let err = <(Vec<u8>,)>::from_columns(&mut Source::new(&unreadable, true));
        assert!(matches!(err, Err(Error::RowNotFound)));

        // The default implementation (for `Row`) builds the row.
        let row: Row = FromRow::from_columns(&mut Source::new(&sample(), true)).unwrap();
        assert_eq!(row.columns(), ["id", "name", "score"]);
        assert_eq!(row.get::<String>("name").unwrap(), "Ada");
    }

    #[test]
    fn take_leaves_null_behind() {
        let mut r = row();
        let name: String = r.take("name").expect("text");
        assert_eq!(name, "x");
        assert_eq!(r.get::<Option<String>>(1).expect("null now"), None);
    }

    #[test]
    fn shared_columns_follow_a_changed_statement() {
        let sql = crate::prepare_sql("SELECT * FROM t", crate::PlaceholderStyle::Dollar)
            .expect("valid SQL");
        let before = ["id", "name"];
        let first = shared_columns(&sql, 2, |i| before[i]);
        assert!(Arc::ptr_eq(&first, &shared_columns(&sql, 2, |i| before[i])));
        // The table gained a column, then one was renamed: never the stale list.
        let added = ["id", "name", "score"];
        let grown = shared_columns(&sql, 3, |i| added[i]);
        assert_eq!(&*grown, ["id", "name", "score"].map(String::from));
        let renamed = ["id", "title", "score"];
        assert_eq!(
            &*shared_columns(&sql, 3, |i| renamed[i]),
            ["id", "title", "score"].map(String::from)
        );
    }

    #[test]
    fn get_by_index_and_name() {
        let r = row();
        assert_eq!(r.get::<i64>(0).unwrap(), 7);
        assert_eq!(r.get::<String>("Name").unwrap(), "x");
        assert_eq!(r.get::<String>("name").unwrap(), "x");
    }

    #[test]
    fn missing_column_lists_available() {
        let err = row().get::<i64>("nope").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Decode);
        assert!(err.to_string().contains("id, Name"), "{err}");
        let err = row().get::<i64>(5).unwrap_err();
        assert!(err.to_string().contains("2 column(s)"), "{err}");
    }

    #[test]
    fn row_values_move_each_column_out_once() {
        let mut source = RowValues::from(row());
        assert_eq!((source.len(), source.name(1)), (2, "Name"));
        assert_eq!(source.is_null(0), Some(false));
        assert_eq!(source.value(0).expect("column 0"), Value::Int(7));
        assert_eq!(source.value(0).expect("read again"), Value::Null);
        let err = source.value(2).expect_err("no third column");
        assert_eq!(
            err.to_string(),
            "column #2: index out of range: the row has 2 column(s)"
        );
        let (id, name): (i64, String) =
            FromRow::from_columns(&mut RowValues::from(row())).expect("fits");
        assert_eq!((id, name.as_str()), (7, "x"));
    }

    #[test]
    fn decode_error_names_column_and_types() {
        let err = row().get::<i64>("Name").unwrap_err();
        assert_eq!(err.to_string(), "column Name: cannot read text as i64");
    }
}
