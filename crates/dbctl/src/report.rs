//! Failures: one paragraph on stderr (what failed, why, and a hint), a JSON object on
//! stdout with `--json`, and the exit code.

use std::process::ExitCode;

use dbfactory::dbcore::{ConfigErrors, ConfigProblem};
use dbfactory::{DatabaseType, DriverRegistry, Error, ErrorKind, LoadedConfig};
use serde_json::json;

use crate::cli::Cli;

/// What dbctl was doing when the error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Loading and validating the configuration.
    Config,
    /// Connecting.
    Connect,
    /// Running the user's statement.
    Query,
    /// Checking health or pinging.
    Health,
}

/// A failed command.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) stage: Stage,
    pub(crate) error: Error,
    /// The configuration, once loaded (for hints naming hosts, files and origins).
    pub(crate) loaded: Option<Box<LoadedConfig>>,
}

impl Failure {
    pub(crate) fn new(stage: Stage, error: Error, loaded: Option<&LoadedConfig>) -> Self {
        Failure {
            stage,
            error: with_origins(error, loaded),
            loaded: loaded.cloned().map(Box::new),
        }
    }
}

/// A configuration error found after loading (a value the server refused when
/// connecting, say), with each problem's origin filled in from the loaded configuration.
fn with_origins(error: Error, loaded: Option<&LoadedConfig>) -> Error {
    let (Error::Config(ConfigErrors(list)), Some(loaded)) = (&error, loaded) else {
        return error;
    };
    let list = list
        .iter()
        .cloned()
        .map(|p| match (&p.origin, loaded.origin_of(&p.path)) {
            (None, Some(origin)) => p.with_origin(origin),
            _ => p,
        })
        .collect();
    Error::Config(ConfigErrors(list))
}

/// Exit code 2 for configuration problems (including a type this build cannot use),
/// 1 for everything else.
pub(crate) fn exit_code(error: &Error) -> u8 {
    match error.kind() {
        ErrorKind::Config | ErrorKind::UnsupportedDatabase => 2,
        _ => 1,
    }
}

/// Prints the failure and returns the exit code.
pub(crate) fn report(cli: &Cli, failure: &Failure) -> ExitCode {
    let message = message(failure);
    let hint = hint(failure);
    let mut paragraph = format!("error: {message}");
    if let Some(h) = &hint {
        paragraph.push_str("\nhint: ");
        paragraph.push_str(h);
    }
    eprintln!("{paragraph}");
    if cli.json {
        let mut obj = json!({
            "ok": false,
            "error": message,
            "kind": failure.error.kind().as_str(),
            "hint": hint,
        });
        if let Error::Config(ConfigErrors(list)) = &failure.error {
            obj["problems"] = list
                .iter()
                .map(|p| json!({ "path": p.path, "message": p.message, "origin": p.origin }))
                .collect();
        }
        println!("{obj}");
    }
    ExitCode::from(exit_code(&failure.error))
}

fn message(failure: &Failure) -> String {
    match failure.stage {
        Stage::Query => format!("the statement failed: {}", failure.error),
        Stage::Health if !matches!(failure.error, Error::Connect { .. }) => {
            format!("the health check failed: {}", failure.error)
        }
        _ => failure.error.to_string(),
    }
}

fn hint(failure: &Failure) -> Option<String> {
    let e = &failure.error;
    if let Error::Config(ConfigErrors(list)) = e {
        return config_hint(list);
    }
    if let Error::DriverNotEnabled {
        database_type,
        feature,
    } = e
    {
        let available: Vec<&str> = DriverRegistry::with_defaults()
            .available()
            .into_iter()
            .map(DatabaseType::as_str)
            .collect();
        let from = failure
            .loaded
            .as_ref()
            .and_then(|l| l.origin_of("database.type"))
            .map(|o| format!(" (the type comes from {o})"))
            .unwrap_or_default();
        return Some(format!(
            "this dbctl was built without the {database_type} driver{from}; rebuild it with \
             `--features {feature}`, or select one of the compiled-in types: {}",
            if available.is_empty() {
                "none".to_owned()
            } else {
                available.join(", ")
            }
        ));
    }
    match failure.stage {
        Stage::Config => None,
        Stage::Connect | Stage::Health => failure.loaded.as_ref().and_then(|l| connect_hint(e, l)),
        Stage::Query => query_hint(e),
    }
}

