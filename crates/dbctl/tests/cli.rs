//! Runs the built `dbctl` binary in a temporary working directory with a controlled
//! environment (nothing inherited but `PATH`).
#![allow(clippy::unwrap_used)] // tests may panic on failure

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// A temporary working directory to run dbctl in.
struct Sandbox {
    dir: TempDir,
}

/// The outcome of one run.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Sandbox {
    fn new() -> Self {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Runs dbctl with `args` and only the variables in `env` (plus `PATH`).
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dbctl"));
        cmd.args(args).current_dir(self.path()).env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let Output {
            status,
            stdout,
            stderr,
        } = cmd.output().unwrap();
        let run = Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        };
        assert!(!run.stderr.contains("panicked"), "{run:#?}");
        assert!(!run.stdout.contains("panicked"), "{run:#?}");
        run
    }

    /// Runs and expects success.
    fn ok(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let run = self.run(args, env);
        assert_eq!(run.code, 0, "{run:#?}");
        run
    }

    /// Runs and expects failure with `code`, one `error:` paragraph on stderr containing
    /// every string of `needles`.
    fn fails(&self, code: i32, args: &[&str], env: &[(&str, &str)], needles: &[&str]) -> Run {
        let run = self.run(args, env);
        assert_eq!(run.code, code, "{run:#?}");
        let paragraph = run
            .stderr
            .split("\n\n")
            .filter(|p| p.contains("error:"))
            .collect::<Vec<_>>();
        assert_eq!(paragraph.len(), 1, "one error paragraph expected: {run:#?}");
        assert_eq!(run.stderr.matches("error:").count(), 1, "{run:#?}");
        for needle in needles {
            assert!(run.stderr.contains(needle), "missing {needle:?}: {run:#?}");
        }
        assert!(run.stderr.contains("\nhint: "), "no hint: {run:#?}");
        run
    }
}

fn assert_sqlite_check(run: &Run) {
    assert!(run.stdout.contains("type:            sqlite"), "{run:#?}");
    assert!(
        run.stdout.contains("server version:  SQLite 3."),
        "{run:#?}"
    );
    assert!(run.stdout.contains("ping latency:"), "{run:#?}");
    assert!(run.stdout.contains("pool:"), "{run:#?}");
}

#[test]
fn check_with_no_config_uses_the_embedded_default() {
    let sb = Sandbox::new();
    let run = sb.ok(&["check"], &[]);
    assert_sqlite_check(&run);
    assert!(
        run.stdout.contains("target:          ./data/app.db"),
        "{run:#?}"
    );
    assert!(sb.path().join("data/app.db").exists());
}

#[test]
fn check_json() {
    let sb = Sandbox::new();
    let run = sb.ok(&["--json", "check"], &[("DB_SQLITE_FILE_PATH", ":memory:")]);
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["type"], "sqlite");
    assert_eq!(v["target"], ":memory:");
    assert!(v["server_version"].as_str().unwrap().contains("SQLite"));
    assert_eq!(
        v["warnings"],
        serde_json::json!([]),
        "SQLite has no server limits to check"
    );
    assert!(v["latency_ms"].as_f64().unwrap() >= 0.0);
    assert!(v["stats"]["max_open"].as_u64().unwrap() >= 1);
}

#[test]
fn check_with_json_and_yaml_files() {
    let sb = Sandbox::new();
    sb.write(
        "db.json",
        r#"{ "database": { "type": "sqlite", "sqlite": { "filePath": "./json.db", "maxOpenConns": 2, "maxIdleConns": 1 } } }"#,
    );
    let run = sb.ok(&["--config", "db.json", "check"], &[]);
    assert_sqlite_check(&run);
    assert!(
        run.stdout.contains("target:          ./json.db"),
        "{run:#?}"
    );
    assert!(sb.path().join("json.db").exists());

    sb.write(
        "db.yaml",
        "database:\n  type: sqlite\n  sqlite:\n    filePath: ./yaml.db\n    journalMode: DELETE\n",
    );
    let run = sb.ok(&["--config", "db.yaml", "check"], &[]);
    assert!(
        run.stdout.contains("target:          ./yaml.db"),
        "{run:#?}"
    );
    assert!(sb.path().join("yaml.db").exists());
}

