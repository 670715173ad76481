//! The scenario's limits: quantities a tenant could never have, ids that could never be addressed, and nesting
//! that would make the TOML parser work for minutes. Each is refused by the parser with the file, line and key.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad fixture"
)]

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use entitle_core::scenario::{Format, Scenario};
use entitle_core::{Catalog, Snapshot};

fn catalog() -> &'static Catalog {
    static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
    CATALOG.get_or_init(|| Catalog::seed().unwrap_or_else(|e| panic!("{e}")))
}

fn toml_error(text: &str) -> String {
    match Scenario::parse(text, Format::Toml, "t.toml", catalog()) {
        Ok(_) => panic!("accepted:\n{}", text.chars().take(400).collect::<String>()),
        Err(e) => e.to_string(),
    }
}

fn json_error(text: &str) -> String {
    match Scenario::parse(text, Format::Json, "t.json", catalog()) {
        Ok(_) => panic!("accepted:\n{}", text.chars().take(400).collect::<String>()),
        Err(e) => e.to_string(),
    }
}

fn toml_ok(text: &str) -> Scenario {
    Scenario::parse(text, Format::Toml, "t.toml", catalog()).unwrap_or_else(|e| panic!("{e}"))
}

/// Two environments each given u64::MAX process units (JSON: TOML integers stop at i64::MAX).
fn huge_allocations() -> String {
    format!(
        r#"{{
  "tenant": {{"id": "big", "at": "2024-06-03"}},
  "environments": [
    {{"id": "a", "default": true, "allocations": {{"power-automate-process": {m}}}}},
    {{"id": "b", "allocations": {{"power-automate-process": {m}}}}}
  ]
}}
"#,
        m = u64::MAX
    )
}

// ---------------------------------------------------------------------------------------------------------------
// item 7: quantities

#[test]
fn item_7_u64_max_allocations_are_refused_naming_the_field() {
    let e = json_error(&huge_allocations());
    assert!(
        e.starts_with("t.json:4:") && e.contains("environments[0].allocations.power-automate-process:"),
        "{e}"
    );
    assert!(
        e.contains("18446744073709551615") && e.contains("1000000000"),
        "{e}"
    );
}

#[test]
fn item_7_a_snapshot_of_unchecked_huge_allocations_is_an_error_not_a_panic() {
    // The library's last line of defence: a scenario built in memory, never validated.
    let s: Scenario = serde_json::from_str(&huge_allocations()).unwrap();
    let at = NaiveDate::from_ymd_opt(2024, 6, 3).unwrap();
    let result = std::panic::catch_unwind(|| Snapshot::new(std::sync::Arc::new(catalog().clone()), s, at));
    let e = match result {
        Ok(Err(e)) => e,
        Ok(Ok(_)) => panic!("a snapshot with 2 × u64::MAX units allocated"),
        Err(_) => panic!("building the snapshot panicked"),
    };
    assert_eq!(e.key, "environments[1].allocations.power-automate-process", "{e}");
}

#[test]
fn item_7_every_quantity_has_a_maximum() {
    let base =
        "[tenant]\nid = \"q\"\n[[users]]\nid = \"ann\"\n[[environments]]\nid = \"d\"\ndefault = true\n";
    let cases = [
        (
            "[[subscriptions]]\nsku = \"power-automate-per-user\"\nquantity = 4000000000\n",
            "subscriptions[0].quantity",
        ),
        (
            "[[environments]]\nid = \"e\"\nstorage = { database_mb = 9000000000000 }\n",
            "environments[1].storage.database_mb",
        ),
        (
            "[[environments]]\nid = \"e\"\nallocations = { power-automate-process = 1000000001 }\n",
            "environments[1].allocations.power-automate-process",
        ),
        (
            "[[apps]]\nid = \"p\"\nenvironment = \"d\"\nkind = \"portal\"\npage_views = 5000000000\n",
            "apps[0].page_views",
        ),
        (
            "[[apps]]\nid = \"p\"\nenvironment = \"d\"\nkind = \"portal\"\nlogins = 5000000000\n",
            "apps[0].logins",
        ),
        (
            "[[flows]]\nid = \"f\"\nenvironment = \"d\"\nowner = \"ann\"\nconcurrent_runs = 4000000000\n",
            "flows[0].concurrent_runs",
        ),
        (
            "[[flows]]\nid = \"f\"\nenvironment = \"d\"\nowner = \"ann\"\nrequest_addons = 4000000000\n",
            "flows[0].request_addons",
        ),
        (
            "[[usage]]\nuser = \"ann\"\nrequests = 9000000000000000000\n",
            "usage[0].requests",
        ),
    ];
    for (rest, key) in cases {
        let e = toml_error(&format!("{base}{rest}"));
        assert!(
            e.contains(&format!("{key}:")) && e.contains("1000000000"),
            "{key}: {e}"
        );
        let line = e.split(':').nth(1).unwrap_or("");
        assert!(line.parse::<usize>().is_ok_and(|l| l > 7), "{key}: no line: {e}");
    }
    // At the maximum is fine.
    toml_ok(&format!(
        "{base}[[subscriptions]]\nsku = \"power-automate-process\"\nquantity = 1000000000\n\
         [[environments]]\nid = \"e\"\nallocations = {{ power-automate-process = 1000000000 }}\n"
    ));
}

// ---------------------------------------------------------------------------------------------------------------
// item 8: ids

