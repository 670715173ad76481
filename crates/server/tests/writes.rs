//! The write path: idempotent retries, optimistic concurrency with ETags, and dry runs.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad answer"
)]

mod common;

use common::{ADMIN, Backend, Body, TestApp, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};

async fn count(app: &TestApp, section: &str) -> usize {
    app.get(&format!("/v1/tenants/acme/{section}"), ADMIN)
        .await
        .expect(200)
        .json()
        .as_array()
        .map_or(0, Vec::len)
}

async fn post_idem(app: &TestApp, path: &str, key: &str, body: &Value) -> common::Resp {
    app.send(
        Method::POST,
        path,
        Some(ADMIN),
        &[("idempotency-key", key)],
        Body::Json(body.clone()),
    )
    .await
}

async fn idempotency(backend: Backend) {
    let app = spawn_app(backend).await;
    app.acme("acme").await;
    let users = count(&app, "users").await;
    let log = app.audit_log("acme", "").await.len();

    // The first answer, then the same again: same status, same body, same ETag, marked as replayed.
    let body = json!({"id": "zed", "licenses": ["microsoft-365-business-basic"]});
    let first = post_idem(&app, "/v1/tenants/acme/users", "create-zed", &body)
        .await
        .expect(201);
    assert_eq!(first.header("idempotent-replayed"), None);
    assert_eq!(first.json()["id"], "zed");
    for _ in 0..3 {
        let again = post_idem(&app, "/v1/tenants/acme/users", "create-zed", &body)
            .await
            .expect(201);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(again.json(), first.json());
        assert_eq!(again.header("etag"), first.header("etag"));
    }
    assert_eq!(count(&app, "users").await, users + 1, "zed was created once");
    let entries = app.audit_log("acme", "").await;
    assert_eq!(entries.len(), log + 1, "one audit entry: {entries:#?}");
    let created = app.audit_log("acme", "kind=user&item=zed").await;
    assert_eq!(created.len(), 1);

    // The same key with another body, or another path, is refused, and changes nothing.
    let other = json!({"id": "zoe"});
    let r = post_idem(&app, "/v1/tenants/acme/users", "create-zed", &other)
        .await
        .expect(422);
    assert!(r.is_problem());
    assert_eq!(r.json()["pointer"], "header:Idempotency-Key");
    post_idem(
        &app,
        "/v1/tenants/acme/entities",
        "create-zed",
        &json!({"id": "zed"}),
    )
    .await
    .expect(422);
    assert_eq!(count(&app, "users").await, users + 1);
    assert_eq!(count(&app, "entities").await, 1);
    assert_eq!(app.audit_log("acme", "").await.len(), log + 1);

    // Another key's Idempotency-Key space is its own: the same key string is a new request there.
    let (ga, _) = app.key("acme", json!({"role": "global-admin"})).await;
    let r = app
        .send(
            Method::POST,
            "/v1/tenants/acme/users",
            Some(&ga),
            &[("idempotency-key", "create-zed")],
            Body::Json(json!({"id": "zoe"})),
        )
        .await
        .expect(201);
    assert_eq!(r.header("idempotent-replayed"), None);

    // A replayed failure is not stored: a request that failed may be retried with its key.
    let dup = json!({"id": "mia"});
    post_idem(&app, "/v1/tenants/acme/users", "dup-mia", &dup)
        .await
        .expect(409);

    // Bad keys are refused.
    let long = "k".repeat(256);
    post_idem(&app, "/v1/tenants/acme/users", &long, &json!({"id": "long"}))
        .await
        .expect(400);

    // 20 requests at once with one key: one item, one audit entry, and every answer the first one's.
    let before = app.audit_log("acme", "").await.len();
    let body = json!({"id": "new_concurrent"});
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let client = app.client.clone();
        let url = app.url("/v1/tenants/acme/entities");
        let body = body.to_string();
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(ADMIN)
                .header("content-type", "application/json")
                .header("idempotency-key", "concurrent-1")
                .body(body)
                .send()
                .await
                .expect("answered");
            let status = r.status().as_u16();
            let replayed = r.headers().get("idempotent-replayed").is_some();
            let text = r.text().await.expect("body");
            (status, text, replayed)
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.expect("task"));
    }
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert!(
        statuses.iter().all(|&s| s == 201),
        "{backend}: every concurrent request gets the first answer, got {statuses:?}: {answers:?}"
    );
    let bodies: Vec<Value> = answers
        .iter()
        .map(|a| serde_json::from_str(&a.1).expect("JSON"))
        .collect();
    assert_eq!(bodies[0]["id"], "new_concurrent");
    assert!(bodies.iter().all(|b| b == &bodies[0]), "{bodies:?}");
    let replays = answers.iter().filter(|a| a.2).count();
    assert_eq!(replays, 19, "all but the first are replays");
    let entities = app
        .get("/v1/tenants/acme/entities", ADMIN)
        .await
        .expect(200)
        .json();
    let made = entities
        .as_array()
        .map_or(0, |a| a.iter().filter(|e| e["id"] == "new_concurrent").count());
    assert_eq!(made, 1);
    assert_eq!(app.audit_log("acme", "").await.len(), before + 1);
    app.stop().await;
}