fn config_hint(list: &[ConfigProblem]) -> Option<String> {
    let [p] = list else {
        return Some("fix each value named above, in the source shown in parentheses".to_owned());
    };
    let origin = p.origin.as_deref().unwrap_or("");
    let m = &p.message;
    let hint = if m.starts_with("cannot read config file") {
        let cwd = std::env::current_dir()
            .map(|d| format!(" (relative paths start at {})", d.display()))
            .unwrap_or_default();
        format!("check the --config path{cwd}")
    } else if m.starts_with("cannot tell the format") {
        "name the file with a .json, .yaml or .yml extension".to_owned()
    } else if m.contains("must hold a map") {
        "the file must look like {\"database\": {\"type\": \"sqlite\", \"sqlite\": {...}}} \
         (or the same in YAML)"
            .to_owned()
    } else if m.starts_with("config file") && m.contains(" line ") {
        "fix the syntax at the line and column shown".to_owned()
    } else if m.starts_with("config file") {
        "fix the syntax of the file".to_owned()
    } else if origin == "DATABASE_URL" {
        "fix DATABASE_URL, e.g. postgres://user:password@host:5432/name, \
         mysql://user:password@host:3306/name or sqlite://./data/app.db"
            .to_owned()
    } else if let Some(var) = origin.strip_prefix("env var ") {
        if p.path.is_empty() {
            format!("rename or unset the environment variable {var}")
        } else {
            format!("fix the environment variable {var} (it sets {})", p.path)
        }
    } else if let Some(file) = origin.strip_prefix("file ") {
        format!("fix `{}` in {file}", p.path)
    } else if p.path.is_empty() {
        return None;
    } else {
        format!("fix `{}`", p.path)
    };
    Some(hint)
}

fn connect_hint(e: &Error, loaded: &LoadedConfig) -> Option<String> {
    let cfg = &loaded.config;
    let t = cfg.database_type;
    let field = |name: &str| {
        let path = format!("database.{t}.{name}");
        let origin = loaded
            .origin_of(&path)
            .unwrap_or_else(|| "default".to_owned());
        format!("{path}, from {origin}")
    };
    let upper = t.as_str().to_ascii_uppercase();
    let hint = match (e.kind(), t) {
        (ErrorKind::Authentication, _) => format!(
            "check the user name and password ({}; {}), or DB_{upper}_USERNAME / \
             DB_{upper}_PASSWORD",
            field("username"),
            field("password")
        ),
        (ErrorKind::Tls, _) => format!(
            "check sslMode ({}) against the server's TLS setup",
            field("sslMode")
        ),
        (ErrorKind::PoolTimeout, _) => format!(
            "no pooled connection became free in time; raise timeout ({}) or maxOpenConns",
            field("timeout")
        ),
        (_, DatabaseType::Sqlite) => format!(
            "check that {} can be opened: its directory must exist or be creatable and be \
             writable, and an existing file must be a SQLite database ({})",
            cfg.sqlite.file_path,
            field("filePath")
        ),
        (ErrorKind::UnknownDatabase, _) => format!(
            "does the database exist on the server? check the name ({})",
            field("name")
        ),
        (_, DatabaseType::Postgres) => format!(
            "is the server running at {}? ({}; {})",
            host_port(&cfg.postgres.host, cfg.postgres.port),
            field("host"),
            field("port")
        ),
        (_, DatabaseType::Mysql) => format!(
            "is the server running at {}? ({}; {})",
            host_port(&cfg.mysql.host, cfg.mysql.port),
            field("host"),
            field("port")
        ),
        _ => return None,
    };
    Some(hint)
}

fn query_hint(e: &Error) -> Option<String> {
    let hint = match e.kind() {
        ErrorKind::Syntax => "check the SQL; run exactly one statement per call",
        ErrorKind::Parameter => {
            "pass one value per $N placeholder ($1, $2, ...); prefix a value with s: to force text"
        }
        ErrorKind::TransactionControl => {
            "dbctl runs each statement on its own; transaction control is refused"
        }
        ErrorKind::UniqueViolation
        | ErrorKind::ForeignKeyViolation
        | ErrorKind::NotNullViolation
        | ErrorKind::CheckViolation => "the data breaks a constraint of the table",
        ErrorKind::Busy | ErrorKind::Deadlock | ErrorKind::SerializationFailure => {
            "another connection holds a conflicting lock; try again"
        }
        _ => return None,
    };
    Some(hint.to_owned())
}

/// `host:port`, IPv6 literals bracketed.
pub(crate) fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(&Error::config("database.x", "bad")), 2);
        assert_eq!(
            exit_code(&Error::DriverNotEnabled {
                database_type: DatabaseType::Postgres,
                feature: "postgres"
            }),
            2
        );
        assert_eq!(exit_code(&Error::RowNotFound), 1);
    }

    #[test]
    fn config_hints() {
        let p = ConfigProblem::new(
            "database.postgres.port",
            "must be between 1 and 65535, got 0",
        )
        .with_origin("file ./db.json");
        assert_eq!(
            config_hint(std::slice::from_ref(&p)).as_deref(),
            Some("fix `database.postgres.port` in ./db.json")
        );
        let p = ConfigProblem::new("", "unknown environment variable DB_SQLITE_X")
            .with_origin("env var DB_SQLITE_X");
        assert_eq!(
            config_hint(&[p]).as_deref(),
            Some("rename or unset the environment variable DB_SQLITE_X")
        );
    }

    #[test]
    fn host_ports() {
        assert_eq!(host_port("::1", 5432), "[::1]:5432");
        assert_eq!(host_port("db", 5432), "db:5432");
    }
}
