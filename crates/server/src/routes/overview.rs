//! A tenant at a glance, for the web UI's overview and tenants list: the enforcement timeline (flows by the date
//! they are turned off, per ENF-2 kind), units bought against units assigned per SKU, the monthly bill per SKU
//! in each currency (never summed across currencies), Dataverse use per environment against the tenant's pools,
//! and the busiest users' API requests against their limits with who is throttled now. Every figure comes from
//! the same answers as the audit, cost, capacity and usage routes; the audit is computed once per snapshot.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use entitle_core::Snapshot;
use entitle_core::audit::{Audit, Memo, audit_since};
use entitle_core::buying::cost;
use entitle_core::capacity::capacity;
use entitle_core::money::Totals;
use serde_json::{Value, json};

use super::answers::{AtQuery, snapshot_on};
use crate::http::{Caller, Q};
use crate::policy::{Access, Family, Scope, require};
use crate::problem::Problem;
use crate::state::AppState;

/// Audits of recent snapshots: a tenant's audit only changes with the tenant (a new snapshot), and the
/// 100,000-flow tenant's takes seconds, so its pages (overview, audit, flows by status) read it once. Requests that
/// ask while it is being computed wait for that one computation. Each is kept with its memo
/// ([`entitle_core::audit::Memo`]): the audit of the version a write patches from it is worked out from the two,
/// in a fraction of the time (issue 13), and takes the memo over.
type AuditCell = Arc<tokio::sync::OnceCell<Arc<Kept>>>;
static AUDITS: Mutex<Vec<(Weak<Snapshot>, u64, AuditCell)>> = Mutex::new(Vec::new());
const AUDITS_KEPT: usize = 8;

/// A kept audit, and its memo until the audit of the next version takes it.
#[derive(Debug)]
struct Kept {
    audit: Arc<Audit>,
    memo: Mutex<Option<Memo>>,
}

/// The cell of `snap`'s audit (made if there is none), and the cell of the audit of the version it was patched
/// from, if that one is kept.
fn cells(snap: &Arc<Snapshot>) -> (AuditCell, Option<AuditCell>) {
    let mut kept = AUDITS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // Looked up before the entries of dropped snapshots go: the version before is dropped as a write replaces it.
    let before = snap
        .patched_from()
        .and_then(|b| kept.iter().find(|(_, serial, _)| *serial == b))
        .map(|(_, _, c)| Arc::clone(c));
    if let Some((_, _, c)) = kept.iter().find(|(_, serial, _)| *serial == snap.serial()) {
        return (Arc::clone(c), before);
    }
    kept.retain(|(w, _, _)| w.strong_count() > 0);
    if kept.len() >= AUDITS_KEPT {
        kept.remove(0);
    }
    let cell = AuditCell::default();
    kept.push((Arc::downgrade(snap), snap.serial(), Arc::clone(&cell)));
    (cell, before)
}

/// The audit of `snap`, computed on the heavy pool the first time (from the audit of the version before, when
/// it is kept) and kept while the snapshot lives.
pub async fn cached_audit(state: &AppState, snap: &Arc<Snapshot>) -> Result<Arc<Audit>, Problem> {
    let (cell, before) = cells(snap);
    let kept = cell
        .get_or_try_init(|| async {
            // The audit before, once it is done if it is being computed (never started here).
            let before = match &before {
                Some(c) => c.get_or_try_init(|| async { Err(()) }).await.ok().cloned(),
                None => None,
            };
            let memo = before.as_ref().and_then(|k| {
                k.memo
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take()
            });
            let for_work = Arc::clone(snap);
            state
                .heavy(move || {
                    let started = std::time::Instant::now();
                    let from = before.as_ref().zip(memo).map(|(k, m)| (&*k.audit, m));
                    let (audit, memo) = audit_since(&for_work, from);
                    let (reused, computed) = memo.reused();
                    // How the audit after a write was worked out, for an operator chasing a slow first view.
                    tracing::debug!(
                        tenant = %audit.tenant,
                        ms = started.elapsed().as_secs_f64() * 1e3,
                        reused,
                        computed,
                        "audit computed"
                    );
                    Arc::new(Kept {
                        audit: Arc::new(audit),
                        memo: Mutex::new(Some(memo)),
                    })
                })
                .await
        })
        .await?;
    Ok(Arc::clone(&kept.audit))
}

/// Starts the audit of `next`, the version a write just committed, in the background when the audit of the
/// version before (`before`) is kept and done: worked out from it, it is usually ready by the time a view asks,
/// and the next write's audit can be worked out from it in turn. Nothing is started when that audit is not done
/// (nobody looked at the tenant, or writes come faster than audits): no work piles up behind a burst of writes.
pub fn warm(state: &Arc<AppState>, before: &Snapshot, next: &Arc<Snapshot>) {
    if next.patched_from() != Some(before.serial()) {
        return;
    }
    let done = AUDITS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .any(|(_, serial, c)| *serial == before.serial() && c.initialized());
    if !done {
        return;
    }
    let (state, next) = (Arc::clone(state), Arc::clone(next));
    tokio::spawn(async move {
        if let Err(p) = cached_audit(&state, &next).await {
            tracing::debug!(detail = %p.detail, "the audit after a write was not computed ahead");
        }
    });
}

