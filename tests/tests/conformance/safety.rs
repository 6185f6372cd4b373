use conformance::scenarios::safety;

scenario_tests! {
    execute_batch_runs_scripts(t) => safety::execute_batch_runs_scripts(t.db());
    transaction_control_refused(t) => safety::transaction_control_refused(t.db());
    multiple_statements_refused(t) => safety::multiple_statements_refused(t.db());
    executor_is_object_safe(t) => safety::executor_is_object_safe(t.db());
}
