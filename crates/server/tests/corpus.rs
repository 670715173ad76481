//! The engine's scenario corpus through the HTTP API: every case gets the CLI's answer, byte for byte as JSON.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad answer"
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{ADMIN, Backend, TestApp, enc, spawn_app};
use entitle_testkit::{Case, Command, corpus_dir, library_answer, load_dir, report, run_corpus};
use serde_json::{Value, json};

/// The tenant id a scenario file declares.
fn tenant_id(toml_text: &str) -> String {
    let t: toml::Table = toml::from_str(toml_text).expect("scenario is TOML");
    t.get("tenant")
        .and_then(|t| t.get("id"))
        .and_then(toml::Value::as_str)
        .expect("tenant.id")
        .to_owned()
}

/// Asks the server what `case` asks the CLI.
async fn ask(app: &TestApp, tenant: &str, case: &Case) -> Result<Value, String> {
    let a = &case.args;
    let mut query: Vec<(String, String)> = Vec::new();
    let mut param = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            query.push((k.to_owned(), v.clone()));
        }
    };
    let base = format!("/v1/tenants/{tenant}");
    let need = |v: &Option<String>, what: &str| {
        v.clone()
            .ok_or_else(|| format!("case `{}` has no {what}", case.name))
    };
    let path = match case.command {
        Command::CheckFlow => {
            param("as", &a.as_user);
            format!("{base}/flows/{}/decision", enc(&need(&a.flow, "flow")?))
        }
        Command::CheckApp => {
            param("user", &a.user);
            format!("{base}/apps/{}/decision", enc(&need(&a.app, "app")?))
        }
        Command::Audit => format!("{base}/audit"),
        Command::Capacity => format!("{base}/capacity"),
        Command::Cost => format!("{base}/cost"),
        Command::Limits => {
            param("user", &a.user);
            param("flow", &a.flow);
            param("as", &a.as_user);
            format!("{base}/limits")
        }
        Command::Buy => {
            let mut body = json!({"sku": need(&a.sku, "sku")?, "quantity": a.quantity});
            if let Some(u) = &a.as_user {
                body["as"] = json!(u);
            }
            if let Some(c) = a.channel {
                body["channel"] = json!(c.as_str());
            }
            if let Some(at) = case.at {
                body["at"] = json!(at.to_string());
            }
            let r = app.post(&format!("{base}/purchases:preview"), ADMIN, body).await;
            return if r.status == 200 {
                Ok(r.json())
            } else {
                Err(format!("HTTP {}: {}", r.status, r.text))
            };
        }
    };
    if let Some(at) = case.at {
        query.push(("at".to_owned(), at.to_string()));
    }
    let qs: Vec<String> = query.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect();
    let path = if qs.is_empty() {
        path
    } else {
        format!("{path}?{}", qs.join("&"))
    };
    let r = app.get(&path, ADMIN).await;
    if r.status == 200 {
        Ok(r.json())
    } else {
        Err(format!("HTTP {} for {path}: {}", r.status, r.text))
    }
}

async fn corpus_through_http(backend: Backend) {
    let corpora = load_dir(&corpus_dir()).expect("the corpus loads");
    assert!(corpora.len() >= 5, "corpus files: {}", corpora.len());
    // One server per catalog edition: a scenario's tenant id is fixed, and a case may ask under another
    // edition than its file's.
    let editions: BTreeSet<String> = corpora
        .iter()
        .flat_map(|c| c.cases.iter().map(|k| k.catalog.clone()))
        .collect();
    let mut apps: BTreeMap<String, TestApp> = BTreeMap::new();
    for e in &editions {
        apps.insert(e.clone(), spawn_app(backend).await);
    }
    let mut cases = 0;
    let mut created = 0;
    for corpus in &corpora {
        let text = std::fs::read_to_string(&corpus.scenario).expect("scenario readable");
        let tenant = tenant_id(&text);
        let mut answers: BTreeMap<String, Result<Value, String>> = BTreeMap::new();
        let mut made: BTreeSet<String> = BTreeSet::new();
        for case in &corpus.cases {
            let app = &apps[&case.catalog];
            if made.insert(case.catalog.clone()) {
                let r = app
                    .create_tenant_toml(&text, Some(&case.catalog))
                    .await
                    .expect(201);
                assert_eq!(r.json()["catalog"], json!(case.catalog));
                created += 1;
            }
            let got = ask(app, &tenant, case).await;
            // Not only the corpus's partial expectation: the whole answer is the CLI's.
            let want = library_answer(case).expect("the library answers");
            match &got {
                Ok(v) => assert_eq!(
                    v,
                    &want,
                    "{backend}: {} case `{}`: HTTP answer differs from the library's ({})",
                    corpus.path.display(),
                    case.name,
                    case.command_line()
                ),
                Err(e) => panic!("{backend}: case `{}`: {e}", case.name),
            }
            answers.insert(case.name.clone(), got);
            cases += 1;
        }
        let failures = run_corpus(corpus, |case| {
            answers
                .get(&case.name)
                .cloned()
                .unwrap_or_else(|| Err("not asked".to_owned()))
        });
        assert!(failures.is_empty(), "{backend}: {}", report(&failures));
    }
    eprintln!("{backend}: {cases} corpus cases in {created} tenants match the CLI");
    assert!(cases >= 100, "only {cases} cases ran");
    for (_, app) in apps {
        app.stop().await;
    }
}

on_every_backend!(corpus_answers_equal_the_cli, corpus_through_http);
