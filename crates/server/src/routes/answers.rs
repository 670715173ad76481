//! Answers, identical to the CLI's JSON for the same data: the same core functions build the same structs.
//! Each reads the tenant's snapshot from memory; a request for another day builds that day's snapshot.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use entitle_core::Snapshot;
use entitle_core::buying::{cost, preview_purchase};
use entitle_core::capacity::capacity;
use entitle_core::report::{app_answer, flow_answer};
use entitle_core::requests::{flow_limit, user_limit};
use entitle_core::snapshot::UserIdx;
use serde::Deserialize;

use crate::http::{Caller, Q, json_body};
use crate::policy::{Access, Family, Scope, require};
use crate::problem::Problem;
use crate::state::AppState;

/// The snapshot for `at` (the tenant's own day when absent).
pub async fn snapshot_on(
    state: &AppState,
    caller: &Caller,
    t: &str,
    at: Option<NaiveDate>,
) -> Result<Arc<Snapshot>, Problem> {
    let slot = state.slot(&caller.0, t).await?;
    let cur = state.current(&slot);
    match at {
        Some(day) => slot.on_day(state, &cur, day).await,
        None => Ok(Arc::clone(&cur.snapshot)),
    }
}

fn user(snap: &Snapshot, param: &str, id: &str) -> Result<UserIdx, Problem> {
    snap.user_idx(id)
        .ok_or_else(|| Problem::not_found("user", id).at(format!("query:{param}")))
}

fn json<T: serde::Serialize>(value: &T) -> Response {
    axum::Json(value).into_response()
}

