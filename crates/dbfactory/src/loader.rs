//! Configuration loading: defaults < file < `DATABASE_URL` < `DB_*` variables.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use dbcore::config::{RELATED_FIELDS, SECTION};
use dbcore::{ConfigErrors, ConfigProblem, DatabaseConfig, Error, Result};
use figment::Figment;
use figment::error::Kind;
use figment::providers::{Format, Json, Yaml};
use figment::value::{Dict, Value};
use serde::Deserialize;

use crate::env::{env_layers, levenshtein};
use crate::fields::{FieldKind, config_fields, field_by_path};
use crate::layer::Layer;
use crate::url::{self, url_data};

#[cfg(test)]
mod tests;

/// The origin of values nobody set.
pub const DEFAULT_ORIGIN: &str = "default";

/// The environment variable holding a database URL.
pub const DATABASE_URL: &str = "DATABASE_URL";

/// The format of a configuration file, chosen by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigFormat {
    /// JSON (`.json`), the default format.
    Json,
    /// YAML (`.yaml`, `.yml`).
    Yaml,
}

impl ConfigFormat {
    /// The extensions that are recognised, for messages.
    pub const EXTENSIONS: &'static str = ".json, .yaml, .yml";

    /// The format for `path`'s extension (case-insensitive), if it is a known one.
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "json" => Some(ConfigFormat::Json),
            "yaml" | "yml" => Some(ConfigFormat::Yaml),
            _ => None,
        }
    }

    /// `JSON` or `YAML`.
    pub fn name(self) -> &'static str {
        match self {
            ConfigFormat::Json => "JSON",
            ConfigFormat::Yaml => "YAML",
        }
    }

    /// Parses a whole file. Syntax errors carry the serde message (with line and column);
    /// a file that is not a map fails with [`ParseError::Shape`]. `null` values (a YAML
    /// key with nothing after it) are dropped: they mean "not set".
    fn parse(self, text: &str) -> std::result::Result<Dict, ParseError> {
        if text.trim().is_empty() {
            return Ok(Dict::new());
        }
        let value = match self {
            ConfigFormat::Json => Json::from_str::<Value>(text).map_err(|e| e.to_string()),
            ConfigFormat::Yaml => Yaml::from_str::<Value>(text).map_err(|e| e.to_string()),
        }
        .map_err(ParseError::Syntax)?;
        match drop_nulls(value) {
            Some(Value::Dict(_, dict)) => Ok(dict),
            None => Ok(Dict::new()),
            Some(other) => Err(ParseError::Shape(other.to_actual().to_string())),
        }
    }
}

/// Why a file could not be read as configuration.
enum ParseError {
    /// Not valid JSON/YAML.
    Syntax(String),
    /// Valid, but not a map: what it is instead.
    Shape(String),
}

/// `value` without `null`s (recursively); `None` if it is itself null.
fn drop_nulls(value: Value) -> Option<Value> {
    match value {
        Value::Empty(..) => None,
        Value::Dict(tag, dict) => Some(Value::Dict(
            tag,
            dict.into_iter()
                .filter_map(|(k, v)| drop_nulls(v).map(|v| (k, v)))
                .collect(),
        )),
        other => Some(other),
    }
}

/// Where environment values come from.
#[derive(Clone)]
enum EnvSource {
    /// `std::env::vars_os()` at load time.
    Process,
    /// An explicit list (tests, or a caller with its own environment).
    Vars(BTreeMap<String, String>),
}

/// Builds a [`LoadedConfig`] from the built-in defaults, an optional file, `DATABASE_URL`
/// and the `DB_*` environment variables, later sources overriding earlier ones.
///
/// ```
/// use dbfactory::ConfigLoader;
/// use dbfactory::dbcore::DatabaseType;
///
/// let loaded = ConfigLoader::new()
///     .env_vars([("DB_TYPE", "postgres"), ("DB_POSTGRES_PASSWORD", "0123")])
///     .load()
///     .unwrap();
/// assert_eq!(loaded.config.database_type, DatabaseType::Postgres);
/// assert_eq!(loaded.config.postgres.password.expose(), "0123");
/// assert_eq!(loaded.origin_of("database.type").as_deref(), Some("env var DB_TYPE"));
/// assert_eq!(loaded.origin_of("database.postgres.port").as_deref(), Some("default"));
/// ```
#[derive(Clone)]
pub struct ConfigLoader {
    file: Option<PathBuf>,
    env: EnvSource,
}

