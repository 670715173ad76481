//! Trust in the store (issue "Trust", items 1 and 2): nothing acknowledged is lost when the disk fills up, and a
//! tenant re-created under an old id inherits nothing of the old one.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad answer"
)]

mod common;

use common::{ADMIN, Backend, Db, Opts, spawn_on};
use serde_json::json;

/// Item 1. A SQLite file capped by `max_page_count` fills up like a full disk. Every write answered 2xx must
/// be there after a restart, every write answered 5xx must be absent, and `/readyz` must say the store cannot
/// write while it cannot.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn item_1_a_full_sqlite_store_loses_no_acknowledged_write() {
    let db = Db::fresh(Backend::Sqlite).await;
    let opts = Opts {
        url_suffix: "?max_page_count=48".to_owned(),
        ..Opts::default()
    };
    fill_up_and_restart(db, opts, || {}).await;
}

/// Item 1 on a real full disk: the data dir on a 1.5 MB tmpfs (needs root to mount; skipped otherwise). Here
/// the WAL write at COMMIT fails, which is where a failed commit used to leave its transaction open on a
/// pooled connection, and later writes were acknowledged into it and lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn item_1_a_full_disk_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1536k", "tmpfs"])
        .arg(dir.path())
        .output();
    match mounted {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            eprintln!(
                "item_1_a_full_disk_loses_no_acknowledged_write: skipped: cannot mount a tmpfs ({})",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            return;
        }
        Err(e) => {
            eprintln!("item_1_a_full_disk_loses_no_acknowledged_write: skipped: no `mount` ({e})");
            return;
        }
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
    let _unmount = Unmount(dir.path().to_owned());
    let grow = || {
        let grown = std::process::Command::new("mount")
            .args(["-o", "remount,size=8m"])
            .arg(dir.path())
            .status();
        assert!(grown.is_ok_and(|s| s.success()), "growing the tmpfs");
    };
    fill_up_and_restart(Db::sqlite_at(dir.path()), Opts::default(), grow).await;
}

/// Writes until the store is full and well past it, then makes room (`grow`) and restarts without a cap.
async fn fill_up_and_restart(db: std::sync::Arc<Db>, opts: Opts, grow: impl FnOnce()) {
    let app = spawn_on(std::sync::Arc::clone(&db), opts).await;
    app.acme("acme").await;
    let mut acked = Vec::new();
    let mut refused = Vec::new();
    let mut ready_after_failure = None;
    // Keep writing well past the first failure.
    for i in 0..2000 {
        let id = format!("u{i}");
        let r = app.post("/v1/tenants/acme/users", ADMIN, json!({"id": id})).await;
        match r.status {
            201 => acked.push(id),
            s if s >= 500 => {
                assert!(r.is_problem(), "a 5xx is problem+json: {}", r.text);
                refused.push(id);
                if ready_after_failure.is_none() {
                    let ready = app.get("/readyz", ADMIN).await;
                    ready_after_failure = Some((ready.status, ready.text));
                }
            }
            s => panic!("unexpected status {s}: {}", r.text),
        }
        if refused.len() >= 60 {
            break;
        }
    }
    assert!(
        !refused.is_empty(),
        "the cap was never reached ({} written)",
        acked.len()
    );
    let still = app.get("/readyz", ADMIN).await;
    assert_eq!(
        still.status, 503,
        "/readyz while the store is full: {}",
        still.text
    );
    app.stop().await;
    grow();

    // Restarted without the cap: exactly the acknowledged writes are there.
    let app = spawn_on(std::sync::Arc::clone(&db), Opts::default()).await;
    for id in &acked {
        app.get(&format!("/v1/tenants/acme/users/{id}"), ADMIN)
            .await
            .expect(200);
    }
    for id in &refused {
        app.get(&format!("/v1/tenants/acme/users/{id}"), ADMIN)
            .await
            .expect(404);
    }
    let logged = app.audit_log("acme", "kind=user&action=create").await;
    assert_eq!(logged.len(), acked.len(), "one audit row per acknowledged create");
    app.get("/readyz", ADMIN).await.expect(200);
    app.stop().await;
    let (status, text) = ready_after_failure.unwrap_or_default();
    assert_eq!(status, 503, "/readyz while the store could not write: {text}");
}

