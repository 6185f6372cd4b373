//! The subcommands.

use std::process::ExitCode;
use std::time::Duration;

use dbfactory::dbcore::{HealthReport, PoolStats};
use dbfactory::{
    ConnectOptions, Database, DatabaseConfig, DatabaseType, DriverRegistry, ErrorKind,
    LoadedConfig, Row,
};
use serde_json::json;

use crate::cli::{Cli, Command, ConfigArgs, Format, HealthArgs, QueryArgs};
use crate::output;
use crate::params::parse_param;
use crate::report::{Failure, Stage, host_port};
use crate::sql::returns_rows;

/// How long `close` waits for connections in use when dbctl exits.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

type Outcome = Result<ExitCode, Failure>;

pub(crate) async fn run(cli: &Cli) -> Outcome {
    match &cli.command {
        Command::Check => check(cli).await,
        Command::Query(args) => query(cli, args).await,
        Command::Config(args) => config(cli, args),
        Command::Health(args) => health(cli, args).await,
    }
}

fn load(cli: &Cli) -> Result<LoadedConfig, Failure> {
    let loaded = dbfactory::load_config(cli.config.as_deref())
        .map_err(|e| Failure::new(Stage::Config, e, None))?;
    if let Some(note) = unused_env_note(&loaded) {
        eprintln!("note: {note}");
    }
    Ok(loaded)
}

/// A note when `DB_<SECTION>_*` variables set a section that is not used because nobody
/// chose the database type (`DB_MYSQL_PORT=3306` alone still means the default SQLite).
fn unused_env_note(loaded: &LoadedConfig) -> Option<String> {
    if loaded.origin_of("database.type").as_deref() != Some(dbfactory::DEFAULT_ORIGIN) {
        return None;
    }
    let selected = loaded.config.database_type.as_str();
    let mut sections: Vec<String> = Vec::new();
    let mut vars: Vec<String> = Vec::new();
    for entry in loaded.entries() {
        let Some(section) = entry.section.as_deref() else {
            continue;
        };
        if section != selected && entry.origin.starts_with("env var ") {
            vars.push(entry.env_var.clone());
            if !sections.iter().any(|s| s == section) {
                sections.push(section.to_owned());
            }
        }
    }
    if vars.is_empty() {
        return None;
    }
    let choose: Vec<String> = sections.iter().map(|s| format!("DB_TYPE={s}")).collect();
    Some(format!(
        "{} set, but the database type is {selected} (the default), so {} ignored; set {} \
         to use {}",
        vars.join(", ") + if vars.len() == 1 { " is" } else { " are" },
        if vars.len() == 1 { "it is" } else { "they are" },
        choose.join(" or "),
        if vars.len() == 1 { "it" } else { "them" },
    ))
}

/// What is being connected to, without secrets: `host:port/name` or the file path.
fn target(cfg: &DatabaseConfig) -> String {
    match cfg.database_type {
        DatabaseType::Postgres => format!(
            "{}/{}",
            host_port(&cfg.postgres.host, cfg.postgres.port),
            cfg.postgres.name
        ),
        DatabaseType::Mysql => format!(
            "{}/{}",
            host_port(&cfg.mysql.host, cfg.mysql.port),
            cfg.mysql.name
        ),
        _ => cfg.sqlite.file_path.clone(),
    }
}

/// Connects, reporting each retry on stderr.
async fn connect(loaded: &LoadedConfig, quiet: bool) -> Result<Box<dyn Database>, Failure> {
    let cfg = &loaded.config;
    // A type this build cannot serve fails before anything claims to be connecting.
    if let Err(e) = DriverRegistry::with_defaults().get(cfg.database_type) {
        return Err(Failure::new(Stage::Connect, e, Some(loaded)));
    }
    if !quiet {
        eprintln!("connecting to {} at {} ...", cfg.database_type, target(cfg));
    }
    let options = ConnectOptions::new().on_retry(|event| {
        eprintln!(
            "attempt {}/{} failed: {}; retrying in {}",
            event.attempt,
            event.max_attempts,
            event.error,
            output::seconds(event.next_delay)
        );
    });
    dbfactory::connect_with(cfg, &options)
        .await
        .map_err(|e| Failure::new(Stage::Connect, e, Some(loaded)))
}

async fn close(db: Box<dyn Database>) {
    if let Err(e) = db.close(CLOSE_GRACE).await {
        tracing::warn!(error = %e, "closing the database failed");
    }
}

