//! The request meter across nodes (issue: the request meter): two `entitle serve` processes sharing the local
//! PostgreSQL and Redis enforce one budget exactly; with Redis gone, no node answers 5xx, the configured policy
//! holds, and counting returns to Redis when it is back.
//!
//! Needs `ENTITLE_TEST_DATABASE_URL` and `ENTITLE_TEST_REDIS_URL` (`.ci/run` sets both); without them it prints
//! why and passes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers: a failed step is a failed test"
)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ADMIN: &str = "ent_multinode_test_admin_key_0001";

struct Node {
    child: Child,
    base: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(db: &str, args: &[&str]) -> Node {
    let mut child = Command::new(env!("CARGO_BIN_EXE_entitle"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", db])
        .args(args)
        .env("ENTITLE_ADMIN_KEY", ADMIN)
        .env("ENTITLE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start entitle serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("the server printed its address")
            .expect("read stdout");
        if let Some(addr) = line.strip_prefix("entitle: listening on ") {
            break addr.trim().to_owned();
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Node { child, base }
}

fn rand_suffix() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{:x}{:x}", t, std::process::id())
}

/// Drops a test's schema (best effort: a failed test leaves it for inspection).
async fn drop_schema(url: &str, name: &str) {
    if let Ok(pool) = sqlx::PgPool::connect(url).await {
        let _ = sqlx::query(&format!("DROP SCHEMA {name} CASCADE"))
            .execute(&pool)
            .await;
        pool.close().await;
    }
}

/// A fresh schema in the test database, and the URL that makes it the search path.
async fn fresh_schema(url: &str, name: &str) -> String {
    let pool = sqlx::PgPool::connect(url)
        .await
        .expect("connect to ENTITLE_TEST_DATABASE_URL");
    sqlx::query(&format!("CREATE SCHEMA {name}"))
        .execute(&pool)
        .await
        .expect("create schema");
    pool.close().await;
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{name}")
}

fn scenario(tenant: &str) -> String {
    format!(
        r#"
[tenant]
id = "{tenant}"

[[subscriptions]]
sku = "power-apps-per-app"
quantity = 2

[[users]]
id = "pat"
licenses = ["power-apps-per-app"]

[[users]]
id = "quinn"
licenses = ["power-apps-per-app"]

[[environments]]
id = "default"
default = true
dataverse = true
"#
    )
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(512)
        .build()
        .unwrap()
}

async fn create_tenant(c: &reqwest::Client, node: &Node, tenant: &str) {
    let r = c
        .post(format!("{}/v1/tenants", node.base))
        .bearer_auth(ADMIN)
        .header("content-type", "application/toml")
        .body(scenario(tenant))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

/// Waits until `node` knows the tenant (another node created it), at most 1 s (LISTEN/NOTIFY).
async fn sees_tenant(c: &reqwest::Client, node: &Node, tenant: &str) -> Duration {
    let start = Instant::now();
    loop {
        let r = c
            .get(format!("{}/v1/tenants/{tenant}", node.base))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "the second node did not see the tenant within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn count(
    c: &reqwest::Client,
    node: &Node,
    tenant: &str,
    user: &str,
) -> (u16, serde_json::Value, Option<String>) {
    let r = c
        .post(format!("{}/v1/tenants/{tenant}/usage", node.base))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"user": user}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = r.json().await.unwrap_or(serde_json::Value::Null);
    (status, body, retry)
}

async fn mode(c: &reqwest::Client, node: &Node) -> String {
    let text = c
        .get(format!("{}/metrics", node.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("entitle_meter_mode{") && l.ends_with(" 1"))
        .filter_map(|l| l.split('"').nth(1))
        .next()
        .unwrap_or("?")
        .to_owned()
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn req1_two_nodes_share_one_budget_exactly() {
    let (Some(db), Some(redis)) = (env("ENTITLE_TEST_DATABASE_URL"), env("ENTITLE_TEST_REDIS_URL")) else {
        eprintln!(
            "skipped: set ENTITLE_TEST_DATABASE_URL and ENTITLE_TEST_REDIS_URL to run the two-node meter test"
        );
        return;
    };
    let suffix = rand_suffix();
    let (base_url, schema) = (db.clone(), format!("mn_{suffix}"));
    let db = fresh_schema(&db, &schema).await;
    let prefix = format!("entitle-test-{suffix}:");
    let args = ["--redis-url", redis.as_str(), "--redis-prefix", prefix.as_str()];
    let a = start(&db, &args);
    let b = start(&db, &args);
    let c = client();
    let tenant = format!("meter-{suffix}");
    create_tenant(&c, &a, &tenant).await;
    let seen = sees_tenant(&c, &b, &tenant).await;
    eprintln!("node B saw node A's tenant after {seen:?}");

    // REQ-3: a Power Apps per-app user has 6,000 requests per 24 hours.
    let limits: serde_json::Value = c
        .get(format!("{}/v1/tenants/{tenant}/limits?user=pat", b.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(limits["requests_per_24h"], 6000, "{limits}");

    // 7,000 single requests, all launched at once, alternating between the nodes (256 in flight at a time:
    // the client's sockets, not the server, set that bound).
    let nodes = Arc::new([a.base.clone(), b.base.clone()]);
    let gate = Arc::new(tokio::sync::Semaphore::new(256));
    let started = Instant::now();
    let tasks: Vec<_> = (0..7000)
        .map(|i| {
            let (c, nodes, gate, tenant) = (c.clone(), Arc::clone(&nodes), Arc::clone(&gate), tenant.clone());
            tokio::spawn(async move {
                let _permit = gate.acquire().await.unwrap();
                let base = &nodes[i % 2];
                let r = c
                    .post(format!("{base}/v1/tenants/{tenant}/usage"))
                    .bearer_auth(ADMIN)
                    .json(&serde_json::json!({"user": "pat"}))
                    .send()
                    .await
                    .unwrap();
                let retry = r.headers().contains_key("retry-after");
                (r.status().as_u16(), retry)
            })
        })
        .collect();
    let mut ok = 0;
    let mut refused = 0;
    let mut other = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (200, _) => ok += 1,
            (429, true) => refused += 1,
            x => other.push(x),
        }
    }
    eprintln!(
        "7,000 requests over two nodes in {:?}: {ok} × 200, {refused} × 429",
        started.elapsed()
    );
    assert!(
        other.is_empty(),
        "unexpected answers: {:?}",
        &other[..other.len().min(10)]
    );
    assert_eq!((ok, refused), (6000, 1000));

    // Both nodes agree on what is left: nothing.
    for node in [&a, &b] {
        let (status, body, retry) = count(&c, node, &tenant, "pat").await;
        assert_eq!(status, 429, "{body}");
        assert_eq!(body["remaining"], 0);
        let secs: u64 = retry.expect("Retry-After").parse().unwrap();
        assert!(
            secs > 23 * 3600,
            "the first requests leave the 24-hour window in about a day, not {secs} s"
        );
    }
    drop((a, b));
    drop_schema(&base_url, &schema).await;
}

/// A private Redis, stopped when dropped.
struct Redis(Child);

impl Redis {
    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts a private Redis on a free port (so the test can stop it), or `None` if `redis-server` is missing.
fn private_redis(port: u16) -> Option<Redis> {
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
        .map(Redis)?;
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if start.elapsed() > Duration::from_secs(5) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(child)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn req7_redis_down_keeps_answering_under_the_policy_and_recovers() {
    let Some(db) = env("ENTITLE_TEST_DATABASE_URL") else {
        eprintln!("skipped: set ENTITLE_TEST_DATABASE_URL to run the Redis failure test");
        return;
    };
    let port = free_port();
    let Some(mut redis) = private_redis(port) else {
        eprintln!("skipped: no redis-server binary to start and stop");
        return;
    };
    let suffix = rand_suffix();
    let (base_url, schema) = (db.clone(), format!("rf_{suffix}"));
    let db = fresh_schema(&db, &schema).await;
    let url = format!("redis://127.0.0.1:{port}");
    let open = start(&db, &["--redis-url", &url, "--redis-timeout-ms", "200"]);
    let closed = start(
        &db,
        &[
            "--redis-url",
            &url,
            "--redis-timeout-ms",
            "200",
            "--redis-failure",
            "fail-closed",
        ],
    );
    let c = client();
    let tenant = format!("fail-{suffix}");
    create_tenant(&c, &open, &tenant).await;
    sees_tenant(&c, &closed, &tenant).await;

    for i in 1..=50u64 {
        let (status, body, _) = count(&c, &open, &tenant, "quinn").await;
        assert_eq!(
            (status, body["remaining"].as_u64()),
            (200, Some(6000 - i)),
            "{body}"
        );
    }
    assert_eq!(mode(&c, &open).await, "redis");

    // Redis stops.
    redis.stop();
    let mut local = 0;
    for _ in 0..40 {
        let (status, body, retry) = count(&c, &open, &tenant, "quinn").await;
        assert_eq!(
            status, 200,
            "fail-open keeps admitting within the local limit: {body}"
        );
        local += 1;
        let (status, body, retry_closed) = count(&c, &closed, &tenant, "quinn").await;
        assert_eq!(status, 503, "fail-closed refuses while Redis is down: {body}");
        assert_eq!(
            body["type"], "https://entitle.dev/problems/meter-unavailable",
            "{body}"
        );
        assert!(retry_closed.is_some(), "a refusal says when to retry");
        assert!(retry.is_none());
    }
    assert_eq!(mode(&c, &open).await, "fail-open");
    assert_eq!(mode(&c, &closed).await, "fail-closed");
    eprintln!("{local} requests admitted by the local limiter while Redis was down");

    // Redis is back (empty: this one keeps nothing on disk); counting returns to it within the probe backoff.
    let _redis = private_redis(port).expect("restart redis");
    let start_wait = Instant::now();
    loop {
        let (status, _, _) = count(&c, &open, &tenant, "quinn").await;
        assert!(
            status == 200 || status == 429,
            "fail-open answers while recovering"
        );
        if mode(&c, &open).await == "redis" {
            break;
        }
        assert!(
            start_wait.elapsed() < Duration::from_secs(15),
            "the node did not return to Redis"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("back on Redis after {:?}", start_wait.elapsed());
    // Both nodes now count in the same (new) Redis again: one budget.
    let (_, first, _) = count(&c, &open, &tenant, "quinn").await;
    let before = first["remaining"].as_u64().unwrap();
    loop {
        let (status, body, _) = count(&c, &closed, &tenant, "quinn").await;
        if status == 200 {
            assert_eq!(body["remaining"].as_u64(), Some(before - 1), "{body}");
            break;
        }
        assert!(
            start_wait.elapsed() < Duration::from_secs(20),
            "the fail-closed node did not return to Redis"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, last, _) = count(&c, &open, &tenant, "quinn").await;
    assert_eq!(last["remaining"].as_u64(), Some(before - 2), "{last}");
    drop((open, closed));
    drop_schema(&base_url, &schema).await;
}

// ------------------------------------------------------------------------------------------------ issue 14

/// A GET with the operator key, as JSON (`null` when the answer is not JSON).
async fn get_json(c: &reqwest::Client, url: String) -> serde_json::Value {
    c.get(url)
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap_or_default()
}

/// What a receiver got: (webhook-id, body) of each request, and whether its signature held.
type Received = Arc<std::sync::Mutex<Vec<(String, String, bool)>>>;

/// A webhook receiver on 127.0.0.1 checking every signature with `secrets` (filled once the endpoints exist).
async fn receiver(secrets: Arc<std::sync::Mutex<Vec<String>>>) -> (String, Received) {
    use entitle_server::hooks::sign::{Secret, verify};
    let got: Received = Arc::default();
    let g = Arc::clone(&got);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let (g, secrets) = (Arc::clone(&g), Arc::clone(&secrets));
            async move {
                let h = |n: &str| {
                    headers
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned()
                };
                let id = h("webhook-id");
                let ts: i64 = h("webhook-timestamp").parse().unwrap_or(0);
                let keys: Vec<Secret> = secrets
                    .lock()
                    .unwrap()
                    .iter()
                    .filter_map(|s| Secret::parse(s).ok())
                    .collect();
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                let ok = verify(&keys, &id, ts, &h("webhook-signature"), body.as_bytes(), now, 300);
                g.lock().unwrap().push((id, body, ok));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), got)
}

/// The example tenant as a real-time tenant whose jobs last ran on 2022-07-31: two years to catch up.
fn behind(id: &str) -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/enforcement-timeline.toml"
    ))
    .unwrap()
    .replace("id = \"northwind\"", &format!("id = \"{id}\""))
    .replace(
        "at = \"2022-08-01\"\ntest_clock = true",
        "jobs_through = \"2022-07-31\"",
    )
}

/// Issue 14, item 6: two nodes on PostgreSQL run the jobs of 12 tenants that are two years behind; one is
/// killed with -9 in the middle of the sweep. The other finishes (the dead node's leases run out): every job's
/// effect happened once (each flow turned off once, on its date), every event is stored once and is exactly the
/// list `entitle timeline` gives, and every event reached the webhook receiver with a valid signature (a
/// delivery the dead node had claimed is sent again by the other, with the same `webhook-id`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enf_3_two_nodes_one_killed_mid_sweep_each_job_once() {
    let Some(db) = env("ENTITLE_TEST_DATABASE_URL") else {
        eprintln!("skipped: set ENTITLE_TEST_DATABASE_URL to run the two-node jobs test");
        return;
    };
    let suffix = rand_suffix();
    let (base_url, schema) = (db.clone(), format!("jb_{suffix}"));
    let db = fresh_schema(&db, &schema).await;
    let secrets: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let (hook, received) = receiver(Arc::clone(&secrets)).await;
    // No jobs on the node that sets the tenants up; then two nodes that look every second.
    let setup = start(
        &db,
        &["--today", "2024-09-01", "--jobs-interval", "0", "--no-webhooks"],
    );
    let c = client();
    let tenants: Vec<String> = (0..12).map(|i| format!("nw-{i}")).collect();
    for t in &tenants {
        let r = c
            .post(format!("{}/v1/tenants", setup.base))
            .bearer_auth(ADMIN)
            .header("content-type", "application/toml")
            .body(behind(t))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
    drop(setup);
    // Endpoints are made straight in the store's tables' API by a node that allows a loopback receiver.
    let args = [
        "--today",
        "2024-09-01",
        "--jobs-interval",
        "1",
        "--webhooks-allow-private",
    ];
    let a = start(&db, &args);
    for t in &tenants {
        let r: serde_json::Value = c
            .post(format!("{}/v1/tenants/{t}/webhooks", a.base))
            .bearer_auth(ADMIN)
            .json(&serde_json::json!({"url": hook}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        secrets
            .lock()
            .unwrap()
            .push(r["secret"].as_str().expect("a secret").to_owned());
    }
    let b = start(&db, &args);
    // The first look comes a second after the start: kill `a` in the middle of the sweep.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let mut a = a;
    a.child.kill().unwrap(); // SIGKILL
    a.child.wait().unwrap();
    // The kill came in the middle of the sweep: some days had run, not all of them.
    let mut behind_then = 0;
    let mut events_then = 0;
    for t in &tenants {
        let v: serde_json::Value =
            get_json(&c, format!("{}/v1/tenants/{t}/export?format=json", b.base)).await;
        behind_then += usize::from(v["tenant"]["jobs_through"] != "2024-09-01");
        let e: serde_json::Value = get_json(&c, format!("{}/v1/tenants/{t}/events?limit=1000", b.base)).await;
        events_then += e["events"].as_array().map_or(0, Vec::len);
    }
    eprintln!(
        "at the kill: {behind_then} of {} tenants behind, {events_then} events stored",
        tenants.len()
    );
    assert!(
        behind_then > 0,
        "the sweep had ended before the kill: the test proves nothing"
    );
    assert!(
        events_then > tenants.len(),
        "the sweep had not begun before the kill"
    );
    // `b` finishes: every tenant's jobs through 2024-09-01, and every delivery made.
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let mut done = 0;
        for t in &tenants {
            let v: serde_json::Value =
                get_json(&c, format!("{}/v1/tenants/{t}/export?format=json", b.base)).await;
            if v["tenant"]["jobs_through"] == "2024-09-01" {
                done += 1;
            }
        }
        if done == tenants.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{done} of {} tenants caught up",
            tenants.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The offline timeline of the same tenant and range: what each tenant's events must be, once each.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("behind.toml");
    std::fs::write(&file, behind("nw-x")).unwrap();
    let offline = Command::new(env!("CARGO_BIN_EXE_entitle"))
        .args([
            "timeline",
            "--format",
            "json",
            "--from",
            "2022-08-01",
            "--to",
            "2024-09-01",
            "--scenario",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        offline.status.success(),
        "{}",
        String::from_utf8_lossy(&offline.stderr)
    );
    let days: serde_json::Value = serde_json::from_slice(&offline.stdout).unwrap();
    let want: Vec<(String, String)> = days
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| {
            d["happenings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| {
                    (
                        d["on"].as_str().unwrap().to_owned(),
                        h["type"].as_str().unwrap().to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let mut all_ids = std::collections::BTreeSet::new();
    for t in &tenants {
        let v: serde_json::Value = get_json(&c, format!("{}/v1/tenants/{t}/events?limit=1000", b.base)).await;
        let got: Vec<(String, String)> = v["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] != "tenant.created")
            .map(|e| {
                (
                    e["day"].as_str().unwrap().to_owned(),
                    e["type"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(got, want, "{t}: each job once, in order");
        for e in v["events"].as_array().unwrap() {
            if e["type"] != "tenant.created" {
                all_ids.insert(e["id"].as_str().unwrap().to_owned());
            }
        }
        // Each flow turned off once, on its date (a second run of a day would have moved nothing either).
        let flows: serde_json::Value = get_json(&c, format!("{}/v1/tenants/{t}/flows/orders", b.base)).await;
        assert_eq!(flows["suspended"]["on"], "2022-10-15", "{t}: {flows}");
    }
    // Every event reached the receiver, signed; a redelivery keeps its webhook-id (the body names the same event).
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got = received.lock().unwrap().clone();
        let ids: std::collections::BTreeSet<String> = got.iter().map(|(id, _, _)| id.clone()).collect();
        if ids.is_superset(&all_ids) {
            assert!(got.iter().all(|(_, _, ok)| *ok), "a bad signature");
            for (id, body, _) in &got {
                let v: serde_json::Value = serde_json::from_str(body).unwrap();
                assert_eq!(
                    v["id"].as_str(),
                    Some(id.as_str()),
                    "webhook-id is the event's id"
                );
            }
            let twice = got.len() - ids.len();
            eprintln!(
                "{} events, {} requests ({twice} sent again after the kill, each with its webhook-id)",
                all_ids.len(),
                got.len()
            );
            assert!(ids.is_subset(&all_ids), "no event the store does not have");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} events delivered",
            ids.len(),
            all_ids.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(b);
    drop_schema(&base_url, &schema).await;
}
