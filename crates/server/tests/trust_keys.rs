//! Trust in keys (issue "Trust", item 9): the last operator key survives concurrent revocations, a node's
//! configured admin key is never lost to another node's bootstrap, and an ambiguous `Authorization` is refused.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad answer"
)]

mod common;

use common::{ADMIN, Backend, Body, Db, Opts, spawn_on};
use reqwest::Method;
use serde_json::json;

/// Item 9. Two operator keys revoked at the same moment, again and again: one revocation wins, the other is
/// refused, and an operator key is always left.
async fn concurrent_revocations(backend: Backend) {
    let app = spawn_on(Db::fresh(backend).await, Opts::default()).await;
    let admin_id = app.admin_id().await;
    let mut current = (ADMIN.to_owned(), admin_id);
    for round in 0..15 {
        let made = app
            .post(
                "/v1/keys",
                &current.0,
                json!({"role": "operator", "name": format!("round {round}")}),
            )
            .await
            .expect(201)
            .json();
        let other = (
            made["key"].as_str().unwrap().to_owned(),
            made["id"].as_str().unwrap().to_owned(),
        );
        // Each key revokes the other at once.
        let (to_other, to_current) = (format!("/v1/keys/{}", other.1), format!("/v1/keys/{}", current.1));
        let (a, b) = tokio::join!(
            app.delete(&to_other, &current.0),
            app.delete(&to_current, &other.0),
        );
        let mut statuses = [a.status, b.status];
        statuses.sort_unstable();
        assert!(
            statuses == [204, 409] || statuses == [204, 401],
            "round {round}: one revocation wins, the other is refused: {statuses:?} ({} / {})",
            a.text,
            b.text
        );
        let live: Vec<_> = [&current, &other]
            .into_iter()
            .filter(|k| k.0 != "gone")
            .cloned()
            .collect();
        let mut alive = Vec::new();
        for k in live {
            if app.get("/v1/me", &k.0).await.status == 200 {
                alive.push(k);
            }
        }
        assert_eq!(alive.len(), 1, "round {round}: exactly one operator key is left");
        current = alive.remove(0);
    }
    app.stop().await;
}
on_every_backend!(
    item_9_concurrent_revocations_never_remove_the_last_operator_key,
    concurrent_revocations
);

/// Item 9. A node without `ENTITLE_ADMIN_KEY` starts first on an empty store and makes a random key; a node
/// with `ENTITLE_ADMIN_KEY` starting beside it must still be able to use its key.
async fn bootstrap(backend: Backend) {
    let db = Db::fresh(backend).await;
    let first = spawn_on(
        std::sync::Arc::clone(&db),
        Opts {
            admin_key: None,
            ..Opts::default()
        },
    )
    .await;
    let second = spawn_on(std::sync::Arc::clone(&db), Opts::default()).await;
    let me = second.get("/v1/me", ADMIN).await;
    assert_eq!(
        me.status, 200,
        "the configured admin key opens its node: {}",
        me.text
    );
    assert_eq!(me.json()["role"], "operator");
    // Revoked, it stays revoked across restarts with the same setting.
    let id = me.json()["key_id"].as_str().unwrap().to_owned();
    let spare = second
        .post("/v1/keys", ADMIN, json!({"role": "operator"}))
        .await
        .expect(201)
        .json();
    let spare = spare["key"].as_str().unwrap().to_owned();
    second.delete(&format!("/v1/keys/{id}"), &spare).await.expect(204);
    second.stop().await;
    let third = spawn_on(std::sync::Arc::clone(&db), Opts::default()).await;
    third.get("/v1/me", ADMIN).await.expect(401);
    third.get("/v1/me", &spare).await.expect(200);
    third.stop().await;
    first.stop().await;
}
on_every_backend!(
    item_9_a_configured_admin_key_survives_another_nodes_bootstrap,
    bootstrap
);

/// Item 9. Two `Authorization` headers: which one counts is ambiguous, so neither does (400).
async fn two_headers(backend: Backend) {
    let app = spawn_on(Db::fresh(backend).await, Opts::default()).await;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.append("authorization", format!("Bearer {ADMIN}").parse().unwrap());
    headers.append("authorization", "Bearer ent_nobody".parse().unwrap());
    let res = app
        .client
        .get(app.url("/v1/me"))
        .headers(headers)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["pointer"], "header:Authorization", "{body}");
    // Also on a write, which must change nothing.
    let mut headers = reqwest::header::HeaderMap::new();
    headers.append("authorization", "Bearer ent_nobody".parse().unwrap());
    headers.append("authorization", format!("Bearer {ADMIN}").parse().unwrap());
    let res = app
        .client
        .post(app.url("/v1/keys"))
        .headers(headers)
        .json(&json!({"role": "operator"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let keys = app.get("/v1/keys", ADMIN).await.expect(200).json();
    assert_eq!(keys.as_array().map(Vec::len), Some(1));
    let _ = app
        .send(Method::GET, "/healthz", None, &[], Body::None)
        .await
        .expect(200);
    app.stop().await;
}
on_every_backend!(item_9_two_authorization_headers_are_refused, two_headers);