impl Default for ConfigLoader {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ConfigLoader {
    /// Lists variable names only: values may be passwords.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env: &dyn fmt::Debug = match &self.env {
            EnvSource::Process => &"process environment",
            EnvSource::Vars(vars) => &vars.keys().collect::<Vec<_>>(),
        };
        f.debug_struct("ConfigLoader")
            .field("file", &self.file)
            .field("env", env)
            .finish()
    }
}

impl ConfigLoader {
    /// Defaults and the process environment, no file.
    pub fn new() -> Self {
        ConfigLoader {
            file: None,
            env: EnvSource::Process,
        }
    }

    /// Reads this configuration file (`.json`, `.yaml` or `.yml`); it must exist.
    #[must_use]
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.file = Some(path.into());
        self
    }

    /// Reads the file if `path` is `Some`.
    #[must_use]
    pub fn file_opt(mut self, path: Option<impl Into<PathBuf>>) -> Self {
        self.file = path.map(Into::into);
        self
    }

    /// Takes environment values from `vars` instead of the process environment
    /// (an empty list means no environment at all). Later duplicates win.
    #[must_use]
    pub fn env_vars<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.env = EnvSource::Vars(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        self
    }

    /// Loads, merges, extracts and validates the configuration.
    ///
    /// Every error is [`Error::Config`] listing every problem found, each naming the
    /// field path (when there is one) and where the value came from: `file ./db.json`,
    /// `env var DB_POSTGRES_PORT`, `DATABASE_URL`. A value that cannot be read (a port of
    /// 70000, an unknown key, a bad duration) does not hide the problems of other values.
    ///
    /// A `maxIdleConns` nobody set follows a lower `maxOpenConns`, as in Go's
    /// `database/sql`; one that was set must not exceed it.
    pub fn load(&self) -> Result<LoadedConfig> {
        let mut problems = Vec::new();
        // A file or DATABASE_URL that could not be read at all: its values are missing, so
        // checking the rest would report problems that are not there.
        let mut source_missing = false;
        let mut layers = vec![Layer::new(
            DEFAULT_ORIGIN,
            serde_json::json!({ SECTION: DatabaseConfig::default() }),
        )];
        if let Some(path) = &self.file {
            match file_layer(path, &mut problems) {
                Some(layer) => layers.push(layer),
                None => source_missing = true,
            }
        }
        let vars = self.env_vars_snapshot();
        if let Some(Ok(url)) = vars.get(DATABASE_URL) {
            if !url.trim().is_empty() {
                match url_data(url) {
                    Ok(data) => layers.push(Layer::new(url::ORIGIN, data)),
                    Err(p) => {
                        problems.extend(p);
                        source_missing = true;
                    }
                }
            }
        } else if let Some(Err(())) = vars.get(DATABASE_URL) {
            problems.push(
                ConfigProblem::new("", "the value is not valid UTF-8").with_origin(url::ORIGIN),
            );
            source_missing = true;
        }
        // Variables that could not be read leave their field at the value below them;
        // the other values are still checked.
        layers.extend(env_layers(&vars, &mut problems));
        if source_missing {
            return Err(config_errors(problems));
        }
        let mut unreadable: Vec<String> = problems
            .iter()
            .filter(|p| !p.path.is_empty())
            .map(|p| p.path.clone())
            .collect();

        let sources: Vec<String> = layers.iter().map(|l| l.name().to_owned()).collect();
        let figment = layers
            .into_iter()
            .fold(Figment::new(), |fig, layer| fig.merge(layer));

        let Some(mut config) = extract(&figment, &mut problems, &mut unreadable) else {
            return Err(config_errors(problems));
        };
        let lowered = follow_max_open_conns(&mut config, &figment);
        problems.extend(
            config
                .problems()
                .into_iter()
                .filter(|p| !depends_on_unreadable(&p.path, &unreadable))
                .map(|p| match origin(&figment, &p.path) {
                    Some(o) => p.with_origin(o),
                    None => p,
                }),
        );
        if !problems.is_empty() {
            return Err(config_errors(problems));
        }

        let origins = config_fields()
            .iter()
            .map(|f| {
                let o = if lowered.contains(&f.path) {
                    LOWERED_ORIGIN.to_owned()
                } else {
                    origin(&figment, &f.path).unwrap_or_else(|| DEFAULT_ORIGIN.to_owned())
                };
                (f.path.clone(), o)
            })
            .collect();
        tracing::debug!(sources = ?sources, "loaded database configuration");
        Ok(LoadedConfig {
            config,
            sources,
            origins,
        })
    }

    /// The relevant variables (`DATABASE_URL` and `DB_*`); `Err` for values that are not
    /// UTF-8.
    fn env_vars_snapshot(&self) -> BTreeMap<String, std::result::Result<String, ()>> {
        let relevant = |k: &str| k == DATABASE_URL || k.starts_with("DB_");
        match &self.env {
            EnvSource::Vars(vars) => vars
                .iter()
                .filter(|(k, _)| relevant(k))
                .map(|(k, v)| (k.clone(), Ok(v.clone())))
                .collect(),
            EnvSource::Process => std::env::vars_os()
                .filter_map(|(k, v)| {
                    let k = k.into_string().ok()?;
                    relevant(&k).then(|| (k, v.into_string().map_err(|_| ())))
                })
                .collect(),
        }
    }
}

