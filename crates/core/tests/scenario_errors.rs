//! The scenario file's errors: each bad input gives one line naming the file, line, column and key, with a "did
//! you mean" where a valid name is close. Also: round trips, the SCENARIO.md example, and the JSON Schema.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad fixture"
)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use entitle_core::Catalog;
use entitle_core::scenario::{Format, Scenario, json_schema};

// ---------------------------------------------------------------------------------------------------------------
// helpers

/// The SKUs these tests name.
const NEEDED: [&str; 6] = [
    "power-automate-per-user",
    "power-automate-process",
    "office-365-e3",
    "power-apps-per-user",
    "power-apps-per-app",
    "ai-builder-capacity",
];

/// The seed catalog when it has every SKU the tests name; otherwise (while the seed is still being written) a
/// small catalog of the seed's `[catalog]` and `[terms]` with just those SKUs (fixtures/scenario/catalog.toml).
fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        if let Ok(seed) = Catalog::seed()
            && NEEDED.iter().all(|id| seed.sku_idx(id).is_some())
        {
            return seed;
        }
        let small =
            Catalog::from_toml(&fixture("catalog.toml"), "catalog.toml").unwrap_or_else(|e| panic!("{e}"));
        assert!(NEEDED.iter().all(|id| small.sku_idx(id).is_some()));
        small
    })
}

fn toml_error(text: &str) -> String {
    Scenario::parse(text, Format::Toml, "t.toml", catalog())
        .unwrap_err()
        .to_string()
}

fn json_error(text: &str) -> String {
    Scenario::parse(text, Format::Json, "t.json", catalog())
        .unwrap_err()
        .to_string()
}

fn toml_ok(text: &str) -> Scenario {
    Scenario::parse(text, Format::Toml, "t.toml", catalog()).unwrap_or_else(|e| panic!("{e}"))
}

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/scenario")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The same document as JSON.
fn toml_to_json(text: &str) -> String {
    let value: toml::Value = toml::from_str(text).unwrap();
    serde_json::to_string_pretty(&value).unwrap()
}

/// Line 1-10 of most TOML cases: a tenant, a user `alice`, a default environment `prod`.
const BASE: &str = r#"[tenant]
id = "contoso"

[[users]]
id = "alice"
licenses = ["power-automate-per-user"]

[[environments]]
id = "prod"
default = true
"#;

fn with_base(rest: &str) -> String {
    format!("{BASE}{rest}")
}

// ---------------------------------------------------------------------------------------------------------------
// the ten cases of the brief

#[test]
fn unknown_key_suggests_the_closest_key() {
    let text = with_base("\n[[flows]]\nid = \"invoice\"\nenvironment = \"prod\"\nownr = \"alice\"\n");
    assert_eq!(
        toml_error(&text),
        "t.toml:15:1: flows[0].ownr: unknown key `ownr` (did you mean `owner`?)"
    );
}

#[test]
fn unknown_sku_suggests_the_closest_sku() {
    let text = "[tenant]\nid = \"contoso\"\n\n[[users]]\nid = \"alice\"\n\
                licenses = [\"office-365-e3\", \"power-automate-per-usr\"]\n";
    assert_eq!(
        toml_error(text),
        "t.toml:6:30: users[0].licenses[1]: unknown SKU `power-automate-per-usr` \
         (did you mean `power-automate-per-user`?)"
    );
}

#[test]
fn dangling_owner_is_an_unknown_user() {
    let text = with_base("\n[[flows]]\nid = \"invoice\"\nenvironment = \"prod\"\nowner = \"alcie\"\n");
    assert_eq!(
        toml_error(&text),
        "t.toml:15:9: flows[0].owner: unknown user `alcie` (did you mean `alice`?)"
    );
}

#[test]
fn malformed_date_names_the_date() {
    let text = with_base(
        "\n[[flows]]\nid = \"a\"\nenvironment = \"prod\"\nowner = \"alice\"\n\n\
         [[flows]]\nid = \"b\"\nenvironment = \"prod\"\nowner = \"alice\"\ncreated = \"2024-13-01\"\n",
    );
    assert_eq!(
        toml_error(&text),
        "t.toml:21:11: flows[1].created: invalid date `2024-13-01`: no such month or day \
         (write dates as YYYY-MM-DD, such as `2024-06-01`)"
    );
}

#[test]
fn negative_quantity_is_not_a_count() {
    let text = "[tenant]\nid = \"contoso\"\n\n[[subscriptions]]\nsku = \"office-365-e3\"\nquantity = -5\n";
    assert_eq!(
        toml_error(text),
        "t.toml:6:12: subscriptions[0].quantity: `-5` is negative; expected a whole number from 0 to 4294967295"
    );
}

#[test]
fn duplicate_user_id_points_at_the_second() {
    let text = with_base("\n[[users]]\nid = \"bob\"\n\n[[users]]\nid = \"alice\"\n");
    assert_eq!(
        toml_error(&text),
        "t.toml:16:6: users[2].id: duplicate user id `alice` (`users[0]` has the same id)"
    );
}

#[test]
fn invalid_toml_names_line_and_key() {
    let text = with_base("\n[[flows]]\nid = \"invoice\"\nenvironment = \"prod\nowner = \"alice\"\n");
    assert_eq!(
        toml_error(&text),
        "t.toml:14:20: flows[0].environment: invalid basic string, expected `\"`"
    );
}

