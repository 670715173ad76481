//! `POST /v1/tenants:import`: the CLI's import over HTTP, one multipart part per export. A dry run answers the
//! summary and creates nothing; the real call creates the tenant, whose audit is the CLI's; non-operators are
//! refused as for `POST /v1/tenants`; a malformed export is a 400 naming the part, file, line and field.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad answer"
)]

mod common;

use common::{ADMIN, Backend, Body, Opts, TestApp, spawn_app, spawn_with};
use reqwest::Method;

const BOUNDARY: &str = "entitle-test-boundary-7f3a";

fn fixture(rel: &str) -> Vec<u8> {
    let path = common::workspace()
        .join("crates/cli/tests/fixtures/import")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A multipart body: one part per (name, fixture file).
fn multipart(parts: &[(&str, &str)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file) in parts {
        let leaf = file.rsplit('/').next().unwrap();
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{leaf}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(&fixture(file));
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn import(app: &TestApp, query: &str, key: &str, body: Vec<u8>) -> common::Resp {
    app.send(
        Method::POST,
        &format!("/v1/tenants:import{query}"),
        Some(key),
        &[],
        Body::Raw(Some(format!("multipart/form-data; boundary={BOUNDARY}")), body),
    )
    .await
}

const TENANT: &[(&str, &str)] = &[
    ("flows", "tenant/flows.json"),
    ("flows", "tenant/flows-thin.csv"),
    ("apps", "tenant/apps.json"),
    ("environments", "tenant/environments.csv"),
    ("users", "tenant/users.json"),
    ("skus", "tenant/skus.json"),
    ("allocations", "tenant/allocations.json"),
    ("capacity", "tenant/capacity.json"),
    ("at-risk", "tenant/at-risk.csv"),
];

async fn preview_then_create(backend: Backend) {
    let app = spawn_app(backend).await;
    // The preview: the summary, by name and count, and nothing created.
    let r = import(&app, "?dry_run=true&tenant=contoso", ADMIN, multipart(TENANT))
        .await
        .expect(200)
        .json();
    assert_eq!(r["dry_run"], true);
    assert_eq!(r["tenant"]["counts"]["flows"], 8);
    assert_eq!(r["summary"]["unknown_connectors"]["shared_acmeweather"], 1);
    assert_eq!(r["summary"]["flows_without_connectors"]["flows-thin.csv"], 1);
    assert_eq!(
        r["summary"]["missing_owners"]["9d3e7f10-2a3b-4c5d-8e6f-7a8b9c0d1e2f"],
        1
    );
    assert_eq!(r["summary"]["at_risk_disagreements"].as_array().unwrap().len(), 5);
    app.get("/v1/tenants/contoso", ADMIN).await.expect(404);

    // The import itself.
    let r = import(&app, "?tenant=contoso", ADMIN, multipart(TENANT))
        .await
        .expect(201)
        .json();
    assert_eq!(r["id"], "contoso");
    let audit = app
        .get("/v1/tenants/contoso/audit?at=2026-12-01", ADMIN)
        .await
        .expect(200)
        .json();
    let mut at_risk: Vec<&str> = audit["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["flow"].as_str().unwrap())
        .collect();
    at_risk.sort_unstable();
    let want: Vec<String> = [2, 4, 5, 6, 8]
        .iter()
        .map(|n| format!("1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e0{n}"))
        .collect();
    assert_eq!(at_risk, want);
    // Twice is a conflict, as for POST /v1/tenants.
    import(&app, "?tenant=contoso", ADMIN, multipart(TENANT))
        .await
        .expect(409);
    app.stop().await;
}

async fn refusals(backend: Backend) {
    let app = spawn_app(backend).await;
    // Malformed export: 400 naming the part, file, line and field.
    let r = import(
        &app,
        "",
        ADMIN,
        multipart(&[("flows", "malformed/flows-bad-guid.csv")]),
    )
    .await
    .expect(400)
    .json();
    assert_eq!(r["pointer"], "multipart:flows");
    assert_eq!(
        r["detail"],
        "flows-bad-guid.csv:3: FlowName: `Invoice approvals` is not a GUID"
    );
    // Not multipart: 415.
    let r = app.post("/v1/tenants:import", ADMIN, serde_json::json!({})).await;
    assert_eq!(r.status, 415, "{}", r.text);
    // No parts, or a body that is not multipart inside: 400.
    import(&app, "", ADMIN, format!("--{BOUNDARY}--\r\n").into_bytes())
        .await
        .expect(400);
    import(&app, "", ADMIN, b"not multipart".to_vec())
        .await
        .expect(400);
    // Only operators create tenants (as POST /v1/tenants).
    app.acme("acme").await;
    let (reader, _) = app
        .key("acme", serde_json::json!({"role": "global-admin", "name": "ga"}))
        .await;
    import(&app, "?dry_run=true", &reader, multipart(TENANT))
        .await
        .expect(403);
    app.stop().await;
}

async fn bounded(backend: Backend) {
    // The body is bounded like every other (the server's --max-body-bytes): beyond it, 413 before any parsing.
    let app = spawn_with(
        backend,
        Opts {
            max_body_bytes: Some(8 * 1024),
            ..Opts::default()
        },
    )
    .await;
    import(&app, "?dry_run=true", ADMIN, multipart(TENANT))
        .await
        .expect(413);
    import(
        &app,
        "?dry_run=true&tenant=small",
        ADMIN,
        multipart(&[("skus", "tenant/skus.json")]),
    )
    .await
    .expect(200);
    app.stop().await;
}

on_every_backend!(import_preview_then_create, preview_then_create);
on_every_backend!(import_body_is_bounded, bounded);
on_every_backend!(import_refusals, refusals);
