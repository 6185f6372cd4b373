use conformance::scenarios::errors;

scenario_tests! {
    constraint_violations(t) => errors::constraint_violations(t.db());
    syntax_errors(t) => errors::syntax_errors(t.db());
    decode_errors(t) => errors::decode_errors(t.db());
    errors_inside_transactions(t) => errors::errors_inside_transactions(t.db());
}
