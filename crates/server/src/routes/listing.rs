//! Server-side paging, sorting and filtering of a list, for the web UI's tables (a tenant of 100,000 flows is not
//! sent whole to draw 50 rows). A list is JSON objects; `sort` names one of the fields a route allows, `q` keeps
//! the rows with the text in any string field (case-insensitive), `status` keeps the rows whose status field has
//! that value. The answer's `X-Total-Count` header counts the rows that match, before `offset` and `limit`.

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use crate::problem::Problem;

/// The most rows one page holds.
pub const MAX_LIMIT: usize = 1000;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Text that a row's string fields must contain (case-insensitive).
    #[serde(default)]
    pub q: Option<String>,
    /// The field to sort by.
    #[serde(default)]
    pub sort: Option<String>,
    /// `asc` (default) or `desc`.
    #[serde(default)]
    pub order: Option<String>,
    /// The status the rows must have.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub offset: Option<usize>,
}

/// What a list allows: the fields it sorts by, and its status field with the values it takes (None: no `status`).
#[derive(Debug)]
pub struct Shape {
    pub sorts: &'static [&'static str],
    pub status: Option<(&'static str, &'static [&'static str])>,
}

fn text_has(v: &Value, needle: &str) -> bool {
    match v {
        Value::String(s) => s.to_lowercase().contains(needle),
        Value::Array(a) => a.iter().any(|x| text_has(x, needle)),
        _ => false,
    }
}

fn cmp_values(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&y.as_f64().unwrap_or(0.0))
            .unwrap_or(Ordering::Equal),
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        // A missing value sorts after any present one.
        (None | Some(Value::Null), None | Some(Value::Null)) => Ordering::Equal,
        (None | Some(Value::Null), _) => Ordering::Greater,
        (_, None | Some(Value::Null)) => Ordering::Less,
        (x, y) => x.map(Value::to_string).cmp(&y.map(Value::to_string)),
    }
}

/// Checks the query against the list's shape: 422 naming the parameter, or whether the order is descending.
pub fn check(shape: &Shape, q: &ListQuery) -> Result<bool, Problem> {
    let desc = match q.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(
                Problem::unprocessable(format!("`order` is `asc` or `desc`, not `{other}`"))
                    .at("query:order"),
            );
        }
    };
    if let Some(field) = q.sort.as_deref()
        && !shape.sorts.contains(&field)
    {
        return Err(Problem::unprocessable(format!(
            "sort by one of {}, not `{field}`",
            shape.sorts.join(", ")
        ))
        .at("query:sort"));
    }
    if let Some(limit) = q.limit
        && (limit == 0 || limit > MAX_LIMIT)
    {
        return Err(Problem::unprocessable(format!("`limit` is 1 to {MAX_LIMIT}")).at("query:limit"));
    }
    if let Some(status) = q.status.as_deref() {
        let Some((_, values)) = shape.status else {
            return Err(Problem::unprocessable("this list has no status to filter by").at("query:status"));
        };
        if !values.contains(&status) {
            return Err(Problem::unprocessable(format!(
                "`status` is one of {}, not `{status}`",
                values.join(", ")
            ))
            .at("query:status"));
        }
    }
    Ok(desc)
}

/// `needle` (lower case) in `hay`, ignoring ASCII case, without allocating.
pub fn contains_ci(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.is_empty() {
        return true;
    }
    if needle.is_ascii() {
        return h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    hay.to_lowercase().contains(needle)
}

/// The rows of a page: `offset` and `limit` over `total` rows.
pub fn bounds(q: &ListQuery, total: usize) -> std::ops::Range<usize> {
    let offset = q.offset.unwrap_or(0).min(total);
    offset..q.limit.map_or(total, |l| offset.saturating_add(l).min(total))
}

/// Checks the query against the list's shape (422 naming the parameter) and answers the page and the count of
/// matching rows. `rows` are kept in their order unless `sort` is given.
pub fn page(shape: &Shape, mut rows: Vec<Value>, q: &ListQuery) -> Result<(Vec<Value>, usize), Problem> {
    let desc = check(shape, q)?;
    if let (Some(status), Some((field, _))) = (q.status.as_deref(), shape.status) {
        rows.retain(|r| r.get(field).and_then(Value::as_str) == Some(status));
    }
    if let Some(needle) = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let needle = needle.to_lowercase();
        rows.retain(|r| {
            r.as_object()
                .is_some_and(|o| o.values().any(|v| text_has(v, &needle)))
        });
    }
    if let Some(field) = q.sort.as_deref() {
        // Stable: rows that tie keep their order (the tenant's), so pages do not shuffle.
        rows.sort_by(|a, b| {
            let o = cmp_values(a.get(field), b.get(field));
            if desc { o.reverse() } else { o }
        });
    } else if desc {
        rows.reverse();
    }
    let total = rows.len();
    Ok((rows.drain(bounds(q, total)).collect(), total))
}

