//! The transactional outbox at the store (issue 14, item 3): a change's events are stored exactly when the
//! change is — all of them, in order, also past the 1,000 rows one statement takes — and a change that fails
//! leaves none. On PostgreSQL the last statement of events carries the announcement to the other nodes
//! (`NOTIFY`): it still reaches them, with and without events.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad answer"
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use common::{Backend, Db};
use entitle_server::store::{
    self, AuditFilter, Commit, EventFilter, Expect, NewAudit, Notice, Store, Stored, TenantWrite, items,
};
use serde_json::json;

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 6, 3).unwrap()
}

fn events(n: usize, tag: &str) -> Vec<store::NewEvent> {
    (0..n)
        .map(|i| {
            entitle_server::events::new_event(
                "flow.updated",
                day(),
                vec![format!("user-{i}")],
                json!({"item": format!("{tag}-{i}"), "rules": []}),
            )
        })
        .collect()
}

/// `n` audit entries, as a write's changes make them.
fn audit(n: usize, tag: &str) -> Vec<NewAudit> {
    (0..n)
        .map(|i| NewAudit {
            tenant: "ob".into(),
            actor: "key_test".into(),
            action: "update".into(),
            kind: "flow".into(),
            item: Some(format!("{tag}-{i}")),
            before: Some(json!({"connectors": ["sharepoint"]})),
            after: None,
        })
        .collect()
}

/// A commit of version `version` of tenant `ob` (the rows of an empty tenant) with `events` and as many audit
/// entries, one more than events (a change's entries go in the same statement as its events).
fn commit(version: i64, events: Vec<store::NewEvent>, idempotency: Option<&str>) -> Commit {
    let catalog = entitle_core::Catalog::seed().unwrap();
    let scenario = entitle_core::Scenario::parse(
        "[tenant]\nid = \"ob\"\n",
        entitle_core::scenario::Format::Toml,
        "ob",
        &catalog,
    )
    .unwrap();
    let (rows, _) = items::whole(&scenario).unwrap();
    Commit {
        tenant: "ob".into(),
        incarnation: "inc_ob".into(),
        expect: if version == 1 {
            Expect::Absent
        } else {
            Expect::Version(version - 1)
        },
        next: Some(TenantWrite {
            id: "ob".into(),
            version,
            catalog: "seed".into(),
            rows,
        }),
        audit: audit(events.len() + 1, &format!("v{version}")),
        idempotency: idempotency.map(|k| {
            (
                "test".to_owned(),
                k.to_owned(),
                Stored {
                    fingerprint: vec![1],
                    status: 200,
                    content_type: "application/json".into(),
                    etag: None,
                    body: b"{}".to_vec(),
                },
            )
        }),
        gone_users: Vec::new(),
        gone_environments: Vec::new(),
        events,
    }
}

/// The tenant's audit entries' items, oldest first.
async fn audited(s: &Arc<dyn Store>) -> Vec<Option<String>> {
    let mut out: Vec<store::AuditEntry> = Vec::new();
    loop {
        let page = s
            .audit_log(
                "ob",
                &AuditFilter {
                    after_seq: out.last().map(|e| e.seq),
                    limit: 1000,
                    ..AuditFilter::default()
                },
            )
            .await
            .unwrap();
        if page.is_empty() {
            return out.into_iter().map(|e| e.item).collect();
        }
        out.extend(page);
    }
}

async fn stored(s: &Arc<dyn Store>) -> Vec<store::Event> {
    let mut out = Vec::new();
    loop {
        let page = s
            .events(
                "ob",
                "inc_ob",
                &EventFilter {
                    after_seq: out.last().map(|e: &store::Event| e.seq),
                    types: Vec::new(),
                    told: None,
                    limit: 1000,
                },
            )
            .await
            .unwrap();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// The next notice for tenant `ob` within 5 s (PostgreSQL), skipping others.
async fn announced(rx: &mut Option<tokio::sync::mpsc::Receiver<Notice>>) -> bool {
    let Some(rx) = rx.as_mut() else { return false };
    tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(n) = rx.recv().await {
            if matches!(&n, Notice::Tenant(t) if t == "ob") {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false)
}

async fn events_go_with_their_change(backend: Backend) {
    let db = Db::fresh(backend).await;
    let s = store::open(&db.url).await.unwrap();
    let mut rx = s.listen().await.unwrap();
    assert_eq!(rx.is_some(), backend == Backend::Postgres);

    // No events: the change is still announced.
    s.commit(commit(1, Vec::new(), None)).await.unwrap();
    assert_eq!(announced(&mut rx).await, backend == Backend::Postgres);
    assert!(stored(&s).await.is_empty());

    // 2,345 events: three statements (1,000, 1,000, 345), all kept in order, and announced once stored.
    let many = events(2345, "a");
    s.commit(commit(2, many.clone(), Some("k1"))).await.unwrap();
    assert_eq!(announced(&mut rx).await, backend == Backend::Postgres);
    let got = stored(&s).await;
    assert_eq!(got.len(), 2345);
    assert!(got.windows(2).all(|w| w[0].seq < w[1].seq), "numbered in order");
    for (g, e) in got.iter().zip(&many) {
        assert_eq!((&g.id, &g.kind, &g.told), (&e.id, &e.kind, &e.told));
        assert_eq!(g.payload, e.payload);
    }

    // One event: the usual write.
    s.commit(commit(3, events(1, "b"), None)).await.unwrap();
    assert_eq!(announced(&mut rx).await, backend == Backend::Postgres);
    assert_eq!(stored(&s).await.len(), 2346);

    // A change that fails leaves no event: a stale version, and a taken idempotency key (checked in the
    // transaction after the change's rows).
    assert!(matches!(
        s.commit(commit(3, events(5, "stale"), None)).await,
        Err(store::StoreError::Conflict)
    ));
    assert!(matches!(
        s.commit(commit(4, events(1500, "taken"), Some("k1"))).await,
        Err(store::StoreError::IdempotencyTaken)
    ));
    assert_eq!(stored(&s).await.len(), 2346, "a failed change stored events");
    // Each good change's audit entries, in order (1 + 2,346 + 2: the large change's alone, the others with their
    // events in one statement), and none of the failed ones'.
    let items = audited(&s).await;
    assert_eq!(items.len(), 1 + 2346 + 2);
    assert_eq!(items[0].as_deref(), Some("v1-0"));
    assert_eq!(items[1].as_deref(), Some("v2-0"));
    assert_eq!(items[2346].as_deref(), Some("v2-2345"));
    assert_eq!(items[2347].as_deref(), Some("v3-0"));
    assert_eq!(items[2348].as_deref(), Some("v3-1"));
    // And the tenant is where the last good change left it.
    let head = s.tenant_index(Some("ob")).await.unwrap();
    assert_eq!(head.first().map(|h| h.version), Some(3));
}

on_every_backend!(
    outbox_events_are_stored_exactly_with_their_change,
    events_go_with_their_change
);
