//! Portable placeholders: SQL is written once with PostgreSQL-style `$1, $2, ...` and
//! rewritten for each backend.
//!
//! [`prepare_sql`] runs a one-pass, byte-level lexer over the SQL that leaves string
//! literals, quoted identifiers, comments and PostgreSQL dollar-quoted bodies alone, and
//! rewrites the placeholders outside them:
//!
//! | style | backend | `WHERE a = $2 AND b = $1 OR c = $2` |
//! |---|---|---|
//! | [`Dollar`](PlaceholderStyle::Dollar) | PostgreSQL | unchanged |
//! | [`NumberedQuestion`](PlaceholderStyle::NumberedQuestion) | SQLite | `WHERE a = ?2 AND b = ?1 OR c = ?2` |
//! | [`Question`](PlaceholderStyle::Question) | MySQL | `WHERE a = ? AND b = ? OR c = ?`, parameters bound in the order `[1, 0, 1]` |
//!
//! Along the way it counts statements and finds the leading keyword, so that drivers can
//! refuse multi-statement SQL and transaction control (`BEGIN`, `SET TRANSACTION ...`) in
//! plain queries. [`SqlCache`] keeps the results so that the same SQL is not lexed twice.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use crate::database_type::DatabaseType;
use crate::error::Error;

/// The highest placeholder number accepted (`$65535`), the PostgreSQL wire-protocol limit.
pub(crate) const MAX_PLACEHOLDER: usize = 65_535;

/// How a backend writes SQL parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlaceholderStyle {
    /// PostgreSQL: `$1, $2, ...`, kept as written.
    Dollar,
    /// SQLite: `$N` becomes `?N`.
    NumberedQuestion,
    /// MySQL / MariaDB: `$N` becomes `?`, and the parameters are re-ordered and duplicated
    /// to match (see [`PreparedSql::param_order`]).
    Question,
}

impl PlaceholderStyle {
    /// The style a backend uses.
    pub fn for_database(database_type: DatabaseType) -> Self {
        match database_type {
            DatabaseType::Postgres => PlaceholderStyle::Dollar,
            DatabaseType::Sqlite => PlaceholderStyle::NumberedQuestion,
            DatabaseType::Mysql => PlaceholderStyle::Question,
        }
    }

    fn index(self) -> usize {
        match self {
            PlaceholderStyle::Dollar => 0,
            PlaceholderStyle::NumberedQuestion => 1,
            PlaceholderStyle::Question => 2,
        }
    }
}

/// SQL rewritten for one backend, with what the lexer learned about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedSql {
    /// The SQL with its placeholders in the backend's style.
    pub sql: String,
    /// The 0-based index of the caller's parameter to bind at each backend position.
    /// For [`PlaceholderStyle::Question`] there is one entry per `?` in the rewritten SQL
    /// (`$2 ... $1 ... $2` gives `[1, 0, 1]`); for the other styles it is
    /// `0..param_count`.
    pub param_order: Vec<usize>,
    /// How many parameters the caller must supply: the highest `$N` referenced, each of
    /// `$1..$N` used (a gap is an error), or the number of `?` when the SQL was written
    /// with native `?` placeholders.
    pub param_count: usize,
    /// The first keyword of the first statement, upper-cased (`SELECT`, `WITH`, `BEGIN`),
    /// skipping whitespace, comments and opening parentheses.
    pub leading_keyword: Option<String>,
    /// The number of non-empty statements separated by top-level `;`. A trailing `;` does
    /// not start another statement. Semicolons inside `CREATE ... BEGIN ... END` bodies
    /// (triggers, procedures, events, `BEGIN ATOMIC` functions) and inside parentheses do not
    /// separate statements.
    pub statement_count: usize,
    /// The leading keywords of the first statement if it is transaction control.
    transaction_control: Option<String>,
    /// The leading keywords of the first statement that is transaction control, if any.
    any_transaction_control: Option<String>,
    /// The SQL used native `?` placeholders rather than `$N`.
    native_question: bool,
    /// See [`PreparedSql::may_change_session`].
    changes_session: bool,
    /// See [`PreparedSql::driver_state`].
    driver_state: DriverState,
}

/// What a driver keeps with one [`PreparedSql`]: created on first use, never copied (a
/// clone starts empty), ignored by `==`.
#[derive(Default)]
struct DriverState(OnceLock<Box<dyn Any + Send + Sync>>);

impl Clone for DriverState {
    fn clone(&self) -> Self {
        DriverState::default()
    }
}

impl PartialEq for DriverState {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Eq for DriverState {}

impl fmt::Debug for DriverState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "DriverState(..)"
        } else {
            "DriverState(empty)"
        })
    }
}

impl PreparedSql {
    /// Whether the first statement is transaction control: `BEGIN`, `START TRANSACTION`,
    /// `COMMIT`, `END`, `ROLLBACK`, `ABORT`, `SAVEPOINT`, `RELEASE`, `XA ...`,
    /// `PREPARE TRANSACTION`, `SET [SESSION|LOCAL|GLOBAL] TRANSACTION`,
    /// `SET SESSION CHARACTERISTICS ...` or `SET autocommit` (including
    /// `SET @@session.autocommit`). Case, leading whitespace and comments do not matter.
    pub fn is_transaction_control(&self) -> bool {
        self.transaction_control.is_some()
    }

    /// The leading keywords of the first statement when it is transaction control
    /// (`"START TRANSACTION"`, `"SET SESSION TRANSACTION"`), for error messages.
    pub fn transaction_control(&self) -> Option<&str> {
        self.transaction_control.as_deref()
    }

    /// Whether any statement (not only the first) is transaction control.
    pub fn contains_transaction_control(&self) -> bool {
        self.any_transaction_control.is_some()
    }

    /// Whether the statement may change session state that must not leak to the next
    /// user of a pooled connection: it starts with `SET`, `USE`, `LOCK`, `UNLOCK`,
    /// `PREPARE`, `EXECUTE`, `DEALLOCATE` or `HANDLER`, creates or drops a `TEMPORARY`
    /// table, takes a named lock (`GET_LOCK(`) or assigns a user variable (`@v := ...`).
    /// Decided once, when the SQL is prepared (and cached), from its text: conservative
    /// (the words inside a string literal count too), so a driver that resets the session
    /// after such a statement may reset it when it did not need to, never the reverse.
    ///
    /// ```
    /// use dbcore::{PlaceholderStyle, prepare_sql};
    ///
    /// let p = |sql| prepare_sql(sql, PlaceholderStyle::Question).unwrap();
    /// assert!(p("SET @x = 1").may_change_session());
    /// assert!(p("SELECT GET_LOCK('job', 5)").may_change_session());
    /// assert!(!p("SELECT id FROM users WHERE id = $1").may_change_session());
    /// ```
    pub fn may_change_session(&self) -> bool {
        self.changes_session
    }

