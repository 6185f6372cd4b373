//! The table of configuration fields and their environment variables.
//!
//! The table is derived from the serialized defaults of [`DatabaseConfig`], so a field
//! added to `dbcore` gets its `DB_*` variable without any change here.

use std::sync::OnceLock;

use dbcore::DatabaseConfig;
use dbcore::config::SECTION;
use dbcore::config::duration::parse_duration;
use serde_json::Value as Json;

/// How a configuration field's value is written, and so how its environment variable is
/// read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldKind {
    /// Free text, taken byte for byte (`DB_POSTGRES_PASSWORD=0123` stays `"0123"`).
    String,
    /// An integer (`DB_POSTGRES_MAX_OPEN_CONNS=50`).
    Integer,
    /// A number that may have a fraction.
    Float,
    /// `true`/`false`; environment variables also accept `1`/`0` and `yes`/`no`.
    Bool,
    /// A Go-style duration string (`500ms`, `30s`, `5m`).
    Duration,
    /// One of a fixed set of names (`sslMode`, `journalMode`, `type`, ...).
    Enum,
}

impl FieldKind {
    /// A short description for messages and documentation.
    pub fn describe(self) -> &'static str {
        match self {
            FieldKind::String => "text",
            FieldKind::Integer => "integer",
            FieldKind::Float => "number",
            FieldKind::Bool => "true/false",
            FieldKind::Duration => "duration (e.g. 500ms, 30s, 5m)",
            FieldKind::Enum => "one of a fixed set of names",
        }
    }
}

/// One configuration field: its path, its environment variable, its kind and default.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ConfigField {
    /// The full dotted path, e.g. `database.postgres.maxOpenConns`.
    pub path: String,
    /// The environment variable that overrides it, e.g. `DB_POSTGRES_MAX_OPEN_CONNS`.
    pub env_var: String,
    /// The backend section (`postgres`, `sqlite`, `mysql`), or `None` for `type`.
    pub section: Option<String>,
    /// How the value is written.
    pub kind: FieldKind,
    /// The default value, as written in a configuration file.
    pub default: Json,
}

/// Every configuration field, `type` first, then the sections in
/// [`DatabaseType::ALL`](dbcore::DatabaseType::ALL) order, fields alphabetically.
pub fn config_fields() -> &'static [ConfigField] {
    static FIELDS: OnceLock<Vec<ConfigField>> = OnceLock::new();
    FIELDS.get_or_init(build)
}

/// Every environment variable that sets a configuration field, with the field's path:
/// `("DB_POSTGRES_MAX_OPEN_CONNS", "database.postgres.maxOpenConns")`. `DATABASE_URL`
/// is not included (it sets several fields).
///
/// ```
/// let vars = dbfactory::env_var_names();
/// assert!(vars.contains(&("DB_TYPE".into(), "database.type".into())));
/// assert!(vars.contains(&("DB_SQLITE_FILE_PATH".into(), "database.sqlite.filePath".into())));
/// ```
pub fn env_var_names() -> Vec<(String, String)> {
    config_fields()
        .iter()
        .map(|f| (f.env_var.clone(), f.path.clone()))
        .collect()
}

/// The field with this path (`database.postgres.port`), if any.
pub(crate) fn field_by_path(path: &str) -> Option<&'static ConfigField> {
    config_fields().iter().find(|f| f.path == path)
}

/// The field set by this environment variable, if any.
pub(crate) fn field_by_env_var(var: &str) -> Option<&'static ConfigField> {
    config_fields().iter().find(|f| f.env_var == var)
}

/// `maxOpenConns` → `MAX_OPEN_CONNS`.
pub(crate) fn upper_snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

fn build() -> Vec<ConfigField> {
    // Serializing plain data structs cannot fail.
    let defaults = serde_json::to_value(DatabaseConfig::default())
        .expect("DatabaseConfig::default() serializes to JSON");
    let mut fields = Vec::new();
    collect(&defaults, &defaults, &mut Vec::new(), &mut fields);
    let rank = |f: &ConfigField| match &f.section {
        None => 0,
        Some(s) => dbcore::DatabaseType::ALL
            .iter()
            .position(|t| t.as_str() == s)
            .map_or(usize::MAX, |p| p + 1),
    };
    fields.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.path.cmp(&b.path)));
    fields
}

fn collect(root: &Json, value: &Json, keys: &mut Vec<String>, out: &mut Vec<ConfigField>) {
    if let Json::Object(map) = value {
        for (key, child) in map {
            keys.push(key.clone());
            collect(root, child, keys, out);
            keys.pop();
        }
        return;
    }
    let kind = match value {
        Json::Bool(_) => FieldKind::Bool,
        Json::Number(n) if n.is_i64() || n.is_u64() => FieldKind::Integer,
        Json::Number(_) => FieldKind::Float,
        Json::String(default) => string_kind(root, keys, default),
        // No such fields today; a list or null default cannot be set from one variable.
        Json::Null | Json::Array(_) | Json::Object(_) => return,
    };
    let env_var = std::iter::once("DB".to_owned())
        .chain(keys.iter().map(|k| upper_snake(k)))
        .collect::<Vec<_>>()
        .join("_");
    out.push(ConfigField {
        path: format!("{SECTION}.{}", keys.join(".")),
        env_var,
        section: (keys.len() > 1).then(|| keys[0].clone()),
        kind,
        default: value.clone(),
    });
}

