//! Fuzz targets (bolero) for the scenario parser and the engine over whatever parses. Under `cargo test` each runs
//! a short random pass (part of the suite and of CI); the long run is `cargo bolero test --package entitle-core
//! --test fuzz <target>` (libFuzzer; see docs/security.md). Nothing may panic, whatever the input: a scenario file
//! is user input, and the server parses bodies with the same code.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "fuzz targets fail on a broken invariant"
)]

use std::sync::Arc;

use chrono::NaiveDate;
use entitle_core::scenario::Format;
use entitle_core::snapshot::{FlowIdx, UserIdx};
use entitle_core::{Catalog, Scenario, Snapshot};

fn catalog() -> Arc<Catalog> {
    Arc::new(Catalog::seed().expect("the embedded catalog"))
}

/// Every answer the engine gives about a tenant, for each flow and user: none may panic.
fn answer_everything(catalog: &Arc<Catalog>, scenario: Scenario) {
    if scenario.validate(catalog, "fuzz").is_err() {
        return;
    }
    let day = scenario
        .tenant
        .at
        .unwrap_or_else(|| NaiveDate::from_ymd_opt(2024, 6, 3).expect("a day"));
    let Ok(snap) = Snapshot::new(Arc::clone(catalog), scenario, day) else {
        return;
    };
    let _ = entitle_core::audit::audit(&snap);
    let _ = entitle_core::capacity::capacity(&snap);
    let _ = entitle_core::buying::cost(&snap);
    let flows = u32::try_from(snap.flows().len()).unwrap_or(u32::MAX).min(64);
    let users = u32::try_from(snap.users().len()).unwrap_or(u32::MAX).min(16);
    for f in 0..flows {
        let _ = entitle_core::report::flow_answer(&snap, FlowIdx(f), None);
        let _ = entitle_core::requests::flow_limit(&snap, FlowIdx(f), None);
        for u in 0..users.min(4) {
            let _ = entitle_core::report::flow_answer(&snap, FlowIdx(f), Some(UserIdx(u)));
        }
    }
    for u in 0..users {
        let _ = entitle_core::requests::user_limit(&snap, UserIdx(u));
    }
    // A scenario exports and reads back to itself.
    let text = snap.scenario().to_string_as(Format::Json).expect("export");
    let again = Scenario::parse(&text, Format::Json, "export", catalog).expect("an export parses");
    assert_eq!(&again, snap.scenario(), "JSON export round trip");
}

fn parse_and_answer(catalog: &Arc<Catalog>, bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    for format in [Format::Toml, Format::Json] {
        if let Ok(s) = Scenario::parse(text, format, "fuzz", catalog) {
            answer_everything(catalog, s);
        }
    }
}

/// Arbitrary bytes as a scenario, TOML and JSON.
#[test]
fn fuzz_scenario_bytes() {
    let catalog = catalog();
    bolero::check!().for_each(|bytes: &[u8]| parse_and_answer(&catalog, bytes));
}

/// The example tenants with arbitrary edits (bytes overwritten, inserted or cut): inputs near a valid scenario
/// reach the validator and the engine, not only the tokenizer.
#[test]
fn fuzz_edited_examples() {
    let catalog = catalog();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut examples: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .expect("examples")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| std::fs::read(p).expect("an example"))
        .collect();
    examples.sort();
    assert!(!examples.is_empty());
    bolero::check!().with_type::<(u8, Vec<(u16, u8, u8)>)>().for_each(
        |(which, edits): &(u8, Vec<(u16, u8, u8)>)| {
            let mut text = examples[usize::from(*which) % examples.len()].clone();
            for &(at, op, byte) in edits.iter().take(8) {
                let at = usize::from(at) % (text.len() + 1);
                match op % 3 {
                    0 if at < text.len() => text[at] = byte,
                    1 => text.insert(at, byte),
                    _ if at < text.len() => {
                        text.remove(at);
                    }
                    _ => {}
                }
            }
            parse_and_answer(&catalog, &text);
        },
    );
}

/// Generated tenants of any small shape: every answer, and the export round trip.
#[test]
fn fuzz_generated_tenants() {
    let catalog = catalog();
    bolero::check!().with_type::<(u8, u8, u8, u64)>().for_each(
        |&(flows, users, environments, seed): &(u8, u8, u8, u64)| {
            let s = entitle_core::generate::synthetic(
                u32::from(flows % 48) + 1,
                u32::from(users % 24) + 1,
                u32::from(environments % 5) + 1,
                seed,
            );
            answer_everything(&catalog, s);
        },
    );
}
