#![allow(clippy::unwrap_used)] // tests may panic on failure

use std::time::Duration;

use dbcore::config::{JournalMode, SslMode};
use dbcore::{DatabaseType, ErrorKind};
use tempfile::TempDir;

use super::*;

/// A temporary directory with one config file in it.
struct Files {
    dir: TempDir,
}

impl Files {
    fn new() -> Self {
        Files {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

fn no_env() -> [(&'static str, &'static str); 0] {
    []
}

fn load(file: Option<&Path>, env: &[(&str, &str)]) -> Result<LoadedConfig> {
    ConfigLoader::new()
        .file_opt(file)
        .env_vars(env.iter().copied())
        .load()
}

/// The error message, asserting it is a configuration error.
fn config_err(file: Option<&Path>, env: &[(&str, &str)]) -> String {
    let err = load(file, env).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err:?}");
    err.to_string()
}

fn problems(file: Option<&Path>, env: &[(&str, &str)]) -> Vec<ConfigProblem> {
    match load(file, env).unwrap_err() {
        Error::Config(ConfigErrors(list)) => list,
        other => panic!("expected a config error, got {other:?}"),
    }
}

const SEED_JSON: &str = r#"{
  "database": {
    "type": "postgres",
    "postgres": {
      "host": "localhost",
      "port": 5432,
      "name": "tushar_db",
      "username": "postgres",
      "password": "password",
      "sslMode": "disable",
      "maxOpenConns": 25,
      "maxIdleConns": 5,
      "connMaxLifetime": "5m",
      "connMaxIdleTime": "1m",
      "timeout": "30s",
      "maxRetries": 3,
      "retryDelay": "1s",
      "healthCheckInterval": "30s"
    }
  }
}"#;

/// The seed design's "YAML Configuration (Alternative)", verbatim.
const SEED_YAML: &str = r#"database:
  type: "postgres"  # postgres, sqlite, mysql
  
  postgres:
    host: "localhost"
    port: 5432
    name: "tushar_db"
    username: "postgres"
    password: "password"
    sslMode: "disable"
    maxOpenConns: 25
    maxIdleConns: 5
    connMaxLifetime: "5m"
    connMaxIdleTime: "1m"
    timeout: "30s"
    maxRetries: 3
    retryDelay: "1s"
    healthCheckInterval: "30s"
  
  sqlite:
    filePath: "./data/app.db"
    timeout: "30s"
    maxOpenConns: 1        # SQLite limitation: only 1 writer
    maxIdleConns: 1
    connMaxLifetime: "5m"
    connMaxIdleTime: "1m"
    journalMode: "WAL"
    syncMode: "NORMAL"
    cacheSize: 1000
    foreignKeys: true
    autoVacuum: "INCREMENTAL"
    healthCheckInterval: "30s"
  
