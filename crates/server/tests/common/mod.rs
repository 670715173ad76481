//! What every integration test of `entitle serve` needs: a real server on port 0 over a fresh database
//! (a SQLite file in a temporary directory, or a PostgreSQL schema of its own when
//! `ENTITLE_TEST_DATABASE_URL` is set), an HTTP client, and the operator key.

#![allow(dead_code, reason = "each test binary uses its own part of these helpers")]
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad answer"
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use entitle_server::config::{Settings, resolve};
use entitle_server::serve::{Running, start};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// The operator key every test server starts with.
pub const ADMIN: &str = "ent_test_operator_0123456789abcdef";

/// The database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// `ENTITLE_TEST_DATABASE_URL`, if set and not empty.
pub fn pg_url() -> Option<String> {
    std::env::var("ENTITLE_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// SQLite always; PostgreSQL when `ENTITLE_TEST_DATABASE_URL` says where (else the reason it is skipped is
/// printed).
pub fn backends(test: &str) -> Vec<Backend> {
    let mut out = vec![Backend::Sqlite];
    if pg_url().is_some() {
        out.push(Backend::Postgres);
    } else {
        eprintln!("{test}: PostgreSQL variant skipped: ENTITLE_TEST_DATABASE_URL is not set");
    }
    out
}

/// Runs an async test body once per backend (each on a fresh database).
#[macro_export]
macro_rules! on_every_backend {
    ($name:ident, $body:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            for backend in common::backends(stringify!($name)) {
                eprintln!("{}: on {backend}", stringify!($name));
                $body(backend).await;
            }
        }
    };
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}

pub fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The test tenant (`acme`) as TOML, under another id.
pub fn acme_as(id: &str) -> String {
    fixture("acme.toml").replacen("id = \"acme\"", &format!("id = \"{id}\""), 1)
}

fn random_suffix() -> String {
    use rand::RngCore;
    let mut b = [0u8; 8];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// A fresh database: a SQLite file in a temporary directory, or a new PostgreSQL schema (dropped by
/// `Drop`).
#[derive(Debug)]
pub struct Db {
    pub backend: Backend,
    /// What the server is given.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL: the admin URL and the schema.
    pg: Option<(String, String)>,
}

impl Db {
    pub async fn fresh(backend: Backend) -> Arc<Db> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("entitle.db").display());
                Arc::new(Db {
                    backend,
                    url,
                    _dir: Some(dir),
                    pg: None,
                })
            }
            Backend::Postgres => {
                let base = pg_url().expect("ENTITLE_TEST_DATABASE_URL");
                let schema = format!("t_{}", random_suffix());
                let pool = sqlx::PgPool::connect(&base)
                    .await
                    .unwrap_or_else(|e| panic!("cannot connect to {base}: {e}"));
                sqlx::query(&format!("CREATE SCHEMA {schema}"))
                    .execute(&pool)
                    .await
                    .expect("create schema");
                pool.close().await;
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
                Arc::new(Db {
                    backend,
                    url,
                    _dir: None,
                    pg: Some((base, schema)),
                })
            }
        }
    }

    /// A SQLite file at `path` (a directory the test owns, on a small filesystem, say).
    pub fn sqlite_at(path: &Path) -> Arc<Db> {
        Arc::new(Db {
            backend: Backend::Sqlite,
            url: format!("sqlite://{}", path.join("entitle.db").display()),
            _dir: None,
            pg: None,
        })
    }

    /// The schema, for PostgreSQL.
    pub fn schema(&self) -> Option<&str> {
        self.pg.as_ref().map(|(_, s)| s.as_str())
    }
}

/// The PostgreSQL schema goes when the last node using it does — also when a test fails and unwinds.
impl Drop for Db {
    fn drop(&mut self) {
        let Some((base, schema)) = self.pg.take() else {
            return;
        };
        // No await in `drop`: a thread with a runtime of its own.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let Ok(pool) = sqlx::PgPool::connect(&base).await else {
                    return;
                };
                let _ = sqlx::query("SET lock_timeout = '5s'").execute(&pool).await;
                if let Err(e) = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .execute(&pool)
                    .await
                {
                    eprintln!("dropping schema {schema}: {e}");
                }
                pool.close().await;
            });
        })
        .join();
        if done.is_err() {
            eprintln!("dropping a test schema failed");
        }
    }
}

