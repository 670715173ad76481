//! The admin web UI at `/`: static files compiled into the binary (no build step, nothing fetched at run
//! time), served with a Content-Security-Policy that allows only this origin's own scripts and styles. The
//! pages hold no data: they call the API with the key the user signs in with.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::problem::Problem;

/// Scripts and styles from this origin only; no inline script, no eval, no framing, no other origin.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
    img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

struct Asset {
    path: &'static str,
    kind: &'static str,
    body: &'static str,
    etag: HeaderValue,
}

macro_rules! assets {
    ($($path:literal => $kind:literal),* $(,)?) => {
        [$(($path, $kind, include_str!(concat!("../ui/", $path)))),*]
    };
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    assets!(
        "index.html" => "text/html; charset=utf-8",
        "app.css" => "text/css; charset=utf-8",
        "app.js" => "text/javascript; charset=utf-8",
        "api.js" => "text/javascript; charset=utf-8",
        "dom.js" => "text/javascript; charset=utf-8",
        "chart.js" => "text/javascript; charset=utf-8",
        "views/overview.js" => "text/javascript; charset=utf-8",
        // uPlot 1.6.32 (MIT), vendored by scripts/vendor-ui.sh: served from here, never from a CDN.
        "vendor/uPlot.iife.min.js" => "text/javascript; charset=utf-8",
        "vendor/uPlot.min.css" => "text/css; charset=utf-8",
        "vendor/uPlot.LICENSE" => "text/plain; charset=utf-8",
        "views/tenants.js" => "text/javascript; charset=utf-8",
        "views/audit.js" => "text/javascript; charset=utf-8",
        "views/fix.js" => "text/javascript; charset=utf-8",
        "views/plan.js" => "text/javascript; charset=utf-8",
        "views/decision.js" => "text/javascript; charset=utf-8",
        "views/flows.js" => "text/javascript; charset=utf-8",
        "views/apps.js" => "text/javascript; charset=utf-8",
        "views/environments.js" => "text/javascript; charset=utf-8",
        "views/users.js" => "text/javascript; charset=utf-8",
        "views/licences.js" => "text/javascript; charset=utf-8",
        "views/requests.js" => "text/javascript; charset=utf-8",
        "views/usage.js" => "text/javascript; charset=utf-8",
        "views/capacity.js" => "text/javascript; charset=utf-8",
        "views/consumption.js" => "text/javascript; charset=utf-8",
        "views/changes.js" => "text/javascript; charset=utf-8",
        "views/timeline.js" => "text/javascript; charset=utf-8",
        "views/keys.js" => "text/javascript; charset=utf-8",
        "views/webhooks.js" => "text/javascript; charset=utf-8",
        "views/maker.js" => "text/javascript; charset=utf-8",
    )
    .into_iter()
    .map(|(path, kind, body)| {
        let digest = Sha256::digest(body.as_bytes());
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        Asset {
            path,
            kind,
            body,
            etag: HeaderValue::from_str(&format!("\"{hex}\"")).unwrap_or(HeaderValue::from_static("\"0\"")),
        }
    })
    .collect()
});

fn serve(path: &str, headers: &HeaderMap) -> Result<Response, Problem> {
    let asset = ASSETS
        .iter()
        .find(|a| a.path == path)
        .ok_or_else(|| Problem::not_found("file", &format!("/ui/{path}")))?;
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == asset.etag.as_bytes());
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.body.into_response()
    };
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.kind));
    h.insert(header::ETAG, asset.etag.clone());
    // Revalidate every time (a new binary serves new files), cheaply: an unchanged file answers 304.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    Ok(res)
}

/// `GET /`: the page.
pub async fn index(headers: HeaderMap) -> Result<Response, Problem> {
    serve("index.html", &headers)
}

/// `GET /ui/{*path}`: its scripts and styles.
pub async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Result<Response, Problem> {
    serve(&path, &headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every module a page imports is served: a missing entry would break the page only in a browser.
    #[test]
    fn every_imported_module_is_served() {
        for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let dir = asset.path.rsplit_once('/').map_or("", |(d, _)| d);
            for line in asset.body.lines().filter(|l| l.starts_with("import ")) {
                let spec = line.split('\'').nth(1).unwrap();
                let mut parts: Vec<&str> = if dir.is_empty() {
                    vec![]
                } else {
                    dir.split('/').collect()
                };
                for p in spec.split('/') {
                    match p {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        p => parts.push(p),
                    }
                }
                let target = parts.join("/");
                assert!(
                    ASSETS.iter().any(|a| a.path == target),
                    "{} imports {spec} ({target}), which is not served",
                    asset.path
                );
            }
        }
        let index = ASSETS.iter().find(|a| a.path == "index.html").unwrap().body;
        assert!(index.contains("src=\"/ui/app.js\"") && index.contains("href=\"/ui/app.css\""));
        // Every file the page names is served, and nothing comes from another origin.
        for part in index.split(['"']).filter(|p| p.starts_with("/ui/")) {
            let path = part.trim_start_matches("/ui/");
            assert!(
                ASSETS.iter().any(|a| a.path == path),
                "index.html names {part}, which is not served"
            );
        }
        assert!(!index.contains("http://") && !index.contains("https://"));
    }

    #[test]
    fn the_policy_forbids_inline_script() {
        let script = CSP
            .split(';')
            .find(|d| d.trim().starts_with("script-src"))
            .unwrap();
        assert!(!script.contains("unsafe"), "{script}");
        assert!(CSP.contains("frame-ancestors 'none'"));
    }

    #[test]
    fn unknown_files_are_404_and_etags_revalidate() {
        let none = HeaderMap::new();
        assert!(serve("../Cargo.toml", &none).is_err());
        let first = serve("app.js", &none).unwrap();
        assert_eq!(first.status(), StatusCode::OK);
        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, first.headers()[header::ETAG].clone());
        assert_eq!(
            serve("app.js", &again).unwrap().status(),
            StatusCode::NOT_MODIFIED
        );
    }
}
