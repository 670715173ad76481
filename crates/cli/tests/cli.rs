//! The `entitle` binary as a user meets it: exit status (0 for answers, allowed or not; 2 for bad input, with one
//! line on stderr naming file:line and key, and nothing on stdout), output formats, `--at`, `--catalog`,
//! `schema`, `catalog` and `--help` (SCENARIO.md, "Exit status" and "Commands").
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad fixture or a missing binary"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

// ------------------------------------------------------------------------------------------------- helpers

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}

fn example(name: &str) -> String {
    workspace().join("examples").join(name).display().to_string()
}

/// Runs the binary with a clean environment (no scenario or catalog from the caller's shell, no `NO_COLOR`, so
/// that the colour test proves the terminal check).
fn entitle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_entitle"))
        .args(args)
        .current_dir(workspace())
        .env_remove("ENTITLE_SCENARIO")
        .env_remove("ENTITLE_CATALOG")
        .env_remove("NO_COLOR")
        .output()
        .unwrap_or_else(|e| panic!("cannot run entitle: {e}"))
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit 0 and a JSON answer.
fn json(args: &[&str]) -> Value {
    let out = entitle(args);
    assert_eq!(out.status.code(), Some(0), "entitle {args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("entitle {args:?}: not JSON: {e}"))
}

/// A directory of its own under the system's temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("entitle-cli-{tag}-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        path.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A bad scenario: exit 2, nothing on stdout, one line on stderr naming `file:line` and the key.
fn assert_bad_input(name: &str, text: &str, line: usize, key: &str, also: &[&str]) {
    let dir = TempDir::new("bad");
    let path = dir.write(name, text);
    let out = entitle(&["audit", "--scenario", &path]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{name}: exit status; stderr: {err}");
    assert_eq!(stdout(&out), "", "{name}: nothing on stdout");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{name}: one line on stderr, got:\n{err}"
    );
    let at = format!("{path}:{line}");
    assert!(err.contains(&at), "{name}: stderr should name `{at}`: {err}");
    assert!(
        err.contains(key),
        "{name}: stderr should name the key `{key}`: {err}"
    );
    for text in also {
        assert!(err.contains(text), "{name}: stderr should say `{text}`: {err}");
    }
}

/// A minimal RFC 4180 reader: quoted fields, doubled quotes, newlines inside quotes. Errors on anything else.
fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() && !was_quoted => {
                quoted = true;
                was_quoted = true;
            }
            '"' => {
                return Err(format!(
                    "a quote inside an unquoted field, row {}",
                    rows.len() + 1
                ));
            }
            ',' => {
                row.push(std::mem::take(&mut field));
                was_quoted = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
                was_quoted = false;
            }
            _ if was_quoted => return Err(format!("text after a closing quote, row {}", rows.len() + 1)),
            _ => field.push(c),
        }
    }
    if quoted {
        return Err("unterminated quoted field".to_owned());
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    Ok(rows)
}

// ---------------------------------------------------------------------------------------- exit status 0

#[test]
fn answers_exit_0_whether_allowed_or_not() {
    let s = example("small-business-m365.toml");
    let allowed = json(&[
        "check",
        "flow",
        "invoice-reminder",
        "--scenario",
        &s,
        "--format",
        "json",
    ]);
    assert_eq!(allowed["allowed"], Value::Bool(true));
    let refused = json(&[
        "check",
        "flow",
        "invoice-sync",
        "--scenario",
        &s,
        "--format",
        "json",
    ]);
    assert_eq!(refused["allowed"], Value::Bool(false));
    for format in ["table", "csv"] {
        let out = entitle(&[
            "check",
            "flow",
            "invoice-sync",
            "--scenario",
            &s,
            "--format",
            format,
        ]);
        assert_eq!(out.status.code(), Some(0), "{format}: {}", stderr(&out));
        assert!(!stdout(&out).is_empty());
    }
}

#[test]
fn every_example_passes_audit() {
    let dir = workspace().join("examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        if path.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        seen += 1;
        let p = path.display().to_string();
        let out = entitle(&["audit", "--scenario", &p]);
        assert_eq!(out.status.code(), Some(0), "{p}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{p}: nothing on stderr");
        let answer = json(&["audit", "--scenario", &p, "--format", "json"]);
        assert!(answer["flows"].is_array(), "{p}: audit JSON has `flows`");
    }
    assert!(seen >= 5, "the five examples, at least");
}

