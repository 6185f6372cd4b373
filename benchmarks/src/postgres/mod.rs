//! PostgreSQL: our `db-postgres` layer against raw tokio-postgres through a
//! deadpool-postgres pool. The run works in a schema of its own (`dbl_bench_<pid>`,
//! dropped at the end); every measurement starts on fresh tables in it.

mod layer;
mod raw;

use std::sync::Arc;

use tokio_postgres::NoTls;
use tokio_postgres::config::SslMode;

use crate::measure::BenchResult;
use crate::server::{PROBE_TIMEOUT, ServerUrl, block_on, describe, run_namespace, within};
use crate::target::{AA_CONTROL_NOTE, Driver, Goal, Implementation, Opener, Suite, Target};
use crate::workload::{BULK_TABLE, Settings, Workload};

/// The server used when `--postgres-url` is not given.
pub(crate) const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Within 5% of the raw driver.
const WITHIN_5: Goal = Goal {
    max_ratio: 1.05,
    stated: "within 5% of raw",
};

/// The goals of the layer's rows: within 5% of raw everywhere, bulk insert at least 0.9×
/// raw binary COPY.
const LAYER_GOALS: &[(Workload, Goal)] = &[
    (Workload::W1, WITHIN_5),
    (Workload::W2, WITHIN_5),
    (Workload::W3, WITHIN_5),
    (Workload::W4, WITHIN_5),
    (
        Workload::W5,
        Goal {
            max_ratio: 1.0 / 0.9,
            stated: "≥ 0.9× raw binary COPY",
        },
    ),
];

/// Opens an implementation on fresh tables on the server.
type OpenOn = fn(Arc<Server>, &Settings) -> BenchResult<Box<dyn Target>>;

/// The server and the schema of this run.
#[derive(Debug)]
pub(crate) struct Server {
    url: ServerUrl,
    schema: String,
}

impl Server {
    /// The native configuration of a raw connection, with `search_path` set to the run's
    /// schema when `in_schema`; never TLS (the layer runs with `sslMode: disable` too).
    fn native(&self, application_name: &str, in_schema: bool) -> tokio_postgres::Config {
        let mut cfg = tokio_postgres::Config::new();
        cfg.host(&self.url.host)
            .port(self.url.port)
            .dbname(&self.url.database)
            .user(&self.url.user)
            .ssl_mode(SslMode::Disable)
            .application_name(application_name);
        if !self.url.password.is_empty() {
            cfg.password(&self.url.password);
        }
        if in_schema {
            // `dbl_bench_<digits>`: no quoting needed.
            cfg.options(format!("-c search_path={}", self.schema));
        }
        cfg
    }

    /// One raw connection outside any pool, its connection task spawned on the current
    /// runtime.
    async fn connect(&self, in_schema: bool) -> BenchResult<tokio_postgres::Client> {
        let (client, connection) = within(
            PROBE_TIMEOUT,
            "connecting",
            self.native("dbbench-admin", in_schema).connect(NoTls),
        )
        .await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }
}

/// The `CREATE TABLE` of every bench table.
fn create_table(name: &str) -> String {
    format!(
        "CREATE TABLE {name} (id bigint PRIMARY KEY, name text NOT NULL, score double precision NOT NULL)"
    )
}

/// A raw connection in the run's schema for untimed work: creating the tables of a
/// measurement and emptying the bulk table between W5 loads. Every implementation uses
/// one, so no pool connection of the implementation under test is touched by set-up.
#[derive(Debug)]
pub(super) struct Admin {
    client: tokio_postgres::Client,
}

impl Admin {
    /// Connects and creates fresh tables: `bench_items` with `settings.table_rows` rows
    /// (vacuumed and analyzed), and empty `bench_items_w3` and the bulk table.
    async fn prepare(server: &Server, settings: &Settings) -> BenchResult<Self> {
        let client = server.connect(true).await?;
        client
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS bench_items, bench_items_w3, {BULK_TABLE};
                 {};
                 {};
                 {};
                 INSERT INTO bench_items (id, name, score)
                   SELECT g, 'item-' || lpad(g::text, 7, '0'), (g % 1000) / 8.0
                   FROM generate_series(1, {}) AS g;",
                create_table("bench_items"),
                create_table("bench_items_w3"),
                create_table(BULK_TABLE),
                settings.table_rows
            ))
            .await?;
        client.batch_execute("VACUUM (ANALYZE) bench_items").await?;
        Ok(Admin { client })
    }

    /// Drops and re-creates the bulk table (untimed, between W5 loads).
    async fn reset_bulk(&self) -> BenchResult<()> {
        self.client
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS {BULK_TABLE}; {}",
                create_table(BULK_TABLE)
            ))
            .await?;
        Ok(())
    }
}

