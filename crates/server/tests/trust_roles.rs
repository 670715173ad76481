//! Trust in roles (issue "Trust", item 3): each bypass the hostile test reproduced, through the generic item
//! routes, closed. The whole matrix (role x route x own/other item x own/other tenant, guarded fields included)
//! is `roles.rs`; these name the four reproduced cases and check that nothing changed.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad answer"
)]

mod common;

use common::{ADMIN, Backend, spawn_app};
use serde_json::json;

async fn bypasses(backend: Backend) {
    let app = spawn_app(backend).await;
    app.acme("acme").await;
    let before = app.get("/v1/tenants/acme/export", ADMIN).await.expect(200).text;

    // An environment admin raising allocations through PATCH …/environments/{e}.
    let (e2_admin, _) = app
        .key(
            "acme",
            json!({"role": "environment-admin", "environments": ["e2"]}),
        )
        .await;
    let etag = app.get("/v1/tenants/acme/environments/e2", ADMIN).await.etag();
    let r = app
        .patch(
            "/v1/tenants/acme/environments/e2",
            &e2_admin,
            Some(&etag),
            json!({"allocations": {"power-automate-process": 3}}),
        )
        .await;
    assert_eq!(r.status, 403, "environment admin raises allocations: {}", r.text);
    // Its own fields stay its to change.
    app.patch(
        "/v1/tenants/acme/environments/e2?dry_run=true",
        &e2_admin,
        Some(&etag),
        json!({"kind": "sandbox"}),
    )
    .await
    .expect(200);

    // A maker setting its own flow's licence mode through PATCH …/flows/{f}, or creating a flow with one.
    let (mia, _) = app.key("acme", json!({"role": "maker", "user": "mia"})).await;
    let etag = app.get("/v1/tenants/acme/flows/mia-flow", ADMIN).await.etag();
    let r = app
        .patch(
            "/v1/tenants/acme/flows/mia-flow",
            &mia,
            Some(&etag),
            json!({"license": "process"}),
        )
        .await;
    assert_eq!(r.status, 403, "maker sets license: process: {}", r.text);
    let r = app
        .post(
            "/v1/tenants/acme/flows",
            &mia,
            json!({"id": "mia-2", "environment": "default", "owner": "mia", "trigger": "scheduled", "license": "process"}),
        )
        .await;
    assert_eq!(r.status, 403, "maker creates a process-licensed flow: {}", r.text);
    let r = app
        .put(
            "/v1/tenants/acme/users/mia",
            &mia,
            Some(&app.get("/v1/tenants/acme/users/mia", ADMIN).await.etag()),
            json!({"id": "mia", "licenses": ["microsoft-365-business-standard", "power-automate-per-user", "power-automate-process"]}),
        )
        .await;
    assert_eq!(r.status, 403, "maker assigns itself a licence: {}", r.text);

    // A maker reading another maker's flow by naming itself.
    for path in [
        "/v1/tenants/acme/flows/bo-flow/decision?as=mia",
        "/v1/tenants/acme/limits?flow=bo-flow&as=mia",
    ] {
        let r = app.get(path, &mia).await;
        assert_eq!(r.status, 403, "{path}: {}", r.text);
    }
    app.get("/v1/tenants/acme/flows/mia-flow/decision?as=bo", &mia)
        .await
        .expect(200);

    // A reader reading key ids, roles and names in the audit log.
    let (reader, _) = app
        .key("acme", json!({"role": "reader", "name": "secret-name"}))
        .await;
    let log = app
        .get("/v1/tenants/acme/audit-log?kind=key&limit=1000", &reader)
        .await
        .expect(200)
        .json();
    assert_eq!(log["entries"], json!([]), "a reader sees no key entries: {log}");
    let all = app
        .get("/v1/tenants/acme/audit-log?limit=1000", &reader)
        .await
        .expect(200)
        .text;
    assert!(!all.contains("secret-name") && !all.contains("\"key\""), "{all}");
    // Whoever may read keys still sees them.
    let admin_view = app.audit_log("acme", "kind=key").await;
    assert!(admin_view.len() >= 3, "{admin_view:#?}");

    let after = app.get("/v1/tenants/acme/export", ADMIN).await.expect(200).text;
    assert_eq!(before, after, "no refused change changed anything");
    app.stop().await;
}
on_every_backend!(item_3_no_role_bypass_through_the_generic_routes, bypasses);
