//! The HTTP API: every route in one table.

pub mod answers;
pub mod consumption;
pub mod events;
pub mod import;
pub mod items;
pub mod keys;
pub mod licenses;
pub mod listing;
pub mod ops;
pub mod overview;
pub mod requests;
pub mod rules;
pub mod tenants;
pub mod usage;
pub mod webhooks;

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
    // Every route is registered flat, with its whole path: nested routers rebuild the URI at each level, which
    // measured as a visible share of a decision's time under load.
    const T: &str = "/v1/tenants/{t}";
    let at = |p: &str| format!("{T}{p}");
    let api = Router::new()
        .route(T, get(tenants::get).delete(tenants::delete))
        .route(&at("/export"), get(tenants::export))
        .route(&at("/audit-log"), get(tenants::audit_log))
        .route(&at("/audit"), get(answers::audit_h))
        .route(&at("/plan"), get(answers::plan_h))
        .route(&at("/overview"), get(overview::overview))
        .route(&at("/flows:status"), get(overview::flows_status))
        .route(&at("/capacity"), get(answers::capacity_h))
        .route(&at("/cost"), get(answers::cost_h))
        .route(&at("/limits"), get(answers::limits_h))
        .route(&at("/purchases:preview"), post(answers::purchase_preview))
        .route(&at("/subscribedSkus"), get(licenses::subscribed_skus))
        .route(&at("/usage"), get(usage::report).post(usage::count))
        .route(&at("/usage:batch"), post(usage::count_batch))
        .route(&at("/portals/{p}/logins"), post(consumption::login))
        .route(&at("/portals/{p}/page-views"), post(consumption::page_views))
        .route(
            &at("/environments/{e}/ai-credits:consume"),
            post(consumption::consume_credits),
        )
        .route(&at("/consumption:batch"), post(consumption::batch))
        .route(&at("/events"), get(events::list))
        .route(&at("/clock:advance"), post(events::advance))
        .route(&at("/timeline"), get(events::upcoming))
        .route(&at("/webhooks"), get(webhooks::list).post(webhooks::create))
        .route(
            &at("/webhooks/{id}"),
            get(webhooks::get).patch(webhooks::patch).delete(webhooks::delete),
        )
        .route(&at("/webhooks/{id}/secret:rotate"), post(webhooks::rotate))
        .route(&at("/webhooks/{id}/deliveries"), get(webhooks::deliveries))
        .route(
            &at("/webhooks/{id}/deliveries/{d}"),
            get(webhooks::delivery).post(webhooks::replay),
        )
        .route(&at("/consumption"), get(consumption::report))
        .route(&at("/statement"), get(consumption::statement))
        .route(&at("/environments/{e}/storage"), put(consumption::put_storage))
        .route(&at("/usage/users"), get(usage::users_report))
        .route(
            &at("/keys"),
            get(keys::list_tenant_keys).post(keys::create_tenant_key),
        )
        .route(&at("/keys/{id}"), axum::routing::delete(keys::revoke_tenant_key))
        .route(&at("/license-requests/{id}/{decision}"), post(requests::decide))
        .route(&at("/flows/{f}/decision"), get(answers::flow_decision))
        .route(&at("/flows/{f}/license"), put(licenses::put_flow_license))
        .route(&at("/apps/{a}/decision"), get(answers::app_decision))
        .route(&at("/users/{u}/assignLicense"), post(licenses::assign_license))
        .route(&at("/users:assignLicense"), post(licenses::bulk_assign_license))
        .route(&at("/changes:batch"), post(items::batch))
        .route(
            &at("/environments/{e}/allocations"),
            get(licenses::get_allocations).patch(licenses::patch_allocations),
        )
        .route(&at("/{section}"), get(items::list_h).post(items::create_h))
        .route(
            &at("/{section}/{id}"),
            get(items::get_h)
                .put(items::put_h)
                .patch(items::patch_h)
                .delete(items::delete_h),
        )
        .route("/v1/tenants", get(tenants::list).post(tenants::create))
        .route("/v1/tenants:import", post(import::import))
        .route("/v1/keys", get(keys::list_operator).post(keys::create_operator))
        .route("/v1/keys/{id}", axum::routing::delete(keys::revoke_operator))
        .route("/v1/me", get(keys::me))
        .route("/v1/me/notices", get(events::mine))
        .route("/v1/rules", get(rules::list))
        .route("/v1/rules/{rule}", get(rules::get))
        .route("/v1/openapi.json", get(ops::openapi));
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/", get(crate::ui::index))
        .route("/ui/{*path}", get(crate::ui::asset))
        .merge(api)
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(middleware::from_fn_with_state(Arc::clone(&state), observe))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            Problem::internal("a handler panicked").into_response()
        }))
        .with_state(state)
}

/// Checks the ids in the path, counts and times every request by route pattern, and turns axum's own plain-text
/// rejections (a body over
/// the limit, say) into problem+json.
async fn observe(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    // Every label is bounded: the method by `method_label`, the route by the route table (any path no route
    // matches is `unmatched`), the status by HTTP's three digits.
    let method = crate::metrics::method_label(req.method());
    let matched = req.extensions().get::<MatchedPath>();
    // Ids in the path are checked at the door (`limits.rs`), before the key, the body or the tenant.
    let refused = matched.and_then(|p| crate::limits::path_ids(p.as_str(), req.uri().path()).err());
    let route = matched.map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let res = match refused {
        Some(problem) => problem.into_response(),
        None => next.run(req).await,
    };
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
