//! `GET …/usage/users`: every user's requests in the last 24 hours against their own limit, the busiest first,
//! and who is throttled now (REQ-1..7), as the web UI's API usage tab shows them.
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

const REPORT: &str = "/v1/tenants/acme/usage/users";

async fn users_against_limits(backend: Backend) {
    let app = spawn_app(backend).await;
    app.acme("acme").await;
    // cy spends her whole 5-minute window (REQ-7): throttled now; bo a little; mia nothing.
    let cy = app
        .get("/v1/tenants/acme/limits?user=cy", ADMIN)
        .await
        .expect(200)
        .json();
    let window = cy["per_5_minutes"].as_u64().unwrap_or(0);
    assert!(window > 0, "{cy}");
    app.post(
        "/v1/tenants/acme/usage",
        ADMIN,
        json!({"user": "cy", "requests": window}),
    )
    .await
    .expect(200);
    app.post(
        "/v1/tenants/acme/usage",
        ADMIN,
        json!({"user": "bo", "requests": 7}),
    )
    .await
    .expect(200);

    let r = app.get(REPORT, ADMIN).await.expect(200).json();
    assert_eq!(r["total"], 3, "{r}");
    assert_eq!(r["throttled"], 1, "{r}");
    let users = r["users"].as_array().unwrap();
    let order: Vec<&str> = users.iter().map(|u| u["user"].as_str().unwrap()).collect();
    assert_eq!(order, vec!["cy", "bo", "mia"], "the busiest first");
    assert_eq!(users[0]["used"], window);
    assert_eq!(users[0]["throttled"], true);
    assert_eq!(users[0]["limit"], cy["requests_per_24h"], "{r}");
    assert_eq!(users[1]["used"], 7);
    assert_eq!(users[1]["throttled"], false);
    assert_eq!(
        users[1]["remaining"].as_u64().unwrap() + 7,
        users[1]["limit"].as_u64().unwrap()
    );

    // Paged, and by id on request.
    let page = app
        .get(&format!("{REPORT}?sort=id&limit=1&offset=1"), ADMIN)
        .await
        .expect(200)
        .json();
    assert_eq!(page["users"][0]["user"], "cy", "{page}");
    assert_eq!(page["users"].as_array().map(Vec::len), Some(1));
    for bad in ["?sort=name", "?limit=0", "?limit=501", "?limit=x"] {
        let r = app.get(&format!("{REPORT}{bad}"), ADMIN).await.expect(400);
        assert!(r.is_problem(), "{bad}");
    }
    // A maker reads only its own usage, not everyone's.
    let (maker, _) = app.key("acme", json!({"role": "maker", "user": "mia"})).await;
    app.get(REPORT, &maker).await.expect(403);
}
on_every_backend!(
    usage_report_lists_users_against_their_limits,
    users_against_limits
);