#[test]
fn invalid_json_names_line_and_key() {
    let text = "{\n  \"tenant\": {\n    \"id\": \"contoso\",\n  },\n  \"users\": []\n}\n";
    assert_eq!(json_error(text), "t.json:4:3: tenant: trailing comma");
}

#[test]
fn two_default_environments_are_refused() {
    let text = with_base("\n[[environments]]\nid = \"dev\"\ndefault = true\n");
    assert_eq!(
        toml_error(&text),
        "t.toml:14:11: environments[1].default: a second default environment \
         (`environments[0]` is already the default; exactly one environment is)"
    );
}

#[test]
fn parent_cycle_is_refused() {
    let text = with_base(
        "\n[[flows]]\nid = \"a\"\nenvironment = \"prod\"\nowner = \"alice\"\nparent = \"c\"\n\
         \n[[flows]]\nid = \"b\"\nenvironment = \"prod\"\nowner = \"alice\"\nparent = \"a\"\n\
         \n[[flows]]\nid = \"c\"\nenvironment = \"prod\"\nowner = \"alice\"\nparent = \"b\"\n",
    );
    assert_eq!(
        toml_error(&text),
        "t.toml:16:10: flows[0].parent: parent cycle: `a` → `c` → `b` → `a` (a child flow cannot be its own ancestor)"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// more syntax and type errors

#[test]
fn unknown_enum_value_suggests_the_closest_value() {
    let text = "[tenant]\nid = \"contoso\"\ncloud = \"gcc-hihg\"\n";
    assert_eq!(
        toml_error(text),
        "t.toml:3:9: tenant.cloud: unknown value `gcc-hihg` (did you mean `gcc-high`?)"
    );
}

#[test]
fn unknown_enum_value_without_a_close_one_lists_the_values() {
    let text = "[tenant]\nid = \"contoso\"\nsegment = \"retail\"\n";
    assert_eq!(
        toml_error(text),
        "t.toml:3:11: tenant.segment: unknown value `retail` \
         (expected one of `commercial`, `government`, `nonprofit`, `education`)"
    );
}

#[test]
fn unknown_key_without_a_close_one_lists_the_keys() {
    let text = "[tenant]\nid = \"contoso\"\npaint = \"blue\"\n";
    assert_eq!(
        toml_error(text),
        "t.toml:3:1: tenant.paint: unknown key `paint` (valid keys: `id`, `cloud`, `segment`, `country`, `at`, \
         `transition_period`, `self_service`, `m365_term_end`, `portal_overage`, `ai_unallocated_use`, `test_clock`, `jobs_through`)"
    );
}

#[test]
fn unknown_top_level_section_suggests_the_section() {
    let text = "[tenant]\nid = \"contoso\"\n\n[[flow]]\nid = \"a\"\n";
    let e = toml_error(text);
    assert!(
        e.starts_with("t.toml:4:3: flow: unknown key `flow` (did you mean `flows`?"),
        "{e}"
    );
}

#[test]
fn missing_key_points_at_its_table() {
    let text = with_base("\n[[flows]]\nid = \"invoice\"\nowner = \"alice\"\n");
    assert_eq!(
        toml_error(&text),
        "t.toml:12:1: flows[0].environment: missing key `environment`"
    );
}

#[test]
fn missing_tenant_is_explained() {
    assert_eq!(
        toml_error("[[users]]\nid = \"alice\"\n"),
        "t.toml:1:1: tenant: missing key `tenant` (every scenario has a `[tenant]` table with an `id`)"
    );
}

#[test]
fn wrong_type_names_what_was_expected() {
    let text = "[tenant]\nid = \"contoso\"\ntransition_period = \"yes\"\n";
    assert_eq!(
        toml_error(text),
        "t.toml:3:21: tenant.transition_period: expected `true` or `false`, found the string \"yes\""
    );
}

#[test]
fn section_written_as_a_table_suggests_an_array_of_tables() {
    let text = "[tenant]\nid = \"contoso\"\n\n[users]\nid = \"alice\"\n";
    assert_eq!(
        toml_error(text),
        "t.toml:4:1: users: expected a list, found a table (write `[[users]]` before each entry, not `[users]`)"
    );
}

#[test]
fn tenant_written_as_an_array_of_tables_is_explained() {
    let e = toml_error("[[tenant]]\nid = \"contoso\"\n");
    assert_eq!(
        e,
        "t.toml:1:1: tenant: `tenant` must be a table, not a list (write `[tenant]`, not `[[tenant]]`)"
    );
}

#[test]
fn quantity_too_large_is_refused() {
    let text =
        "[tenant]\nid = \"contoso\"\n\n[[subscriptions]]\nsku = \"office-365-e3\"\nquantity = 5000000000\n";
    assert_eq!(
        toml_error(text),
        "t.toml:6:12: subscriptions[0].quantity: `5000000000` is too large; expected a whole number from 0 to 4294967295"
    );
}

#[test]
fn toml_local_dates_are_read_like_strings() {
    let quoted = toml_ok("[tenant]\nid = \"contoso\"\nat = \"2024-06-01\"\n");
    let bare = toml_ok("[tenant]\nid = \"contoso\"\nat = 2024-06-01\n");
    assert_eq!(quoted, bare);
}

#[test]
fn toml_date_time_is_not_a_date() {
    assert_eq!(
        toml_error("[tenant]\nid = \"contoso\"\nat = 2024-06-01T10:00:00\n"),
        "t.toml:3:6: tenant.at: invalid date `2024-06-01T10:00:00`: extra text after the date \
         (write dates as YYYY-MM-DD, such as `2024-06-01`)"
    );
}

#[test]
fn toml_date_where_a_string_belongs_is_named() {
    assert_eq!(
        toml_error("[tenant]\nid = 2024-06-01\n"),
        "t.toml:2:6: tenant.id: expected a string, found a date"
    );
}

#[test]
fn json_unknown_key_points_at_the_key() {
    let text = "{\n  \"tenant\": {\"id\": \"contoso\"},\n  \"users\": [\n    {\"id\": \"alice\", \"licences\": []}\n  ]\n}\n";
    assert_eq!(
        json_error(text),
        "t.json:4:21: users[0].licences: unknown key `licences` (did you mean `licenses`?)"
    );
}

#[test]
fn json_malformed_date_points_at_the_value() {
    let text = "{\n  \"tenant\": {\"id\": \"contoso\", \"at\": \"2024-02-30\"}\n}\n";
    assert_eq!(
        json_error(text),
        "t.json:2:37: tenant.at: invalid date `2024-02-30`: no such month or day \
         (write dates as YYYY-MM-DD, such as `2024-06-01`)"
    );
}

#[test]
fn json_negative_quantity_points_at_the_value() {
    let text = "{\"tenant\": {\"id\": \"c\"},\n \"subscriptions\": [{\"sku\": \"office-365-e3\", \"quantity\": -1}]}";
    assert_eq!(
        json_error(text),
        "t.json:2:57: subscriptions[0].quantity: `-1` is negative; expected a whole number from 0 to 4294967295"
    );
}

#[test]
fn json_key_given_twice_is_refused() {
    let text = "{\"tenant\": {\"id\": \"c\",\n  \"id\": \"d\"}}";
    assert_eq!(json_error(text), "t.json:2:3: tenant.id: `id` is given twice");
}

#[test]
fn json_trailing_text_is_refused() {
    assert_eq!(
        json_error("{\"tenant\": {\"id\": \"c\"}}\nx"),
        "t.json:2:1: trailing characters"
    );
}

#[test]
fn json_empty_input_is_refused() {
    assert_eq!(json_error(""), "t.json:1:1: EOF while parsing a value");
}

#[test]
fn json_section_as_object_suggests_a_list() {
    let text = "{\"tenant\": {\"id\": \"c\"}, \"flows\": {\"id\": \"a\"}}";
    assert_eq!(
        json_error(text),
        "t.json:1:34: flows: expected a list, found an object (write a list: `\"flows\": [{ … }]`)"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// more semantic errors

#[test]
fn dangling_environment_suggests_the_environment() {
    let text = with_base("\n[[apps]]\nid = \"expenses\"\nenvironment = \"prd\"\n");
    assert_eq!(
        toml_error(&text),
        "t.toml:14:15: apps[0].environment: unknown environment `prd` (did you mean `prod`?)"
    );
}

#[test]
fn dangling_reference_without_a_close_id_lists_the_ids() {
    let text =
        with_base("\n[[flows]]\nid = \"a\"\nenvironment = \"prod\"\nowner = \"alice\"\nrun_by = [\"zed\"]\n");
    assert_eq!(
        toml_error(&text),
        "t.toml:16:11: flows[0].run_by[0]: unknown user `zed` (known users: `alice`)"
    );
}

#[test]
fn undeclared_entity_is_refused() {
    let text = with_base(
        "\n[[flows]]\nid = \"a\"\nenvironment = \"prod\"\nowner = \"alice\"\nentities = [\"incident\"]\n",
    );
    assert_eq!(
        toml_error(&text),
        "t.toml:16:13: flows[0].entities[0]: unknown entity `incident` (there are no `entities`)"
    );
}

#[test]
fn unknown_sku_in_allocations_points_at_the_key() {
    let text = "[tenant]\nid = \"c\"\n\n[[environments]]\nid = \"prod\"\ndefault = true\n\
                allocations = { power-automate-process = 1, ai-builder-capacty = 500000 }\n";
    assert_eq!(
        toml_error(text),
        "t.toml:7:45: environments[0].allocations.ai-builder-capacty: unknown SKU `ai-builder-capacty` \
         (did you mean `ai-builder-capacity`?)"
    );
}

/// Allocation (RULES.md's vocabulary): environment- or flow-scoped units given to an environment. A user's plan
/// or a tenant pool allocated to an environment is refused where it is written.
#[test]
fn a_user_scoped_sku_is_not_allocated_to_an_environment() {
    let text = "[tenant]\nid = \"c\"\n\n[[environments]]\nid = \"prod\"\ndefault = true\n\
                allocations = { power-automate-process = 1, power-apps-per-user = 3 }\n";
    let error = toml_error(text);
    assert!(
        error.starts_with(
            "t.toml:7:45: environments[0].allocations.power-apps-per-user: `power-apps-per-user` is \
             user-scoped and is not allocated to environments"
        ),
        "{error}"
    );
    let ok = "[tenant]\nid = \"c\"\n\n[[environments]]\nid = \"prod\"\ndefault = true\n\
              allocations = { power-automate-process = 1, ai-builder-capacity = 2 }\n";
    assert_eq!(toml_ok(ok).environments[0].allocations.len(), 2);
}

#[test]
fn unknown_sku_far_from_every_sku_points_to_the_catalog() {
    let text = "[tenant]\nid = \"c\"\n\n[[subscriptions]]\nsku = \"quantum-compute-units\"\nquantity = 1\n";
    assert_eq!(
        toml_error(text),
        "t.toml:5:7: subscriptions[0].sku: unknown SKU `quantum-compute-units` (`entitle catalog` lists the SKU ids)"
    );
}

#[test]
fn unknown_sku_in_self_service_policy_is_refused() {
    let text = "[tenant]\nid = \"c\"\n\n[tenant.self_service]\npower-apps-per-ap = \"disabled\"\n";
    assert_eq!(
        toml_error(text),
        "t.toml:5:1: tenant.self_service.power-apps-per-ap: unknown SKU `power-apps-per-ap` \
         (did you mean `power-apps-per-app`?)"
    );
}

#[test]
fn no_default_environment_is_refused() {
    let text = "[tenant]\nid = \"c\"\n\n[[environments]]\nid = \"prod\"\n";
    assert_eq!(
        toml_error(text),
        "t.toml:4:1: environments: no environment is the default (set `default = true` on exactly one environment)"
    );
}

#[test]
fn newer_version_is_refused() {
    assert_eq!(
        toml_error("version = 2\n\n[tenant]\nid = \"c\"\n"),
        "t.toml:1:11: version: version 2 is newer than this entitle reads (this build reads version 1; upgrade entitle)"
    );
}

#[test]
fn empty_tenant_id_is_refused() {
    assert_eq!(
        toml_error("[tenant]\nid = \"  \"\n"),
        "t.toml:2:6: tenant.id: empty tenant id"
    );
}

#[test]
fn lower_case_country_suggests_upper_case() {
    assert_eq!(
        toml_error("[tenant]\nid = \"c\"\ncountry = \"nl\"\n"),
        "t.toml:3:11: tenant.country: `nl` is not a two-letter country code (did you mean `NL`?)"
    );
}

#[test]
fn subscription_ending_before_it_starts_is_refused() {
    let text = "[tenant]\nid = \"c\"\n\n[[subscriptions]]\nsku = \"office-365-e3\"\nquantity = 1\n\
                start = \"2024-01-01\"\nend = \"2023-01-01\"\n";
    assert_eq!(
        toml_error(text),
        "t.toml:8:7: subscriptions[0].end: ends on 2023-01-01, before it starts on 2024-01-01"
    );
}

#[test]
fn buyer_on_an_admin_subscription_is_refused() {
    let text = with_base("\n[[subscriptions]]\nsku = \"office-365-e3\"\nquantity = 1\nbuyer = \"alice\"\n");
    assert_eq!(
        toml_error(&text),
        "t.toml:15:9: subscriptions[0].buyer: only a self-service subscription has a `buyer` \
         (remove `buyer`, or set `channel = \"self-service\"`)"
    );
}

#[test]
fn self_service_subscription_needs_a_buyer() {
    let text = with_base(
        "\n[[subscriptions]]\nsku = \"power-automate-per-user\"\nquantity = 1\nchannel = \"self-service\"\n",
    );
    assert_eq!(
        toml_error(&text),
        "t.toml:15:11: subscriptions[0].buyer: a self-service subscription needs a `buyer` \
         (name the user who bought it)"
    );
}

#[test]
fn zero_quantity_is_allowed() {
    let s = toml_ok("[tenant]\nid = \"c\"\n\n[[subscriptions]]\nsku = \"office-365-e3\"\nquantity = 0\n");
    assert_eq!(s.subscriptions.first().map(|s| s.quantity), Some(0));
}

#[test]
fn self_parent_is_a_cycle() {
    let text =
        with_base("\n[[flows]]\nid = \"a\"\nenvironment = \"prod\"\nowner = \"alice\"\nparent = \"a\"\n");
    assert_eq!(
        toml_error(&text),
        "t.toml:16:10: flows[0].parent: parent cycle: `a` → `a` (a child flow cannot be its own ancestor)"
    );
}

#[test]
fn home_licenses_need_a_guest() {
    let text = "[tenant]\nid = \"c\"\n\n[[users]]\nid = \"bob\"\nhome_licenses = [\"office-365-e3\"]\n";
    assert_eq!(
        toml_error(text),
        "t.toml:6:17: users[0].home_licenses: only a guest has home licenses \
         (set `kind = \"guest\"`, or move them to `licenses`)"
    );
}

#[test]
fn usage_needs_a_user_or_a_flow() {
    let text = "[tenant]\nid = \"c\"\n\n[[usage]]\nrequests = 5\n";
    assert_eq!(
        toml_error(text),
        "t.toml:4:1: usage[0]: usage names neither a `user` nor a `flow` (say whose requests these are)"
    );
}

#[test]
fn trial_event_needs_a_sku() {
    let text = with_base("\n[[events]]\non = \"2024-01-01\"\nkind = \"trial-started\"\nuser = \"alice\"\n");
    assert_eq!(
        toml_error(&text),
        "t.toml:14:8: events[0].sku: a `trial-started` event needs a `sku`"
    );
}

#[test]
fn json_semantic_errors_point_at_the_value() {
    let text = "{\n  \"tenant\": {\"id\": \"c\"},\n  \"users\": [{\"id\": \"alice\"}],\n  \"environments\": [{\"id\": \"e\", \"default\": true}],\n  \"flows\": [\n    {\"id\": \"f\", \"environment\": \"e\", \"owner\": \"alcie\"}\n  ]\n}\n";
    assert_eq!(
        json_error(text),
        "t.json:6:46: flows[0].owner: unknown user `alcie` (did you mean `alice`?)"
    );
}

#[test]
fn the_first_problem_in_the_file_is_reported() {
    // The duplicate id (line 18) is found first (users are checked before flows), but the unknown owner
    // (line 15) comes first in the file.
    let text = with_base(
        "\n[[flows]]\nid = \"a\"\nenvironment = \"prod\"\nowner = \"bob\"\n\n[[users]]\nid = \"alice\"\n",
    );
    let e = toml_error(&text);
    assert!(
        e.starts_with("t.toml:15:9: flows[0].owner: unknown user `bob`"),
        "{e}"
    );
    let all = Scenario::parse_all(&text, Format::Toml, "t.toml", catalog()).unwrap_err();
    let lines: Vec<String> = all.iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[1].starts_with("t.toml:18:6: users[1].id: duplicate user id `alice`"),
        "{lines:?}"
    );
}

#[test]
fn validate_checks_a_scenario_built_in_memory() {
    let mut s = toml_ok(BASE);
    assert_eq!(s.validate(catalog(), "<memory>"), Ok(()));
    s.users[0].licenses.push("no-such-sku".to_owned());
    let errors = s.validate(catalog(), "<memory>").unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].to_string(),
        "<memory>: users[0].licenses[1]: unknown SKU `no-such-sku` (`entitle catalog` lists the SKU ids)"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// the example, round trips, the schema

#[test]
fn scenario_md_example_parses_when_self_consistent() {
    let s = toml_ok(&fixture("example.toml"));
    assert_eq!(s.tenant.id, "contoso");
    assert_eq!(s.flows.len(), 2);
    assert_eq!(s.flows[1].parent.as_deref(), Some("intake"));
    assert_eq!(s.environments.iter().filter(|e| e.default).count(), 1);
}

#[test]
fn scenario_md_example_reads_the_same_from_json() {
    let text = fixture("example.toml");
    let from_toml = toml_ok(&text);
    let from_json = Scenario::parse(&toml_to_json(&text), Format::Json, "example.json", catalog()).unwrap();
    assert_eq!(from_toml, from_json);
}

/// Every key path of the JSON Schema (`flows.owner`, `environments.storage.log_mb`, …), following `$ref`s,
/// `anyOf`s and array items.
fn schema_keys(schema: &serde_json::Value) -> BTreeSet<String> {
    fn walk(
        node: &serde_json::Value,
        defs: &serde_json::Value,
        path: &str,
        depth: usize,
        out: &mut BTreeSet<String>,
    ) {
        let mut node = node;
        while let Some(r) = node.get("$ref").and_then(|r| r.as_str()) {
            node = &defs[r.rsplit('/').next().unwrap()];
        }
        if depth > 8 {
            return;
        }
        for k in ["anyOf", "oneOf", "allOf"] {
            for x in node.get(k).and_then(|x| x.as_array()).into_iter().flatten() {
                walk(x, defs, path, depth + 1, out);
            }
        }
        if let Some(items) = node.get("items") {
            walk(items, defs, path, depth + 1, out);
        }
        for (name, sub) in node
            .get("properties")
            .and_then(|p| p.as_object())
            .into_iter()
            .flatten()
        {
            let here = format!("{path}{name}");
            out.insert(here.clone());
            walk(sub, defs, &format!("{here}."), depth + 1, out);
        }
    }
    let mut out = BTreeSet::new();
    walk(schema, &schema["$defs"], "", 0, &mut out);
    out
}

/// Every key path a TOML document uses (array-of-tables elements share their path).
fn toml_keys(value: &toml::Value, path: &str, out: &mut BTreeSet<String>) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let here = format!("{path}{k}");
                out.insert(here.clone());
                toml_keys(v, &format!("{here}."), out);
            }
        }
        toml::Value::Array(a) => a.iter().for_each(|v| toml_keys(v, path, out)),
        _ => {}
    }
}