/// Item 2. Create `adatum`, write to it, delete it, create `adatum` again: the new tenant's log holds none of
/// the old one's entries (a deleted user's data included), old keys stay dead, and a write prepared against the
/// old life cannot land on the new one.
async fn recreated_tenant(backend: Backend) {
    let app = spawn_on(Db::fresh(backend).await, Opts::default()).await;
    app.acme("adatum").await;
    app.post("/v1/tenants/adatum/users", ADMIN, json!({"id": "secret-sam"}))
        .await
        .expect(201);
    app.delete("/v1/tenants/adatum/users/secret-sam", ADMIN)
        .await
        .expect(204);
    let (old_reader, _) = app.key("adatum", json!({"role": "reader"})).await;
    let old_log = app.audit_log("adatum", "").await;
    assert!(old_log.len() >= 3, "{old_log:#?}");
    app.delete("/v1/tenants/adatum", ADMIN).await.expect(204);

    app.acme("adatum").await;
    let (reader, _) = app.key("adatum", json!({"role": "reader"})).await;
    app.get("/v1/me", &old_reader).await.expect(401);
    // Nor does the new life list the old one's keys.
    let keys = app.get("/v1/tenants/adatum/keys", ADMIN).await.expect(200).json();
    assert_eq!(
        keys.as_array().map(Vec::len),
        Some(1),
        "only the new reader key: {keys}"
    );
    let seen = app
        .get("/v1/tenants/adatum/audit-log?limit=1000", &reader)
        .await
        .expect(200)
        .json();
    let entries = seen["entries"].as_array().cloned().unwrap_or_default();
    let text = serde_json::to_string(&entries).unwrap_or_default();
    assert!(
        !text.contains("secret-sam"),
        "the old life's entries leak: {text}"
    );
    assert_eq!(entries.len(), 1, "only the new tenant's creation: {entries:#?}");
    assert_eq!(entries[0]["action"], "create");
    assert_eq!(entries[0]["kind"], "tenant");
    // The operator sees the present life too (every past life only once the id is free again).
    let operator_view = app.audit_log("adatum", "").await;
    assert!(
        !serde_json::to_string(&operator_view)
            .unwrap_or_default()
            .contains("secret-sam"),
        "{operator_view:#?}"
    );
    let lives: std::collections::BTreeSet<String> = operator_view
        .iter()
        .map(|e| e["incarnation"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(lives.len(), 1, "one life: {lives:?}");
    app.delete("/v1/tenants/adatum", ADMIN).await.expect(204);
    let all = app.audit_log("adatum", "").await;
    assert!(
        all.len() > operator_view.len(),
        "a deleted id's log keeps every life"
    );
    app.stop().await;
}
on_every_backend!(item_2_a_recreated_tenant_inherits_no_audit_log, recreated_tenant);

/// Item 2. An environment-admin key dies with its environment, and stays dead when the id is used again.
async fn environment_keys(backend: Backend) {
    let app = spawn_on(Db::fresh(backend).await, Opts::default()).await;
    app.acme("acme").await;
    app.post("/v1/tenants/acme/environments", ADMIN, json!({"id": "lab"}))
        .await
        .expect(201);
    let (lab_admin, _) = app
        .key(
            "acme",
            json!({"role": "environment-admin", "environments": ["lab"]}),
        )
        .await;
    let (e2_admin, _) = app
        .key(
            "acme",
            json!({"role": "environment-admin", "environments": ["e2"]}),
        )
        .await;
    app.get("/v1/me", &lab_admin).await.expect(200);
    app.delete("/v1/tenants/acme/environments/lab", ADMIN)
        .await
        .expect(204);
    app.get("/v1/me", &lab_admin).await.expect(401);
    app.post("/v1/tenants/acme/environments", ADMIN, json!({"id": "lab"}))
        .await
        .expect(201);
    app.get("/v1/me", &lab_admin).await.expect(401);
    let r = app
        .post(
            "/v1/tenants/acme/flows",
            &lab_admin,
            json!({"id": "f-lab", "environment": "lab", "owner": "mia", "trigger": "scheduled"}),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    // Another environment's admin is untouched.
    app.get("/v1/me", &e2_admin).await.expect(200);
    let revoked = app.audit_log("acme", "kind=key&action=revoke").await;
    assert_eq!(revoked.len(), 1, "{revoked:#?}");
    app.stop().await;
}
on_every_backend!(
    item_2_an_environment_admin_key_dies_with_its_environment,
    environment_keys
);

/// Item 1 on PostgreSQL, and the store's fault injection: the server's database connections are killed again and
/// again in the middle of a burst of writes. Every acknowledged write is there afterwards, every other answer is
/// a 503, nothing is half-applied (each user present has its audit row and the reverse), and the node serves
/// writes again once the database does.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn item_1_postgres_connections_killed_mid_burst_lose_no_acknowledged_write() {
    let Some(base) = common::pg_url() else {
        eprintln!(
            "item_1_postgres_connections_killed_mid_burst_lose_no_acknowledged_write: skipped: ENTITLE_TEST_DATABASE_URL is not set"
        );
        return;
    };
    let db = Db::fresh(Backend::Postgres).await;
    let name = format!("entitle_fault_{}", std::process::id());
    let app = spawn_on(
        std::sync::Arc::clone(&db),
        Opts {
            url_suffix: format!("&application_name={name}"),
            ..Opts::default()
        },
    )
    .await;
    app.acme("acme").await;
    let app = std::sync::Arc::new(app);
    let killer = {
        let (base, name) = (base.clone(), name.clone());
        tokio::spawn(async move {
            let pool = sqlx::PgPool::connect(&base).await.expect("connect");
            let mut killed = 0i64;
            for _ in 0..8 {
                tokio::time::sleep(std::time::Duration::from_millis(40)).await;
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE application_name = $1 AND pid <> pg_backend_pid()) t",
                )
                .bind(&name)
                .fetch_one(&pool)
                .await
                .expect("terminate");
                killed += n;
            }
            pool.close().await;
            killed
        })
    };
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..8 {
        let app = std::sync::Arc::clone(&app);
        writers.spawn(async move {
            let mut out = Vec::new();
            for i in 0..40 {
                let id = format!("w{w}-{i}");
                let r = app.post("/v1/tenants/acme/users", ADMIN, json!({"id": id})).await;
                out.push((id, r.status, r.text));
            }
            out
        });
    }
    let mut answers = Vec::new();
    while let Some(done) = writers.join_next().await {
        answers.extend(done.expect("writer"));
    }
    let killed = killer.await.expect("killer");
    assert!(killed > 0, "no connection was killed");
    let mut acked = 0;
    for (id, status, text) in &answers {
        match status {
            201 => acked += 1,
            503 => {}
            s => panic!("{id}: unexpected {s}: {text}"),
        }
    }
    // The node writes again.
    let mut back = false;
    for _ in 0..50 {
        if app
            .post("/v1/tenants/acme/users", ADMIN, json!({"id": "after"}))
            .await
            .status
            == 201
        {
            back = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(back, "the node never wrote again");
    let app = std::sync::Arc::into_inner(app).expect("the only handle");
    app.stop().await;

    // A fresh node on the same schema sees exactly what was committed.
    let app = spawn_on(std::sync::Arc::clone(&db), Opts::default()).await;
    let users: Vec<String> = app
        .get("/v1/tenants/acme/users", ADMIN)
        .await
        .expect(200)
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect();
    for (id, status, _) in &answers {
        if *status == 201 {
            assert!(users.contains(id), "{id} was acknowledged and is gone");
        }
    }
    let logged: Vec<String> = app
        .audit_log("acme", "kind=user&action=create")
        .await
        .iter()
        .map(|e| e["item"].as_str().unwrap_or("").to_owned())
        .collect();
    let present: Vec<&String> = users
        .iter()
        .filter(|u| u.starts_with('w') || *u == "after")
        .collect();
    assert_eq!(
        logged.len(),
        present.len(),
        "each stored user has exactly one audit row"
    );
    for u in present {
        assert!(logged.contains(u), "{u} stored without its audit row");
    }
    eprintln!(
        "{} writes: {acked} acknowledged, {} refused with 503; {killed} connections killed",
        answers.len(),
        answers.len() - acked
    );
    app.stop().await;
}

/// Item 2, upgrading: a data dir written before incarnations (migration 1 only) holds a tenant whose id lived
/// twice. After the upgrade, the present life (from its last creation on) is the tenant's log, the past life's
/// entries and revoked keys stay out of sight, and keys in force keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_2_an_upgraded_data_dir_keeps_the_present_life_only() {
    use sha2::Digest;
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("entitle.db").display());
    let init = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite/0001_init.sql"),
    )
    .expect("migration 1");
    let pool = sqlx::SqlitePool::connect(&url).await.expect("sqlite");
    sqlx::raw_sql(
        "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
         installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, \
         checksum BLOB NOT NULL, execution_time BIGINT NOT NULL)",
    )
    .execute(&pool)
    .await
    .expect("migrations table");
    sqlx::raw_sql(&init).execute(&pool).await.expect("migration 1");
    sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (1, 'init', 1, $1, 0)")
        .bind(sha2::Sha384::digest(init.as_bytes()).to_vec())
        .execute(&pool)
        .await
        .expect("migration 1 recorded");
    let scenario = json!({"version": 1, "tenant": {"id": "adatum", "at": "2024-06-03"}, "users": [{"id": "mia"}],
                          "environments": [{"id": "default", "default": true}]});
    sqlx::query("INSERT INTO tenants VALUES ('adatum', 3, 'seed', $1, 0, 0)")
        .bind(scenario.to_string())
        .execute(&pool)
        .await
        .expect("tenant");
    for (action, kind, item) in [
        ("create", "tenant", "adatum"),
        ("create", "user", "old-sam"),
        ("delete", "tenant", "adatum"),
        ("create", "tenant", "adatum"),
        ("create", "user", "mia"),
    ] {
        sqlx::query("INSERT INTO audit_log (tenant, at, actor, action, kind, item) VALUES ('adatum', 0, 'key_x', $1, $2, $3)")
            .bind(action)
            .bind(kind)
            .bind(item)
            .execute(&pool)
            .await
            .expect("audit row");
    }
    for (id, secret, revoked) in [
        ("key_live", "ent_live_key", None),
        ("key_dead", "ent_dead_key", Some(1i64)),
    ] {
        sqlx::query("INSERT INTO api_keys VALUES ($1, $2, 'adatum', 'reader', '[]', NULL, $1, 0, $3)")
            .bind(id)
            .bind(sha2::Sha256::digest(secret.as_bytes()).to_vec())
            .bind(revoked)
            .execute(&pool)
            .await
            .expect("key");
    }
    pool.close().await;

    let app = spawn_on(Db::sqlite_at(dir.path()), Opts::default()).await;
    let log = app.audit_log("adatum", "").await;
    let items: Vec<&str> = log.iter().filter_map(|e| e["item"].as_str()).collect();
    assert_eq!(items, ["adatum", "mia"], "the present life only: {log:#?}");
    let keys = app.get("/v1/tenants/adatum/keys", ADMIN).await.expect(200).json();
    assert_eq!(keys.as_array().map(Vec::len), Some(1), "{keys}");
    assert_eq!(keys[0]["id"], "key_live");
    app.get("/v1/me", "ent_live_key").await.expect(200);
    // New entries join the same life.
    app.post("/v1/tenants/adatum/users", ADMIN, json!({"id": "bo"}))
        .await
        .expect(201);
    assert_eq!(app.audit_log("adatum", "").await.len(), 3);
    app.stop().await;
}
