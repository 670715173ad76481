//! Request plumbing shared by the routes: who is calling, reading bodies and queries with errors that point
//! at the bad field, and the write options every change takes.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use serde::de::DeserializeOwned;

use crate::auth::{Principal, bearer};
use crate::problem::{Problem, pointer_of};
use crate::state::AppState;
use crate::write::{WriteReq, fingerprint};

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Caller, Problem> {
        // Two credentials are ambiguous (a proxy may read the other one): refuse rather than pick one.
        let mut all = parts.headers.get_all(header::AUTHORIZATION).iter();
        let header = all.next().and_then(|v| v.to_str().ok());
        if all.next().is_some() {
            return Err(Problem::bad_request(
                "ambiguous-authorization",
                "send one Authorization header, not several",
            )
            .at("header:Authorization"));
        }
        let secret = bearer(header)?;
        state
            .authenticate(secret)
            .await
            .map(Caller)
            .ok_or_else(|| crate::auth::unauthorized("unknown or revoked API key"))
    }
}

/// A query string read into `T`, refused (with the parameter named) when it does not fit.
#[derive(Debug, Clone)]
pub struct Q<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Q<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Q<T>, Problem> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(Q(v)),
            Err(e) => {
                let detail = e.body_text();
                // "…: at: input contains invalid characters" (a bad value, after its path), or "unknown field
                // `x`" / "missing field `x`" (no path).
                let path = detail
                    .strip_prefix("Failed to deserialize query string: ")
                    .and_then(|rest| rest.split_once(": "))
                    .map(|(p, _)| p)
                    .filter(|p| {
                        !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
                    });
                let name = path
                    .or_else(|| detail.split('`').nth(1))
                    .map(|n| format!("query:{n}"))
                    .unwrap_or_else(|| "query".to_owned());
                Err(Problem::bad_request("invalid-query", detail).at(name))
            }
        }
    }
}

/// Reads a JSON body into `T`: syntax errors name line and column, type errors and unknown fields the JSON
/// pointer of the field.
pub fn json_body<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, Problem> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        // A header that is there but unreadable is not "no header".
        let ct = ct.to_str().unwrap_or("(not ASCII)");
        let ct = ct.split(';').next().unwrap_or("").trim();
        if !(ct == "application/json" || ct.ends_with("+json")) {
            return Err(Problem::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                format!("send JSON (`Content-Type: application/json`), not `{ct}`"),
            )
            .at("header:Content-Type"));
        }
    }
    parse_json(body)
}

pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    if let Some(pointer) = nul_in_body(body) {
        return Err(nul_problem(pointer));
    }
    // Most bodies are fine: read them plainly, and only a bad one again with path tracking for its pointer.
    if let Ok(v) = serde_json::from_slice::<T>(body) {
        return Ok(v);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(v) => {
            // Trailing garbage after the value.
            de.end()
                .map_err(|e| Problem::bad_request("malformed-json", format!("body: {e}")).at(""))?;
            Ok(v)
        }
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                Err(Problem::bad_request("malformed-json", format!("body is not JSON: {inner}")).at(""))
            } else {
                let pointer = if path == "." {
                    String::new()
                } else {
                    pointer_of(&path, None)
                };
                let text = inner.to_string();
                let msg = strip_position(&text);
                Err(Problem::unprocessable(format!(
                    "{}: {msg}",
                    if pointer.is_empty() { "/" } else { &pointer }
                ))
                .at(pointer))
            }
        }
    }
}

/// The pointer of the first string (or member name) of a JSON body that holds U+0000. No store keeps NUL
/// characters (PostgreSQL's text cannot), so they are refused at the door rather than failing the commit.
fn nul_in_body(body: &[u8]) -> Option<String> {
    // A raw control character is a syntax error anyway; only the `\u0000` escape carries one.
    if !body.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    nul_pointer(&value, "")
}

/// The pointer of the first string (or member name) in `v` that holds U+0000.
pub fn nul_pointer(v: &serde_json::Value, at: &str) -> Option<String> {
    use serde_json::Value;
    match v {
        Value::String(s) => s.contains('\0').then(|| at.to_owned()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, x)| nul_pointer(x, &format!("{at}/{i}"))),
        Value::Object(members) => members.iter().find_map(|(k, x)| {
            let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
            if k.contains('\0') {
                Some(here)
            } else {
                nul_pointer(x, &here)
            }
        }),
        _ => None,
    }
}

pub fn nul_problem(pointer: String) -> Problem {
    Problem::unprocessable(format!(
        "{}: text may not contain NUL characters (\\u0000)",
        if pointer.is_empty() { "/" } else { &pointer }
    ))
    .at(pointer)
}

/// serde_json appends " at line 1 column 42"; the pointer says where already.
fn strip_position(msg: &str) -> &str {
    msg.rfind(" at line ")
        .map_or(msg, |i| msg.get(..i).unwrap_or(msg))
}

/// `?dry_run=true`.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DryRun {
    #[serde(default)]
    pub dry_run: bool,
}

