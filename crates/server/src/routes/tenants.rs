//! Tenants: created from a scenario (JSON or TOML), exported back to one, and their audit log.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use entitle_core::scenario::Format;
use entitle_core::{Scenario, Snapshot};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Role;
use crate::http::{Caller, Q, Writing, write_req};
use crate::policy::{Access, Family, Scope, require};
use crate::problem::{FieldError, Problem, pointer_of};
use crate::state::AppState;
use crate::store::AuditFilter;
use crate::write::{create_tenant, delete_tenant};

/// A tenant at a glance.
pub fn summary(id: &str, version: i64, catalog: &str, snap: &Snapshot) -> Value {
    let s = snap.scenario();
    json!({
        "id": id,
        "version": version,
        "catalog": catalog,
        "at": snap.at(),
        "counts": {
            "users": s.users.len(),
            "environments": s.environments.len(),
            "apps": s.apps.len(),
            "flows": s.flows.len(),
            "entities": s.entities.len(),
            "subscriptions": s.subscriptions.len(),
        },
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateQuery {
    /// The catalog edition (`seed`, `current`); the server's default when absent.
    pub catalog: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
}

/// `POST /v1/tenants`: the body is a scenario, JSON or TOML by `Content-Type`. Operators only.
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Q(q): Q<CreateQuery>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    if caller.0.role != Role::Operator {
        return Err(Problem::forbidden("only an operator key creates tenants"));
    }
    let format = match headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("(not ASCII)"))
        .map(|c| c.split(';').next().unwrap_or("").trim())
    {
        Some("application/toml" | "text/toml" | "text/x-toml") => Format::Toml,
        Some("application/json") | None => Format::Json,
        Some(other) => {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                format!("send a scenario as `application/json` or `application/toml`, not `{other}`"),
            )
            .at("header:Content-Type"));
        }
    };
    let text = std::str::from_utf8(&body)
        .map_err(|e| Problem::bad_request("not-utf8", format!("body is not UTF-8: {e}")).at(""))?;
    let catalog_name = q.catalog.unwrap_or_else(|| state.default_catalog.clone());
    let catalog = state.catalog(&catalog_name)?;
    // Parsing a big scenario is heavy work: off the async threads (the parser's depth and size limits bound it).
    let mut scenario = state
        .heavy(|| Scenario::parse_all(text, format, "body", &catalog))
        .await?
        .map_err(|errors| scenario_problem(&errors))?;
    crate::routes::items::name_subscriptions(&mut scenario);
    let as_json = serde_json::to_value(&scenario).map_err(Problem::internal)?;
    if let Some(pointer) = crate::http::nul_pointer(&as_json, "") {
        return Err(crate::http::nul_problem(pointer));
    }
    let req = write_req(&caller, &method, &uri.to_string(), &headers, &body, q.dry_run)?;
    // `[[consumption]]` is history: it goes to the ledger and its log, not into the stored scenario.
    let history = std::mem::take(&mut scenario.consumption);
    let tenant = scenario.tenant.id.clone();
    let res = create_tenant(&state, &req, &catalog_name, scenario).await?;
    if res.status() == StatusCode::CREATED && !history.is_empty() {
        let snap = crate::routes::answers::snapshot_on(&state, &caller, &tenant, None).await?;
        // Taken in time order, each at its own time (history is replayed as it happened, whatever its age), and
        // logged in the file's order, so that an export gives the records back as they came.
        let mut order: Vec<usize> = (0..history.len()).collect();
        order.sort_by_key(|&i| history.get(i).map(|r| r.at));
        let mut taken: Vec<Option<bool>> = vec![None; history.len()];
        for i in order {
            let Some(rec) = history.get(i) else { continue };
            if let Ok(e) = entitle_core::consumption::event(&snap, &tenant, rec) {
                let from_pool =
                    matches!(e, entitle_ledger::Event::Credits { allowance, .. } if allowance.allocated == 0);
                if state.consumption.history(&e).await
                    && let Some(slot) = taken.get_mut(i)
                {
                    *slot = Some(from_pool);
                }
            }
        }
        let accepted = history
            .iter()
            .cloned()
            .zip(taken)
            .filter_map(|(r, t)| t.map(|p| (r, p)));
        state.consumption.log_many(&tenant, accepted);
    }
    Ok(res)
}

/// Scenario problems with their pointers, plus the line and column the engine found.
fn scenario_problem(errors: &[entitle_core::InputError]) -> Problem {
    let mut p = Problem::from_input(errors, &|k| crate::problem::pointer_of(k, None));
    let with_lines: Vec<FieldError> = errors
        .iter()
        .map(|e| FieldError {
            pointer: pointer_of(e.key(), None),
            detail: e.to_string(),
        })
        .collect();
    if let Some(first) = with_lines.first() {
        p.detail = first.detail.clone();
    }
    if errors.len() > 1 {
        p.errors = with_lines;
    }
    // A body that does not parse at all is a bad request; one that parses but is wrong, unprocessable.
    if errors.first().is_some_and(|e| e.key().is_empty()) {
        p.status = 400;
        p.title = "Bad Request";
        p.kind = "https://entitle.dev/problems/malformed".to_owned();
    }
    p
}

