//! The conformance suite: every scenario of the `conformance` library as its own test,
//! against the driver named by `DB_TEST_DRIVER` (default `sqlite`), plus the SQL logic
//! test corpus.
//!
//! Each test gets a fresh database from `conformance::connect_test_db`, so tests are
//! independent under both `cargo test` (threads) and `cargo nextest` (processes).

use conformance::{TestDb, TestDbOptions, connect_test_db, driver_from_env};

/// No scenario takes anywhere near this long; one that does hangs.
const SCENARIO_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// A fresh database for one test, for the driver under test.
async fn test_db(options: TestDbOptions) -> TestDb {
    connect_test_db(driver_from_env(), options).await
}

/// Declares one `#[tokio::test]` per scenario:
/// `name(t) => scenario_call_using(t);` runs the call on a fresh file-backed database
/// `t` and closes it afterwards; `name(t, options) => ...` uses the given options.
macro_rules! scenario_tests {
    ($($name:ident($t:ident $(, $opts:expr)?) => $call:expr;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            #[allow(unused_mut, unused_assignments)]
            let mut options = conformance::TestDbOptions::new();
            $(options = $opts;)?
            let $t = crate::test_db(options).await;
            if tokio::time::timeout(crate::SCENARIO_LIMIT, $call).await.is_err() {
                panic!(
                    "the scenario did not finish within {:?}: something hangs",
                    crate::SCENARIO_LIMIT
                );
            }
            $t.finish().await;
        }
    )*};
}

mod bulk;
mod crud;
mod errors;
mod faults;
mod observe;
mod pool;
mod safety;
mod slt;
mod transactions;
