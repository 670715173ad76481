//! The per-item layout (issue 11, item 1): a tenant is stored as its head and one row per item, a write stores
//! the rows it changes, and a store written in the old layout (one document per tenant) is upgraded in place
//! when the server opens it, with every export byte-identical.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad answer"
)]

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{ADMIN, Backend, Db, Opts, TestApp, spawn_on};
use serde_json::json;

/// The fixture: a data dir written by the release before the per-item layout (`scripts/layout-fixture.sh`).
fn fixture_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/document-layout")
}

async fn exports(app: &TestApp, tenant: &str) -> (String, String) {
    let json = app
        .get(&format!("/v1/tenants/{tenant}/export?format=json"), ADMIN)
        .await
        .expect(200)
        .text;
    let toml = app
        .get(&format!("/v1/tenants/{tenant}/export?format=toml"), ADMIN)
        .await
        .expect(200)
        .text;
    (json, toml)
}

trait MaybeTag {
    fn etag_or_none(&self) -> Option<String>;
}

impl MaybeTag for common::Resp {
    fn etag_or_none(&self) -> Option<String> {
        (self.status == 200)
            .then(|| self.header("etag").map(str::to_owned))
            .flatten()
    }
}

/// What the database holds: (tenant, layout, item rows).
async fn stored(db: &Db) -> Vec<(String, String, i64)> {
    let q = "SELECT t.id, t.layout, (SELECT COUNT(*) FROM tenant_items i WHERE i.tenant = t.id) AS n \
             FROM tenants t ORDER BY t.id";
    match db.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.expect("connect");
            let rows: Vec<(String, String, i64)> = sqlx::query_as(q).fetch_all(&pool).await.expect("read");
            pool.close().await;
            rows
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
            let rows: Vec<(String, String, i64)> = sqlx::query_as(q).fetch_all(&pool).await.expect("read");
            pool.close().await;
            rows
        }
    }
}

/// Puts the store back in the old layout: each tenant's whole document in `tenants.scenario`, no rows.
async fn to_document_layout(db: &Db, docs: &[(String, String)]) {
    macro_rules! downgrade {
        ($pool:expr) => {{
            let pool = $pool;
            for (id, doc) in docs {
                sqlx::query("UPDATE tenants SET scenario = $1, layout = 'document' WHERE id = $2")
                    .bind(doc)
                    .bind(id)
                    .execute(&pool)
                    .await
                    .expect("downgrade");
                sqlx::query("DELETE FROM tenant_items WHERE tenant = $1")
                    .bind(id)
                    .execute(&pool)
                    .await
                    .expect("drop rows");
            }
            pool.close().await;
        }};
    }
    match db.backend {
        Backend::Sqlite => downgrade!(sqlx::SqlitePool::connect(&db.url).await.expect("connect")),
        Backend::Postgres => downgrade!(sqlx::PgPool::connect(&db.url).await.expect("connect")),
    }
}

/// Issue 11, item 1: the data dir the previous release wrote opens, is upgraded to rows, and exports exactly
/// what that release exported — before and after a restart, and after a write.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_data_dir_of_the_document_layout_is_upgraded_and_exports_byte_identical() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(fixture_dir().join("entitle.db"), dir.path().join("entitle.db")).expect("copy fixture");
    let db = Db::sqlite_at(dir.path());
    let app = spawn_on(Arc::clone(&db), Opts::default()).await;
    let mut tenants = Vec::new();
    for entry in std::fs::read_dir(fixture_dir().join("exports")).expect("exports") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let id = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("name")
                .to_owned();
            tenants.push(id);
        }
    }
    tenants.sort();
    assert_eq!(tenants.len(), 5, "the fixture holds the five example tenants");
    for t in &tenants {
        let want_json =
            std::fs::read_to_string(fixture_dir().join(format!("exports/{t}.json"))).expect("json");
        let want_toml =
            std::fs::read_to_string(fixture_dir().join(format!("exports/{t}.toml"))).expect("toml");
        let (json, toml) = exports(&app, t).await;
        assert_eq!(json, want_json, "{t}: JSON export after the upgrade");
        assert_eq!(toml, want_toml, "{t}: TOML export after the upgrade");
    }
    // The version (and so every ETag a client holds) survives the upgrade.
    let r = app.get("/v1/tenants/fabrikam-bakery", ADMIN).await.expect(200);
    assert_eq!(r.etag(), "\"v5\"");
    app.stop().await;
    let rows = stored(&db).await;
    assert_eq!(rows.len(), 5);
    for (id, layout, n) in &rows {
        assert_eq!(layout, "items", "{id} is stored as rows");
        assert!(*n > 0, "{id} has item rows");
    }
    // Again after a restart on the upgraded store, and after a write.
    let app = spawn_on(Arc::clone(&db), Opts::default()).await;
    for t in &tenants {
        let want_json =
            std::fs::read_to_string(fixture_dir().join(format!("exports/{t}.json"))).expect("json");
        assert_eq!(
            exports(&app, t).await.0,
            want_json,
            "{t}: JSON export after a restart"
        );
    }
    let flow = "/v1/tenants/fabrikam-bakery/flows/fixture-flow";
    let tag = app.get(flow, ADMIN).await.expect(200).etag();
    app.patch(flow, ADMIN, Some(&tag), json!({"connectors": ["sql"]}))
        .await
        .expect(200);
    let after_write = exports(&app, "fabrikam-bakery").await;
    app.stop().await;
    let app = spawn_on(Arc::clone(&db), Opts::default()).await;
    assert_eq!(exports(&app, "fabrikam-bakery").await, after_write);
    app.stop().await;
}

