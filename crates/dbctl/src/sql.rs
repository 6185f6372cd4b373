//! Telling statements that return rows from those that do not.

/// Keywords that start a statement returning rows.
const ROW_KEYWORDS: &[&str] = &[
    "SELECT", "WITH", "VALUES", "PRAGMA", "SHOW", "EXPLAIN", "DESCRIBE", "DESC", "TABLE",
];

/// Whether `sql` returns rows: it starts with one of [`ROW_KEYWORDS`] (after comments and
/// opening parentheses) or has a `RETURNING` clause. Words inside string literals,
/// quoted identifiers and comments do not count.
pub(crate) fn returns_rows(sql: &str) -> bool {
    let words = words(sql);
    let first = words.first().map(String::as_str).unwrap_or("");
    ROW_KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(first))
        || words.iter().any(|w| w.eq_ignore_ascii_case("RETURNING"))
}

/// The bare words of `sql`, skipping literals, quoted identifiers and comments.
fn words(sql: &str) -> Vec<String> {
    let chars: Vec<char> = sql.chars().collect();
    let mut words = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' | '"' | '`' => {
                // Skip to the closing quote; a doubled quote is an escaped one.
                i += 1;
                while i < chars.len() {
                    if chars[i] == c {
                        if chars.get(i + 1) == Some(&c) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            '[' => {
                while i < chars.len() && chars[i] != ']' {
                    i += 1;
                }
                i += 1;
            }
            '-' if chars.get(i + 1) == Some(&'-') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    i += 1;
                }
                i += 2;
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                words.push(chars[start..i].iter().collect());
            }
            c if c.is_ascii_digit() || c == '$' => {
                // Numbers and placeholders are not words.
                i += 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        for sql in [
            "SELECT 1",
            "  select * from t",
            "-- comment\nSELECT 1",
            "/* x */ (SELECT 1)",
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "VALUES (1), (2)",
            "PRAGMA table_info(t)",
            "EXPLAIN QUERY PLAN SELECT 1",
            "INSERT INTO t (a) VALUES ($1) RETURNING id",
            "delete from t returning *",
        ] {
            assert!(returns_rows(sql), "{sql}");
        }
        for sql in [
            "INSERT INTO t (a) VALUES ('RETURNING')",
            "UPDATE t SET \"returning\" = 1",
            "CREATE TABLE t (id INTEGER)",
            "DELETE FROM t -- RETURNING x",
            "INSERT INTO t VALUES (1) /* returning */",
            "",
            "   ",
        ] {
            assert!(!returns_rows(sql), "{sql}");
        }
    }
}
