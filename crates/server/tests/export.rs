//! Export round trip: every example tenant, exported as JSON and as TOML and imported again under another id,
//! is the same scenario with the same audit.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad answer"
)]

mod common;

use common::{ADMIN, Backend, Body, TestApp, spawn_app};
use entitle_core::scenario::Format;
use entitle_core::{Catalog, Scenario};
use reqwest::Method;
use serde_json::Value;

fn examples() -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(common::workspace().join("examples"))
        .expect("examples/")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    out.sort();
    out
}

fn parse(text: &str, format: Format, what: &str, catalog: &Catalog) -> Scenario {
    Scenario::parse(text, format, what, catalog).unwrap_or_else(|e| panic!("{what}: {e}\n{text}"))
}

/// The same text with `tenant.id` changed.
fn renamed(text: &str, format: Format, id: &str) -> String {
    match format {
        Format::Json => {
            let mut v: Value = serde_json::from_str(text).expect("JSON export");
            v["tenant"]["id"] = Value::String(id.to_owned());
            v.to_string()
        }
        Format::Toml => {
            let mut t: toml::Table = toml::from_str(text).expect("TOML export");
            let tenant = t
                .get_mut("tenant")
                .and_then(toml::Value::as_table_mut)
                .expect("[tenant]");
            tenant.insert("id".into(), toml::Value::String(id.to_owned()));
            toml::to_string(&t).expect("TOML")
        }
    }
}

async fn export(app: &TestApp, id: &str, format: &str) -> common::Resp {
    let r = app
        .get(&format!("/v1/tenants/{id}/export?format={format}"), ADMIN)
        .await
        .expect(200);
    let want = if format == "toml" {
        "application/toml"
    } else {
        "application/json"
    };
    assert_eq!(r.header("content-type"), Some(want));
    r
}

async fn audit(app: &TestApp, id: &str) -> Value {
    let mut a = app
        .get(&format!("/v1/tenants/{id}/audit"), ADMIN)
        .await
        .expect(200)
        .json();
    // The audit names its tenant; everything else must be equal.
    a["tenant"] = Value::Null;
    a
}

async fn round_trip(backend: Backend) {
    let app = spawn_app(backend).await;
    let catalog = Catalog::edition("seed").expect("seed").expect("loads");
    let files = examples();
    assert!(files.len() >= 5, "{files:?}");
    for path in &files {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).expect("readable");
        let mut original = parse(&text, Format::Toml, &name, &catalog);
        // A subscription without an id is named when the tenant is created (its URL stays when another goes).
        entitle_server::routes::items::name_subscriptions(&mut original);
        let id = original.tenant.id.clone();
        app.create_tenant_toml(&text, Some("seed")).await.expect(201);
        let want_audit = audit(&app, &id).await;

        for (format, f) in [("json", Format::Json), ("toml", Format::Toml)] {
            let exported = export(&app, &id, format).await;
            let back = parse(&exported.text, f, &format!("{name} as {format}"), &catalog);
            assert_eq!(
                back, original,
                "{backend}: {name}: the {format} export is the scenario"
            );

            let copy = format!("{id}-copy-{format}");
            let ct = if format == "toml" {
                "application/toml"
            } else {
                "application/json"
            };
            let r = app
                .send(
                    Method::POST,
                    "/v1/tenants?catalog=seed",
                    Some(ADMIN),
                    &[],
                    Body::Raw(Some(ct.into()), renamed(&exported.text, f, &copy).into_bytes()),
                )
                .await
                .expect(201);
            assert_eq!(r.json()["id"], copy.as_str());
            let mut again = parse(&export(&app, &copy, format).await.text, f, &copy, &catalog);
            assert_eq!(again.tenant.id, copy);
            again.tenant.id.clone_from(&id);
            assert_eq!(again, original, "{backend}: {name}: re-imported from {format}");
            assert_eq!(
                audit(&app, &copy).await,
                want_audit,
                "{backend}: {name}: the copy's audit"
            );
        }
        // `Accept: application/toml` picks TOML too, and the export's ETag is the tenant's.
        let r = app
            .send(
                Method::GET,
                &format!("/v1/tenants/{id}/export"),
                Some(ADMIN),
                &[("accept", "application/toml")],
                Body::None,
            )
            .await
            .expect(200);
        assert_eq!(parse(&r.text, Format::Toml, &name, &catalog), original);
        let t = app.get(&format!("/v1/tenants/{id}"), ADMIN).await.expect(200);
        assert_eq!(r.header("etag"), t.header("etag"));
    }
    let list = app.get("/v1/tenants", ADMIN).await.expect(200).json();
    assert_eq!(list.as_array().map(Vec::len), Some(files.len() * 3));
    app.stop().await;
}

on_every_backend!(export_and_reimport_every_example, round_trip);
