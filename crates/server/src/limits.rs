//! Ids in URL paths, checked at the door: a path segment that breaks the id grammar
//! ([`entitle_core::scenario::ids`]) names nothing that could exist, so the request is refused with 400 naming
//! the parameter (`path:t`, `path:id`, …) before the key is checked, the body read or a tenant looked up.
//! Ids in bodies are checked by scenario validation (422 with the body's pointer).
//!
//! The check reads the matched route pattern beside the raw path, segment by segment, so it allocates nothing
//! on the hot path (a decision asked before every flow run); only a segment with a `%` escape is decoded.

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

/// Checks every id parameter of `path` against the route `pattern` it matched (`/v1/tenants/{t}/flows/{f}`).
pub fn path_ids(pattern: &str, path: &str) -> Result<(), Problem> {
    for (want, got) in pattern.split('/').zip(path.split('/')) {
        let Some(name) = want.strip_prefix('{').and_then(|w| w.strip_suffix('}')) else {
            continue;
        };
        let Some((_, noun)) = ID_PARAMS.iter().find(|(n, _)| *n == name) else {
            continue;
        };
        let decoded;
        let value = if got.contains('%') {
            decoded = percent_decoded(got);
            decoded.as_str()
        } else {
            got
        };
        if let Err(why) = ids::check(value) {
            return Err(Problem::bad_request(
                "invalid-id",
                format!(
                    "the {noun} id in the path, `{}`, is not an id: {why} ({})",
                    ids::shown(value),
                    ids::GRAMMAR
                ),
            )
            .at(format!("path:{name}")));
        }
    }
    Ok(())
}

/// `%XX` escapes decoded (as the router decodes parameters); a malformed escape or bytes that are not UTF-8
/// stay as they are, and then fail the grammar.
fn percent_decoded(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = |j: usize| b.get(j).and_then(|&h| char::from(h).to_digit(16));
        match (c, hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'%'));
                i += 3;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_in_paths_are_checked_against_their_pattern() {
        let p = "/v1/tenants/{t}/flows/{f}/decision";
        assert!(path_ids(p, "/v1/tenants/acme/flows/invoice-sync/decision").is_ok());
        let e = path_ids(p, "/v1/tenants/acme/flows/a*b/decision").unwrap_err();
        assert_eq!(e.pointer.as_deref(), Some("path:f"));
        let long = format!("/v1/tenants/{}/flows/f/decision", "x".repeat(200));
        assert_eq!(path_ids(p, &long).unwrap_err().pointer.as_deref(), Some("path:t"));
        // Route words are not ids.
        assert!(path_ids("/v1/tenants/{t}/{section}", "/v1/tenants/acme/users").is_ok());
    }

    #[test]
    fn escapes_are_decoded_first() {
        assert_eq!(percent_decoded("a%40b%3Ac"), "a@b:c");
        assert_eq!(percent_decoded("100%"), "100%");
        assert!(path_ids("/v1/tenants/{t}", "/v1/tenants/mia%40contoso").is_ok());
        assert!(path_ids("/v1/tenants/{t}", "/v1/tenants/a%2Fb").is_err());
        assert!(path_ids("/v1/tenants/{t}", "/v1/tenants/%00").is_err());
    }
}
