use conformance::scenarios::observe;

scenario_tests! {
    spans_describe_statements(t) => observe::spans_describe_statements(t.db());
}