#[test]
fn check_with_env_override_and_database_url() {
    let sb = Sandbox::new();
    sb.write(
        "db.json",
        r#"{ "database": { "sqlite": { "filePath": "./file.db" } } }"#,
    );
    let run = sb.ok(
        &["--config", "db.json", "check"],
        &[("DB_SQLITE_FILE_PATH", "./env.db")],
    );
    assert!(run.stdout.contains("target:          ./env.db"), "{run:#?}");
    assert!(sb.path().join("env.db").exists());
    assert!(!sb.path().join("file.db").exists());

    let run = sb.ok(&["check"], &[("DATABASE_URL", "sqlite://./url.db")]);
    assert_sqlite_check(&run);
    assert!(run.stdout.contains("target:          ./url.db"), "{run:#?}");
    assert!(sb.path().join("url.db").exists());
}

#[test]
fn bad_type_lists_supported_types() {
    let sb = Sandbox::new();
    sb.fails(
        2,
        &["check"],
        &[("DB_TYPE", "oracle")],
        &[
            "database.type",
            "\"oracle\"",
            "postgres, sqlite, mysql",
            "DB_TYPE",
        ],
    );
}

#[test]
fn port_out_of_range_names_field_and_file() {
    let sb = Sandbox::new();
    sb.write(
        "pg.json",
        r#"{ "database": { "type": "postgres", "postgres": { "port": 70000 } } }"#,
    );
    sb.fails(
        2,
        &["--config", "pg.json", "check"],
        &[],
        &[
            "database.postgres.port: must be between 1 and 65535, got 70000",
            "file pg.json",
        ],
    );
}

#[test]
fn empty_file_path() {
    let sb = Sandbox::new();
    sb.write("e.yaml", "database:\n  sqlite:\n    filePath: \"\"\n");
    sb.fails(
        2,
        &["--config", "e.yaml", "check"],
        &[],
        &["database.sqlite.filePath: must not be empty", "e.yaml"],
    );
}

#[test]
fn malformed_json_names_the_file() {
    let sb = Sandbox::new();
    sb.write("bad.json", "{ \"database\": { \"type\": \"sqlite\", } }");
    sb.fails(
        2,
        &["--config", "bad.json", "check"],
        &[],
        &["bad.json is not valid JSON", "line 1 column"],
    );
}

#[test]
fn bad_duration_says_how_to_write_one() {
    let sb = Sandbox::new();
    sb.write(
        "d.json",
        r#"{ "database": { "sqlite": { "timeout": "5 minutes" } } }"#,
    );
    sb.fails(
        2,
        &["--config", "d.json", "check"],
        &[],
        &[
            "database.sqlite.timeout",
            "\"5 minutes\"",
            "500ms, 30s, 5m",
            "d.json",
        ],
    );
}

#[test]
fn missing_config_file() {
    let sb = Sandbox::new();
    sb.fails(
        2,
        &["--config", "nope.json", "check"],
        &[],
        &["nope.json", "no such file"],
    );
}

#[test]
fn unknown_key_and_unknown_variable() {
    let sb = Sandbox::new();
    sb.write(
        "k.json",
        r#"{ "database": { "postgres": { "maxOpenConn": 5 } } }"#,
    );
    sb.fails(
        2,
        &["--config", "k.json", "check"],
        &[],
        &[
            "database.postgres.maxOpenConn: unknown field",
            "maxOpenConns",
        ],
    );
    sb.fails(
        2,
        &["check"],
        &[("DB_SQLITE_FILEPATH", "x.db")],
        &["DB_SQLITE_FILEPATH", "did you mean DB_SQLITE_FILE_PATH"],
    );
}

#[cfg(not(feature = "postgres"))]
#[test]
fn postgres_is_not_compiled_in() {
    let sb = Sandbox::new();
    let run = sb.fails(
        2,
        &["check"],
        &[("DB_TYPE", "postgres"), ("DB_POSTGRES_PASSWORD", "hunter2")],
        &[
            "postgres driver is not compiled in",
            "`postgres` feature",
            "sqlite",
        ],
    );
    assert!(!run.stderr.contains("hunter2"));
    assert!(!run.stderr.contains("connecting"), "{run:#?}");

    let run = sb.run(&["--json", "check"], &[("DB_TYPE", "postgres")]);
    assert_eq!(run.code, 2);
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["kind"], "unsupported_database");
    assert!(v["error"].as_str().unwrap().contains("postgres"));
}

