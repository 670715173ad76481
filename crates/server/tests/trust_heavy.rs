//! Trust under load (issue "Trust", item 6): heavy requests on one tenant keep health checks and another
//! tenant's decisions fast. (Item 4, the metrics' bounds, is tested against the binary: crates/cli/tests.)
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad answer"
)]

mod common;

use std::time::{Duration, Instant};

use common::{ADMIN, Backend, Body, spawn_app};
use reqwest::Method;

fn p99(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[(v.len() * 99 / 100).min(v.len() - 1)]
}

/// Item 6. While another tenant's clients keep asking for decisions on other days (each builds a snapshot of a
/// 20,000-flow tenant) and send deeply nested TOML, `/healthz` and a small tenant's decision stay fast.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_6_heavy_requests_on_one_tenant_do_not_stall_others() {
    let app = spawn_app(Backend::Sqlite).await;
    app.acme("acme").await;
    let mut big = entitle_core::generate::synthetic(20_000, 4_000, 50, 7);
    big.tenant.id = "big".to_owned();
    let body = serde_json::to_vec(&big).unwrap();
    app.send(
        Method::POST,
        "/v1/tenants",
        Some(ADMIN),
        &[],
        Body::Raw(Some("application/json".into()), body),
    )
    .await
    .expect(201);
    let flow = big.flows[0].id.clone();

    // The quiet baseline.
    let measure = |n: usize| {
        let app = &app;
        async move {
            let mut health = Vec::with_capacity(n);
            let mut decision = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                app.send(Method::GET, "/healthz", None, &[], Body::None)
                    .await
                    .expect(200);
                health.push(t.elapsed());
                let t = Instant::now();
                app.get("/v1/tenants/acme/flows/mia-flow/decision", ADMIN)
                    .await
                    .expect(200);
                decision.push(t.elapsed());
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            (p99(health), p99(decision))
        }
    };
    let quiet = measure(200).await;

    // Heavy clients: other-day decisions on the big tenant, and deep TOML bodies.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut heavy = tokio::task::JoinSet::new();
    for w in 0..4u32 {
        let (client, base, stop, flow) = (app.client.clone(), app.base.clone(), stop.clone(), flow.clone());
        heavy.spawn(async move {
            let mut day = 1u32;
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                day = day % 27 + 1;
                let res = if w == 3 {
                    let toml = format!("{} = 1\n", vec!["a"; 60_000].join("."));
                    client
                        .post(format!("{base}/v1/tenants"))
                        .bearer_auth(ADMIN)
                        .header("content-type", "application/toml")
                        .body(toml)
                        .send()
                        .await
                } else {
                    client
                        .get(format!(
                            "{base}/v1/tenants/big/flows/{flow}/decision?at=2024-02-{day:02}"
                        ))
                        .bearer_auth(ADMIN)
                        .send()
                        .await
                };
                let status = res.expect("answered").status().as_u16();
                assert!(status < 500 || status == 503, "heavy request: {status}");
                n += 1;
            }
            n
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let loaded = measure(300).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut heavy_done = 0;
    while let Some(n) = heavy.join_next().await {
        heavy_done += n.expect("heavy client");
    }
    eprintln!(
        "quiet p99: healthz {:?}, decision {:?}; under {heavy_done} heavy requests: healthz {:?}, decision {:?}",
        quiet.0, quiet.1, loaded.0, loaded.1
    );
    assert!(heavy_done >= 4, "the heavy clients ran ({heavy_done})");
    // 5 ms, the bound, on optimised code (scripts/hostile.sh checks it on the release binary); the
    // unoptimised test build answers a decision several times slower, so it gets three times the room. Before
    // the fix, every snapshot built for another day stalled an async thread for its whole build (~100 ms here).
    let bound = Duration::from_millis(if cfg!(debug_assertions) { 15 } else { 5 });
    assert!(loaded.0 < bound, "/healthz p99 {:?} under heavy load", loaded.0);
    assert!(loaded.1 < bound, "decision p99 {:?} under heavy load", loaded.1);
    app.stop().await;
}