async fn etags(backend: Backend) {
    let app = spawn_app(backend).await;
    app.acme("acme").await;
    let path = "/v1/tenants/acme/users/cy";
    let read = app.get(path, ADMIN).await.expect(200);
    let e0 = read.etag();

    // Without If-Match: 428, naming the ETag to send.
    let r = app
        .patch(path, ADMIN, None, json!({"left": "2025-01-01"}))
        .await
        .expect(428);
    assert!(r.is_problem());
    assert_eq!(r.json()["pointer"], "header:If-Match");
    let mut put_body = read.json();
    put_body["left"] = json!("2025-01-01");
    app.put(path, ADMIN, None, put_body.clone()).await.expect(428);
    // A stale or made-up one: 412.
    app.patch(
        path,
        ADMIN,
        Some("\"0123456789abcdef\""),
        json!({"left": "2025-01-01"}),
    )
    .await
    .expect(412);
    app.put(path, ADMIN, Some("\"0123456789abcdef\""), put_body.clone())
        .await
        .expect(412);
    // Nothing changed so far.
    assert_eq!(app.get(path, ADMIN).await.expect(200).etag(), e0);
    assert_eq!(app.audit_log("acme", "kind=user").await.len(), 0);

    // The current one: 200, the new item, and a new ETag that a GET agrees with.
    let r = app
        .patch(path, ADMIN, Some(&e0), json!({"left": "2025-01-01"}))
        .await
        .expect(200);
    let e1 = r.etag();
    assert_ne!(e1, e0);
    assert_eq!(r.json()["left"], "2025-01-01");
    let now = app.get(path, ADMIN).await.expect(200);
    assert_eq!(now.etag(), e1);
    assert_eq!(now.json()["left"], "2025-01-01");
    // e0 is stale now.
    app.patch(path, ADMIN, Some(&e0), json!({"left": "2025-03-01"}))
        .await
        .expect(412);
    // PUT with the current one.
    let mut replaced = now.json();
    replaced["left"] = json!("2025-02-01");
    let r = app.put(path, ADMIN, Some(&e1), replaced).await.expect(200);
    let e2 = r.etag();
    assert_ne!(e2, e1);
    // `*` matches whatever is there; weak tags compare by their value.
    let r = app
        .patch(
            path,
            ADMIN,
            Some(&format!("W/{e2}")),
            json!({"left": "2025-04-01"}),
        )
        .await
        .expect(200);
    let e3 = r.etag();
    app.patch(path, ADMIN, Some("*"), json!({"left": "2025-05-01"}))
        .await
        .expect(200);
    app.patch(path, ADMIN, Some(&e3), json!({"left": "2025-06-01"}))
        .await
        .expect(412);

    // A lost update between two clients is refused: both read, both write with what they read.
    let (alice, _) = app
        .key("acme", json!({"role": "global-admin", "name": "alice"}))
        .await;
    let (bob, _) = app
        .key("acme", json!({"role": "global-admin", "name": "bob"}))
        .await;
    let flow = "/v1/tenants/acme/flows/bo-flow";
    let ea = app.get(flow, &alice).await.expect(200).etag();
    let eb = app.get(flow, &bob).await.expect(200).etag();
    assert_eq!(ea, eb);
    app.patch(flow, &alice, Some(&ea), json!({"trigger": "scheduled"}))
        .await
        .expect(200);
    let r = app
        .patch(flow, &bob, Some(&eb), json!({"trigger": "instant"}))
        .await
        .expect(412);
    assert!(r.is_problem());
    let f = app.get(flow, ADMIN).await.expect(200).json();
    assert_eq!(f["trigger"], "scheduled", "alice's change stands");
    // Bob reads again and may then write.
    let eb2 = app.get(flow, &bob).await.expect(200).etag();
    app.patch(flow, &bob, Some(&eb2), json!({"trigger": "instant"}))
        .await
        .expect(200);

    // The tenant's own ETag moves with every change.
    let t0 = app.get("/v1/tenants/acme", ADMIN).await.expect(200).etag();
    let e = app.get(flow, ADMIN).await.expect(200).etag();
    app.patch(flow, ADMIN, Some(&e), json!({"trigger": "scheduled"}))
        .await
        .expect(200);
    let t1 = app.get("/v1/tenants/acme", ADMIN).await.expect(200).etag();
    assert_ne!(t0, t1);
    // Deleting the tenant with its stale ETag is refused.
    let r = app
        .send(
            Method::DELETE,
            "/v1/tenants/acme",
            Some(ADMIN),
            &[("if-match", &t0)],
            Body::None,
        )
        .await;
    assert_eq!(r.status, 412, "{}", r.text);
    app.stop().await;
}

