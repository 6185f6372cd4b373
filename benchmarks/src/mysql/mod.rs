//! MySQL / MariaDB: our `db-mysql` layer against raw mysql_async, with its per-checkout
//! connection reset turned off (the baseline) and, for reference, on (its default). The
//! run works in a database of its own (`dbl_bench_<pid>`, dropped at the end); every
//! measurement starts on fresh tables in it.

mod layer;
mod raw;

use std::sync::Arc;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, PoolConstraints, PoolOpts};

use crate::measure::BenchResult;
use crate::server::{PROBE_TIMEOUT, ServerUrl, block_on, describe, run_namespace, within};
use crate::target::{AA_CONTROL_NOTE, Driver, Goal, Implementation, Opener, Suite, Target};
use crate::workload::{BULK_TABLE, Settings, Workload, item_name, item_score};

/// The server used when `--mysql-url` is not given.
pub(crate) const DEFAULT_URL: &str = "mysql://root@127.0.0.1:3306/test";

/// Rows per multi-row `INSERT` of the raw W5 load (the layer's `insert_many` uses the
/// same batch size).
const BULK_BATCH: usize = 1000;

/// Within 5% of raw mysql_async with its per-checkout reset turned off.
const WITHIN_5: Goal = Goal {
    max_ratio: 1.05,
    stated: "within 5% of raw (reset off)",
};

/// The goals of the layer's rows.
const LAYER_GOALS: &[(Workload, Goal)] = &[
    (Workload::W1, WITHIN_5),
    (Workload::W2, WITHIN_5),
    (Workload::W3, WITHIN_5),
    (Workload::W4, WITHIN_5),
    (Workload::W5, WITHIN_5),
];

/// Opens an implementation on fresh tables on the server.
type OpenOn = fn(Arc<Server>, &Settings) -> BenchResult<Box<dyn Target>>;

/// The server and the database of this run.
#[derive(Debug)]
pub(crate) struct Server {
    url: ServerUrl,
    database: String,
}

impl Server {
    /// Raw connection options: TCP to the configured address (no switch to the Unix
    /// socket), in the run's database when `in_database`, else in the URL's.
    fn opts(&self, in_database: bool) -> OptsBuilder {
        let db = if in_database {
            self.database.clone()
        } else {
            self.url.database.clone()
        };
        OptsBuilder::default()
            .ip_or_hostname(self.url.host.clone())
            .tcp_port(self.url.port)
            .user(Some(self.url.user.clone()))
            .pass((!self.url.password.is_empty()).then(|| self.url.password.clone()))
            .db_name(Some(db))
            .prefer_socket(false)
    }

    /// Options of a raw pool of `size` connections in the run's database, with
    /// mysql_async's per-checkout connection reset on or off.
    fn pool_opts(&self, size: usize, reset_connection: bool) -> Opts {
        let constraints = PoolConstraints::new(size, size).unwrap_or_default();
        self.opts(true)
            .pool_opts(
                PoolOpts::default()
                    .with_constraints(constraints)
                    .with_reset_connection(reset_connection),
            )
            .into()
    }

    /// One raw connection outside any pool.
    async fn connect(&self, in_database: bool) -> BenchResult<Conn> {
        within(
            PROBE_TIMEOUT,
            "connecting",
            Conn::new(self.opts(in_database)),
        )
        .await
    }
}

/// The `CREATE TABLE` of every bench table.
fn create_table(name: &str) -> String {
    format!(
        "CREATE TABLE {name} (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(64) NOT NULL, \
         score DOUBLE NOT NULL) ENGINE=InnoDB"
    )
}

/// `INSERT INTO <table> (id, name, score) VALUES (?, ?, ?), ...` with `rows` rows.
fn multi_insert_sql(table: &str, rows: usize) -> String {
    let mut sql = format!("INSERT INTO {table} (id, name, score) VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str("(?, ?, ?)");
    }
    sql
}

