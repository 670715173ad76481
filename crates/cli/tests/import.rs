//! `entitle import` as an admin meets it: the fixture exports of one tenant (Contoso) give a scenario whose audit
//! matches a hand-checked expectation; every unknown is named and counted on stderr; each export kind is told
//! from its content in JSON and in CSV; malformed exports exit 2 naming file, line or record, and field.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad fixture or a missing binary"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join("import")
}

fn entitle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_entitle"))
        .args(args)
        .current_dir(fixtures())
        .env_remove("ENTITLE_SCENARIO")
        .env_remove("ENTITLE_CATALOG")
        .output()
        .unwrap_or_else(|e| panic!("cannot run entitle: {e}"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const ALICE: &str = "a7d3f1e2-4b5c-4d6e-8f70-1a2b3c4d5e61";
const BOB: &str = "b8e4a2f3-5c6d-4e7f-9a81-2b3c4d5e6f72";
const CAROL: &str = "c9f5b3a4-6d7e-4f80-8b92-3c4d5e6f7a83";
const ERIN: &str = "e1b7d5c6-8f90-41a2-8db4-5e6f7a8b9ca5";
const FRANK: &str = "f2c8e6d7-90a1-42b3-9ec5-6f7a8b9cadb6";
const GONE: &str = "9d3e7f10-2a3b-4c5d-8e6f-7a8b9c0d1e2f";

fn flow(n: u8) -> String {
    format!("1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e0{n}")
}

/// The whole Contoso export set, imported as of 2026-12-01 into `out`.
fn import_tenant(out: &Path, extra: &[&str]) -> Output {
    let out = out.display().to_string();
    let mut args = vec![
        "import",
        "--flows",
        "tenant/flows.json",
        "--flows",
        "tenant/flows-thin.csv",
        "--apps",
        "tenant/apps.json",
        "--environments",
        "tenant/environments.csv",
        "--users",
        "tenant/users.json",
        "--skus",
        "tenant/skus.json",
        "--allocations",
        "tenant/allocations.json",
        "--capacity",
        "tenant/capacity.json",
        "--at-risk",
        "tenant/at-risk.csv",
        "--at",
        "2026-12-01",
        "-o",
        &out,
    ];
    args.extend_from_slice(extra);
    entitle(&args)
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("entitle-import-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_contoso_exports_give_a_scenario_whose_audit_matches_the_hand_check() {
    let dir = temp("audit");
    let toml = dir.join("tenant.toml");
    let out = import_tenant(&toml, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "with -o nothing goes to stdout");
    let text = std::fs::read_to_string(&toml).unwrap();
    assert!(text.contains("# Alice Jones <alice@contoso.com>"), "{text}");
    assert!(
        text.contains("# guessed: connectors unknown (thin Get-AdminFlow list)"),
        "{text}"
    );

    let audit = entitle(&["audit", "-s", &toml.display().to_string(), "--format", "json"]);
    assert_eq!(audit.status.code(), Some(0), "{}", stderr(&audit));
    let audit: Value = serde_json::from_slice(&audit.stdout).unwrap();
    let got: BTreeMap<String, (String, String, String)> = audit["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["flow"].as_str().unwrap().to_owned(),
                (
                    f["owner"].as_str().unwrap().to_owned(),
                    f["enforcement"].as_str().unwrap().to_owned(),
                    f["rule"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect();
    // Hand-checked, flow by flow:
    // 1 Alice holds Power Automate Premium (plan 375cd0ad enabled): SQL is premium, licensed (FLOW-4).
    // 2 Bob holds only E3: a scheduled flow on SQL (premium since 2019-10-01, M365-1) lacks premium (FLOW-4).
    // 3 Bob's OneDrive + Teams flow is standard and E3 covers it (FLOW-5): Microsoft's at-risk row is wrong.
    // 4 Carol's E5 has its Power Apps and flow plans disabled: no rights; an HTTP request trigger is premium.
    // 5 Frank holds Power Apps Premium only; a custom connector outside an app's context (FLOW-9).
    // 6 The owner is not in the user export: no licences, so even a standard flow lacks rights (FLOW-5).
    // 7 Alice's thin-listed flow: connectors unknown, standard assumed, covered by E3.
    // 8 Erin's account is disabled: taken as left on the import day (FLOW-24, owner-left).
    let want: BTreeMap<String, (String, String, String)> = [
        (2, BOB, "other", "FLOW-4"),
        (4, CAROL, "other", "FLOW-4"),
        (5, FRANK, "outside-power-apps-context", "FLOW-9"),
        (6, GONE, "other", "FLOW-5"),
        (8, ERIN, "owner-left", "FLOW-24"),
    ]
    .into_iter()
    .map(|(n, o, e, r)| (flow(n), (o.to_owned(), e.to_owned(), r.to_owned())))
    .collect();
    assert_eq!(got, want);
    assert_eq!(audit["summary"]["flows"], 8);
    assert_eq!(audit["summary"]["environments"], 3);
    assert!(!got.contains_key(ALICE));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn every_unknown_is_reported_by_name_and_count() {
    let dir = temp("summary");
    let out = import_tenant(&dir.join("t.toml"), &["--summary-json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    let json_end = err.rfind("}\n").unwrap() + 1;
    let s: Value = serde_json::from_str(&err[..json_end]).unwrap();
    assert_eq!(
        s["unknown_skus"]["c5928f49-12ba-48f7-ada3-0d743a3601d5 (VISIOCLIENT)"],
        1
    );
    assert_eq!(s["unknown_connectors"]["shared_acmeweather"], 1);
    assert_eq!(
        s["custom_connectors"]["shared_contoso-5fcrm-5f7c1e2d3a4b5c6d7e"],
        1
    );
    assert_eq!(s["missing_owners"][GONE], 1);
    assert_eq!(s["flows_without_connectors"]["tenant/flows-thin.csv"], 1);
    assert_eq!(s["unknown_currencies"]["MCSMessages"], 1);
    assert_eq!(s["suspended_flows"], 1);
    assert_eq!(
        s["plans_disabled"][0],
        format!("carol@contoso.com ({CAROL}): office-365-e5")
    );
    assert!(s["not_modelled"][0].as_str().unwrap().starts_with("AppPass: 5"));
    // Microsoft and entitle agree on flow 2; flow 3 is Microsoft's false positive, the rest entitle's finds.
    let dis: Vec<&str> = s["at_risk_disagreements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(dis.len(), 5, "{dis:?}");
    assert!(dis[0].starts_with(&format!(
        "{} (Post new files to Teams): Microsoft lists it",
        flow(3)
    )));
    assert!(!dis.iter().any(|d| d.starts_with(&flow(2))));

    // The text summary says the same for people, naming the thin list explicitly.
    let out = import_tenant(&dir.join("t.toml"), &[]);
    let err = stderr(&out);
    for line in [
        "SKUs not in the catalog: 1",
        "  c5928f49-12ba-48f7-ada3-0d743a3601d5 (VISIOCLIENT): 1 user(s)",
        "  shared_acmeweather: 1 item(s)",
        &format!("  {GONE}: 1 item(s) owned"),
        "flows whose connectors are unknown because only the thin tenant-wide Get-AdminFlow list was given: 1",
        "  tenant/flows-thin.csv: 1 flow(s)",
    ] {
        assert!(err.contains(line), "missing `{line}` in:\n{err}");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn each_export_kind_is_told_from_its_content_in_json_and_csv() {
    let cases = [
        ("tenant/flows.json", "flows"),
        ("tenant/flows-thin.csv", "flows"),
        ("kinds/flows.csv", "flows"),
        ("tenant/apps.json", "apps"),
        ("kinds/apps.csv", "apps"),
        ("tenant/environments.csv", "environments"),
        ("kinds/environments.json", "environments"),
        ("tenant/users.json", "users"),
        ("kinds/users.csv", "users"),
        ("tenant/skus.json", "skus"),
        ("tenant/allocations.json", "allocations"),
        ("tenant/capacity.json", "capacity"),
        ("tenant/at-risk.csv", "at-risk"),
        ("kinds/at-risk.json", "at-risk"),
        ("kinds/connectors.json", "connectors"),
        ("kinds/coe-flows.csv", "coe-flows"),
        ("kinds/coe-flows.json", "coe-flows"),
        ("kinds/inventory.json", "inventory"),
    ];
    for (file, kind) in cases {
        let out = entitle(&[
            "import",
            file,
            "--tenant",
            "contoso",
            "--at",
            "2026-12-01",
            "--summary-json",
        ]);
        assert_eq!(out.status.code(), Some(0), "{file}: {}", stderr(&out));
        let err = stderr(&out);
        let s: Value = serde_json::from_str(&err[..=err.rfind('}').unwrap()]).unwrap();
        assert_eq!(s["files"][0]["kind"], kind, "{file}");
        assert!(s["files"][0]["records"].as_u64().unwrap() > 0, "{file}");
        // The scenario goes to stdout and reads back.
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("[tenant]"),
            "{file}"
        );
    }
}

#[test]
fn the_admin_center_csv_maps_english_names_and_warns_on_localized_ones() {
    let out = entitle(&[
        "import",
        "--users",
        "kinds/users.csv",
        "--tenant",
        "contoso",
        "--summary-json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    let s: Value = serde_json::from_str(&err[..=err.rfind('}').unwrap()]).unwrap();
    assert_eq!(s["unknown_product_names"]["Microsoft 365 Empresa Básico"], 1);
    assert_eq!(s["unknown_product_names"]["Microsoft Fabric (Gratis)"], 1);
    let toml = String::from_utf8_lossy(&out.stdout);
    assert!(toml.contains("\"power-automate-premium\""), "{toml}");
    assert!(
        toml.contains("licences from the admin center's product names"),
        "{toml}"
    );
}

#[test]
fn malformed_exports_exit_2_with_file_line_or_record_and_field() {
    let cases = [
        (
            "--flows",
            "malformed/flows-bad-guid.csv",
            "malformed/flows-bad-guid.csv:3: FlowName: `Invoice approvals` is not a GUID",
        ),
        (
            "--users",
            "malformed/users-bad-sku.json",
            "malformed/users-bad-sku.json:record 2: assignedLicenses[0].skuId: `ENTERPRISEPACK` is not a GUID",
        ),
        (
            "--skus",
            "malformed/skus-truncated.json",
            "malformed/skus-truncated.json:",
        ),
        (
            "--allocations",
            "malformed/allocations-short-row.csv",
            "malformed/allocations-short-row.csv:2: 2 fields where the header has 3",
        ),
    ];
    for (flag, file, want) in cases {
        let out = entitle(&["import", flag, file, "--tenant", "contoso"]);
        assert_eq!(out.status.code(), Some(2), "{file}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{file}");
        let err = stderr(&out);
        assert!(err.starts_with(&format!("error: {want}")), "{file}: {err}");
    }
    let out = entitle(&["import", "--skus", "malformed/skus-truncated.json"]);
    assert!(stderr(&out).contains("not valid JSON"), "{}", stderr(&out));
}

#[test]
fn the_fixtures_reference_only_the_repository() {
    // Used by the whole set: the users are those of the user export; ids are GUIDs joined as such.
    let users = std::fs::read_to_string(fixtures().join("tenant/users.json")).unwrap();
    for id in [ALICE, BOB, CAROL, ERIN, FRANK] {
        assert!(users.contains(id), "{id}");
    }
    assert!(!users.contains(GONE));
}

#[test]
fn audit_by_user_says_who_needs_what_and_units_per_sku() {
    let dir = temp("by-user");
    let toml = dir.join("tenant.toml");
    let out = import_tenant(&toml, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = toml.display().to_string();
    let out = entitle(&["audit", "--by", "user", "-s", &s, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let user = |id: &str| {
        r["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["user"] == id)
            .unwrap()
            .clone()
    };
    let alice = user(ALICE);
    assert_eq!(alice["gap"], false);
    assert_eq!(alice["owns_flows"], 2);
    assert!(
        alice["rights"]
            .as_array()
            .unwrap()
            .contains(&Value::from("flows-premium"))
    );
    let carol = user(CAROL);
    assert_eq!(carol["rules"], serde_json::json!(["FLOW-4"]));
    // Carol has no spare unit to take: a Power Automate Premium licence is her cheapest fix (CAT-3).
    assert_eq!(carol["cheapest_fix"]["action"], "assign-license");
    assert_eq!(carol["cheapest_fix"]["sku"], "power-automate-premium");
    assert_eq!(user(ERIN)["rules"], serde_json::json!(["FLOW-24"]));
    let sku = |id: &str| {
        r["skus"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["sku"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(sku("office-365-e3")["spare"], 7);
    assert_eq!(sku("power-automate-premium")["spare"], 0);
    for format in ["table", "csv"] {
        let out = entitle(&["audit", "--by", "user", "-s", &s, "--format", format]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains(CAROL), "{format}");
    }
    std::fs::remove_dir_all(dir).ok();
}