/// May the caller read answers about this flow? A maker, only about a flow it owns or co-owns: who it names as
/// the invoking user (`as`) changes the answer, never who may read it.
pub fn may_read_flow(
    caller: &Caller,
    snap: &Snapshot,
    fi: entitle_core::snapshot::FlowIdx,
) -> Result<(), Problem> {
    let rec = snap
        .flow(fi)
        .ok_or_else(|| Problem::internal("a flow index without its flow"))?;
    let owner = snap.user_id(rec.owner);
    let scope = |user| Scope {
        environment: None,
        user: Some(user),
    };
    let co_owner = || {
        rec.co_owners.iter().any(|&u| {
            crate::policy::allowed(&caller.0, Family::Answers, Access::Read, scope(snap.user_id(u)))
        })
    };
    if crate::policy::allowed(&caller.0, Family::Answers, Access::Read, scope(owner)) || co_owner() {
        return Ok(());
    }
    require(&caller.0, Family::Answers, Access::Read, scope(owner))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowQuery {
    #[serde(rename = "as")]
    pub as_user: Option<String>,
    pub at: Option<NaiveDate>,
}

/// `GET …/flows/{f}/decision?as=U&at=D`: the CLI's `check flow`.
pub async fn flow_decision(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((t, f)): Path<(String, String)>,
    Q(q): Q<FlowQuery>,
) -> Result<Response, Problem> {
    let slot = state.slot(&caller.0, &t).await?;
    let cur = state.current(&slot);
    let snap = match q.at {
        Some(day) => slot.on_day(&state, &cur, day).await?,
        None => Arc::clone(&cur.snapshot),
    };
    let fi = snap.flow_idx(&f).ok_or_else(|| Problem::not_found("flow", &f))?;
    may_read_flow(&caller, &snap, fi)?;
    let u = q.as_user.as_deref().map(|id| user(&snap, "as", id)).transpose()?;
    // The default decision (the tenant's own day, no invoking user) is served from bytes built once per
    // snapshot: the hot path of a platform asking before every run.
    if u.is_none()
        && Arc::ptr_eq(&snap, &cur.snapshot)
        && let Some(cell) = cur.decisions.get(fi.0 as usize)
    {
        let bytes = cell.get_or_init(|| {
            serde_json::to_vec(&flow_answer(&snap, fi, None))
                .unwrap_or_default()
                .into()
        });
        return Ok(([(header::CONTENT_TYPE, "application/json")], bytes.clone()).into_response());
    }
    Ok(json(&flow_answer(&snap, fi, u)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppQuery {
    pub user: String,
    pub at: Option<NaiveDate>,
}

/// `GET …/apps/{a}/decision?user=U`: the CLI's `check app`.
pub async fn app_decision(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((t, a)): Path<(String, String)>,
    Q(q): Q<AppQuery>,
) -> Result<Response, Problem> {
    let snap = snapshot_on(&state, &caller, &t, q.at).await?;
    let ai = snap.app_idx(&a).ok_or_else(|| Problem::not_found("app", &a))?;
    require(
        &caller.0,
        Family::Answers,
        Access::Read,
        Scope {
            environment: None,
            user: Some(&q.user),
        },
    )?;
    let u = user(&snap, "user", &q.user)?;
    Ok(json(&app_answer(&snap, ai, u)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtQuery {
    pub at: Option<NaiveDate>,
}

/// Does the client ask for CSV (`Accept: text/csv`)?
pub fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').any(|t| t.trim().starts_with("text/csv")))
}

/// `GET …/audit` (JSON, or CSV with `Accept: text/csv`): the CLI's `audit`.
pub async fn audit_h(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(t): Path<String>,
    Q(q): Q<AuditQuery>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let snap = snapshot_on(&state, &caller, &t, q.at).await?;
    require(&caller.0, Family::Answers, Access::Read, Scope::default())?;
    let a = super::overview::cached_audit(&state, &snap).await?;
    if wants_csv(&headers) {
        let text = entitle_render::audit_csv(&a).map_err(Problem::internal)?;
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], text).into_response());
    }
    let paged = q.q.is_some()
        || q.sort.is_some()
        || q.order.is_some()
        || q.status.is_some()
        || q.limit.is_some()
        || q.offset.is_some();
    if !paged {
        return Ok(json(&a));
    }
    // The flows at risk as short rows (what the page filters and sorts on), each pointing at its flow.
    let rows: Vec<serde_json::Value> = a
        .flows
        .iter()
        .enumerate()
        .map(|(i, f)| {
            serde_json::json!({"i": i, "flow": f.flow, "environment": f.environment, "owner": f.owner,
                "trigger": f.trigger, "enforcement": f.enforcement, "rule": f.rule,
                "state": f.state.unwrap_or("undated"), "turn_off": f.turn_off})
        })
        .collect();
    let list = super::listing::ListQuery {
        q: q.q,
        sort: q.sort,
        order: q.order,
        status: q.status,
        limit: q.limit,
        offset: q.offset,
    };
    let (page, total) = super::listing::page(&AUDIT_SHAPE, rows, &list)?;
    let flows: Vec<&entitle_core::audit::AuditFlow> = page
        .iter()
        .filter_map(|r| r.get("i").and_then(serde_json::Value::as_u64))
        .filter_map(|i| a.flows.get(usize::try_from(i).ok()?))
        .collect();
    let body = serde_json::json!({
        "tenant": a.tenant, "at": a.at, "summary": a.summary, "flows": flows, "flows_total": total,
        "tenant_problems": a.tenant_problems, "warnings": a.warnings, "fixes": a.fixes,
    });
    Ok(super::listing::with_total(body, total))
}

/// What the audit's flows sort and filter by (`status`: the enforcement state, `undated` without one).
pub const AUDIT_SHAPE: super::listing::Shape = super::listing::Shape {
    sorts: &[
        "flow",
        "environment",
        "owner",
        "trigger",
        "enforcement",
        "state",
        "turn_off",
    ],
    status: Some((
        "state",
        &[
            "pending",
            "admin-notified",
            "maker-notified",
            "turned-off",
            "created-off",
            "undated",
        ],
    )),
};

/// `GET …/audit`: the day, and (all optional) the paging of its flows at risk (`listing.rs`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub at: Option<NaiveDate>,
    pub q: Option<String>,
    pub sort: Option<String>,
    pub order: Option<String>,
    pub status: Option<String>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

/// `GET …/capacity`: the CLI's `capacity`.
pub async fn capacity_h(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(t): Path<String>,
    Q(q): Q<AtQuery>,
) -> Result<Response, Problem> {
    let snap = snapshot_on(&state, &caller, &t, q.at).await?;
    require(&caller.0, Family::Answers, Access::Read, Scope::default())?;
    Ok(json(&capacity(&snap)))
}

/// `GET …/cost`: the CLI's `cost`.
pub async fn cost_h(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(t): Path<String>,
    Q(q): Q<AtQuery>,
) -> Result<Response, Problem> {
    let snap = snapshot_on(&state, &caller, &t, q.at).await?;
    require(&caller.0, Family::Answers, Access::Read, Scope::default())?;
    Ok(json(&cost(&snap)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsQuery {
    pub user: Option<String>,
    pub flow: Option<String>,
    #[serde(rename = "as")]
    pub as_user: Option<String>,
    pub at: Option<NaiveDate>,
}

/// `GET …/limits?user=U` or `?flow=F[&as=U]`: the CLI's `limits`.
pub async fn limits_h(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(t): Path<String>,
    Q(q): Q<LimitsQuery>,
) -> Result<Response, Problem> {
    let snap = snapshot_on(&state, &caller, &t, q.at).await?;
    let mut limit = match (&q.user, &q.flow) {
        (Some(id), None) => {
            require(
                &caller.0,
                Family::Answers,
                Access::Read,
                Scope {
                    environment: None,
                    user: Some(id),
                },
            )?;
            user_limit(&snap, user(&snap, "user", id)?)
        }
        (None, Some(id)) => {
            let fi = snap
                .flow_idx(id)
                .ok_or_else(|| Problem::not_found("flow", id).at("query:flow"))?;
            may_read_flow(&caller, &snap, fi)?;
            let u = q.as_user.as_deref().map(|id| user(&snap, "as", id)).transpose()?;
            flow_limit(&snap, fi, u)
        }
        _ => {
            return Err(
                Problem::bad_request("invalid-query", "give exactly one of `user` or `flow`")
                    .at("query:user"),
            );
        }
    };
    // Today's usage is what the meter counted, the very counter that enforces (Redis in shared mode); the
    // scenario's `[[usage]]` records only answer for another day (`at`).
    if q.at.is_none()
        && let Some(key) = crate::meter::budget_key(&t, &limit.budget)
    {
        let now = u64::try_from(crate::store::now_ms()).unwrap_or(0);
        limit.used = state.meter.used(&key, now).await?;
        limit.remaining = limit.requests_per_24h.saturating_sub(limit.used);
    }
    Ok(json(&limit))
}

/// The body of `POST …/purchases:preview`: the CLI's `buy`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PurchaseAsk {
    pub sku: String,
    #[serde(default = "one")]
    pub quantity: u32,
    /// The user buying (self-service); absent: an admin.
    #[serde(rename = "as", default)]
    pub as_user: Option<String>,
    #[serde(default)]
    pub at: Option<NaiveDate>,
    /// `admin`, `csp`, `self-service` or `trial`; absent: directly for an admin, self-service for anyone else.
    #[serde(default)]
    pub channel: Option<entitle_core::scenario::PurchaseChannel>,
}

fn one() -> u32 {
    1
}

pub async fn purchase_preview(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(t): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let ask: PurchaseAsk = json_body(&headers, &body)?;
    let snap = snapshot_on(&state, &caller, &t, ask.at).await?;
    require(
        &caller.0,
        Family::Answers,
        Access::Read,
        Scope {
            environment: None,
            user: ask.as_user.as_deref(),
        },
    )?;
    let sku = snap
        .catalog()
        .sku_idx(&ask.sku)
        .ok_or_else(|| Problem::unprocessable(format!("unknown SKU `{}`", ask.sku)).at("/sku"))?;
    let u = match &ask.as_user {
        Some(id) => Some(
            snap.user_idx(id)
                .ok_or_else(|| Problem::unprocessable(format!("unknown user `{id}`")).at("/as"))?,
        ),
        None => None,
    };
    Ok(json(&preview_purchase(&snap, sku, ask.quantity, u, ask.channel)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanQuery {
    pub at: Option<NaiveDate>,
    /// `flows`, `apps`, or comma-separated flow and app ids.
    pub only: Option<String>,
}

/// Which decisions a plan targets, from `only` (an id the tenant lacks is bad input, pointed at `query:only`).
pub fn plan_targets(snap: &Snapshot, only: Option<&str>) -> Result<entitle_core::optimise::Only, Problem> {
    entitle_core::optimise::Only::parse(snap, only)
        .map_err(|e| Problem::unprocessable(format!("{e} in the tenant")).at("query:only"))
}

/// `GET …/plan`: the CLI's `optimise`, the cheapest set of changes that turns every targeted decision, worked
/// out jointly; its `batch` is the body of `POST …/changes:batch` that makes it.
pub async fn plan_h(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(t): Path<String>,
    Q(q): Q<PlanQuery>,
) -> Result<Response, Problem> {
    let snap = snapshot_on(&state, &caller, &t, q.at).await?;
    require(&caller.0, Family::Answers, Access::Read, Scope::default())?;
    let only = plan_targets(&snap, q.only.as_deref())?;
    let opts = entitle_core::optimise::Options {
        only,
        ..entitle_core::optimise::Options::default()
    };
    let plan = state
        .heavy(move || entitle_core::optimise::optimise(&snap, &opts, &entitle_core::optimise::Quiet))
        .await?;
    Ok(json(&plan))
}
