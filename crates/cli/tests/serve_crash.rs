//! Crash safety of `entitle serve`, with the real binary: a burst of concurrent writes, `kill -9` in the middle
//! of it, a restart on the same store, and then the store must hold every acknowledged write, whole, and no
//! write half-applied (an entity without its audit entry, or an audit entry without its entity). Run against
//! SQLite always and against PostgreSQL when `ENTITLE_TEST_DATABASE_URL` is set (a fresh schema per run).
//!
//! Also: an `Idempotency-Key` answered before a crash is still replayed after it (the record is durable).
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test when the server misbehaves"
)]

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::Value;

mod common;

const ADMIN_KEY: &str = "crash-test-operator-key-0123456789";
const TENANT: &str = "fabrikam-bakery";
const WRITES: usize = 1_000;
const CLIENTS: usize = 64;
const KILL_AFTER: usize = 300;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/small-business-m365.toml")
}

/// Where a server keeps its data.
#[derive(Debug, Clone)]
enum Backend {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Backend {
    fn args(&self) -> Vec<String> {
        match self {
            Backend::Sqlite(dir) => vec!["--data-dir".into(), dir.display().to_string()],
            Backend::Postgres(url) => vec!["--database-url".into(), url.clone()],
        }
    }
}

/// A running `entitle serve`; killed (SIGKILL) when dropped.
struct Server {
    child: Arc<Mutex<Child>>,
    base: String,
    stderr: Arc<Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Server {
    fn start(backend: &Backend) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_entitle"));
        cmd.arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(backend.args())
            .env("ENTITLE_ADMIN_KEY", ADMIN_KEY)
            .env("ENTITLE_LOG", "warn")
            .env_remove("ENTITLE_CONFIG");
        let common::Launched {
            child, base, stderr, ..
        } = common::launch(cmd);
        Server {
            child: Arc::new(Mutex::new(child)),
            base,
            stderr,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGKILL: no chance to finish anything.
    fn kill_9(&self) {
        let mut c = self.child.lock().unwrap();
        c.kill().expect("SIGKILL the server");
        let status = c.wait().expect("reap the server");
        assert!(!status.success(), "killed, not exited: {status:?}");
    }
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(1)
        .build()
        .expect("an HTTP client")
}

fn auth() -> String {
    format!("Bearer {ADMIN_KEY}")
}

fn create_tenant(c: &Client, s: &Server) {
    let body = std::fs::read(example()).expect("the example scenario");
    let res = c
        .post(s.url("/v1/tenants"))
        .header("Authorization", auth())
        .header("Content-Type", "application/toml")
        .body(body)
        .send()
        .expect("POST /v1/tenants");
    let status = res.status();
    assert_eq!(status, StatusCode::CREATED, "{}", res.text().unwrap_or_default());
}

fn get_json(c: &Client, s: &Server, path: &str) -> Value {
    let res = c
        .get(s.url(path))
        .header("Authorization", auth())
        .send()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = res.status();
    let text = res.text().expect("a body");
    assert_eq!(status, StatusCode::OK, "GET {path}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path} is not JSON ({e}): {text}"))
}

/// What became of one write of the burst.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// A 2xx answer arrived: the write is acknowledged.
    Acked(u16),
    /// Another answer arrived.
    Refused(u16, String),
    /// No answer (the server died first, or never got it).
    Lost,
}

fn entity_id(i: usize) -> String {
    format!("burst-{i:04}")
}

/// Fires `WRITES` entity creations through `CLIENTS` concurrent clients and kills the server with SIGKILL
/// once `KILL_AFTER` of them are acknowledged. Returns each write's outcome.
fn burst_and_kill(s: &Server) -> HashMap<String, Outcome> {
    let next = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(AtomicUsize::new(0));
    let outcomes = Arc::new(Mutex::new(HashMap::new()));
    let endpoint = s.url(&format!("/v1/tenants/{TENANT}/entities"));
    let workers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (next, acked, outcomes, endpoint) = (
                Arc::clone(&next),
                Arc::clone(&acked),
                Arc::clone(&outcomes),
                endpoint.clone(),
            );
            std::thread::spawn(move || {
                let c = client();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= WRITES {
                        break;
                    }
                    let id = entity_id(i);
                    let outcome = match c
                        .post(&endpoint)
                        .header("Authorization", auth())
                        .header("Content-Type", "application/json")
                        .body(format!(r#"{{"id": "{id}"}}"#))
                        .send()
                    {
                        Ok(res) if res.status().is_success() => {
                            let status = res.status().as_u16();
                            // The answer is acknowledged once its status line arrived; read the body anyway.
                            let _ = res.bytes();
                            acked.fetch_add(1, Ordering::SeqCst);
                            Outcome::Acked(status)
                        }
                        Ok(res) => {
                            let status = res.status().as_u16();
                            Outcome::Refused(status, res.text().unwrap_or_default())
                        }
                        Err(_) => Outcome::Lost,
                    };
                    outcomes.lock().unwrap().insert(id, outcome);
                }
            })
        })
        .collect();
    // The killer: SIGKILL as soon as KILL_AFTER writes are acknowledged, with many more in flight.
    let deadline = Instant::now() + Duration::from_secs(300);
    while acked.load(Ordering::SeqCst) < KILL_AFTER {
        assert!(
            Instant::now() < deadline,
            "only {} writes acknowledged in 300 s; stderr:\n{}",
            acked.load(Ordering::SeqCst),
            s.stderr.lock().unwrap()
        );
        std::thread::sleep(Duration::from_micros(200));
    }
    // A jitter of up to 3 ms, so that over runs the kill lands at every point of a commit (before, during,
    // between commit and answer).
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_micros()) % 3_000)
        .unwrap_or(0);
    std::thread::sleep(Duration::from_micros(jitter));
    s.kill_9();
    for w in workers {
        w.join().expect("a client thread");
    }
    Arc::try_unwrap(outcomes)
        .expect("all clients done")
        .into_inner()
        .unwrap()
}

