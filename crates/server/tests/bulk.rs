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

const BATCH: &str = "/v1/tenants/acme/changes:batch";

async fn batch_changes(backend: Backend) {
    let app = spawn_app(backend).await;
    app.acme("acme").await;
    let log = app.audit_log("acme", "").await.len();
    let body = json!({"changes": [
        {"op": "create", "collection": "users", "item": {"id": "dee", "licenses": ["microsoft-365-business-basic"]}},
        // Made by the change before it, in the same write.
        {"op": "create", "collection": "flows", "item": {"id": "dee-flow", "environment": "default", "owner": "dee",
            "trigger": "scheduled", "connectors": ["shared_office365"]}},
        {"op": "patch", "collection": "flows", "id": "mia-flow", "item": {"connectors": ["http"]}},
        {"op": "delete", "collection": "entities", "id": "new_order"},
        {"op": "patch", "collection": "apps", "id": "bo-app", "item": {"entities": []}},
    ]});
    // Without the last change `bo-app` still names the deleted `new_order`: the result is checked as a whole and
    // refused whole (409: the problem is outside the items the batch wrote), pointing at what is left dangling.
    let mut short = body.clone();
    short["changes"].as_array_mut().unwrap().pop();
    let r = app.post(BATCH, ADMIN, short).await.expect(409);
    assert_eq!(r.json()["pointer"], "/apps/1/entities/0", "{}", r.json());
    assert_eq!(app.audit_log("acme", "").await.len(), log, "nothing written");
    // A change may only name what is there by its turn.
    let early = json!({"changes": [{"op": "patch", "collection": "users", "id": "dee", "item": {}}, body["changes"][0].clone()]});
    let r = app.post(BATCH, ADMIN, early).await.expect(404);
    assert_eq!(r.json()["pointer"], "/changes/0/id", "{}", r.json());

    let ordered = body;
    let dry = app
        .post(&format!("{BATCH}?dry_run=true"), ADMIN, ordered.clone())
        .await
        .expect(200)
        .json();
    assert_eq!(dry["changes"].as_array().map(Vec::len), Some(5), "{dry}");
    let r = app.post(BATCH, ADMIN, ordered).await.expect(200).json();
    let statuses: Vec<u64> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![201, 201, 200, 204, 200], "{r}");
    assert_eq!(
        app.get("/v1/tenants/acme/flows/dee-flow", ADMIN)
            .await
            .expect(200)
            .json()["owner"],
        "dee"
    );
    app.get("/v1/tenants/acme/entities/new_order", ADMIN)
        .await
        .expect(404);
    assert_eq!(app.audit_log("acme", "").await.len(), log + 5);
}
on_every_backend!(batch_changes_are_one_write_in_order, batch_changes);

async fn batch_pointers(backend: Backend) {
    let app = spawn_app(backend).await;
    app.acme("acme").await;
    let log = app.audit_log("acme", "").await.len();
    let flow = |owner: &str| json!({"op": "create", "collection": "flows", "item": {"id": "x", "environment": "default", "owner": owner}});
    for (body, status, pointer) in [
        // A reference inside the item the change wrote: into that change.
        (
            json!({"changes": [flow("mia"), {"op": "create", "collection": "flows", "item": {"id": "y", "environment": "default", "owner": "ghost"}}]}),
            422,
            "/changes/1/item/owner",
        ),
        // The body of the item, badly typed.
        (
            json!({"changes": [{"op": "create", "collection": "users", "item": {"id": "u", "licenses": 3}}]}),
            422,
            "/changes/0/item/licenses",
        ),
        (
            json!({"changes": [{"op": "create", "collection": "robots", "item": {}}]}),
            422,
            "/changes/0/collection",
        ),
        (
            json!({"changes": [{"op": "delete", "collection": "apps"}]}),
            422,
            "/changes/0/id",
        ),
        (
            json!({"changes": [{"op": "patch", "collection": "apps", "id": "nope", "item": {}}]}),
            404,
            "/changes/0/id",
        ),
        (
            json!({"changes": [{"op": "patch", "collection": "apps", "id": "bo-app", "if_match": "\"stale\"", "item": {}}]}),
            412,
            "/changes/0/if_match",
        ),
        (
            json!({"changes": [flow("mia"), flow("mia")]}),
            409,
            "/changes/1/item/id",
        ),
    ] {
        let r = app.post(BATCH, ADMIN, body.clone()).await.expect(status);
        assert_eq!(r.json()["pointer"], pointer, "{body}: {}", r.json());
    }
    let many: Vec<Value> = (0..1_001).map(|_| flow("mia")).collect();
    let r = app.post(BATCH, ADMIN, json!({"changes": many})).await.expect(422);
    assert_eq!(r.json()["pointer"], "/changes");
    assert_eq!(app.audit_log("acme", "").await.len(), log, "nothing written");
}
on_every_backend!(batch_problems_point_into_the_batch, batch_pointers);

async fn batch_rights(backend: Backend) {
    let app = spawn_app(backend).await;
    app.acme("acme").await;
    // Decided by what changes, as on the single routes: an environment admin may not raise allocations, a
    // maker may not set its flow's licence mode nor create a flow for another user.
    let (env_admin, _) = app
        .key(
            "acme",
            json!({"role": "environment-admin", "environments": ["e2"]}),
        )
        .await;
    let (maker, _) = app.key("acme", json!({"role": "maker", "user": "mia"})).await;
    for (key, change) in [
        (
            &env_admin,
            json!({"op": "patch", "collection": "environments", "id": "e2", "item": {"allocations": {"power-automate-process": 3}}}),
        ),
        (
            &maker,
            json!({"op": "patch", "collection": "flows", "id": "mia-flow", "item": {"license": "process"}}),
        ),
        (
            &maker,
            json!({"op": "create", "collection": "flows", "item": {"id": "z", "environment": "default", "owner": "bo"}}),
        ),
    ] {
        app.post(BATCH, key, json!({"changes": [change.clone()]}))
            .await
            .expect(403);
    }
    // What each may do one by one, it may do in a batch.
    app.post(
        BATCH,
        &maker,
        json!({"changes": [{"op": "patch", "collection": "flows", "id": "mia-flow", "item": {"solution": "ops"}}]}),
    )
    .await
    .expect(200);
}
on_every_backend!(batch_changes_need_the_rights_of_what_they_change, batch_rights);
