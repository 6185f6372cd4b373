//! Rendering rows, values and small reports.

use std::time::Duration;

use dbfactory::dbcore::PoolStats;
use dbfactory::{Row, Value};
use serde_json::Value as Json;

/// A value as JSON: numbers and booleans as such, NULL as `null`, everything else as
/// its text form (bytes as `\x` hex).
pub(crate) fn value_to_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::Text(s) => Json::String(s.clone()),
        other => Json::String(other.to_string()),
    }
}

/// Rows as a JSON array of objects, keys in column order.
pub(crate) fn rows_json(rows: &[Row]) -> String {
    let mut out = String::from("[");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("\n  {");
        for (j, (column, value)) in row.columns().iter().zip(row.values()).enumerate() {
            if j > 0 {
                out.push_str(", ");
            }
            out.push_str(&Json::String(column.clone()).to_string());
            out.push_str(": ");
            out.push_str(&value_to_json(value).to_string());
        }
        out.push('}');
    }
    if !rows.is_empty() {
        out.push('\n');
    }
    out.push(']');
    out
}

/// Rows as CSV (RFC 4180): a header row, then one line per row; NULL is an empty field.
/// Empty when there are no rows (the column names are not known then).
pub(crate) fn rows_csv(rows: &[Row]) -> String {
    let Some(first) = rows.first() else {
        return String::new();
    };
    let mut out = String::new();
    let line = |fields: Vec<String>| {
        fields
            .iter()
            .map(|f| csv_field(f))
            .collect::<Vec<_>>()
            .join(",")
            + "\r\n"
    };
    out.push_str(&line(first.columns().to_vec()));
    for row in rows {
        out.push_str(&line(
            row.values()
                .iter()
                .map(|v| {
                    if v.is_null() {
                        String::new()
                    } else {
                        v.to_string()
                    }
                })
                .collect(),
        ));
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Rows as aligned columns with a header and a row count; numbers right-aligned.
pub(crate) fn rows_table(rows: &[Row]) -> String {
    let Some(first) = rows.first() else {
        return "(0 rows)\n".to_owned();
    };
    let columns = first.columns();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.values().iter().map(|v| cell(&v.to_string())).collect())
        .collect();
    let numeric: Vec<bool> = (0..columns.len())
        .map(|c| {
            rows.iter().all(|r| {
                matches!(
                    r.values().get(c),
                    Some(Value::Int(_) | Value::Float(_) | Value::Null)
                )
            })
        })
        .collect();
    let mut widths: Vec<usize> = columns.iter().map(|c| width(&cell(c))).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(c));
        }
    }
    let mut out = String::new();
    let mut push_line = |fields: &[String], align_numbers: bool| {
        let mut line = String::new();
        for (i, (f, w)) in fields.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str(" | ");
            }
            let pad = " ".repeat(w.saturating_sub(width(f)));
            if align_numbers && numeric[i] {
                line.push_str(&pad);
                line.push_str(f);
            } else {
                line.push_str(f);
                line.push_str(&pad);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    };
    let header: Vec<String> = columns.iter().map(|c| cell(c)).collect();
    push_line(&header, false);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    push_line(&rule, false);
    for row in &cells {
        push_line(row, true);
    }
    let n = rows.len();
    out.push_str(&format!("({n} row{})\n", if n == 1 { "" } else { "s" }));
    out
}

/// A table cell: control characters escaped so that columns stay aligned.
fn cell(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            '\n' => vec!['\\', 'n'],
            '\r' => vec!['\\', 'r'],
            '\t' => vec!['\\', 't'],
            c if c.is_control() => vec!['?'],
            c => vec![c],
        })
        .collect()
}

fn width(s: &str) -> usize {
    s.chars().count()
}

/// `0.12 ms`.
pub(crate) fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// `1.2s` (`45ms` below a second), for retry waits.
pub(crate) fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// Pool statistics on one line.
pub(crate) fn stats_line(s: &PoolStats) -> String {
    format!(
        "open {} (in use {}, idle {}) of max {}; waited {} time(s), {} in all; \
         acquire timeouts {}; opened {}, closed idle {}, closed idle-time {}, \
         closed lifetime {}, discarded {}",
        s.open,
        s.in_use,
        s.idle,
        s.max_open,
        s.wait_count,
        millis(s.wait_duration),
        s.acquire_timeouts,
        s.opened_total,
        s.max_idle_closed,
        s.max_idle_time_closed,
        s.max_lifetime_closed,
        s.discarded,
    )
}

/// The current UTC time of day, `HH:MM:SS`, for `health --watch` lines.
pub(crate) fn clock() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        % 86_400;
    format!(
        "{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn rows() -> Vec<Row> {
        let cols: Arc<[String]> = vec!["id".to_owned(), "name".to_owned()].into();
        vec![
            Row::new(
                cols.clone(),
                vec![Value::Int(1), Value::Text("alice".into())],
            ),
            Row::new(cols.clone(), vec![Value::Int(10), Value::Null]),
            Row::new(
                cols,
                vec![Value::Int(100), Value::Text("a, \"b\"\nc".into())],
            ),
        ]
    }

    #[test]
    fn retry_waits_below_a_second_are_in_milliseconds() {
        assert_eq!(seconds(Duration::from_millis(45)), "45ms");
        assert_eq!(seconds(Duration::from_millis(1250)), "1.2s");
    }

    #[test]
    fn table() {
        let expected = [
            "id  | name",
            "--- | ---------",
            "  1 | alice",
            " 10 | NULL",
            "100 | a, \"b\"\\nc",
            "(3 rows)",
            "",
        ]
        .join("\n");
        assert_eq!(rows_table(&rows()), expected);
        assert_eq!(rows_table(&[]), "(0 rows)\n");
    }

    #[test]
    fn csv() {
        assert_eq!(
            rows_csv(&rows()),
            "id,name\r\n1,alice\r\n10,\r\n100,\"a, \"\"b\"\"\nc\"\r\n"
        );
        assert_eq!(rows_csv(&[]), "");
    }

    #[test]
    fn json() {
        let text = rows_json(&rows());
        assert!(
            text.starts_with("[\n  {\"id\": 1, \"name\": \"alice\"},"),
            "{text}"
        );
        let parsed: Json = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(parsed[1]["name"], Json::Null);
        assert_eq!(parsed[2]["name"], "a, \"b\"\nc");
        assert_eq!(rows_json(&[]), "[]");
        assert_eq!(value_to_json(&Value::Float(f64::NAN)), Json::Null);
        assert_eq!(value_to_json(&Value::Bytes(vec![1, 255])), "\\x01ff");
    }
}