/// Every audit entry of kind `entity`, through the log's paging.
fn entity_audit(c: &Client, s: &Server) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after: Option<i64> = None;
    loop {
        let path = match after {
            Some(a) => format!("/v1/tenants/{TENANT}/audit-log?kind=entity&limit=100&after={a}"),
            None => format!("/v1/tenants/{TENANT}/audit-log?kind=entity&limit=100"),
        };
        let page = get_json(c, s, &path);
        let entries = page["entries"].as_array().expect("entries").clone();
        assert!(entries.len() <= 100, "a page holds at most `limit` entries");
        out.extend(entries);
        match page["next"].as_i64() {
            Some(n) => {
                assert!(after.is_none_or(|a| n > a), "paging moves forward");
                after = Some(n);
            }
            None => break,
        }
    }
    out
}

/// The whole scenario: kill -9 in the middle of a burst, restart, check.
fn kill_9_mid_burst(backend: &Backend) {
    let c = client();
    let s = Server::start(backend);
    create_tenant(&c, &s);
    let outcomes = burst_and_kill(&s);
    drop(s);

    let acked: BTreeSet<&str> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Acked(_)))
        .map(|(id, _)| id.as_str())
        .collect();
    let refused: Vec<_> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Refused(..)))
        .collect();
    let lost = outcomes.values().filter(|o| **o == Outcome::Lost).count();
    assert_eq!(outcomes.len(), WRITES);
    assert!(
        refused.is_empty(),
        "every answer before the kill is a success: {refused:?}"
    );
    assert!(
        acked.iter().all(|id| outcomes[*id] == Outcome::Acked(201)),
        "a created entity is 201"
    );
    assert!(
        acked.len() >= KILL_AFTER,
        "killed after {KILL_AFTER} acknowledgements"
    );
    assert!(
        acked.len() < WRITES,
        "the kill came in the middle of the burst: all {WRITES} were acknowledged first"
    );

    let s = Server::start(backend);
    // Every acknowledged write is there.
    let listed = get_json(&c, &s, &format!("/v1/tenants/{TENANT}/entities"));
    let listed: Vec<String> = listed
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| e["id"].as_str().expect("an id").to_owned())
        .collect();
    let present: BTreeSet<&str> = listed.iter().map(String::as_str).collect();
    assert_eq!(present.len(), listed.len(), "no entity twice: {listed:?}");
    let missing: Vec<_> = acked.difference(&present).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but gone after the crash: {missing:?}"
    );
    assert!(
        present.iter().all(|id| outcomes.contains_key(*id)),
        "only the burst's entities: {present:?}"
    );

    // The document is whole: it exports and parses, and says the same as the list, entity by entity.
    let export = get_json(&c, &s, &format!("/v1/tenants/{TENANT}/export"));
    let exported: BTreeSet<&str> = export["entities"]
        .as_array()
        .map(|a| a.iter().map(|e| e["id"].as_str().expect("an id")).collect())
        .unwrap_or_default();
    assert_eq!(exported, present, "export and list agree");
    for e in export["entities"].as_array().into_iter().flatten() {
        assert_eq!(
            e,
            &serde_json::json!({"id": e["id"], "dynamics": false, "restricted": false}),
            "each entity is whole"
        );
    }
    let summary = get_json(&c, &s, &format!("/v1/tenants/{TENANT}"));
    assert_eq!(summary["counts"]["entities"].as_u64(), Some(present.len() as u64));
    assert_eq!(
        summary["version"].as_u64(),
        Some(1 + present.len() as u64),
        "one version per committed write, none lost, none half-made"
    );
    // The other sections survived untouched.
    assert_eq!(summary["counts"]["users"].as_u64(), Some(6));
    assert_eq!(summary["counts"]["flows"].as_u64(), Some(5));

    // No write half-applied: each entity has its audit entry and each audit entry its entity.
    let log = entity_audit(&c, &s);
    let logged: Vec<&str> = log
        .iter()
        .map(|e| {
            assert_eq!(e["action"], "create", "{e}");
            assert_eq!(e["kind"], "entity", "{e}");
            e["item"].as_str().expect("an item")
        })
        .collect();
    let logged_set: BTreeSet<&str> = logged.iter().copied().collect();
    assert_eq!(logged_set.len(), logged.len(), "one audit entry per write");
    assert_eq!(
        logged_set,
        present,
        "audit log and document agree (entities without entries: {:?}; entries without entities: {:?})",
        present.difference(&logged_set).collect::<Vec<_>>(),
        logged_set.difference(&present).collect::<Vec<_>>()
    );

    // And the restarted server takes writes again.
    let res = c
        .post(s.url(&format!("/v1/tenants/{TENANT}/entities")))
        .header("Authorization", auth())
        .header("Content-Type", "application/json")
        .body(r#"{"id": "after-restart"}"#)
        .send()
        .expect("a write after the restart");
    assert_eq!(res.status(), StatusCode::CREATED);

    println!(
        "kill -9 mid-burst ({backend:?}): {WRITES} writes, {} acknowledged, {} unanswered, {} present after restart \
         ({} committed but unacknowledged)",
        acked.len(),
        lost,
        present.len(),
        present.len() - acked.len()
    );
}

