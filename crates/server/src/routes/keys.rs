//! `/v1/keys` (operator keys) and `/v1/tenants/{t}/keys` (a tenant's keys, for its global admins).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::auth::Role;
use crate::http::{Caller, json_body};
use crate::keys::{KeySpec, KeyView, check_spec, create, revoke};
use crate::policy::{Access, Family, Scope, require};
use crate::problem::Problem;
use crate::state::AppState;
use crate::store::{KeyIf, Revoked};

fn operator(caller: &Caller) -> Result<(), Problem> {
    if caller.0.role == Role::Operator {
        Ok(())
    } else {
        // Others may not know operator keys exist.
        Err(Problem::not_found("resource", "/v1/keys"))
    }
}

async fn made(
    state: &AppState,
    caller: &Caller,
    tenant: Option<&str>,
    spec: &KeySpec,
) -> Result<Response, Problem> {
    let key = create(
        state.store.as_ref(),
        &caller.0.key_id,
        tenant,
        spec,
        None,
        KeyIf::Always,
    )
    .await
    .map_err(Problem::internal)?
    .ok_or_else(|| Problem::internal("key not created"))?;
    state.reload_keys().await.map_err(Problem::internal)?;
    Ok((StatusCode::CREATED, axum::Json(key)).into_response())
}

/// The keys of a tenant's present life (`incarnation`), or the operator keys.
async fn listed(
    state: &AppState,
    tenant: Option<&str>,
    incarnation: Option<&str>,
) -> Result<Response, Problem> {
    let rows = state.store.keys().await.map_err(Problem::internal)?;
    let views: Vec<KeyView> = rows
        .iter()
        .filter(|k| k.tenant.as_deref() == tenant)
        .filter(|k| incarnation.is_none_or(|i| k.incarnation == i))
        .map(KeyView::from)
        .collect();
    Ok(axum::Json(views).into_response())
}

async fn revoked(
    state: &AppState,
    caller: &Caller,
    tenant: Option<&str>,
    id: &str,
) -> Result<Response, Problem> {
    let rows = state.store.keys().await.map_err(Problem::internal)?;
    let row = rows
        .iter()
        .find(|k| k.id == id && k.tenant.as_deref() == tenant && !k.revoked)
        .ok_or_else(|| Problem::not_found("key", id))?;
    // The last-operator rule is decided by the store, in the transaction that revokes.
    match revoke(state.store.as_ref(), &caller.0.key_id, row)
        .await
        .map_err(Problem::internal)?
    {
        Revoked::Done => {}
        Revoked::NotFound => return Err(Problem::not_found("key", id)),
        Revoked::LastOperator => {
            return Err(Problem::conflict(
                "this is the last operator key in force: create another before revoking it",
            ));
        }
    }
    state.reload_keys().await.map_err(Problem::internal)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn create_operator(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    operator(&caller)?;
    let spec: KeySpec = json_body(&headers, &body)?;
    check_spec(&spec, None, &|_| false, &|_| false)?;
    made(&state, &caller, None, &spec).await
}

pub async fn list_operator(State(state): State<Arc<AppState>>, caller: Caller) -> Result<Response, Problem> {
    operator(&caller)?;
    listed(&state, None, None).await
}

pub async fn revoke_operator(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    operator(&caller)?;
    revoked(&state, &caller, None, &id).await
}

pub async fn create_tenant_key(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(t): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let slot = state.slot(&caller.0, &t).await?;
    require(&caller.0, Family::Keys, Access::Write, Scope::default())?;
    let spec: KeySpec = json_body(&headers, &body)?;
    let cur = slot.state.load_full();
    let s = cur.scenario();
    check_spec(
        &spec,
        Some(&t),
        &|e| s.environments.iter().any(|x| x.id == e),
        &|u| s.users.iter().any(|x| x.id == u),
    )?;
    made(&state, &caller, Some(&t), &spec).await
}

pub async fn list_tenant_keys(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(t): Path<String>,
) -> Result<Response, Problem> {
    let slot = state.slot(&caller.0, &t).await?;
    require(&caller.0, Family::Keys, Access::Read, Scope::default())?;
    let incarnation = slot.state.load().incarnation.to_string();
    listed(&state, Some(&t), Some(&incarnation)).await
}

pub async fn revoke_tenant_key(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((t, id)): Path<(String, String)>,
) -> Result<Response, Problem> {
    state.slot(&caller.0, &t).await?;
    require(&caller.0, Family::Keys, Access::Write, Scope::default())?;
    revoked(&state, &caller, Some(&t), &id).await
}

/// `GET /v1/me`: who the key is (any valid key), so a client can show and offer only what its role may do.
pub async fn me(caller: Caller) -> Response {
    let p = &caller.0;
    axum::Json(serde_json::json!({
        "key_id": p.key_id,
        "role": p.role.as_str(),
        "tenant": p.tenant,
        "user": p.user,
        "environments": p.environments,
    }))
    .into_response()
}
