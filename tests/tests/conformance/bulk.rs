use conformance::scenarios::bulk;

scenario_tests! {
    insert_many_bulk(t) => bulk::insert_many_bulk(t.db());
    for_each_row_visits_every_row(t) => bulk::for_each_row_visits_every_row(t.db());
}
