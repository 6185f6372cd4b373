//! The SQL logic test corpus (`tests/sqllogictest`, from SQLite's sqllogictest), run
//! through the public `Database` API, one fresh database per file, and negative controls
//! that prove a differing result fails the run.

use std::path::PathBuf;

use conformance::slt::{SltStats, corpus_dir, corpus_files, run_file, run_script};
use conformance::{Caps, TestDbOptions, driver_from_env, unique_name};

use crate::test_db;

/// Per file: records (`statement` + `query`) and records skipped for the labels
/// `sqlite`, `postgresql`, `mysql`, as counted in `SOURCE.md`.
const CORPUS: &[(&str, usize, [usize; 3])] = &[
    ("evidence__slt_lang_droptable.test", 12, [0, 0, 0]),
    ("evidence__slt_lang_dropview.test", 13, [0, 0, 0]),
    ("index__random__1000__slt_good_4.test", 1022 + 15, [5, 5, 5]),
    (
        "random__aggregates__slt_good_129.test",
        12 + 1134,
        [344, 415, 344],
    ),
    ("select1.test", 31 + 1000, [0, 0, 0]),
];

fn label() -> &'static str {
    Caps::of(driver_from_env()).slt_label
}

async fn run_corpus_file(name: &str) {
    let path = corpus_dir().join(name);
    let t = test_db(TestDbOptions::new().in_memory()).await;
    let stats = match run_file(t.arc(), &path).await {
        Ok(stats) => stats,
        Err(e) => panic!("{} on {}:\n{e}", path.display(), t.description()),
    };
    let (_, records, skipped) = CORPUS
        .iter()
        .find(|(n, _, _)| *n == name)
        .unwrap_or_else(|| panic!("{name} is not in the CORPUS table"));
    let expected_skipped = match label() {
        "sqlite" => skipped[0],
        "postgresql" => skipped[1],
        _ => skipped[2],
    };
    assert!(!stats.halted, "{name} should run to the end: {stats:?}");
    assert_eq!(
        stats.statements + stats.queries + stats.skipped,
        *records,
        "{name}: every record should be executed or skipped: {stats:?}"
    );
    assert_eq!(
        stats.skipped, expected_skipped,
        "{name}: skipped records: {stats:?}"
    );
    t.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slt_evidence_slt_lang_droptable() {
    run_corpus_file("evidence__slt_lang_droptable.test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slt_evidence_slt_lang_dropview() {
    run_corpus_file("evidence__slt_lang_dropview.test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slt_index_random_1000_slt_good_4() {
    run_corpus_file("index__random__1000__slt_good_4.test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slt_random_aggregates_slt_good_129() {
    run_corpus_file("random__aggregates__slt_good_129.test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slt_select1() {
    run_corpus_file("select1.test").await;
}

#[test]
fn every_corpus_file_has_a_test() {
    let mut on_disk: Vec<String> = corpus_files()
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    on_disk.sort();
    let mut known: Vec<String> = CORPUS.iter().map(|(n, _, _)| (*n).to_owned()).collect();
    known.sort();
    assert_eq!(
        on_disk,
        known,
        "add a test (and a CORPUS entry) for every .test file in {}",
        corpus_dir().display()
    );
}

async fn run_inline(script: &str) -> Result<SltStats, conformance::slt::SltFailure> {
    let t = test_db(TestDbOptions::new().in_memory()).await;
    let name = unique_name("inline");
    let result = run_script(t.arc(), script, &name).await;
    t.finish().await;
    result
}

const TABLE: &str = "statement ok\nCREATE TABLE t1(a INTEGER, b VARCHAR(10))\n\n\
     statement ok\nINSERT INTO t1(a, b) VALUES (1, 'x'), (2, ''), (3, NULL)\n\n";

/// Negative control on the real corpus: one digit of one hash changed in a copy of
/// `select1.test` must fail the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_corpus_hash_fails() {
    let original = std::fs::read_to_string(corpus_dir().join("select1.test"))
        .expect("select1.test is readable");
    let marker = "values hashing to ";
    let at = original
        .find(marker)
        .expect("select1.test has hashed results")
        + marker.len();
    let digit = original.as_bytes()[at];
    let replacement = if digit == b'0' { "1" } else { "0" };
    let mut altered = original.clone();
    altered.replace_range(at..=at, replacement);
    assert_ne!(altered, original);

    let dir: PathBuf = std::env::temp_dir().join(unique_name("slt_negative"));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    let path = dir.join("select1_altered.test");
    std::fs::write(&path, &altered).expect("write altered copy");
    let t = test_db(TestDbOptions::new().in_memory()).await;
    let result = run_file(t.arc(), &path).await;
    t.finish().await;
    let _ = std::fs::remove_dir_all(&dir);
    let failure = match result {
        Ok(stats) => panic!("the altered select1.test must fail, but passed: {stats:?}"),
        Err(f) => f.to_string(),
    };
    assert!(
        failure.contains("select1_altered.test") && failure.contains("hashing to"),
        "the failure should point at the altered record: {failure}"
    );
}

/// Negative control on an inline script: the correct expectation passes, a changed value
/// fails, and so do a changed NULL / `(empty)` rendering and a wrong row count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_inline_value_fails() {
    let good = format!(
        "{TABLE}query IT rowsort\nSELECT a, b FROM t1\n----\n1\nx\n2\n(empty)\n3\nNULL\n\n\
         query R\nSELECT a * 1.5 FROM t1 WHERE a = 3\n----\n4.500\n"
    );
    let stats = run_inline(&good).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stats.queries, 2, "{stats:?}");
    assert_eq!(stats.statements, 2, "{stats:?}");

    for (from, to) in [
        ("----\n1\nx\n", "----\n1\ny\n"),
        ("(empty)", "NULL"),
        ("3\nNULL\n", "3\n(empty)\n"),
        ("4.500", "4.501"),
        ("2\n(empty)\n3\nNULL\n", "2\n(empty)\n"),
    ] {
        let bad = good.replacen(from, to, 1);
        assert_ne!(bad, good);
        match run_inline(&bad).await {
            Ok(stats) => panic!("changing {from:?} to {to:?} must fail the run: {stats:?}"),
            Err(e) => assert!(e.to_string().contains("inline_"), "{e}"),
        }
    }
}

/// A statement expected to fail that succeeds (and one expected to succeed that fails)
/// fails the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unexpected_statement_outcome_fails() {
    let wrongly_expects_error =
        format!("{TABLE}statement error\nINSERT INTO t1(a, b) VALUES (4, 'y')\n");
    assert!(run_inline(&wrongly_expects_error).await.is_err());
    let wrongly_expects_ok = format!("{TABLE}statement ok\nINSERT INTO no_such_table VALUES (1)\n");
    assert!(run_inline(&wrongly_expects_ok).await.is_err());
    let multi = format!(
        "{TABLE}statement ok\nINSERT INTO t1(a, b) VALUES (4, 'y'); INSERT INTO t1(a, b) VALUES (5, 'z')\n\n\
         query I\nSELECT count(*) FROM t1\n----\n5\n"
    );
    run_inline(&multi)
        .await
        .unwrap_or_else(|e| panic!("a multi-statement record runs: {e}"));
}

/// `skipif` / `onlyif` with trailing comments apply to this engine's label, and a
/// conditional `halt` stops only the engine it names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditions_use_the_engine_label() {
    let label = label();
    let skipped = format!(
        "{TABLE}skipif {label} # a comment the parser would reject\nquery I\nSELECT 1\n----\n2\n\n\
         onlyif {label} # another comment\nquery I\nSELECT 3\n----\n3\n\n\
         onlyif oracle\nquery I\nSELECT 1\n----\n2\n"
    );
    let stats = run_inline(&skipped).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stats.skipped, 2, "{stats:?}");
    assert_eq!(stats.queries, 1, "{stats:?}");

    let wrong_onlyif = format!("{TABLE}onlyif {label}\nquery I\nSELECT 1\n----\n2\n");
    assert!(
        run_inline(&wrong_onlyif).await.is_err(),
        "onlyif {label} must run"
    );

    let halted = format!("{TABLE}onlyif {label} # stop\nhalt\n\nquery I\nSELECT 1\n----\n2\n");
    let stats = run_inline(&halted).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(stats.halted, "{stats:?}");
    let not_halted = format!("{TABLE}skipif {label}\nhalt\n\nquery I\nSELECT 1\n----\n1\n");
    let stats = run_inline(&not_halted)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!stats.halted, "{stats:?}");
    assert_eq!(
        stats.queries, 1,
        "the query after a halt for another engine runs: {stats:?}"
    );
}
