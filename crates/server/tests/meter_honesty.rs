//! Meter honesty through the API (security issue, item 10): reports read the counter that enforces, and a
//! refusal because the meter is unavailable says so.
//!
//! The shared-Redis test needs `ENTITLE_TEST_REDIS_URL`; without it it says why and passes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers: a failed step is a failed test"
)]

mod common;

use std::time::Duration;

use common::{ADMIN, Backend, Opts, spawn_with};
use entitle_meter::{Event, Limits, RedisMeter, Windows};
use serde_json::json;

fn redis_url() -> Option<String> {
    let url = std::env::var("ENTITLE_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("ENTITLE_TEST_REDIS_URL is not set: skipping the shared-meter report test");
    }
    url
}

fn now_ms() -> u64 {
    u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn unique_prefix() -> String {
    format!("entitle-honesty-server:{}:{}:", std::process::id(), now_ms())
}

/// Another node counted 2,500 of mia's requests in Redis; this node (which has counted nothing yet) must
/// report them in `GET …/usage` and `GET …/limits`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_10_usage_and_limits_read_the_enforcing_counter() {
    let Some(url) = redis_url() else { return };
    let prefix = unique_prefix();
    let app = spawn_with(
        Backend::Sqlite,
        Opts {
            redis: Some((url.clone(), prefix.clone(), "fail-closed".into(), 1_000)),
            ..Opts::default()
        },
    )
    .await;
    app.acme("acme").await;
    let limits: serde_json::Value = app
        .get("/v1/tenants/acme/limits?user=mia", ADMIN)
        .await
        .expect(200)
        .json();
    let per_day = limits["requests_per_24h"].as_u64().unwrap();

    // The other node.
    let other = RedisMeter::connect(&url, prefix.as_str(), Windows::standard(), Duration::from_secs(2))
        .await
        .unwrap();
    let events = vec![
        Event {
            key: "acme/user/mia",
            n: 1,
            limits: Limits::per_day(per_day),
        };
        2_500
    ];
    let d = other.check_batch(&events, now_ms()).await.unwrap();
    assert!(d.iter().all(entitle_meter::Decision::is_allowed));

    let usage = app
        .get("/v1/tenants/acme/usage?user=mia", ADMIN)
        .await
        .expect(200)
        .json();
    assert_eq!(usage["used"], 2_500, "GET …/usage: {usage}");
    assert_eq!(usage["remaining"], per_day - 2_500, "{usage}");
    let limits = app
        .get("/v1/tenants/acme/limits?user=mia", ADMIN)
        .await
        .expect(200)
        .json();
    assert_eq!(limits["used"], 2_500, "GET …/limits: {limits}");
    assert_eq!(limits["remaining"], per_day - 2_500, "{limits}");

    // This node counts one more: both reports and the count agree.
    let r = app
        .post("/v1/tenants/acme/usage", ADMIN, json!({"user": "mia"}))
        .await
        .expect(200)
        .json();
    assert_eq!(r["remaining"], per_day - 2_501, "{r}");
    let usage = app
        .get("/v1/tenants/acme/usage?user=mia", ADMIN)
        .await
        .expect(200)
        .json();
    assert_eq!(usage["used"], 2_501, "{usage}");
    app.stop().await;
}

/// Fail-closed with Redis unreachable: the refusal says the meter is unavailable (503, `meter-unavailable`,
/// Retry-After), not that the budget is spent, and the usage report does not pretend nothing was used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_10_meter_unavailable_is_503_not_over_the_limit() {
    let app = spawn_with(
        Backend::Sqlite,
        Opts {
            redis: Some((
                "redis://127.0.0.1:1".into(),
                unique_prefix(),
                "fail-closed".into(),
                100,
            )),
            ..Opts::default()
        },
    )
    .await;
    app.acme("acme").await;
    let r = app
        .post("/v1/tenants/acme/usage", ADMIN, json!({"user": "mia"}))
        .await;
    let body = r.json();
    assert_eq!(r.status, 503, "{body}");
    assert_eq!(
        body["type"], "https://entitle.dev/problems/meter-unavailable",
        "{body}"
    );
    assert!(r.header("retry-after").is_some(), "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(!detail.contains("over the request limit"), "{detail}");
    assert!(detail.contains("unavailable"), "{detail}");

    let b = app
        .post(
            "/v1/tenants/acme/usage:batch",
            ADMIN,
            json!({"events": [{"user": "mia"}, {"user": "bo"}]}),
        )
        .await
        .expect(200)
        .json();
    for e in b["results"].as_array().unwrap() {
        assert_eq!(e["status"], 503, "{b}");
        assert_eq!(e["allowed"], false, "{b}");
    }

    let u = app.get("/v1/tenants/acme/usage?user=mia", ADMIN).await;
    assert_eq!(
        u.status, 503,
        "GET …/usage with the meter unreachable: {}",
        u.text
    );
    let l = app.get("/v1/tenants/acme/limits?user=mia", ADMIN).await;
    assert_eq!(
        l.status, 503,
        "GET …/limits with the meter unreachable: {}",
        l.text
    );
    app.stop().await;
}