/// A replayed `Idempotency-Key` after a kill -9 and restart gets the first answer again, and changes nothing.
fn idempotency_survives_a_restart(backend: &Backend) {
    let c = client();
    let s = Server::start(backend);
    create_tenant(&c, &s);
    let post = |s: &Server, key: &str, body: &'static str| {
        c.post(s.url(&format!("/v1/tenants/{TENANT}/entities")))
            .header("Authorization", auth())
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", key)
            .body(body)
            .send()
            .expect("POST an entity")
    };
    let first = post(&s, "create-e1", r#"{"id": "e1"}"#);
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_etag = first.headers().get("etag").cloned();
    let first_body: Value = first.json().expect("JSON");
    s.kill_9();
    drop(s);

    let s = Server::start(backend);
    let again = post(&s, "create-e1", r#"{"id": "e1"}"#);
    assert_eq!(
        again.status(),
        StatusCode::CREATED,
        "replayed, not `exists already`"
    );
    assert_eq!(
        again.headers().get("idempotent-replayed").map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    assert_eq!(again.headers().get("etag").cloned(), first_etag);
    let again_body: Value = again.json().expect("JSON");
    assert_eq!(again_body, first_body);
    // The same key for another request is refused, also after the restart.
    let other = post(&s, "create-e1", r#"{"id": "e2"}"#);
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Nothing was applied twice.
    let listed = get_json(&c, &s, &format!("/v1/tenants/{TENANT}/entities"));
    assert_eq!(listed, serde_json::json!([first_body]));
    let summary = get_json(&c, &s, &format!("/v1/tenants/{TENANT}"));
    assert_eq!(summary["version"].as_u64(), Some(2));
    assert_eq!(entity_audit(&c, &s).len(), 1);
}

/// A fresh PostgreSQL schema for one server, dropped afterwards.
struct PgSchema {
    base: String,
    name: String,
    rt: tokio::runtime::Runtime,
}

impl PgSchema {
    /// `None` (with the reason printed) when `ENTITLE_TEST_DATABASE_URL` is not set.
    fn new(test: &str) -> Option<PgSchema> {
        let Some(base) = std::env::var("ENTITLE_TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            eprintln!(
                "skipped {test}: set ENTITLE_TEST_DATABASE_URL=postgres://… to run it against PostgreSQL"
            );
            return None;
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("c_{}_{:08x}", std::process::id(), nanos);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let schema = PgSchema { base, name, rt };
        schema.execute(&format!("CREATE SCHEMA {}", schema.name));
        Some(schema)
    }

    fn execute(&self, sql: &str) {
        self.rt.block_on(async {
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&self.base)
                .await
                .expect("connect to ENTITLE_TEST_DATABASE_URL");
            sqlx::query(sql)
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        });
    }

    fn count(&self, sql: &str) -> i64 {
        self.rt.block_on(async {
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&self.base)
                .await
                .expect("connect to ENTITLE_TEST_DATABASE_URL");
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        })
    }

    /// The server's URL: the same database, with `search_path` set to this schema at connection start.
    fn url(&self) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-c%20search_path%3D{}", self.base, self.name)
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
        let _ = self.rt.block_on(async {
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&self.base).await?;
            sqlx::query(&sql).execute(&mut conn).await
        });
    }
}

