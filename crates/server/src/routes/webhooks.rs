//! Webhook endpoints (issue 14): `…/webhooks` (list, create), `…/webhooks/{id}` (read, change, delete),
//! `…/webhooks/{id}/secret:rotate`, `…/webhooks/{id}/deliveries` (the log) and
//! `…/webhooks/{id}/deliveries/{d}:replay`. Operators and global admins only: an endpoint hears every event of
//! its tenant. The secret is shown once, when it is made.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::http::{Caller, Q, Writing, json_body};
use crate::policy::{Access, Family, Scope, require};
use crate::problem::Problem;
use crate::state::AppState;
use crate::store::hooks::{EndpointRow, SecretRow};
use crate::store::now_ms;

/// The most endpoints a tenant may have.
pub const MAX_ENDPOINTS: usize = 16;
/// How long a rotated secret keeps signing beside the new one (receivers move to the new one meanwhile).
pub const ROTATION_OVERLAP_MS: i64 = 24 * 3_600_000;

/// The event types an endpoint may subscribe to (docs/server.md, "Events and time").
pub const TYPES: &[&str] = &[
    "tenant.created",
    "license.assigned",
    "license.removed",
    "user.created",
    "user.updated",
    "user.deleted",
    "flow.created",
    "flow.updated",
    "flow.deleted",
    "app.created",
    "app.updated",
    "app.deleted",
    "environment.created",
    "environment.updated",
    "environment.deleted",
    "environment.allocated",
    "environment.storage_reported",
    "entity.created",
    "entity.updated",
    "entity.deleted",
    "subscription.created",
    "subscription.updated",
    "subscription.deleted",
    "license_request.created",
    "license_request.approved",
    "license_request.denied",
    "flow.license_set",
    "flow.suspended",
    "flow.resumed",
    "enforcement.admin_notice",
    "enforcement.maker_notice",
    "enforcement.cleared",
    "trial.expiring",
    "trial.expired",
    "subscription.renewed",
    "subscription.lapsed",
    "subscription.cancelled",
    "subscription.taken_over",
    "requests.warning",
];

/// A new endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    pub url: String,
    /// Empty or absent: every type.
    #[serde(default)]
    pub types: Vec<String>,
    #[serde(default)]
    pub description: String,
}

/// A change to an endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub types: Option<Vec<String>>,
    pub description: Option<String>,
    pub disabled: Option<bool>,
}

fn allow(caller: &Caller, access: Access) -> Result<(), Problem> {
    require(&caller.0, Family::Webhooks, access, Scope::default())
}

/// An endpoint as the API shows it: never its secrets, only the start of the newest.
fn shown(e: &EndpointRow) -> Value {
    let hint = e
        .secrets
        .first()
        .map(|s| format!("{}…", s.secret.chars().take(10).collect::<String>()))
        .unwrap_or_default();
    json!({
        "id": e.id,
        "url": e.url,
        "types": e.types,
        "description": e.description,
        "status": if e.disabled { "disabled" } else if e.failing_since.is_some() { "failing" } else { "active" },
        "failing_since": e.failing_since.map(crate::store::hooks::rfc3339_of),
        "created": crate::store::hooks::rfc3339_of(e.created_at),
        "secret_hint": hint,
        "secrets_in_force": e.secrets.len(),
    })
}

fn check_types(types: &[String], at: &str) -> Result<(), Problem> {
    if types.len() > TYPES.len() {
        return Err(Problem::unprocessable(format!("at most {} types", TYPES.len())).at(at));
    }
    for (i, t) in types.iter().enumerate() {
        if !TYPES.contains(&t.as_str()) {
            return Err(Problem::unprocessable(format!(
                "unknown event type `{}`; known: {}",
                t.chars().take(64).collect::<String>(),
                TYPES.join(", ")
            ))
            .at(format!("{at}/{i}")));
        }
    }
    Ok(())
}

fn check_url(state: &AppState, url: &str) -> Result<(), Problem> {
    crate::hooks::validate_url(url, state.webhooks_allow_private)
        .map_err(|e| Problem::unprocessable(e.to_string()).at("/url"))
}

fn check_description(d: &str) -> Result<(), Problem> {
    if d.chars().count() > 500 {
        return Err(Problem::unprocessable("description: at most 500 characters").at("/description"));
    }
    Ok(())
}