#[test]
fn item_8_a_64_kb_id_is_refused_naming_the_field() {
    let long = "u".repeat(65_536);
    let e = toml_error(&format!("[tenant]\nid = \"t\"\n[[users]]\nid = \"{long}\"\n"));
    assert!(
        e.starts_with("t.toml:4:") && e.contains("users[0].id:"),
        "{}",
        &e[..e.len().min(300)]
    );
    assert!(e.contains("128"), "{}", &e[..e.len().min(300)]);
    assert!(
        e.len() < 1_000,
        "the message repeats the whole id: {} bytes",
        e.len()
    );
}

#[test]
fn item_8_every_kind_of_id_follows_the_grammar() {
    let base = |tenant: &str, rest: &str| {
        format!(
            "[tenant]\nid = \"{tenant}\"\n[[users]]\nid = \"ann\"\n[[environments]]\nid = \"d\"\ndefault = true\n{rest}"
        )
    };
    let cases = [
        (base("a*b", ""), "tenant.id"),
        (base("t", "[[users]]\nid = \"a b\"\n"), "users[1].id"),
        (
            base("t", "[[environments]]\nid = \"../x\"\n"),
            "environments[1].id",
        ),
        (
            base("t", "[[apps]]\nid = \"a/b\"\nenvironment = \"d\"\n"),
            "apps[0].id",
        ),
        (
            base(
                "t",
                "[[flows]]\nid = \".hidden\"\nenvironment = \"d\"\nowner = \"ann\"\n",
            ),
            "flows[0].id",
        ),
        (base("t", "[[entities]]\nid = \"a%20b\"\n"), "entities[0].id"),
        (
            base(
                "t",
                "[[subscriptions]]\nid = \"s?1\"\nsku = \"power-automate-process\"\nquantity = 1\n",
            ),
            "subscriptions[0].id",
        ),
        (
            base(
                "t",
                "[[license_requests]]\nid = \"r#1\"\nuser = \"ann\"\nsku = \"power-automate-premium\"\n",
            ),
            "license_requests[0].id",
        ),
        // A reference that could never name anything says so (and spends no time on "did you mean").
        (
            base(
                "t",
                &format!(
                    "[[flows]]\nid = \"f\"\nenvironment = \"d\"\nowner = \"{}\"\n",
                    "x".repeat(70_000)
                ),
            ),
            "flows[0].owner",
        ),
    ];
    for (text, key) in cases {
        let e = toml_error(&text);
        assert!(
            e.contains(&format!("{key}:")) && e.contains("not a valid"),
            "{key}: {}",
            &e[..e.len().min(300)]
        );
    }
}

#[test]
fn item_8_ids_the_grammar_accepts() {
    let text = "[tenant]\nid = \"Contoso.EU-1\"\n[[users]]\nid = \"ann.lee+ops@contoso.com\"\n\
                [[users]]\nid = \"svc:backup_2\"\n[[environments]]\nid = \"Default-1f2e\"\ndefault = true\n\
                [[flows]]\nid = \"a\"\nenvironment = \"Default-1f2e\"\nowner = \"ann.lee+ops@contoso.com\"\n";
    toml_ok(text);
    let exactly = "x".repeat(128);
    toml_ok(&format!("[tenant]\nid = \"{exactly}\"\n"));
    let e = toml_error(&format!("[tenant]\nid = \"{exactly}y\"\n"));
    assert!(e.contains("tenant.id:"), "{e}");
}

// ---------------------------------------------------------------------------------------------------------------
// item 6: nesting

#[test]
fn item_6_deep_dotted_keys_are_refused_quickly() {
    // 64k nested dotted keys: 135 KB that took the TOML parser half a minute.
    let key = vec!["a"; 65_536].join(".");
    let text = format!("{key} = 1\n");
    let started = Instant::now();
    let e = toml_error(&text);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(
        e.starts_with("t.toml:1:") && e.contains("32"),
        "{}",
        &e[..e.len().min(300)]
    );
    // After a table header, too, and inside an inline table.
    let key = vec!["b"; 40].join(".");
    let e = toml_error(&format!("[tenant]\nid = \"t\"\n\n[x]\n{key} = 1\n"));
    assert!(e.starts_with("t.toml:5:") && e.contains("32"), "{e}");
    let e = toml_error(&format!("[tenant]\nid = \"t\"\nx = {{ {key} = 1 }}\n"));
    assert!(e.starts_with("t.toml:3:") && e.contains("32"), "{e}");
}

#[test]
fn item_6_deep_brackets_are_refused_in_both_formats() {
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let started = Instant::now();
    let e = toml_error(&format!("[tenant]\nid = \"t\"\nx = {}\n", deep(100_000)));
    assert!(
        e.starts_with("t.toml:3:") && e.contains("32"),
        "{}",
        &e[..e.len().min(300)]
    );
    let e = json_error(&format!(
        "{{\"tenant\": {{\"id\": \"t\"}},\n\"x\": {}}}",
        deep(40)
    ));
    assert!(e.starts_with("t.json:2:") && e.contains("32"), "{e}");
    let e = json_error(&"{\"a\":".repeat(100_000));
    assert!(
        e.starts_with("t.json:1:") && e.contains("32"),
        "{}",
        &e[..e.len().min(300)]
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    // Brackets and dots inside strings and comments are text, not nesting.
    let text = format!(
        "# {}\n[tenant]\nid = \"t\"\n[[users]]\nid = \"ann\"\nlicenses = []\n[[environments]]\nid = \"d\"\ndefault = true\n\
         [[flows]]\nid = \"f\"\nenvironment = \"d\"\nowner = \"ann\"\nsolution = \"{}\"\nconnectors = ['{}', \"\"\"{}\"\"\"]\n",
        deep(50),
        vec!["a"; 50].join("."),
        deep(50),
        vec!["c"; 50].join("."),
    );
    toml_ok(&text);
}