#[test]
fn sqlite_kill_9_mid_burst_keeps_every_acknowledged_write_and_no_half_write() {
    let dir = tempfile::tempdir().expect("a temp dir");
    kill_9_mid_burst(&Backend::Sqlite(dir.path().to_path_buf()));
}

#[test]
fn postgres_kill_9_mid_burst_keeps_every_acknowledged_write_and_no_half_write() {
    let Some(schema) = PgSchema::new("postgres_kill_9_mid_burst") else {
        return;
    };
    kill_9_mid_burst(&Backend::Postgres(schema.url()));
    // sqlx honoured `options=-c search_path=…`: the server's tables are in this run's schema.
    let entities = schema.count(&format!(
        "SELECT COUNT(*) FROM {}.audit_log WHERE tenant = '{TENANT}' AND kind = 'entity'",
        schema.name
    ));
    assert!(
        entities >= KILL_AFTER as i64,
        "the writes landed in schema {}",
        schema.name
    );
    assert_eq!(
        schema.count(&format!(
            "SELECT COUNT(*) FROM {}.tenants WHERE id = '{TENANT}'",
            schema.name
        )),
        1
    );
}

#[test]
fn sqlite_idempotency_key_replays_across_a_restart() {
    let dir = tempfile::tempdir().expect("a temp dir");
    idempotency_survives_a_restart(&Backend::Sqlite(dir.path().to_path_buf()));
}

#[test]
fn postgres_idempotency_key_replays_across_a_restart() {
    let Some(schema) = PgSchema::new("postgres_idempotency_key_replays_across_a_restart") else {
        return;
    };
    idempotency_survives_a_restart(&Backend::Postgres(schema.url()));
    assert_eq!(
        schema.count(&format!("SELECT COUNT(*) FROM {}.idempotency", schema.name)),
        1
    );
}