  mysql:
    host: "localhost"
    port: 3306
    name: "tushar_db"
    username: "root"
    password: "password"
    charset: "utf8mb4"
    parseTime: true
    loc: "Local"
    maxOpenConns: 25
    maxIdleConns: 5
    connMaxLifetime: "5m"
    connMaxIdleTime: "1m"
    timeout: "30s"
    maxRetries: 3
    retryDelay: "1s"
    healthCheckInterval: "30s"
"#;

#[test]
fn nothing_at_all_gives_the_embedded_sqlite_default() {
    let loaded = ConfigLoader::new().env_vars(no_env()).load().unwrap();
    assert_eq!(loaded.config, DatabaseConfig::default());
    assert_eq!(loaded.config.database_type, DatabaseType::Sqlite);
    assert_eq!(loaded.config.sqlite.file_path, "./data/app.db");
    assert_eq!(loaded.sources, ["default"]);
    for entry in loaded.entries() {
        assert_eq!(entry.origin, "default", "{entry:?}");
    }
    assert_eq!(
        loaded.origin_of("database.type").as_deref(),
        Some("default")
    );
    assert_eq!(loaded.origin_of("nope"), None);
}

#[test]
fn json_file() {
    let files = Files::new();
    let path = files.write("db.json", SEED_JSON);
    let loaded = load(Some(&path), &[]).unwrap();
    let pg = &loaded.config.postgres;
    assert_eq!(loaded.config.database_type, DatabaseType::Postgres);
    assert_eq!(pg.name, "tushar_db");
    assert_eq!(pg.password.expose(), "password");
    assert_eq!(pg.ssl_mode, SslMode::Disable);
    assert_eq!(pg.conn_max_lifetime, Duration::from_secs(300));
    let from_file = format!("file {}", path.display());
    assert_eq!(
        loaded.origin_of("database.postgres.name"),
        Some(from_file.clone())
    );
    assert_eq!(loaded.origin_of("type"), Some(from_file.clone()));
    assert_eq!(
        loaded.origin_of("sqlite.filePath").as_deref(),
        Some("default")
    );
    assert_eq!(loaded.sources, ["default".to_owned(), from_file]);
}

#[test]
fn seed_yaml_file() {
    let files = Files::new();
    for name in ["db.yaml", "db.yml", "DB.YAML"] {
        let path = files.write(name, SEED_YAML);
        let cfg = load(Some(&path), &[]).unwrap().config;
        assert_eq!(cfg.database_type, DatabaseType::Postgres);
        assert_eq!(cfg.postgres.name, "tushar_db");
        assert_eq!(cfg.sqlite.max_open_conns, 1);
        assert_eq!(cfg.sqlite.max_idle_conns, 1);
        assert_eq!(cfg.sqlite.journal_mode, JournalMode::Wal);
        assert_eq!(cfg.sqlite.conn_max_lifetime, Duration::from_secs(300));
        assert!(cfg.sqlite.foreign_keys);
        assert_eq!(cfg.mysql.loc, "Local");
        assert!(cfg.mysql.parse_time);
        assert_eq!(cfg.mysql.password.expose(), "password");
    }
}

#[test]
fn empty_file_and_nulls_mean_defaults() {
    let files = Files::new();
    for (name, text) in [
        ("empty.yaml", "\n"),
        ("null-section.yaml", "database:\n"),
        (
            "null-subsection.yaml",
            "database:\n  sqlite:\n  postgres:\n    host:\n",
        ),
        ("null.json", r#"{ "database": { "sqlite": null } }"#),
    ] {
        let path = files.write(name, text);
        assert_eq!(
            load(Some(&path), &[]).unwrap().config,
            DatabaseConfig::default(),
            "{name}"
        );
    }
}

#[test]
fn a_file_that_is_not_a_map_says_so() {
    let files = Files::new();
    let path = files.write("list.yaml", "- a\n- b\n");
    let msg = config_err(Some(&path), &[]);
    assert!(
        msg.contains(&format!(
            "config file {} must hold a map with a `database` section, found sequence",
            path.display()
        )),
        "{msg}"
    );
}

#[test]
fn env_overrides_every_kind_of_field() {
    let loaded = load(
        None,
        &[
            ("DB_TYPE", "PostgreSQL"),
            ("DB_POSTGRES_PASSWORD", "0123"),
            ("DB_POSTGRES_HOST", " spaced host "),
            ("DB_POSTGRES_MAX_OPEN_CONNS", "50"),
            ("DB_POSTGRES_SSL_MODE", "require"),
            ("DB_POSTGRES_CONN_MAX_LIFETIME", "10m"),
            ("DB_SQLITE_FILE_PATH", "/tmp/x.db"),
            ("DB_SQLITE_JOURNAL_MODE", "delete"),
            ("DB_SQLITE_FOREIGN_KEYS", "no"),
            ("DB_SQLITE_CACHE_SIZE", "-2000"),
            ("DB_MYSQL_PARSE_TIME", "0"),
            ("DB_MYSQL_LOC", "Europe/Berlin"),
            ("DB_MYSQL_SSL_MODE", "VERIFY-CA"),
            // Not ours: ignored.
            ("DB_TEST_DRIVER", "sqlite"),
            ("DB_TEST_POSTGRES_URL", "postgres://elsewhere"),
            ("PATH", "/usr/bin"),
        ],
    )
    .unwrap();
    let cfg = &loaded.config;
    assert_eq!(cfg.database_type, DatabaseType::Postgres);
    assert_eq!(cfg.postgres.password.expose(), "0123");
    assert_eq!(cfg.postgres.host, " spaced host ");
    assert_eq!(cfg.postgres.max_open_conns, 50);
    assert_eq!(cfg.postgres.ssl_mode, SslMode::Require);
    assert_eq!(cfg.postgres.conn_max_lifetime, Duration::from_secs(600));
    assert_eq!(cfg.sqlite.file_path, "/tmp/x.db");
    assert_eq!(cfg.sqlite.journal_mode, JournalMode::Delete);
    assert!(!cfg.sqlite.foreign_keys);
    assert_eq!(cfg.sqlite.cache_size, -2000);
    assert!(!cfg.mysql.parse_time);
    assert_eq!(cfg.mysql.ssl_mode, SslMode::VerifyCa);
    assert_eq!(cfg.mysql.loc, "Europe/Berlin");
    assert_eq!(
        loaded
            .origin_of("database.postgres.maxOpenConns")
            .as_deref(),
        Some("env var DB_POSTGRES_MAX_OPEN_CONNS")
    );
    assert_eq!(
        loaded.origin_of("database.postgres.password").as_deref(),
        Some("env var DB_POSTGRES_PASSWORD")
    );
    assert_eq!(
        loaded.origin_of("database.postgres.port").as_deref(),
        Some("default")
    );
}

#[test]
fn database_url_for_every_scheme() {
    let loaded = load(
        None,
        &[(
            "DATABASE_URL",
            "postgres://app:p%40ss@db.internal:6543/appdb?sslmode=require",
        )],
    )
    .unwrap();
    let pg = &loaded.config.postgres;
    assert_eq!(loaded.config.database_type, DatabaseType::Postgres);
    assert_eq!(
        (
            pg.host.as_str(),
            pg.port,
            pg.name.as_str(),
            pg.username.as_str()
        ),
        ("db.internal", 6543, "appdb", "app")
    );
    assert_eq!(pg.password.expose(), "p@ss");
    assert_eq!(pg.ssl_mode, SslMode::Require);
    assert_eq!(
        loaded.origin_of("postgres.port").as_deref(),
        Some("DATABASE_URL")
    );
    assert_eq!(loaded.origin_of("type").as_deref(), Some("DATABASE_URL"));
    assert_eq!(
        loaded.origin_of("postgres.maxOpenConns").as_deref(),
        Some("default")
    );

    let cfg = load(
        None,
        &[(
            "DATABASE_URL",
            "mariadb://root@127.0.0.1:3306/test?parseTime=true&loc=UTC",
        )],
    )
    .unwrap()
    .config;
    assert_eq!(cfg.database_type, DatabaseType::Mysql);
    assert_eq!(cfg.mysql.host, "127.0.0.1");
    assert_eq!(cfg.mysql.name, "test");
    assert!(cfg.mysql.password.is_empty());

    for (url, path) in [
        ("sqlite::memory:", ":memory:"),
        ("sqlite://:memory:", ":memory:"),
        ("sqlite:///abs/path.db", "/abs/path.db"),
        ("sqlite://./data/app.db", "./data/app.db"),
        ("sqlite:rel.db", "rel.db"),
    ] {
        let cfg = load(None, &[("DATABASE_URL", url)]).unwrap().config;
        assert_eq!(cfg.database_type, DatabaseType::Sqlite, "{url}");
        assert_eq!(cfg.sqlite.file_path, path, "{url}");
    }
    // An empty DATABASE_URL is unset.
    let cfg = load(None, &[("DATABASE_URL", "")]).unwrap().config;
    assert_eq!(cfg, DatabaseConfig::default());
}

#[test]
fn precedence_defaults_file_url_env() {
    let files = Files::new();
    let path = files.write(
        "db.json",
        r#"{ "database": { "type": "sqlite",
              "postgres": { "port": 1111, "host": "from-file", "name": "filedb" } } }"#,
    );
    let url = ("DATABASE_URL", "postgres://from-url:2222/urldb");
    let from_file = format!("file {}", path.display());