/// `GET /v1/tenants`: what the key may see (each loaded first if it is not in memory).
pub async fn list(State(state): State<Arc<AppState>>, caller: Caller) -> Result<Response, Problem> {
    let mut ids: Vec<String> = state
        .index
        .load()
        .keys()
        .filter(|id| caller.0.sees_tenant(id))
        .cloned()
        .collect();
    ids.sort();
    let mut out: Vec<Value> = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(slot) = state.loaded(&id).await? {
            let s = slot.state.load();
            out.push(summary(&slot.id, s.version, &s.catalog, &s.snapshot));
        }
    }
    Ok(axum::Json(out).into_response())
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(t): Path<String>,
) -> Result<Response, Problem> {
    let slot = state.slot(&caller.0, &t).await?;
    let s = state.current(&slot);
    let mut res = axum::Json(summary(&t, s.version, &s.catalog, &s.snapshot)).into_response();
    if let Ok(v) = s.etag().parse() {
        res.headers_mut().insert(header::ETAG, v);
    }
    Ok(res)
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    Path(t): Path<String>,
    w: Writing,
) -> Result<Response, Problem> {
    let slot = state.slot(&w.caller.0, &t).await?;
    if w.caller.0.role != Role::Operator {
        return Err(Problem::forbidden("only an operator key deletes tenants"));
    }
    let cur = slot.state.load();
    crate::http::precondition(crate::http::if_match(&w.headers)?.as_deref(), &cur.etag(), false)?;
    delete_tenant(&state, &slot, &w.req).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// `json` (default) or `toml`; `Accept: application/toml` also picks TOML.
    pub format: Option<String>,
}

/// `GET /v1/tenants/{t}/export`: the scenario again; importing it gives the same tenant.
pub async fn export(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(t): Path<String>,
    Q(q): Q<ExportQuery>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let slot = state.slot(&caller.0, &t).await?;
    require(&caller.0, Family::Tenant, Access::Read, Scope::default())?;
    let cur = slot.state.load_full();
    let accept_toml = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("toml"));
    let format = match q.format.as_deref() {
        Some("toml") => Format::Toml,
        Some("json") => Format::Json,
        None if accept_toml => Format::Toml,
        None => Format::Json,
        Some(other) => {
            return Err(Problem::bad_request(
                "invalid-query",
                format!("format must be `json` or `toml`, not `{other}`"),
            )
            .at("query:format"));
        }
    };
    // The consumption the tenant's events logged, back as `[[consumption]]`: the export loses nothing.
    let mut logged = crate::consumption::Ledgers::logged(state.store.as_ref()).await;
    logged.extend(state.consumption.pending());
    let mut scenario = cur.scenario().clone();
    let records: Vec<_> = logged
        .into_iter()
        .filter(|l| l.tenant == t)
        .map(|l| l.record)
        .collect();
    scenario.consumption = records.into();
    let text = state
        .heavy(|| scenario.to_string_as(format))
        .await?
        .map_err(Problem::internal)?;
    let ct = if format == Format::Toml {
        "application/toml"
    } else {
        "application/json"
    };
    let mut res = ([(header::CONTENT_TYPE, ct)], text).into_response();
    if let Ok(v) = cur.etag().parse() {
        res.headers_mut().insert(header::ETAG, v);
    }
    Ok(res)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    pub kind: Option<String>,
    pub item: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    /// RFC 3339 instant, inclusive.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// RFC 3339 instant, exclusive.
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Entries after this sequence number (the `next` of the previous page).
    pub after: Option<i64>,
    /// At most this many entries (1 to 1,000; default 100).
    pub limit: Option<i64>,
}

/// `GET /v1/tenants/{t}/audit-log`: every change, oldest first, filtered and paged.
pub async fn audit_log(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(t): Path<String>,
    Q(q): Q<LogQuery>,
) -> Result<Response, Problem> {
    // No store holds a NUL character: no tenant or entry has one.
    if t.contains('\0') {
        return Err(Problem::not_found("tenant", &t));
    }
    for (name, value) in [
        ("kind", &q.kind),
        ("item", &q.item),
        ("actor", &q.actor),
        ("action", &q.action),
    ] {
        if value.as_deref().is_some_and(|v| v.contains('\0')) {
            return Err(Problem::bad_request(
                "invalid-query",
                format!("{name} may not contain NUL characters"),
            )
            .at(format!("query:{name}")));
        }
    }
    // A tenant's log is its present life's: a tenant created again under an old id starts with an empty log.
    // The log outlives a deleted tenant; only operators read it then, every past life of the id at once (each
    // entry names its incarnation).
    let present = state.index.load().get(&t).cloned();
    let incarnation = match present {
        Some(incarnation) => {
            if !caller.0.sees_tenant(&t) {
                return Err(Problem::not_found("tenant", &t));
            }
            Some(incarnation.to_string())
        }
        None if caller.0.role == Role::Operator => None,
        None => return Err(Problem::not_found("tenant", &t)),
    };
    require(&caller.0, Family::AuditLog, Access::Read, Scope::default())?;
    // Entries about keys (ids, roles, names) are for those who may read keys.
    let exclude_kind = (!crate::policy::allowed(&caller.0, Family::Keys, Access::Read, Scope::default()))
        .then(|| "key".to_owned());
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(
            Problem::bad_request("invalid-query", "limit must be between 1 and 1000").at("query:limit"),
        );
    }
    let filter = AuditFilter {
        kind: q.kind,
        item: q.item,
        actor: q.actor,
        action: q.action,
        since_ms: q.since.map(|t| t.timestamp_millis()),
        until_ms: q.until.map(|t| t.timestamp_millis()),
        after_seq: q.after,
        limit,
        incarnation,
        exclude_kind,
    };
    let entries = state
        .store
        .audit_log(&t, &filter)
        .await
        .map_err(Problem::internal)?;
    let next = (entries.len() as i64 == limit)
        .then(|| entries.last().map(|e| e.seq))
        .flatten();
    Ok(axum::Json(json!({"entries": entries, "next": next})).into_response())
}
