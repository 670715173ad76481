//! The HTTP API: every route in one table.

pub mod answers;
pub mod items;
pub mod keys;
pub mod licenses;
pub mod ops;
pub mod requests;
pub mod tenants;
pub mod usage;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};

use crate::metrics::{HttpLabels, RouteLabel};
use crate::problem::Problem;
use crate::state::AppState;

/// The whole API. `max_body` bounds request bodies (413 beyond).
pub fn router(state: Arc<AppState>, max_body: usize) -> Router {
    let tenant = Router::new()
        .route("/", get(tenants::get).delete(tenants::delete))
        .route("/export", get(tenants::export))
        .route("/audit-log", get(tenants::audit_log))
        .route("/audit", get(answers::audit_h))
        .route("/capacity", get(answers::capacity_h))
        .route("/cost", get(answers::cost_h))
        .route("/limits", get(answers::limits_h))
        .route("/purchases:preview", post(answers::purchase_preview))
        .route("/subscribedSkus", get(licenses::subscribed_skus))
        .route("/usage", get(usage::report).post(usage::count))
        .route("/usage:batch", post(usage::count_batch))
        .route("/keys", get(keys::list_tenant_keys).post(keys::create_tenant_key))
        .route("/keys/{id}", axum::routing::delete(keys::revoke_tenant_key))
        .route("/license-requests/{id}/{decision}", post(requests::decide))
        .route("/flows/{f}/decision", get(answers::flow_decision))
        .route("/flows/{f}/license", put(licenses::put_flow_license))
        .route("/apps/{a}/decision", get(answers::app_decision))
        .route("/users/{u}/assignLicense", post(licenses::assign_license))
        .route(
            "/environments/{e}/allocations",
            get(licenses::get_allocations).patch(licenses::patch_allocations),
        )
        .route("/{section}", get(items::list_h).post(items::create_h))
        .route(
            "/{section}/{id}",
            get(items::get_h)
                .put(items::put_h)
                .patch(items::patch_h)
                .delete(items::delete_h),
        );
    let api = Router::new()
        .route("/tenants", get(tenants::list).post(tenants::create))
        .route("/keys", get(keys::list_operator).post(keys::create_operator))
        .route("/keys/{id}", axum::routing::delete(keys::revoke_operator))
        .route("/openapi.json", get(ops::openapi))
        .nest("/tenants/{t}", tenant);
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .nest("/v1", api)
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(middleware::from_fn_with_state(Arc::clone(&state), observe))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            Problem::internal("a handler panicked").into_response()
        }))
        .with_state(state)
}

/// Counts and times every request by route pattern, and turns axum's own plain-text rejections (a body over
/// the limit, say) into problem+json.
async fn observe(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let res = next.run(req).await;
    let res = ops::problem_for_plain_errors(res).await;
    let status = res.status().as_u16();
    state
        .metrics
        .requests
        .get_or_create(&HttpLabels {
            method,
            route: route.clone(),
            status,
        })
        .inc();
    state
        .metrics
        .latency
        .get_or_create(&RouteLabel { route })
        .observe(start.elapsed().as_secs_f64());
    res
}
