//! Deciding licence requests: approving one assigns the licence (within the units bought, like
//! `assignLicense`) and marks it approved, in one write; denying marks it denied.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use entitle_core::scenario::RequestState;

use crate::http::Writing;
use crate::policy::{Access, Family, Scope, require};
use crate::problem::Problem;
use crate::state::AppState;
use crate::write::{Change, Mutation, Reply, Within, write};

fn to_value<T: serde::Serialize>(x: &T) -> Result<serde_json::Value, Problem> {
    serde_json::to_value(x).map_err(Problem::internal)
}

/// `POST /v1/tenants/{t}/license-requests/{id}/approve` or `…/deny`.
pub async fn decide(
    State(state): State<Arc<AppState>>,
    Path((t, id, decision)): Path<(String, String, String)>,
    w: Writing,
) -> Result<Response, Problem> {
    let approve = match decision.as_str() {
        "approve" => true,
        "deny" => false,
        other => return Err(Problem::not_found("action", other)),
    };
    let slot = state.slot(&w.caller.0, &t).await?;
    require(&w.caller.0, Family::Licenses, Access::Write, Scope::default())?;
    write(&state, &slot, &w.req, |cur| {
        let mut s = cur.scenario().clone();
        let r = s
            .license_requests
            .iter_mut()
            .find(|r| r.id == id)
            .ok_or_else(|| Problem::not_found("license-request", &id))?;
        if r.state != RequestState::Pending {
            return Err(Problem::conflict(
                format!("licence request `{id}` is {:?} already", r.state).to_lowercase(),
            ));
        }
        let before = to_value(&*r)?;
        r.state = if approve {
            RequestState::Approved
        } else {
            RequestState::Denied
        };
        let after = to_value(&*r)?;
        let (user, sku) = (r.user.clone(), r.sku.clone());
        let mut changes = vec![Change {
            action: if approve { "approve" } else { "deny" },
            kind: "license-request",
            item: Some(id.clone()),
            before: Some(before),
            after: Some(after.clone()),
        }];
        let blame = if approve {
            let u = s
                .users
                .iter_mut()
                .find(|u| u.id == user)
                .ok_or_else(|| Problem::not_found("user", &user))?;
            let before = to_value(&*u)?;
            let canonical = cur
                .snapshot
                .catalog()
                .sku_by_id(&sku)
                .map_or(sku.clone(), |d| d.id.clone());
            u.licenses.push(canonical.clone());
            changes.push(Change {
                action: "assign-license",
                kind: "user",
                item: Some(user.clone()),
                before: Some(before),
                after: Some(to_value(&*u)?),
            });
            vec![("/sku".to_owned(), canonical)]
        } else {
            Vec::new()
        };
        Ok(Mutation {
            next: s,
            blame,
            changes,
            reply: Reply::json(StatusCode::OK, after),
            within: Within::Scenario,
        })
    })
    .await
}
