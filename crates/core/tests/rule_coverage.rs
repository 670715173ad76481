//! The rulebook and the tests agree: every rule the code knows ([`Rule::ALL`]) has its section in
//! `docs/rules.md`, every section names a known rule once, every test a section lists exists, and every rule is
//! checked somewhere: by a test named after it (`flow_4_…`, or `req_1_req_2_…` for several) in `crates/*/tests`
//! or `crates/*/src`, or by a corpus case (`corpus/*.toml`) whose expected rules name it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail the test on an unreadable file"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use entitle_core::Rule;
use entitle_core::rulebook;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "target") {
                rust_files(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The names of the tests in `src`: functions under `#[test]` / `#[tokio::test(…)]` (other attributes may sit
/// between), functions of `proptest!` blocks, and the tests `on_every_backend!(name, body)` generates.
fn test_names(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut armed = false;
    let mut in_proptest = false;
    let mut macro_next = false;
    for line in src.lines() {
        let l = line.trim();
        if l.starts_with("proptest!") {
            in_proptest = true;
        } else if line == "}" {
            in_proptest = false;
        }
        if l.starts_with("#[test]") || l.starts_with("#[tokio::test") {
            armed = true;
            continue;
        }
        // `on_every_backend!(name, body);`, or split over lines by rustfmt.
        let macro_args = l
            .strip_prefix("on_every_backend!(")
            .or(if macro_next { Some(l) } else { None });
        if let Some(rest) = macro_args {
            macro_next = rest.is_empty();
            if let Some((name, _)) = rest.split_once(',') {
                out.push(name.trim().to_owned());
            }
            continue;
        }
        if l.starts_with("#[") || l.starts_with("//") || l.is_empty() {
            continue;
        }
        let after_fn = l
            .strip_prefix("async fn ")
            .or_else(|| l.strip_prefix("fn "))
            .or_else(|| l.strip_prefix("pub fn "));
        if let Some(rest) = after_fn
            && (armed || in_proptest)
        {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            out.push(name);
        }
        armed = false;
    }
    out
}

/// The rules a test name is named after: its leading run of `family_n_` (`req_1_req_2_req_8_terms` → REQ-1,
/// REQ-2, REQ-8).
fn named_rules(test: &str) -> Vec<Rule> {
    let mut out = Vec::new();
    let mut parts = test.split('_').peekable();
    while let (Some(family), Some(number)) = (parts.next(), parts.peek().copied()) {
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            break;
        }
        parts.next();
        match Rule::parse(&format!("{}-{number}", family.to_ascii_uppercase())) {
            Some(r) => out.push(r),
            None => break,
        }
    }
    out
}

/// Every test of the workspace's crates, by name.
fn all_tests() -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(&workspace().join("crates"), &mut files);
    files
        .iter()
        .flat_map(|f| test_names(&std::fs::read_to_string(f).unwrap()))
        .collect()
}

/// The rule IDs an `expect` table requires (under `rules`, `rules.contains`, `rules.first`, `rule`; never under
/// an `.excludes` or `.absent` key).
fn expected_rules(v: &toml::Value, key: &str, out: &mut BTreeSet<String>) {
    if key.ends_with(".excludes") || key.ends_with(".absent") {
        return;
    }
    match v {
        toml::Value::Table(t) => t.iter().for_each(|(k, w)| expected_rules(w, k, out)),
        toml::Value::Array(a) => a.iter().for_each(|w| expected_rules(w, key, out)),
        toml::Value::String(s) if matches!(key.split('.').next(), Some("rules" | "rule")) => {
            out.insert(s.clone());
        }
        _ => {}
    }
}

/// `corpus/FILE.toml#case` → the rules the case expects.
fn corpus_cases() -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    let dir = workspace().join("corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    for f in files {
        let doc: toml::Value = toml::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        let file = f.file_name().unwrap().to_string_lossy().into_owned();
        for case in doc.get("case").and_then(|c| c.as_array()).into_iter().flatten() {
            let name = case["name"].as_str().unwrap();
            let mut rules = BTreeSet::new();
            if let Some(expect) = case.get("expect") {
                expected_rules(expect, "", &mut rules);
            }
            out.insert(format!("corpus/{file}#{name}"), rules);
        }
    }
    out
}

/// The rules of `ids` that no test name and no corpus case covers.
fn uncovered(
    ids: &[Rule],
    tests: &BTreeSet<String>,
    corpus: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<&'static str> {
    ids.iter()
        .filter(|r| {
            !tests.iter().any(|t| named_rules(t).contains(r))
                && !corpus.values().any(|rules| rules.contains(r.id()))
        })
        .map(|r| r.id())
        .collect()
}

#[test]
fn every_rule_has_exactly_one_section_and_every_section_a_known_rule() {
    let parsed = rulebook::parse(rulebook::TEXT);
    assert!(
        parsed.errors.is_empty(),
        "docs/rules.md:\n{}",
        parsed.errors.join("\n")
    );
    let documented: Vec<Rule> = parsed.sections.iter().map(|s| s.id).collect();
    let missing: Vec<&str> = Rule::ALL
        .iter()
        .filter(|r| !documented.contains(r))
        .map(|r| r.id())
        .collect();
    assert!(
        missing.is_empty(),
        "rules without a section in docs/rules.md: {missing:?}"
    );
    assert_eq!(documented.len(), Rule::ALL.len(), "a section repeats or is extra");
    // The embedded copy is the file in the repository (no stale build), unless this run rewrites the file.
    if std::env::var_os(UPDATE).is_none() {
        let on_disk = std::fs::read_to_string(workspace().join("docs/rules.md")).unwrap();
        assert_eq!(on_disk, rulebook::TEXT, "docs/rules.md changed since the build");
    }
}

