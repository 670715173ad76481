//! The rulebook (`docs/rules.md`, embedded in the engine): every rule's title, reading, seed quotes and tests,
//! readable by any valid key, so that a client can explain the rule IDs its answers carry.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use entitle_core::rulebook;
use entitle_core::scenario::ids;
use serde_json::json;

use crate::http::Caller;
use crate::problem::Problem;

/// `GET /v1/rules`: every rule's section, in rulebook order.
pub async fn list(_caller: Caller) -> Response {
    axum::Json(json!({ "rules": rulebook::all() })).into_response()
}

/// `GET /v1/rules/{rule}`: one rule's section; the ID is read as people type it (`flow-4`, `FLOW_4`). An unknown
/// ID is a 404 that names it and suggests close IDs.
pub async fn get(_caller: Caller, Path(id): Path<String>) -> Result<Response, Problem> {
    match rulebook::parse_id(&id).and_then(rulebook::get) {
        Some(section) => Ok(axum::Json(section).into_response()),
        None => Err(unknown(&id)),
    }
}

fn unknown(id: &str) -> Problem {
    let near: Vec<&str> = rulebook::suggest(id).iter().map(|r| r.id()).collect();
    let hint = if near.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", near.join(", "))
    };
    Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        format!("no rule `{}`{hint}", ids::shown(id)),
    )
    .at("path:rule")
}
