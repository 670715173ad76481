//! Webhook dispatch against a plain HTTP client, in one run, to the same local receiver (issue 14's target:
//! dispatch reaches ≥ 50 % of the plain client's requests/s): a receiver on 127.0.0.1 answering 204; then ROUNDS
//! rounds, each of (a) reqwest POSTing N event-sized signed bodies at the dispatcher's concurrency (32), and (b)
//! the dispatcher delivering N stored events of one endpoint, from fan-out to the last recorded attempt, on
//! SQLite (a file in a temporary directory, every commit fsynced) and, with `ENTITLE_TEST_DATABASE_URL`, on
//! PostgreSQL. The medians of the rounds are compared.
//!
//! `cargo run --release -p entitle-server --example dispatch_load -- [N=20000] [ROUNDS=5]`
//! (`DISPATCH_BATCH=256` tries another claim size than the default).

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

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let at = |i: usize| v.get(i).copied().unwrap_or(0.0);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        at(mid)
    } else {
        (at(mid.saturating_sub(1)) + at(mid)) / 2.0
    }
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
    let rounds: usize = std::env::args()
        .nth(2)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(5);
    let pg_url = std::env::var("ENTITLE_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty());
    // Rounds of the three in turn (plain client, dispatcher on SQLite, on PostgreSQL): whatever else the machine
    // does, or however the runtime happens to place the tasks, falls on all three alike; the medians compare.
    let (mut plain_runs, mut sqlite_runs, mut pg_runs) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let p = plain(&url, n).await?;
        let dir = std::env::temp_dir().join(format!("entitle-dispatch-{}-{round}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let sqlite = store::open(&format!("sqlite://{}/d.db", dir.display())).await?;
        let s = dispatched(sqlite, &url, n, "SQLite").await?;
        std::fs::remove_dir_all(&dir)?;
        let mut line = format!("round {round}: plain {p:.0}/s, SQLite {s:.0}/s");
        plain_runs.push(p);
        sqlite_runs.push(s);
        if let Some(db) = &pg_url {
            let schema = format!("dispatch_{}_{round}", std::process::id());
            let pool = sqlx::PgPool::connect(db).await?;
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&pool)
                .await?;
            let sep = if db.contains('?') { '&' } else { '?' };
            let pg = store::open(&format!("{db}{sep}options=-c%20search_path%3D{schema}")).await?;
            let done = dispatched(pg, &url, n, "PostgreSQL").await;
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&pool)
                .await?;
            let r = done?;
            line.push_str(&format!(", PostgreSQL {r:.0}/s"));
            pg_runs.push(r);
        }
        println!("{line}");
    }
    let plain_rps = median(&mut plain_runs);
    println!(
        "medians of {rounds} rounds of {n}: plain reqwest client, 32 at once, {plain_rps:.0} requests/s"
    );
    let sqlite_rps = median(&mut sqlite_runs);
    println!(
        "dispatcher, SQLite (fsync on commit): {sqlite_rps:.0} requests/s: {:.0} % of the plain client",
        sqlite_rps / plain_rps * 100.0
    );
    if !pg_runs.is_empty() {
        let rps = median(&mut pg_runs);
        println!(
            "dispatcher, PostgreSQL (local): {rps:.0} requests/s: {:.0} % of the plain client",
            rps / plain_rps * 100.0
        );
    }
    Ok(())
}