    let loaded = load(Some(&path), &[]).unwrap();
    assert_eq!(loaded.config.database_type, DatabaseType::Sqlite);
    assert_eq!(loaded.config.postgres.port, 1111);

    let loaded = load(Some(&path), &[url]).unwrap();
    assert_eq!(loaded.config.database_type, DatabaseType::Postgres);
    assert_eq!(loaded.config.postgres.port, 2222);
    assert_eq!(loaded.config.postgres.host, "from-url");
    assert_eq!(loaded.config.postgres.name, "urldb");
    assert_eq!(
        loaded.origin_of("postgres.port").as_deref(),
        Some("DATABASE_URL")
    );

    let loaded = load(
        Some(&path),
        &[url, ("DB_POSTGRES_PORT", "3333"), ("DB_TYPE", "mysql")],
    )
    .unwrap();
    assert_eq!(loaded.config.database_type, DatabaseType::Mysql);
    assert_eq!(loaded.config.postgres.port, 3333);
    assert_eq!(loaded.config.postgres.host, "from-url");
    assert_eq!(
        loaded.origin_of("postgres.port").as_deref(),
        Some("env var DB_POSTGRES_PORT")
    );
    assert_eq!(loaded.origin_of("type").as_deref(), Some("env var DB_TYPE"));
    assert_eq!(
        loaded.origin_of("postgres.host").as_deref(),
        Some("DATABASE_URL")
    );
    assert_eq!(
        loaded.origin_of("postgres.maxOpenConns").as_deref(),
        Some("default")
    );
    assert_eq!(
        loaded.sources,
        [
            "default".to_owned(),
            from_file.clone(),
            "DATABASE_URL".to_owned(),
            "env var DB_POSTGRES_PORT".to_owned(),
            "env var DB_TYPE".to_owned(),
        ]
    );
    // A file value the URL does not touch keeps its origin.
    let loaded = load(Some(&path), &[("DATABASE_URL", "postgres://h")]).unwrap();
    assert_eq!(loaded.config.postgres.name, "filedb");
    assert_eq!(loaded.origin_of("postgres.name"), Some(from_file));
}

