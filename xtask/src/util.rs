//! Shared helpers: the workspace root and echoed command execution.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The error of an xtask command: a message for the user.
#[derive(Debug)]
pub(crate) struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Error(message)
    }
}

/// Result of an xtask command.
pub(crate) type Result<T = ()> = std::result::Result<T, Error>;

/// The workspace root: the parent of this crate's directory.
pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// A command line to run from the workspace root, echoed before it runs.
///
/// Only what the command sets itself is echoed, never the inherited environment (which
/// may hold credentials, e.g. a database URL with a password).
#[derive(Debug, Clone)]
pub(crate) struct Cmd {
    program: String,
    args: Vec<String>,
    envs: Vec<(String, String)>,
}

impl Cmd {
    /// A command running `program` (looked up in `PATH`).
    pub(crate) fn new(program: &str) -> Self {
        Cmd {
            program: program.to_owned(),
            args: Vec::new(),
            envs: Vec::new(),
        }
    }

    /// A `cargo` command with `args`.
    pub(crate) fn cargo<I, S>(args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Cmd::new("cargo").args(args)
    }

    /// Appends one argument.
    pub(crate) fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends several arguments.
    pub(crate) fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the command (shown in the echo).
    pub(crate) fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.envs.push((key.to_owned(), value.into()));
        self
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .current_dir(project_root());
        cmd
    }

    /// Echoes the command line (`$ cargo ...`) and runs it with inherited stdio.
    /// Fails if it cannot be started or exits unsuccessfully.
    pub(crate) fn run(&self) -> Result {
        eprintln!("$ {self}");
        let status = self
            .command()
            .status()
            .map_err(|e| format!("could not run `{}`: {e}", self.program))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("`{self}` failed ({status})").into())
        }
    }

    /// Like [`Cmd::run`], and also returns how long the command took.
    pub(crate) fn run_timed(&self) -> (Result, Duration) {
        let start = Instant::now();
        let result = self.run();
        (result, start.elapsed())
    }

    /// Echoes the command line and runs it with its output appended to `log` (for noisy
    /// set-up commands such as `initdb`). On failure the error shows the end of `log`.
    pub(crate) fn run_logged(&self, log: &Path) -> Result {
        eprintln!("$ {self}");
        let (out, err) = log_files(log)?;
        let status = self
            .command()
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .map_err(|e| format!("could not run `{}`: {e}", self.program))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "`{self}` failed ({status}); the end of {}:\n{}",
                log.display(),
                tail(log, 20)
            )
            .into())
        }
    }

    /// Echoes the command line and starts it in the background with its output appended
    /// to `log`. On Unix it gets a process group of its own, so that a Ctrl-C in the
    /// terminal does not reach it: whoever starts it also stops it.
    pub(crate) fn spawn_logged(&self, log: &Path) -> Result<Child> {
        eprintln!("$ {self} &");
        let (out, err) = log_files(log)?;
        let mut cmd = self.command();
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        own_process_group(&mut cmd);
        cmd.spawn()
            .map_err(|e| format!("could not run `{}`: {e}", self.program).into())
    }

    /// Runs the command silently and returns its standard output if it succeeded.
    pub(crate) fn output(&self) -> Option<String> {
        let out = self
            .command()
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs the command silently, without echo; true if it started and succeeded.
    /// For probes such as "is cargo-nextest installed?".
    pub(crate) fn probe(&self) -> bool {
        self.command()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, v) in &self.envs {
            write!(f, "{k}={} ", shell_quote(v))?;
        }
        f.write_str(&shell_quote(&self.program))?;
        for arg in &self.args {
            write!(f, " {}", shell_quote(arg))?;
        }
        Ok(())
    }
}

/// Puts `cmd` into a process group of its own (Unix only), out of reach of the
/// terminal's Ctrl-C.
pub(crate) fn own_process_group(cmd: &mut Command) {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    #[cfg(not(unix))]
    let _ = cmd;
}

/// `log` opened for appending, twice: for stdout and stderr.
fn log_files(log: &Path) -> Result<(File, File)> {
    let open = || {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| format!("cannot open {}: {e}", log.display()))
    };
    Ok((open()?, open()?))
}

/// The last `lines` lines of the file at `path`, indented, for error messages.
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            let start = all.len().saturating_sub(lines);
            if all.is_empty() {
                "    (empty)".to_owned()
            } else {
                all[start..]
                    .iter()
                    .map(|l| format!("    | {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        }
        Err(e) => format!("    (cannot read it: {e})"),
    }
}

/// Quotes `s` for a POSIX shell when it contains anything but safe characters, so an
/// echoed command line can be copied and re-run.
pub(crate) fn shell_quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,@+%^".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Whether `cargo nextest` is installed (and `no_nextest` was not asked for).
pub(crate) fn use_nextest(no_nextest: bool) -> bool {
    if no_nextest {
        return false;
    }
    let found = Cmd::cargo(["nextest", "--version"]).probe();
    if !found {
        eprintln!("note: cargo-nextest not found, using `cargo test`");
    }
    found
}

/// Formats a duration as seconds with one decimal, for summaries.
pub(crate) fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_shows_set_env_and_quotes() {
        let cmd =
            Cmd::cargo(["test", "-p", "conformance", "--", "a b"]).env("DB_TEST_DRIVER", "sqlite");
        assert_eq!(
            cmd.to_string(),
            "DB_TEST_DRIVER=sqlite cargo test -p conformance -- 'a b'"
        );
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn project_root_is_the_workspace() {
        assert!(project_root().join("Cargo.toml").is_file());
        assert!(project_root().join("xtask").is_dir());
    }
}