/// A raw connection in the run's database for untimed work: creating the tables of a
/// measurement and emptying the bulk table between W5 loads. Every implementation uses
/// one, so no pool connection of the implementation under test is touched by set-up.
#[derive(Debug)]
pub(super) struct Admin {
    conn: tokio::sync::Mutex<Option<Conn>>,
}

impl Admin {
    /// Connects and creates fresh tables: `bench_items` with `settings.table_rows` rows
    /// (analyzed), and empty `bench_items_w3` and the bulk table.
    async fn prepare(server: &Server, settings: &Settings) -> BenchResult<Self> {
        let mut conn = server.connect(true).await?;
        conn.query_drop(format!(
            "DROP TABLE IF EXISTS bench_items, bench_items_w3, {BULK_TABLE}"
        ))
        .await?;
        for table in ["bench_items", "bench_items_w3", BULK_TABLE] {
            conn.query_drop(create_table(table)).await?;
        }
        let mut id = 1;
        while id <= settings.table_rows {
            let last = (id + BULK_BATCH as i64 - 1).min(settings.table_rows);
            let values: Vec<String> = (id..=last)
                .map(|i| format!("({i}, '{}', {})", item_name(i), item_score(i)))
                .collect();
            conn.query_drop(format!(
                "INSERT INTO bench_items (id, name, score) VALUES {}",
                values.join(", ")
            ))
            .await?;
            id = last + 1;
        }
        conn.query_drop("ANALYZE TABLE bench_items").await?;
        Ok(Admin {
            conn: tokio::sync::Mutex::new(Some(conn)),
        })
    }

    /// Drops and re-creates the bulk table (untimed, between W5 loads).
    async fn reset_bulk(&self) -> BenchResult<()> {
        let mut guard = self.conn.lock().await;
        let conn = guard.as_mut().ok_or("the admin connection is closed")?;
        conn.query_drop(format!("DROP TABLE IF EXISTS {BULK_TABLE}"))
            .await?;
        conn.query_drop(create_table(BULK_TABLE)).await?;
        Ok(())
    }

    /// Disconnects.
    async fn close(&self) -> BenchResult<()> {
        if let Some(conn) = self.conn.lock().await.take() {
            conn.disconnect().await?;
        }
        Ok(())
    }
}

/// What the suite reports about the server.
struct ServerFacts {
    version: String,
    settings: String,
}

/// Connects to the server, creates the run's database and reads its version.
async fn set_up(server: &Server) -> BenchResult<ServerFacts> {
    let mut conn = server.connect(false).await?;
    conn.query_drop(format!("DROP DATABASE IF EXISTS {}", server.database))
        .await?;
    conn.query_drop(format!("CREATE DATABASE {}", server.database))
        .await?;
    let row: Option<(String, String, String, String)> = conn
        .query_first(
            "SELECT VERSION(), CAST(@@innodb_flush_log_at_trx_commit AS CHAR), \
             CAST(@@log_bin AS CHAR), CAST(@@innodb_buffer_pool_size AS CHAR)",
        )
        .await?;
    conn.disconnect().await?;
    let (version, flush, log_bin, pool) = row.ok_or("SELECT VERSION() returned no row")?;
    let pool_mib = pool
        .parse::<u64>()
        .map_or(pool.clone(), |b| format!("{} MiB", b / (1024 * 1024)));
    Ok(ServerFacts {
        version,
        settings: format!(
            "innodb_flush_log_at_trx_commit={flush}, log_bin={log_bin}, \
             innodb_buffer_pool_size={pool_mib}"
        ),
    })
}

/// Drops the run's database.
async fn tear_down(server: &Server) -> BenchResult<()> {
    let mut conn = server.connect(false).await?;
    conn.query_drop(format!("DROP DATABASE IF EXISTS {}", server.database))
        .await?;
    conn.disconnect().await?;
    Ok(())
}

