//! Bad input gets `application/problem+json` that says what and where: the JSON pointer of the field, the
//! query parameter or the header.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad answer"
)]

mod common;

use common::{ADMIN, Backend, Body, Resp, TestApp, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};

#[track_caller]
fn problem(r: &Resp, status: u16, pointer: &str) -> Value {
    assert_eq!(r.status, status, "{}", r.text);
    assert!(r.is_problem(), "content-type {:?}", r.header("content-type"));
    let v = r.json();
    assert_eq!(v["status"], status);
    assert_eq!(v["pointer"], pointer, "{}", r.text);
    assert!(v["type"].as_str().is_some_and(|t| t.starts_with("https://")));
    assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()));
    v
}

async fn raw(app: &TestApp, method: Method, path: &str, ct: Option<&str>, body: &[u8]) -> Resp {
    app.send(
        method,
        path,
        Some(ADMIN),
        &[],
        Body::Raw(ct.map(str::to_owned), body.to_vec()),
    )
    .await
}

async fn problems(backend: Backend) {
    let app = spawn_app(backend).await;
    app.acme("acme").await;
    let export = app.get("/v1/tenants/acme/export", ADMIN).await.expect(200).text;
    let flows = "/v1/tenants/acme/flows";
    let flow = |extra: Value| {
        let mut f = json!({
            "id": "f9", "environment": "default", "trigger": "scheduled", "owner": "mia",
            "connectors": ["shared_office365"], "created": "2024-02-01"
        });
        if let (Some(o), Some(e)) = (f.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                o.insert(k.clone(), v.clone());
            }
        }
        f
    };

    // An unknown field.
    let r = app.post(flows, ADMIN, flow(json!({"colour": "red"}))).await;
    let v = problem(&r, 422, "/colour");
    assert!(v["detail"].as_str().unwrap_or("").contains("colour"), "{v}");
    // An unknown field further in.
    let r = app
        .post(
            "/v1/tenants/acme/users/bo/assignLicense",
            ADMIN,
            json!({"addLicenses": [{"skuId": "power-automate-per-user", "plans": []}], "removeLicenses": []}),
        )
        .await;
    problem(&r, 422, "/addLicenses/0/plans");
    // Wrong types.
    let r = app.post(flows, ADMIN, flow(json!({"connectors": "http"}))).await;
    problem(&r, 422, "/connectors");
    let r = app
        .post(flows, ADMIN, flow(json!({"connectors": ["http", 7]})))
        .await;
    problem(&r, 422, "/connectors/1");
    let r = app
        .post(flows, ADMIN, flow(json!({"created": "yesterday"})))
        .await;
    problem(&r, 422, "/created");
    let r = app
        .post(flows, ADMIN, flow(json!({"trigger": "sometimes"})))
        .await;
    problem(&r, 422, "/trigger");
    // A missing field.
    let mut f = flow(json!({}));
    f.as_object_mut().map(|o| o.remove("owner"));
    let r = app.post(flows, ADMIN, f).await;
    problem(&r, 422, "");
    // Dangling references: a flow owner, an environment that does not exist.
    let r = app.post(flows, ADMIN, flow(json!({"owner": "ghost"}))).await;
    let v = problem(&r, 422, "/owner");
    assert!(v["detail"].as_str().unwrap_or("").contains("ghost"), "{v}");
    let r = app
        .post(flows, ADMIN, flow(json!({"environment": "nowhere"})))
        .await;
    problem(&r, 422, "/environment");
    let r = app
        .post(
            "/v1/tenants/acme/apps",
            ADMIN,
            json!({"id": "a9", "environment": "default", "users": ["mia", "ghost"]}),
        )
        .await;
    problem(&r, 422, "/users/1");
    // The same through PATCH: pointers into the merged item.
    let e = app
        .get("/v1/tenants/acme/flows/bo-flow", ADMIN)
        .await
        .expect(200)
        .etag();
    let r = app
        .patch(
            "/v1/tenants/acme/flows/bo-flow",
            ADMIN,
            Some(&e),
            json!({"owner": "ghost"}),
        )
        .await;
    problem(&r, 422, "/owner");
    // Licence and allocation bodies.
    let r = app
        .post(
            "/v1/tenants/acme/users/bo/assignLicense",
            ADMIN,
            json!({"addLicenses": [{"skuId": "no-such-sku"}], "removeLicenses": []}),
        )
        .await;
    problem(&r, 422, "/addLicenses/0/skuId");
    let r = app
        .post(
            "/v1/tenants/acme/users/bo/assignLicense",
            ADMIN,
            json!({"addLicenses": [], "removeLicenses": ["power-apps-per-user"]}),
        )
        .await;
    problem(&r, 422, "/removeLicenses/0");
    let r = app
        .send(
            Method::PATCH,
            "/v1/tenants/acme/environments/e2/allocations",
            Some(ADMIN),
            &[],
            Body::Json(
                json!({"currencyAllocations": [{"currencyType": "power-automate-process", "allocated": -1}]}),
            ),
        )
        .await;
    problem(&r, 422, "/currencyAllocations/0/allocated");
    // A user's plan is assigned, never allocated to an environment.
    let r = app
        .send(
            Method::PATCH,
            "/v1/tenants/acme/environments/e2/allocations",
            Some(ADMIN),
            &[],
            Body::Json(json!({"currencyAllocations": [
                {"currencyType": "power-automate-process", "allocated": 1},
                {"currencyType": "power-apps-per-user", "allocated": 2},
            ]})),
        )
        .await;
    problem(&r, 422, "/currencyAllocations/1/currencyType");
    assert!(r.text.contains("user-scoped"), "{}", r.text);
    let r = app
        .post(
            "/v1/tenants/acme/purchases:preview",
            ADMIN,
            json!({"sku": "power-automate-per-user", "quantity": 1, "as": "ghost"}),
        )
        .await;
    problem(&r, 422, "/as");
    // Keys.
    let r = app
        .post(
            "/v1/tenants/acme/keys",
            ADMIN,
            json!({"role": "maker", "user": "ghost"}),
        )
        .await;
    problem(&r, 422, "/user");
    let r = app
        .post(
            "/v1/tenants/acme/keys",
            ADMIN,
            json!({"role": "environment-admin", "environments": ["e2", "e9"]}),
        )
        .await;
    problem(&r, 422, "/environments/1");
    let r = app
        .post("/v1/tenants/acme/keys", ADMIN, json!({"role": "root"}))
        .await;
    problem(&r, 422, "/role");

    // Not JSON at all: 400 pointing at the whole body. Another media type: 415.
    let r = raw(&app, Method::POST, flows, Some("application/json"), b"{\"id\": ").await;
    problem(&r, 400, "");
    let r = raw(
        &app,
        Method::POST,
        flows,
        Some("application/json"),
        br#"{"id": "f8", "environment": "default", "owner": "mia"} {}"#,
    )
    .await;
    problem(&r, 400, "");
    let r = raw(&app, Method::POST, flows, Some("text/plain"), b"{}").await;
    problem(&r, 415, "header:Content-Type");
    // Queries and headers.
    let r = app.get("/v1/tenants/acme/audit?at=someday", ADMIN).await;
    problem(&r, 400, "query:at");
    let r = app.get("/v1/tenants/acme/audit?colour=red", ADMIN).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.is_problem());
    let r = app.get("/v1/tenants/acme/limits", ADMIN).await;
    problem(&r, 400, "query:user");
    let r = app.get("/v1/tenants/acme/limits?user=ghost", ADMIN).await;
    problem(&r, 404, "query:user");
    let r = app.get("/v1/tenants/acme/audit-log?limit=0", ADMIN).await;
    problem(&r, 400, "query:limit");
    let r = app.get("/v1/tenants/acme/export?format=yaml", ADMIN).await;
    problem(&r, 400, "query:format");
    let r = app
        .send(
            Method::GET,
            "/v1/tenants",
            None,
            &[("authorization", "Basic eDp5")],
            Body::None,
        )
        .await;
    problem(&r, 401, "header:Authorization");

    // A scenario with problems: every one listed, each with its pointer; the first is `pointer`.
    let bad = common::acme_as("bad")
        .replace(
            "owner = \"bo\"\nconnectors = [\"shared_sharepointonline\", \"shared_office365\"]",
            "owner = \"ghost\"\nconnectors = [\"shared_sharepointonline\", \"shared_office365\"]",
        )
        .replace(
            "environment = \"e2\"\nowner = \"bo\"",
            "environment = \"e9\"\nowner = \"bo\"",
        );
    let r = app.create_tenant_toml(&bad, None).await;
    let v = problem(&r, 422, "/apps/1/environment");
    let pointers: Vec<&str> = v["errors"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["pointer"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(pointers, vec!["/apps/1/environment", "/flows/1/owner"], "{v}");
    // TOML that does not parse: 400, naming the line.
    let r = app
        .create_tenant_toml("[tenant]\nid = \"x\"\nat = \n", None)
        .await;
    let v = problem(&r, 422, "/tenant/at");
    assert!(v["detail"].as_str().unwrap_or("").contains("body:3:"), "{v}");
    let r = app.create_tenant_toml("[tenant\nid = \"x\"\n", None).await;
    let v = problem(&r, 400, "");
    assert!(v["detail"].as_str().unwrap_or("").contains("body:1:"), "{v}");
    let r = app
        .send(
            Method::POST,
            "/v1/tenants",
            Some(ADMIN),
            &[],
            Body::Raw(Some("application/toml".into()), vec![0xff, 0xfe, b'[']),
        )
        .await;
    problem(&r, 400, "");
    let r = app.create_tenant_toml(&common::acme_as("acme"), None).await;
    problem(&r, 409, "/tenant/id");
    let r = app
        .create_tenant_toml(&common::acme_as("c"), Some("vintage"))
        .await;
    problem(&r, 400, "query:catalog");

    // A change that would leave the tenant inconsistent: 409, pointing at what it breaks.
    let r = app.delete("/v1/tenants/acme/users/mia", ADMIN).await;
    let v = problem(&r, 409, "/apps/0/users/0");
    let pointers: Vec<&str> = v["errors"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["pointer"].as_str()).collect())
        .unwrap_or_default();
    assert!(pointers.contains(&"/flows/0/owner"), "{v}");
    let r = app.delete("/v1/tenants/acme/environments/e2", ADMIN).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.is_problem());
    let r = app.delete("/v1/tenants/acme/entities/new_order", ADMIN).await;
    assert_eq!(r.status, 409, "{}", r.text);
    // An item that exists already, and a rename.
    let r = app.post(flows, ADMIN, flow(json!({"id": "bo-flow"}))).await;
    problem(&r, 409, "/id");
    let e = app
        .get("/v1/tenants/acme/flows/bo-flow", ADMIN)
        .await
        .expect(200)
        .etag();
    let r = app
        .patch(
            "/v1/tenants/acme/flows/bo-flow",
            ADMIN,
            Some(&e),
            json!({"id": "renamed"}),
        )
        .await;
    problem(&r, 422, "/id");
    // Unknown routes, items and methods.
    let r = app.get("/v1/tenants/acme/widgets", ADMIN).await;
    assert_eq!(r.status, 404);
    assert!(r.is_problem());
    let r = app.get("/v1/tenants/acme/flows/ghost", ADMIN).await;
    assert_eq!(r.status, 404);
    assert!(r.is_problem());
    let r = app.get("/v2/anything", ADMIN).await;
    assert_eq!(r.status, 404);
    assert!(r.is_problem());
    let r = app
        .send(Method::PATCH, "/v1/tenants", Some(ADMIN), &[], Body::None)
        .await;
    assert_eq!(r.status, 405);
    assert!(r.is_problem());

    // None of it changed anything.
    assert_eq!(
        app.get("/v1/tenants/acme/export", ADMIN).await.expect(200).text,
        export
    );
    let log = app.audit_log("acme", "").await;
    assert_eq!(log.len(), 1, "{log:#?}");
    app.stop().await;
}

