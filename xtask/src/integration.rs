//! `cargo xtask integration`: the conformance suite (`tests/`, package `conformance`),
//! once per driver, selected with `DB_TEST_DRIVER`.
//!
//! A server driver's suite runs against the server at its test URL
//! (`DB_TEST_POSTGRES_URL` / `DB_TEST_MYSQL_URL`); when nothing answers there, xtask
//! starts a throwaway server in `target/xtask-servers/` for the run, or fails saying what
//! to install or set (see [`crate::servers`]).

use std::path::Path;
use std::time::Duration;

use crate::servers::{self, Kind, Server};
use crate::util::{Cmd, Result, project_root, secs, use_nextest};

/// Arguments of `cargo xtask integration`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Driver(s) to test: sqlite, postgres, mysql (comma-separated for several), or
    /// `all` = every driver whose crate exists in this workspace.
    #[arg(long, value_name = "DRIVER", default_value = "all")]
    driver: String,

    /// Keep testing the remaining drivers after one fails (the exit status is still
    /// non-zero).
    #[arg(long)]
    keep_going: bool,

    /// Use `cargo test` even if cargo-nextest is installed.
    #[arg(long)]
    no_nextest: bool,

    /// Extra arguments for the test runner, after `--` (e.g. a test name filter).
    #[arg(last = true, value_name = "TEST_ARGS")]
    test_args: Vec<String>,
}

/// A backend the conformance suite can run against.
#[derive(Debug)]
pub(crate) struct Driver {
    /// The value of `--driver` and of `DB_TEST_DRIVER`.
    pub(crate) name: &'static str,
    /// Other accepted spellings of `--driver`.
    aliases: &'static [&'static str],
    /// The driver crate's manifest, relative to the workspace root; the driver is
    /// available when it exists.
    manifest: &'static str,
    /// The test server: the variable holding its URL, and the URL used when it is unset
    /// (the development machines' local server).
    server: Option<Server>,
    /// `--test-threads` for backends whose tests cannot share the server in parallel.
    test_threads: Option<u32>,
}

/// Every driver the project plans, in test order.
pub(crate) const DRIVERS: &[Driver] = &[
    Driver {
        name: "sqlite",
        aliases: &["sqlite3"],
        manifest: "crates/db-sqlite/Cargo.toml",
        server: None,
        test_threads: None,
    },
    Driver {
        name: "postgres",
        aliases: &["postgresql", "pg"],
        manifest: "crates/db-postgres/Cargo.toml",
        server: Some(Server {
            kind: Kind::Postgres,
            var: "DB_TEST_POSTGRES_URL",
            default_url: "postgres://postgres@127.0.0.1:5432/test",
        }),
        test_threads: None,
    },
    Driver {
        name: "mysql",
        aliases: &["mariadb"],
        manifest: "crates/db-mysql/Cargo.toml",
        server: Some(Server {
            kind: Kind::Mysql,
            var: "DB_TEST_MYSQL_URL",
            default_url: "mysql://root@127.0.0.1:3306/test",
        }),
        test_threads: None,
    },
];

impl Driver {
    fn is_available(&self, root: &Path) -> bool {
        root.join(self.manifest).is_file()
    }