/// A JSON answer with `X-Total-Count`.
pub fn with_total(body: Value, total: usize) -> Response {
    let mut res = axum::Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
        res.headers_mut().insert("x-total-count", v);
    }
    res
}

/// The shape of each collection's list (`GET …/{section}`).
pub fn section_shape(section: &str) -> Shape {
    let sorts: &'static [&'static str] = match section {
        "users" => &["id", "kind", "account"],
        "environments" => &["id", "kind", "dataverse", "default"],
        "apps" => &["id", "kind", "environment"],
        "flows" => &["id", "environment", "owner", "trigger", "license", "enabled"],
        "subscriptions" => &["id", "sku", "quantity", "channel", "start", "end"],
        "license-requests" => &["id", "user", "sku", "on", "state"],
        _ => &["id"],
    };
    let status: Option<(&'static str, &'static [&'static str])> = match section {
        "license-requests" => Some(("state", &["pending", "approved", "denied"])),
        _ => None,
    };
    Shape { sorts, status }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rows() -> Vec<Value> {
        vec![
            json!({"id": "b", "n": 2, "state": "pending", "tags": ["Dana"]}),
            json!({"id": "a", "n": 10, "state": "denied"}),
            json!({"id": "c", "state": "pending"}),
        ]
    }
    const SHAPE: Shape = Shape {
        sorts: &["id", "n"],
        status: Some(("state", &["pending", "denied"])),
    };

    #[test]
    fn sorts_filters_and_pages() {
        let q = ListQuery {
            sort: Some("n".into()),
            order: Some("desc".into()),
            ..Default::default()
        };
        let (page, total) = page(&SHAPE, rows(), &q).unwrap();
        let ids: Vec<_> = page.iter().map(|r| r["id"].as_str().unwrap()).collect();
        // Numbers compare as numbers (10 > 2); a missing value is last ascending, so first descending.
        assert_eq!(ids, ["c", "a", "b"]);
        assert_eq!(total, 3);
        let q = ListQuery {
            status: Some("pending".into()),
            q: Some("dan".into()),
            ..Default::default()
        };
        let (page, total) = super::page(&SHAPE, rows(), &q).unwrap();
        assert_eq!((page.len(), total, page[0]["id"].as_str()), (1, 1, Some("b")));
        let q = ListQuery {
            sort: Some("id".into()),
            offset: Some(1),
            limit: Some(1),
            ..Default::default()
        };
        let (page, total) = super::page(&SHAPE, rows(), &q).unwrap();
        assert_eq!((page[0]["id"].as_str(), total), (Some("b"), 3));
    }

    #[test]
    fn bad_parameters_are_422_and_named() {
        for (q, name) in [
            (
                ListQuery {
                    sort: Some("x".into()),
                    ..Default::default()
                },
                "query:sort",
            ),
            (
                ListQuery {
                    order: Some("up".into()),
                    ..Default::default()
                },
                "query:order",
            ),
            (
                ListQuery {
                    limit: Some(0),
                    ..Default::default()
                },
                "query:limit",
            ),
            (
                ListQuery {
                    status: Some("gone".into()),
                    ..Default::default()
                },
                "query:status",
            ),
        ] {
            let e = page(&SHAPE, rows(), &q).unwrap_err();
            assert_eq!(e.status, 422);
            assert_eq!(e.pointer.as_deref(), Some(name));
        }
    }
}
