use std::time::Duration;

use conformance::scenarios::pool;

scenario_tests! {
    pool_stats(t) => pool::pool_stats(t.db(), t.max_open());
    pool_stats_single_connection(t, conformance::TestDbOptions::new().max_open_conns(1))
        => pool::pool_stats(t.db(), t.max_open());
    many_concurrent_writers(t) => pool::many_concurrent_writers(t.arc());
    many_concurrent_writers_single_connection(t, conformance::TestDbOptions::new().max_open_conns(1))
        => pool::many_concurrent_writers(t.arc());
    connections_share_one_database(t) => pool::connections_share_one_database(t.arc());
    connections_share_one_in_memory_database(t, conformance::TestDbOptions::new().in_memory())
        => pool::connections_share_one_database(t.arc());
    health_ping_and_version(t) => pool::health_ping_and_version(t.db());
    close_refuses_new_work(t) => pool::close_refuses_new_work(t.db());
    close_waits_for_connections_in_use(t) => pool::close_waits_for_connections_in_use(t.arc());
    close_cuts_off_connections_still_in_use(t)
        => pool::close_cuts_off_connections_still_in_use(t.arc());
    close_stops_opening_connections(t) => pool::close_stops_opening_connections(t.db());
    pool_timeout_when_exhausted(
        t,
        conformance::TestDbOptions::new().max_open_conns(2).timeout(Duration::from_millis(300))
    ) => pool::pool_timeout_when_exhausted(t.db(), Duration::from_millis(300));
}
