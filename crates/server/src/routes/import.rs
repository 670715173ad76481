//! `POST /v1/tenants:import`: a tenant from admin exports (the CLI's `entitle import`), one multipart part per
//! export. With `?dry_run=true` it answers the import's summary (what was read, guessed and not known, by name
//! and count) and creates nothing, so that an admin sees it before creating. Operators only, as `POST /v1/tenants`;
//! the body is bounded by the server's body limit like every other.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use entitle_core::import::{self, ExportKind};
use serde::Deserialize;
use serde_json::json;

use crate::auth::Role;
use crate::http::{Caller, Q, write_req};
use crate::problem::Problem;
use crate::state::AppState;
use crate::write::create_tenant;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// The catalog edition (`seed`, `current`); the server's default when absent.
    pub catalog: Option<String>,
    /// The tenant's id (default: the tenant GUID the exports carry).
    pub tenant: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
}

/// One part of a `multipart/form-data` body.
#[derive(Debug)]
pub struct Part<'a> {
    pub name: String,
    pub filename: Option<String>,
    pub data: &'a [u8],
}

/// The part names and the export each stands for (`file` or any other name: told from the content).
pub const PART_NAMES: [(&str, ExportKind); 9] = [
    ("flows", ExportKind::Flows),
    ("apps", ExportKind::Apps),
    ("environments", ExportKind::Environments),
    ("users", ExportKind::Users),
    ("skus", ExportKind::Skus),
    ("allocations", ExportKind::Allocations),
    ("at-risk", ExportKind::AtRisk),
    ("capacity", ExportKind::Capacity),
    ("connectors", ExportKind::Connectors),
];

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// Splits a `multipart/form-data` body (RFC 7578) into its parts. Anything that is not well formed is an error,
/// never a guess.
pub fn parts<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, String> {
    let delim = format!("--{boundary}");
    let d = delim.as_bytes();
    let mut at = find(body, d, 0).ok_or("no multipart boundary in the body")? + d.len();
    let mut out = Vec::new();
    loop {
        if body.get(at..at + 2) == Some(b"--") {
            return Ok(out);
        }
        if body.get(at..at + 2) != Some(b"\r\n") {
            return Err("a multipart boundary is not followed by CRLF".to_owned());
        }
        let head_start = at + 2;
        let head_end = find(body, b"\r\n\r\n", head_start).ok_or("a part has no end of headers")?;
        let head = std::str::from_utf8(body.get(head_start..head_end).unwrap_or_default())
            .map_err(|_| "a part's headers are not UTF-8")?;
        let data_start = head_end + 4;
        let next = find(body, format!("\r\n{delim}").as_bytes(), data_start).ok_or("a part is not closed")?;
        let mut name = None;
        let mut filename = None;
        for line in head.split("\r\n") {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            if !k.trim().eq_ignore_ascii_case("content-disposition") {
                continue;
            }
            for param in v.split(';').skip(1) {
                let Some((pk, pv)) = param.split_once('=') else {
                    continue;
                };
                let pv = pv.trim().trim_matches('"').to_owned();
                match pk.trim() {
                    "name" => name = Some(pv),
                    "filename" => filename = Some(pv),
                    _ => {}
                }
            }
        }
        let name = name.ok_or("a part has no Content-Disposition name")?;
        out.push(Part {
            name,
            filename,
            data: body.get(data_start..next).unwrap_or_default(),
        });
        at = next + 2 + d.len();
    }
}

/// `POST /v1/tenants:import`.
pub async fn import(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Q(q): Q<ImportQuery>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    if caller.0.role != Role::Operator {
        return Err(Problem::forbidden("only an operator key creates tenants"));
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = ct
        .split(';')
        .next()
        .filter(|m| m.trim().eq_ignore_ascii_case("multipart/form-data"))
        .and_then(|_| {
            ct.split(';').find_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("boundary")
                    .then(|| v.trim().trim_matches('"').to_owned())
            })
        })
        .filter(|b| !b.is_empty() && b.len() <= 70)
        .ok_or_else(|| {
            Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "send the exports as multipart/form-data with a boundary, one part per export",
            )
            .at("header:Content-Type")
        })?;
    let parts = parts(&body, &boundary).map_err(|e| Problem::bad_request("malformed", e).at(""))?;
    if parts.is_empty() {
        return Err(
            Problem::bad_request("malformed", "no export in the body: send one part per export").at(""),
        );
    }
    let catalog_name = q.catalog.clone().unwrap_or_else(|| state.default_catalog.clone());
    let catalog = state.catalog(&catalog_name)?;
    let day = state.today();
    let tenant = q.tenant.clone();
    // Reading and joining big exports is heavy work: off the async threads.
    let built = state
        .heavy(|| {
            let mut exports = Vec::with_capacity(parts.len());
            for (i, p) in parts.iter().enumerate() {
                let hint = PART_NAMES.iter().find(|(n, _)| *n == p.name).map(|(_, k)| *k);
                let file = p.filename.clone().unwrap_or_else(|| p.name.clone());
                let e = import::read_export(&file, p.data, hint, i).map_err(|e| {
                    Problem::bad_request("malformed-export", e.to_string())
                        .at(format!("multipart:{}", p.name))
                })?;
                exports.push(e);
            }
            let mut imported = import::assemble(&exports, &catalog, day, tenant.as_deref());
            imported.scenario.validate(&catalog, "import").map_err(|errors| {
                let detail = errors.first().map(ToString::to_string).unwrap_or_default();
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-import", detail).at("query:tenant")
            })?;
            if !imported.at_risk.is_empty() {
                let snap = entitle_core::Snapshot::new(Arc::clone(&catalog), imported.scenario.clone(), day)
                    .map_err(Problem::internal)?;
                let audit = entitle_core::audit::audit(&snap);
                imported.summary.at_risk_disagreements = import::compare_at_risk(&imported.at_risk, &audit);
            }
            Ok::<_, Problem>(imported)
        })
        .await??;
    if q.dry_run {
        let s = &built.scenario;
        return Ok(axum::Json(json!({
            "dry_run": true,
            "tenant": {"id": s.tenant.id, "at": s.tenant.at, "counts": {
                "users": s.users.len(), "environments": s.environments.len(), "apps": s.apps.len(),
                "flows": s.flows.len(), "subscriptions": s.subscriptions.len(),
            }},
            "guessed": built.guesses.len(),
            "summary": built.summary,
        }))
        .into_response());
    }
    let mut scenario = built.scenario;
    crate::routes::items::name_subscriptions(&mut scenario);
    let req = write_req(&caller, &method, &uri.to_string(), &headers, &body, false)?;
    create_tenant(&state, &req, &catalog_name, scenario).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_parts_are_split_and_bad_bodies_refused() {
        let body = b"--b1\r\nContent-Disposition: form-data; name=\"users\"; filename=\"u.json\"\r\nContent-Type: application/json\r\n\r\n[]\r\n--b1\r\nContent-Disposition: form-data; name=\"flows\"\r\n\r\nFlowName,x\r\n--b1--\r\n";
        let p = parts(body, "b1").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].name, "users");
        assert_eq!(p[0].filename.as_deref(), Some("u.json"));
        assert_eq!(p[0].data, b"[]");
        assert_eq!(p[1].data, b"FlowName,x");
        assert!(parts(b"--b1\r\nno headers end", "b1").is_err());
        assert!(parts(b"nothing", "b1").is_err());
        assert!(parts(b"--b1\r\nContent-Type: x\r\n\r\ndata\r\n--b1--", "b1").is_err());
    }
}
