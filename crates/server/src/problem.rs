//! Errors as RFC 9457 problem details (`application/problem+json`), each naming what and where: the JSON
//! pointer of the bad field (`/flows/0/owner`), the query parameter or the header.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use entitle_core::InputError;
use serde::Serialize;

/// A problem answer (boxed: it travels in every `Result` of the request path, which should stay small).
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Problem(Box<ProblemBody>);

impl std::ops::Deref for Problem {
    type Target = ProblemBody;
    fn deref(&self) -> &ProblemBody {
        &self.0
    }
}

impl std::ops::DerefMut for Problem {
    fn deref_mut(&mut self) -> &mut ProblemBody {
        &mut self.0
    }
}

/// The members of a problem. `type` is a stable URI per kind of problem, so clients can branch on it.
#[derive(Debug, Clone, Serialize)]
pub struct ProblemBody {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// JSON pointer (RFC 6901) into the request body, or `query:NAME` / `header:NAME` / `path:NAME` for other
    /// inputs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// Every problem found, when there are several (a whole scenario is checked at once).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Seconds until the request would be accepted (429), mirrored in `Retry-After`.
    #[serde(skip)]
    pub retry_after: Option<u64>,
    /// Extension members (the meter's `limit`, `remaining`, `reset_at`), flattened into the object.
    #[serde(flatten, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// One field's problem.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    pub pointer: String,
    pub detail: String,
}

impl Problem {
    pub fn new(status: StatusCode, slug: &str, detail: impl Into<String>) -> Problem {
        Problem(Box::new(ProblemBody {
            kind: format!("https://entitle.dev/problems/{slug}"),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: detail.into(),
            pointer: None,
            errors: Vec::new(),
            retry_after: None,
            extra: serde_json::Map::new(),
        }))
    }

    pub fn at(mut self, pointer: impl Into<String>) -> Problem {
        self.pointer = Some(pointer.into());
        self
    }

    /// The same problem about a part of a bigger request: body pointers (and a problem without one) are put
    /// under `prefix`; `query:`/`header:`/`path:` pointers stay.
    pub fn under(mut self, prefix: &str) -> Problem {
        let put = |p: &str| format!("{prefix}{p}");
        self.pointer = Some(match self.pointer.take() {
            Some(p) if p.is_empty() || p.starts_with('/') => put(&p),
            Some(other) => other,
            None => prefix.to_owned(),
        });
        for e in &mut self.errors {
            if e.pointer.is_empty() || e.pointer.starts_with('/') {
                e.pointer = put(&e.pointer);
            }
        }
        self
    }

    pub fn bad_request(slug: &str, detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, slug, detail)
    }

    pub fn unprocessable(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", detail)
    }

    /// 404 for anything the caller may not know exists: another tenant's data looks exactly like no data.
    pub fn not_found(what: &str, id: &str) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not-found", format!("no {what} `{id}`"))
    }

    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::CONFLICT, "conflict", detail)
    }

    /// A change the engine refused: 409 when it conflicts with the tenant as it is, else 422; with its pointer.
    pub fn refused(r: entitle_core::changes::Refusal) -> Problem {
        let p = if r.conflict {
            Problem::conflict(r.message)
        } else {
            Problem::unprocessable(r.message)
        };
        match r.pointer {
            Some(pointer) => p.at(pointer),
            None => p,
        }
    }

    pub fn internal(detail: impl std::fmt::Display) -> Problem {
        // The detail goes to the log; the client gets no internals.
        tracing::error!(error = %detail, "internal error");
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }

    pub fn unavailable(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
    }

    /// Scenario problems (from the engine's checks), every one with its pointer: `at` turns the engine's key
    /// (`flows[3].owner`) into one (the body of `POST …/flows` is one flow, `/owner`).
    pub fn from_input(errors: &[InputError], at: &dyn Fn(&str) -> String) -> Problem {
        let errors: Vec<FieldError> = errors
            .iter()
            .map(|e| FieldError {
                pointer: at(e.key()),
                detail: match e.help() {
                    Some(h) => format!("{} ({h})", e.message()),
                    None => e.message().to_owned(),
                },
            })
            .collect();
        let first = errors.first().cloned();
        let mut p = Problem::unprocessable(match &first {
            Some(f) if errors.len() > 1 => {
                format!("{}: {} (and {} more)", f.pointer, f.detail, errors.len() - 1)
            }
            Some(f) => format!("{}: {}", f.pointer, f.detail),
            None => "invalid scenario".to_owned(),
        });
        p.pointer = first.map(|f| f.pointer);
        if errors.len() > 1 {
            p.errors = errors;
        }
        p
    }
}

/// `flows[0].owner` → `/flows/0/owner`; with `strip = Some("flows[0]")`, → `/owner`. Keys with `/` or `~` are
/// escaped per RFC 6901.
pub fn pointer_of(key: &str, strip: Option<&str>) -> String {
    let key = match strip {
        Some(prefix) => match key.strip_prefix(prefix) {
            Some(rest) => rest.strip_prefix('.').unwrap_or(rest),
            None => key,
        },
        None => key,
    };
    let mut out = String::new();
    for part in key.split('.').filter(|p| !p.is_empty()) {
        let mut rest = part;
        // `name[1][2]`
        let name_end = rest.find('[').unwrap_or(rest.len());
        let (name, tail) = rest.split_at(name_end);
        if !name.is_empty() {
            out.push('/');
            out.push_str(&name.replace('~', "~0").replace('/', "~1"));
        }
        rest = tail;
        while let Some(inner) = rest.strip_prefix('[') {
            let Some(end) = inner.find(']') else { break };
            let (index, after) = inner.split_at(end);
            out.push('/');
            out.push_str(index.trim_matches('"'));
            rest = after.get(1..).unwrap_or("");
        }
    }
    out
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.title, self.detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut res = (status, body).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body is not read: say the connection ends here, so a keep-alive client does not
            // send its next request into a closed socket.
            res.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_json_pointers() {
        assert_eq!(pointer_of("flows[0].owner", None), "/flows/0/owner");
        assert_eq!(
            pointer_of("flows[3].connectors[1]", Some("flows[3]")),
            "/connectors/1"
        );
        assert_eq!(pointer_of("tenant.id", None), "/tenant/id");
        assert_eq!(
            pointer_of("environments[0].allocations.a/b", None),
            "/environments/0/allocations/a~1b"
        );
        assert_eq!(pointer_of("", None), "");
    }
}