/// What the suite reports about the server.
struct ServerFacts {
    version: String,
    settings: String,
}

/// Connects to the server, creates the run's schema and reads its version.
async fn set_up(server: &Server) -> BenchResult<ServerFacts> {
    let client = server.connect(false).await?;
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0}",
            server.schema
        ))
        .await?;
    let row = client
        .query_one(
            "SELECT current_setting('server_version'), current_setting('synchronous_commit'), \
             current_setting('fsync'), current_setting('ssl'), current_setting('shared_buffers')",
            &[],
        )
        .await?;
    let (version, sync, fsync, ssl, buffers): (String, String, String, String, String) = (
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
        row.try_get(4)?,
    );
    Ok(ServerFacts {
        version,
        settings: format!(
            "synchronous_commit={sync}, fsync={fsync}, shared_buffers={buffers}, ssl={ssl} on \
             the server (both sides connect with sslmode=disable)"
        ),
    })
}

/// Drops the run's schema with everything in it.
async fn tear_down(server: &Server) -> BenchResult<()> {
    let client = server.connect(false).await?;
    client
        .batch_execute(&format!(
            "SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {} CASCADE",
            server.schema
        ))
        .await?;
    Ok(())
}

/// The PostgreSQL suite on the server at `url`; an error (bad URL, server not answering,
/// schema not created) means the suite is skipped.
pub(crate) fn suite(url: &str) -> Result<Suite, String> {
    let url = ServerUrl::parse(
        url,
        &["postgres://", "postgresql://"],
        5432,
        "postgres",
        "test",
    )
    .map_err(|e| format!("--postgres-url: {e}"))?;
    let server = Arc::new(Server {
        url,
        schema: run_namespace(),
    });
    let facts = block_on(set_up(&server)).map_err(|e| {
        format!(
            "the PostgreSQL server at {} does not answer or refused the set-up: {}",
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
            label: "tokio-postgres + deadpool (raw)",
            baseline: true,
            targets: &[],
            open: opener(raw::open),
        },
        Implementation::aa_control(opener(raw::open)),
        Implementation {
            label: "raw + wait timeout and lifetime hook (reference)",
            baseline: false,
            targets: &[],
            open: opener(raw::open_guarded),
        },
        Implementation {
            label: "dblayer (db-postgres)",
            baseline: false,
            targets: LAYER_GOALS,
            open: opener(layer::open),
        },
        Implementation {
            label: "dblayer via dyn Database (db-postgres)",
            baseline: false,
            targets: &[],
            open: opener(layer::open_dyn),
        },
    ];
    let notes = vec![
        AA_CONTROL_NOTE.to_owned(),
        format!(
            "server: PostgreSQL {} at {}; {}. Tables live in the run's schema {} (dropped at \
             the end), created afresh for every measurement (bench_items: VACUUM ANALYZE after \
             loading)",
            facts.version,
            server.url.display(),
            facts.settings,
            server.schema
        ),
        "raw: `deadpool_postgres::Pool` (NoTls, `RecyclingMethod::Fast`, max_size = pool size), \
         `prepare_cached` + `query_one` / `execute`, W4 `transaction()` + `commit()`, W5 `copy_in` \
         + `BinaryCopyInWriter`. The reference row is the same raw code with the protections \
         the layer keeps, written with deadpool's own tools: `Timeouts` of 30 s on wait, \
         create and recycle (tokio's timer) and a `pre_recycle` hook closing connections past a \
         5 min lifetime or 1 min since their last checkout. Layer: `PgDatabase::connect_with(cfg, \
         PgOptions::new().search_path([schema]))` with sslMode disable, maxOpenConns = \
         maxIdleConns = pool size, healthCheckInterval 0, other settings at their defaults; \
         W1/W2 `query_one_as` (`query_one` + `decode` through dyn Database), W3 `execute`, W4 `begin` + 5 `execute` + `commit`, W5 `insert_many` \
         (binary COPY). The dblayer row calls `query_one` / `execute` on the concrete \
         `PgDatabase` (inherent methods, no boxed future); the dyn Database row makes the same \
         calls through `Box<dyn Database>` (one boxed future per call), as code using \
         `dbfactory::connect` does"
            .to_owned(),
        "CPU is this process only: the server's CPU time is not counted".to_owned(),
    ];
    let mut versions = vec![format!("PostgreSQL server: {}", facts.version)];
    let crates =
        crate::report::lock_versions(&["tokio-postgres", "postgres-types", "deadpool-postgres"]);
    if !crates.is_empty() {
        versions.push(format!("crates (PostgreSQL): {crates}"));
    }
    let cleanup_server = Arc::clone(&server);
    let cleanup = Box::new(move || block_on(tear_down(&cleanup_server)));
    Ok(Suite::new(
        Driver::Postgres,
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
}