/// Writes of every kind, on both backends: what a restart reads back from the rows is what the node held in
/// memory, byte for byte, and the store holds one row per item (not a document).
async fn rows_read_back_as_written(backend: Backend) {
    let db = Db::fresh(backend).await;
    let app = spawn_on(Arc::clone(&db), Opts::default()).await;
    app.acme("acme").await;
    app.acme("other").await;
    let t = "/v1/tenants/acme";
    // A create (appended), a patch (in place), a delete in the middle, a replace, a licence assignment, a new
    // subscription, an item inserted by a batch next to a deletion.
    for (method, path, body) in [
        (
            "POST",
            "/flows",
            json!({"id": "new-flow", "environment": "default", "owner": "mia"}),
        ),
        ("PATCH", "/flows/mia-flow", json!({"connectors": ["sql"]})),
        ("DELETE", "/flows/bo-flow", json!(null)),
        ("POST", "/users", json!({"id": "dee"})),
        ("PATCH", "/environments/default", json!({"dataverse": true})),
        (
            "POST",
            "/users/dee/assignLicense",
            json!({"addLicenses": [{"skuId": "power-automate-per-user"}], "removeLicenses": []}),
        ),
        ("DELETE", "/users/dee", json!(null)),
    ] {
        let path = format!("{t}{path}");
        let tag = app.get(&path, ADMIN).await.etag_or_none();
        let tag = tag.as_deref().unwrap_or("*");
        let r = match method {
            "POST" => app.post(&path, ADMIN, body).await,
            "PATCH" => app.patch(&path, ADMIN, Some(tag), body).await,
            _ => {
                app.send(
                    reqwest::Method::DELETE,
                    &path,
                    Some(ADMIN),
                    &[("if-match", tag)],
                    common::Body::None,
                )
                .await
            }
        };
        assert!(r.status < 300, "{method} {path}: {} {}", r.status, r.text);
    }
    let r = app
        .post(
            &format!("{t}/changes:batch"),
            ADMIN,
            json!({"changes": [
                {"op": "delete", "collection": "flows", "id": "new-flow"},
                {"op": "create", "collection": "flows", "item": {"id": "batch-flow", "environment": "e2", "owner": "bo"}},
                {"op": "create", "collection": "users", "item": {"id": "eli"}}
            ]}),
        )
        .await;
    assert!(r.status < 300, "batch: {} {}", r.status, r.text);
    let before = exports(&app, "acme").await;
    let other = exports(&app, "other").await;
    assert!(
        before.0.contains("batch-flow") && !before.0.contains("new-flow") && !before.0.contains("bo-flow")
    );
    app.stop().await;
    let app = spawn_on(Arc::clone(&db), Opts::default()).await;
    assert_eq!(
        exports(&app, "acme").await,
        before,
        "{backend}: acme read back from its rows"
    );
    assert_eq!(
        exports(&app, "other").await,
        other,
        "{backend}: the other tenant is untouched"
    );
    app.stop().await;
    let rows = stored(&db).await;
    let acme = rows.iter().find(|r| r.0 == "acme").expect("acme stored");
    assert_eq!(acme.1, "items");
    // 2 subscriptions, 4 users (mia, bo, cy, eli), 2 environments, 1 entity, 2 apps, 2 flows (mia-flow, batch-flow).
    assert_eq!(acme.2, 13, "{backend}: one row per item");
}

on_every_backend!(
    writes_of_every_kind_read_back_from_their_rows,
    rows_read_back_as_written
);

/// The upgrade on both backends: a store put back in the document layout (each tenant one document, no rows)
/// opens with the same exports and ETags, and is stored as rows afterwards.
async fn document_layout_upgrades(backend: Backend) {
    let db = Db::fresh(backend).await;
    let app = spawn_on(Arc::clone(&db), Opts::default()).await;
    app.acme("acme").await;
    let flow = "/v1/tenants/acme/flows/mia-flow";
    let tag = app.get(flow, ADMIN).await.expect(200).etag();
    app.patch(flow, ADMIN, Some(&tag), json!({"connectors": ["sql"]}))
        .await
        .expect(200);
    let before = exports(&app, "acme").await;
    app.stop().await;
    to_document_layout(&db, &[("acme".to_owned(), before.0.clone())]).await;
    assert_eq!(
        stored(&db).await,
        vec![("acme".to_owned(), "document".to_owned(), 0)]
    );
    let app = spawn_on(Arc::clone(&db), Opts::default()).await;
    assert_eq!(
        exports(&app, "acme").await,
        before,
        "{backend}: exports after the upgrade"
    );
    assert_eq!(
        app.get("/v1/tenants/acme", ADMIN).await.expect(200).etag(),
        "\"v2\""
    );
    app.stop().await;
    let rows = stored(&db).await;
    assert_eq!(rows[0].1, "items", "{backend}: upgraded to rows");
    assert_eq!(rows[0].2, 12, "{backend}: one row per item");
}

on_every_backend!(
    a_document_layout_store_is_upgraded_in_place,
    document_layout_upgrades
);
