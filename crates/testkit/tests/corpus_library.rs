//! Every corpus case, answered by the library: the JSON the CLI would print, computed through `entitle_core`.
//!
//! One test per corpus file, so a failing file names itself; `every_corpus_file_has_a_test` keeps the list in
//! step with `corpus/`. A failure lists every case of the file that failed, with its command line, the rule it
//! checks and where the answer differs.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad fixture or a missing binary"
)]

use std::path::PathBuf;

use entitle_testkit::{corpus_dir, corpus_files, library_answer, load, report, run_corpus};

const FILES: [&str; 7] = [
    "customer-service-d365",
    "enforcement-timeline",
    "grandfathering-eve-2024",
    "guests-cross-tenant",
    "portal-consumption",
    "rpa-back-office",
    "small-business-m365",
];

fn run(name: &str) {
    let path = corpus_dir().join(format!("{name}.toml"));
    let corpus = load(&path).unwrap_or_else(|e| panic!("{e}"));
    let failures = run_corpus(&corpus, library_answer);
    assert!(failures.is_empty(), "{}", report(&failures));
}

#[test]
fn small_business_m365() {
    run("small-business-m365");
}

#[test]
fn customer_service_d365() {
    run("customer-service-d365");
}

#[test]
fn rpa_back_office() {
    run("rpa-back-office");
}

#[test]
fn guests_cross_tenant() {
    run("guests-cross-tenant");
}

#[test]
fn grandfathering_eve_2024() {
    run("grandfathering-eve-2024");
}

#[test]
fn portal_consumption() {
    run("portal-consumption");
}

#[test]
fn enforcement_timeline() {
    run("enforcement-timeline");
}

#[test]
fn every_corpus_file_has_a_test() {
    let mut names: Vec<String> = corpus_files(&corpus_dir())
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    assert_eq!(
        names, FILES,
        "add a test for each corpus file (and remove the tests of deleted ones)"
    );
}

#[test]
fn every_example_has_a_corpus_file() {
    let examples = corpus_dir().join("..").join("examples");
    let mut names: Vec<String> = corpus_files(&examples)
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    assert_eq!(
        names, FILES,
        "every example needs its expected answers in corpus/"
    );
}

#[test]
fn every_corpus_file_loads_and_names_its_example() {
    for path in corpus_files(&corpus_dir()).unwrap_or_else(|e| panic!("{e}")) {
        let corpus = load(&path).unwrap_or_else(|e| panic!("{e}"));
        let stem = path.file_stem().map(PathBuf::from);
        assert_eq!(
            corpus.scenario.file_stem().map(PathBuf::from),
            stem,
            "{}",
            path.display()
        );
        assert!(!corpus.cases.is_empty());
    }
}
