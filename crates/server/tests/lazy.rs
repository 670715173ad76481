//! Many tenants on one node (issue 11, item 5): tenants load on first use, and under `--memory-budget` the ones
//! used least recently are unloaded and load again when asked, answering and taking writes as before.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad answer"
)]

mod common;

use std::sync::Arc;

use common::{ADMIN, Backend, Db, Opts, TestApp, spawn_on};
use serde_json::json;

/// A gauge or counter of `/metrics` (0 when absent).
async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = app.get("/metrics", ADMIN).await.expect(200).text;
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == name).then(|| v.trim().parse::<f64>().ok()).flatten()
        })
        .unwrap_or(0.0)
}

const TENANTS: usize = 40;

async fn loads_lazily_and_stays_within_the_budget(backend: Backend) {
    let db = Db::fresh(backend).await;
    let app = spawn_on(Arc::clone(&db), Opts::default()).await;
    for i in 0..TENANTS {
        app.acme(&format!("t{i}")).await;
    }
    let mut exports = Vec::new();
    for i in 0..TENANTS {
        exports.push(
            app.get(&format!("/v1/tenants/t{i}/export"), ADMIN)
                .await
                .expect(200)
                .text,
        );
    }
    app.stop().await;

    // A start reads the ids only.
    let opts = Opts {
        memory_budget: Some("1MiB".to_owned()),
        ..Opts::default()
    };
    let app = spawn_on(Arc::clone(&db), opts.clone()).await;
    assert_eq!(
        metric(&app, "entitle_tenants").await,
        0.0,
        "{backend}: nothing loaded at start"
    );
    assert_eq!(metric(&app, "entitle_tenants_known").await, TENANTS as f64);
    app.get("/v1/tenants/t3/flows/mia-flow/decision", ADMIN)
        .await
        .expect(200);
    assert_eq!(
        metric(&app, "entitle_tenants").await,
        1.0,
        "{backend}: the tenant asked about is loaded"
    );
    assert_eq!(metric(&app, "entitle_tenant_loads_total").await, 1.0);
    app.get("/v1/tenants/nope", ADMIN).await.expect(404);

    // Every tenant used once: the budget (about 25 of these tenants, estimated at 41 KB each) keeps the rest
    // unloaded.
    for i in 0..TENANTS {
        app.get(&format!("/v1/tenants/t{i}/flows/mia-flow/decision"), ADMIN)
            .await
            .expect(200);
    }
    let loaded = metric(&app, "entitle_tenants").await;
    let evicted = metric(&app, "entitle_tenant_evictions_total").await;
    let bytes = metric(&app, "entitle_snapshot_bytes").await;
    eprintln!("{backend}: {loaded} loaded, {evicted} evicted, {bytes} bytes after using {TENANTS} tenants");
    assert!(
        loaded < TENANTS as f64 && loaded >= 1.0,
        "{backend}: {loaded} loaded"
    );
    assert!(
        evicted >= (TENANTS as f64 - loaded),
        "{backend}: {evicted} evicted, {loaded} loaded"
    );
    assert!(
        bytes <= f64::from(1u32 << 20),
        "{backend}: {bytes} bytes loaded, over the budget"
    );

    // An unloaded tenant answers as before, byte for byte, and takes a write.
    for (i, want) in exports.iter().enumerate() {
        let got = app
            .get(&format!("/v1/tenants/t{i}/export"), ADMIN)
            .await
            .expect(200)
            .text;
        assert_eq!(&got, want, "{backend}: t{i} after unloading and loading again");
    }
    let before = metric(&app, "entitle_tenant_loads_total").await;
    app.post(
        "/v1/tenants/t0/flows",
        ADMIN,
        json!({"id": "late", "environment": "default", "owner": "mia"}),
    )
    .await
    .expect(201);
    assert!(metric(&app, "entitle_tenant_loads_total").await >= before);
    // Created and deleted tenants are known at once.
    app.acme("fresh").await;
    app.get("/v1/tenants/fresh", ADMIN).await.expect(200);
    assert_eq!(metric(&app, "entitle_tenants_known").await, TENANTS as f64 + 1.0);
    let tenants = app.get("/v1/tenants", ADMIN).await.expect(200).json();
    assert_eq!(
        tenants.as_array().map(Vec::len),
        Some(TENANTS + 1),
        "{backend}: the list shows every tenant"
    );
    app.stop().await;
    let app = spawn_on(Arc::clone(&db), opts).await;
    let t0 = app.get("/v1/tenants/t0/export", ADMIN).await.expect(200).text;
    assert!(
        t0.contains("\"late\""),
        "{backend}: the write to a tenant loaded on demand is kept"
    );
    app.stop().await;
}

on_every_backend!(
    tenants_load_lazily_and_stay_within_the_memory_budget,
    loads_lazily_and_stays_within_the_budget
);
