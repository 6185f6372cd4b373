//! Configuration loading: defaults < file < `DATABASE_URL` < `DB_*` variables.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use dbcore::config::SECTION;
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
    /// Every error is [`Error::Config`], each problem naming the field path (when there
    /// is one) and where the value came from: `file ./db.json`, `env var DB_POSTGRES_PORT`,
    /// `DATABASE_URL`.
    pub fn load(&self) -> Result<LoadedConfig> {
        let mut problems = Vec::new();
        let mut layers = vec![Layer::new(
            DEFAULT_ORIGIN,
            serde_json::json!({ SECTION: DatabaseConfig::default() }),
        )];
        if let Some(path) = &self.file
            && let Some(layer) = file_layer(path, &mut problems)
        {
            layers.push(layer);
        }
        let vars = self.env_vars_snapshot();
        if let Some(Ok(url)) = vars.get(DATABASE_URL) {
            if !url.trim().is_empty() {
                match url_data(url) {
                    Ok(data) => layers.push(Layer::new(url::ORIGIN, data)),
                    Err(p) => problems.extend(p),
                }
            }
        } else if let Some(Err(())) = vars.get(DATABASE_URL) {
            problems.push(
                ConfigProblem::new("", "the value is not valid UTF-8").with_origin(url::ORIGIN),
            );
        }
        layers.extend(env_layers(&vars, &mut problems));
        if !problems.is_empty() {
            return Err(Error::Config(ConfigErrors(problems)));
        }

        let sources: Vec<String> = layers.iter().map(|l| l.name().to_owned()).collect();
        let figment = layers
            .into_iter()
            .fold(Figment::new(), |fig, layer| fig.merge(layer));

        let root: Root = figment.extract().map_err(|e| {
            Error::Config(ConfigErrors(
                e.into_iter()
                    .map(|e| figment_problem(&figment, e))
                    .collect(),
            ))
        })?;
        let config = root.database;

        let problems: Vec<ConfigProblem> = config
            .problems()
            .into_iter()
            .map(|p| match origin(&figment, &p.path) {
                Some(o) => p.with_origin(o),
                None => p,
            })
            .collect();
        if !problems.is_empty() {
            return Err(Error::Config(ConfigErrors(problems)));
        }

        let origins = config_fields()
            .iter()
            .map(|f| {
                let o = origin(&figment, &f.path).unwrap_or_else(|| DEFAULT_ORIGIN.to_owned());
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