#[test]
fn config_errors_in_json() {
    let sb = Sandbox::new();
    let run = sb.run(&["--json", "check"], &[("DB_MYSQL_PORT", "70000")]);
    assert_eq!(run.code, 2, "{run:#?}");
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["kind"], "config");
    assert_eq!(v["problems"][0]["path"], "database.mysql.port");
    assert_eq!(v["problems"][0]["origin"], "env var DB_MYSQL_PORT");
}

#[test]
fn connect_failure_exits_1_with_a_hint() {
    let sb = Sandbox::new();
    sb.write("blocker", "a file, not a directory");
    sb.fails(
        1,
        &["check"],
        &[("DB_SQLITE_FILE_PATH", "./blocker/app.db")],
        &["./blocker/app.db", "database.sqlite.filePath"],
    );
}

#[test]
fn query_with_params_in_every_format() {
    let sb = Sandbox::new();
    let env = [("DB_SQLITE_FILE_PATH", "./q.db")];
    let run = sb.ok(
        &[
            "query",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL, code TEXT)",
        ],
        &env,
    );
    assert_eq!(run.stdout, "0 row(s) affected\n");
    let run = sb.ok(
        &[
            "query",
            "INSERT INTO t (id, name, score, code) VALUES ($1, $2, $3, $4), ($5, $6, $7, $8)",
            "1",
            "alice, \"al\"",
            "1.5",
            "s:007",
            "-2",
            "null",
            "null",
            "0123",
        ],
        &env,
    );
    assert_eq!(run.stdout, "2 row(s) affected\n");

    let sql = "SELECT id, name, score, code, typeof(code) AS kind FROM t ORDER BY id";
    let table = sb.ok(&["query", sql], &env).stdout;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "id | name        | score | code | kind");
    assert_eq!(lines[1], "-- | ----------- | ----- | ---- | ----");
    assert_eq!(lines[2], "-2 | NULL        |  NULL | 0123 | text");
    assert_eq!(lines[3], " 1 | alice, \"al\" |   1.5 | 007  | text");
    assert_eq!(lines[4], "(2 rows)");

    let csv = sb.ok(&["query", sql, "--format", "csv"], &env).stdout;
    assert_eq!(
        csv,
        "id,name,score,code,kind\r\n-2,,,0123,text\r\n1,\"alice, \"\"al\"\"\",1.5,007,text\r\n"
    );

    let json = sb.ok(&["query", sql, "--format", "json"], &env).stdout;
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["id"], -2);
    assert_eq!(v[0]["name"], serde_json::Value::Null);
    assert_eq!(v[1]["name"], "alice, \"al\"");
    assert_eq!(v[1]["score"], 1.5);
    assert_eq!(v[1]["code"], "007");
    // --json alone selects JSON rows too.
    let json2 = sb.ok(&["--json", "query", sql], &env).stdout;
    assert_eq!(json, json2);

    // Parameters typed as booleans and a RETURNING clause.
    let run = sb.ok(
        &[
            "query",
            "INSERT INTO t (id, name) VALUES ($1, $2) RETURNING id, name",
            "3",
            "true",
        ],
        &env,
    );
    assert!(run.stdout.contains("3 | 1"), "{run:#?}");
    let run = sb.ok(
        &["--json", "query", "DELETE FROM t WHERE id > $1", "-5"],
        &env,
    );
    assert_eq!(run.stdout.trim(), r#"{"rows_affected":3}"#);
}

#[test]
fn query_errors() {
    let sb = Sandbox::new();
    let env = [("DB_SQLITE_FILE_PATH", ":memory:")];
    sb.fails(
        1,
        &["query", "SELEC 1"],
        &env,
        &["the statement failed", "syntax"],
    );
    sb.fails(
        1,
        &["query", "SELECT $1 + $2", "1"],
        &env,
        &["$2", "s: to force text"],
    );
    let run = sb.run(&["query", "SELECT 1", "--format", "xml"], &env);
    assert_eq!(run.code, 2, "{run:#?}");
}

