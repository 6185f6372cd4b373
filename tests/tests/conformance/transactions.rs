use conformance::scenarios::transactions as tx;

scenario_tests! {
    commit_persists(t) => tx::commit_persists(t.db());
    rollback_discards(t) => tx::rollback_discards(t.db());
    with_transaction_commits_and_rolls_back(t)
        => tx::with_transaction_commits_and_rolls_back(t.db());
    with_transaction_rolls_back_on_panic(t) => tx::with_transaction_rolls_back_on_panic(t.arc());
    with_transaction_in_spawned_task(t) => tx::with_transaction_in_spawned_task(t.arc());
    dropped_transaction_rolls_back(t) => tx::dropped_transaction_rolls_back(t.db());
    cancelled_transaction_rolls_back(t) => tx::cancelled_transaction_rolls_back(t.db());
    nested_savepoints(t) => tx::nested_savepoints(t.db());
    read_only_transaction(t) => tx::read_only_transaction(t.db());
    with_transaction_timeout(t) => tx::with_transaction_timeout(t.db());
    transaction_deadline_blocks_late_commit(t)
        => tx::transaction_deadline_blocks_late_commit(t.db());
    transaction_timeout_interrupts_statement(t)
        => tx::transaction_timeout_interrupts_statement(t.db());
    with_transaction_timeout_interrupts_statement(t)
        => tx::with_transaction_timeout_interrupts_statement(t.db());
}