    /// State a driver keeps with this prepared SQL, of the driver's own type `T`,
    /// created empty on first use: found with the SQL, without another lookup by its text
    /// (the PostgreSQL driver keeps the SQL's prepared statement per connection here).
    /// `None` if another type was stored first. A copy (each thread keeps its own copy of
    /// a cached statement, see [`SqlCache`]) starts with none.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use dbcore::{PlaceholderStyle, prepare_sql};
    ///
    /// let p = prepare_sql("SELECT 1", PlaceholderStyle::Dollar).unwrap();
    /// p.driver_state::<AtomicU32>().unwrap().fetch_add(1, Ordering::Relaxed);
    /// assert_eq!(p.driver_state::<AtomicU32>().unwrap().load(Ordering::Relaxed), 1);
    /// assert!(p.driver_state::<String>().is_none());
    /// assert_eq!(p.clone().driver_state::<AtomicU32>().unwrap().load(Ordering::Relaxed), 0);
    /// ```
    pub fn driver_state<T: Default + Send + Sync + 'static>(&self) -> Option<&T> {
        self.driver_state
            .0
            .get_or_init(|| Box::new(T::default()))
            .downcast_ref()
    }

    /// Fails with [`Error::TransactionControl`] if the first statement is transaction
    /// control, which plain `execute` / `query` must refuse.
    pub fn check_not_transaction_control(&self) -> Result<(), Error> {
        match &self.transaction_control {
            Some(statement) => Err(Error::TransactionControl {
                statement: statement.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Fails with [`Error::MultipleStatements`] if the SQL holds more than one statement.
    pub fn check_single_statement(&self) -> Result<(), Error> {
        if self.statement_count > 1 {
            Err(Error::MultipleStatements)
        } else {
            Ok(())
        }
    }

    /// Checks that `given` parameters match what the statement uses.
    ///
    /// A missing parameter is named: `SQL parameter $3: no value given (the statement uses
    /// $1..$3, 2 parameters given)`; surplus parameters are an error too.
    pub fn check_params(&self, given: usize) -> Result<(), Error> {
        use std::cmp::Ordering;
        match given.cmp(&self.param_count) {
            Ordering::Equal => Ok(()),
            Ordering::Less => Err(Error::Parameter {
                position: self.parameter_name(given + 1),
                message: format!(
                    "no value given (the statement uses {}, {} given)",
                    self.uses(),
                    parameters(given)
                ),
            }),
            Ordering::Greater => Err(Error::Parameter {
                position: "count".to_owned(),
                message: if self.param_count == 0 {
                    format!(
                        "{} given, but the statement has no placeholders",
                        parameters(given)
                    )
                } else {
                    format!(
                        "{} given, but the statement uses only {}",
                        parameters(given),
                        self.uses()
                    )
                },
            }),
        }
    }

    /// The caller's parameters in the order the backend binds them (see
    /// [`param_order`](Self::param_order)), after [`check_params`](Self::check_params).
    pub fn ordered_params<'p, T>(&self, params: &'p [T]) -> Result<Vec<&'p T>, Error> {
        self.check_params(params.len())?;
        Ok(self.param_order.iter().map(|&i| &params[i]).collect())
    }

    fn parameter_name(&self, n: usize) -> String {
        if self.native_question {
            format!("#{n}")
        } else {
            format!("${n}")
        }
    }

    fn uses(&self) -> String {
        match (self.native_question, self.param_count) {
            (true, 1) => "1 `?` placeholder".to_owned(),
            (true, n) => format!("{n} `?` placeholders"),
            (false, 1) => "$1".to_owned(),
            (false, n) => format!("$1..${n}"),
        }
    }
}

fn parameters(n: usize) -> String {
    if n == 1 {
        "1 parameter".to_owned()
    } else {
        format!("{n} parameters")
    }
}

/// Rewrites `sql`, written with `$1, $2, ...`, for a backend's placeholder style.
///
/// SQL written with native `?` placeholders passes through unchanged for the `?` styles;
/// mixing `?` and `$N` is an error. `$0` and numbers above 65535 are errors naming their
/// position. Unterminated strings and comments are not errors here (the server reports
/// them), but nothing inside them is rewritten.
///
/// ```
/// use dbcore::{prepare_sql, PlaceholderStyle};
///
/// let p = prepare_sql("SELECT * FROM t WHERE a = $2 AND b = $1 AND note <> '$1'",
///                     PlaceholderStyle::Question).unwrap();
/// assert_eq!(p.sql, "SELECT * FROM t WHERE a = ? AND b = ? AND note <> '$1'");
/// assert_eq!(p.param_order, [1, 0]);
/// assert_eq!(p.param_count, 2);
/// ```
pub fn prepare_sql(sql: &str, style: PlaceholderStyle) -> Result<PreparedSql, Error> {
    Lexer::new(sql, style).run()
}

/// Bytes that may continue an identifier (`$` included, as in PostgreSQL and MySQL).
fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// Bytes that may start an identifier or keyword.
fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

/// Bytes of a dollar-quote tag after its first byte.
fn is_tag_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Index just past a quoted token starting at `start` (which holds `quote`); a doubled
/// quote is an escaped quote, and with `backslash` so is `\` + any byte. Unterminated:
/// the end of the input.
fn skip_quoted(b: &[u8], start: usize, quote: u8, backslash: bool) -> usize {
    let mut j = start + 1;
    while j < b.len() {
        let c = b[j];
        if backslash && c == b'\\' {
            j += 2;
        } else if c == quote {
            if b.get(j + 1) == Some(&quote) {
                j += 2;
            } else {
                return j + 1;
            }
        } else {
            j += 1;
        }
    }
    b.len()
}

/// Index of the newline ending a line comment that starts at `start` (or the end).
fn skip_line(b: &[u8], start: usize) -> usize {
    b[start..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |p| start + p)
}

/// Index just past a `/* */` comment starting at `start`, optionally nested.
fn skip_block_comment(b: &[u8], start: usize, nested: bool) -> usize {
    let mut depth = 1u32;
    let mut j = start + 2;
    while j < b.len() {
        if nested && b[j] == b'/' && b.get(j + 1) == Some(&b'*') {
            depth += 1;
            j += 2;
        } else if b[j] == b'*' && b.get(j + 1) == Some(&b'/') {
            depth -= 1;
            j += 2;
            if depth == 0 {
                return j;
            }
        } else {
            j += 1;
        }
    }
    b.len()
}

/// `line L, column C` (1-based, columns in characters) of byte offset `at`.
fn position(sql: &str, at: usize) -> String {
    let before = &sql[..at];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |p| p + 1);
    let column = before[line_start..].chars().count() + 1;
    format!("line {line}, column {column}")
}

/// How much of each statement's head is kept for keyword detection.
const HEAD_LIMIT: usize = 96;

struct Lexer<'a> {
    sql: &'a str,
    b: &'a [u8],
    style: PlaceholderStyle,
    i: usize,
    /// Rewritten output; `sql[..copied]` is already in it.
    out: String,
    copied: usize,

    /// `$N` seen: highest N, first position, order of occurrence (Question style).
    max_dollar: usize,
    first_dollar: Option<usize>,
    order: Vec<usize>,
    /// Which `$N` appear (bit `N - 1`), to find a number the statement skips.
    used_dollars: Vec<u64>,
    /// Native `?` seen: first position, count (Question), highest implied index (SQLite).
    first_question: Option<usize>,
    question_count: usize,
    sqlite_max: usize,

    /// Inside a MySQL `/*! ... */` executable comment, whose content is code.
    in_exec_comment: bool,

    // Per statement.
    stmt_has_code: bool,
    stmt_words: u32,
    stmt_is_create: bool,
    /// The `CREATE` statement defines a trigger, procedure, function or event, whose body
    /// may be a `BEGIN ... END` block.
    stmt_is_routine: bool,
    paren_depth: u32,
    block_depth: u32,
    pending_end: bool,
    head: String,

    // Results.
    statement_count: usize,
    leading_keyword: Option<String>,
    transaction_control: Option<String>,
    any_transaction_control: Option<String>,
}

impl<'a> Lexer<'a> {
    fn new(sql: &'a str, style: PlaceholderStyle) -> Self {
        Lexer {
            sql,
            b: sql.as_bytes(),
            style,
            i: 0,
            out: String::new(),
            copied: 0,
            max_dollar: 0,
            first_dollar: None,
            order: Vec::new(),
            used_dollars: Vec::new(),
            first_question: None,
            question_count: 0,
            sqlite_max: 0,
            in_exec_comment: false,
            stmt_has_code: false,
            stmt_words: 0,
            stmt_is_create: false,
            stmt_is_routine: false,
            paren_depth: 0,
            block_depth: 0,
            pending_end: false,
            head: String::new(),
            statement_count: 0,
            leading_keyword: None,
            transaction_control: None,
            any_transaction_control: None,
        }
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.b.get(self.i + ahead).copied()
    }

