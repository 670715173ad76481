//! Two nodes on one PostgreSQL schema: a write on one is in the other's answers within a second, a key made on
//! one works on the other, and concurrent writes through both nodes are all kept.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad answer"
)]

mod common;

use std::time::{Duration, Instant};

use common::{ADMIN, Backend, Db, Opts, TestApp, pg_url, spawn_on};
use serde_json::json;

/// Polls `f` until it holds; how long that took, or `None` after `limit`.
async fn until<F, Fut>(limit: Duration, mut f: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if f().await {
            return Some(start.elapsed());
        }
        if start.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn status(app: &TestApp, path: &str, key: &str) -> u16 {
    app.get(path, key).await.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_share_one_postgres_schema() {
    if pg_url().is_none() {
        eprintln!("two_nodes_share_one_postgres_schema: skipped: ENTITLE_TEST_DATABASE_URL is not set");
        return;
    }
    let db = Db::fresh(Backend::Postgres).await;
    let a = spawn_on(db.clone(), Opts::default()).await;
    let b = spawn_on(db.clone(), Opts::default()).await;
    drop(db);
    assert_ne!(a.base, b.base);

    // A tenant made on A appears on B.
    a.acme("acme").await;
    let seen = until(Duration::from_secs(5), || async {
        status(&b, "/v1/tenants/acme", ADMIN).await == 200
    })
    .await
    .expect("B sees the tenant A created");
    eprintln!("tenant created on A, on B after {seen:?}");
    assert!(seen < Duration::from_secs(1), "{seen:?}");

    // A write on A changes B's answers within a second.
    let before = b
        .get("/v1/tenants/acme/flows/mia-flow/decision", ADMIN)
        .await
        .expect(200)
        .json();
    assert_eq!(before["allowed"], true);
    a.post(
        "/v1/tenants/acme/users/mia/assignLicense",
        ADMIN,
        json!({"addLicenses": [], "removeLicenses": ["power-automate-per-user"]}),
    )
    .await
    .expect(200);
    let flipped = until(Duration::from_secs(5), || async {
        b.get("/v1/tenants/acme/flows/mia-flow/decision", ADMIN)
            .await
            .json()["allowed"]
            == false
    })
    .await
    .expect("B's answer follows A's write");
    eprintln!("write on A, in B's answers after {flipped:?}");
    assert!(flipped < Duration::from_secs(1), "{flipped:?}");
    // Both now agree on the tenant's version and ETag.
    let ta = a.get("/v1/tenants/acme", ADMIN).await.expect(200);
    let tb = b.get("/v1/tenants/acme", ADMIN).await.expect(200);
    assert_eq!(ta.etag(), tb.etag());
    assert_eq!(ta.json(), tb.json());

    // A key made on A works on B; revoked on A, it stops working on B.
    let (key, id) = a.key("acme", json!({"role": "reader"})).await;
    let works = until(Duration::from_secs(5), || async {
        status(&b, "/v1/tenants/acme/audit", &key).await == 200
    })
    .await
    .expect("the key works on B");
    eprintln!("key made on A, works on B after {works:?}");
    assert!(works < Duration::from_secs(1), "{works:?}");
    a.delete(&format!("/v1/tenants/acme/keys/{id}"), ADMIN)
        .await
        .expect(204);
    let gone = until(Duration::from_secs(5), || async {
        status(&b, "/v1/tenants/acme/audit", &key).await == 401
    })
    .await
    .expect("the revoked key stops working on B");
    assert!(gone < Duration::from_secs(1), "{gone:?}");

    // Writes through both nodes at once: each is kept (the store's version check, then a retry on the newer
    // state), none lost, each in the log once.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let node = if i % 2 == 0 { &a } else { &b };
        let client = node.client.clone();
        let url = node.url("/v1/tenants/acme/entities");
        tasks.push(tokio::spawn(async move {
            match client
                .post(url)
                .bearer_auth(ADMIN)
                .json(&json!({"id": format!("new_e{i}")}))
                .send()
                .await
            {
                Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
                Err(e) => (0, e.to_string()),
            }
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap_or((0, "task failed".into())));
    }
    assert!(statuses.iter().all(|s| s.0 == 201), "{statuses:?}");
    for node in [&a, &b] {
        let ok = until(Duration::from_secs(5), || async {
            node.get("/v1/tenants/acme/entities", ADMIN)
                .await
                .json()
                .as_array()
                .map_or(0, Vec::len)
                == 41
        })
        .await;
        assert!(ok.is_some(), "both nodes hold all 40 new entities");
    }
    let log = a.audit_log("acme", "kind=entity&action=create").await;
    assert_eq!(log.len(), 40);

    // If-Match across nodes: an ETag read on B is stale once A wrote.
    let e = b.get("/v1/tenants/acme/users/cy", ADMIN).await.expect(200).etag();
    a.patch(
        "/v1/tenants/acme/users/cy",
        ADMIN,
        Some(&e),
        json!({"left": "2025-01-01"}),
    )
    .await
    .expect(200);
    let r = b
        .patch(
            "/v1/tenants/acme/users/cy",
            ADMIN,
            Some(&e),
            json!({"left": "2025-02-01"}),
        )
        .await;
    assert_eq!(r.status, 412, "a lost update through the other node: {}", r.text);

    // An idempotent retry sent to the other node replays the first answer.
    let body = json!({"id": "new_once"});
    let first = a
        .send(
            reqwest::Method::POST,
            "/v1/tenants/acme/entities",
            Some(ADMIN),
            &[("idempotency-key", "across-nodes")],
            common::Body::Json(body.clone()),
        )
        .await
        .expect(201);
    let again = b
        .send(
            reqwest::Method::POST,
            "/v1/tenants/acme/entities",
            Some(ADMIN),
            &[("idempotency-key", "across-nodes")],
            common::Body::Json(body),
        )
        .await
        .expect(201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json(), first.json());

    a.stop().await;
    b.stop().await;
}