#[test]
fn unknown_type_lists_supported_types() {
    let files = Files::new();
    let path = files.write("db.json", r#"{ "database": { "type": "oracle" } }"#);
    let msg = config_err(Some(&path), &[]);
    assert!(
        msg.contains("database.type: unsupported database type \"oracle\""),
        "{msg}"
    );
    assert!(
        msg.contains("supported types are postgres, sqlite, mysql"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("(from file {})", path.display())),
        "{msg}"
    );

    let msg = config_err(None, &[("DB_TYPE", "oracle")]);
    assert!(msg.contains("postgres, sqlite, mysql"), "{msg}");
    assert!(msg.contains("(from env var DB_TYPE)"), "{msg}");
}

#[test]
fn port_out_of_range() {
    let files = Files::new();
    let path = files.write(
        "db.json",
        r#"{ "database": { "type": "postgres", "postgres": { "port": 70000 } } }"#,
    );
    let list = problems(Some(&path), &[]);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].path, "database.postgres.port");
    assert_eq!(list[0].message, "must be between 1 and 65535, got 70000");
    assert_eq!(list[0].origin, Some(format!("file {}", path.display())));
    assert_eq!(
        list[0].to_string(),
        format!(
            "database.postgres.port: must be between 1 and 65535, got 70000 (from file {})",
            path.display()
        )
    );

    let msg = config_err(None, &[("DB_MYSQL_PORT", "70000")]);
    assert!(
        msg.contains("database.mysql.port: must be between 1 and 65535, got 70000 (from env var DB_MYSQL_PORT)"),
        "{msg}"
    );
    let msg = config_err(None, &[("DATABASE_URL", "postgres://h:70000/x")]);
    assert!(
        msg.contains(
            "database.postgres.port: must be between 1 and 65535, got 70000 (from DATABASE_URL)"
        ),
        "{msg}"
    );
}

#[test]
fn empty_file_path() {
    let files = Files::new();
    let path = files.write(
        "db.json",
        r#"{ "database": { "sqlite": { "filePath": "" } } }"#,
    );
    let list = problems(Some(&path), &[]);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].path, "database.sqlite.filePath");
    assert!(list[0].message.starts_with("must not be empty"), "{list:?}");
    assert_eq!(list[0].origin, Some(format!("file {}", path.display())));

    let msg = config_err(None, &[("DB_SQLITE_FILE_PATH", "")]);
    assert!(
        msg.contains("database.sqlite.filePath: must not be empty"),
        "{msg}"
    );
    assert!(msg.contains("(from env var DB_SQLITE_FILE_PATH)"), "{msg}");
}

#[test]
fn malformed_files_name_the_file_and_position() {
    let files = Files::new();
    let path = files.write("db.json", "{ \"database\": {\n  \"type\": \"sqlite\",\n}\n");
    let msg = config_err(Some(&path), &[]);
    assert!(
        msg.contains(&format!("config file {} is not valid JSON", path.display())),
        "{msg}"
    );
    assert!(msg.contains("line 3 column 1"), "{msg}");

    let path = files.write("db.yaml", "database:\n  type: [sqlite\n  sqlite: {}\n");
    let msg = config_err(Some(&path), &[]);
    assert!(
        msg.contains(&format!("config file {} is not valid YAML", path.display())),
        "{msg}"
    );
    assert!(msg.contains("line "), "{msg}");
}

#[test]
fn bad_duration_names_field_and_syntax() {
    let files = Files::new();
    let path = files.write(
        "db.json",
        r#"{ "database": { "postgres": { "timeout": "5 minutes" } } }"#,
    );
    let list = problems(Some(&path), &[]);
    assert_eq!(list[0].path, "database.postgres.timeout");
    assert!(
        list[0].message.contains("invalid duration \"5 minutes\""),
        "{list:?}"
    );
    assert!(list[0].message.contains("e.g. 500ms, 30s, 5m"), "{list:?}");
    assert_eq!(list[0].origin, Some(format!("file {}", path.display())));

    let msg = config_err(None, &[("DB_SQLITE_TIMEOUT", "30")]);
    assert!(
        msg.contains("database.sqlite.timeout: invalid duration \"30\""),
        "{msg}"
    );
    assert!(msg.contains("(from env var DB_SQLITE_TIMEOUT)"), "{msg}");
}

#[test]
fn missing_file_names_the_path() {
    let files = Files::new();
    let path = files.dir.path().join("nope.json");
    let msg = config_err(Some(&path), &[]);
    assert!(
        msg.contains(&format!(
            "cannot read config file {}: no such file",
            path.display()
        )),
        "{msg}"
    );
}

#[test]
fn unknown_extension_lists_supported_ones() {
    let files = Files::new();
    let path = files.write("db.toml", "[database]\n");
    let msg = config_err(Some(&path), &[]);
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains(".json, .yaml, .yml"), "{msg}");
}

#[test]
fn unknown_keys_name_the_path_and_suggest() {
    let files = Files::new();
    let path = files.write(
        "db.json",
        r#"{ "database": { "type": "postgres", "postgres": { "maxOpenConn": 50 } } }"#,
    );
    let list = problems(Some(&path), &[]);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].path, "database.postgres.maxOpenConn");
    assert!(
        list[0]
            .message
            .starts_with("unknown field, expected one of host, port"),
        "{list:?}"
    );
    assert!(
        list[0].message.contains("did you mean maxOpenConns?"),
        "{list:?}"
    );
    assert_eq!(list[0].origin, Some(format!("file {}", path.display())));

    let path = files.write("top.yaml", "databse:\n  type: sqlite\n");
    let list = problems(Some(&path), &[]);
    assert_eq!(list[0].path, "databse");
    assert!(
        list[0].message.contains("did you mean database?"),
        "{list:?}"
    );

    let msg = config_err(None, &[("DB_POSTGRES_MAX_OPEN_CONN", "50")]);
    assert!(
        msg.contains("unknown environment variable DB_POSTGRES_MAX_OPEN_CONN; did you mean DB_POSTGRES_MAX_OPEN_CONNS"),
        "{msg}"
    );
}