    fn run(mut self) -> Result<PreparedSql, Error> {
        let mysql = self.style == PlaceholderStyle::Question;
        while self.i < self.b.len() {
            let c = self.b[self.i];
            match c {
                b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => {
                    self.head_space();
                    self.i += 1;
                }
                b'\'' | b'"' => {
                    self.code();
                    self.head_space();
                    self.i = skip_quoted(self.b, self.i, c, mysql);
                }
                b'`' => {
                    self.code();
                    self.head_space();
                    self.i = skip_quoted(self.b, self.i, c, false);
                }
                b'-' if self.peek(1) == Some(b'-') && self.dash_dash_is_comment() => {
                    self.head_space();
                    self.i = skip_line(self.b, self.i);
                }
                b'#' if mysql => {
                    self.head_space();
                    self.i = skip_line(self.b, self.i);
                }
                b'/' if self.peek(1) == Some(b'*') => {
                    self.head_space();
                    if mysql && self.peek(2) == Some(b'!') {
                        self.enter_exec_comment(3);
                    } else if mysql && self.peek(2) == Some(b'M') && self.peek(3) == Some(b'!') {
                        self.enter_exec_comment(4);
                    } else {
                        let nested = self.style == PlaceholderStyle::Dollar;
                        self.i = skip_block_comment(self.b, self.i, nested);
                    }
                }
                b'*' if self.in_exec_comment && self.peek(1) == Some(b'/') => {
                    self.in_exec_comment = false;
                    self.head_space();
                    self.i += 2;
                }
                b'$' => self.dollar()?,
                b'?' if self.style != PlaceholderStyle::Dollar => self.question()?,
                b';' => {
                    self.settle_end();
                    if self.paren_depth == 0 && self.block_depth == 0 {
                        self.finish_statement();
                    } else {
                        self.code();
                        self.head_push(';');
                    }
                    self.i += 1;
                }
                b'(' => {
                    self.code();
                    self.paren_depth += 1;
                    self.head_push('(');
                    self.i += 1;
                }
                b')' => {
                    self.code();
                    self.paren_depth = self.paren_depth.saturating_sub(1);
                    self.head_push(')');
                    self.i += 1;
                }
                c if is_ident_start(c) => self.word(),
                b'0'..=b'9' => {
                    self.code();
                    let start = self.i;
                    while self.i < self.b.len()
                        && (self.b[self.i].is_ascii_alphanumeric()
                            || matches!(self.b[self.i], b'_' | b'.'))
                    {
                        self.i += 1;
                    }
                    self.head_push_str(&self.sql[start..self.i]);
                }
                _ => {
                    // Any other ASCII punctuation (bytes >= 0x80 start identifiers).
                    self.code();
                    self.head_push(char::from(c));
                    self.i += 1;
                }
            }
        }
        self.finish_statement();
        self.finish()
    }

    /// `--` starts a comment everywhere except in MySQL, which needs a space or control
    /// character after it (`1--1` is `1 - -1` there).
    fn dash_dash_is_comment(&self) -> bool {
        self.style != PlaceholderStyle::Question || self.peek(2).is_none_or(|c| c <= b' ')
    }

    /// A MySQL `/*!NNNNN ... */` (or MariaDB `/*M!`) comment: its content runs as SQL.
    fn enter_exec_comment(&mut self, prefix: usize) {
        self.i += prefix;
        while self.i < self.b.len() && self.b[self.i].is_ascii_digit() {
            self.i += 1;
        }
        self.in_exec_comment = true;
    }

    /// Marks the current statement as non-empty at a token that is not a word.
    fn code(&mut self) {
        self.stmt_has_code = true;
        self.settle_end();
    }

    fn head_push(&mut self, c: char) {
        if self.head.len() < HEAD_LIMIT {
            self.head.push(c);
        }
    }

    fn head_push_str(&mut self, s: &str) {
        if self.head.len() < HEAD_LIMIT {
            self.head.push_str(s);
        }
    }

    fn head_space(&mut self) {
        if !self.head.is_empty() && !self.head.ends_with(' ') {
            self.head_push(' ');
        }
    }

    fn word(&mut self) {
        let start = self.i;
        let mut end = start + 1;
        while end < self.b.len() && is_ident_char(self.b[end]) {
            end += 1;
        }
        let word = &self.sql[start..end];
        if self.style == PlaceholderStyle::Dollar
            && (word == "E" || word == "e")
            && self.b.get(end) == Some(&b'\'')
        {
            // PostgreSQL escape string: backslash escapes apply.
            self.code();
            self.head_space();
            self.i = skip_quoted(self.b, end, b'\'', true);
            return;
        }
        self.stmt_has_code = true;
        self.track_blocks(word);
        if self.head.len() < HEAD_LIMIT {
            self.head.push_str(&word.to_ascii_uppercase());
        }
        self.i = end;
    }

    /// Tracks `BEGIN ... END` bodies of `CREATE TRIGGER / PROCEDURE / FUNCTION / EVENT`
    /// statements, whose inner `;` do not end the statement.
    fn track_blocks(&mut self, word: &str) {
        self.stmt_words += 1;
        if self.stmt_words == 1 {
            self.stmt_is_create = word.eq_ignore_ascii_case("CREATE");
            return;
        }
        if !self.stmt_is_create {
            return;
        }
        let is = |k: &str| word.eq_ignore_ascii_case(k);
        if self.pending_end {
            // The word after END belongs to it: `END IF`, `END LOOP` close blocks that were
            // never counted; `END CASE`, `END label` and plain `END` close one.
            self.pending_end = false;
            if !(is("IF") || is("LOOP") || is("WHILE") || is("REPEAT") || is("FOR")) {
                self.block_depth = self.block_depth.saturating_sub(1);
            }
            return;
        }
        if is("TRIGGER") || is("PROCEDURE") || is("FUNCTION") || is("EVENT") {
            self.stmt_is_routine = true;
        }
        let opens_block = (is("BEGIN") && self.stmt_is_routine && self.paren_depth == 0)
            || (is("CASE") && self.block_depth > 0);
        if opens_block {
            self.block_depth += 1;
        } else if is("END") && self.block_depth > 0 {
            self.pending_end = true;
        }
    }

    /// An `END` followed by something other than a word closes one block.
    fn settle_end(&mut self) {
        if self.pending_end {
            self.pending_end = false;
            self.block_depth = self.block_depth.saturating_sub(1);
        }
    }