/// docs/scenario.md's example uses every key of the format (every property of the JSON Schema, at every
/// depth) and reads without a single problem, and every key has a row in the document's key tables: the
/// document can neither fall behind the schema nor show a key the parser refuses.
#[test]
fn scenario_md_keys_are_all_accepted() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/scenario.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let start = doc
        .find("```toml\n")
        .expect("docs/scenario.md has a TOML example")
        + "```toml\n".len();
    let example = &doc[start..start + doc[start..].find("```").unwrap()];
    if let Err(errors) = Scenario::parse_all(example, Format::Toml, "docs/scenario.md", catalog()) {
        let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
        panic!(
            "the example of docs/scenario.md does not read:\n{}",
            all.join("\n")
        );
    }
    let want = schema_keys(&json_schema());
    assert!(
        want.len() > 90,
        "the schema walk found only {} keys: {want:?}",
        want.len()
    );
    assert!(want.contains("flows.in_context_of") && want.contains("environments.storage.log_mb"));
    let mut used = BTreeSet::new();
    toml_keys(&toml::from_str(example).unwrap(), "", &mut used);
    let missing: Vec<&String> = want.difference(&used).collect();
    assert!(
        missing.is_empty(),
        "keys the example of docs/scenario.md does not show: {missing:?}"
    );
    let undocumented: Vec<&String> = want
        .iter()
        .filter(|k| {
            let leaf = k.rsplit('.').next().unwrap();
            !doc.contains(&format!("| `{leaf}` |"))
                && !doc.contains(&format!("`[{k}]`"))
                && !doc.contains(&format!("`[[{k}]]`"))
        })
        .collect();
    assert!(
        undocumented.is_empty(),
        "keys without a row in the tables of docs/scenario.md: {undocumented:?}"
    );
}