#[test]
fn config_shows_origins_and_redacts_passwords() {
    let sb = Sandbox::new();
    sb.write(
        "db.json",
        r#"{ "database": { "type": "postgres", "postgres": { "host": "db.internal" } } }"#,
    );
    let env = [
        ("DB_POSTGRES_PASSWORD", "hunter2"),
        ("DB_POSTGRES_PORT", "6543"),
    ];
    let run = sb.ok(&["--config", "db.json", "config"], &env);
    let out = &run.stdout;
    assert!(
        !out.contains("hunter2") && !run.stderr.contains("hunter2"),
        "{run:#?}"
    );
    let line = |path: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{path} ")))
            .unwrap_or_else(|| panic!("no line for {path}: {out}"))
            .to_owned()
    };
    assert!(
        line("database.postgres.password").contains("\"***\""),
        "{out}"
    );
    assert!(
        line("database.postgres.password").ends_with("(env var DB_POSTGRES_PASSWORD)"),
        "{out}"
    );
    assert!(line("database.postgres.port").contains("6543"), "{out}");
    assert!(
        line("database.postgres.port").ends_with("(env var DB_POSTGRES_PORT)"),
        "{out}"
    );
    assert!(
        line("database.postgres.host").ends_with("(file db.json)"),
        "{out}"
    );
    assert!(line("database.type").ends_with("(file db.json)"), "{out}");
    assert!(
        line("database.postgres.sslMode").ends_with("(default)"),
        "{out}"
    );
    assert!(!out.contains("database.sqlite."), "{out}");

    let all = sb
        .ok(&["--config", "db.json", "config", "--all"], &env)
        .stdout;
    assert!(all.contains("database.sqlite.filePath"), "{all}");
    assert!(all.contains("database.mysql.host"), "{all}");
    assert!(!all.contains("hunter2"));

    let run = sb.ok(&["--json", "--config", "db.json", "config"], &env);
    assert!(!run.stdout.contains("hunter2"));
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(v["database.postgres.password"]["value"], "***");
    assert_eq!(
        v["database.postgres.password"]["origin"],
        "env var DB_POSTGRES_PASSWORD"
    );
    assert_eq!(v["database.postgres.port"]["value"], 6543);
    assert_eq!(v["database.postgres.host"]["origin"], "file db.json");

    let run = sb.ok(
        &["config"],
        &[("DATABASE_URL", "postgres://u:hunter2@h/db")],
    );
    assert!(!run.stdout.contains("hunter2"), "{run:#?}");
    assert!(run.stdout.contains("(DATABASE_URL)"), "{run:#?}");
}

#[test]
fn health_one_shot() {
    let sb = Sandbox::new();
    let run = sb.ok(&["health"], &[]);
    assert!(
        run.stdout.starts_with("healthy: sqlite SQLite 3."),
        "{run:#?}"
    );
    assert!(run.stdout.contains("pool: open"), "{run:#?}");

    let run = sb.ok(
        &["--json", "health"],
        &[("DB_SQLITE_FILE_PATH", ":memory:")],
    );
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(v["healthy"], true);
    assert_eq!(v["database_type"], "sqlite");
    assert!(v["stats"].is_object());

    let run = sb.run(&["health", "--interval", "0"], &[]);
    assert_eq!(run.code, 2, "{run:#?}");
}

#[test]
fn usage_without_a_subcommand_is_an_error() {
    let sb = Sandbox::new();
    let run = sb.run(&[], &[]);
    assert_eq!(run.code, 2, "{run:#?}");
    let run = sb.ok(&["--help"], &[]);
    assert!(run.stdout.contains("check"), "{run:#?}");
}

impl Sandbox {
    /// Runs `dbctl health --watch --interval 50ms` with only `env` (plus `PATH`) and
    /// returns its first three lines on stdout, and whether it was still running after
    /// them (it is killed then).
    fn watch_three_lines(&self, env: &[(&str, &str)]) -> (Vec<String>, bool) {
        use std::io::{BufRead, BufReader};
        use std::process::Stdio;

        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dbctl"));
        cmd.args(["health", "--watch", "--interval", "50ms"])
            .current_dir(self.path())
            .env_clear()
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines: Vec<String> = BufReader::new(stdout)
            .lines()
            .take(3)
            .map(Result::unwrap)
            .collect();
        let running = child.try_wait().unwrap().is_none();
        child.kill().unwrap();
        child.wait().unwrap();
        (lines, running)
    }
}

#[test]
fn health_watch_prints_one_line_per_check() {
    let sb = Sandbox::new();
    let (lines, running) = sb.watch_three_lines(&[("DB_SQLITE_FILE_PATH", ":memory:")]);
    assert!(running, "dbctl exited while watching: {lines:?}");
    assert_eq!(lines.len(), 3, "{lines:?}");
    for line in &lines {
        assert!(line.contains(" healthy latency="), "{line}");
        assert!(line.contains("open="), "{line}");
    }
}

