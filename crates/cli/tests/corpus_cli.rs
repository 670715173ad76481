//! Every corpus case through the real `entitle` binary (`--format json`), matched against the same expectations
//! as the library (crates/testkit/tests/corpus_library.rs); and, case by case, the binary's JSON must equal the
//! library's, so that the two faces answer identically.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad fixture or a missing binary"
)]

use std::process::Command;

use entitle_testkit::{Case, Corpus, corpus_dir, library_answer, load, load_dir, report, run_corpus};
use serde_json::Value;

/// Asks the binary, as a user would, and reads its JSON answer.
fn cli_answer(case: &Case) -> Result<Value, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_entitle"))
        .args(case.cli_args())
        .env_remove("ENTITLE_SCENARIO")
        .env_remove("ENTITLE_CATALOG")
        .output()
        .map_err(|e| format!("cannot run entitle: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "exit status {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("stdout is not JSON: {e}"))
}

fn corpus(name: &str) -> Corpus {
    load(&corpus_dir().join(format!("{name}.toml"))).unwrap_or_else(|e| panic!("{e}"))
}

fn run(name: &str) {
    let failures = run_corpus(&corpus(name), cli_answer);
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
fn library_and_binary_answer_identically() {
    let mut differences = Vec::new();
    let mut asked = 0;
    for corpus in load_dir(&corpus_dir()).unwrap_or_else(|e| panic!("{e}")) {
        for case in &corpus.cases {
            asked += 1;
            let library = library_answer(case);
            let binary = cli_answer(case);
            if library != binary {
                differences.push(format!(
                    "case `{}`\n  $ {}\n  library: {}\n  binary:  {}",
                    case.name,
                    case.command_line(),
                    short(&library),
                    short(&binary)
                ));
            }
        }
    }
    assert!(asked > 0, "no corpus cases found");
    assert!(
        differences.is_empty(),
        "{} case(s) differ:\n\n{}",
        differences.len(),
        differences.join("\n\n")
    );
}

fn short(answer: &Result<Value, String>) -> String {
    match answer {
        Ok(v) => entitle_testkit::matcher::brief(v),
        Err(e) => format!("error: {e}"),
    }
}