/// Loads the configuration from the defaults, the file at `path` (if given; it must
/// exist), `DATABASE_URL` and the `DB_*` variables of the process environment.
///
/// With no file and no variables the result is the default: SQLite at `./data/app.db`.
pub fn load_config(path: Option<&Path>) -> Result<LoadedConfig> {
    ConfigLoader::new().file_opt(path).load()
}

/// A configuration from `DATABASE_URL` syntax alone, on top of the defaults.
///
/// ```
/// let cfg = dbfactory::config_from_url("postgres://app:s3cret@db:5432/app?sslmode=require").unwrap();
/// assert_eq!(cfg.postgres.host, "db");
/// assert_eq!(cfg.postgres.password.expose(), "s3cret");
///
/// let err = dbfactory::config_from_url("oracle://scott:tiger@db/x").unwrap_err().to_string();
/// assert!(err.contains("accepted schemes are postgres://"));
/// assert!(!err.contains("tiger"));
/// ```
pub fn config_from_url(url: &str) -> Result<DatabaseConfig> {
    ConfigLoader::new()
        .env_vars([(DATABASE_URL, url)])
        .load()
        .map(|l| l.config)
}

/// The whole file: only a `database` section.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Root {
    /// Defaulted only when the loader removed an unreadable `database` value (the
    /// defaults layer always provides one), so that no "missing field" follows.
    #[serde(default)]
    database: DatabaseConfig,
}

fn file_layer(path: &Path, problems: &mut Vec<ConfigProblem>) -> Option<Layer> {
    let origin = format!("file {}", path.display());
    let Some(format) = ConfigFormat::from_path(path) else {
        problems.push(ConfigProblem::new(
            "",
            format!(
                "cannot tell the format of config file {}: supported extensions are {}",
                path.display(),
                ConfigFormat::EXTENSIONS
            ),
        ));
        return None;
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            let reason = match e.kind() {
                std::io::ErrorKind::NotFound => "no such file".to_owned(),
                _ => e.to_string(),
            };
            problems.push(ConfigProblem::new(
                "",
                format!("cannot read config file {}: {reason}", path.display()),
            ));
            return None;
        }
    };
    match format.parse(&text) {
        Ok(dict) => Some(Layer::from_dict(origin, dict)),
        Err(ParseError::Syntax(e)) => {
            problems.push(ConfigProblem::new(
                "",
                format!(
                    "config file {} is not valid {}: {e}",
                    path.display(),
                    format.name()
                ),
            ));
            None
        }
        Err(ParseError::Shape(found)) => {
            problems.push(ConfigProblem::new(
                "",
                format!(
                    "config file {} must hold a map with a `database` section, found {found}",
                    path.display()
                ),
            ));
            None
        }
    }
}

/// The most extraction attempts: each one removes at least one unreadable value, so this
/// only bounds a file with very many of them.
const MAX_EXTRACT_ATTEMPTS: usize = 200;

