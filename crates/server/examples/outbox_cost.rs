//! What the transactional outbox adds to a write (issue 14's target: < 10 % of a write's median): the same
//! commit — one changed flow of the example tenant, its audit entry, the new version — made N times with the
//! change's events (two, as a licence assignment writes: `license.assigned` and the item's own) and N times
//! without, alternating so that drift hits both alike; on SQLite (a file in a temporary directory, every commit
//! fsynced) and, when `ENTITLE_TEST_DATABASE_URL` is set, on PostgreSQL (a fresh schema).
//!
//! `cargo run --release -p entitle-server --example outbox_cost -- [N=1000]`

use std::time::Instant;

use chrono::NaiveDate;
use entitle_core::scenario::Format;
use entitle_core::{Catalog, Scenario};
use entitle_server::store::{self, Commit, Expect, NewAudit, NewEvent, Store, TenantWrite, items};
use serde_json::json;

type Error = Box<dyn std::error::Error>;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

async fn run(store: &dyn Store, label: &str, n: usize) -> Result<(), Error> {
    let catalog = Catalog::seed()?;
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/enforcement-timeline.toml"
    ))?;
    let mut scenario = Scenario::parse(&text, Format::Toml, "example", &catalog)?;
    let id = scenario.tenant.id.clone();
    let (rows, mut ords) = items::whole(&scenario)?;
    let inc = "inc_bench".to_owned();
    let commit = |version: i64, expect: Expect, rows: items::Rows, events: Vec<NewEvent>| Commit {
        tenant: id.clone(),
        incarnation: inc.clone(),
        expect,
        next: Some(TenantWrite {
            id: id.clone(),
            version,
            catalog: "seed".into(),
            rows,
        }),
        audit: vec![NewAudit {
            tenant: id.clone(),
            actor: "bench".into(),
            action: "update".into(),
            kind: "flow".into(),
            item: Some("orders".into()),
            before: Some(json!({"enabled": true})),
            after: Some(json!({"enabled": false})),
        }],
        idempotency: None,
        gone_users: Vec::new(),
        gone_environments: Vec::new(),
        events,
    };
    store.commit(commit(1, Expect::Absent, rows, Vec::new())).await?;
    let day = NaiveDate::from_ymd_opt(2024, 6, 3).ok_or("day")?;
    let (mut with, mut without) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for (version, i) in (1..).zip(0..2 * n) {
        let before = scenario.clone();
        if let Some(f) = scenario.flows.get_mut(0) {
            f.enabled = !f.enabled;
        }
        let (rows, next_ords) = items::diff(&before, &ords, &scenario)?;
        ords = next_ords;
        let events = if i % 2 == 0 {
            vec![
                entitle_server::events::new_event(
                    "license.assigned",
                    day,
                    vec!["ann".into()],
                    json!({"user": "ann", "skus": ["power-automate-premium"], "rules": ["BUY-6"]}),
                ),
                entitle_server::events::new_event(
                    "flow.updated",
                    day,
                    Vec::new(),
                    json!({"item": "orders", "before": {"enabled": true}, "after": {"enabled": false}}),
                ),
            ]
        } else {
            Vec::new()
        };
        let took = events.len();
        let t = Instant::now();
        store
            .commit(commit(version + 1, Expect::Version(version), rows, events))
            .await?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        if took > 0 { with.push(ms) } else { without.push(ms) }
    }
    let (w, wo) = (median(&mut with), median(&mut without));
    println!(
        "{label}: {n} commits each; median with the outbox {w:.3} ms, without {wo:.3} ms: +{:.1} %",
        (w / wo - 1.0) * 100.0
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1000);
    let dir = tempfile_dir()?;
    let sqlite = store::open(&format!("sqlite://{}/bench.db", dir.display())).await?;
    run(sqlite.as_ref(), "SQLite (fsync on commit)", n).await?;
    if let Some(url) = std::env::var("ENTITLE_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        let schema = format!("outbox_{}", std::process::id());
        let pool = sqlx::PgPool::connect(&url).await?;
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&pool)
            .await?;
        let sep = if url.contains('?') { '&' } else { '?' };
        let pg = store::open(&format!("{url}{sep}options=-c%20search_path%3D{schema}")).await?;
        let done = run(pg.as_ref(), "PostgreSQL (local)", n).await;
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&pool)
            .await?;
        done?;
    } else {
        println!("PostgreSQL: skipped (ENTITLE_TEST_DATABASE_URL is not set)");
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// A fresh directory under the system's temporary one.
fn tempfile_dir() -> Result<std::path::PathBuf, Error> {
    let d = std::env::temp_dir().join(format!("entitle-outbox-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
