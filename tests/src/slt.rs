//! A SQL logic test runner on the `sqllogictest` crate that executes the corpus through
//! the public [`Database`] API: `statement` records with
//! [`execute_batch`](dbcore::Executor::execute_batch) (some records hold several
//! statements), `query` records with [`query`](dbcore::Executor::query).
//!
//! It applies the adaptations `tests/sqllogictest/SOURCE.md` lists for the SQLite corpus:
//!
//! 1. trailing `# comments` on `skipif` / `onlyif` lines are stripped;
//! 2. a `halt` preceded by conditions is evaluated here (sqllogictest-rs ignores them);
//! 3. the engine label is the corpus's (`sqlite`, `postgresql`, `mysql`);
//! 4. `control resultmode valuewise` is put at the top of each script;
//! 5. the hash threshold is 8, like the C harness;
//! 6. values are rendered by the record's type letters (`I`, `R`, `T`) like the C harness,
//!    with `NULL` and `(empty)`;
//! 7. multi-statement records run through `execute_batch`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use dbcore::{Database, Error, Value};
use sqllogictest::{
    AsyncDB, ColumnType, DBOutput, DefaultColumnType, QueryExpect, Record, RecordOutput, Runner,
};

use crate::caps::Caps;

/// The directory holding the corpus files: the copy in this package
/// (`tests/sqllogictest`), or else the shared one next to the workspace
/// (`../shared/peer-tests/sqllogictest`).
///
/// # Panics
/// When neither exists, naming both paths.
pub fn corpus_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let own = manifest.join("sqllogictest");
    let shared = manifest.join("../../shared/peer-tests/sqllogictest");
    for dir in [&own, &shared] {
        if dir.join("select1.test").is_file() {
            return dir.clone();
        }
    }
    panic!(
        "the SQL logic test corpus is missing: expected the .test files in {} or {}",
        own.display(),
        shared.display()
    );
}

/// The `.test` files of the corpus, sorted by name.
///
/// # Panics
/// When the corpus directory is missing or unreadable, or holds no `.test` file.
pub fn corpus_files() -> Vec<PathBuf> {
    let dir = corpus_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .test files in {}", dir.display());
    files
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SltStats {
    /// `statement` records executed.
    pub statements: usize,
    /// `query` records executed.
    pub queries: usize,
    /// `statement` / `query` records skipped by `skipif` / `onlyif`.
    pub skipped: usize,
    /// Whether a `halt` that applies to this engine ended the script early.
    pub halted: bool,
}

/// A record whose outcome differed from the script, or a script that did not parse.
#[derive(Debug, Clone)]
pub struct SltFailure(String);

impl fmt::Display for SltFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SltFailure {}

/// What the next `run` call is for: `AsyncDB::run` gets only the SQL, so the driver
/// loop stores the record's kind and type letters here before each record.
#[derive(Debug, Clone)]
enum Pending {
    Statement,
    Query(Vec<DefaultColumnType>),
}

type SharedPending = Arc<Mutex<Pending>>;

/// The [`AsyncDB`] adapter over a [`Database`].
struct SltDb {
    db: Arc<dyn Database>,
    label: &'static str,
    pending: SharedPending,
}

#[async_trait]
impl AsyncDB for SltDb {
    type Error = Error;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, Error> {
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match pending {
            Pending::Statement => {
                self.db.execute_batch(sql).await?;
                Ok(DBOutput::StatementComplete(0))
            }
            Pending::Query(expected) => {
                let rows = self.db.query(sql, &[]).await?;
                let width = rows.first().map_or(expected.len(), dbcore::Row::len);
                let types: Vec<DefaultColumnType> = (0..width)
                    .map(|i| expected.get(i).cloned().unwrap_or(DefaultColumnType::Any))
                    .collect();
                let rendered = rows
                    .iter()
                    .map(|row| {
                        row.values()
                            .iter()
                            .zip(&types)
                            .map(|(v, t)| render(v, t.to_char()))
                            .collect()
                    })
                    .collect();
                Ok(DBOutput::Rows {
                    types,
                    rows: rendered,
                })
            }
        }
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        self.label
    }

    async fn sleep(dur: Duration) {
        tokio::time::sleep(dur).await;
    }
}

/// Renders a value the way the C harness (`slt_sqlite.c`) does for type letter `ty`:
/// `I` integer (floats truncated, booleans 1/0), `R` `%.3f`, anything else text with
/// control and non-ASCII bytes shown as `@`; `NULL`, and `(empty)` for empty text.
pub fn render(value: &Value, ty: char) -> String {
    if value.is_null() {
        return "NULL".to_owned();
    }
    match ty {
        'I' => as_integer(value).to_string(),
        'R' => format!("{:.3}", as_real(value)),
        _ => {
            let text = as_text(value);
            if text.is_empty() {
                "(empty)".to_owned()
            } else {
                text.iter()
                    .map(|&b| {
                        if (b' '..=b'~').contains(&b) {
                            char::from(b)
                        } else {
                            '@'
                        }
                    })
                    .collect()
            }
        }
    }
}

fn as_integer(value: &Value) -> i64 {
    match value {
        Value::Int(i) => *i,
        Value::Bool(b) => i64::from(*b),
        // `as` saturates and maps NaN to 0, like a C cast on the values that occur.
        Value::Float(f) => *f as i64,
        Value::Text(s) => {
            let s = s.trim();
            s.parse::<i64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().map(|f| f as i64))
                .unwrap_or_else(|| leading_number(s) as i64)
        }
        _ => leading_number(&String::from_utf8_lossy(&as_text(value))) as i64,
    }
}