/// How to start a test server.
#[derive(Debug, Clone)]
pub struct Opts {
    pub max_body_bytes: Option<usize>,
    pub today: Option<NaiveDate>,
    /// Appended to the database URL (`?max_page_count=40` caps a SQLite file, standing in for a full disk).
    pub url_suffix: String,
    /// `ENTITLE_ADMIN_KEY` ([`ADMIN`] by default; `None`: the node makes a random key if the store has none).
    pub admin_key: Option<String>,
    /// A shared meter: `(url, prefix, fail-open or fail-closed, timeout in ms)`.
    pub redis: Option<(String, String, String, u64)>,
    /// `--memory-budget`.
    pub memory_budget: Option<String>,
    /// `--jobs-interval` (0 by default: a test that wants the scheduler asks for it; others see no job).
    pub jobs_interval_secs: u64,
    /// `--webhooks-allow-private` (a receiver on 127.0.0.1).
    pub webhooks_allow_private: bool,
    /// The node's own webhook dispatcher (off: a test runs one with a clock it moves).
    pub webhooks_dispatch: bool,
    /// `--smtp-url`.
    pub smtp_url: Option<String>,
}

impl Default for Opts {
    fn default() -> Opts {
        Opts {
            max_body_bytes: None,
            today: NaiveDate::from_ymd_opt(2024, 6, 3),
            url_suffix: String::new(),
            admin_key: Some(ADMIN.to_owned()),
            redis: None,
            memory_budget: None,
            jobs_interval_secs: 0,
            webhooks_allow_private: false,
            webhooks_dispatch: true,
            smtp_url: None,
        }
    }
}

/// A running server, its client and its database.
#[derive(Debug)]
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: Arc<Db>,
    running: Option<Running>,
}

/// A server on a fresh database.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_on(Db::fresh(backend).await, Opts::default()).await
}

/// A server on a fresh database, started with `opts`.
pub async fn spawn_with(backend: Backend, opts: Opts) -> TestApp {
    spawn_on(Db::fresh(backend).await, opts).await
}

/// A server on a given database (another node of the same store, say).
pub async fn spawn_on(db: Arc<Db>, opts: Opts) -> TestApp {
    let config = resolve(
        Settings {
            listen: Some("127.0.0.1:0".into()),
            database_url: Some(format!("{}{}", db.url, opts.url_suffix)),
            admin_key: opts.admin_key.clone(),
            max_body_bytes: opts.max_body_bytes,
            today: opts.today,
            redis_url: opts.redis.as_ref().map(|r| r.0.clone()),
            redis_prefix: opts.redis.as_ref().map(|r| r.1.clone()),
            redis_failure: opts.redis.as_ref().map(|r| r.2.clone()),
            redis_timeout_ms: opts.redis.as_ref().map(|r| r.3),
            memory_budget: opts.memory_budget.clone(),
            jobs_interval_secs: Some(opts.jobs_interval_secs),
            webhooks_allow_private: Some(opts.webhooks_allow_private),
            webhooks_dispatch: Some(opts.webhooks_dispatch),
            smtp_url: opts.smtp_url.clone(),
            smtp_from: Some("notices@entitle.test".into()),
            ..Default::default()
        },
        None,
    )
    .expect("config");
    let running = start(&config, false).await.expect("server starts");
    if let Some((base, schema)) = &db.pg {
        // The server's tables are in the test's own schema, not in `public`.
        let pool = sqlx::PgPool::connect(base).await.expect("connect");
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'tenants'",
        )
        .bind(schema)
        .fetch_one(&pool)
        .await
        .expect("count tables");
        pool.close().await;
        assert_eq!(n, 1, "the server's tables are not in schema {schema}");
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    TestApp {
        base: format!("http://{}", running.addr),
        client,
        db,
        running: Some(running),
    }
}

/// An answer, read whole.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): status {} body {}", self.status, self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn etag(&self) -> String {
        self.header("etag")
            .unwrap_or_else(|| panic!("no ETag: {} {}", self.status, self.text))
            .to_owned()
    }

    /// Asserts the status, showing the body when it is not.
    #[track_caller]
    pub fn expect(self, status: u16) -> Resp {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        self
    }

    pub fn is_problem(&self) -> bool {
        self.header("content-type")
            .is_some_and(|c| c.starts_with("application/problem+json"))
    }
}