/// Users the overview lists by their requests (the busiest); every throttled one is listed besides.
const BUSIEST: usize = 10;
/// Environments the overview lists by Dataverse use; the rest are summed as one line.
const ENVIRONMENTS: usize = 12;

/// `GET /v1/tenants/{t}/overview`: the tenant at a glance (see the module's documentation).
pub async fn overview(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(t): Path<String>,
    Q(q): Q<AtQuery>,
) -> Result<Response, Problem> {
    let snap = snapshot_on(&state, &caller, &t, q.at).await?;
    require(&caller.0, Family::Answers, Access::Read, Scope::default())?;
    let a = cached_audit(&state, &snap).await?;
    let at = snap.at();

    // Flows by the day they are turned off and their kind; the next such day on or after `at`.
    let mut timeline: BTreeMap<(chrono::NaiveDate, &str), u64> = BTreeMap::new();
    let mut undated = 0u64;
    for f in &a.flows {
        match f.turn_off {
            Some(d) => *timeline.entry((d, f.enforcement)).or_default() += 1,
            None => undated += 1,
        }
    }
    let next = timeline.keys().map(|(d, _)| *d).find(|d| *d >= at);
    let next_flows: u64 = timeline
        .iter()
        .filter(|((d, _), _)| Some(*d) == next)
        .map(|(_, n)| n)
        .sum();

    let c = cost(&snap);
    let mut by_sku: BTreeMap<&str, (Totals, u64)> = BTreeMap::new();
    for l in &c.lines {
        let e = by_sku.entry(l.sku.as_str()).or_default();
        e.0.add(&l.monthly);
        e.1 += l.quantity;
    }
    let cost_by_sku: Vec<Value> = by_sku
        .iter()
        .flat_map(|(sku, (totals, qty))| {
            totals.0.iter().map(move |(cur, amount)| {
                json!({"currency": cur, "sku": sku, "monthly": amount.to_string(), "quantity": qty})
            })
        })
        .collect();

    let cap = capacity(&snap);
    let mut envs: Vec<(&str, u64, u64, u64)> = snap
        .scenario()
        .environments
        .iter()
        .filter_map(|e| {
            e.storage
                .as_ref()
                .map(|s| (e.id.as_str(), s.database_mb, s.file_mb, s.log_mb))
        })
        .collect();
    envs.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(y.0)));
    let with_storage = envs.len();
    let rest = envs.split_off(envs.len().min(ENVIRONMENTS));
    let others = rest
        .iter()
        .fold((0u64, 0u64, 0u64), |s, e| (s.0 + e.1, s.1 + e.2, s.2 + e.3));

    let slot = state.slot(&caller.0, &t).await?;
    let cur = state.current(&slot);
    let mut users = super::usage::user_rows(&state, &cur, &t).await?;
    users.sort_by(|x, y| y.used.cmp(&x.used).then_with(|| x.user.cmp(&y.user)));
    let throttled: Vec<&str> = users
        .iter()
        .filter(|u| u.throttled)
        .map(|u| u.user.as_str())
        .collect();
    let user_json = |u: &super::usage::UserRow| json!({"user": u.user, "used": u.used, "limit": u.limits.map(|l| l.per_24h), "throttled": u.throttled});

    let body = json!({
        "tenant": t,
        "at": at,
        "flows": a.summary.flows,
        "at_risk": a.summary.at_risk,
        "turned_off": a.summary.turned_off,
        "next_enforcement": next.map(|d| json!({"date": d, "flows": next_flows})),
        "monthly": c.total,
        "timeline": timeline.iter().map(|((d, k), n)| json!({"date": d, "kind": k, "flows": n})).collect::<Vec<_>>(),
        "timeline_undated": undated,
        "units": c.usage.iter().map(|u| json!({"sku": u.sku, "purchased": u.purchased, "assigned": u.assigned, "allocated": u.allocated, "available": u.available})).collect::<Vec<_>>(),
        "cost_by_sku": cost_by_sku,
        "dataverse": {
            "pool": {"database_mb": cap.database_mb, "file_mb": cap.file_mb, "log_mb": cap.log_mb,
                     "used_database_mb": cap.used_database_mb, "used_file_mb": cap.used_file_mb, "used_log_mb": cap.used_log_mb},
            "environments": envs.iter().map(|e| json!({"environment": e.0, "database_mb": e.1, "file_mb": e.2, "log_mb": e.3})).collect::<Vec<_>>(),
            "others": {"environments": rest.len(), "database_mb": others.0, "file_mb": others.1, "log_mb": others.2},
            "with_storage": with_storage,
        },
        "requests": {
            "users": users.len(),
            "throttled": throttled.len(),
            "busiest": users.iter().take(BUSIEST).map(user_json).collect::<Vec<Value>>(),
            "throttled_users": throttled.iter().take(100).collect::<Vec<_>>(),
        },
    });
    Ok(axum::Json(body).into_response())
}