/// Extracts the configuration from the merged values, reporting every value that cannot
/// be read rather than only the first (serde stops at the first error).
///
/// Each failed attempt records its problem (with the origin from `figment`), removes the
/// offending key from the merged values so that the field takes its default, adds its
/// path to `unreadable`, and tries again. `None` when no configuration could be built;
/// `problems` then says why.
fn extract(
    figment: &Figment,
    problems: &mut Vec<ConfigProblem>,
    unreadable: &mut Vec<String>,
) -> Option<DatabaseConfig> {
    let mut merged = match figment.find_value("") {
        Ok(value) => value,
        Err(e) => {
            problems.extend(e.into_iter().map(|e| figment_problem(figment, e)));
            return None;
        }
    };
    for _ in 0..MAX_EXTRACT_ATTEMPTS {
        let errors = match merged.deserialize::<Root>() {
            Ok(root) => return Some(root.database),
            Err(e) => e,
        };
        let mut removed_any = false;
        for e in errors {
            let keys = e.path.clone();
            problems.push(figment_problem(figment, e));
            if !keys.is_empty() && remove_key(&mut merged, &keys) {
                unreadable.push(keys.join("."));
                removed_any = true;
            }
        }
        if !removed_any {
            return None;
        }
    }
    None
}

/// Removes the value at `keys` from `value`; `false` if there is none.
fn remove_key(value: &mut Value, keys: &[String]) -> bool {
    let (Value::Dict(_, dict), Some((first, rest))) = (value, keys.split_first()) else {
        return false;
    };
    if rest.is_empty() {
        dict.remove(first).is_some()
    } else {
        dict.get_mut(first)
            .is_some_and(|child| remove_key(child, rest))
    }
}

/// Whether the problem at `path` may be an artefact of an unreadable value: the value
/// itself (or a section holding it) could not be read, or the rule compares it with a
/// field that could not be read ([`RELATED_FIELDS`]) and so has its default.
fn depends_on_unreadable(path: &str, unreadable: &[String]) -> bool {
    let within =
        |p: &str, of: &str| p == of || p.strip_prefix(of).is_some_and(|r| r.starts_with('.'));
    if unreadable.iter().any(|u| within(path, u)) {
        return true;
    }
    let Some((section, field)) = path.rsplit_once('.') else {
        return false;
    };
    RELATED_FIELDS
        .iter()
        .filter(|(f, _)| *f == field)
        .any(|(_, other)| {
            let other = format!("{section}.{other}");
            unreadable.iter().any(|u| within(&other, u))
        })
}

/// The origin shown for a default `maxIdleConns` that [`follow_max_open_conns`] lowered.
const LOWERED_ORIGIN: &str = "default, lowered to maxOpenConns";

/// Lowers each section's `maxIdleConns` to its `maxOpenConns` when it is larger and
/// nobody set it (its origin is the default), as Go's `database/sql` does. Returns the
/// paths of the values it lowered.
fn follow_max_open_conns(config: &mut DatabaseConfig, figment: &Figment) -> Vec<String> {
    let mut lowered = Vec::new();
    let mut follow = |section: &str, max_idle: &mut u32, max_open: u32| {
        let path = format!("{SECTION}.{section}.maxIdleConns");
        if *max_idle > max_open && origin(figment, &path).as_deref() == Some(DEFAULT_ORIGIN) {
            *max_idle = max_open;
            lowered.push(path);
        }
    };
    let c = &mut config.postgres;
    follow("postgres", &mut c.max_idle_conns, c.max_open_conns);
    let c = &mut config.mysql;
    follow("mysql", &mut c.max_idle_conns, c.max_open_conns);
    let c = &mut config.sqlite;
    follow("sqlite", &mut c.max_idle_conns, c.max_open_conns);
    lowered
}

/// [`Error::Config`] with `problems` in a stable order: `type` and whole-file problems
/// first, then the sections in [`DatabaseType::ALL`](dbcore::DatabaseType::ALL) order,
/// by field path within a section; the same problem reported twice is shown once.
fn config_errors(mut problems: Vec<ConfigProblem>) -> Error {
    let section_rank = |path: &str| {
        let section = path
            .strip_prefix(SECTION)
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|rest| rest.split_once('.'))
            .map(|(section, _)| section);
        match section {
            None => 0,
            Some(s) => dbcore::DatabaseType::ALL
                .iter()
                .position(|t| t.as_str() == s)
                .map_or(usize::MAX, |p| p + 1),
        }
    };
    // A stable sort: problems at the same path keep the order they were found in.
    problems.sort_by(|a, b| {
        section_rank(&a.path)
            .cmp(&section_rank(&b.path))
            .then_with(|| a.path.cmp(&b.path))
    });
    let mut seen = Vec::with_capacity(problems.len());
    problems.retain(|p| {
        if seen.contains(p) {
            false
        } else {
            seen.push(p.clone());
            true
        }
    });
    Error::Config(ConfigErrors(problems))
}