/// The MySQL suite on the server at `url`; an error (bad URL, server not answering,
/// database not created) means the suite is skipped.
pub(crate) fn suite(url: &str) -> Result<Suite, String> {
    let url = ServerUrl::parse(url, &["mysql://", "mariadb://"], 3306, "root", "test")
        .map_err(|e| format!("--mysql-url: {e}"))?;
    let server = Arc::new(Server {
        url,
        database: run_namespace(),
    });
    let facts = block_on(set_up(&server)).map_err(|e| {
        format!(
            "the MySQL server at {} does not answer or refused the set-up: {}",
            server.url.display(),
            describe(&*e)
        )
    })?;

    let opener = |open: OpenOn| {
        let server = Arc::clone(&server);
        let opener: Opener =
            Box::new(move |settings: &Settings| open(Arc::clone(&server), settings));
        opener
    };
    let implementations = vec![
        Implementation {
            label: "mysql_async, reset off (raw)",
            baseline: true,
            targets: &[],
            open: opener(raw::open_reset_off),
        },
        Implementation::aa_control(opener(raw::open_reset_off)),
        Implementation {
            label: "mysql_async, reset on (default; reference)",
            baseline: false,
            targets: &[],
            open: opener(raw::open_reset_on),
        },
        Implementation {
            label: "dblayer (db-mysql)",
            baseline: false,
            targets: LAYER_GOALS,
            open: opener(layer::open),
        },
        Implementation {
            label: "dblayer via dyn Database (db-mysql)",
            baseline: false,
            targets: &[],
            open: opener(layer::open_dyn),
        },
    ];
    let notes = vec![
        AA_CONTROL_NOTE.to_owned(),
        format!(
            "server: {} at {}; {}. Tables live in the run's database {} (dropped at the \
             end), created afresh for every measurement (bench_items: ANALYZE TABLE after \
             loading)",
            facts.version,
            server.url.display(),
            facts.settings,
            server.database
        ),
        "raw: `mysql_async::Pool` over TCP (`prefer_socket(false)`), `PoolConstraints(pool \
         size, pool size)`, `with_reset_connection(false)` for the baseline and `true` \
         (mysql_async's default: `COM_RESET_CONNECTION` on every return to the pool, which \
         also empties the statement cache) for the reference row; prepared statements \
         (`exec_first`, `exec_drop`), W4 `start_transaction` + `commit`, W5 1000-row \
         multi-row INSERT batches in one transaction. Layer: `MySqlDatabase::connect(cfg)` \
         with maxOpenConns = maxIdleConns = pool size, healthCheckInterval 0, other settings \
         at their defaults; W1/W2 `query_one_as` (`query_one` + `decode` through dyn Database), W3 `execute`, W4 `begin` + 5 `execute` + \
         `commit`, W5 `insert_many` (1000-row batches, one transaction). The dblayer row \
         calls `query_one` / `execute` on the concrete `MySqlDatabase` (inherent methods, no \
         boxed future); the dyn Database row makes the same calls through `Box<dyn Database>` \
         (one boxed future per call), as code using `dbfactory::connect` does"
            .to_owned(),
        "CPU is this process only: the server's CPU time is not counted".to_owned(),
    ];
    let mut versions = vec![format!("MySQL server: {}", facts.version)];
    let crates = crate::report::lock_versions(&["mysql_async", "mysql_common"]);
    if !crates.is_empty() {
        versions.push(format!("crates (MySQL): {crates}"));
    }
    let cleanup_server = Arc::clone(&server);
    let cleanup = Box::new(move || block_on(tear_down(&cleanup_server)));
    Ok(Suite::new(
        Driver::Mysql,
        implementations,
        notes,
        versions,
        Some(cleanup),
    ))
}

impl crate::layer::BulkAdmin for Admin {
    fn reset_bulk(&self) -> impl std::future::Future<Output = BenchResult<()>> + Send {
        Admin::reset_bulk(self)
    }

    fn close(&self) -> impl std::future::Future<Output = BenchResult<()>> + Send {
        Admin::close(self)
    }
}