/// Everything a change needs from its request: who asks, `?dry_run`, the headers (`If-Match`,
/// `Idempotency-Key`), the body, and the write options built from them. The body is read last, under the
/// router's body limit.
#[derive(Debug)]
pub struct Writing {
    pub caller: Caller,
    pub headers: HeaderMap,
    pub body: axum::body::Bytes,
    pub req: WriteReq,
}

impl axum::extract::FromRequest<Arc<AppState>> for Writing {
    type Rejection = Problem;

    async fn from_request(req: axum::extract::Request, state: &Arc<AppState>) -> Result<Writing, Problem> {
        let (mut parts, body) = req.into_parts();
        let caller = Caller::from_request_parts(&mut parts, state).await?;
        let Q(dry) = Q::<DryRun>::from_request_parts(&mut parts, state).await?;
        let (method, uri, headers) = (parts.method.clone(), parts.uri.to_string(), parts.headers.clone());
        let body = axum::body::Bytes::from_request(axum::extract::Request::from_parts(parts, body), state)
            .await
            .map_err(|e| Problem::new(e.status(), "invalid-body", e.body_text()).at(""))?;
        let req = write_req(&caller, &method, &uri, &headers, &body, dry.dry_run)?;
        Ok(Writing {
            caller,
            headers,
            body,
            req,
        })
    }
}

/// The options of a write, from its headers and query.
pub fn write_req(
    caller: &Caller,
    method: &Method,
    uri: &str,
    headers: &HeaderMap,
    body: &[u8],
    dry_run: bool,
) -> Result<WriteReq, Problem> {
    let idempotency_key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let k = v.to_str().map_err(|_| bad_key())?.trim().to_owned();
            if k.is_empty() || k.len() > 255 {
                return Err(bad_key());
            }
            Some(k)
        }
    };
    Ok(WriteReq {
        principal: caller.0.clone(),
        idempotency_key,
        fingerprint: fingerprint(method.as_str(), uri, body),
        dry_run,
    })
}

fn bad_key() -> Problem {
    Problem::bad_request(
        "invalid-idempotency-key",
        "Idempotency-Key must be 1 to 255 visible ASCII characters",
    )
    .at("header:Idempotency-Key")
}

/// `If-Match`: `None` when absent; `*` matches anything that exists.
pub fn if_match(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    match headers.get(header::IF_MATCH) {
        None => Ok(None),
        Some(v) => v.to_str().map(|s| Some(s.trim().to_owned())).map_err(|_| {
            Problem::bad_request("invalid-if-match", "If-Match is not ASCII").at("header:If-Match")
        }),
    }
}

/// Refuses a lost update: the client's `If-Match` must name the current entity tag.
pub fn precondition(given: Option<&str>, current: &str, required: bool) -> Result<(), Problem> {
    match given {
        None if required => Err(Problem::new(
            axum::http::StatusCode::PRECONDITION_REQUIRED,
            "precondition-required",
            format!(
                "send `If-Match: {current}` (the ETag you read) so a concurrent change is not overwritten"
            ),
        )
        .at("header:If-Match")),
        None => Ok(()),
        Some(g) if g == "*" || g.split(',').any(|t| t.trim().trim_start_matches("W/") == current) => Ok(()),
        Some(g) => Err(Problem::new(
            axum::http::StatusCode::PRECONDITION_FAILED,
            "precondition-failed",
            format!("If-Match {g} does not match the current ETag {current}: it changed since you read it"),
        )
        .at("header:If-Match")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "read only to test the errors")]
    struct T {
        a: u32,
        b: Vec<u32>,
    }

    #[test]
    fn body_errors_point_at_the_field() {
        let e = parse_json::<T>(br#"{"a": 1, "b": [1, "x"]}"#).unwrap_err();
        assert_eq!(e.pointer.as_deref(), Some("/b/1"));
        assert_eq!(e.status, 422);
        let e = parse_json::<T>(br#"{"a": 1, "b": [], "c": 2}"#).unwrap_err();
        assert!(e.detail.contains("unknown field `c`"), "{}", e.detail);
        let e = parse_json::<T>(b"{").unwrap_err();
        assert_eq!(e.status, 400);
        let e = parse_json::<T>(br#"{"a":1,"b":[]} x"#).unwrap_err();
        assert_eq!(e.status, 400);
    }

    #[test]
    fn preconditions_refuse_lost_updates() {
        assert!(precondition(Some("\"e1\""), "\"e1\"", true).is_ok());
        assert!(precondition(Some("W/\"e1\""), "\"e1\"", true).is_ok());
        assert!(precondition(Some("*"), "\"e1\"", true).is_ok());
        assert_eq!(
            precondition(Some("\"e0\""), "\"e1\"", true).unwrap_err().status,
            412
        );
        assert_eq!(precondition(None, "\"e1\"", true).unwrap_err().status, 428);
        assert!(precondition(None, "\"e1\"", false).is_ok());
    }
}
