//! Webhook dispatch against a plain HTTP client, in one run, to the same local receiver (issue 14's target:
//! dispatch reaches ≥ 50 % of the plain client's requests/s): a receiver on 127.0.0.1 answering 204; then
//! (a) reqwest POSTing N event-sized signed bodies at the dispatcher's concurrency (32), and (b) the dispatcher
//! delivering N stored events of one endpoint, from fan-out to the last recorded attempt, on SQLite (a file in a
//! temporary directory, every commit fsynced) and, with `ENTITLE_TEST_DATABASE_URL`, on PostgreSQL.
//!
//! `cargo run --release -p entitle-server --example dispatch_load -- [N=20000]` (`DISPATCH_BATCH=256` tries another
//! claim size than the default).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chrono::NaiveDate;
use entitle_server::hooks::{Dispatcher, Options, Secret, SystemClock};
use entitle_server::store::hooks::{EndpointRow, SecretRow};
use entitle_server::store::{self, Commit, Expect, Store, TenantWrite, items};
use futures_util::StreamExt;
use serde_json::json;

type Error = Box<dyn std::error::Error>;

async fn receiver(count: Arc<AtomicUsize>) -> Result<String, Error> {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |_body: axum::body::Bytes| {
            let count = Arc::clone(&count);
            async move {
                count.fetch_add(1, Ordering::Relaxed);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}/hook"))
}

fn body(i: usize) -> String {
    json!({"id": format!("evt_{i:016x}"), "type": "flow.suspended", "tenant": "bench", "seq": i, "day": "2024-06-03",
           "at": "2024-06-03T00:00:00.000Z", "told": ["ann@contoso.com", "adele@contoso.com"],
           "payload": {"flow": format!("flow-{i}"), "environment": "default", "kind": "owner-left", "failing": "FLOW-24",
                       "fix": {"action": "change-owner", "target": "bob", "rule": "FLOW-24"}, "rules": ["ENF-3", "ENF-2", "FLOW-24"]}})
    .to_string()
}

async fn plain(url: &str, n: usize) -> Result<f64, Error> {
    let client = reqwest::Client::new();
    let secret = Secret::generate();
    let t = Instant::now();
    let mut sent = futures_util::stream::iter(0..n)
        .map(|i| {
            let (client, b) = (client.clone(), body(i));
            let id = format!("evt_{i:016x}");
            let ts = chrono::Utc::now().timestamp();
            let sig =
                entitle_server::hooks::sign::header(std::slice::from_ref(&secret), &id, ts, b.as_bytes());
            async move {
                client
                    .post(url)
                    .header("content-type", "application/json")
                    .header("webhook-id", id)
                    .header("webhook-timestamp", ts.to_string())
                    .header("webhook-signature", sig)
                    .body(b)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
            }
        })
        .buffer_unordered(32);
    let mut ok = 0;
    while let Some(r) = sent.next().await {
        ok += usize::from(r?);
    }
    assert_eq!(ok, n);
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

async fn dispatched(store: Arc<dyn Store>, url: &str, n: usize, label: &str) -> Result<f64, Error> {
    let catalog = entitle_core::Catalog::seed()?;
    let scenario = entitle_core::Scenario::parse(
        "[tenant]\nid = \"bench\"\n",
        entitle_core::scenario::Format::Toml,
        "bench",
        &catalog,
    )?;
    let (rows, _) = items::whole(&scenario)?;
    store
        .commit(Commit {
            tenant: "bench".into(),
            incarnation: "inc_bench".into(),
            expect: Expect::Absent,
            next: Some(TenantWrite {
                id: "bench".into(),
                version: 1,
                catalog: "seed".into(),
                rows,
            }),
            audit: Vec::new(),
            idempotency: None,
            gone_users: Vec::new(),
            gone_environments: Vec::new(),
            events: Vec::new(),
        })
        .await?;
    store
        .insert_endpoint(&EndpointRow {
            id: "whe_bench".into(),
            tenant: "bench".into(),
            incarnation: "inc_bench".into(),
            url: url.to_owned(),
            types: Vec::new(),
            description: String::new(),
            secrets: vec![SecretRow {
                secret: Secret::generate().to_string(),
                expires_at: None,
            }],
            disabled: false,
            failing_since: None,
            cursor: 0,
            created_at: 0,
        })
        .await?;
    let day = NaiveDate::from_ymd_opt(2024, 6, 3).ok_or("day")?;
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let events: Vec<_> = chunk
            .iter()
            .map(|&i| {
                let v: serde_json::Value = serde_json::from_str(&body(i)).unwrap_or_default();
                entitle_server::events::new_event(
                    "flow.suspended",
                    day,
                    vec!["ann@contoso.com".into()],
                    v.get("payload").cloned().unwrap_or_default(),
                )
            })
            .collect();
        store.append_events("bench", "inc_bench", &events).await?;
    }
    let d = Arc::new(Dispatcher::new(
        Arc::clone(&store),
        Arc::new(SystemClock),
        Options {
            batch: std::env::var("DISPATCH_BATCH")
                .ok()
                .and_then(|b| b.parse().ok())
                .unwrap_or(Options::default().batch),
            ..Options::default()
        },
    )?);
    let t = Instant::now();
    let r = d.drain().await?;
    let rps = n as f64 / t.elapsed().as_secs_f64();
    if r.delivered != n {
        return Err(format!("{label}: {} of {n} delivered", r.delivered).into());
    }
    Ok(rps)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(20_000);
    let count = Arc::new(AtomicUsize::new(0));
    let url = receiver(Arc::clone(&count)).await?;
    let plain_rps = plain(&url, n).await?;
    println!("plain reqwest client, 32 at once: {n} requests, {plain_rps:.0} requests/s");
    let dir = std::env::temp_dir().join(format!("entitle-dispatch-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let sqlite = store::open(&format!("sqlite://{}/d.db", dir.display())).await?;
    let rps = dispatched(sqlite, &url, n, "SQLite").await?;
    println!(
        "dispatcher, SQLite (fsync on commit): {n} deliveries, {rps:.0} requests/s: {:.0} % of the plain client",
        rps / plain_rps * 100.0
    );
    std::fs::remove_dir_all(&dir)?;
    if let Some(db) = std::env::var("ENTITLE_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        let schema = format!("dispatch_{}", std::process::id());
        let pool = sqlx::PgPool::connect(&db).await?;
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&pool)
            .await?;
        let sep = if db.contains('?') { '&' } else { '?' };
        let pg = store::open(&format!("{db}{sep}options=-c%20search_path%3D{schema}")).await?;
        let done = dispatched(pg, &url, n, "PostgreSQL").await;
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&pool)
            .await?;
        let rps = done?;
        println!(
            "dispatcher, PostgreSQL (local): {n} deliveries, {rps:.0} requests/s: {:.0} % of the plain client",
            rps / plain_rps * 100.0
        );
    }
    Ok(())
}