#[test]
fn every_documented_rule_is_checked_by_a_test_or_a_corpus_case() {
    let tests = all_tests();
    let corpus = corpus_cases();
    let documented: Vec<Rule> = rulebook::all().iter().map(|s| s.id).collect();
    let missing = uncovered(&documented, &tests, &corpus);
    assert!(
        missing.is_empty(),
        "rules no test is named after and no corpus case expects: {missing:?}"
    );
}

/// With this variable set, the `**Tests:**` lines of docs/rules.md are rewritten from the repository before they
/// are checked: `ENTITLE_UPDATE_RULEBOOK=1 cargo test -p entitle-core --test rule_coverage` after adding or
/// renaming a test.
const UPDATE: &str = "ENTITLE_UPDATE_RULEBOOK";

/// What a rule's `**Tests:**` line lists: the tests named after it (sorted), then the corpus cases expecting it.
fn tests_of(
    rule: Rule,
    tests: &BTreeSet<String>,
    corpus: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let named = tests.iter().filter(|t| named_rules(t).contains(&rule)).cloned();
    let cases = corpus
        .iter()
        .filter(|(_, rules)| rules.contains(rule.id()))
        .map(|(case, _)| case.clone());
    named.chain(cases).collect()
}

/// `text` with every `**Tests:**` line listing [`tests_of`] its section's rule.
fn with_tests_lines(
    text: &str,
    tests: &BTreeSet<String>,
    corpus: &BTreeMap<String, BTreeSet<String>>,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rule = None;
    for line in text.split_inclusive('\n') {
        if let Some(heading) = line.strip_prefix("### ") {
            rule = heading
                .split_once(" — ")
                .and_then(|(id, _)| Rule::parse(id.trim()));
        }
        match rule {
            Some(r) if line.starts_with("**Tests:**") => {
                let listed: Vec<String> = tests_of(r, tests, corpus)
                    .iter()
                    .map(|t| format!("`{t}`"))
                    .collect();
                out.push_str(&format!("**Tests:** {}.\n", listed.join(", ")));
            }
            _ => out.push_str(line),
        }
    }
    out
}

#[test]
fn every_test_a_section_lists_exists_and_is_about_that_rule() {
    let tests = all_tests();
    let corpus = corpus_cases();
    let path = workspace().join("docs/rules.md");
    let mut text = std::fs::read_to_string(&path).unwrap();
    if std::env::var_os(UPDATE).is_some() {
        let updated = with_tests_lines(&text, &tests, &corpus);
        if updated != text {
            std::fs::write(&path, &updated).unwrap();
            eprintln!("rewrote the **Tests:** lines of {}", path.display());
        }
        text = updated;
    }
    let parsed = rulebook::parse(&text);
    let mut wrong = Vec::new();
    for s in &parsed.sections {
        for t in &s.tests {
            let ok = match corpus.get(*t) {
                Some(rules) => rules.contains(s.id.id()),
                None => tests.contains(*t) && named_rules(t).contains(&s.id),
            };
            if !ok {
                wrong.push(format!("{}: `{t}`", s.id));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "listed in docs/rules.md but not a test of that rule (renamed or removed? {UPDATE}=1 rewrites the lists):\n{}",
        wrong.join("\n")
    );
}

/// The checks above can fail: a rule nobody tests is reported, and names are read as the convention says.
#[test]
fn the_coverage_check_finds_what_is_missing() {
    assert_eq!(
        named_rules("req_1_req_2_req_8_request_terms"),
        vec![Rule::Req1, Rule::Req2, Rule::Req8]
    );
    assert_eq!(named_rules("flow_10_d365_data"), vec![Rule::Flow10]);
    assert_eq!(named_rules("m365_1_reclassified"), vec![Rule::M365_1]);
    assert_eq!(named_rules("enf_2_a_owner_left"), vec![Rule::Enf2]);
    assert!(named_rules("scenario_md_keys").is_empty());
    let tests: BTreeSet<String> = ["flow_4_x".to_owned()].into();
    let mut corpus = BTreeMap::new();
    corpus.insert("corpus/x.toml#c".to_owned(), BTreeSet::from(["CAT-1".to_owned()]));
    assert_eq!(
        uncovered(&[Rule::Flow4, Rule::Cat1, Rule::Flow5], &tests, &corpus),
        vec!["FLOW-5"]
    );
    let src = "#[test]\n#[ignore = \"slow\"]\nfn flow_4_a() {}\nfn helper() {}\n#[tokio::test(flavor = \"multi_thread\")]\nasync fn flow_5_b() {}\non_every_backend!(buy_5_c, body);\non_every_backend!(\n    buy_6_d,\n    body\n);\n";
    assert_eq!(
        test_names(src),
        vec!["flow_4_a", "flow_5_b", "buy_5_c", "buy_6_d"]
    );
    let mut rules = BTreeSet::new();
    let expect: toml::Value =
        toml::from_str("\"rules.contains\" = [\"FLOW-4\"]\n\"rules.excludes\" = [\"FLOW-25\"]\n\"problems.contains\" = [{ rule = \"FLOW-2\" }]\n")
            .unwrap();
    expected_rules(&expect, "", &mut rules);
    assert_eq!(rules, BTreeSet::from(["FLOW-2".to_owned(), "FLOW-4".to_owned()]));
    let page = "### FLOW-4 — t\n\nr\n\n**Tests:** `old_name`.\n\n### FLOW-5 — u\n\n**Tests:** none.\n";
    assert_eq!(
        with_tests_lines(page, &tests, &corpus),
        "### FLOW-4 — t\n\nr\n\n**Tests:** `flow_4_x`.\n\n### FLOW-5 — u\n\n**Tests:** .\n"
    );
}