fn as_real(value: &Value) -> f64 {
    match value {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Text(s) => s
            .trim()
            .parse::<f64>()
            .unwrap_or_else(|_| leading_number(s.trim())),
        _ => leading_number(&String::from_utf8_lossy(&as_text(value))),
    }
}

/// SQLite's text → number conversion: the longest numeric prefix, or 0.
fn leading_number(s: &str) -> f64 {
    let s = s.trim_start();
    (1..=s.len())
        .rev()
        .filter(|&end| s.is_char_boundary(end))
        .find_map(|end| s[..end].parse::<f64>().ok())
        .unwrap_or(0.0)
}

fn as_text(value: &Value) -> Vec<u8> {
    match value {
        Value::Text(s) => s.as_bytes().to_vec(),
        Value::Bytes(b) => b.clone(),
        Value::Bool(b) => {
            if *b {
                b"1".to_vec()
            } else {
                b"0".to_vec()
            }
        }
        Value::Float(f) => format_real_as_text(*f).into_bytes(),
        other => other.to_string().into_bytes(),
    }
}

/// SQLite prints integral doubles with a trailing `.0`.
fn format_real_as_text(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{f:.1}")
    } else {
        f.to_string()
    }
}

/// Prepares a corpus script for sqllogictest-rs: strips trailing comments from condition
/// lines, resolves conditional `halt`s for `label` (cutting the script at one that
/// applies, dropping one that does not), and puts `control resultmode valuewise` first.
/// Returns the script and whether it was cut by a halt.
pub fn preprocess(script: &str, label: &str) -> (String, bool) {
    let mut out = String::with_capacity(script.len() + 64);
    out.push_str("control resultmode valuewise\n\n");
    let mut conditions: Vec<String> = Vec::new();
    let mut at_record_start = true;
    for line in script.lines() {
        let trimmed = line.trim();
        let mut words = trimmed.split_whitespace();
        let first = words.next();
        if at_record_start && matches!(first, Some("skipif" | "onlyif")) {
            let cond = match words.next() {
                Some(word) => format!("{} {word}", first.unwrap_or_default()),
                None => trimmed.to_owned(),
            };
            conditions.push(cond);
            continue;
        }
        if at_record_start && trimmed == "halt" {
            if halt_applies(&conditions, label) {
                return (out, true);
            }
            conditions.clear();
            continue;
        }
        for cond in conditions.drain(..) {
            out.push_str(&cond);
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
        // A new record starts after a blank line; comment lines keep the state.
        at_record_start = trimmed.is_empty() || (at_record_start && trimmed.starts_with('#'));
    }
    for cond in conditions {
        out.push_str(&cond);
        out.push('\n');
    }
    (out, false)
}

fn halt_applies(conditions: &[String], label: &str) -> bool {
    conditions.iter().all(|c| {
        let mut words = c.split_whitespace();
        match (words.next(), words.next()) {
            (Some("onlyif"), Some(l)) => l == label,
            (Some("skipif"), Some(l)) => l != label,
            _ => true,
        }
    })
}

/// Runs one SQL logic test script (the text of a `.test` file) against `db`, which should
/// be a fresh database. `name` appears in failure locations.
///
/// # Errors
/// The first record whose outcome differs from the script (with its location, SQL,
/// and expected and actual results), or a parse error.
pub async fn run_script(
    db: Arc<dyn Database>,
    script: &str,
    name: &str,
) -> Result<SltStats, SltFailure> {
    let label = Caps::of(db.database_type()).slt_label;
    let (script, halted) = preprocess(script, label);
    let records = sqllogictest::parse_with_name::<DefaultColumnType>(&script, name)
        .map_err(|e| SltFailure(format!("{name}: cannot parse the script: {e}")))?;

    let pending: SharedPending = Arc::new(Mutex::new(Pending::Statement));
    let make_pending = Arc::clone(&pending);
    let mut runner = Runner::new(move || {
        let db = Arc::clone(&db);
        let pending = Arc::clone(&make_pending);
        async move { Ok::<SltDb, Error>(SltDb { db, label, pending }) }
    });
    runner.add_label(label);
    runner.with_hash_threshold(8);

    let mut stats = SltStats {
        halted,
        ..SltStats::default()
    };
    for record in records {
        let (next, is_query) = match &record {
            Record::Query {
                expected: QueryExpect::Results { types, .. },
                ..
            } => (Pending::Query(types.clone()), Some(true)),
            Record::Query { .. } => (Pending::Query(Vec::new()), Some(true)),
            Record::Statement { .. } => (Pending::Statement, Some(false)),
            Record::Halt { .. } => {
                stats.halted = true;
                break;
            }
            _ => (Pending::Statement, None),
        };
        *pending.lock().unwrap_or_else(PoisonError::into_inner) = next;
        let output = runner
            .run_async(record)
            .await
            .map_err(|e| SltFailure(format!("{name}: {}", e.display(false))))?;
        match (is_query, output) {
            (Some(_), RecordOutput::Nothing) => stats.skipped += 1,
            (Some(true), _) => stats.queries += 1,
            (Some(false), _) => stats.statements += 1,
            (None, _) => {}
        }
    }
    runner.shutdown_async().await;
    Ok(stats)
}

/// Runs one `.test` file against `db` (see [`run_script`]).
///
/// # Errors
/// As [`run_script`], or when the file cannot be read.
pub async fn run_file(db: Arc<dyn Database>, path: &Path) -> Result<SltStats, SltFailure> {
    let script = std::fs::read_to_string(path)
        .map_err(|e| SltFailure(format!("cannot read {}: {e}", path.display())))?;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    run_script(db, &script, &name).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_the_c_harness() {
        assert_eq!(render(&Value::Null, 'I'), "NULL");
        assert_eq!(render(&Value::Int(-7), 'I'), "-7");
        assert_eq!(render(&Value::Float(12.9), 'I'), "12");
        assert_eq!(render(&Value::Float(-12.9), 'I'), "-12");
        assert_eq!(render(&Value::Bool(true), 'I'), "1");
        assert_eq!(render(&Value::Text("123.5".into()), 'I'), "123");
        assert_eq!(render(&Value::Text("42abc".into()), 'I'), "42");
        assert_eq!(render(&Value::Int(3), 'R'), "3.000");
        assert_eq!(render(&Value::Float(2.0 / 3.0), 'R'), "0.667");
        assert_eq!(render(&Value::Text("1.23456".into()), 'R'), "1.235");
        assert_eq!(render(&Value::Text(String::new()), 'T'), "(empty)");
        assert_eq!(render(&Value::Text("a\tb é".into()), 'T'), "a@b @@");
        assert_eq!(render(&Value::Int(5), 'T'), "5");
        assert_eq!(render(&Value::Float(5.0), 'T'), "5.0");
    }

    #[test]
    fn strips_condition_comments() {
        let (s, halted) = preprocess(
            "skipif mysql # not compatible\nquery I rowsort\nSELECT 1\n----\n1\n",
            "sqlite",
        );
        assert!(!halted);
        assert!(s.starts_with("control resultmode valuewise\n"));
        assert!(s.contains("\nskipif mysql\nquery I rowsort\n"), "{s}");
    }

    #[test]
    fn conditional_halt() {
        let script =
            "statement ok\nSELECT 1\n\nonlyif mysql # stop here\nhalt\n\nstatement ok\nSELECT 2\n";
        let (s, halted) = preprocess(script, "mysql");
        assert!(halted);
        assert!(s.contains("SELECT 1") && !s.contains("SELECT 2"), "{s}");
        let (s, halted) = preprocess(script, "sqlite");
        assert!(!halted);
        assert!(
            s.contains("SELECT 2") && !s.contains("halt") && !s.contains("onlyif"),
            "{s}"
        );
        let (_, halted) = preprocess("skipif sqlite\nhalt\n", "sqlite");
        assert!(!halted);
        let (_, halted) = preprocess("halt\n", "sqlite");
        assert!(halted);
    }
}