/// With the driver compiled in (the default), a PostgreSQL server that does not answer
/// is a connection error naming the target and the attempts, never the password.
#[cfg(feature = "postgres")]
#[test]
fn postgres_server_down_is_a_connect_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let sb = Sandbox::new();
    let run = sb.fails(
        1,
        &["check"],
        &[
            ("DB_TYPE", "postgres"),
            ("DB_POSTGRES_HOST", "127.0.0.1"),
            ("DB_POSTGRES_PORT", &port),
            ("DB_POSTGRES_PASSWORD", "hunter2"),
            ("DB_POSTGRES_MAX_RETRIES", "1"),
            ("DB_POSTGRES_RETRY_DELAY", "10ms"),
        ],
        &[
            &format!("could not connect to postgres at 127.0.0.1:{port}/"),
            "after 2 attempt(s)",
        ],
    );
    assert!(!run.stderr.contains("hunter2"), "{run:#?}");
    assert!(!run.stdout.contains("hunter2"), "{run:#?}");
}

/// `health --watch` on a database that is not up yet keeps watching: one UNHEALTHY line
/// per failed connect, instead of exiting at the first.
#[cfg(feature = "postgres")]
#[test]
fn health_watch_waits_for_a_server_that_is_down() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let sb = Sandbox::new();
    let (lines, running) = sb.watch_three_lines(&[
        ("DB_TYPE", "postgres"),
        ("DB_POSTGRES_HOST", "127.0.0.1"),
        ("DB_POSTGRES_PORT", &port),
        ("DB_POSTGRES_MAX_RETRIES", "0"),
    ]);
    assert!(running, "dbctl exited while watching: {lines:?}");
    assert_eq!(lines.len(), 3, "{lines:?}");
    for line in &lines {
        assert!(line.contains(" UNHEALTHY connect: "), "{line}");
        assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
    }
}

/// `DB_MYSQL_*` variables without a database type are not silently ignored: dbctl says
/// that the default SQLite database is used and how to select MySQL.
#[test]
fn section_variables_without_a_type_get_a_note() {
    let sb = Sandbox::new();
    let run = sb.ok(
        &["config"],
        &[
            ("DB_MYSQL_PORT", "3307"),
            ("DB_SQLITE_FILE_PATH", ":memory:"),
        ],
    );
    assert!(
        run.stderr.contains(
            "note: DB_MYSQL_PORT is set, but the database type is sqlite (the default), so \
             it is ignored; set DB_TYPE=mysql to use it"
        ),
        "{run:#?}"
    );
    // With a type chosen, the other sections' variables are the user's business.
    let run = sb.ok(
        &["config"],
        &[
            ("DB_TYPE", "sqlite"),
            ("DB_MYSQL_PORT", "3307"),
            ("DB_SQLITE_FILE_PATH", ":memory:"),
        ],
    );
    assert!(!run.stderr.contains("note:"), "{run:#?}");
}

/// `health --watch` ends at once, with the error, when the server refuses what the
/// configuration asks for (here TLS, with `sslMode: require`): unlike a server that is
/// down, that does not heal by waiting, and repeating it would only fill the server's log
/// with refused logins.
#[cfg(feature = "postgres")]
#[test]
fn health_watch_stops_when_the_server_refuses_tls() {
    use std::io::{Read, Write};
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    // A listener that answers PostgreSQL's TLS request with "no TLS here" ('N'), as a
    // server built without SSL support does.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = [0u8; 8];
            if stream.read_exact(&mut request).is_ok() {
                let _ = stream.write_all(b"N");
            }
        }
    });
    let sb = Sandbox::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dbctl"))
        .args(["health", "--watch", "--interval", "50ms"])
        .current_dir(sb.path())
        .env_clear()
        .envs(std::env::var_os("PATH").map(|p| ("PATH", p)))
        .envs([
            ("DB_TYPE", "postgres"),
            ("DB_POSTGRES_HOST", "127.0.0.1"),
            ("DB_POSTGRES_PORT", port.as_str()),
            ("DB_POSTGRES_SSL_MODE", "require"),
            ("DB_POSTGRES_MAX_RETRIES", "0"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(20) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if status.is_none() {
        child.kill().unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let status = status.unwrap_or_else(|| {
        panic!("dbctl kept watching a server that refuses TLS:\n{stdout}\n{stderr}")
    });
    assert_eq!(status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(!stdout.contains("UNHEALTHY"), "{stdout}");
    assert!(stderr.contains("error:"), "{stderr}");
    assert!(stderr.to_lowercase().contains("tls"), "{stderr}");
}