#[test]
fn bad_enum_value_lists_accepted_values() {
    let files = Files::new();
    let path = files.write(
        "db.yaml",
        "database:\n  postgres:\n    sslMode: verify-everything\n",
    );
    let list = problems(Some(&path), &[]);
    assert_eq!(list[0].path, "database.postgres.sslMode");
    assert!(
        list[0].message.contains("\"verify-everything\""),
        "{list:?}"
    );
    assert!(
        list[0]
            .message
            .contains("disable, prefer, require, verify-ca, verify-full"),
        "{list:?}"
    );
    assert_eq!(list[0].origin, Some(format!("file {}", path.display())));
}

#[test]
fn bad_env_values() {
    let msg = config_err(None, &[("DB_POSTGRES_MAX_OPEN_CONNS", "many")]);
    assert_eq!(
        msg,
        "invalid database configuration: database.postgres.maxOpenConns: expected an integer, \
         got \"many\" (from env var DB_POSTGRES_MAX_OPEN_CONNS)"
    );
    let msg = config_err(None, &[("DB_SQLITE_FOREIGN_KEYS", "maybe")]);
    assert!(
        msg.contains("database.sqlite.foreignKeys: expected true/false"),
        "{msg}"
    );
    // Several problems are reported together.
    let list = problems(
        None,
        &[
            ("DB_SQLITE_FOREIGN_KEYS", "maybe"),
            ("DB_MYSQL_BOGUS", "1"),
            ("DATABASE_URL", "redis://x"),
        ],
    );
    assert_eq!(list.len(), 3, "{list:?}");
}

#[test]
fn wrong_type_in_file_is_explained() {
    let files = Files::new();
    // YAML reads a leading-zero number as text: nothing to explain.
    let path = files.write("zero.yaml", "database:\n  postgres:\n    password: 0123\n");
    let cfg = load(Some(&path), &[]).unwrap().config;
    assert_eq!(cfg.postgres.password.expose(), "0123");

    let path = files.write("db.yaml", "database:\n  postgres:\n    host: 123\n");
    let msg = config_err(Some(&path), &[]);
    assert!(
        msg.contains(
            "database.postgres.host: invalid type: found unsigned int `123`, expected a string"
        ),
        "{msg}"
    );
    assert!(msg.contains("quote the value"), "{msg}");
}

#[test]
fn rules_checked_after_extraction_get_origins() {
    let msg = config_err(
        None,
        &[
            ("DB_MYSQL_MAX_OPEN_CONNS", "2"),
            ("DB_MYSQL_MAX_IDLE_CONNS", "3"),
        ],
    );
    assert!(
        msg.contains("database.mysql.maxIdleConns: must not exceed maxOpenConns (2), got 3 (from env var DB_MYSQL_MAX_IDLE_CONNS)"),
        "{msg}"
    );
}

#[test]
fn passwords_never_leak() {
    let sentinel = "Sentinel-Pw-4242";
    let files = Files::new();
    let path = files.write(
        "db.json",
        &format!(
            r#"{{ "database": {{ "postgres": {{ "password": "{sentinel}", "port": 0 }},
                 "mysql": {{ "password": "{sentinel}" }} }} }}"#
        ),
    );
    let err = load(Some(&path), &[("DB_MYSQL_PASSWORD", sentinel)]).unwrap_err();
    assert!(!err.to_string().contains(sentinel), "{err}");
    assert!(!format!("{err:?}").contains(sentinel), "{err:?}");

    // A password the file gives as a number is not quoted in the error.
    let path = files.write(
        "num.yaml",
        "database:\n  mysql:\n    password: 4242424242\n",
    );
    let err = load(Some(&path), &[]).unwrap_err().to_string();
    assert!(
        err.contains("database.mysql.password: invalid value (not shown"),
        "{err}"
    );
    assert!(!err.contains("4242424242"), "{err}");

    let url = format!("postgres://u:{sentinel}@h:99999/db");
    let err = load(None, &[("DATABASE_URL", &url)]).unwrap_err();
    assert!(!err.to_string().contains(sentinel), "{err}");

    let loader = ConfigLoader::new().env_vars([("DB_POSTGRES_PASSWORD", sentinel)]);
    let dbg = format!("{loader:?}");
    assert!(!dbg.contains(sentinel), "{dbg}");
    assert!(dbg.contains("DB_POSTGRES_PASSWORD"), "{dbg}");

    let loaded = loader.load().unwrap();
    assert!(!format!("{loaded:?}").contains(sentinel));
    let entries = loaded.entries();
    let pw = entries
        .iter()
        .find(|e| e.path == "database.postgres.password")
        .unwrap();
    assert_eq!(pw.value, "***");
    assert_eq!(pw.origin, "env var DB_POSTGRES_PASSWORD");
    assert_eq!(pw.env_var, "DB_POSTGRES_PASSWORD");
    let unset = entries
        .iter()
        .find(|e| e.path == "database.mysql.password")
        .unwrap();
    assert_eq!(unset.value, "");
}

