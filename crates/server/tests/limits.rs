//! Limits at the HTTP door: quantities past the documented maximum and ids outside the id grammar are refused
//! with problem+json naming the field (never a 500, never a 201 for something that can never be read again), and
//! allocations stay within the units bought, like `assignLicense`.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad answer"
)]

mod common;

use common::{ADMIN, Backend, Body, Resp, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};

#[track_caller]
fn problem(r: &Resp, status: u16, pointer: &str) -> Value {
    assert_eq!(
        r.status,
        status,
        "{}",
        r.text.chars().take(500).collect::<String>()
    );
    assert!(r.is_problem(), "content-type {:?}", r.header("content-type"));
    let v = r.json();
    assert_eq!(v["status"], status);
    assert_eq!(
        v["pointer"],
        pointer,
        "{}",
        r.text.chars().take(500).collect::<String>()
    );
    v
}

async fn quantities(backend: Backend) {
    let app = spawn_app(backend).await;
    // Two environments with u64::MAX allocations each: their sum overflowed while building the snapshot.
    let body = json!({
        "tenant": {"id": "big", "at": "2024-06-03"},
        "environments": [
            {"id": "a", "default": true, "allocations": {"power-automate-process": u64::MAX}},
            {"id": "b", "allocations": {"power-automate-process": u64::MAX}},
        ],
    });
    let r = app.post("/v1/tenants", ADMIN, body).await;
    let v = problem(&r, 422, "/environments/0/allocations/power-automate-process");
    assert!(v["detail"].as_str().unwrap_or("").contains("1000000000"), "{v}");
    // The same through PATCH …/allocations, and a subscription's quantity through POST …/subscriptions.
    app.acme("acme").await;
    let r = app
        .patch(
            "/v1/tenants/acme/environments/e2/allocations",
            ADMIN,
            None,
            json!({"currencyAllocations": [{"currencyType": "power-automate-process", "allocated": u64::MAX}]}),
        )
        .await;
    problem(&r, 422, "/currencyAllocations/0/allocated");
    let r = app
        .post(
            "/v1/tenants/acme/subscriptions",
            ADMIN,
            json!({"id": "lots", "sku": "power-automate-process", "quantity": 4_000_000_000u64}),
        )
        .await;
    problem(&r, 422, "/quantity");
    app.get("/healthz", ADMIN).await.expect(200);
    app.stop().await;
}

on_every_backend!(item_7_quantities_past_the_maximum_are_422_never_500, quantities);

async fn allocations_within_units(backend: Backend) {
    let app = spawn_app(backend).await;
    app.acme("acme").await;
    let path = "/v1/tenants/acme/environments/default/allocations";
    let alloc =
        |n: u64| json!({"currencyAllocations": [{"currencyType": "power-automate-process", "allocated": n}]});
    // acme bought 3 process units and allocated 1 to e2: 5 more is beyond what was bought.
    let r = app.patch(path, ADMIN, None, alloc(5)).await;
    let v = problem(&r, 409, "/currencyAllocations/0/allocated");
    assert!(
        v["detail"]
            .as_str()
            .unwrap_or("")
            .contains("power-automate-process"),
        "{v}"
    );
    // Like assignLicense for the same SKU situation.
    let r = app
        .post(
            "/v1/tenants/acme/users/bo/assignLicense",
            ADMIN,
            json!({"addLicenses": [{"skuId": "power-automate-per-user"}, {"skuId": "power-automate-per-user"},
                {"skuId": "power-automate-per-user"}, {"skuId": "power-automate-per-user"},
                {"skuId": "power-automate-per-user"}], "removeLicenses": []}),
        )
        .await;
    problem(&r, 409, "/addLicenses/0/skuId");
    // Up to what was bought is fine, and so is giving units back.
    app.patch(path, ADMIN, None, alloc(2)).await.expect(200);
    app.patch(path, ADMIN, None, alloc(0)).await.expect(200);
    let got = app.get(path, ADMIN).await.expect(200).json();
    assert_eq!(got["currencyAllocations"], json!([]), "{got}");
    app.stop().await;
}

on_every_backend!(
    item_7_allocations_beyond_the_units_bought_are_409,
    allocations_within_units
);

