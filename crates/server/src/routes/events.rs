//! Events and time (issue 14): `GET …/events` (cursor paging, a type filter), `GET /v1/me/notices` (a maker's
//! banners), and `POST …/clock:advance` (a test clock moves, running every job due on the way).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::json;

use crate::auth::Role;
use crate::http::{Caller, Q, Writing, json_body};
use crate::policy::{Access, Family, Scope, require};
use crate::problem::Problem;
use crate::state::AppState;
use crate::store::EventFilter;

/// The event types a maker sees as banners: what tells them about their own flows and licences.
pub const NOTICE_TYPES: &[&str] = &[
    "enforcement.maker_notice",
    "flow.suspended",
    "flow.resumed",
    "trial.expiring",
    "trial.expired",
    "subscription.lapsed",
    "license.assigned",
    "license.removed",
];

/// `?after=&type=&limit=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Events after this `seq` (the `next` of the page before).
    pub after: Option<i64>,
    /// One type, or several separated by commas (`flow.suspended,flow.resumed`).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// 1 to 1,000; default 100.
    pub limit: Option<i64>,
}

fn limit_of(limit: Option<i64>) -> Result<i64, Problem> {
    let limit = limit.unwrap_or(100);
    if (1..=1000).contains(&limit) {
        Ok(limit)
    } else {
        Err(Problem::bad_request("invalid-query", "limit must be between 1 and 1000").at("query:limit"))
    }
}

fn types_of(kind: Option<&str>) -> Result<Vec<String>, Problem> {
    let Some(kind) = kind else { return Ok(Vec::new()) };
    let types: Vec<String> = kind.split(',').map(|t| t.trim().to_owned()).collect();
    if types.len() > 32
        || types.iter().any(|t| {
            t.is_empty() || t.len() > 64 || !t.chars().all(|c| c.is_ascii_lowercase() || c == '.' || c == '_')
        })
    {
        return Err(Problem::bad_request(
            "invalid-query",
            "type: at most 32 event types separated by commas, each of a-z, `.` and `_` (e.g. `flow.suspended`)",
        )
        .at("query:type"));
    }
    Ok(types)
}

/// `GET /v1/tenants/{t}/events`: the tenant's events, oldest first, `next` the cursor of the next page.
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(t): Path<String>,
    Q(q): Q<EventsQuery>,
) -> Result<Response, Problem> {
    let slot = state.slot(&caller.0, &t).await?;
    require(&caller.0, Family::AuditLog, Access::Read, Scope::default())?;
    let limit = limit_of(q.limit)?;
    let filter = EventFilter {
        after_seq: q.after,
        types: types_of(q.kind.as_deref())?,
        told: None,
        limit,
    };
    let incarnation = slot.state.load().incarnation.to_string();
    let events = state
        .store
        .events(&t, &incarnation, &filter)
        .await
        .map_err(Problem::internal)?;
    let next = (events.len() as i64 == limit)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    Ok(axum::Json(json!({"events": events, "next": next})).into_response())
}

/// `?after=&limit=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticesQuery {
    pub after: Option<i64>,
    pub limit: Option<i64>,
}

/// `GET /v1/me/notices`: what the events told the key's user (a maker key): the in-product banners of ENF-3.
pub async fn mine(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Q(q): Q<NoticesQuery>,
) -> Result<Response, Problem> {
    let p = &caller.0;
    let (Some(t), Some(user)) = (p.tenant.as_deref(), p.user.as_deref()) else {
        return Err(Problem::unprocessable(
            "notices are a user's: use a maker key (one bound to a user of a tenant)",
        ));
    };
    let slot = state.slot(p, t).await?;
    let limit = limit_of(q.limit)?;
    let filter = EventFilter {
        after_seq: q.after,
        types: NOTICE_TYPES.iter().map(|s| (*s).to_owned()).collect(),
        told: Some(user.to_owned()),
        limit,
    };
    let incarnation = slot.state.load().incarnation.to_string();
    let events = state
        .store
        .events(t, &incarnation, &filter)
        .await
        .map_err(Problem::internal)?;
    let next = (events.len() as i64 == limit)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    Ok(axum::Json(json!({"tenant": t, "user": user, "notices": events, "next": next})).into_response())
}

/// `{"to": "YYYY-MM-DD"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Advance {
    pub to: NaiveDate,
}

