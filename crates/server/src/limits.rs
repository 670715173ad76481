//! Ids in URL paths, checked at the door: a path segment that breaks the id grammar
//! ([`entitle_core::scenario::ids`]) names nothing that could exist, so the request is refused with 400 naming
//! the parameter (`path:t`, `path:id`, …) before the key is checked, the body read or a tenant looked up.
//! Ids in bodies are checked by scenario validation (422 with the body's pointer).

use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{RawPathParams, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use entitle_core::scenario::ids;

use crate::problem::Problem;

/// The path parameters that are ids, with what they name; the others (`{section}`, `{decision}`) are route words
/// the handlers check.
const ID_PARAMS: [(&str, &str); 6] = [
    ("t", "tenant"),
    ("u", "user"),
    ("e", "environment"),
    ("f", "flow"),
    ("a", "app"),
    ("id", "item"),
];

/// The middleware (a route layer: the parameters are known once the route matched). A path that is not UTF-8
/// goes on to the handler's own `Path` rejection.
pub async fn path_ids(
    params: Result<RawPathParams, RawPathParamsRejection>,
    req: Request,
    next: Next,
) -> Response {
    if let Ok(params) = &params {
        for (name, value) in params {
            let Some((_, noun)) = ID_PARAMS.iter().find(|(n, _)| *n == name) else {
                continue;
            };
            if let Err(why) = ids::check(value) {
                return Problem::bad_request(
                    "invalid-id",
                    format!(
                        "the {noun} id in the path, `{}`, is not an id: {why} ({})",
                        ids::shown(value),
                        ids::GRAMMAR
                    ),
                )
                .at(format!("path:{name}"))
                .into_response();
            }
        }
    }
    next.run(req).await
}