/// The origin name of the value at `path` (`database.postgres.port`).
fn origin(figment: &Figment, path: &str) -> Option<String> {
    figment.find_metadata(path).map(|m| m.name.to_string())
}

/// One figment error as a problem with its path and origin.
fn figment_problem(figment: &Figment, e: figment::Error) -> ConfigProblem {
    let path = e.path.join(".");
    let secret = e.path.last().is_some_and(|k| k == "password");
    let message = match &e.kind {
        // Messages about a value quote it; never quote a password.
        Kind::InvalidType(_, expected) | Kind::InvalidValue(_, expected) if secret => {
            format!(
                "invalid value (not shown: the field is secret), expected {expected}; quote the value to make it text"
            )
        }
        _ if secret => "invalid value (not shown: the field is secret)".to_owned(),
        Kind::UnknownField(field, expected) => {
            let mut m = if expected.is_empty() {
                "unknown field: no fields are accepted here".to_owned()
            } else {
                format!("unknown field, expected one of {}", expected.join(", "))
            };
            if let Some(close) = expected
                .iter()
                .map(|c| (levenshtein(c, field), c))
                .filter(|(d, c)| *d <= 2.max(c.len() / 3))
                .min()
            {
                m.push_str(&format!(" (did you mean {}?)", close.1));
            }
            m
        }
        Kind::InvalidType(actual, expected) => {
            let mut m = format!("invalid type: found {actual}, expected {expected}");
            if field_by_path(&path).is_some_and(|f| f.kind == FieldKind::String) {
                m.push_str(" (quote the value to make it text)");
            }
            m
        }
        other => other.to_string(),
    };
    // The path is looked up in the original figment: `extract` works on a copy of its
    // values, every one of which is also in the figment.
    let origin = origin(figment, &path).or_else(|| e.metadata.as_ref().map(|m| m.name.to_string()));
    let problem = ConfigProblem::new(path, message);
    match origin {
        Some(o) => problem.with_origin(o),
        None => problem,
    }
}

/// A loaded, validated configuration and where each value came from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LoadedConfig {
    /// The effective configuration.
    pub config: DatabaseConfig,
    /// The sources that were merged, lowest precedence first: `default`,
    /// `file <path>`, `DATABASE_URL`, `env var DB_...`.
    pub sources: Vec<String>,
    /// Field path → origin, for every field.
    origins: BTreeMap<String, String>,
}

/// One field of a [`LoadedConfig`], for display: path, value (secrets redacted) and origin.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ConfigEntry {
    /// The full dotted path, e.g. `database.postgres.port`.
    pub path: String,
    /// The effective value as written in a file; passwords are `"***"` (or `""` if unset).
    pub value: serde_json::Value,
    /// Where the value came from: `default`, `file <path>`, `DATABASE_URL`, `env var DB_...`.
    pub origin: String,
    /// The environment variable that overrides this field.
    pub env_var: String,
    /// The backend section, or `None` for `type`.
    pub section: Option<String>,
}

impl LoadedConfig {
    /// Where the value of `field_path` came from: `default`, `file <path>`,
    /// `DATABASE_URL` or `env var DB_...`. The `database.` prefix is optional
    /// (`postgres.port` works too). `None` for unknown fields.
    pub fn origin_of(&self, field_path: &str) -> Option<String> {
        self.origins
            .get(field_path)
            .or_else(|| self.origins.get(&format!("{SECTION}.{field_path}")))
            .cloned()
    }

    /// Every field with its redacted value and origin, `type` first, then the sections.
    pub fn entries(&self) -> Vec<ConfigEntry> {
        let redacted = serde_json::json!({ SECTION: self.config.redacted() });
        config_fields()
            .iter()
            .map(|f| {
                let value = f
                    .path
                    .split('.')
                    .try_fold(&redacted, |v, k| v.get(k))
                    .cloned()
                    .unwrap_or(serde_json::Value::Null);
                ConfigEntry {
                    path: f.path.clone(),
                    value,
                    origin: self
                        .origins
                        .get(&f.path)
                        .cloned()
                        .unwrap_or_else(|| DEFAULT_ORIGIN.to_owned()),
                    env_var: f.env_var.clone(),
                    section: f.section.clone(),
                }
            })
            .collect()
    }
}