async fn incarnation(state: &Arc<AppState>, caller: &Caller, t: &str) -> Result<String, Problem> {
    let slot = state.slot(&caller.0, t).await?;
    Ok(slot.state.load().incarnation.to_string())
}

async fn found(state: &Arc<AppState>, t: &str, inc: &str, id: &str) -> Result<EndpointRow, Problem> {
    state
        .store
        .endpoint(t, inc, id)
        .await
        .map_err(Problem::internal)?
        .ok_or_else(|| Problem::not_found("webhook endpoint", id))
}

/// The endpoint `id` of tenant `t`, if the caller may `access` webhooks there; with the tenant's incarnation.
async fn endpoint(
    state: &Arc<AppState>,
    caller: &Caller,
    t: &str,
    id: &str,
    access: Access,
) -> Result<(String, EndpointRow), Problem> {
    let inc = incarnation(state, caller, t).await?;
    allow(caller, access)?;
    let e = found(state, t, &inc, id).await?;
    Ok((inc, e))
}

/// `GET …/webhooks`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(t): Path<String>,
) -> Result<Response, Problem> {
    let inc = incarnation(&state, &caller, &t).await?;
    allow(&caller, Access::Read)?;
    let all = state.store.endpoints(&t, &inc).await.map_err(Problem::internal)?;
    Ok(
        axum::Json(json!({"endpoints": all.iter().map(shown).collect::<Vec<_>>(), "types": TYPES}))
            .into_response(),
    )
}

/// `POST …/webhooks`: 201 with the secret, shown this once.
pub async fn create(
    State(state): State<Arc<AppState>>,
    Path(t): Path<String>,
    w: Writing,
) -> Result<Response, Problem> {
    let inc = incarnation(&state, &w.caller, &t).await?;
    allow(&w.caller, Access::Write)?;
    let ask: NewEndpoint = json_body(&w.headers, &w.body)?;
    check_url(&state, &ask.url)?;
    check_types(&ask.types, "/types")?;
    check_description(&ask.description)?;
    let existing = state.store.endpoints(&t, &inc).await.map_err(Problem::internal)?;
    if existing.len() >= MAX_ENDPOINTS {
        return Err(Problem::conflict(format!(
            "a tenant has at most {MAX_ENDPOINTS} webhook endpoints; delete one first"
        )));
    }
    let secret = crate::hooks::Secret::generate().to_string();
    let row = EndpointRow {
        id: crate::auth::new_id("whe_"),
        tenant: t.clone(),
        incarnation: inc.clone(),
        url: ask.url,
        types: ask.types,
        description: ask.description,
        secrets: vec![SecretRow {
            secret: secret.clone(),
            expires_at: None,
        }],
        disabled: false,
        failing_since: None,
        // Events from now on: not the tenant's whole history.
        cursor: state
            .store
            .last_event_seq(&t, &inc)
            .await
            .map_err(Problem::internal)?,
        created_at: now_ms(),
    };
    if w.req.dry_run {
        return Ok(axum::Json(json!({"dry_run": true, "endpoint": shown(&row)})).into_response());
    }
    state
        .store
        .insert_endpoint(&row)
        .await
        .map_err(Problem::internal)?;
    // Its events start now: the dispatcher looks at once rather than at its next round.
    state.hooks_wake.now();
    let mut body = shown(&row);
    if let Some(o) = body.as_object_mut() {
        o.insert("secret".into(), json!(secret));
    }
    let location = format!("/v1/tenants/{t}/webhooks/{}", row.id);
    Ok((
        StatusCode::CREATED,
        [(axum::http::header::LOCATION, location)],
        axum::Json(body),
    )
        .into_response())
}

/// `GET …/webhooks/{id}`.
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((t, id)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let (_, e) = endpoint(&state, &caller, &t, &id, Access::Read).await?;
    Ok(axum::Json(shown(&e)).into_response())
}

/// `PATCH …/webhooks/{id}`.
pub async fn patch(
    State(state): State<Arc<AppState>>,
    Path((t, id)): Path<(String, String)>,
    w: Writing,
) -> Result<Response, Problem> {
    let (_, mut e) = endpoint(&state, &w.caller, &t, &id, Access::Write).await?;
    let ask: EndpointPatch = json_body(&w.headers, &w.body)?;
    if let Some(url) = ask.url {
        check_url(&state, &url)?;
        e.url = url;
    }
    if let Some(types) = ask.types {
        check_types(&types, "/types")?;
        e.types = types;
    }
    if let Some(d) = ask.description {
        check_description(&d)?;
        e.description = d;
    }
    if let Some(disabled) = ask.disabled {
        e.disabled = disabled;
        if !disabled {
            // Turned on again: it is given another chance.
            e.failing_since = None;
        }
    }
    if !w.req.dry_run {
        state.store.update_endpoint(&e).await.map_err(Problem::internal)?;
        // Turned on again, or pointed elsewhere: what waits goes out now.
        state.hooks_wake.now();
    }
    Ok(axum::Json(shown(&e)).into_response())
}

