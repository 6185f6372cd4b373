//! The cross-driver conformance suite of dblayer, written once against the `dbcore`
//! traits, and a runner for the SQL logic test corpus.
//!
//! - [`scenarios`]: `async fn scenario(db: &dyn Database)` functions that assert the
//!   behaviour users rely on (values, placeholders, errors, transactions, pool).
//! - [`harness`]: a fresh database for the driver chosen by `DB_TEST_DRIVER`.
//! - [`caps`]: the per-backend capability table (SQL spellings that differ).
//! - [`slt`]: runs sqllogictest files through the public `Database` API.
//!
//! The test binary `tests/conformance` runs every scenario as its own test:
//!
//! ```text
//! cargo nextest run -p conformance                 # SQLite
//! DB_TEST_DRIVER=postgres cargo test -p conformance
//! ```

pub mod caps;
pub mod fault_proxy;
pub mod harness;
mod mysql;
pub mod postgres;
pub mod scenarios;
pub mod slt;
pub mod support;
pub mod trace_recorder;

pub use caps::{Caps, blob_type};
pub use harness::{TestDb, TestDbOptions, connect_test_db, driver_from_env, unique_name};