on_every_backend!(bad_input_gets_problem_json_with_pointers, problems);

/// NUL characters (which PostgreSQL's text cannot hold) in queries, ids and names get a 4xx that points at
/// them — never a 500 — on either store.
async fn nul_characters(backend: Backend) {
    let app = spawn_app(backend).await;
    app.acme("acme").await;
    for q in ["kind", "item", "actor", "action"] {
        let r = app
            .get(&format!("/v1/tenants/acme/audit-log?{q}=a%00b"), ADMIN)
            .await;
        problem(&r, 400, &format!("query:{q}"));
    }
    // Not an id (the id grammar): refused at the door, naming the path parameter.
    let r = app.get("/v1/tenants/%00/audit-log", ADMIN).await;
    let v = problem(&r, 400, "path:t");
    assert!(v["detail"].as_str().unwrap_or("").contains("NUL"), "{v}");
    for (path, body, pointer) in [
        ("/v1/tenants/acme/entities", json!({"id": "new_\u{0}x"}), "/id"),
        (
            "/v1/tenants/acme/users",
            json!({"id": "bo", "licenses": ["x\u{0}"]}),
            "/licenses/0",
        ),
        (
            "/v1/tenants/acme/keys",
            json!({"role": "reader", "name": "a\u{0}b"}),
            "/name",
        ),
        (
            "/v1/tenants/acme/purchases:preview",
            json!({"sku": "\u{0}"}),
            "/sku",
        ),
        ("/v1/tenants", json!({"tenant": {"id": "t\u{0}"}}), "/tenant/id"),
    ] {
        let r = app.post(path, ADMIN, body).await;
        let v = problem(&r, 422, pointer);
        assert!(v["detail"].as_str().unwrap_or("").contains("NUL"), "{v}");
    }
    let r = app
        .create_tenant_toml("[tenant]\nid = \"nul\"\n[[users]]\nid = \"a\\u0000b\"\n", None)
        .await;
    problem(&r, 422, "/users/0/id");
    // An escaped backslash before `u0000` is no NUL (in free text: a backslash is not in the id grammar).
    app.post(
        "/v1/tenants/acme/license-requests",
        ADMIN,
        json!({"id": "r1", "user": "bo", "sku": "power-automate-per-user", "note": "new_\\u0000"}),
    )
    .await
    .expect(201);
    app.get("/healthz", ADMIN).await.expect(200);
    assert_eq!(app.audit_log("acme", "").await.len(), 2);
    app.stop().await;
}

on_every_backend!(nul_characters_are_never_a_server_error, nul_characters);
