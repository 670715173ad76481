//! The read routes the web UI's overview and tables stand on: `GET …/overview` agrees with the answers it
//! summarises (audit, cost, capacity, usage/users); `GET …/flows:status`, the collections' lists and the audit's
//! flows are paged, sorted and filtered by the server, count the matches in `X-Total-Count`, and refuse a bad
//! parameter with 422 naming it.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad answer"
)]

mod common;

use common::{ADMIN, Backend, spawn_app};
use serde_json::{Value, json};

const T: &str = "/v1/tenants/acme";

fn ids(v: &Value, key: &str) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x[key].as_str().unwrap().to_owned())
        .collect()
}

async fn overview_and_paging(backend: Backend) {
    let app = spawn_app(backend).await;
    app.acme("acme").await;
    app.post(&format!("{T}/usage"), ADMIN, json!({"user": "bo", "requests": 5}))
        .await
        .expect(200);

    // The overview is the audit's, the bill's, the capacity's and the meter's figures.
    let o = app.get(&format!("{T}/overview"), ADMIN).await.expect(200).json();
    let audit = app.get(&format!("{T}/audit"), ADMIN).await.expect(200).json();
    let cost = app.get(&format!("{T}/cost"), ADMIN).await.expect(200).json();
    let cap = app.get(&format!("{T}/capacity"), ADMIN).await.expect(200).json();
    assert_eq!(o["at_risk"], audit["summary"]["at_risk"], "{o}");
    assert_eq!(o["turned_off"], audit["summary"]["turned_off"], "{o}");
    assert_eq!(o["flows"], audit["summary"]["flows"], "{o}");
    assert_eq!(o["monthly"], cost["total"], "{o}");
    assert_eq!(o["dataverse"]["pool"]["database_mb"], cap["database_mb"], "{o}");
    let dated: u64 = o["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["flows"].as_u64().unwrap())
        .sum();
    let audited = audit["flows"].as_array().unwrap();
    assert_eq!(
        dated,
        audited.iter().filter(|f| f.get("turn_off").is_some()).count() as u64
    );
    assert_eq!(
        dated + o["timeline_undated"].as_u64().unwrap(),
        audited.len() as u64
    );
    assert_eq!(
        o["units"].as_array().unwrap().len(),
        cost["usage"].as_array().unwrap().len()
    );
    // The bill per SKU adds up to the total of each currency (never across currencies).
    let mut sums = std::collections::BTreeMap::<String, f64>::new();
    for l in o["cost_by_sku"].as_array().unwrap() {
        *sums
            .entry(l["currency"].as_str().unwrap().to_owned())
            .or_default() += l["monthly"].as_str().unwrap().parse::<f64>().unwrap();
    }
    for (cur, total) in cost["total"].as_object().unwrap() {
        let want: f64 = total.as_str().unwrap().parse().unwrap();
        assert!(
            (sums[cur] - want).abs() < 0.005,
            "{cur}: {sums:?} against {total}"
        );
    }
    assert_eq!(o["requests"]["busiest"][0]["user"], "bo", "{o}");
    assert_eq!(o["requests"]["busiest"][0]["used"], 5, "{o}");

    // Every flow with its status, paged and sorted by the server.
    let all = app.get(&format!("{T}/flows:status"), ADMIN).await.expect(200);
    let every = all.json();
    let n = every["flows"].as_array().unwrap().len();
    assert_eq!(all.header("x-total-count"), Some(n.to_string().as_str()));
    assert_eq!(every["total"], n);
    let at_risk = every["flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "at-risk")
        .count();
    let live = audited
        .iter()
        .filter(|f| !matches!(f["state"].as_str(), Some("turned-off" | "created-off")))
        .count();
    assert_eq!(at_risk, live, "{every}");
    let page = app
        .get(
            &format!("{T}/flows:status?sort=owner&order=desc&limit=2&offset=1"),
            ADMIN,
        )
        .await
        .expect(200);
    assert_eq!(page.header("x-total-count"), Some(n.to_string().as_str()));
    let mut owners: Vec<(String, usize)> = every["flows"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, f)| (f["owner"].as_str().unwrap().to_owned(), i))
        .collect();
    owners.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    let want: Vec<String> = owners
        .iter()
        .skip(1)
        .take(2)
        .map(|(_, i)| every["flows"][*i]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids(&page.json()["flows"], "id"), want);
    let risky = app
        .get(&format!("{T}/flows:status?status=at-risk"), ADMIN)
        .await
        .expect(200)
        .json();
    assert_eq!(risky["total"], at_risk);

    // The collections' lists: the same array as before, narrowed and counted when asked.
    let users = app.get(&format!("{T}/users"), ADMIN).await.expect(200).json();
    let found = app
        .get(&format!("{T}/users?q=BO&sort=id"), ADMIN)
        .await
        .expect(200);
    let kept: Vec<String> = ids(&users, "id")
        .into_iter()
        .filter(|id| id.contains("bo"))
        .collect();
    assert!(!kept.is_empty());
    assert_eq!(
        found.header("x-total-count"),
        Some(kept.len().to_string().as_str())
    );
    // The audit's flows, a page at a time, with the rest of the audit.
    let paged = app
        .get(&format!("{T}/audit?limit=1"), ADMIN)
        .await
        .expect(200)
        .json();
    assert_eq!(paged["flows_total"], audited.len());
    assert_eq!(paged["flows"].as_array().unwrap().len(), 1.min(audited.len()));
    assert_eq!(paged["summary"], audit["summary"]);

    // Bad parameters: 422, the parameter named.
    for (path, name) in [
        ("flows:status?sort=colour", "query:sort"),
        ("flows:status?order=up", "query:order"),
        ("flows:status?limit=0", "query:limit"),
        ("flows:status?limit=1001", "query:limit"),
        ("flows:status?status=asleep", "query:status"),
        ("users?status=pending", "query:status"),
        ("users?sort=licenses", "query:sort"),
        ("audit?status=gone", "query:status"),
        ("usage/users?order=sideways", "query:order"),
    ] {
        let r = app.get(&format!("{T}/{path}"), ADMIN).await.expect(422);
        assert!(r.is_problem(), "{path}");
        assert_eq!(r.json()["pointer"], name, "{path}");
    }
    // A maker reads no overview (it is the tenant's answers).
    let (maker, _) = app.key("acme", json!({"role": "maker", "user": "mia"})).await;
    app.get(&format!("{T}/overview"), &maker).await.expect(403);
}
on_every_backend!(overview_and_paging_of_the_ui_routes, overview_and_paging);

/// Issue 13: the audit after a write is worked out from the audit before (or started as the write commits), and
/// is the audit of the same tenant audited for the first time: `acme` is read before each write, so each of its
/// audits is worked out from the one before; its twin is written alike and read only at the end.
async fn audit_after_writes(backend: Backend) {
    let app = spawn_app(backend).await;
    app.acme("acme").await;
    app.acme("twin").await;
    let writes: Vec<(&str, Value)> = vec![
        (
            "flows",
            json!({"id": "bo-premium", "environment": "default", "owner": "bo", "connectors": ["http"]}),
        ),
        (
            "flows",
            json!({"id": "cy-premium", "environment": "e2", "owner": "cy", "connectors": ["shared_sql"]}),
        ),
        (
            "users/bo/assignLicense",
            json!({"addLicenses": [{"skuId": "power-automate-per-user"}], "removeLicenses": []}),
        ),
        (
            "flows",
            json!({"id": "bo-second", "environment": "e2", "owner": "bo", "connectors": ["shared_sql"]}),
        ),
        (
            "flows",
            json!({"id": "cy-second", "environment": "default", "owner": "cy", "connectors": ["http"]}),
        ),
    ];
    let audit = |t: &'static str| {
        let app = &app;
        async move {
            let mut a = app
                .get(&format!("/v1/tenants/{t}/audit"), ADMIN)
                .await
                .expect(200)
                .json();
            a.as_object_mut().unwrap().remove("tenant");
            a
        }
    };
    let mut seen = audit("acme").await;
    for (path, body) in &writes {
        for t in ["acme", "twin"] {
            let status = if path.starts_with("users/") { 200 } else { 201 };
            app.post(&format!("/v1/tenants/{t}/{path}"), ADMIN, body.clone())
                .await
                .expect(status);
        }
        let now = audit("acme").await;
        assert_ne!(now, seen, "after {path}: the audit did not change");
        seen = now;
    }
    assert!(seen["summary"]["at_risk"].as_u64().unwrap() > 0, "{seen}");
    assert_eq!(seen, audit("twin").await);
}
on_every_backend!(
    the_audit_after_a_write_is_the_audit_of_the_tenant_as_written,
    audit_after_writes
);
