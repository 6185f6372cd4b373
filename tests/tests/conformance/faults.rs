//! Network and server faults against the real servers (`conformance::scenarios::faults`).
//! On SQLite each prints a note and checks nothing: it has no network connection.

use conformance::scenarios::faults;

scenario_tests! {
    idle_sessions_killed_by_the_server(t) => faults::idle_sessions_killed_by_the_server(t.db());
    idle_session_timed_out_by_the_server(t)
        => faults::idle_session_timed_out_by_the_server(t.db());
    partition_under_a_transaction_deadline(t)
        => faults::partition_under_a_transaction_deadline(t.db());
    partition_health_and_recovery(t) => faults::partition_health_and_recovery(t.db());
    connect_through_a_partition_is_a_connect_failure(t)
        => faults::connect_through_a_partition_is_a_connect_failure(t.db());
    reset_during_the_handshake_is_a_transient_connect_failure(t)
        => faults::reset_during_the_handshake_is_a_transient_connect_failure(t.db());
    result_cut_mid_stream(t) => faults::result_cut_mid_stream(t.db());
    server_restart_through_the_proxy(t) => faults::server_restart_through_the_proxy(t.db());
    commit_connection_lost_in_flight(t) => faults::commit_connection_lost_in_flight(t.db());
}