async fn ids_at_create(backend: Backend) {
    let app = spawn_app(backend).await;
    app.acme("acme").await;
    let long = "u".repeat(64 * 1024);
    let r = app
        .post("/v1/tenants/acme/users", ADMIN, json!({"id": long}))
        .await;
    let v = problem(&r, 422, "/id");
    assert!(
        r.text.len() < 2_000,
        "the answer repeats the id: {} bytes",
        r.text.len()
    );
    assert!(v["detail"].as_str().unwrap_or("").contains("128"), "{v}");
    assert!(r.header("location").is_none());
    for (path, body, pointer) in [
        (
            "/v1/tenants/acme/flows",
            json!({"id": "a/b", "environment": "default", "owner": "mia"}),
            "/id",
        ),
        ("/v1/tenants/acme/environments", json!({"id": ".."}), "/id"),
        ("/v1/tenants/acme/entities", json!({"id": "new order"}), "/id"),
        (
            "/v1/tenants/acme/license-requests",
            json!({"id": "r?1", "user": "bo", "sku": "power-automate-per-user"}),
            "/id",
        ),
        ("/v1/tenants", json!({"tenant": {"id": "all*"}}), "/tenant/id"),
        (
            "/v1/tenants",
            json!({"tenant": {"id": "x".repeat(129)}}),
            "/tenant/id",
        ),
    ] {
        let r = app.post(path, ADMIN, body).await;
        problem(&r, 422, pointer);
    }
    // Ids that look like mail addresses are fine.
    app.post(
        "/v1/tenants/acme/users",
        ADMIN,
        json!({"id": "ann.lee+ops@contoso.com"}),
    )
    .await
    .expect(201);
    app.get("/v1/tenants/acme/users/ann.lee+ops@contoso.com", ADMIN)
        .await
        .expect(200);
    assert_eq!(app.audit_log("acme", "").await.len(), 2);
    app.stop().await;
}

on_every_backend!(
    item_8_a_64_kb_id_is_refused_at_create_with_a_pointer,
    ids_at_create
);

async fn ids_at_the_door(backend: Backend) {
    let app = spawn_app(backend).await;
    app.acme("acme").await;
    let long = "x".repeat(200);
    for (method, path, pointer) in [
        (Method::GET, format!("/v1/tenants/acme/users/{long}"), "path:id"),
        (Method::GET, format!("/v1/tenants/{long}"), "path:t"),
        (Method::GET, "/v1/tenants/a*b/export".to_owned(), "path:t"),
        (
            Method::GET,
            "/v1/tenants/acme/flows/a%20b/decision".to_owned(),
            "path:f",
        ),
        (
            Method::GET,
            "/v1/tenants/acme/apps/.hidden/decision".to_owned(),
            "path:a",
        ),
        (
            Method::DELETE,
            "/v1/tenants/acme/flows/%2e%2ex".to_owned(),
            "path:id",
        ),
        (
            Method::POST,
            "/v1/tenants/acme/users/a%2Fb/assignLicense".to_owned(),
            "path:u",
        ),
    ] {
        let r = app
            .send(method.clone(), &path, Some(ADMIN), &[], Body::None)
            .await;
        let v = problem(&r, 400, pointer);
        assert!(
            v["detail"].as_str().unwrap_or("").contains("128"),
            "{method} {path}: {v}"
        );
    }
    // Before any work: the body is not read, the key not even checked.
    let r = app
        .send(
            Method::PATCH,
            &format!("/v1/tenants/acme/environments/{long}/allocations"),
            None,
            &[],
            Body::Raw(Some("application/json".into()), b"{not json".to_vec()),
        )
        .await;
    problem(&r, 400, "path:e");
    // Well-formed ids go on as before.
    app.get("/v1/tenants/acme/users/nobody", ADMIN).await.expect(404);
    app.get("/v1/tenants/acme/users/mia", ADMIN).await.expect(200);
    assert_eq!(app.audit_log("acme", "").await.len(), 1);
    app.stop().await;
}

on_every_backend!(
    item_8_a_long_or_ill_formed_path_id_is_refused_at_the_door,
    ids_at_the_door
);

async fn deep_toml(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = vec!["a"; 65_536].join(".");
    // At the root (the slow shape: minutes before the limit) and under a table.
    for (text, line) in [
        (format!("{key} = 1\n[tenant]\nid = \"deep\"\n"), ":1:"),
        (format!("[tenant]\nid = \"deep\"\n{key} = 1\n"), ":3:"),
    ] {
        let started = std::time::Instant::now();
        let r = app.create_tenant_toml(&text, None).await;
        let took = started.elapsed();
        let v = problem(&r, 400, "");
        assert!(took < std::time::Duration::from_secs(1), "took {took:?}");
        assert!(v["detail"].as_str().unwrap_or("").contains(line), "{v}");
    }
    app.stop().await;
}

on_every_backend!(item_6_a_64k_deep_dotted_key_toml_is_refused_quickly, deep_toml);