#[test]
fn entries_cover_every_field() {
    let loaded = load(None, &[("DB_SQLITE_FILE_PATH", "x.db")]).unwrap();
    let entries = loaded.entries();
    assert_eq!(entries.len(), config_fields().len());
    assert_eq!(entries[0].path, "database.type");
    assert_eq!(entries[0].value, "sqlite");
    let fp = entries
        .iter()
        .find(|e| e.path == "database.sqlite.filePath")
        .unwrap();
    assert_eq!(fp.value, "x.db");
    assert_eq!(fp.origin, "env var DB_SQLITE_FILE_PATH");
    assert_eq!(fp.section.as_deref(), Some("sqlite"));
    assert!(entries.iter().all(|e| !e.value.is_null()), "{entries:#?}");
}

#[test]
fn config_from_url_and_load_config() {
    let cfg = config_from_url("sqlite::memory:").unwrap();
    assert!(cfg.sqlite.is_memory());
    let err = config_from_url("ftp://x").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);

    let files = Files::new();
    let path = files.write("db.json", SEED_JSON);
    // Reads the process environment, which the test does not control; only check the
    // part no variable of a sane environment changes.
    if let Ok(loaded) = load_config(Some(&path)) {
        assert!(loaded.sources.iter().any(|s| s.starts_with("file ")));
    }
}

/// `path: message (from origin)` for each problem, in the order reported.
fn rendered(list: &[ConfigProblem]) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

#[test]
fn every_unreadable_value_in_a_file_is_reported_with_the_rest() {
    let files = Files::new();
    let path = files.write(
        "x.json",
        r#"{"database":{"type":"postgres","postgres":{"port":70000,"maxOpenConns":0,
            "timeout":"5 minutes","maxRetries":1000,"retryDelay":"-1s"}}}"#,
    );
    let from = format!("(from file {})", path.display());
    let list = problems(Some(&path), &[]);
    let shown = rendered(&list);
    assert_eq!(shown.len(), 5, "{shown:#?}");
    assert_eq!(
        shown[0],
        format!("database.postgres.maxOpenConns: must be at least 1, got 0 {from}")
    );
    assert_eq!(
        shown[1],
        format!("database.postgres.maxRetries: must be at most 100, got 1000 {from}")
    );
    assert_eq!(
        shown[2],
        format!("database.postgres.port: must be between 1 and 65535, got 70000 {from}")
    );
    assert!(
        shown[3].starts_with(
            "database.postgres.retryDelay: invalid duration \"-1s\": durations cannot be negative"
        ),
        "{shown:#?}"
    );
    assert!(
        shown[4].starts_with("database.postgres.timeout: invalid duration \"5 minutes\""),
        "{shown:#?}"
    );
    assert!(shown.iter().all(|s| s.ends_with(&from)), "{shown:#?}");
    let msg = config_err(Some(&path), &[]);
    assert!(
        msg.starts_with(
            "invalid database configuration: 5 problems\n  - database.postgres.maxOpenConns"
        ),
        "{msg}"
    );
}

#[test]
fn every_unreadable_env_value_is_reported_with_the_rest() {
    let list = problems(
        None,
        &[
            ("DB_TYPE", "postgres"),
            ("DB_POSTGRES_PORT", "70000"),
            ("DB_POSTGRES_MAX_OPEN_CONNS", "0"),
            ("DB_POSTGRES_TIMEOUT", "5"),
        ],
    );
    let shown = rendered(&list);
    assert_eq!(shown.len(), 3, "{shown:#?}");
    assert_eq!(
        shown[0],
        "database.postgres.maxOpenConns: must be at least 1, got 0 \
         (from env var DB_POSTGRES_MAX_OPEN_CONNS)"
    );
    assert_eq!(
        shown[1],
        "database.postgres.port: must be between 1 and 65535, got 70000 \
         (from env var DB_POSTGRES_PORT)"
    );
    assert!(
        shown[2].starts_with("database.postgres.timeout: invalid duration \"5\""),
        "{shown:#?}"
    );
    assert!(
        shown[2].ends_with("(from env var DB_POSTGRES_TIMEOUT)"),
        "{shown:#?}"
    );

    let list = problems(
        None,
        &[
            ("DB_TYPE", "sqlite"),
            ("DB_SQLITE_JOURNAL_MODE", "fast"),
            ("DB_SQLITE_SYNC_MODE", "x"),
            ("DB_SQLITE_MAX_OPEN_CONNS", "0"),
        ],
    );
    let paths: Vec<&str> = list.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "database.sqlite.journalMode",
            "database.sqlite.maxOpenConns",
            "database.sqlite.syncMode"
        ],
        "{list:#?}"
    );
    assert!(
        list[0].message.contains("unknown journalMode \"fast\""),
        "{list:#?}"
    );
    assert!(
        list[2].message.contains("one of OFF, NORMAL, FULL, EXTRA"),
        "{list:#?}"
    );
    assert_eq!(
        list[1].origin.as_deref(),
        Some("env var DB_SQLITE_MAX_OPEN_CONNS")
    );
}