// ---------------------------------------------------------------------------------------- exit status 2

#[test]
fn bad_input_unknown_key() {
    assert_bad_input(
        "unknown-key.toml",
        "[tenant]\nid = \"contoso\"\ncloude = \"public\"\n",
        3,
        "tenant.cloude",
        &["did you mean `cloud`"],
    );
}

#[test]
fn bad_input_unknown_sku() {
    assert_bad_input(
        "unknown-sku.toml",
        "[tenant]\nid = \"contoso\"\n\n[[users]]\nid = \"alice\"\nlicenses = [\"power-automate-per-usr\"]\n",
        6,
        "users[0].licenses[0]",
        &["power-automate-per-usr", "power-automate-per-user"],
    );
}

#[test]
fn bad_input_dangling_owner() {
    let text = "[tenant]\nid = \"contoso\"\n\n[[users]]\nid = \"alice\"\n\n[[environments]]\nid = \"prod\"\n\
                default = true\n\n[[flows]]\nid = \"invoice\"\nenvironment = \"prod\"\nowner = \"alcie\"\n";
    assert_bad_input(
        "dangling-owner.toml",
        text,
        14,
        "flows[0].owner",
        &["alcie", "alice"],
    );
}

#[test]
fn bad_input_malformed_date() {
    assert_bad_input(
        "bad-date.toml",
        "[tenant]\nid = \"contoso\"\nat = \"2024-13-01\"\n",
        3,
        "tenant.at",
        &["2024-13-01"],
    );
}

#[test]
fn bad_input_negative_quantity() {
    assert_bad_input(
        "negative.toml",
        "[tenant]\nid = \"contoso\"\n\n[[subscriptions]]\nsku = \"power-automate-process\"\nquantity = -1\n",
        6,
        "subscriptions[0].quantity",
        &["-1"],
    );
}

#[test]
fn bad_input_duplicate_id() {
    assert_bad_input(
        "duplicate.toml",
        "[tenant]\nid = \"contoso\"\n\n[[users]]\nid = \"alice\"\n\n[[users]]\nid = \"alice\"\n",
        8,
        "users[1].id",
        &["alice"],
    );
}

#[test]
fn bad_input_invalid_toml() {
    assert_bad_input(
        "invalid.toml",
        "[tenant]\nid = \"contoso\"\ncountry = NL\n",
        3,
        "tenant.country",
        &[],
    );
}

#[test]
fn bad_input_invalid_json() {
    let text = "{\n  \"tenant\": {\n    \"id\": \"contoso\",\n    \"cloud\": ]\n  }\n}\n";
    assert_bad_input("invalid.json", text, 4, "tenant.cloud", &[]);
}

#[test]
fn bad_input_missing_file() {
    let dir = TempDir::new("missing");
    let path = dir.0.join("nowhere.toml").display().to_string();
    let out = entitle(&["audit", "--scenario", &path]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains(&path), "{}", stderr(&out));
}

