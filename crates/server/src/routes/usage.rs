//! `POST …/usage`: check and count requests against the budget the engine derives from licences (REQ-1..8);
//! `GET …/usage`: the last 24 hours, per hour, as JSON or as the admin center's licensed-user report (CSV).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use entitle_meter::{Decision, Event};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::http::{Caller, Q, json_body};
use crate::meter::{BudgetOf, budget_of};
use crate::policy::{Access, Family, Scope, require};
use crate::problem::Problem;
use crate::state::AppState;
use crate::store::{NewAudit, now_ms};

/// One usage event.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageAsk {
    /// The user who made the requests (their own budget, or the tenant pool for non-licensed principals).
    #[serde(default)]
    pub user: Option<String>,
    /// Or: the flow whose run made them (its licence's budget, or its context user's, REQ-4).
    #[serde(default)]
    pub flow: Option<String>,
    /// With `flow`: who ran it (instant flows).
    #[serde(rename = "as", default)]
    pub as_user: Option<String>,
    /// How many requests (default 1).
    #[serde(default = "one")]
    pub requests: u64,
    /// Retrying with the same key answers the first answer again and counts nothing more (kept 24 h per node).
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

fn one() -> u64 {
    1
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageBatch {
    pub events: Vec<UsageAsk>,
}

fn rfc3339(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(i64::try_from(ms).unwrap_or(i64::MAX))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// The answer to one event, and its HTTP status: 200, 429 (over a limit), or 503 (the meter is unavailable:
/// nothing counted; or it cannot tell whether it counted, `"counted": "unknown"`).
fn answer(b: &BudgetOf, d: &Decision) -> (Value, u16, Option<u64>) {
    match *d {
        Decision::Unknown {
            limit,
            retry_after_ms,
        } => {
            let secs = retry_after_ms.div_ceil(1000);
            (
                json!({
                    "allowed": false, "counted": "unknown", "limit": limit, "budget": b.key,
                    "retry_after": secs, "refused_by": "meter unavailable",
                }),
                503,
                Some(secs),
            )
        }
        Decision::Allowed {
            limit,
            remaining,
            reset_at_ms,
            ..
        } => (
            json!({"allowed": true, "limit": limit, "remaining": remaining, "reset_at": rfc3339(reset_at_ms), "budget": b.key}),
            200,
            None,
        ),
        Decision::Refused {
            limit,
            remaining,
            reset_at_ms,
            retry_after_ms,
            by,
        } => {
            // Whole seconds, rounded up: Retry-After is never early (REQ-7).
            let secs = retry_after_ms.map(|ms| ms.div_ceil(1000));
            if by == entitle_meter::Window::Unavailable {
                // Nothing is known of the budget: no `remaining` or `reset_at` to report.
                return (
                    json!({
                        "allowed": false, "counted": false, "limit": limit, "budget": b.key, "retry_after": secs,
                        "refused_by": "meter unavailable",
                    }),
                    503,
                    secs,
                );
            }
            (
                json!({
                    "allowed": false, "limit": limit, "remaining": remaining, "reset_at": rfc3339(reset_at_ms),
                    "budget": b.key, "retry_after": secs,
                    "refused_by": match by {
                        entitle_meter::Window::Short => "5-minute limit",
                        _ => "24-hour limit",
                    },
                }),
                429,
                secs,
            )
        }
    }
}

/// REQ-8: a warning at 80 % of the 24-hour limit, once per window, in the audit log.
fn warn(state: &Arc<AppState>, t: &str, b: &BudgetOf, d: &Decision, actor: &str) {
    if !d.warn() {
        return;
    }
    let entry = NewAudit {
        tenant: t.to_owned(),
        actor: actor.to_owned(),
        action: "usage-warning".to_owned(),
        kind: "budget".to_owned(),
        item: Some(b.key.clone()),
        before: None,
        after: Some(
            json!({"rule": "REQ-8", "limit": b.limits.per_24h, "message": "80 % of the 24-hour request limit reached"}),
        ),
    };
    // And an event (`requests.warning`), to the user whose budget it is.
    let user = b.key.split_once("/user/").map(|(_, u)| u.to_owned());
    let event = crate::events::new_event(
        "requests.warning",
        state.today(),
        user.iter().cloned().collect(),
        json!({"budget": b.key, "user": user, "limit": b.limits.per_24h, "rules": ["REQ-8"],
               "message": "80 % of the 24-hour request limit reached"}),
    );
    let incarnation = state.index.load().get(t).map(|i| i.to_string());
    let tenant = t.to_owned();
    let state = Arc::clone(state);
    tokio::spawn(async move {
        if let Err(e) = state.store.append_audit(&[entry]).await {
            tracing::warn!(error = %e, "recording a REQ-8 warning failed");
        }
        if let Some(inc) = incarnation {
            match state.store.append_events(&tenant, &inc, &[event]).await {
                Ok(_) => state.hooks_wake.events(),
                Err(e) => tracing::warn!(error = %e, "storing a REQ-8 warning's event failed"),
            }
        }
    });
}

/// Idempotency keys are per tenant and per API key.
fn replay_key(tenant: &str, key_id: &str, key: &str) -> String {
    format!("{tenant}\u{0}{key_id}\u{0}{key}")
}

fn check_size(ask: &UsageAsk, at: &str) -> Result<(), Problem> {
    if ask.requests == 0 || ask.requests > entitle_meter::MAX_LIMIT {
        return Err(Problem::unprocessable(format!(
            "requests must be between 1 and {}",
            entitle_meter::MAX_LIMIT
        ))
        .at(format!("{at}/requests")));
    }
    Ok(())
}

fn scope(ask: &UsageAsk) -> Scope<'_> {
    Scope {
        environment: None,
        user: ask.user.as_deref().or(ask.as_user.as_deref()),
    }
}

/// `POST /v1/tenants/{t}/usage`.
pub async fn count(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(t): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let slot = state.slot(&caller.0, &t).await?;
    let ask: UsageAsk = json_body(&headers, &body)?;
    require(&caller.0, Family::Usage, Access::Write, scope(&ask))?;
    check_size(&ask, "")?;
    let now = u64::try_from(now_ms()).unwrap_or(0);
    let replay = ask
        .idempotency_key
        .as_deref()
        .map(|k| replay_key(&t, &caller.0.key_id, k));
    if let Some((value, status)) = replay.as_deref().and_then(|k| state.replays.get(k, now)) {
        return Ok(reply(value, status));
    }
    let cur = state.current(&slot);
    let resolve = || {
        budget_of(
            &cur.snapshot,
            &t,
            ask.user.as_deref(),
            ask.flow.as_deref(),
            ask.as_user.as_deref(),
            "",
        )
    };
    // A user's own budget is resolved once per snapshot (it changes only when the tenant does).
    let cell = match (&ask.user, &ask.flow) {
        (Some(u), None) => cur
            .snapshot
            .user_idx(u)
            .and_then(|i| cur.budgets.get(i.0 as usize)),
        _ => None,
    };
    let owned;
    let b = match cell {
        Some(cell) => {
            if cell.get().is_none() {
                let _ = cell.set(resolve()?);
            }
            cell.get()
                .ok_or_else(|| Problem::internal("a resolved budget was not kept"))?
        }
        None => {
            owned = resolve()?;
            &owned
        }
    };
    let d = state.meter.check(&b.key, ask.requests, b.limits, now).await;
    warn(&state, &t, b, &d, &caller.0.key_id);
    let (value, status, _) = answer(b, &d);
    if let Some(k) = replay.filter(|_| status != 503) {
        state.replays.put(k, value.clone(), status, now);
    }
    Ok(reply(value, status))
}

fn reply(value: Value, status: u16) -> Response {
    if status == 200 {
        return axum::Json(value).into_response();
    }
    let retry = value.get("retry_after").and_then(Value::as_u64);
    if status == 503 {
        let secs = retry.unwrap_or(1);
        let detail = if value.get("counted").and_then(Value::as_str) == Some("unknown") {
            format!(
                "the request meter (Redis) stopped answering mid-call: these requests may or may not have been \
                 counted (at most once); retry in {secs} s"
            )
        } else {
            format!(
                "the request meter (Redis) is unavailable and this node refuses without it; nothing was counted; retry in {secs} s"
            )
        };
        let mut p = crate::meter::meter_unavailable(detail, secs);
        if let Value::Object(map) = value {
            p.extra = map;
        }
        return p.into_response();
    }
    let detail = match retry {
        Some(s) => format!("over the request limit of this budget; these requests fit in {s} s (REQ-7)"),
        None => "these requests never fit this budget's limits (REQ-7)".to_owned(),
    };
    let mut p = Problem::new(StatusCode::TOO_MANY_REQUESTS, "too-many-requests", detail);
    p.retry_after = retry;
    if let Value::Object(map) = value {
        p.extra = map;
    }
    p.into_response()
}

/// `POST /v1/tenants/{t}/usage:batch`: many events, each answered, in one meter call.
pub async fn count_batch(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(t): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let slot = state.slot(&caller.0, &t).await?;
    let batch: UsageBatch = json_body(&headers, &body)?;
    if batch.events.len() > 10_000 {
        return Err(Problem::unprocessable("at most 10,000 events per batch").at("/events"));
    }
    let cur = state.current(&slot);
    let now = u64::try_from(now_ms()).unwrap_or(0);
    let mut budgets = Vec::with_capacity(batch.events.len());
    for (i, ask) in batch.events.iter().enumerate() {
        let at = format!("/events/{i}");
        require(&caller.0, Family::Usage, Access::Write, scope(ask))?;
        check_size(ask, &at)?;
        budgets.push(budget_of(
            &cur.snapshot,
            &t,
            ask.user.as_deref(),
            ask.flow.as_deref(),
            ask.as_user.as_deref(),
            &at,
        )?);
    }
    // Events already answered (same idempotency key) are replayed, not counted.
    let keys: Vec<Option<String>> = batch
        .events
        .iter()
        .map(|a| {
            a.idempotency_key
                .as_deref()
                .map(|k| replay_key(&t, &caller.0.key_id, k))
        })
        .collect();
    let fresh: Vec<usize> = (0..batch.events.len())
        .filter(|&i| {
            keys.get(i)
                .and_then(|k| k.as_deref())
                .and_then(|k| state.replays.get(k, now))
                .is_none()
        })
        .collect();
    let events: Vec<Event<'_>> = fresh
        .iter()
        .filter_map(|&i| {
            let b = budgets.get(i)?;
            let ask = batch.events.get(i)?;
            Some(Event {
                key: &b.key,
                n: ask.requests,
                limits: b.limits,
            })
        })
        .collect();
    let decisions = state.meter.check_batch(&events, now).await;
    let mut decided: Vec<Option<&Decision>> = vec![None; batch.events.len()];
    for (&i, d) in fresh.iter().zip(decisions.iter()) {
        if let Some(slot) = decided.get_mut(i) {
            *slot = Some(d);
        }
    }
    let mut results: Vec<Value> = Vec::with_capacity(batch.events.len());
    for (i, b) in budgets.iter().enumerate() {
        let key = keys.get(i).cloned().flatten();
        let (mut value, status) = match decided.get(i).copied().flatten() {
            Some(d) => {
                warn(&state, &t, b, d, &caller.0.key_id);
                let (v, s, _) = answer(b, d);
                if let Some(k) = key.filter(|_| s != 503) {
                    state.replays.put(k, v.clone(), s, now);
                }
                (v, s)
            }
            None => key
                .as_deref()
                .and_then(|k| state.replays.get(k, now))
                .ok_or_else(|| Problem::internal("a batch event was neither counted nor replayed"))?,
        };
        if let Value::Object(m) = &mut value {
            m.insert("status".to_owned(), json!(status));
        }
        results.push(value);
    }
    Ok(axum::Json(json!({"results": results})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    pub user: Option<String>,
    pub flow: Option<String>,
    #[serde(rename = "as")]
    pub as_user: Option<String>,
}

/// `GET /v1/tenants/{t}/usage?user=U` (or `flow=F`): the last 24 hours per hour; CSV with `Accept: text/csv`.
pub async fn report(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(t): Path<String>,
    Q(q): Q<UsageQuery>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let slot = state.slot(&caller.0, &t).await?;
    require(
        &caller.0,
        Family::Usage,
        Access::Read,
        Scope {
            environment: None,
            user: q.user.as_deref().or(q.as_user.as_deref()),
        },
    )?;
    let cur = state.current(&slot);
    let b = budget_of(
        &cur.snapshot,
        &t,
        q.user.as_deref(),
        q.flow.as_deref(),
        q.as_user.as_deref(),
        "query:",
    )
    .map_err(|mut p| {
        p.status = 400;
        p.title = "Bad Request";
        p.pointer = p.pointer.take().map(|x| x.replace("query:/", "query:"));
        p
    })?;
    let now = u64::try_from(now_ms()).unwrap_or(0);
    let buckets = state.meter.usage(&b.key, now).await?;
    const HOUR: u64 = 3_600_000;
    let mut hours: Vec<(u64, u64)> = Vec::new();
    for bc in &buckets {
        let h = bc.start_ms / HOUR * HOUR;
        match hours.last_mut() {
            Some((last, n)) if *last == h => *n += u64::from(bc.count),
            _ => hours.push((h, u64::from(bc.count))),
        }
    }
    let used: u64 = hours.iter().map(|(_, n)| n).sum();
    if crate::routes::answers::wants_csv(&headers) {
        // FACTS.md §1.11: the admin center's Licensed User report. entitle counts requests, not their kind, so
        // the per-product columns are left empty and the total carries the count.
        let caller_id = q.user.clone().or(q.flow.clone()).unwrap_or_default();
        let caller_type = if q.user.is_some() { "User" } else { "Flow" };
        let mut w = csv::Writer::from_writer(Vec::new());
        let header_row = [
            "Environment ID",
            "Environment Name",
            "Caller ID",
            "Caller Type",
            "Usage Datetime (UTC)",
            "Entitled quantity",
            "Total consumed quantity",
            "Dataverse Requests",
            "Power Automate Requests",
            "Power Apps Requests",
        ];
        w.write_record(header_row).map_err(Problem::internal)?;
        for (h, n) in &hours {
            w.write_record([
                "",
                "",
                caller_id.as_str(),
                caller_type,
                &rfc3339(*h),
                &b.limits.per_24h.to_string(),
                &n.to_string(),
                "",
                "",
                "",
            ])
            .map_err(Problem::internal)?;
        }
        let bytes = w.into_inner().map_err(Problem::internal)?;
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], bytes).into_response());
    }
    Ok(axum::Json(json!({
        "budget": b.key,
        "limit": b.limits.per_24h,
        "per_5_minutes": b.limits.per_5min,
        "used": used,
        "remaining": b.limits.per_24h.saturating_sub(used),
        "sources": b.limit.sources,
        "rules": b.limit.rules,
        "hours": hours.iter().map(|(h, n)| json!({"hour": rfc3339(*h), "requests": n})).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// `GET …/usage/users`: paging and order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersQuery {
    /// `used` (the busiest first, the default) or `id`.
    #[serde(default)]
    pub sort: Option<String>,
    /// `asc` or `desc`; by default the busiest first (`used`) or ids in order (`id`).
    #[serde(default)]
    pub order: Option<String>,
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub offset: Option<usize>,
}

/// The most users one page lists.
const MAX_PAGE: usize = 500;

/// `GET /v1/tenants/{t}/usage/users`: every user's requests in the last 24 hours against their own limit
/// (REQ-1..6), the busiest first, with who is throttled now: at or over the 24-hour limit, or over the 5-minute
/// window (REQ-7). Paged (`limit` ≤ 500, `offset`); `total` counts every user. Principals that draw on the tenant
/// pool (REQ-2) have no budget of their own and are listed with `limit: null`.
pub async fn users_report(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(t): Path<String>,
    Q(q): Q<UsersQuery>,
) -> Result<Response, Problem> {
    let slot = state.slot(&caller.0, &t).await?;
    require(&caller.0, Family::Usage, Access::Read, Scope::default())?;
    let by_id = match q.sort.as_deref() {
        None | Some("used") => false,
        Some("id") => true,
        Some(other) => {
            return Err(
                Problem::bad_request("bad-query", format!("sort by `used` or `id`, not `{other}`"))
                    .at("query:sort"),
            );
        }
    };
    let reverse = match (q.order.as_deref(), by_id) {
        (None, _) | (Some("asc"), true) | (Some("desc"), false) => false,
        (Some("desc"), true) | (Some("asc"), false) => true,
        (Some(other), _) => {
            return Err(
                Problem::unprocessable(format!("`order` is `asc` or `desc`, not `{other}`"))
                    .at("query:order"),
            );
        }
    };
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_PAGE {
        return Err(
            Problem::bad_request("bad-query", format!("`limit` is 1 to {MAX_PAGE}")).at("query:limit"),
        );
    }
    let cur = state.current(&slot);
    let mut rows: Vec<_> = user_rows(&state, &cur, &t)
        .await?
        .into_iter()
        .map(|r| (r.user, r.used, r.limits, r.throttled))
        .collect();
    if by_id {
        rows.sort_by(|a, b| a.0.cmp(&b.0));
    } else {
        // The busiest first; the same use by id, so pages are stable.
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    }
    if reverse {
        rows.reverse();
    }
    let total = rows.len();
    let throttled = rows.iter().filter(|r| r.3).count();
    let page: Vec<Value> = rows
        .into_iter()
        .skip(q.offset.unwrap_or(0))
        .take(limit)
        .map(|(user, used, limits, throttled)| {
            json!({
                "user": user,
                "used": used,
                "limit": limits.map(|l| l.per_24h),
                "per_5_minutes": limits.map(|l| l.per_5min),
                "remaining": limits.map(|l| l.per_24h.saturating_sub(used)),
                "throttled": throttled,
            })
        })
        .collect();
    Ok(axum::Json(json!({"total": total, "throttled": throttled, "users": page})).into_response())
}

/// One user's use of their own budget in the last 24 hours: `limits` is None for a principal that draws on the
/// tenant pool (REQ-2).
#[derive(Debug, Clone)]
pub struct UserRow {
    pub user: String,
    pub used: u64,
    pub limits: Option<entitle_meter::Limits>,
    pub throttled: bool,
}

/// Every user's row, in the scenario's order (for `…/usage/users` and the overview).
pub async fn user_rows(
    state: &AppState,
    cur: &crate::state::TenantState,
    t: &str,
) -> Result<Vec<UserRow>, Problem> {
    let now = u64::try_from(now_ms()).unwrap_or(0);
    const FIVE_MIN: u64 = 300_000;
    let mut rows = Vec::with_capacity(cur.snapshot.users().len());
    for (i, u) in cur.snapshot.scenario().users.iter().enumerate() {
        // A user's own budget, resolved once per snapshot as for counting.
        let b = match cur.budgets.get(i) {
            Some(cell) => {
                if cell.get().is_none()
                    && let Ok(b) = budget_of(&cur.snapshot, t, Some(&u.id), None, None, "")
                {
                    let _ = cell.set(b);
                }
                cell.get().cloned()
            }
            None => None,
        };
        let (used, last_5, limits) = match &b {
            Some(b) if b.key.ends_with(&format!("/user/{}", u.id)) => {
                let buckets = state.meter.usage(&b.key, now).await?;
                let used: u64 = buckets.iter().map(|x| u64::from(x.count)).sum();
                let recent: u64 = buckets
                    .iter()
                    .filter(|x| x.start_ms + FIVE_MIN > now)
                    .map(|x| u64::from(x.count))
                    .sum();
                (used, recent, Some(b.limits))
            }
            _ => (0, 0, None),
        };
        let throttled = limits.is_some_and(|l| used >= l.per_24h || last_5 >= l.per_5min);
        rows.push(UserRow {
            user: u.id.clone(),
            used,
            limits,
            throttled,
        });
    }
    Ok(rows)
}