async fn dry_run(backend: Backend) {
    let app = spawn_app(backend).await;
    app.acme("acme").await;
    let export = app.get("/v1/tenants/acme/export", ADMIN).await.expect(200);
    let log = app.audit_log("acme", "").await;
    let decision = app
        .get("/v1/tenants/acme/flows/mia-flow/decision", ADMIN)
        .await
        .expect(200)
        .json();
    assert_eq!(decision["allowed"], true);

    // Removing mia's premium licence would stop her premium flow; nothing else.
    let ask = json!({"addLicenses": [], "removeLicenses": ["power-automate-per-user"]});
    let r = app
        .post(
            "/v1/tenants/acme/users/mia/assignLicense?dry_run=true",
            ADMIN,
            ask.clone(),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(r["dry_run"], true);
    assert_eq!(
        r["flips"],
        json!([{"kind": "flow", "id": "mia-flow", "allowed_before": true, "allowed_after": false}])
    );
    let changes = r["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["action"], "assign-license");
    assert_eq!(changes[0]["item"], "mia");
    assert_eq!(
        changes[0]["before"]["licenses"],
        json!(["microsoft-365-business-standard", "power-automate-per-user"])
    );
    assert_eq!(
        changes[0]["after"]["licenses"],
        json!(["microsoft-365-business-standard"])
    );

    // Other dry runs: a PATCH, a delete, a create, a flow licence, allocations, a tenant deletion.
    let etag = app
        .get("/v1/tenants/acme/users/mia", ADMIN)
        .await
        .expect(200)
        .etag();
    let r = app
        .patch(
            "/v1/tenants/acme/users/mia?dry_run=true",
            ADMIN,
            Some(&etag),
            json!({"licenses": ["microsoft-365-business-standard"]}),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(r["flips"][0]["id"], "mia-flow");
    let r = app
        .delete("/v1/tenants/acme/flows/mia-flow?dry_run=true", ADMIN)
        .await
        .expect(200)
        .json();
    assert_eq!(r["changes"][0]["action"], "delete");
    assert_eq!(r["flips"], json!([]));
    app.post("/v1/tenants/acme/users?dry_run=true", ADMIN, json!({"id": "zed"}))
        .await
        .expect(200);
    // bo's premium-less flow would need a process licence: licensing it by process flips nothing here
    // (it is standard), but the change is reported.
    let r = app
        .put(
            "/v1/tenants/acme/flows/bo-flow/license?dry_run=true",
            ADMIN,
            None,
            json!({"license": "process"}),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(r["changes"][0]["after"], json!({"license": "process"}));
    app.send(
        Method::PATCH,
        "/v1/tenants/acme/environments/e2/allocations?dry_run=true",
        Some(ADMIN),
        &[],
        Body::Json(
            json!({"currencyAllocations": [{"currencyType": "power-automate-process", "allocated": 0}]}),
        ),
    )
    .await
    .expect(200);
    app.delete("/v1/tenants/acme?dry_run=true", ADMIN)
        .await
        .expect(200);
    // A dry run that would fail fails the same way.
    app.delete("/v1/tenants/acme/users/mia?dry_run=true", ADMIN)
        .await
        .expect(409);

    // Nothing changed: the export, its ETag, the log, the decision.
    let after = app.get("/v1/tenants/acme/export", ADMIN).await.expect(200);
    assert_eq!(after.text, export.text);
    assert_eq!(after.etag(), export.etag());
    assert_eq!(app.audit_log("acme", "").await, log);
    assert_eq!(
        app.get("/v1/tenants/acme/flows/mia-flow/decision", ADMIN)
            .await
            .expect(200)
            .json(),
        decision
    );
    app.get("/v1/tenants/acme/users/zed", ADMIN).await.expect(404);

    // Done for real, the change flips the flow the dry run named.
    app.post("/v1/tenants/acme/users/mia/assignLicense", ADMIN, ask)
        .await
        .expect(200);
    let now = app
        .get("/v1/tenants/acme/flows/mia-flow/decision", ADMIN)
        .await
        .expect(200)
        .json();
    assert_eq!(now["allowed"], false);
    assert_eq!(app.audit_log("acme", "").await.len(), log.len() + 1);
    app.stop().await;
}

on_every_backend!(idempotent_retries_replay_the_first_answer, idempotency);
on_every_backend!(if_match_refuses_lost_updates, etags);
on_every_backend!(dry_runs_change_nothing_and_report_flips, dry_run);

async fn subscription_ids(backend: Backend) {
    let app = spawn_app(backend).await;
    let toml = "[tenant]\nid = \"subs\"\n\n[[subscriptions]]\nsku = \"power-automate-premium\"\nquantity = 2\n\n\
                [[subscriptions]]\nid = \"sub-1\"\nsku = \"power-apps-per-user\"\nquantity = 1\n\n\
                [[subscriptions]]\nsku = \"power-automate-process\"\nquantity = 1\n";
    app.create_tenant_toml(toml, None).await.expect(201);
    // The unnamed ones are named, skipping the id taken; the named one keeps its id.
    let subs = app
        .get("/v1/tenants/subs/subscriptions", ADMIN)
        .await
        .expect(200)
        .json();
    let ids: Vec<&str> = subs
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["sub-2", "sub-1", "sub-3"], "{subs}");
    // Deleting one leaves the others where they were.
    app.delete("/v1/tenants/subs/subscriptions/sub-2", ADMIN)
        .await
        .expect(204);
    let process = app
        .get("/v1/tenants/subs/subscriptions/sub-3", ADMIN)
        .await
        .expect(200)
        .json();
    assert_eq!(process["sku"], "power-automate-process");
}
on_every_backend!(subscriptions_get_ids_that_stay, subscription_ids);