#[test]
fn unknown_keys_do_not_hide_other_problems() {
    let files = Files::new();
    let path = files.write(
        "db.yaml",
        "database:\n  type: postgres\n  postgres:\n    port: 70000\n    maxOpenConns: 0\n    hots: db\n",
    );
    let list = problems(Some(&path), &[]);
    let paths: Vec<&str> = list.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "database.postgres.hots",
            "database.postgres.maxOpenConns",
            "database.postgres.port"
        ],
        "{list:#?}"
    );
    assert!(list[0].message.contains("did you mean host?"), "{list:#?}");
    let from = format!("file {}", path.display());
    assert!(
        list.iter()
            .all(|p| p.origin.as_deref() == Some(from.as_str())),
        "{list:#?}"
    );
}

#[test]
fn problems_in_every_section_are_reported() {
    let files = Files::new();
    let path = files.write(
        "db.json",
        r#"{"database":{"type":"postgres","postgres":{"port":70000},"mysql":{"port":0}}}"#,
    );
    let shown = rendered(&problems(Some(&path), &[]));
    let from = format!("(from file {})", path.display());
    assert_eq!(
        shown,
        [
            format!("database.postgres.port: must be between 1 and 65535, got 70000 {from}"),
            format!("database.mysql.port: must be between 1 and 65535, got 0 {from}"),
        ]
    );
}

#[test]
fn an_unreadable_value_causes_no_follow_up_problems() {
    // maxOpenConns could not be read, so it has its default (25): comparing the idle
    // limit with it would be comparing with a value nobody set.
    let files = Files::new();
    let path = files.write(
        "db.json",
        r#"{"database":{"mysql":{"maxOpenConns":-1,"maxIdleConns":30,
            "maxRetries":"x","retryDelay":"0"}}}"#,
    );
    let list = problems(Some(&path), &[]);
    let paths: Vec<&str> = list.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        ["database.mysql.maxOpenConns", "database.mysql.maxRetries"],
        "{list:#?}"
    );
    // A whole section that cannot be read is one problem, not one per rule.
    let path = files.write("s.json", r#"{"database":{"sqlite":"fast"}}"#);
    let list = problems(Some(&path), &[]);
    assert_eq!(list.len(), 1, "{list:#?}");
    assert_eq!(list[0].path, "database.sqlite");

    // The same for variables that are not numbers at all, which are rejected before
    // extraction: the other values are still checked.
    let shown = rendered(&problems(
        None,
        &[
            ("DB_POSTGRES_MAX_OPEN_CONNS", "many"),
            ("DB_POSTGRES_MAX_IDLE_CONNS", "30"),
            ("DB_POSTGRES_PORT", "70000"),
        ],
    ));
    assert_eq!(
        shown,
        [
            "database.postgres.maxOpenConns: expected an integer, got \"many\" \
             (from env var DB_POSTGRES_MAX_OPEN_CONNS)",
            "database.postgres.port: must be between 1 and 65535, got 70000 \
             (from env var DB_POSTGRES_PORT)",
        ]
    );
}

#[test]
fn out_of_range_integers_name_the_rule() {
    let files = Files::new();
    let path = files.write(
        "db.json",
        r#"{"database":{"postgres":{"maxRetries":-1,"maxOpenConns":2.5}}}"#,
    );
    let from = format!("(from file {})", path.display());
    assert_eq!(
        rendered(&problems(Some(&path), &[])),
        [
            format!(
                "database.postgres.maxOpenConns: must be a whole number from 0 to 4294967295, \
                 got 2.5 {from}"
            ),
            format!(
                "database.postgres.maxRetries: must be a whole number from 0 to 4294967295, \
                 got -1 {from}"
            ),
        ]
    );
    assert_eq!(
        rendered(&problems(
            None,
            &[
                ("DB_POSTGRES_MAX_RETRIES", "-1"),
                ("DB_MYSQL_MAX_OPEN_CONNS", "1.5"),
                ("DB_SQLITE_CACHE_SIZE", "-2.5"),
            ]
        )),
        [
            "database.postgres.maxRetries: must be a whole number from 0 to 4294967295, got -1 \
             (from env var DB_POSTGRES_MAX_RETRIES)",
            "database.sqlite.cacheSize: must be a whole number from -9223372036854775808 to \
             9223372036854775807, got -2.5 (from env var DB_SQLITE_CACHE_SIZE)",
            "database.mysql.maxOpenConns: must be a whole number from 0 to 4294967295, got 1.5 \
             (from env var DB_MYSQL_MAX_OPEN_CONNS)",
        ]
    );
}