#[test]
fn toml_round_trip_gives_an_equal_scenario() {
    let s = toml_ok(&fixture("example.toml"));
    let text = s.to_toml_string().unwrap();
    let back =
        Scenario::parse(&text, Format::Toml, "out.toml", catalog()).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(back, s);
}

#[test]
fn json_round_trip_gives_an_equal_scenario() {
    let s = toml_ok(&fixture("example.toml"));
    let text = s.to_json_string().unwrap();
    let back =
        Scenario::parse(&text, Format::Json, "out.json", catalog()).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(back, s);
}

#[test]
fn minimal_scenario_round_trips_in_both_formats() {
    let s = toml_ok("[tenant]\nid = \"c\"\n");
    for format in [Format::Toml, Format::Json] {
        let text = s.to_string_as(format).unwrap();
        assert_eq!(
            Scenario::parse(&text, format, "out", catalog()).unwrap(),
            s,
            "{text}"
        );
    }
}

#[test]
fn json_schema_names_its_version() {
    let schema = json_schema();
    let version = entitle_core::scenario::SCENARIO_VERSION;
    assert!(schema["$id"].as_str().unwrap().contains(&format!("v{version}")));
    assert!(
        schema["title"]
            .as_str()
            .unwrap()
            .contains(&format!("version {version}"))
    );
    assert!(
        schema["description"]
            .as_str()
            .unwrap()
            .contains(&format!("version {version}"))
    );
    assert_eq!(schema["properties"]["version"]["maximum"], version);
}

