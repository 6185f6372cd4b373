use conformance::scenarios::{crud, placeholders, typed};

scenario_tests! {
    crud_and_rows_affected(t) => crud::crud_and_rows_affected(t.db());
    query_one_and_query_opt(t) => crud::query_one_and_query_opt(t.db());
    value_round_trip(t) => crud::value_round_trip(t.db());
    value_round_trip_in_memory(t, conformance::TestDbOptions::new().in_memory())
        => crud::value_round_trip(t.db());
    select_expressions(t) => crud::select_expressions(t.db());
    placeholders_reuse_order_and_literals(t)
        => placeholders::placeholders_reuse_order_and_literals(t.db());
    placeholder_count_mismatch(t) => placeholders::placeholder_count_mismatch(t.db());
    typed_reads_agree_with_values(t) => typed::typed_reads_agree_with_values(t.db());
}