#[test]
fn unknown_flow_on_the_command_line_suggests_the_closest() {
    let s = example("small-business-m365.toml");
    let out = entitle(&[
        "check",
        "flow",
        "invoice-remindr",
        "--scenario",
        &s,
        "--format",
        "json",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(stdout(&out), "");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("invoice-remindr"), "{err}");
    assert!(err.contains("did you mean `invoice-reminder`"), "{err}");
}

#[test]
fn unknown_user_on_the_command_line_suggests_the_closest() {
    let s = example("small-business-m365.toml");
    let out = entitle(&["check", "flow", "stock-lookup", "--as", "dnaa", "--scenario", &s]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(stdout(&out), "");
    assert!(err.contains("did you mean `dana`"), "{err}");
}

// ------------------------------------------------------------------------------------------------ formats

#[test]
fn audit_csv_has_a_header_and_one_row_per_flow_at_risk() {
    let s = example("small-business-m365.toml");
    let out = entitle(&["audit", "--scenario", &s, "--format", "csv"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rows = parse_csv(&stdout(&out)).unwrap_or_else(|e| panic!("not valid CSV: {e}\n{}", stdout(&out)));
    let (header, body) = rows.split_first().unwrap_or_else(|| panic!("empty CSV"));
    assert_eq!(
        header.first().map(String::as_str),
        Some("flow"),
        "header: {header:?}"
    );
    for name in ["environment", "owner", "enforcement"] {
        assert!(
            header.iter().any(|h| h == name),
            "header names `{name}`: {header:?}"
        );
    }
    for row in body {
        assert_eq!(
            row.len(),
            header.len(),
            "every row has the header's fields: {row:?}"
        );
    }
    // The same flows as the JSON audit, in the same order: the two premium flows without a licence (ENF-1).
    let audit = json(&["audit", "--scenario", &s, "--format", "json"]);
    let from_json: Vec<&str> = audit["flows"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["flow"].as_str()).collect())
        .unwrap_or_default();
    let from_csv: Vec<&str> = body
        .iter()
        .filter_map(|r| r.first().map(String::as_str))
        .collect();
    assert_eq!(from_csv, from_json);
    let mut sorted = from_csv.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["invoice-sync", "stock-lookup"]);
}

#[test]
fn table_has_no_ansi_colour_when_not_a_terminal() {
    let s = example("small-business-m365.toml");
    for args in [
        vec!["audit", "--scenario", &s],
        vec![
            "check",
            "flow",
            "invoice-sync",
            "--scenario",
            &s,
            "--format",
            "table",
        ],
        vec![
            "buy",
            "--sku",
            "power-automate-per-user",
            "--quantity",
            "1",
            "--as",
            "bob",
            "--scenario",
            &s,
        ],
    ] {
        let out = entitle(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(!text.is_empty());
        assert!(
            !text.contains('\u{1b}'),
            "{args:?}: ANSI escape in piped output:\n{text}"
        );
    }
}

// ------------------------------------------------------------------------------------- --at and --catalog

#[test]
fn at_overrides_tenant_at() {
    let s = example("grandfathering-eve-2024.toml");
    let base = [
        "check",
        "flow",
        "legacy-sql-report",
        "--scenario",
        &s,
        "--format",
        "json",
    ];
    // The scenario says 2024-09-30: grandfathered (FLOW-25, M365-2).
    assert_eq!(json(&base)["allowed"], Value::Bool(true));
    // One day later the exemption is over.
    let mut later = base.to_vec();
    later.extend(["--at", "2024-10-01"]);
    let answer = json(&later);
    assert_eq!(answer["allowed"], Value::Bool(false));
    assert_eq!(answer["premium"], Value::Bool(true));
    let audit = json(&[
        "audit",
        "--scenario",
        &s,
        "--format",
        "json",
        "--at",
        "2024-10-01",
    ]);
    assert_eq!(audit["at"], Value::String("2024-10-01".to_owned()));
}

#[test]
fn catalog_current_changes_the_per_app_price() {
    let s = example("guests-cross-tenant.toml");
    let price = |catalog: &str| -> String {
        let cost = json(&["cost", "--scenario", &s, "--format", "json", "--catalog", catalog]);
        let lines = cost["lines"].as_array().cloned().unwrap_or_default();
        let line = lines
            .iter()
            .find(|l| l["sku"] == "power-apps-per-app")
            .unwrap_or_else(|| panic!("no per-app line with --catalog {catalog}: {cost}"));
        line["unit_price"]["amount"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(price("seed"), "10.00");
    assert_eq!(price("current"), "5.00");
}

#[test]
fn unknown_catalog_is_bad_input() {
    let s = example("guests-cross-tenant.toml");
    let out = entitle(&["cost", "--scenario", &s, "--catalog", "no-such-edition"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
}

// --------------------------------------------------------------------------- schema, catalog, help

#[test]
fn schema_is_json_with_a_schema_uri() {
    let schema = json(&["schema"]);
    assert!(
        schema
            .get("$schema")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty()),
        "{schema}"
    );
    assert!(
        schema.get("properties").and_then(|p| p.get("tenant")).is_some(),
        "the schema describes `tenant`"
    );
}

#[test]
fn catalog_json_lists_the_sku_ids() {
    let catalog = json(&["catalog", "--format", "json"]);
    let ids: Vec<&str> = catalog
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["id"].as_str()).collect())
        .unwrap_or_default();
    // The ids SCENARIO.md names.
    for id in [
        "power-apps-per-app",
        "power-apps-per-user",
        "power-automate-per-user",
        "power-automate-process",
        "office-365-e3",
        "dynamics-365-customer-service-enterprise",
        "powerapps-plan-2",
    ] {
        assert!(ids.contains(&id), "`{id}` missing from {ids:?}");
    }
}

#[test]
fn help_shows_examples() {
    let out = entitle(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("Examples:"), "{text}");
    assert!(text.contains("entitle audit --scenario examples/"), "{text}");
}

#[test]
fn help_examples_run() {
    // Wide enough that clap does not wrap an example over two lines.
    let out = Command::new(env!("CARGO_BIN_EXE_entitle"))
        .arg("--help")
        .env("COLUMNS", "400")
        .output()
        .unwrap_or_else(|e| panic!("cannot run entitle: {e}"));
    let help = stdout(&out);
    let examples: Vec<&str> = help
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("entitle "))
        .collect();
    assert!(examples.len() >= 5, "{help}");
    for line in examples {
        // Drop a shell redirection (`> at-risk.csv`): the output goes to the pipe instead.
        let command = line.split(" > ").next().unwrap_or(line);
        let args: Vec<&str> = command.split_whitespace().skip(1).collect();
        let out = entitle(&args);
        assert_eq!(out.status.code(), Some(0), "`{line}` failed: {}", stderr(&out));
    }
}

#[test]
fn examples_readme_commands_run() {
    let path = workspace().join("examples").join("README.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let commands: Vec<&str> = text.lines().filter(|l| l.starts_with("entitle ")).collect();
    assert!(commands.len() >= 15, "{}", path.display());
    for line in commands {
        let command = line.split(" > ").next().unwrap_or(line);
        let args: Vec<&str> = command.split_whitespace().skip(1).collect();
        let out = entitle(&args);
        assert_eq!(out.status.code(), Some(0), "`{line}` failed: {}", stderr(&out));
        assert!(!stdout(&out).is_empty(), "`{line}` printed nothing");
    }
}

// ---------------------------------------------------------------------------------------------------- explain

/// `entitle explain FLOW-4` prints the rule's title, reading, seed sentence with its gloss, and its tests.
#[test]
fn explain_prints_the_rule_its_seed_and_its_tests() {
    let out = entitle(&["explain", "FLOW-4"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let section = entitle_core::rulebook::get(entitle_core::Rule::Flow4).unwrap();
    assert!(text.starts_with(&format!("FLOW-4 — {}", section.title)), "{text}");
    assert!(text.contains(section.reading), "{text}");
    assert!(text.contains("Seed 002 (ro): "), "{text}");
    assert!(text.contains(section.seed_quotes[0].gloss), "{text}");
    assert!(text.contains("flow_4_"), "{text}");
    // JSON, the ID as people type it.
    let v = json(&["explain", "flow_4", "--format", "json"]);
    assert_eq!(v["id"], "FLOW-4", "{v}");
    assert_eq!(v["title"], section.title);
    assert_eq!(v["seed_quotes"][0]["seed"], "002");
    assert!(v["tests"].as_array().is_some_and(|t| !t.is_empty()), "{v}");
    // CSV: a header and one row per seed quote.
    let out = entitle(&["explain", "FLOW-4", "--format", "csv"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let csv = stdout(&out);
    assert!(
        csv.starts_with("id,title,reading,seed,language,original,gloss,tests\n"),
        "{csv}"
    );
    assert!(csv.lines().skip(1).all(|l| l.starts_with("FLOW-4,")), "{csv}");
}

/// An unknown ID is bad input: exit 2, nothing on stdout, the ID and the closest ones on stderr.
#[test]
fn explain_an_unknown_rule_is_bad_input_with_suggestions() {
    let out = entitle(&["explain", "FLOW-26"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("`FLOW-26`"), "{err}");
    assert!(err.contains("FLOW-25"), "{err}");
    let out = entitle(&["explain", "nothing-like-it", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("`nothing-like-it`"), "{}", stderr(&out));
}

/// `entitle apply`: licence changes in the bulk API's shape, offline: what changes, which decisions turn, and
/// with `--out` the changed scenario, which reads back with the change in it.
#[test]
fn apply_assigns_licences_offline_and_names_the_decisions_it_turns() {
    let dir = TempDir::new("apply");
    let changes = dir.write(
        "changes.json",
        r#"{"assignments": [{"user": "bob", "addLicenses": [{"skuId": "power-automate-premium"}]}]}"#,
    );
    let out = dir.0.join("after.toml").display().to_string();
    let scenario = example("small-business-m365.toml");
    let v = json(&[
        "apply",
        &changes,
        "--scenario",
        &scenario,
        "--format",
        "json",
        "--out",
        &out,
    ]);
    assert_eq!(v["changed"][0]["user"], "bob");
    assert_eq!(v["flips"][0]["id"], "invoice-sync", "{v}");
    assert_eq!(v["flips"][0]["allowed_after"], true);
    let again = json(&[
        "check",
        "flow",
        "invoice-sync",
        "--scenario",
        &out,
        "--format",
        "json",
    ]);
    assert_eq!(again["allowed"], true, "{again}");
    assert_eq!(again["licensed_by"]["user"], "bob");
}

/// A bad change is bad input: exit 2, nothing on stdout, the file and the JSON pointer (or line and column) named,
/// and nothing written.
#[test]
fn apply_refuses_a_bad_change_naming_where() {
    let dir = TempDir::new("apply-bad");
    let scenario = example("small-business-m365.toml");
    let out = dir.0.join("after.toml");
    for (name, text, want) in [
        (
            "sku.json",
            r#"{"assignments": [{"user": "bob", "addLicenses": [{"skuId": "nope"}]}]}"#,
            "/assignments/0/addLicenses/0/skuId: unknown SKU `nope`",
        ),
        (
            "user.json",
            r#"{"assignments": [{"user": "zed", "addLicenses": []}]}"#,
            "/assignments/0/user: unknown user `zed`",
        ),
        ("type.json", r#"{"assignments": [{"user": 3}]}"#, ":1:"),
        ("key.json", r#"{"assignment": []}"#, "unknown field `assignment`"),
    ] {
        let path = dir.write(name, text);
        let o = entitle(&[
            "apply",
            &path,
            "--scenario",
            &scenario,
            "--out",
            &out.display().to_string(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "{name}: stdout {}", stdout(&o));
        let err = stderr(&o);
        assert!(err.contains(&path) && err.contains(want), "{name}: {err}");
        assert!(!out.exists(), "{name}: nothing written");
    }
}

/// `entitle optimise`: the joint plan in JSON (money as lists of `{amount, currency}`, SCENARIO.md "JSON
/// answers"), as a table, and bad input (an `--only` id the scenario lacks; CSV) with exit 2 and nothing on stdout.
#[test]
fn optimise_answers_a_plan_with_money_lists_and_refuses_bad_input() {
    let file = example("small-business-m365.toml");
    let plan = json(&["optimise", "--scenario", &file, "--format", "json"]);
    let money = |key: &str| plan[key].as_array().cloned().unwrap_or_default();
    for key in ["cost_before", "cost_after", "added", "per_flow_sum", "saving"] {
        let list = money(key);
        assert_eq!(list.len(), 1, "{key}: {plan}");
        assert_eq!(list[0]["currency"], "USD", "{key}");
        assert!(
            list[0]["amount"].is_string(),
            "{key}: amounts are decimal strings"
        );
    }
    assert_eq!(money("cost_before")[0]["amount"], "30.00");
    assert_eq!(money("cost_after")[0]["amount"], "75.00");
    assert_eq!(money("added")[0]["amount"], "45.00");
    assert_eq!(plan["bound"]["optimal"], true);
    let changes = plan["changes"].as_array().cloned().unwrap_or_default();
    assert!(
        changes
            .iter()
            .all(|c| c["rules"].as_array().is_some_and(|r| !r.is_empty())),
        "{plan}"
    );
    assert_eq!(
        plan["batch"]["changes"].as_array().map(Vec::len),
        Some(4),
        "1 purchase, 3 users: {plan}"
    );
    let only = json(&[
        "optimise",
        "--scenario",
        &file,
        "--format",
        "json",
        "--only",
        "invoice-sync",
    ]);
    assert_eq!(only["added"][0]["amount"], "15.00");

    let table = entitle(&["optimise", "--scenario", &file]);
    assert_eq!(table.status.code(), Some(0));
    assert!(
        stdout(&table).contains("buy 3 × power-automate-premium"),
        "{}",
        stdout(&table)
    );
    // Not a terminal: no progress bar on stderr.
    assert!(stderr(&table).is_empty(), "{}", stderr(&table));

    for args in [
        &["optimise", "--scenario", &file, "--only", "no-such-flow"][..],
        &["optimise", "--scenario", &file, "--format", "csv"][..],
    ] {
        let out = entitle(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
    }
}