#[test]
fn json_schema_refuses_unknown_keys_in_every_section() {
    let schema = json_schema();
    assert_eq!(schema["additionalProperties"], false);
    for section in [
        "Tenant",
        "Subscription",
        "User",
        "Environment",
        "App",
        "Flow",
        "Entity",
        "Usage",
        "Event",
    ] {
        assert_eq!(
            schema["$defs"][section]["additionalProperties"], false,
            "{section}"
        );
    }
    assert_eq!(schema["required"], serde_json::json!(["tenant"]));
    assert_eq!(
        schema["$defs"]["Tenant"]["properties"]["country"]["pattern"],
        "^[A-Z]{2}$"
    );
}

#[test]
fn json_schema_accepts_the_example_and_refuses_a_typo() {
    let schema = json_schema();
    let example: serde_json::Value = serde_json::from_str(&toml_to_json(&fixture("example.toml"))).unwrap();
    let mut problems = Vec::new();
    schema_check(&schema, &schema, &example, "", &mut problems);
    assert_eq!(problems, Vec::<String>::new());

    let mut typo = example.clone();
    typo["flows"][0]["ownr"] = "alice".into();
    typo["tenant"]["cloud"] = "publik".into();
    typo["subscriptions"][0]["quantity"] = (-5).into();
    let mut problems = Vec::new();
    schema_check(&schema, &schema, &typo, "", &mut problems);
    assert_eq!(
        problems,
        [
            "/flows/0: unknown key ownr",
            "/subscriptions/0/quantity: below minimum",
            "/tenant/cloud: not one of the enum values"
        ]
    );
}

