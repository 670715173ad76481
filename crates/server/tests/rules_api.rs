//! The rulebook over HTTP (`GET /v1/rules`, `GET /v1/rules/{rule}`) and BUY-5 (a maker asks an admin for a
//! licence; the admin sees the request and assigns it).
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad answer"
)]

mod common;

use common::{ADMIN, Backend, Body, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};

/// Every valid key, whatever its role, reads the rulebook; no key reads nothing.
async fn rules_are_readable_by_any_key(backend: Backend) {
    let app = spawn_app(backend).await;
    app.acme("acme").await;
    let (reader, _) = app.key("acme", json!({"role": "reader"})).await;
    let (maker, _) = app.key("acme", json!({"role": "maker", "user": "mia"})).await;
    for key in [ADMIN, reader.as_str(), maker.as_str()] {
        let all = app.get("/v1/rules", key).await.expect(200).json();
        let ids: Vec<&str> = all["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        let want: Vec<&str> = entitle_core::Rule::ALL.iter().map(|r| r.id()).collect();
        assert_eq!(ids, want, "{backend}");
    }
    let flow4 = app.get("/v1/rules/FLOW-4", &reader).await.expect(200).json();
    assert_eq!(flow4["id"], "FLOW-4", "{flow4}");
    assert_eq!(flow4["family"], "FLOW");
    assert!(flow4["title"].as_str().unwrap().contains("premium"), "{flow4}");
    assert!(!flow4["reading"].as_str().unwrap().is_empty());
    let quote = &flow4["seed_quotes"][0];
    assert_eq!(quote["seed"], "002", "{quote}");
    assert_eq!(quote["language"], "ro");
    assert!(!quote["gloss"].as_str().unwrap().is_empty());
    assert!(
        flow4["tests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t.as_str().unwrap().starts_with("flow_4_")),
        "{flow4}"
    );
    // As people type it.
    let lower = app.get("/v1/rules/flow_4", &maker).await.expect(200).json();
    assert_eq!(lower["id"], "FLOW-4");
    let r = app.send(Method::GET, "/v1/rules", None, &[], Body::None).await;
    assert_eq!(r.status, 401, "{}", r.text);
    app.stop().await;
}

on_every_backend!(rules_read_by_every_valid_key, rules_are_readable_by_any_key);

/// An unknown ID is a 404 problem that names it and suggests close IDs.
async fn unknown_rule(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app.get("/v1/rules/FLOW-26", ADMIN).await.expect(404);
    assert!(r.is_problem(), "{}", r.text);
    let v: Value = r.json();
    let detail = v["detail"].as_str().unwrap();
    assert!(detail.contains("FLOW-26"), "{detail}");
    assert!(detail.contains("FLOW-25"), "{detail}");
    let r = app.get("/v1/rules/nothing", ADMIN).await.expect(404);
    assert!(r.is_problem(), "{}", r.text);
    app.stop().await;
}

on_every_backend!(an_unknown_rule_is_a_404_with_suggestions, unknown_rule);

/// BUY-5: a maker asks for a licence for himself; an admin sees the pending request and approves it, which
/// assigns the licence.
async fn licence_request(backend: Backend) {
    let app = spawn_app(backend).await;
    app.acme("acme").await;
    let (maker, _) = app.key("acme", json!({"role": "maker", "user": "bo"})).await;
    let (billing, _) = app.key("acme", json!({"role": "billing-admin"})).await;
    app.post(
        "/v1/tenants/acme/license-requests",
        &maker,
        json!({"id": "r1", "user": "bo", "sku": "power-automate-per-user", "note": "a premium flow"}),
    )
    .await
    .expect(201);
    let seen = app
        .get("/v1/tenants/acme/license-requests/r1", &billing)
        .await
        .expect(200)
        .json();
    assert_eq!(seen["state"], "pending", "{seen}");
    assert_eq!(seen["user"], "bo", "{seen}");
    let decided = app
        .post(
            "/v1/tenants/acme/license-requests/r1/approve",
            &billing,
            json!({}),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(decided["state"], "approved", "{decided}");
    let bo = app
        .get("/v1/tenants/acme/users/bo", &billing)
        .await
        .expect(200)
        .json();
    assert!(
        bo["licenses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "power-automate-per-user"),
        "{bo}"
    );
    app.stop().await;
}

on_every_backend!(
    buy_5_an_admin_sees_a_licence_request_and_assigns_it,
    licence_request
);