async fn check(cli: &Cli) -> Outcome {
    let loaded = load(cli)?;
    let db = connect(&loaded, cli.json).await?;
    let fail = |e| Failure::new(Stage::Health, e, Some(&loaded));
    let result = async {
        let latency = db.ping().await?;
        let version = db.server_version().await?;
        Ok((latency, version))
    }
    .await;
    let stats = db.stats();
    let warnings = db.limit_warnings().to_vec();
    close(db).await;
    let (latency, version) = result.map_err(fail)?;
    let cfg = &loaded.config;
    if cli.json {
        let obj = json!({
            "ok": true,
            "type": cfg.database_type.as_str(),
            "target": target(cfg),
            "server_version": version,
            "latency_ms": latency.as_secs_f64() * 1000.0,
            "stats": stats,
            "warnings": warnings,
        });
        println!("{obj}");
    } else {
        println!("ok: the {} database answers", cfg.database_type);
        println!("  type:            {}", cfg.database_type);
        println!("  target:          {}", target(cfg));
        println!("  server version:  {version}");
        println!("  ping latency:    {}", output::millis(latency));
        println!("  pool:            {}", output::stats_line(&stats));
        for warning in &warnings {
            println!("warning: {warning}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn query(cli: &Cli, args: &QueryArgs) -> Outcome {
    let loaded = load(cli)?;
    let format = args.format.unwrap_or(if cli.json {
        Format::Json
    } else {
        Format::Table
    });
    let params: Vec<_> = args.params.iter().map(|p| parse_param(p)).collect();
    let db = connect(&loaded, true).await?;
    let result = if returns_rows(&args.sql) {
        db.query(&args.sql, &params).await.map(Ok)
    } else {
        db.execute(&args.sql, &params).await.map(Err)
    };
    close(db).await;
    let result: Result<Vec<Row>, u64> =
        result.map_err(|e| Failure::new(Stage::Query, e, Some(&loaded)))?;
    match (result, format) {
        (Ok(rows), Format::Table) => print!("{}", output::rows_table(&rows)),
        (Ok(rows), Format::Csv) => print!("{}", output::rows_csv(&rows)),
        (Ok(rows), Format::Json) => println!("{}", output::rows_json(&rows)),
        (Err(n), Format::Json) => println!("{}", json!({ "rows_affected": n })),
        (Err(n), _) => println!("{n} row(s) affected"),
    }
    Ok(ExitCode::SUCCESS)
}

fn config(cli: &Cli, args: &ConfigArgs) -> Outcome {
    let loaded = load(cli)?;
    let selected = loaded.config.database_type.as_str();
    let entries: Vec<_> = loaded
        .entries()
        .into_iter()
        .filter(|e| args.all || e.section.as_deref().is_none_or(|s| s == selected))
        .collect();
    if cli.json {
        let map: serde_json::Map<String, serde_json::Value> = entries
            .iter()
            .map(|e| {
                (
                    e.path.clone(),
                    json!({ "value": e.value, "origin": e.origin }),
                )
            })
            .collect();
        println!("{}", serde_json::Value::Object(map));
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "# effective database configuration (type {selected}); sources, lowest precedence first: {}",
        loaded.sources.join(", ")
    );
    if !args.all {
        println!("# showing `type` and the {selected} section; --all shows every section");
    }
    let rows: Vec<(String, String, String)> = entries
        .iter()
        .map(|e| (e.path.clone(), e.value.to_string(), e.origin.clone()))
        .collect();
    let w_path = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let w_value = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0);
    for (path, value, origin) in rows {
        let pad = " ".repeat(w_value - value.chars().count());
        println!("{path:<w_path$} = {value}{pad}  ({origin})");
    }
    Ok(ExitCode::SUCCESS)
}

async fn health(cli: &Cli, args: &HealthArgs) -> Outcome {
    let loaded = load(cli)?;
    if !args.watch {
        let db = connect(&loaded, cli.json).await?;
        let report = db.health().await;
        close(db).await;
        print_report(cli, &report);
        return Ok(if report.healthy {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    // Watching a database that is not up yet: one UNHEALTHY line per failed connect,
    // until it answers. A configuration this build cannot use never heals, nor do
    // credentials, a database name or TLS settings the server refuses (the watch would
    // repeat the same refused login every interval): those end the watch at once.
    let db = loop {
        let failure = tokio::select! {
            _ = &mut ctrl_c => return Ok(ExitCode::SUCCESS),
            connected = connect(&loaded, true) => match connected {
                Ok(db) => break db,
                Err(failure) => failure,
            },
        };
        if matches!(
            failure.error.kind(),
            ErrorKind::Config
                | ErrorKind::UnsupportedDatabase
                | ErrorKind::Authentication
                | ErrorKind::UnknownDatabase
                | ErrorKind::Tls
        ) {
            return Err(failure);
        }
        let stats = PoolStats::default();
        print_line(
            cli,
            &HealthReport::unhealthy(loaded.config.database_type, &failure.error, stats),
        );
        tokio::select! {
            _ = &mut ctrl_c => return Ok(ExitCode::SUCCESS),
            () = tokio::time::sleep(args.interval) => {}
        }
    };
    loop {
        tokio::select! {
            _ = &mut ctrl_c => break,
            report = db.health() => print_line(cli, &report),
        }
        tokio::select! {
            _ = &mut ctrl_c => break,
            () = tokio::time::sleep(args.interval) => {}
        }
    }
    close(db).await;
    Ok(ExitCode::SUCCESS)
}

fn print_report(cli: &Cli, r: &HealthReport) {
    if cli.json {
        println!("{}", json!(r));
        return;
    }
    if r.healthy {
        println!(
            "healthy: {} {}, ping {}",
            r.database_type,
            r.server_version.as_deref().unwrap_or("(version unknown)"),
            r.latency.map_or_else(|| "-".to_owned(), output::millis)
        );
    } else {
        println!(
            "UNHEALTHY: {} ({}): {}",
            r.database_type,
            r.error_kind.map_or("unknown", |k| k.as_str()),
            r.error.as_deref().unwrap_or("no error reported")
        );
    }
    println!("pool: {}", output::stats_line(&r.stats));
}

fn print_line(cli: &Cli, r: &HealthReport) {
    if cli.json {
        println!("{}", json!(r));
    } else if r.healthy {
        println!(
            "{} healthy latency={} open={} in_use={} idle={} waits={} timeouts={}",
            output::clock(),
            r.latency
                .map_or_else(|| "-".to_owned(), output::millis)
                .replace(' ', ""),
            r.stats.open,
            r.stats.in_use,
            r.stats.idle,
            r.stats.wait_count,
            r.stats.acquire_timeouts
        );
    } else {
        println!(
            "{} UNHEALTHY {}: {}",
            output::clock(),
            r.error_kind.map_or("unknown", |k| k.as_str()),
            r.error.as_deref().unwrap_or("no error reported")
        );
    }
}