/// `DELETE …/webhooks/{id}`: with its deliveries and their log.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Path((t, id)): Path<(String, String)>,
    w: Writing,
) -> Result<Response, Problem> {
    let (inc, _) = endpoint(&state, &w.caller, &t, &id, Access::Write).await?;
    if !w.req.dry_run {
        state
            .store
            .delete_endpoint(&t, &inc, &id)
            .await
            .map_err(Problem::internal)?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST …/webhooks/{id}/secret:rotate`: a new secret (shown once); the old one signs beside it for 24 hours.
pub async fn rotate(
    State(state): State<Arc<AppState>>,
    Path((t, id)): Path<(String, String)>,
    w: Writing,
) -> Result<Response, Problem> {
    let (_, mut e) = endpoint(&state, &w.caller, &t, &id, Access::Write).await?;
    let now = now_ms();
    let expires = now.saturating_add(ROTATION_OVERLAP_MS);
    let secret = crate::hooks::Secret::generate().to_string();
    // The secrets still in force, each ending at most `expires` from now; then the new one first.
    let mut kept: Vec<SecretRow> = e
        .secrets
        .into_iter()
        .filter(|s| s.expires_at.is_none_or(|x| x > now))
        .map(|s| SecretRow {
            expires_at: Some(s.expires_at.map_or(expires, |x| x.min(expires))),
            secret: s.secret,
        })
        .collect();
    kept.truncate(3);
    kept.insert(
        0,
        SecretRow {
            secret: secret.clone(),
            expires_at: None,
        },
    );
    e.secrets = kept;
    state.store.update_endpoint(&e).await.map_err(Problem::internal)?;
    Ok(axum::Json(json!({
        "id": e.id,
        "secret": secret,
        "previous_expires_at": crate::store::hooks::rfc3339_of(expires),
    }))
    .into_response())
}

/// `?before=&limit=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// Deliveries of events before this seq (the `next` of the page before): newest first.
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

/// `GET …/webhooks/{id}/deliveries`: the delivery log, newest first.
pub async fn deliveries(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((t, id)): Path<(String, String)>,
    Q(q): Q<LogQuery>,
) -> Result<Response, Problem> {
    endpoint(&state, &caller, &t, &id, Access::Read).await?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(
            Problem::bad_request("invalid-query", "limit must be between 1 and 500").at("query:limit"),
        );
    }
    let rows = state
        .store
        .deliveries(&id, q.before, limit)
        .await
        .map_err(Problem::internal)?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.event_seq))
        .flatten();
    Ok(axum::Json(json!({"deliveries": rows, "next": next})).into_response())
}

/// `GET …/webhooks/{id}/deliveries/{d}`: one delivery with its history, every attempt oldest first.
pub async fn delivery(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((t, id, d)): Path<(String, String, String)>,
) -> Result<Response, Problem> {
    endpoint(&state, &caller, &t, &id, Access::Read).await?;
    let row = state
        .store
        .delivery(&id, &d)
        .await
        .map_err(Problem::internal)?
        .ok_or_else(|| Problem::not_found("delivery", &d))?;
    Ok(axum::Json(row).into_response())
}

/// `POST …/webhooks/{id}/deliveries/{d}:replay`: sent again now, with the same `webhook-id`.
pub async fn replay(
    State(state): State<Arc<AppState>>,
    Path((t, id, d)): Path<(String, String, String)>,
    w: Writing,
) -> Result<Response, Problem> {
    endpoint(&state, &w.caller, &t, &id, Access::Write).await?;
    let Some(d) = d.strip_suffix(":replay").map(str::to_owned) else {
        return Err(Problem::not_found("action", &d));
    };
    if !state
        .store
        .replay(&id, &d, now_ms())
        .await
        .map_err(Problem::internal)?
    {
        return Err(Problem::not_found("delivery", &d));
    }
    state.hooks_wake.now();
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({"delivery": d, "state": "pending"})),
    )
        .into_response())
}