    fn matches(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

fn available_names(root: &Path) -> String {
    let names: Vec<_> = DRIVERS
        .iter()
        .filter(|d| d.is_available(root))
        .map(|d| d.name)
        .collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// Resolves `--driver` (`all`, a name, or a comma-separated list of names) to drivers
/// whose crate exists under `root`. Unknown and not-yet-existing drivers are errors that
/// list the valid and the available names.
pub(crate) fn select(spec: &str, root: &Path) -> Result<Vec<&'static Driver>> {
    let spec = spec.trim();
    if spec.eq_ignore_ascii_case("all") {
        let drivers: Vec<_> = DRIVERS.iter().filter(|d| d.is_available(root)).collect();
        if drivers.is_empty() {
            return Err(
                "no driver crate exists in this workspace (looked for crates/db-*/Cargo.toml)"
                    .to_owned()
                    .into(),
            );
        }
        return Ok(drivers);
    }
    let mut selected: Vec<&'static Driver> = Vec::new();
    for name in spec.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let Some(driver) = DRIVERS.iter().find(|d| d.matches(name)) else {
            let valid: Vec<_> = DRIVERS.iter().map(|d| d.name).collect();
            return Err(format!(
                "unknown driver `{name}`; valid values are {}, all (available in this workspace: {})",
                valid.join(", "),
                available_names(root)
            )
            .into());
        };
        if !driver.is_available(root) {
            return Err(format!(
                "driver `{}` is not in this workspace yet ({} does not exist); available: {}",
                driver.name,
                driver.manifest,
                available_names(root)
            )
            .into());
        }
        if !selected.iter().any(|d| d.name == driver.name) {
            selected.push(driver);
        }
    }
    if selected.is_empty() {
        return Err("--driver is empty; use sqlite, postgres, mysql or all"
            .to_owned()
            .into());
    }
    Ok(selected)
}

/// The command that runs the conformance suite for `driver`; `server_url`, if given, is
/// set as the driver's URL variable (it must hold no password: it is echoed).
fn suite_command(
    driver: &Driver,
    nextest: bool,
    test_args: &[String],
    server_url: Option<&str>,
) -> Cmd {
    let mut cmd = if nextest {
        let mut cmd = Cmd::cargo(["nextest", "run", "-p", "conformance", "--no-fail-fast"]);
        if let Some(n) = driver.test_threads {
            cmd = cmd.arg("--test-threads").arg(n.to_string());
        }
        if !test_args.is_empty() {
            cmd = cmd.arg("--").args(test_args.iter().cloned());
        }
        cmd
    } else {
        let mut cmd = Cmd::cargo(["test", "-p", "conformance", "--no-fail-fast"]);
        if driver.test_threads.is_some() || !test_args.is_empty() {
            cmd = cmd.arg("--");
            if let Some(n) = driver.test_threads {
                cmd = cmd.arg(format!("--test-threads={n}"));
            }
            cmd = cmd.args(test_args.iter().cloned());
        }
        cmd
    };
    cmd = cmd.env("DB_TEST_DRIVER", driver.name);
    if let (Some(server), Some(url)) = (&driver.server, server_url) {
        cmd = cmd.env(server.var, url);
    }
    cmd
}

/// How one driver's run ended.
#[derive(Debug)]
enum Outcome {
    Passed(Duration),
    Failed(Duration),
    /// No server answered and none could be started: the suite did not run.
    NoServer,
    NotRun,
}

/// `cargo xtask integration`.
pub(crate) fn run(args: &Args) -> Result {
    let drivers = select(&args.driver, &project_root())?;
    let nextest = use_nextest(args.no_nextest);
    run_drivers(&drivers, nextest, args.keep_going, &args.test_args)
}

/// Runs the suite for each of `drivers` in turn (with nextest or `cargo test`) and
/// prints a summary; fails if any driver failed. Without `keep_going` it stops at the
/// first failing driver.
pub(crate) fn run_drivers(
    drivers: &[&'static Driver],
    nextest: bool,
    keep_going: bool,
    test_args: &[String],
) -> Result {
    let mut outcomes: Vec<(&Driver, Outcome)> =
        drivers.iter().map(|d| (*d, Outcome::NotRun)).collect();
    for (driver, outcome) in &mut outcomes {
        eprintln!("\n==> conformance suite: {}", driver.name);
        // Finished (or dropped, on a panic) after the suite: stops a throwaway server.
        let server = match driver.server.as_ref().map(servers::prepare).transpose() {
            Ok(server) => server,
            Err(err) => {
                eprintln!("error: {err}");
                *outcome = Outcome::NoServer;
                if keep_going {
                    continue;
                }
                break;
            }
        };
        let url = server.as_ref().and_then(servers::Prepared::url);
        let (result, took) = suite_command(driver, nextest, test_args, url).run_timed();
        if let Some(server) = server {
            server.finish();
        }
        match result {
            Ok(()) => *outcome = Outcome::Passed(took),
            Err(err) => {
                eprintln!("error: {err}");
                *outcome = Outcome::Failed(took);
                if !keep_going {
                    break;
                }
            }
        }
    }

    eprintln!("\nintegration summary:");
    let mut failed = Vec::new();
    let mut no_server = Vec::new();
    for (driver, outcome) in &outcomes {
        let line = match outcome {
            Outcome::Passed(t) => format!("passed  ({})", secs(*t)),
            Outcome::Failed(t) => {
                failed.push(driver.name);
                format!("FAILED  ({})", secs(*t))
            }
            Outcome::NoServer => {
                no_server.push(driver.name);
                "FAILED  (not run: no test server, see the error above)".to_owned()
            }
            Outcome::NotRun => {
                "not run (stopped after a failure; --keep-going runs the rest)".to_owned()
            }
        };
        eprintln!("  {:<10} {line}", driver.name);
    }
    let mut problems = Vec::new();
    if !failed.is_empty() {
        problems.push(format!(
            "conformance suite failed for: {}",
            failed.join(", ")
        ));
    }
    if !no_server.is_empty() {
        problems.push(format!(
            "conformance suite not run (no test server) for: {}",
            no_server.join(", ")
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; ").into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_by_name_alias_and_all() {
        let root = project_root();
        let all = select("all", &root).expect("sqlite exists");
        assert!(all.iter().any(|d| d.name == "sqlite"));
        assert_eq!(select("SQLite3", &root).expect("alias")[0].name, "sqlite");
        assert_eq!(select("sqlite,sqlite", &root).expect("dedup").len(), 1);
    }

    #[test]
    fn unknown_driver_lists_valid_names() {
        let err = select("oracle", &project_root())
            .expect_err("unknown")
            .to_string();
        for name in ["oracle", "sqlite", "postgres", "mysql", "all"] {
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn missing_driver_crate_is_named() {
        let tmp = std::env::temp_dir().join("xtask-no-drivers");
        let err = select("postgres", &tmp)
            .expect_err("missing crate")
            .to_string();
        assert!(err.contains("crates/db-postgres/Cargo.toml"), "{err}");
        assert!(select("all", &tmp).is_err());
    }

    #[test]
    fn suite_command_sets_driver() {
        let cmd = suite_command(&DRIVERS[0], true, &["scenario".to_owned()], None).to_string();
        assert_eq!(
            cmd,
            "DB_TEST_DRIVER=sqlite cargo nextest run -p conformance --no-fail-fast -- scenario"
        );
        let cmd = suite_command(&DRIVERS[0], false, &[], None).to_string();
        assert_eq!(
            cmd,
            "DB_TEST_DRIVER=sqlite cargo test -p conformance --no-fail-fast"
        );
    }

    #[test]
    fn suite_command_sets_the_server_url() {
        let url = "postgres://postgres@127.0.0.1:40000/test";
        let cmd = suite_command(&DRIVERS[1], true, &[], Some(url)).to_string();
        assert_eq!(
            cmd,
            format!(
                "DB_TEST_DRIVER=postgres DB_TEST_POSTGRES_URL={url} cargo nextest run -p conformance --no-fail-fast"
            )
        );
        // Without a URL to set, the environment's value is used.
        let cmd = suite_command(&DRIVERS[1], true, &[], None).to_string();
        assert!(!cmd.contains("DB_TEST_POSTGRES_URL"), "{cmd}");
    }
}
