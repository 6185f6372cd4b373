//! Our layer: `db_postgres::PgDatabase` through the portable `dbcore` API.

use std::sync::Arc;
use std::time::Duration;

use db_postgres::{PgDatabase, PgOptions};
use dbcore::{PostgresConfig, SslMode};

use super::{Admin, Server};
use crate::layer::{DynDb, LayerDb};
use crate::measure::BenchResult;
use crate::target::{AsyncTarget, Target};
use crate::workload::Settings;

/// The shared layer operations over this driver's database and admin connection.
pub(super) type LayerOps<D> = crate::layer::LayerOps<D, Admin>;

/// Creates fresh tables and opens our layer: sslMode disable, the pool size of the raw
/// row (all connections may stay idle), no background health check, the run's schema
/// as search path; every other setting at its default. Statements are called on the
/// concrete `PgDatabase`.
pub(super) fn open(server: Arc<Server>, settings: &Settings) -> BenchResult<Box<dyn Target>> {
    open_as(server, settings, |db| db)
}

/// [`open`], with every call through `Box<dyn Database>` as `dbfactory::connect`
/// returns it.
pub(super) fn open_dyn(server: Arc<Server>, settings: &Settings) -> BenchResult<Box<dyn Target>> {
    open_as(server, settings, |db| DynDb(Box::new(db)))
}

/// Fresh tables, the layer connected, and `wrap` choosing how it is called.
fn open_as<D: LayerDb>(
    server: Arc<Server>,
    settings: &Settings,
    wrap: fn(PgDatabase) -> D,
) -> BenchResult<Box<dyn Target>> {
    let settings = settings.clone();
    AsyncTarget::open(async move {
        let admin = Admin::prepare(&server, &settings).await?;
        let db = wrap(connect(&server, &settings).await?);
        Ok(LayerOps { db, admin })
    })
}

async fn connect(server: &Server, settings: &Settings) -> BenchResult<PgDatabase> {
    let url = &server.url;
    let cfg = PostgresConfig::default()
        .with_host(url.host.as_str())
        .with_port(url.port)
        .with_name(url.database.as_str())
        .with_username(url.user.as_str())
        .with_password(url.password.as_str())
        .with_ssl_mode(SslMode::Disable)
        .with_max_open_conns(settings.pool_size)
        .with_max_idle_conns(settings.pool_size)
        .with_health_check_interval(Duration::ZERO);
    let options = PgOptions::new().search_path([server.schema.as_str()]);
    Ok(PgDatabase::connect_with(&cfg, options).await?)
}
