//! The `DB_*` environment-variable layer.

use std::collections::BTreeMap;

use dbcore::ConfigProblem;
use serde_json::Value as Json;

use crate::fields::{ConfigField, FieldKind, config_fields, field_by_env_var};
use crate::layer::{Layer, nested};

/// The prefix of every variable this layer reads.
const PREFIX: &str = "DB_";

/// One layer per known `DB_*` variable (so that each value's origin names its variable),
/// or every problem found: unknown variables under a section prefix, values that are not
/// integers or booleans where one is needed, values that are not UTF-8.
///
/// Variables under `DB_` that match no section prefix (`DB_TEST_DRIVER`) are ignored.
pub(crate) fn env_layers(
    vars: &BTreeMap<String, Result<String, ()>>,
    problems: &mut Vec<ConfigProblem>,
) -> Vec<Layer> {
    let sections: Vec<String> = {
        let mut s: Vec<String> = config_fields()
            .iter()
            .filter_map(|f| f.section.as_ref())
            .map(|s| format!("{PREFIX}{}_", s.to_ascii_uppercase()))
            .collect();
        s.dedup();
        s
    };
    let mut layers = Vec::new();
    for (name, value) in vars {
        if !name.starts_with(PREFIX) {
            continue;
        }
        let origin = format!("env var {name}");
        let Some(field) = field_by_env_var(name) else {
            if let Some(prefix) = sections.iter().find(|p| name.starts_with(p.as_str())) {
                problems.push(unknown_var(name, prefix).with_origin(origin));
            }
            continue;
        };
        let Ok(value) = value else {
            problems.push(
                ConfigProblem::new(&field.path, "the value is not valid UTF-8").with_origin(origin),
            );
            continue;
        };
        match parse_value(field, value) {
            Ok(json) => layers.push(Layer::new(origin, nested(&field.path, json))),
            Err(message) => {
                problems.push(ConfigProblem::new(&field.path, message).with_origin(origin))
            }
        }
    }
    layers
}

/// Converts an environment value for `field`. Text, enum and duration values are kept
/// byte for byte (their rules are checked when the configuration is extracted); integers
/// and booleans are parsed here.
///
/// A number that is not a whole one (`1.5`) is passed on as a number, so that the field's
/// own rule reports it, as for a file (`must be a whole number from 0 to 4294967295,
/// got 1.5`).
fn parse_value(field: &ConfigField, value: &str) -> Result<Json, String> {
    match field.kind {
        FieldKind::Integer => {
            let t = value.trim();
            if let Ok(i) = t.parse::<i64>() {
                Ok(Json::from(i))
            } else if let Ok(u) = t.parse::<u64>() {
                Ok(Json::from(u))
            } else if let Some(f) = t.parse::<f64>().ok().filter(|f| f.is_finite()) {
                Ok(Json::from(f))
            } else {
                Err(format!("expected an integer, got {value:?}"))
            }
        }
        FieldKind::Float => value
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Json::from)
            .ok_or_else(|| format!("expected a number, got {value:?}")),
        FieldKind::Bool => parse_bool(value)
            .map(Json::from)
            .ok_or_else(|| format!("expected true/false, 1/0 or yes/no, got {value:?}")),
        FieldKind::String | FieldKind::Duration | FieldKind::Enum => {
            Ok(Json::String(value.to_owned()))
        }
    }
}

/// `true`/`false`, `1`/`0`, `yes`/`no`, case-insensitively.
pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

fn unknown_var(name: &str, prefix: &str) -> ConfigProblem {
    let closest = config_fields()
        .iter()
        .filter(|f| f.env_var.starts_with(prefix))
        .min_by_key(|f| levenshtein(&f.env_var, name));
    let mut message = format!("unknown environment variable {name}");
    if let Some(f) = closest {
        message.push_str(&format!("; did you mean {} ({})?", f.env_var, f.path));
    }
    ConfigProblem::new("", message)
}

/// The edit distance between two strings (insertions, deletions, substitutions).
pub(crate) fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic on failure
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> BTreeMap<String, Result<String, ()>> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), Ok((*v).to_owned())))
            .collect()
    }

    #[test]
    fn levenshtein_distance() {
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("abc", "abc"), 0);
    }

    #[test]
    fn bools() {
        for t in ["true", "TRUE", "1", "yes", " Yes "] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["false", "0", "no", "NO"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        assert_eq!(parse_bool("on"), None);
    }

    #[test]
    fn unknown_section_variables_are_errors_others_are_ignored() {
        let mut problems = Vec::new();
        let layers = env_layers(
            &vars(&[
                ("DB_POSTGRES_MAX_OPEN_CONN", "5"),
                ("DB_TEST_DRIVER", "sqlite"),
                ("DB_TEST_POSTGRES_URL", "postgres://x"),
                ("DB_SQLITE_FILE_PATH", "/tmp/x.db"),
                ("HOME", "/root"),
            ]),
            &mut problems,
        );
        assert_eq!(layers.len(), 1);
        assert_eq!(problems.len(), 1, "{problems:?}");
        let msg = problems[0].to_string();
        assert!(msg.contains("DB_POSTGRES_MAX_OPEN_CONN"), "{msg}");
        assert!(
            msg.contains("did you mean DB_POSTGRES_MAX_OPEN_CONNS"),
            "{msg}"
        );
    }

    #[test]
    fn bad_integer_names_variable_and_field() {
        let mut problems = Vec::new();
        env_layers(&vars(&[("DB_MYSQL_MAX_OPEN_CONNS", "lots")]), &mut problems);
        let msg = problems[0].to_string();
        assert_eq!(
            msg,
            "database.mysql.maxOpenConns: expected an integer, got \"lots\" \
             (from env var DB_MYSQL_MAX_OPEN_CONNS)"
        );
    }
}