    fn dollar(&mut self) -> Result<(), Error> {
        let start = self.i;
        let after_ident = start > 0 && is_ident_char(self.b[start - 1]);
        if !after_ident {
            if self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
                return self.dollar_param();
            }
            if let Some(tag_end) = self.dollar_tag_end() {
                // A dollar-quoted body: skip to the same tag, or to the end.
                self.code();
                self.head_space();
                let tag = &self.sql[start..=tag_end];
                self.i = self.sql[tag_end + 1..]
                    .find(tag)
                    .map_or(self.b.len(), |p| tag_end + 1 + p + tag.len());
                return Ok(());
            }
        }
        // A lone `$`, or a SQLite `$name` parameter: not ours.
        self.code();
        self.head_push('$');
        self.i += 1;
        Ok(())
    }

    /// For `$tag$` or `$$` at `self.i`, the index of the tag's closing `$`.
    fn dollar_tag_end(&self) -> Option<usize> {
        let mut j = self.i + 1;
        match self.b.get(j) {
            Some(b'$') => return Some(j),
            Some(&c) if is_ident_start(c) => j += 1,
            _ => return None,
        }
        while j < self.b.len() && is_tag_char(self.b[j]) {
            j += 1;
        }
        (self.b.get(j) == Some(&b'$')).then_some(j)
    }

    /// Reads the digits after a `$` or `?` at `start`: (end index, number).
    fn number_after(&self, start: usize, sigil: char) -> Result<(usize, usize), Error> {
        let mut end = start + 1;
        while end < self.b.len() && self.b[end].is_ascii_digit() {
            end += 1;
        }
        let digits = &self.sql[start + 1..end];
        let significant = digits.trim_start_matches('0');
        let value = if significant.len() > 5 {
            usize::MAX
        } else {
            significant.parse::<usize>().unwrap_or(0)
        };
        if value == 0 {
            return Err(Error::Sql(format!(
                "placeholder {sigil}{digits} at {}: placeholders are numbered from {sigil}1",
                position(self.sql, start)
            )));
        }
        if value > MAX_PLACEHOLDER {
            return Err(Error::Sql(format!(
                "placeholder {sigil}{digits} at {}: the highest supported placeholder is \
                 {sigil}{MAX_PLACEHOLDER}",
                position(self.sql, start)
            )));
        }
        Ok((end, value))
    }

    fn dollar_param(&mut self) -> Result<(), Error> {
        let start = self.i;
        let (end, n) = self.number_after(start, '$')?;
        self.code();
        self.head_space();
        self.first_dollar.get_or_insert(start);
        self.max_dollar = self.max_dollar.max(n);
        let (word, bit) = ((n - 1) / 64, (n - 1) % 64);
        if self.used_dollars.len() <= word {
            self.used_dollars.resize(word + 1, 0);
        }
        self.used_dollars[word] |= 1 << bit;
        match self.style {
            PlaceholderStyle::Dollar => {}
            PlaceholderStyle::NumberedQuestion => {
                self.out.push_str(&self.sql[self.copied..start]);
                self.out.push('?');
                self.out.push_str(&n.to_string());
                self.copied = end;
            }
            PlaceholderStyle::Question => {
                self.out.push_str(&self.sql[self.copied..start]);
                self.out.push('?');
                self.copied = end;
                self.order.push(n - 1);
            }
        }
        self.i = end;
        Ok(())
    }

    /// A native `?` placeholder (SQLite and MySQL styles only).
    fn question(&mut self) -> Result<(), Error> {
        let start = self.i;
        self.code();
        self.head_space();
        self.first_question.get_or_insert(start);
        self.question_count += 1;
        if self.style == PlaceholderStyle::NumberedQuestion
            && self.peek(1).is_some_and(|c| c.is_ascii_digit())
        {
            // SQLite `?NNN`.
            let (end, n) = self.number_after(start, '?')?;
            self.sqlite_max = self.sqlite_max.max(n);
            self.i = end;
        } else {
            // SQLite gives a bare `?` the number after the largest so far.
            self.sqlite_max += 1;
            self.i += 1;
        }
        Ok(())
    }

    fn finish_statement(&mut self) {
        self.settle_end();
        if self.stmt_has_code {
            self.statement_count += 1;
            let words: Vec<&str> = self
                .head
                .split(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '@' | '.' | '$')))
                .filter(|w| !w.is_empty())
                .take(4)
                .collect();
            let control = transaction_control(&words);
            if self.statement_count == 1 {
                self.leading_keyword = words
                    .first()
                    .filter(|w| w.starts_with(|c: char| c.is_ascii_alphabetic()))
                    .map(|w| (*w).to_owned());
                self.transaction_control.clone_from(&control);
            }
            if self.any_transaction_control.is_none() {
                self.any_transaction_control = control;
            }
        }
        self.stmt_has_code = false;
        self.stmt_words = 0;
        self.stmt_is_create = false;
        self.stmt_is_routine = false;
        self.paren_depth = 0;
        self.block_depth = 0;
        self.pending_end = false;
        self.head.clear();
    }

    fn finish(mut self) -> Result<PreparedSql, Error> {
        if let (Some(q), Some(d)) = (self.first_question, self.first_dollar) {
            return Err(Error::Sql(format!(
                "the SQL mixes `?` placeholders (first at {}) with `$N` placeholders (first at \
                 {}); write every parameter as $1, $2, ...",
                position(self.sql, q),
                position(self.sql, d)
            )));
        }
        // `$2` without `$1`: PostgreSQL cannot type the skipped parameter (42P18) and the
        // others would ignore its value. The same clear error on every backend.
        if let Some(skipped) = (1..self.max_dollar)
            .find(|&n| self.used_dollars[(n - 1) / 64] & (1 << ((n - 1) % 64)) == 0)
        {
            return Err(Error::Parameter {
                position: format!("${skipped}"),
                message: format!(
                    "the statement uses ${} but not ${skipped}; number the placeholders \
                     from $1 without gaps, one value per number",
                    self.max_dollar
                ),
            });
        }
        let native_question = self.first_question.is_some();
        let (param_count, param_order) = match self.style {
            PlaceholderStyle::Question if native_question => {
                (self.question_count, (0..self.question_count).collect())
            }
            PlaceholderStyle::Question => (self.max_dollar, std::mem::take(&mut self.order)),
            PlaceholderStyle::NumberedQuestion if native_question => {
                (self.sqlite_max, (0..self.sqlite_max).collect())
            }
            _ => (self.max_dollar, (0..self.max_dollar).collect()),
        };
        let sql = if self.copied == 0 {
            self.sql.to_owned()
        } else {
            self.out.push_str(&self.sql[self.copied..]);
            self.out
        };
        let changes_session = changes_session(self.leading_keyword.as_deref(), self.sql);
        Ok(PreparedSql {
            sql,
            param_order,
            param_count,
            leading_keyword: self.leading_keyword,
            statement_count: self.statement_count,
            transaction_control: self.transaction_control,
            any_transaction_control: self.any_transaction_control,
            native_question,
            changes_session,
            driver_state: DriverState::default(),
        })
    }
}

/// See [`PreparedSql::may_change_session`]; `leading` is the first keyword, upper-cased.
fn changes_session(leading: Option<&str>, sql: &str) -> bool {
    let leading = leading.unwrap_or("");
    if matches!(
        leading,
        "SET" | "USE" | "LOCK" | "UNLOCK" | "PREPARE" | "EXECUTE" | "DEALLOCATE" | "HANDLER"
    ) {
        return true;
    }
    let text = sql.as_bytes();
    let has = |word: &[u8]| {
        text.windows(word.len())
            .any(|w| w.eq_ignore_ascii_case(word))
    };
    if (leading == "CREATE" || leading == "DROP") && has(b"TEMPORARY") {
        return true;
    }
    // `GET_LOCK(`: a named lock belongs to the session; `@v := ...` assigns a user
    // variable.
    has(b"GET_LOCK") || has(b":=")
}