/// `GET /v1/tenants/{t}/flows:status`: every flow with its status on the tenant's day, for the flows table:
/// `at-risk` (the audit lists it and enforcement has not turned it off; with its enforcement kind, rule and
/// turn-off date), `off` (turned off by enforcement, or by its owner), or `licensed`. Paged, sorted and filtered by the server (`listing.rs`).
pub async fn flows_status(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(t): Path<String>,
    Q(q): Q<super::listing::ListQuery>,
) -> Result<Response, Problem> {
    let snap = snapshot_on(&state, &caller, &t, None).await?;
    require(&caller.0, Family::Answers, Access::Read, Scope::default())?;
    let a = cached_audit(&state, &snap).await?;
    let risky: std::collections::HashMap<&str, &entitle_core::audit::AuditFlow> =
        a.flows.iter().map(|f| (f.flow.as_str(), f)).collect();
    let desc = super::listing::check(&FLOWS_STATUS_SHAPE, &q)?;
    // 100,000 flows: filtered and sorted as borrowed rows; only the page is turned into JSON.
    let mut rows: Vec<FlowRow<'_>> = snap
        .scenario()
        .flows
        .iter()
        .map(|f| {
            let audited = risky.get(f.id.as_str()).copied();
            // At risk comes first: a flow its owner turned off is still one the audit counts.
            let status = match audited {
                Some(af) if matches!(af.state, Some("turned-off" | "created-off")) => "off",
                Some(_) => "at-risk",
                None if !f.enabled => "off",
                None => "licensed",
            };
            FlowRow {
                f,
                audited,
                status,
                trigger: as_text(&f.trigger),
                license: as_text(&f.license),
            }
        })
        .collect();
    if let Some(status) = q.status.as_deref() {
        rows.retain(|r| r.status == status);
    }
    if let Some(needle) = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let needle = needle.to_lowercase();
        let has = |s: &str| super::listing::contains_ci(s, &needle);
        rows.retain(|r| {
            has(&r.f.id)
                || has(&r.f.environment)
                || has(&r.f.owner)
                || has(&r.trigger)
                || has(&r.license)
                || has(r.status)
                || r.f.connectors.iter().any(|c| has(c))
                || r.audited.is_some_and(|x| has(x.enforcement))
        });
    }
    if let Some(field) = q.sort.as_deref() {
        let key = |r: &FlowRow<'_>| -> (bool, String) {
            let v = match field {
                "id" => Some(r.f.id.clone()),
                "environment" => Some(r.f.environment.clone()),
                "owner" => Some(r.f.owner.clone()),
                "trigger" => Some(r.trigger.clone()),
                "license" => Some(r.license.clone()),
                "status" => Some(r.status.to_owned()),
                _ => r.audited.and_then(|x| x.turn_off).map(|d| d.to_string()),
            };
            // A missing value sorts after any present one (before them, descending).
            (v.is_none(), v.unwrap_or_default())
        };
        let mut keyed: Vec<((bool, String), FlowRow<'_>)> = rows.into_iter().map(|r| (key(&r), r)).collect();
        // Stable: ties keep the tenant's order either way.
        keyed.sort_by(|(a, _), (b, _)| if desc { b.cmp(a) } else { a.cmp(b) });
        rows = keyed.into_iter().map(|(_, r)| r).collect();
    } else if desc {
        rows.reverse();
    }
    let total = rows.len();
    let page: Vec<Value> = rows
        .get(super::listing::bounds(&q, total))
        .unwrap_or_default()
        .iter()
        .map(|r| {
            json!({
                "id": r.f.id, "environment": r.f.environment, "owner": r.f.owner, "trigger": r.f.trigger,
                "license": r.f.license, "connectors": r.f.connectors, "status": r.status,
                "enforcement": r.audited.map(|x| x.enforcement), "rule": r.audited.map(|x| x.rule),
                "turn_off": r.audited.and_then(|x| x.turn_off),
                "why": r.audited.map(|x| x.problems.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join("; ")),
            })
        })
        .collect();
    Ok(super::listing::with_total(
        json!({"total": total, "flows": page}),
        total,
    ))
}

/// What `…/flows:status` sorts and filters by.
pub const FLOWS_STATUS_SHAPE: super::listing::Shape = super::listing::Shape {
    sorts: &[
        "id",
        "environment",
        "owner",
        "trigger",
        "license",
        "status",
        "turn_off",
    ],
    status: Some(("status", &["at-risk", "off", "licensed"])),
};

/// One flow of `…/flows:status`, borrowed from the snapshot and its audit.
struct FlowRow<'a> {
    f: &'a entitle_core::scenario::Flow,
    audited: Option<&'a entitle_core::audit::AuditFlow>,
    status: &'static str,
    trigger: String,
    license: String,
}

/// A value's JSON text when it is a string (an enum such as a flow's trigger or licence kind).
fn as_text<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}
