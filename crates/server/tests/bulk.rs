//! Bulk licence assignment (`POST …/users:assignLicense`): many users in one write, all or nothing, with a dry run
//! that names the decisions it turns, under the same rights and units checks as one `assignLicense`.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad answer"
)]

mod common;

use common::{ADMIN, Backend, TestApp, spawn_app};
use serde_json::{Value, json};

const BULK: &str = "/v1/tenants/acme/users:assignLicense";

async fn licenses(app: &TestApp, user: &str) -> Value {
    app.get(&format!("/v1/tenants/acme/users/{user}"), ADMIN)
        .await
        .expect(200)
        .json()["licenses"]
        .clone()
}

fn add(user: &str, sku: &str) -> Value {
    json!({"user": user, "addLicenses": [{"skuId": sku}], "removeLicenses": []})
}

async fn bulk_assignment(backend: Backend) {
    let app = spawn_app(backend).await;
    app.acme("acme").await;
    let log = app.audit_log("acme", "").await.len();
    let body = json!({"assignments": [
        add("bo", "power-automate-per-user"),
        add("cy", "power-automate-per-user"),
        {"user": "mia", "removeLicenses": ["power-automate-per-user"]},
    ]});

    // The dry run names the decision the change turns (mia's premium flow loses its licence), and changes nothing.
    let dry = app
        .post(&format!("{BULK}?dry_run=true"), ADMIN, body.clone())
        .await
        .expect(200)
        .json();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["changes"].as_array().map(Vec::len), Some(3), "{dry}");
    assert_eq!(dry["flips"][0]["id"], "mia-flow", "{dry}");
    assert_eq!(dry["flips"][0]["allowed_after"], false);
    assert_eq!(
        licenses(&app, "bo").await,
        json!(["microsoft-365-business-standard"])
    );
    assert_eq!(
        app.audit_log("acme", "").await.len(),
        log,
        "a dry run writes nothing"
    );

    // Done: every user changed, one audit entry each.
    let r = app.post(BULK, ADMIN, body).await.expect(200).json();
    assert_eq!(r["users"].as_array().map(Vec::len), Some(3), "{r}");
    assert_eq!(
        licenses(&app, "bo").await,
        json!(["microsoft-365-business-standard", "power-automate-per-user"])
    );
    assert_eq!(
        licenses(&app, "cy").await,
        json!(["microsoft-365-business-basic", "power-automate-per-user"])
    );
    assert_eq!(
        licenses(&app, "mia").await,
        json!(["microsoft-365-business-standard"])
    );
    let entries = app.audit_log("acme", "action=assign-license").await;
    assert_eq!(entries.len(), 3, "{entries:#?}");
    assert_eq!(app.audit_log("acme", "").await.len(), log + 3);
}
on_every_backend!(bulk_assignment_is_one_write_with_a_dry_run, bulk_assignment);

async fn all_or_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.acme("acme").await;
    let log = app.audit_log("acme", "").await.len();
    let before = licenses(&app, "bo").await;

    // A bad SKU in the second entry: refused whole, pointing at it.
    let r = app
        .post(
            BULK,
            ADMIN,
            json!({"assignments": [add("bo", "power-automate-per-user"), add("cy", "no-such-sku")]}),
        )
        .await
        .expect(422);
    assert_eq!(
        r.json()["pointer"],
        "/assignments/1/addLicenses/0/skuId",
        "{}",
        r.json()
    );
    // An unknown user.
    let r = app
        .post(
            BULK,
            ADMIN,
            json!({"assignments": [add("nobody", "power-automate-per-user")]}),
        )
        .await
        .expect(422);
    assert_eq!(r.json()["pointer"], "/assignments/0/user");
    // More units than bought (5, mia holds one): refused whole, naming the SKU and the field.
    let five: Vec<Value> = (0..5).map(|_| add("bo", "power-automate-per-user")).collect();
    let r = app
        .post(BULK, ADMIN, json!({"assignments": five}))
        .await
        .expect(409);
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap_or("")
            .contains("power-automate-per-user"),
        "{}",
        r.json()
    );
    assert_eq!(r.json()["pointer"], "/assignments/0/addLicenses/0/skuId");
    // Over the bound: refused before any work.
    let many: Vec<Value> = (0..20_001)
        .map(|_| add("bo", "power-automate-per-user"))
        .collect();
    let r = app
        .post(BULK, ADMIN, json!({"assignments": many}))
        .await
        .expect(422);
    assert_eq!(r.json()["pointer"], "/assignments");

    assert_eq!(licenses(&app, "bo").await, before, "nothing changed");
    assert_eq!(app.audit_log("acme", "").await.len(), log);
}
on_every_backend!(bulk_assignment_is_all_or_nothing, all_or_nothing);

async fn rights(backend: Backend) {
    let app = spawn_app(backend).await;
    app.acme("acme").await;
    // A maker (mia) may not assign licences, not even to itself; a reader neither.
    let (maker, _) = app.key("acme", json!({"role": "maker", "user": "mia"})).await;
    let (reader, _) = app.key("acme", json!({"role": "reader"})).await;
    for key in [&maker, &reader] {
        app.post(
            BULK,
            key,
            json!({"assignments": [add("mia", "power-automate-per-user")]}),
        )
        .await
        .expect(403);
    }
    // A billing admin may.
    let (la, _) = app.key("acme", json!({"role": "billing-admin"})).await;
    app.post(
        BULK,
        &la,
        json!({"assignments": [add("cy", "power-automate-per-user")]}),
    )
    .await
    .expect(200);
}
on_every_backend!(bulk_assignment_needs_the_licence_right, rights);