/// A small JSON Schema checker for what schemars emits: `$ref`, `type`, `properties`, `required`,
/// `additionalProperties`, `items`, `enum`, `const`, `oneOf`/`anyOf`, `minimum`, `maximum`, `pattern` (only the
/// `^[A-Z]{2}$` one). Problems are reported as `pointer: what`, in key order.
fn schema_check(
    root: &serde_json::Value,
    schema: &serde_json::Value,
    value: &serde_json::Value,
    at: &str,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let target = root
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling $ref {r}"));
        schema_check(root, target, value, at, out);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(alts) = schema.get(key).and_then(Value::as_array) {
            let ok = alts.iter().any(|alt| {
                let mut p = Vec::new();
                schema_check(root, alt, value, at, &mut p);
                p.is_empty()
            });
            if !ok {
                out.push(format!("{at}: no alternative matches"));
            }
        }
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let fits = types.iter().any(|t| match *t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            _ => false,
        });
        if !fits {
            out.push(format!("{at}: not of type {t}"));
            return;
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        out.push(format!("{at}: not one of the enum values"));
    }
    if let Some(c) = schema.get("const")
        && c != value
    {
        out.push(format!("{at}: not the const value"));
    }
    if let (Some(min), Some(n)) = (schema.get("minimum").and_then(Value::as_f64), value.as_f64())
        && n < min
    {
        out.push(format!("{at}: below minimum"));
    }
    if let (Some(max), Some(n)) = (schema.get("maximum").and_then(Value::as_f64), value.as_f64())
        && n > max
    {
        out.push(format!("{at}: above maximum"));
    }
    if let (Some("^[A-Z]{2}$"), Some(s)) = (schema.get("pattern").and_then(Value::as_str), value.as_str())
        && !(s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase()))
    {
        out.push(format!("{at}: does not match the pattern"));
    }
    if let Some(obj) = value.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for r in required.iter().filter_map(Value::as_str) {
                if !obj.contains_key(r) {
                    out.push(format!("{at}: missing {r}"));
                }
            }
        }
        for (k, v) in obj {
            let here = format!("{at}/{k}");
            match (props.and_then(|p| p.get(k)), schema.get("additionalProperties")) {
                (Some(s), _) => schema_check(root, s, v, &here, out),
                (None, Some(Value::Bool(false))) => out.push(format!("{at}: unknown key {k}")),
                (None, Some(s @ Value::Object(_))) => schema_check(root, s, v, &here, out),
                (None, _) => {}
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            schema_check(root, items, v, &format!("{at}/{i}"), out);
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// round trips of generated scenarios

mod round_trip {
    use std::collections::{BTreeMap, BTreeSet};

    use chrono::NaiveDate;
    use entitle_core::scenario::{
        App, AppKind, Entity, Environment, EnvironmentKind, Event, EventKind, Feature, Flow, FlowLicense,
        LicenseRequest, PurchaseChannel, RequestState, Scenario, Storage, Subscription, Tenant, Trigger,
        Usage, User, UserKind,
    };
    use proptest::prelude::*;

    use super::{NEEDED, catalog};
    use entitle_core::scenario::Format;
    use entitle_core::scenario::limits::MAX_QUANTITY;

    /// Raw material: ids (the id grammar's characters after a letter), free text, numbers; the scenario is built
    /// from it so that every reference resolves.
    #[derive(Debug, Clone)]
    struct Material {
        users: BTreeSet<String>,
        envs: BTreeSet<String>,
        flows: BTreeSet<String>,
        text: Vec<String>,
        numbers: Vec<u64>,
    }

    fn material() -> impl Strategy<Value = Material> {
        let id = "[a-z][A-Za-z0-9._@:+-]{0,6}";
        (
            proptest::collection::btree_set(id, 1..5),
            proptest::collection::btree_set(id, 1..4),
            proptest::collection::btree_set(id, 0..5),
            proptest::collection::vec("\\PC{0,10}", 8),
            proptest::collection::vec(any::<u64>(), 32),
        )
            .prop_map(|(users, envs, flows, text, numbers)| Material {
                users,
                envs,
                flows,
                text,
                numbers,
            })
    }

    struct Picker<'m> {
        m: &'m Material,
        n: usize,
    }

    impl Picker<'_> {
        fn number(&mut self) -> u64 {
            self.n += 1;
            self.m.numbers[self.n % self.m.numbers.len()]
        }
        fn below(&mut self, n: usize) -> usize {
            (self.number() % n as u64) as usize
        }
        fn flag(&mut self) -> bool {
            self.number().is_multiple_of(2)
        }
        fn text(&mut self) -> String {
            let i = self.below(self.m.text.len());
            self.m.text[i].clone()
        }
        fn of<'s>(&mut self, set: &'s BTreeSet<String>) -> &'s String {
            let i = self.below(set.len());
            set.iter().nth(i).unwrap()
        }
        fn sku(&mut self) -> String {
            NEEDED[self.below(NEEDED.len())].to_owned()
        }
        /// A SKU an environment may be allocated (environment- or flow-scoped).
        fn allocatable(&mut self) -> String {
            const ALLOCATABLE: [&str; 2] = ["power-automate-process", "ai-builder-capacity"];
            ALLOCATABLE[self.below(ALLOCATABLE.len())].to_owned()
        }
        fn date(&mut self) -> NaiveDate {
            NaiveDate::from_num_days_from_ce_opt(700_000 + self.below(80_000) as i32).unwrap()
        }
        fn big(&mut self) -> u64 {
            // Quantities stop at MAX_QUANTITY (TOML integers at i64::MAX).
            self.number() % (MAX_QUANTITY + 1)
        }
    }

    fn build(m: &Material) -> Scenario {
        let mut p = Picker { m, n: 0 };
        let start = p.date();
        let users: Vec<User> = m
            .users
            .iter()
            .map(|id| User {
                id: id.clone(),
                kind: if p.flag() {
                    UserKind::Member
                } else {
                    UserKind::Guest
                },
                licenses: (0..p.below(3)).map(|_| p.sku()).collect(),
                left: p.flag().then(|| p.date()),
                ..User::default()
            })
            .collect();
        let environments: Vec<Environment> = m
            .envs
            .iter()
            .enumerate()
            .map(|(i, id)| {
                // CAT-11: a developer environment with its owner, now and then.
                let kind = if i > 0 && p.flag() {
                    EnvironmentKind::Developer
                } else {
                    EnvironmentKind::Production
                };
                let owner = (kind == EnvironmentKind::Developer && p.flag()).then(|| p.of(&m.users).clone());
                Environment {
                    id: id.clone(),
                    default: i == 0,
                    kind,
                    owner,
                    dataverse: p.flag(),
                    dynamics_apps: vec![p.text()],
                    allocations: (0..p.below(3))
                        .map(|_| (p.allocatable(), p.big()))
                        .collect::<BTreeMap<_, _>>(),
                    storage: p.flag().then(|| Storage {
                        database_mb: p.big(),
                        file_mb: p.big(),
                        log_mb: 0,
                    }),
                }
            })
            .collect();
        let env = p.of(&m.envs).clone();
        let apps = vec![App {
            id: "app".to_owned(),
            environment: env,
            kind: AppKind::Portal,
            connectors: vec![p.text(), p.text()],
            entities: vec!["entity".to_owned()],
            logins: Some(p.big()),
            users: vec![p.of(&m.users).clone()],
            ..App::default()
        }];
        let flow_ids: Vec<&String> = m.flows.iter().collect();
        let flows: Vec<Flow> = flow_ids
            .iter()
            .enumerate()
            .map(|(i, id)| Flow {
                id: (*id).clone(),
                environment: p.of(&m.envs).clone(),
                trigger: [Trigger::Automated, Trigger::Scheduled, Trigger::Instant][p.below(3)],
                owner: p.of(&m.users).clone(),
                co_owners: vec![p.of(&m.users).clone()],
                connectors: vec![p.text()],
                features: if p.flag() { vec![Feature::Gateway] } else { vec![] },
                // Only earlier flows: no cycles.
                parent: (i > 0 && p.flag()).then(|| flow_ids[p.below(i)].clone()),
                license: [FlowLicense::User, FlowLicense::Process, FlowLicense::PerFlow][p.below(3)],
                app: p.flag().then(|| "app".to_owned()),
                solution: Some(p.text()),
                created: p.flag().then(|| p.date()),
                enabled: p.flag(),
                run_by: vec![p.of(&m.users).clone()],
                concurrent_runs: p.flag().then(|| p.big() as u32),
                ..Flow::default()
            })
            .collect();
        Scenario {
            version: p.flag().then_some(1),
            tenant: Tenant {
                id: format!("t-{}", p.of(&m.users)),
                country: Some("NL".to_owned()),
                at: Some(p.date()),
                transition_period: p.flag(),
                m365_term_end: p.flag().then(|| p.date()),
                ..Tenant::default()
            },
            subscriptions: vec![Subscription {
                id: None,
                sku: p.sku(),
                quantity: p.big() as u32,
                start: Some(start),
                end: p.flag().then(|| start + chrono::Days::new(p.below(1000) as u64)),
                channel: [
                    PurchaseChannel::Admin,
                    PurchaseChannel::Csp,
                    PurchaseChannel::Trial,
                ][p.below(3)],
                buyer: None,
                auto_renew: false,
                cancelled: None,
            }]
            .into(),
            users: users.into(),
            environments: environments.into(),
            apps: apps.into(),
            entities: vec![Entity {
                id: "entity".to_owned(),
                restricted: p.flag(),
                ..Entity::default()
            }]
            .into(),
            usage: vec![Usage {
                user: Some(p.of(&m.users).clone()),
                requests: p.big(),
                on: Some(p.date()),
                ..Usage::default()
            }]
            .into(),
            events: vec![Event {
                on: p.date(),
                kind: EventKind::TrialStarted,
                user: Some(p.of(&m.users).clone()),
                sku: Some(p.sku()),
                ..Event::default()
            }]
            .into(),
            license_requests: vec![LicenseRequest {
                id: "r1".to_owned(),
                user: p.of(&m.users).clone(),
                sku: p.sku(),
                state: RequestState::Approved,
                on: Some(p.date()),
                note: Some("needs premium connectors".to_owned()),
            }]
            .into(),
            flows: flows.into(),
            consumption: Default::default(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn generated_scenarios_survive_both_formats(m in material()) {
            let s = build(&m);
            prop_assert_eq!(s.validate(catalog(), "<generated>"), Ok(()));
            for format in [Format::Toml, Format::Json] {
                let text = s.to_string_as(format).unwrap();
                let back = Scenario::parse(&text, format, "out", catalog());
                prop_assert_eq!(back.as_ref(), Ok(&s), "{}", text);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// extensions the server addresses items by

#[test]
fn duplicate_subscription_id_points_at_the_second() {
    let text = "[tenant]\nid = \"contoso\"\n\n[[subscriptions]]\nid = \"s1\"\nsku = \"office-365-e3\"\nquantity = 1\n\n\
                [[subscriptions]]\nid = \"s1\"\nsku = \"office-365-e3\"\nquantity = 2\n";
    let e = toml_error(text);
    assert!(e.starts_with("t.toml:10:"), "{e}");
    assert!(
        e.contains("subscriptions[1].id: duplicate subscription id `s1`"),
        "{e}"
    );
}

#[test]
fn subscription_ids_are_optional_and_round_trip() {
    let text = "[tenant]\nid = \"contoso\"\n\n[[subscriptions]]\nid = \"s1\"\nsku = \"office-365-e3\"\nquantity = 1\n\n\
                [[subscriptions]]\nsku = \"office-365-e3\"\nquantity = 2\n";
    let s = toml_ok(text);
    assert_eq!(s.subscriptions[0].id.as_deref(), Some("s1"));
    assert_eq!(s.subscriptions[1].id, None);
    let again = Scenario::parse(&s.to_toml_string().unwrap(), Format::Toml, "t.toml", catalog()).unwrap();
    assert_eq!(again, s);
}

#[test]
fn dangling_app_owner_is_an_unknown_user() {
    let text = with_base("\n[[apps]]\nid = \"crm\"\nenvironment = \"prod\"\nowner = \"alcie\"\n");
    let e = toml_error(&text);
    assert!(
        e.contains("apps[0].owner: unknown user `alcie` (did you mean `alice`?)"),
        "{e}"
    );
}

#[test]
fn license_requests_name_known_users_and_skus() {
    let text = with_base(
        "\n[[license_requests]]\nid = \"r1\"\nuser = \"alcie\"\nsku = \"power-automate-per-user\"\n\n\
         [[license_requests]]\nid = \"r1\"\nuser = \"alice\"\nsku = \"power-automate-per-usr\"\n",
    );
    let all = Scenario::parse_all(&text, Format::Toml, "t.toml", catalog()).unwrap_err();
    let text: Vec<String> = all.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|e| e.contains("license_requests[0].user: unknown user `alcie`")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|e| e.contains("license_requests[1].id: duplicate licence request id `r1`")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|e| e.contains("license_requests[1].sku: unknown SKU")),
        "{text:?}"
    );
}
