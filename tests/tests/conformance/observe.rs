use conformance::scenarios::observe;

scenario_tests! {
    spans_describe_statements(t) => observe::spans_describe_statements(t.db());
}

/// `db.connect` names the target, records the time taken, and the error of a failed
/// connect (SQLite: no server needed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_span_names_the_target() {
    let Some(recorder) = conformance::trace_recorder::install() else {
        panic!("another global tracing subscriber is installed; run this test on its own");
    };
    let dir = std::env::temp_dir().join(conformance::unique_name("observe_connect"));
    let mut config = dbcore::SqliteConfig::default();
    config.file_path = dir.join("app.db").display().to_string();
    let db = db_sqlite::SqliteDatabase::connect(&config)
        .await
        .expect("connect to a new file");
    dbcore::Database::close(&db, std::time::Duration::from_secs(5))
        .await
        .expect("close");
    // A directory is not a database file.
    let mut bad = dbcore::SqliteConfig::default();
    bad.file_path = dir.display().to_string();
    let failed = db_sqlite::SqliteDatabase::connect(&bad).await;
    assert!(
        failed.is_err(),
        "opening a directory as a database must fail"
    );
    let _ = std::fs::remove_dir_all(&dir);

    recorder.with(|seen| {
        let good = seen.spans_with("db.connect", "target", &config.target());
        let (_, span) = good
            .first()
            .unwrap_or_else(|| panic!("no db.connect span for {}", config.target()));
        assert_eq!(
            span.fields.get("db.system").map(String::as_str),
            Some("sqlite")
        );
        assert!(span.fields.contains_key("elapsed_ms"), "{span:?}");
        assert!(!span.fields.contains_key("error"), "{span:?}");
        let failed = seen.spans_with("db.connect", "target", &bad.target());
        let (_, span) = failed
            .first()
            .unwrap_or_else(|| panic!("no db.connect span for {}", bad.target()));
        assert!(span.fields.contains_key("error"), "{span:?}");
    });
}