#[test]
fn an_unset_max_idle_conns_follows_a_lower_max_open_conns() {
    let loaded = load(None, &[("DB_POSTGRES_MAX_OPEN_CONNS", "3")]).unwrap();
    assert_eq!(loaded.config.postgres.max_open_conns, 3);
    assert_eq!(loaded.config.postgres.max_idle_conns, 3);
    assert_eq!(
        loaded.origin_of("postgres.maxIdleConns").as_deref(),
        Some("default, lowered to maxOpenConns")
    );
    assert_eq!(
        loaded.origin_of("mysql.maxIdleConns").as_deref(),
        Some("default")
    );
    // Other sections keep their defaults.
    assert_eq!(loaded.config.mysql.max_idle_conns, 5);

    let files = Files::new();
    let path = files.write(
        "db.yaml",
        "database:\n  mysql:\n    maxOpenConns: 2\n  sqlite:\n    maxOpenConns: 1\n",
    );
    let cfg = load(Some(&path), &[]).unwrap().config;
    assert_eq!((cfg.mysql.max_open_conns, cfg.mysql.max_idle_conns), (2, 2));
    assert_eq!(
        (cfg.sqlite.max_open_conns, cfg.sqlite.max_idle_conns),
        (1, 1)
    );
    // A higher maxOpenConns leaves the idle default alone.
    let cfg = load(None, &[("DB_POSTGRES_MAX_OPEN_CONNS", "50")])
        .unwrap()
        .config;
    assert_eq!(cfg.postgres.max_idle_conns, 5);

    // A value that was set is the user's choice, and still checked, even if it equals
    // the default.
    let path = files.write(
        "set.json",
        r#"{"database":{"postgres":{"maxOpenConns":3,"maxIdleConns":5}}}"#,
    );
    let shown = rendered(&problems(Some(&path), &[]));
    assert_eq!(
        shown,
        [format!(
            "database.postgres.maxIdleConns: must not exceed maxOpenConns (3), got 5 (from file {})",
            path.display()
        )]
    );
    let msg = config_err(
        None,
        &[
            ("DB_SQLITE_MAX_OPEN_CONNS", "2"),
            ("DB_SQLITE_MAX_IDLE_CONNS", "4"),
        ],
    );
    assert!(
        msg.contains("database.sqlite.maxIdleConns: must not exceed maxOpenConns (2), got 4"),
        "{msg}"
    );
}

#[test]
fn mysql_loc_utc_and_local_in_any_case() {
    let cfg = load(None, &[("DB_MYSQL_LOC", "utc")]).unwrap().config;
    assert_eq!(cfg.mysql.loc, "UTC");
    assert_eq!(cfg.mysql.loc_offset_minutes(), Some(0));
    let files = Files::new();
    let path = files.write("db.yaml", "database:\n  mysql:\n    loc: LOCAL\n");
    assert_eq!(load(Some(&path), &[]).unwrap().config.mysql.loc, "Local");
    let cfg = load(None, &[("DATABASE_URL", "mysql://root@h/app?loc=utc")])
        .unwrap()
        .config;
    assert_eq!(cfg.mysql.loc, "UTC");
    // Other names are kept as written.
    let cfg = load(None, &[("DB_MYSQL_LOC", "Europe/Berlin")])
        .unwrap()
        .config;
    assert_eq!(cfg.mysql.loc, "Europe/Berlin");
}

#[test]
fn problems_are_ordered_by_section_and_path_without_duplicates() {
    let p = |path: &str, msg: &str| ConfigProblem::new(path, msg).with_origin("x");
    let Error::Config(ConfigErrors(list)) = config_errors(vec![
        p("database.mysql.port", "m"),
        p("database.postgres.timeout", "t"),
        p("database.postgres.port", "p"),
        p("", "unknown environment variable DB_MYSQL_X"),
        p("database.postgres.port", "p"),
        p("database.sqlite.filePath", "f"),
        p("database.type", "t"),
        p("database.postgres.port", "second"),
    ]) else {
        panic!("expected a config error");
    };
    let shown: Vec<String> = list
        .iter()
        .map(|p| format!("{} {}", p.path, p.message))
        .collect();
    assert_eq!(
        shown,
        [
            " unknown environment variable DB_MYSQL_X",
            "database.type t",
            "database.postgres.port p",
            "database.postgres.port second",
            "database.postgres.timeout t",
            "database.sqlite.filePath f",
            "database.mysql.port m",
        ]
    );
}

#[test]
fn a_database_section_that_is_not_a_map_is_one_problem() {
    let files = Files::new();
    let path = files.write("five.json", r#"{"database": 5}"#);
    let list = problems(Some(&path), &[]);
    assert_eq!(list.len(), 1, "{list:#?}");
    assert_eq!(list[0].path, "database", "{list:#?}");
}