/// The leading keywords if `words` (upper-cased, the start of a statement) are transaction
/// control.
fn transaction_control(words: &[&str]) -> Option<String> {
    let word = |i: usize| words.get(i).copied();
    let upto = |last: usize| Some(words[..=last.min(words.len() - 1)].join(" "));
    match word(0)? {
        "BEGIN" => {
            // MariaDB's compound statement `BEGIN NOT ATOMIC ... END` is not a transaction.
            if word(1) == Some("NOT") && word(2) == Some("ATOMIC") {
                None
            } else {
                upto(0)
            }
        }
        "START" | "PREPARE" if word(1) == Some("TRANSACTION") => upto(1),
        "COMMIT" | "END" | "ROLLBACK" | "ABORT" | "SAVEPOINT" | "RELEASE" | "XA" => upto(0),
        "SET" => {
            let mut k = 1;
            if matches!(word(k), Some("SESSION" | "LOCAL" | "GLOBAL")) {
                k += 1;
            }
            let setting = word(k)?;
            let is_autocommit = setting
                .trim_start_matches('@')
                .rsplit('.')
                .next()
                .is_some_and(|s| s == "AUTOCOMMIT");
            if matches!(setting, "TRANSACTION" | "CHARACTERISTICS") || is_autocommit {
                upto(k)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Entries kept per placeholder style unless configured otherwise.
const DEFAULT_CACHE_CAPACITY: usize = 1024;

/// SQL longer than this is prepared every time instead of being cached (such SQL is
/// usually generated, e.g. multi-row inserts, and rarely repeats).
const MAX_CACHED_SQL_LEN: usize = 64 * 1024;

/// Statements each thread keeps its own copies of, per style, before it drops them all.
const THREAD_CACHE_CAPACITY: usize = 256;

thread_local! {
    /// Each thread's own copies of prepared statements (see [`SqlCache`]).
    static THREAD_CACHE: std::cell::RefCell<[CacheMap; 3]> =
        std::cell::RefCell::new(Default::default());
}

type CacheMap = HashMap<Box<str>, Arc<PreparedSql>, BuildHasherDefault<FastHasher>>;

/// A multiply-rotate hash (FxHash's mixing step) over 8-byte words, several times
/// cheaper than the default SipHash. For caches whose keys the application controls
/// (its SQL text, addresses of prepared statements) and whose size is bounded, where
/// SipHash's resistance to crafted collisions buys nothing: the SQL cache here, and
/// drivers' per-statement caches (`HashMap<K, V, BuildHasherDefault<FastHasher>>`).
#[derive(Debug, Default, Clone, Copy)]
pub struct FastHasher(u64);

impl FastHasher {
    const K: u64 = 0x517c_c1b7_2722_0a95;

    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::K);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A thread-safe, bounded cache of [`prepare_sql`] results, one map per style.
///
/// Each thread also keeps its own copies of the statements it used (up to 256 per
/// style, shared by every `SqlCache`: a prepared statement depends only on its text and
/// style). A repeated statement is then found without the shared map's lock and without
/// touching a reference count that other threads write, which under load is a cache
/// line bouncing between cores on every call. It does not allocate. When a style's
/// shared map is full, about half of its entries are evicted. Errors are not cached.
pub struct SqlCache {
    maps: [RwLock<CacheMap>; 3],
    capacity: usize,
}

impl SqlCache {
    /// A cache keeping up to 1024 entries per style.
    pub fn new() -> Self {
        SqlCache::with_capacity(DEFAULT_CACHE_CAPACITY)
    }

    /// A cache keeping up to `capacity` entries per style (`0` disables caching).
    pub fn with_capacity(capacity: usize) -> Self {
        SqlCache {
            maps: Default::default(),
            capacity,
        }
    }

    /// The prepared form of `sql` for `style`, from the cache or freshly prepared.
    pub fn get_or_prepare(
        &self,
        sql: &str,
        style: PlaceholderStyle,
    ) -> Result<Arc<PreparedSql>, Error> {
        if self.capacity == 0 || sql.len() > MAX_CACHED_SQL_LEN {
            return Ok(Arc::new(prepare_sql(sql, style)?));
        }
        let own = THREAD_CACHE.try_with(|cache| {
            let cache = cache.try_borrow().ok()?;
            cache[style.index()].get(sql).cloned()
        });
        if let Ok(Some(hit)) = own {
            return Ok(hit);
        }
        let shared = self.shared_get_or_prepare(sql, style)?;
        // This thread's own copy, so that its later hits touch no shared counter.
        let own = Arc::new(PreparedSql::clone(&shared));
        let _ = THREAD_CACHE.try_with(|cache| {
            if let Ok(mut cache) = cache.try_borrow_mut() {
                let map = &mut cache[style.index()];
                if map.len() >= THREAD_CACHE_CAPACITY {
                    map.clear();
                }
                map.insert(sql.into(), Arc::clone(&own));
            }
        });
        Ok(own)
    }

    /// The shared map's entry for `sql`, prepared and inserted if missing.
    fn shared_get_or_prepare(
        &self,
        sql: &str,
        style: PlaceholderStyle,
    ) -> Result<Arc<PreparedSql>, Error> {
        let map = &self.maps[style.index()];
        if let Some(hit) = map.read().unwrap_or_else(PoisonError::into_inner).get(sql) {
            return Ok(Arc::clone(hit));
        }
        let prepared = Arc::new(prepare_sql(sql, style)?);
        let mut map = map.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(hit) = map.get(sql) {
            // Another thread prepared it meanwhile.
            return Ok(Arc::clone(hit));
        }
        if map.len() >= self.capacity {
            let evict = map.len() / 2 + 1;
            let mut seen = 0;
            map.retain(|_, _| {
                seen += 1;
                seen > evict
            });
        }
        map.insert(sql.into(), Arc::clone(&prepared));
        Ok(prepared)
    }

    /// The number of cached entries, over all styles.
    pub fn len(&self) -> usize {
        self.maps
            .iter()
            .map(|m| m.read().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every entry.
    pub fn clear(&self) {
        for m in &self.maps {
            m.write().unwrap_or_else(PoisonError::into_inner).clear();
        }
    }
}

impl Default for SqlCache {
    fn default() -> Self {
        SqlCache::new()
    }
}

impl fmt::Debug for SqlCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlCache")
            .field("len", &self.len())
            .field("capacity_per_style", &self.capacity)
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic on failure
mod tests {
    use super::*;
    use PlaceholderStyle::{Dollar, NumberedQuestion, Question};

    /// The placeholder `sql` skips (the parameter error's position).
    fn skipped(sql: &str, style: PlaceholderStyle) -> String {
        match prepare_sql(sql, style) {
            Err(Error::Parameter { position, .. }) => position,
            other => panic!("{sql:?}: expected a skipped placeholder, got {other:?}"),
        }
    }

    fn p(sql: &str, style: PlaceholderStyle) -> PreparedSql {
        prepare_sql(sql, style).unwrap_or_else(|e| panic!("{sql:?}: {e}"))
    }

    #[test]
    fn session_changes_are_detected() {
        for sql in [
            "SET @x = 1",
            "set sql_mode = ''",
            "USE other",
            "LOCK TABLES t WRITE",
            "UNLOCK TABLES",
            "CREATE TEMPORARY TABLE t (id INT)",
            "drop temporary table t",
            "SELECT GET_LOCK('x', 1)",
            "select get_lock('x', 1)",
            "SELECT @a := 1",
            "PREPARE s FROM 'SELECT 1'",
        ] {
            assert!(p(sql, Question).may_change_session(), "{sql}");
        }
        for sql in [
            "SELECT 1",
            "INSERT INTO t VALUES ($1)",
            "CREATE TABLE t (id INT)",
            "SELECT my_get_value, get_ FROM t_",
            "SELECT a FROM t WHERE b = $1",
        ] {
            assert!(!p(sql, Question).may_change_session(), "{sql}");
            assert!(!p(sql, Dollar).may_change_session(), "{sql}");
        }
    }

    fn rewritten(sql: &str, style: PlaceholderStyle) -> String {
        p(sql, style).sql
    }

    #[test]
    fn basic_rewriting() {
        let sql = "SELECT * FROM t WHERE a = $1 AND b = $2";
        assert_eq!(rewritten(sql, Dollar), sql);
        assert_eq!(
            rewritten(sql, NumberedQuestion),
            "SELECT * FROM t WHERE a = ?1 AND b = ?2"
        );
        assert_eq!(
            rewritten(sql, Question),
            "SELECT * FROM t WHERE a = ? AND b = ?"
        );
        for style in [Dollar, NumberedQuestion, Question] {
            let r = p(sql, style);
            assert_eq!(r.param_count, 2);
            assert_eq!(r.param_order, [0, 1]);
            assert_eq!(r.statement_count, 1);
            assert_eq!(r.leading_keyword.as_deref(), Some("SELECT"));
        }
    }

    #[test]
    fn reused_and_out_of_order_parameters() {
        let r = p("SELECT $1, $1", Question);
        assert_eq!(r.sql, "SELECT ?, ?");
        assert_eq!(r.param_order, [0, 0]);
        assert_eq!(r.param_count, 1);

        let r = p("UPDATE t SET a = $2 WHERE id = $1", Question);
        assert_eq!(r.sql, "UPDATE t SET a = ? WHERE id = ?");
        assert_eq!(r.param_order, [1, 0]);
        assert_eq!(r.param_count, 2);

        let r = p("SELECT $2, $1, $2", NumberedQuestion);
        assert_eq!(r.sql, "SELECT ?2, ?1, ?2");
        assert_eq!(r.param_order, [0, 1]);
        assert_eq!(r.param_count, 2);

        // A skipped number is a parameter error naming it, on every backend.
        for style in [Dollar, Question, NumberedQuestion] {
            let err = prepare_sql("SELECT $3, $1", style).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Parameter, "{err}");
            assert_eq!(
                err.to_string(),
                "SQL parameter $2: the statement uses $3 but not $2; number the placeholders \
                 from $1 without gaps, one value per number"
            );
        }
        assert!(prepare_sql("SELECT $2", Dollar).is_err());
        let big = format!(
            "SELECT $70, {}",
            (1..70)
                .map(|n| format!("${n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        assert_eq!(p(&big, Dollar).param_count, 70);
        let skips_65 = big.replace("$65,", "$64,");
        assert!(
            prepare_sql(&skips_65, Dollar)
                .unwrap_err()
                .to_string()
                .contains("$65")
        );

        // Leading zeros and many digits.
        assert_eq!(
            rewritten(
                "SELECT $01, $2, $3, $4, $5, $6, $7, $8, $9, $10",
                NumberedQuestion
            ),
            "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10"
        );
        let all: Vec<String> = (1..=65_535).map(|n| format!("${n}")).collect();
        assert_eq!(
            p(&format!("SELECT {}", all.join(",")), Question).param_count,
            65_535
        );
    }

    #[test]
    fn ordered_params_follow_param_order() {
        let r = p("SELECT $2, $1, $2", Question);
        assert_eq!(r.ordered_params(&["a", "b"]).unwrap(), [&"b", &"a", &"b"]);
        assert!(r.ordered_params(&["a"]).is_err());
    }

    #[test]
    fn strings_are_left_alone() {
        for style in [Dollar, NumberedQuestion, Question] {
            let r = p("SELECT '$1', 'it''s $2', $1", style);
            assert_eq!(r.param_count, 1, "{style:?}");
            assert!(r.sql.starts_with("SELECT '$1', 'it''s $2', "), "{}", r.sql);
        }
        assert_eq!(
            rewritten("SELECT 'a;b', $1 -- c", Question),
            "SELECT 'a;b', ? -- c"
        );
        assert_eq!(p("SELECT 'a;b'; ", Question).statement_count, 1);
    }

    #[test]
    fn postgres_escape_strings() {
        // E'\'' is one quote; the $1 after it is inside the literal... until the closing quote.
        // (A skipped `$1` means it was read as part of the literal.)
        assert_eq!(skipped(r"SELECT E'\'$1', $2", Dollar), "$1");
        let r = p(r"SELECT e'it\'s $1' || $1", Dollar);
        assert_eq!(r.param_count, 1);
        // Without E, a backslash is an ordinary character in PostgreSQL.
        let r = p(r"SELECT '\', $1", Dollar);
        assert_eq!(r.param_count, 1);
        // An identifier ending in e is not an escape-string prefix.
        let r = p(r"SELECT type'\', $1", Dollar);
        assert_eq!(r.param_count, 1);
    }

    #[test]
    fn mysql_backslash_escapes() {
        let r = p(r"SELECT 'it\'s $1', $1", Question);
        assert_eq!(r.sql, r"SELECT 'it\'s $1', ?");
        assert_eq!(r.param_count, 1);
        // (A skipped `$1` means it was read as part of the identifier.)
        assert_eq!(skipped(r#"SELECT "a\"$1", $2"#, Question), "$1");
        let r = p(r"SELECT 'a\\', $1", Question);
        assert_eq!(r.sql, r"SELECT 'a\\', ?");
        // SQLite has no backslash escapes.
        let r = p(r"SELECT 'a\', $1", NumberedQuestion);
        assert_eq!(r.sql, r"SELECT 'a\', ?1");
    }

    #[test]
    fn quoted_identifiers_are_left_alone() {
        for style in [Dollar, NumberedQuestion, Question] {
            let r = p(r#"SELECT "col$1", "a""$2", `b$3`, $1 FROM t"#, style);
            assert_eq!(r.param_count, 1, "{style:?}");
        }
        assert_eq!(
            rewritten("SELECT `a``$1`, $1", Question),
            "SELECT `a``$1`, ?"
        );
    }

    #[test]
    fn dollar_inside_identifiers_is_not_a_placeholder() {
        for style in [Dollar, NumberedQuestion, Question] {
            let r = p("SELECT a$1, a$1$2, x$$, $1 FROM t$2", style);
            assert_eq!(r.param_count, 1, "{style:?}: {}", r.sql);
        }
        assert_eq!(
            rewritten("SELECT a$1, $1 FROM t$2", Question),
            "SELECT a$1, ? FROM t$2"
        );
        assert_eq!(rewritten("SELECT ünï$1, $1", Question), "SELECT ünï$1, ?");
        assert_eq!(
            rewritten("SELECT 'é', $1", NumberedQuestion),
            "SELECT 'é', ?1"
        );
    }

    #[test]
    fn comments_are_left_alone() {
        for style in [Dollar, NumberedQuestion, Question] {
            let r = p("SELECT $1 -- and $2\n, /* $3 */ $1", style);
            assert_eq!(r.param_count, 1, "{style:?}");
        }
        assert_eq!(
            rewritten("SELECT $1 -- $2\n/* $3 */", Question),
            "SELECT ? -- $2\n/* $3 */"
        );
        // `#` is a comment in MySQL only (an operator in PostgreSQL).
        assert_eq!(p("SELECT $1 # $2", Question).param_count, 1);
        assert_eq!(p("SELECT $1 # $2", Dollar).param_count, 2);
        // MySQL needs whitespace after `--`.
        assert_eq!(p("SELECT 1--$1", Question).param_count, 1);
        assert_eq!(p("SELECT 1--$1", Dollar).param_count, 0);
        assert_eq!(p("SELECT 1 --\t$1", Question).param_count, 0);
        assert_eq!(p("SELECT 1 --", Question).statement_count, 1);
    }

    #[test]
    fn nested_comments_in_postgres_only() {
        let sql = "SELECT /* a /* b */ $1 */ $2";
        // PostgreSQL: `$1` is inside the nested comment, so `$2` skips it.
        assert_eq!(skipped(sql, Dollar), "$1");
        let r = p(sql, Question);
        assert_eq!(r.sql, "SELECT /* a /* b */ ? */ ?");
        assert_eq!(r.param_order, [0, 1]);
    }

    #[test]
    fn mysql_executable_comments_are_code() {
        let r = p("SELECT /*!40000 $1, */ $2", Question);
        assert_eq!(r.sql, "SELECT /*!40000 ?, */ ?");
        assert_eq!(r.param_order, [0, 1]);
        let r = p("SELECT /*M!100000 $1 */ 1", Question);
        assert_eq!(r.sql, "SELECT /*M!100000 ? */ 1");
        // Optimizer hints and ordinary comments are not.
        let r = p("SELECT /*+ $1 */ 1", Question);
        assert_eq!(r.param_count, 0);
        // A statement separator inside an executable comment separates statements.
        assert_eq!(
            p("SELECT 1 /*!; DROP TABLE t */", Question).statement_count,
            2
        );
    }

    #[test]
    fn dollar_quoted_bodies_are_left_alone() {
        let sql = "CREATE FUNCTION f(int) RETURNS int AS $$ SELECT $1; $$ LANGUAGE sql";
        for style in [Dollar, NumberedQuestion, Question] {
            let r = p(sql, style);
            assert_eq!(r.sql, sql, "{style:?}");
            assert_eq!(r.param_count, 0);
            assert_eq!(r.statement_count, 1);
        }
        let r = p(
            "DO $body$ BEGIN PERFORM $1; $x$ $2 $x$; END $body$; SELECT $1",
            Dollar,
        );
        assert_eq!(r.param_count, 1);
        assert_eq!(r.statement_count, 2);
        let r = p("SELECT $tag$ $1 $tag$, $1", Question);
        assert_eq!(r.sql, "SELECT $tag$ $1 $tag$, ?");
        // Unterminated: nothing after it is rewritten.
        let r = p("SELECT $$ $1", Question);
        assert_eq!(r.sql, "SELECT $$ $1");
        assert_eq!(r.param_count, 0);
        // A `$` that starts no tag is kept.
        assert_eq!(rewritten("SELECT $ , $1", Question), "SELECT $ , ?");
    }

    #[test]
    fn unterminated_tokens_stop_rewriting_without_error() {
        for sql in [
            "SELECT '$1",
            "SELECT \"$1",
            "SELECT `$1",
            "SELECT /* $1",
            "SELECT 1 -- $1",
        ] {
            let r = p(sql, Question);
            assert_eq!(r.sql, sql);
            assert_eq!(r.param_count, 0, "{sql}");
            assert_eq!(r.statement_count, 1);
        }
        assert_eq!(rewritten("SELECT $1, 'abc", Question), "SELECT ?, 'abc");
        assert_eq!(p(r"SELECT E'\", Dollar).param_count, 0);
    }

    #[test]
    fn casts_and_operators() {
        assert_eq!(
            rewritten("SELECT $1::int, a::text, b->>'k' FROM t", NumberedQuestion),
            "SELECT ?1::int, a::text, b->>'k' FROM t"
        );
        // `?` is a JSON operator in PostgreSQL and is left alone there.
        let r = p(
            "SELECT data ? 'key', data ?| $1 FROM t WHERE id = $2",
            Dollar,
        );
        assert_eq!(r.param_count, 2);
        assert_eq!(
            r.sql,
            "SELECT data ? 'key', data ?| $1 FROM t WHERE id = $2"
        );
    }

    #[test]
    fn invalid_placeholder_numbers() {
        for (sql, needle) in [
            ("SELECT $0", "placeholder $0 at line 1, column 8"),
            (
                "SELECT 1,\n  $65536",
                "placeholder $65536 at line 2, column 3",
            ),
            (
                "SELECT $99999999999999999999999",
                "highest supported placeholder is $65535",
            ),
            ("SELECT $000", "numbered from $1"),
        ] {
            for style in [Dollar, NumberedQuestion, Question] {
                let err = prepare_sql(sql, style).unwrap_err();
                assert!(matches!(err, Error::Sql(_)), "{err:?}");
                assert!(err.to_string().contains(needle), "{err}");
            }
        }
        // Inside a string it is not a placeholder, so not an error.
        assert_eq!(p("SELECT '$0'", Question).param_count, 0);
    }

    #[test]
    fn native_question_marks() {
        let r = p("SELECT ?, ? FROM t", Question);
        assert_eq!(r.sql, "SELECT ?, ? FROM t");
        assert_eq!(r.param_order, [0, 1]);
        assert_eq!(r.param_count, 2);
        let r = p("SELECT ?, ? FROM t", NumberedQuestion);
        assert_eq!(r.sql, "SELECT ?, ? FROM t");
        assert_eq!(r.param_count, 2);
        let r = p("SELECT ?, ?5, ?", NumberedQuestion);
        assert_eq!(r.param_count, 6);
        assert_eq!(r.param_order, [0, 1, 2, 3, 4, 5]);
        // `?` inside strings and comments does not count.
        assert_eq!(p("SELECT '?', ? -- ?", Question).param_count, 1);
        // Mixing is an error in the `?` styles.
        for style in [NumberedQuestion, Question] {
            let err = prepare_sql("SELECT $1, ?", style).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("mixes `?` placeholders"), "{msg}");
            assert!(msg.contains("line 1, column 12"), "{msg}");
            assert!(msg.contains("line 1, column 8"), "{msg}");
        }
        let err = prepare_sql("SELECT ?0", NumberedQuestion).unwrap_err();
        assert!(err.to_string().contains("placeholder ?0"), "{err}");
    }

    #[test]
    fn statement_counting() {
        let count = |sql: &str, style| p(sql, style).statement_count;
        for style in [Dollar, NumberedQuestion, Question] {
            assert_eq!(count("", style), 0);
            assert_eq!(count("  \n ", style), 0);
            assert_eq!(count(";;", style), 0);
            assert_eq!(count("-- only a comment", style), 0);
            assert_eq!(count("/* c */ ; ", style), 0);
            assert_eq!(count("SELECT 1", style), 1);
            assert_eq!(count("SELECT 1;", style), 1);
            assert_eq!(count("SELECT 1 ;  -- done\n", style), 1);
            assert_eq!(count("SELECT 1; SELECT 2", style), 2);
            assert_eq!(count("SELECT 1;; SELECT 2;", style), 2);
            assert_eq!(count("SELECT ';'; ", style), 1);
            assert_eq!(count("SELECT 1 /* ; */", style), 1);
            assert_eq!(count("INSERT INTO t VALUES (1); DELETE FROM t", style), 2);
        }
        // PostgreSQL rules with several actions in parentheses.
        assert_eq!(
            count(
                "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); \
                 INSERT INTO b VALUES (2))",
                Dollar
            ),
            1
        );
    }

    #[test]
    fn create_bodies_are_one_statement() {
        let trigger = "CREATE TRIGGER tr AFTER INSERT ON a BEGIN \
                       INSERT INTO b VALUES (new.id); \
                       UPDATE c SET x = CASE WHEN new.id > 1 THEN 2 ELSE 3 END; \
                       END; SELECT 1";
        let r = p(trigger, NumberedQuestion);
        assert_eq!(r.statement_count, 2);
        assert!(!r.contains_transaction_control());

        let function = "CREATE FUNCTION f() RETURNS int LANGUAGE sql \
                        BEGIN ATOMIC SELECT 1; SELECT 2; END";
        assert_eq!(p(function, Dollar).statement_count, 1);

        let procedure = "CREATE PROCEDURE p() BEGIN \
                         IF 1 THEN SELECT 1; END IF; \
                         WHILE 0 DO SELECT 2; END WHILE; \
                         CASE 1 WHEN 1 THEN SELECT 3; END CASE; \
                         SELECT 4; END; SELECT 5";
        assert_eq!(p(procedure, Question).statement_count, 2);

        // Only routine bodies are blocks: a column named `begin` does not hide a `;`.
        assert_eq!(
            p("CREATE VIEW v AS SELECT 1 AS begin; DROP TABLE t", Dollar).statement_count,
            2
        );
        assert_eq!(
            p("CREATE TABLE begin (x int); DROP TABLE t", Dollar).statement_count,
            2
        );
        let event = "CREATE EVENT e ON SCHEDULE EVERY 1 HOUR DO BEGIN \
                     DELETE FROM a; DELETE FROM b; END";
        assert_eq!(p(event, Question).statement_count, 1);

        // BEGIN/END outside CREATE are transaction control, counted as statements.
        let r = p("BEGIN; SELECT 1; END;", Dollar);
        assert_eq!(r.statement_count, 3);
        // An END followed by punctuation still closes its block.
        let r = p(
            "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT (CASE WHEN 1 THEN 2 END), \
             CASE WHEN 1 THEN 2 END; END; SELECT 1",
            NumberedQuestion,
        );
        assert_eq!(r.statement_count, 2);
    }

    #[test]
    fn leading_keyword() {
        let kw = |sql: &str| p(sql, Dollar).leading_keyword;
        assert_eq!(kw("select 1").as_deref(), Some("SELECT"));
        assert_eq!(
            kw("  -- hi\n  /* there */ insert into t values (1)").as_deref(),
            Some("INSERT")
        );
        assert_eq!(kw("(SELECT 1) UNION (SELECT 2)").as_deref(), Some("SELECT"));
        assert_eq!(
            kw("WITH x AS (SELECT 1) SELECT * FROM x").as_deref(),
            Some("WITH")
        );
        assert_eq!(kw(";; Begin").as_deref(), Some("BEGIN"));
        assert_eq!(kw(""), None);
        assert_eq!(kw("'abc'"), None);
        assert_eq!(
            p("# c\nSELECT 1", Question).leading_keyword.as_deref(),
            Some("SELECT")
        );
    }

    #[test]
    fn transaction_control_detection() {
        let yes = [
            ("BEGIN", "BEGIN"),
            ("begin", "BEGIN"),
            ("  /* c */ Begin Transaction", "BEGIN"),
            ("-- x\nCOMMIT", "COMMIT"),
            ("BEGIN IMMEDIATE", "BEGIN"),
            ("BEGIN ISOLATION LEVEL SERIALIZABLE", "BEGIN"),
            ("start transaction read only", "START TRANSACTION"),
            ("START\n  TRANSACTION", "START TRANSACTION"),
            ("commit work", "COMMIT"),
            ("END", "END"),
            ("ROLLBACK", "ROLLBACK"),
            ("rollback to savepoint a", "ROLLBACK"),
            ("ABORT", "ABORT"),
            ("savepoint a", "SAVEPOINT"),
            ("release savepoint a", "RELEASE"),
            ("SET TRANSACTION READ ONLY", "SET TRANSACTION"),
            (
                "set transaction isolation level serializable",
                "SET TRANSACTION",
            ),
            (
                "SET SESSION TRANSACTION READ ONLY",
                "SET SESSION TRANSACTION",
            ),
            (
                "SET GLOBAL TRANSACTION READ WRITE",
                "SET GLOBAL TRANSACTION",
            ),
            (
                "set session characteristics as transaction read only",
                "SET SESSION CHARACTERISTICS",
            ),
            ("SET autocommit=0", "SET AUTOCOMMIT"),
            ("SET autocommit = 0", "SET AUTOCOMMIT"),
            ("set session autocommit = off", "SET SESSION AUTOCOMMIT"),
            ("SET @@autocommit = 0", "SET @@AUTOCOMMIT"),
            ("SET @@session.autocommit=0", "SET @@SESSION.AUTOCOMMIT"),
            ("XA START 'x'", "XA"),
            ("PREPARE TRANSACTION 'x'", "PREPARE TRANSACTION"),
            ("COMMIT PREPARED 'x'", "COMMIT"),
            ("(BEGIN)", "BEGIN"),
        ];
        for (sql, statement) in yes {
            for style in [Dollar, NumberedQuestion, Question] {
                let r = p(sql, style);
                assert!(r.is_transaction_control(), "{sql:?} {style:?}");
                assert_eq!(r.transaction_control(), Some(statement), "{sql:?}");
                assert!(r.contains_transaction_control());
            }
        }
        let no = [
            "SELECT 1",
            "SELECT 'BEGIN'",
            "UPDATE t SET autocommit = 1",
            "SET search_path = app",
            "SET NAMES utf8mb4",
            "SET SESSION sql_mode = ''",
            "SET",
            "START SLAVE",
            "START REPLICA",
            "PREPARE s AS SELECT 1",
            "BEGIN NOT ATOMIC SELECT 1; END",
            "DO $$BEGIN COMMIT; END$$",
            "BEGINNING",
            "ENDPOINT",
            "\"BEGIN\"",
            "",
            "-- BEGIN",
            "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END",
        ];
        for sql in no {
            let r = p(sql, Dollar);
            assert!(!r.is_transaction_control(), "{sql:?}");
            assert!(r.check_not_transaction_control().is_ok());
        }
        let r = p("SELECT 1; COMMIT", Dollar);
        assert!(!r.is_transaction_control());
        assert!(r.contains_transaction_control());
        let err = p("begin", Dollar)
            .check_not_transaction_control()
            .unwrap_err();
        assert!(matches!(err, Error::TransactionControl { ref statement } if statement == "BEGIN"));
    }

    #[test]
    fn single_statement_check() {
        assert!(p("SELECT 1;", Dollar).check_single_statement().is_ok());
        assert!(matches!(
            p("SELECT 1; DROP TABLE t", Dollar).check_single_statement(),
            Err(Error::MultipleStatements)
        ));
    }

    #[test]
    fn parameter_count_errors() {
        let r = p("SELECT $1, $2, $3", Question);
        assert!(r.check_params(3).is_ok());
        let err = r.check_params(2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SQL parameter $3: no value given (the statement uses $1..$3, 2 parameters given)"
        );
        let err = r.check_params(0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SQL parameter $1: no value given (the statement uses $1..$3, 0 parameters given)"
        );
        let err = r.check_params(5).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SQL parameter count: 5 parameters given, but the statement uses only $1..$3"
        );
        let err = p("SELECT $1", Dollar).check_params(0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SQL parameter $1: no value given (the statement uses $1, 0 parameters given)"
        );
        let err = p("SELECT 1", Dollar).check_params(1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SQL parameter count: 1 parameter given, but the statement has no placeholders"
        );
        let err = p("SELECT ?, ?", Question).check_params(1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SQL parameter #2: no value given (the statement uses 2 `?` placeholders, \
             1 parameter given)"
        );
        assert_eq!(err.kind(), crate::error::ErrorKind::Parameter);
    }

    #[test]
    fn style_for_database() {
        assert_eq!(
            PlaceholderStyle::for_database(DatabaseType::Postgres),
            Dollar
        );
        assert_eq!(
            PlaceholderStyle::for_database(DatabaseType::Sqlite),
            NumberedQuestion
        );
        assert_eq!(
            PlaceholderStyle::for_database(DatabaseType::Mysql),
            Question
        );
    }

    #[test]
    fn cache_hits_share_the_entry() {
        let cache = SqlCache::new();
        assert!(cache.is_empty());
        let a = cache.get_or_prepare("SELECT $1", Question).unwrap();
        let b = cache.get_or_prepare("SELECT $1", Question).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.sql, "SELECT ?");
        let c = cache.get_or_prepare("SELECT $1", NumberedQuestion).unwrap();
        assert_eq!(c.sql, "SELECT ?1");
        assert_eq!(cache.len(), 2);
        assert!(cache.get_or_prepare("SELECT $0", Question).is_err());
        assert_eq!(cache.len(), 2);
        cache.clear();
        assert!(cache.is_empty());
        assert!(format!("{cache:?}").contains("len: 0"));
    }

    #[test]
    fn cache_is_bounded() {
        let cache = SqlCache::with_capacity(8);
        for i in 0..100 {
            let sql = format!("SELECT {i}, $1");
            let r = cache.get_or_prepare(&sql, Dollar).unwrap();
            assert_eq!(r.sql, sql);
            assert!(cache.len() <= 8);
        }
        let disabled = SqlCache::with_capacity(0);
        disabled.get_or_prepare("SELECT 1", Dollar).unwrap();
        assert!(disabled.is_empty());
        let long = format!("SELECT '{}'", "x".repeat(MAX_CACHED_SQL_LEN));
        cache.clear();
        cache.get_or_prepare(&long, Dollar).unwrap();
        assert!(cache.is_empty());
    }

    #[test]
    fn cache_is_shared_across_threads() {
        let cache = Arc::new(SqlCache::with_capacity(16));
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let cache = Arc::clone(&cache);
                std::thread::spawn(move || {
                    for i in 0..200 {
                        let sql = format!("SELECT {}, $1, $2", (i + t) % 20);
                        let r = cache.get_or_prepare(&sql, Question).unwrap();
                        assert_eq!(r.param_order, [0, 1]);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert!(cache.len() <= 16);
    }

    #[test]
    fn each_thread_hits_its_own_copy_of_the_shared_entry() {
        let cache = Arc::new(SqlCache::new());
        let sql = "SELECT $2, $1 /* each_thread_hits_its_own_copy */";
        let here = cache.get_or_prepare(sql, Question).unwrap();
        assert!(Arc::ptr_eq(
            &here,
            &cache.get_or_prepare(sql, Question).unwrap()
        ));
        let other = {
            let cache = Arc::clone(&cache);
            std::thread::spawn(move || {
                let a = cache.get_or_prepare(sql, Question).unwrap();
                let b = cache.get_or_prepare(sql, Question).unwrap();
                assert!(Arc::ptr_eq(&a, &b));
                a
            })
            .join()
            .unwrap()
        };
        // The same statement, not the same allocation: no reference count is shared.
        assert!(!Arc::ptr_eq(&here, &other));
        assert_eq!(*here, *other);
        assert_eq!(here.sql, "SELECT ?, ? /* each_thread_hits_its_own_copy */");
        assert_eq!(here.param_order, [1, 0]);
        assert_eq!(cache.len(), 1);
        // A cache with caching disabled never hands out a thread's copy.
        let off = SqlCache::with_capacity(0);
        let a = off.get_or_prepare(sql, Question).unwrap();
        assert!(!Arc::ptr_eq(
            &a,
            &off.get_or_prepare(sql, Question).unwrap()
        ));
        assert!(off.is_empty());
    }
}