/// A request body.
#[derive(Debug, Clone)]
pub enum Body {
    None,
    Json(Value),
    /// Raw bytes with a content type (`None`: no header).
    Raw(Option<String>, Vec<u8>),
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: Body,
    ) -> Resp {
        let mut rb = self.client.request(method, self.url(path));
        if let Some(k) = key {
            rb = rb.bearer_auth(k);
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        rb = match body {
            Body::None => rb,
            Body::Json(v) => rb.header("content-type", "application/json").body(v.to_string()),
            Body::Raw(ct, bytes) => {
                let rb = match ct {
                    Some(ct) => rb.header("content-type", ct),
                    None => rb,
                };
                rb.body(bytes)
            }
        };
        let res = rb.send().await.expect("request sent and answered");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body read");
        Resp {
            status,
            headers,
            text,
        }
    }

    pub async fn get(&self, path: &str, key: &str) -> Resp {
        self.send(Method::GET, path, Some(key), &[], Body::None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> Resp {
        self.send(Method::POST, path, Some(key), &[], Body::Json(body))
            .await
    }

    pub async fn patch(&self, path: &str, key: &str, if_match: Option<&str>, body: Value) -> Resp {
        let h: Vec<(&str, &str)> = if_match.map(|e| ("if-match", e)).into_iter().collect();
        self.send(Method::PATCH, path, Some(key), &h, Body::Json(body))
            .await
    }

    pub async fn put(&self, path: &str, key: &str, if_match: Option<&str>, body: Value) -> Resp {
        let h: Vec<(&str, &str)> = if_match.map(|e| ("if-match", e)).into_iter().collect();
        self.send(Method::PUT, path, Some(key), &h, Body::Json(body))
            .await
    }

    pub async fn delete(&self, path: &str, key: &str) -> Resp {
        self.send(Method::DELETE, path, Some(key), &[], Body::None).await
    }

    /// `POST /v1/tenants` with a TOML scenario (`catalog`: `?catalog=`).
    pub async fn create_tenant_toml(&self, toml: &str, catalog: Option<&str>) -> Resp {
        let path = match catalog {
            Some(c) => format!("/v1/tenants?catalog={c}"),
            None => "/v1/tenants".to_owned(),
        };
        self.send(
            Method::POST,
            &path,
            Some(ADMIN),
            &[],
            Body::Raw(Some("application/toml".into()), toml.as_bytes().to_vec()),
        )
        .await
    }

    /// Creates the test tenant under `id`.
    pub async fn acme(&self, id: &str) {
        self.create_tenant_toml(&acme_as(id), None).await.expect(201);
    }

    /// Makes a tenant key: `(secret, id)`.
    pub async fn key(&self, tenant: &str, spec: Value) -> (String, String) {
        let r = self
            .post(&format!("/v1/tenants/{tenant}/keys"), ADMIN, spec)
            .await
            .expect(201);
        let v = r.json();
        (
            v["key"].as_str().expect("key").to_owned(),
            v["id"].as_str().expect("id").to_owned(),
        )
    }

    /// The id of the operator key.
    pub async fn admin_id(&self) -> String {
        let keys = self.get("/v1/keys", ADMIN).await.expect(200).json();
        keys.as_array()
            .and_then(|a| a.iter().find(|k| k["role"] == "operator"))
            .and_then(|k| k["id"].as_str())
            .expect("an operator key is listed")
            .to_owned()
    }

    /// Every audit-log entry of a tenant (paged through).
    pub async fn audit_log(&self, tenant: &str, query: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut after: Option<i64> = None;
        loop {
            let mut path = format!("/v1/tenants/{tenant}/audit-log?limit=1000");
            if !query.is_empty() {
                path.push('&');
                path.push_str(query);
            }
            if let Some(a) = after {
                path.push_str(&format!("&after={a}"));
            }
            let v = self.get(&path, ADMIN).await.expect(200).json();
            out.extend(v["entries"].as_array().cloned().unwrap_or_default());
            match v["next"].as_i64() {
                Some(n) => after = Some(n),
                None => return out,
            }
        }
    }

    /// Stops the server (its database goes with the last [`Db`] handle).
    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.expect("server stops cleanly");
        }
    }
}

/// Percent-encodes a query value.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
