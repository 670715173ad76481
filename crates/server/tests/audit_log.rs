//! The audit log: every change, with the key that made it, what it did to which item, before and after; and
//! its filters and paging.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad answer"
)]

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{ADMIN, Backend, Body, TestApp, enc, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};

fn at(e: &Value) -> DateTime<Utc> {
    e["at"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("entry without an RFC 3339 `at`: {e}"))
}

/// A pause, so every change has an instant of its own.
async fn tick() {
    tokio::time::sleep(Duration::from_millis(15)).await;
}

async fn log_page(app: &TestApp, query: &str) -> Value {
    app.get(&format!("/v1/tenants/acme/audit-log?{query}"), ADMIN)
        .await
        .expect(200)
        .json()
}

fn entries(v: &Value) -> Vec<Value> {
    v["entries"].as_array().cloned().unwrap_or_default()
}

async fn audit_log(backend: Backend) {
    let app = spawn_app(backend).await;
    let op = app.admin_id().await;
    app.acme("acme").await;
    tick().await;
    let (ga, ga_id) = app
        .key("acme", json!({"role": "global-admin", "name": "ga"}))
        .await;
    tick().await;
    let (ba, ba_id) = app.key("acme", json!({"role": "billing-admin"})).await;
    tick().await;

    app.post("/v1/tenants/acme/users", &ga, json!({"id": "zed"}))
        .await
        .expect(201);
    tick().await;
    let e = app
        .get("/v1/tenants/acme/users/zed", &ga)
        .await
        .expect(200)
        .etag();
    app.patch(
        "/v1/tenants/acme/users/zed",
        &ga,
        Some(&e),
        json!({"left": "2025-01-01"}),
    )
    .await
    .expect(200);
    tick().await;
    app.post(
        "/v1/tenants/acme/users/zed/assignLicense",
        &ba,
        json!({"addLicenses": [{"skuId": "power-automate-per-user"}], "removeLicenses": []}),
    )
    .await
    .expect(200);
    tick().await;
    app.send(
        Method::PATCH,
        "/v1/tenants/acme/environments/e2/allocations",
        Some(&ba),
        &[],
        Body::Json(
            json!({"currencyAllocations": [{"currencyType": "power-automate-process", "allocated": 2}]}),
        ),
    )
    .await
    .expect(200);
    tick().await;
    app.put(
        "/v1/tenants/acme/flows/bo-flow/license",
        &ga,
        None,
        json!({"license": "process"}),
    )
    .await
    .expect(200);
    tick().await;
    app.delete("/v1/tenants/acme/users/zed", ADMIN).await.expect(204);
    tick().await;
    app.delete(&format!("/v1/tenants/acme/keys/{ba_id}"), &ga)
        .await
        .expect(204);
    tick().await;
    // Refused and dry-run requests leave no trace.
    app.delete("/v1/tenants/acme/users/mia", ADMIN).await.expect(409);
    app.post("/v1/tenants/acme/users?dry_run=true", &ga, json!({"id": "ghost"}))
        .await
        .expect(200);

    let all = app.audit_log("acme", "").await;
    let summary: Vec<(String, String, String, String)> = all
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap_or("?").to_owned(),
                e["action"].as_str().unwrap_or("?").to_owned(),
                e["kind"].as_str().unwrap_or("?").to_owned(),
                e["item"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    let s = |a: &str, b: &str, c: &str, d: &str| (a.to_owned(), b.to_owned(), c.to_owned(), d.to_owned());
    assert_eq!(
        summary,
        vec![
            s(&op, "create", "tenant", "acme"),
            s(&op, "create", "key", &ga_id),
            s(&op, "create", "key", &ba_id),
            s(&ga_id, "create", "user", "zed"),
            s(&ga_id, "update", "user", "zed"),
            s(&ba_id, "assign-license", "user", "zed"),
            s(&ba_id, "allocate", "environment", "e2"),
            s(&ga_id, "set-license", "flow", "bo-flow"),
            s(&op, "delete", "user", "zed"),
            s(&ga_id, "revoke", "key", &ba_id),
        ],
        "{backend}: {all:#?}"
    );
    // Sequence numbers rise, instants do not fall, every entry names its tenant.
    for w in all.windows(2) {
        assert!(w[0]["seq"].as_i64() < w[1]["seq"].as_i64());
        assert!(at(&w[0]) < at(&w[1]), "{} then {}", w[0]["at"], w[1]["at"]);
    }
    assert!(all.iter().all(|e| e["tenant"] == "acme"));

    // Before and after.
    let (create, update, assign, alloc, license, delete, key) =
        (&all[3], &all[4], &all[5], &all[6], &all[7], &all[8], &all[1]);
    assert_eq!(create["before"], Value::Null);
    assert_eq!(create["after"]["id"], "zed");
    assert_eq!(update["before"]["left"], Value::Null);
    assert_eq!(update["after"]["left"], "2025-01-01");
    assert_eq!(
        assign["before"]["licenses"],
        Value::Null,
        "no licences before: {assign}"
    );
    assert_eq!(assign["after"]["licenses"], json!(["power-automate-per-user"]));
    assert_eq!(
        alloc["before"]["currencyAllocations"],
        json!([{"currencyType": "power-automate-process", "allocated": 1}])
    );
    assert_eq!(
        alloc["after"]["currencyAllocations"],
        json!([{"currencyType": "power-automate-process", "allocated": 2}])
    );
    assert_eq!(license["after"], json!({"license": "process"}));
    assert_ne!(license["before"], license["after"]);
    assert_eq!(delete["before"]["licenses"], json!(["power-automate-per-user"]));
    assert_eq!(delete["after"], Value::Null);
    assert_eq!(key["after"]["role"], "global-admin");
    assert!(key["after"].get("key").is_none(), "no secret in the log");
    assert!(
        !serde_json::to_string(&all).unwrap_or_default().contains(&ga),
        "no secret in the log"
    );

    // Filters, each checked against the same filter applied here.
    let check = |query: String, keep: &dyn Fn(&Value) -> bool| {
        let want: Vec<Value> = all.iter().filter(|e| keep(e)).cloned().collect();
        (query, want)
    };
    let t3 = at(&all[3]);
    let t7 = at(&all[7]);
    let iso = |t: DateTime<Utc>| enc(&t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    let cases = vec![
        check("kind=user".into(), &|e| e["kind"] == "user"),
        check("kind=key".into(), &|e| e["kind"] == "key"),
        check("item=zed".into(), &|e| e["item"] == "zed"),
        check(format!("actor={ba_id}"), &|e| e["actor"] == ba_id.as_str()),
        check(format!("actor={op}"), &|e| e["actor"] == op.as_str()),
        check("action=assign-license".into(), &|e| {
            e["action"] == "assign-license"
        }),
        check("action=create".into(), &|e| e["action"] == "create"),
        check(format!("kind=user&actor={ga_id}"), &|e| {
            e["kind"] == "user" && e["actor"] == ga_id.as_str()
        }),
        check(format!("since={}", iso(t3)), &|e| at(e) >= t3),
        check(format!("until={}", iso(t7)), &|e| at(e) < t7),
        check(format!("since={}&until={}", iso(t3), iso(t7)), &|e| {
            at(e) >= t3 && at(e) < t7
        }),
        check("kind=nothing".into(), &|_| false),
    ];
    for (query, want) in cases {
        let got = entries(&log_page(&app, &query).await);
        assert!(!query.starts_with("kind=user") || !want.is_empty());
        assert_eq!(got, want, "{backend}: ?{query}");
    }
    assert_eq!(
        entries(&log_page(&app, &format!("since={}", iso(t3))).await).len(),
        7
    );
    assert_eq!(
        entries(&log_page(&app, &format!("until={}", iso(t7))).await).len(),
        7
    );

    // Paging: `after` + `limit`, following `next`, gives the whole log in order, page by page.
    let mut paged = Vec::new();
    let mut after: Option<i64> = None;
    let mut pages = 0;
    loop {
        let q = match after {
            Some(a) => format!("limit=3&after={a}"),
            None => "limit=3".to_owned(),
        };
        let page = log_page(&app, &q).await;
        let got = entries(&page);
        assert!(got.len() <= 3);
        pages += 1;
        paged.extend(got.clone());
        match page["next"].as_i64() {
            Some(n) => {
                assert_eq!(Some(n), got.last().and_then(|e| e["seq"].as_i64()));
                after = Some(n);
            }
            None => break,
        }
        assert!(pages < 20, "paging does not end");
    }
    assert_eq!(paged, all);
    assert_eq!(pages, 4, "10 entries in pages of 3");
    // Paging combines with filters.
    let first = log_page(&app, "kind=user&limit=2").await;
    let n = first["next"].as_i64().expect("a next page");
    let second = log_page(&app, &format!("kind=user&limit=2&after={n}")).await;
    let users: Vec<Value> = all.iter().filter(|e| e["kind"] == "user").cloned().collect();
    let mut both = entries(&first);
    both.extend(entries(&second));
    assert_eq!(both, users);

    // Bad filters.
    for q in [
        "since=yesterday",
        "limit=1001",
        "limit=0",
        "after=x",
        "colour=red",
    ] {
        let r = app.get(&format!("/v1/tenants/acme/audit-log?{q}"), ADMIN).await;
        assert_eq!(r.status, 400, "?{q}: {}", r.text);
        assert!(r.is_problem());
    }

    // The log outlives its tenant, for operators only.
    app.delete("/v1/tenants/acme", ADMIN).await.expect(204);
    let after_delete = app.audit_log("acme", "").await;
    let tail: Vec<(&str, &str, &str)> = after_delete
        .iter()
        .skip(all.len())
        .map(|e| {
            (
                e["action"].as_str().unwrap_or("?"),
                e["kind"].as_str().unwrap_or("?"),
                e["item"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    // The deletion, then its keys in force revoked with it.
    assert_eq!(
        tail,
        vec![("delete", "tenant", "acme"), ("revoke", "key", ga_id.as_str())]
    );
    app.get("/v1/tenants/acme/audit-log", &ga).await.expect(401);
    app.stop().await;
}

on_every_backend!(audit_log_records_every_change_and_filters, audit_log);