/// `POST /v1/tenants/{t}/clock:advance`: moves a test clock to `to`, running every job due on the way, day by
/// day; answers what happened. A tenant that follows real time refuses (409).
pub async fn advance(
    State(state): State<Arc<AppState>>,
    Path(t): Path<String>,
    w: Writing,
) -> Result<Response, Problem> {
    let slot = state.slot(&w.caller.0, &t).await?;
    if !matches!(w.caller.0.role, Role::Operator | Role::GlobalAdmin) {
        return Err(Problem::forbidden(format!(
            "a {} key may not move a tenant's clock (operators and global admins may)",
            w.caller.0.role.as_str()
        )));
    }
    let ask: Advance = json_body(&w.headers, &w.body)?;
    let cur = slot.state.load_full();
    let tenant = &cur.scenario().tenant;
    if !tenant.test_clock {
        let mut p = Problem::conflict(
            "this tenant follows real time; only a tenant created with `tenant.test_clock = true` has a clock to move",
        );
        p.extra.insert("test_clock".into(), json!(false));
        return Err(p);
    }
    let from = tenant.at.unwrap_or_else(|| state.today());
    if ask.to < from {
        return Err(Problem::unprocessable(format!(
            "the clock is at {from}; it moves forward only (to {from} or later)"
        ))
        .at("/to"));
    }
    if (ask.to - from).num_days() > crate::jobs::MAX_DAYS {
        return Err(Problem::unprocessable(format!(
            "at most {} days at once (from {from})",
            crate::jobs::MAX_DAYS
        ))
        .at("/to"));
    }
    if w.req.dry_run {
        let cur = slot.state.load_full();
        let days = entitle_core::timeline::run(
            Arc::clone(cur.snapshot.catalog_arc()),
            cur.scenario().clone(),
            cur.scenario()
                .tenant
                .jobs_through
                .and_then(|j| j.succ_opt())
                .unwrap_or(from),
            ask.to,
        )
        .map_err(|e| Problem::internal(e.to_string()))?;
        return Ok(
            axum::Json(json!({"dry_run": true, "from": from, "to": ask.to, "days": days})).into_response(),
        );
    }
    let days = crate::jobs::run(&state, &slot, ask.to, true).await?;
    let version = slot.state.load().version;
    Ok(axum::Json(json!({"from": from, "to": ask.to, "version": version, "days": days})).into_response())
}

/// `?from=&to=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineQuery {
    /// Default: the day after the jobs last ran (or the tenant's day).
    pub from: Option<NaiveDate>,
    /// Default and most: 366 days after `from`.
    pub to: Option<NaiveDate>,
}

/// The most days `GET …/timeline` works out at once: each day is the tenant evaluated afresh.
pub const TIMELINE_MAX_DAYS: i64 = 366;

/// `GET /v1/tenants/{t}/timeline`: what the jobs will do day by day from `from` to `to` if nothing else changes
/// (`entitle timeline` on the tenant as it is now); nothing is changed.
pub async fn upcoming(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(t): Path<String>,
    Q(q): Q<TimelineQuery>,
) -> Result<Response, Problem> {
    let slot = state.slot(&caller.0, &t).await?;
    require(&caller.0, Family::Answers, Access::Read, Scope::default())?;
    let cur = slot.state.load_full();
    let tenant = &cur.scenario().tenant;
    let now = tenant.at.unwrap_or_else(|| state.today());
    let from = q
        .from
        .or_else(|| tenant.jobs_through.and_then(|j| j.succ_opt()))
        .unwrap_or(now);
    let to = match q.to {
        Some(to) => to,
        None => from
            .checked_add_days(chrono::Days::new(TIMELINE_MAX_DAYS as u64))
            .ok_or_else(|| Problem::bad_request("invalid-query", "from: too late a day").at("query:from"))?,
    };
    if to < from {
        return Err(
            Problem::bad_request("invalid-query", format!("to ({to}) is before from ({from})"))
                .at("query:to"),
        );
    }
    if (to - from).num_days() > TIMELINE_MAX_DAYS {
        return Err(Problem::bad_request(
            "invalid-query",
            format!("at most {TIMELINE_MAX_DAYS} days at once (from {from})"),
        )
        .at("query:to"));
    }
    let catalog = Arc::clone(cur.snapshot.catalog_arc());
    let scenario = cur.scenario().clone();
    let days = state
        .heavy(move || entitle_core::timeline::run(catalog, scenario, from, to))
        .await?
        .map_err(|e| Problem::internal(e.to_string()))?;
    Ok(axum::Json(json!({
        "tenant": t, "from": from, "to": to, "today": now, "test_clock": tenant.test_clock,
        // A tenant with `tenant.at` and no test clock is pinned to that day: its jobs do not run.
        "pinned": tenant.at.is_some() && !tenant.test_clock,
        "jobs_through": tenant.jobs_through, "days": days,
    }))
    .into_response())
}