/// Tells free text from durations and enums by probing what the field accepts.
fn string_kind(root: &Json, keys: &[String], default: &str) -> FieldKind {
    let accepts = |probe: &str| {
        let mut doc = root.clone();
        if let Some(slot) = keys.iter().try_fold(&mut doc, |v, k| v.get_mut(k.as_str())) {
            *slot = Json::String(probe.to_owned());
        }
        serde_json::from_value::<DatabaseConfig>(doc).is_ok()
    };
    if accepts("") && accepts("any text \u{1F600}") {
        FieldKind::String
    } else if parse_duration(default).is_ok() {
        FieldKind::Duration
    } else {
        FieldKind::Enum
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic on failure
mod tests {
    use super::*;

    #[test]
    fn upper_snake_case() {
        assert_eq!(upper_snake("maxOpenConns"), "MAX_OPEN_CONNS");
        assert_eq!(upper_snake("filePath"), "FILE_PATH");
        assert_eq!(upper_snake("type"), "TYPE");
        assert_eq!(upper_snake("sslMode"), "SSL_MODE");
    }

    #[test]
    fn table_has_every_field_with_its_kind() {
        let kind = |var: &str| field_by_env_var(var).map(|f| f.kind);
        assert_eq!(kind("DB_TYPE"), Some(FieldKind::Enum));
        assert_eq!(kind("DB_POSTGRES_HOST"), Some(FieldKind::String));
        assert_eq!(kind("DB_POSTGRES_PASSWORD"), Some(FieldKind::String));
        assert_eq!(kind("DB_POSTGRES_PORT"), Some(FieldKind::Integer));
        assert_eq!(kind("DB_POSTGRES_MAX_OPEN_CONNS"), Some(FieldKind::Integer));
        assert_eq!(kind("DB_POSTGRES_SSL_MODE"), Some(FieldKind::Enum));
        assert_eq!(
            kind("DB_POSTGRES_CONN_MAX_LIFETIME"),
            Some(FieldKind::Duration)
        );
        assert_eq!(kind("DB_SQLITE_FILE_PATH"), Some(FieldKind::String));
        assert_eq!(kind("DB_SQLITE_JOURNAL_MODE"), Some(FieldKind::Enum));
        assert_eq!(kind("DB_SQLITE_SYNC_MODE"), Some(FieldKind::Enum));
        assert_eq!(kind("DB_SQLITE_AUTO_VACUUM"), Some(FieldKind::Enum));
        assert_eq!(kind("DB_SQLITE_CACHE_SIZE"), Some(FieldKind::Integer));
        assert_eq!(kind("DB_SQLITE_FOREIGN_KEYS"), Some(FieldKind::Bool));
        assert_eq!(kind("DB_SQLITE_TIMEOUT"), Some(FieldKind::Duration));
        assert_eq!(kind("DB_MYSQL_PARSE_TIME"), Some(FieldKind::Bool));
        assert_eq!(kind("DB_MYSQL_CHARSET"), Some(FieldKind::String));
        assert_eq!(kind("DB_MYSQL_LOC"), Some(FieldKind::String));
        assert_eq!(kind("DB_MYSQL_SSL_MODE"), Some(FieldKind::Enum));
        assert_eq!(
            kind("DB_MYSQL_HEALTH_CHECK_INTERVAL"),
            Some(FieldKind::Duration)
        );

        let fields = config_fields();
        assert_eq!(fields[0].path, "database.type");
        // 14 postgres + 12 sqlite + 17 mysql fields + type.
        assert_eq!(fields.len(), 1 + 14 + 12 + 17, "{fields:#?}");
        let f = field_by_path("database.mysql.sslMode").unwrap();
        assert_eq!(f.env_var, "DB_MYSQL_SSL_MODE");
        assert_eq!(f.default, "disable");
        let f = field_by_path("database.postgres.maxOpenConns").unwrap();
        assert_eq!(f.env_var, "DB_POSTGRES_MAX_OPEN_CONNS");
        assert_eq!(f.section.as_deref(), Some("postgres"));
        assert_eq!(f.default, 25);
        // Sections in DatabaseType::ALL order.
        let sections: Vec<_> = fields.iter().filter_map(|f| f.section.clone()).collect();
        let first_sqlite = sections.iter().position(|s| s == "sqlite").unwrap();
        assert!(sections[..first_sqlite].iter().all(|s| s == "postgres"));
        assert_eq!(sections.last().map(String::as_str), Some("mysql"));
    }

    #[test]
    fn env_var_names_match_the_table() {
        let names = env_var_names();
        assert_eq!(names.len(), config_fields().len());
        assert!(names.contains(&(
            "DB_MYSQL_PARSE_TIME".to_owned(),
            "database.mysql.parseTime".to_owned()
        )));
    }
}
