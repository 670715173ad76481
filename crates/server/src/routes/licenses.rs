//! Licences in the shapes their Microsoft APIs use: Graph's `assignLicense` and `subscribedSkus`, the Power
//! Platform licensing API's `currencyAllocations`, and a flow's licence mode.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use entitle_core::buying::usage;
use entitle_core::catalog::Scope as CatalogScope;
use entitle_core::changes::{AssignLicense, BulkAssign, assign_many, assign_to};
use entitle_core::scenario::FlowLicense;
use entitle_core::scenario::limits::MAX_QUANTITY;
use serde::Deserialize;
use serde_json::json;

use crate::http::{Caller, Writing, if_match, json_body, precondition};
use crate::policy::{Access, Family, Scope, require};
use crate::problem::Problem;
use crate::routes::items::etag_of;
use crate::state::AppState;
use crate::write::{Change, Mutation, Reply, Within, write};

pub async fn assign_license(
    State(state): State<Arc<AppState>>,
    Path((t, user)): Path<(String, String)>,
    w: Writing,
) -> Result<Response, Problem> {
    let slot = state.slot(&w.caller.0, &t).await?;
    let ask: AssignLicense = json_body(&w.headers, &w.body)?;
    require(
        &w.caller.0,
        Family::Licenses,
        Access::Write,
        Scope {
            environment: None,
            user: Some(&user),
        },
    )?;
    let req = &w.req;
    write(&state, &slot, req, |cur| {
        let mut s = cur.scenario().clone();
        let catalog = cur.snapshot.catalog();
        let i = s
            .users
            .iter()
            .position(|u| u.id == user)
            .ok_or_else(|| Problem::not_found("user", &user))?;
        let u = s
            .users
            .get_mut(i)
            .ok_or_else(|| Problem::not_found("user", &user))?;
        let before = serde_json::to_value(&*u).map_err(Problem::internal)?;
        // Like Graph: no assignment beyond the units bought (the write path checks, blaming the added SKU).
        let blame =
            assign_to(u, catalog, &ask.add_licenses, &ask.remove_licenses, "").map_err(Problem::refused)?;
        let after = serde_json::to_value(&*u).map_err(Problem::internal)?;
        let etag = etag_of(&*u);
        Ok(Mutation {
            next: s,
            blame,
            changes: vec![Change {
                action: "assign-license",
                kind: "user",
                item: Some(user.clone()),
                before: Some(before),
                after: Some(after.clone()),
            }],
            reply: Reply {
                status: StatusCode::OK,
                body: Some(after),
                etag: Some(etag),
                location: None,
            },
            within: Within::Scenario,
        })
    })
    .await
}

/// Assigns and removes licences for many users in one write: every change or none. A user named twice gets both
/// in order. With `?dry_run=true` the answer lists the changes and every decision they would turn.
pub async fn bulk_assign_license(
    State(state): State<Arc<AppState>>,
    Path(t): Path<String>,
    w: Writing,
) -> Result<Response, Problem> {
    let slot = state.slot(&w.caller.0, &t).await?;
    let ask: BulkAssign = json_body(&w.headers, &w.body)?;
    ask.within_bound().map_err(Problem::refused)?;
    for a in &ask.assignments {
        require(
            &w.caller.0,
            Family::Licenses,
            Access::Write,
            Scope {
                environment: None,
                user: Some(&a.user),
            },
        )?;
    }
    write(&state, &slot, &w.req, |cur| {
        let mut s = cur.scenario().clone();
        let (done, blame) = assign_many(&mut s, cur.snapshot.catalog(), &ask).map_err(Problem::refused)?;
        let users: Vec<serde_json::Value> = done.iter().map(|d| d.after.clone()).collect();
        let changes = done
            .into_iter()
            .map(|d| Change {
                action: "assign-license",
                kind: "user",
                item: Some(d.user),
                before: Some(d.before),
                after: Some(d.after),
            })
            .collect();
        Ok(Mutation {
            next: s,
            blame,
            changes,
            reply: Reply::json(StatusCode::OK, json!({ "users": users })),
            within: Within::Scenario,
        })
    })
    .await
}

/// Power Platform licensing API: `{"currencyAllocations": [{"currencyType": SKU, "allocated": n}]}`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Allocations {
    pub currency_allocations: Vec<CurrencyAllocation>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CurrencyAllocation {
    /// An environment-scoped add-on SKU id.
    pub currency_type: String,
    /// Units to allocate to the environment; 0 removes the allocation.
    pub allocated: u64,
}

fn allocations_json(env: &str, a: &std::collections::BTreeMap<String, u64>) -> serde_json::Value {
    json!({
        "environmentId": env,
        "currencyAllocations": a.iter().map(|(k, v)| json!({"currencyType": k, "allocated": v})).collect::<Vec<_>>(),
    })
}

