//! Operations: health, readiness, metrics, the OpenAPI document, and problem+json for what no route answers.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::problem::Problem;
use crate::state::AppState;

/// Alive: the process answers.
pub async fn healthz() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

/// Ready: the store answers, and writes (after a failed write, it must take a probe write again).
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.store.ping().await {
        Ok(()) => axum::Json(json!({
            "status": "ready",
            "store": state.store.backend(),
            "tenants": state.index.load().len(),
        }))
        .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "store not ready");
            let what = if state.store.writable() {
                "does not answer"
            } else {
                "cannot write (its last write failed: a full disk, say), so this node acknowledges no change"
            };
            Problem::unavailable(format!("the {} store {what}", state.store.backend())).into_response()
        }
    }
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let loaded = state.tenants.load_full();
    state.metrics.tenants.set(gauge(loaded.len() as u64));
    state
        .metrics
        .tenants_known
        .set(gauge(state.index.load().len() as u64));
    state
        .metrics
        .snapshot_bytes
        .set(gauge(loaded.values().map(|s| s.approx_bytes()).sum()));
    // The meter's mode: 1 for the one in force (fail-open / fail-closed: Redis does not answer).
    let mode = state.meter.mode();
    for m in ["local", "redis", "fail-open", "fail-closed"] {
        let label = crate::metrics::ModeLabel { mode: m.to_owned() };
        state
            .metrics
            .meter_mode
            .get_or_create(&label)
            .set(i64::from(m == mode));
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

pub async fn openapi() -> Response {
    axum::Json(crate::openapi::document()).into_response()
}

pub async fn not_found(uri: Uri) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        format!("no route `{}`", uri.path()),
    )
}

pub async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "this route does not take that method",
    )
}

/// axum and tower answer some errors themselves in plain text (413, 400 for a bad path); clients get
/// problem+json from every route.
pub async fn problem_for_plain_errors(res: Response) -> Response {
    let status = res.status();
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/problem+json"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let detail = String::from_utf8_lossy(&text).trim().to_owned();
    let slug = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "too-large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
        _ => "bad-request",
    };
    let mut p = Problem::new(
        status,
        slug,
        if detail.is_empty() {
            status.to_string()
        } else {
            detail
        },
    );
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        p = p.at("");
    }
    let mut out = p.into_response();
    for (k, v) in parts.headers.iter() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}
