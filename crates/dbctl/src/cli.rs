//! Command-line arguments.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

/// Check, query and watch a dblayer database chosen by configuration.
///
/// The configuration comes from the built-in defaults (SQLite at ./data/app.db), the
/// file given with --config, DATABASE_URL, and DB_* environment variables
/// (DB_TYPE, DB_POSTGRES_HOST, DB_SQLITE_FILE_PATH, ...), later ones winning.
#[derive(Debug, Parser)]
#[command(name = "dbctl", version, about, long_about)]
pub(crate) struct Cli {
    /// Configuration file (.json, .yaml or .yml) holding a `database` section.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// Print machine-readable JSON on stdout.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// Log more on stderr: -v info, -vv debug, -vvv trace.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub(crate) verbose: u8,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Load and validate the configuration, connect (with retry), ping, and print the
    /// server version, latency and pool statistics.
    Check,
    /// Run one SQL statement with $1, $2, ... parameters and print its result.
    Query(QueryArgs),
    /// Print the effective configuration, where each value came from, secrets redacted.
    Config(ConfigArgs),
    /// Print a health report (ping, latency, version, pool statistics).
    Health(HealthArgs),
}

#[derive(Debug, Args)]
pub(crate) struct QueryArgs {
    /// The SQL statement, with $1, $2, ... placeholders.
    pub(crate) sql: String,

    /// Parameter values for $1, $2, ...: `null` is NULL, `true`/`false` booleans,
    /// integers and decimal numbers are numbers, anything else is text. Prefix a value
    /// with `s:` to force text (`s:42` is the text "42", `s:null` the text "null").
    /// Put `--` before values that start with `-` and are not numbers.
    #[arg(allow_negative_numbers = true)]
    pub(crate) params: Vec<String>,

    /// Output format of the rows (default: table; json with --json).
    #[arg(long, value_enum)]
    pub(crate) format: Option<Format>,
}

/// How `query` prints rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Aligned columns with a header.
    Table,
    /// An array of objects, one per row.
    Json,
    /// Comma-separated values with a header row (RFC 4180 quoting; NULL is empty).
    Csv,
}

#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    /// Show every section, not only `type` and the selected type's section.
    #[arg(long)]
    pub(crate) all: bool,
}

#[derive(Debug, Args)]
pub(crate) struct HealthArgs {
    /// Check repeatedly, one line per check, until Ctrl-C.
    #[arg(long)]
    pub(crate) watch: bool,

    /// Time between checks with --watch, e.g. 500ms, 5s, 1m.
    #[arg(long, default_value = "5s", value_parser = parse_interval)]
    pub(crate) interval: Duration,
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = dbfactory::dbcore::config::duration::parse_duration(s)?;
    if d.is_zero() {
        return Err("the interval must be greater than 0".to_owned());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("5s"), Ok(Duration::from_secs(5)));
        assert!(parse_interval("0").is_err());
        assert!(parse_interval("5").is_err());
    }
}