pub async fn get_allocations(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((t, env)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let slot = state.slot(&caller.0, &t).await?;
    let cur = slot.state.load_full();
    let e = cur
        .scenario()
        .environments
        .iter()
        .find(|e| e.id == env)
        .ok_or_else(|| Problem::not_found("environment", &env))?;
    require(
        &caller.0,
        Family::Allocations,
        Access::Read,
        Scope {
            environment: Some(&env),
            user: None,
        },
    )?;
    Ok(axum::Json(allocations_json(&env, &e.allocations)).into_response())
}

pub async fn patch_allocations(
    State(state): State<Arc<AppState>>,
    Path((t, env)): Path<(String, String)>,
    w: Writing,
) -> Result<Response, Problem> {
    let slot = state.slot(&w.caller.0, &t).await?;
    let ask: Allocations = json_body(&w.headers, &w.body)?;
    require(
        &w.caller.0,
        Family::Allocations,
        Access::Write,
        Scope {
            environment: Some(&env),
            user: None,
        },
    )?;
    let req = &w.req;
    write(&state, &slot, req, |cur| {
        let mut s = cur.scenario().clone();
        let catalog = cur.snapshot.catalog();
        let e = s
            .environments
            .iter_mut()
            .find(|e| e.id == env)
            .ok_or_else(|| Problem::not_found("environment", &env))?;
        let before = allocations_json(&env, &e.allocations);
        let mut changed = Vec::new();
        for (k, a) in ask.currency_allocations.iter().enumerate() {
            let pointer = format!("/currencyAllocations/{k}/allocated");
            // Said here as well as by the scenario's validation, so the pointer names this request's field.
            if a.allocated > MAX_QUANTITY {
                return Err(Problem::unprocessable(format!(
                    "{} is more than {MAX_QUANTITY}, the largest quantity entitle takes",
                    a.allocated
                ))
                .at(pointer));
            }
            let idx = catalog.sku_idx(&a.currency_type).ok_or_else(|| {
                Problem::unprocessable(format!("unknown SKU `{}`", a.currency_type))
                    .at(format!("/currencyAllocations/{k}/currencyType"))
            })?;
            let def = catalog.sku(idx);
            // Said here as well as by the scenario's validation, so the pointer names this request's field.
            if let Some(d) = def.filter(|d| matches!(d.scope, CatalogScope::User | CatalogScope::Tenant)) {
                return Err(Problem::unprocessable(format!(
                    "`{}` is {}-scoped and is not allocated to environments",
                    d.id,
                    if d.scope == CatalogScope::User {
                        "user"
                    } else {
                        "tenant"
                    }
                ))
                .at(format!("/currencyAllocations/{k}/currencyType")));
            }
            let id = def
                .map(|d| d.id.clone())
                .unwrap_or_else(|| a.currency_type.clone());
            if a.allocated == 0 {
                e.allocations.remove(&id);
            } else {
                e.allocations.insert(id.clone(), a.allocated);
            }
            changed.push((pointer, id));
        }
        let after = allocations_json(&env, &e.allocations);
        // Like `assignLicense`: no allocation beyond the units bought (409), unless it was so before and the
        // change does not make it worse (the write path checks, blaming the allocation).
        Ok(Mutation {
            next: s,
            blame: changed,
            changes: vec![Change {
                action: "allocate",
                kind: "environment",
                item: Some(env.clone()),
                before: Some(before),
                after: Some(after.clone()),
            }],
            reply: Reply::json(StatusCode::OK, after),
            within: Within::Scenario,
        })
    })
    .await
}

/// `{"license": "user" | "process" | "per-flow"}`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetFlowLicense {
    pub license: FlowLicense,
}

pub async fn put_flow_license(
    State(state): State<Arc<AppState>>,
    Path((t, flow)): Path<(String, String)>,
    w: Writing,
) -> Result<Response, Problem> {
    let slot = state.slot(&w.caller.0, &t).await?;
    let ask: SetFlowLicense = json_body(&w.headers, &w.body)?;
    let given = if_match(&w.headers)?;
    let req = &w.req;
    write(&state, &slot, req, |cur| {
        let mut s = cur.scenario().clone();
        let f = s
            .flows
            .iter_mut()
            .find(|f| f.id == flow)
            .ok_or_else(|| Problem::not_found("flow", &flow))?;
        require(
            &w.caller.0,
            Family::FlowLicense,
            Access::Write,
            Scope {
                environment: Some(&f.environment),
                user: None,
            },
        )?;
        precondition(given.as_deref(), &etag_of(&*f), false)?;
        let before = json!({"license": f.license});
        f.license = ask.license;
        let after = json!({"license": f.license});
        let etag = etag_of(&*f);
        let body = serde_json::to_value(&*f).map_err(Problem::internal)?;
        Ok(Mutation {
            next: s,
            blame: Vec::new(),
            changes: vec![Change {
                action: "set-license",
                kind: "flow",
                item: Some(flow.clone()),
                before: Some(before),
                after: Some(after),
            }],
            reply: Reply {
                status: StatusCode::OK,
                body: Some(body),
                etag: Some(etag),
                location: None,
            },
            within: Within::Scenario,
        })
    })
    .await
}

/// Graph `subscribedSkus`: per SKU, units bought (`prepaidUnits.enabled`), assigned or allocated
/// (`consumedUnits`) and what is left.
pub async fn subscribed_skus(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(t): Path<String>,
) -> Result<Response, Problem> {
    let slot = state.slot(&caller.0, &t).await?;
    require(&caller.0, Family::Answers, Access::Read, Scope::default())?;
    let cur = state.current(&slot);
    let (lines, _, _) = usage(&cur.snapshot);
    let value: Vec<_> = lines
        .iter()
        .map(|u| {
            json!({
                "skuId": u.sku,
                "skuPartNumber": cur.snapshot.catalog().sku_by_id(&u.sku).map(|d| d.name.clone()),
                "prepaidUnits": {"enabled": u.purchased},
                "consumedUnits": u.assigned + u.allocated,
                "available": u.available,
                "holders": u.holders,
            })
        })
        .collect();
    Ok(axum::Json(json!({"value": value})).into_response())
}
