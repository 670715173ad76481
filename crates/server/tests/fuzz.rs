//! 1,000 malformed requests: random bytes, wrong types, deep nesting, bodies over the limit, invalid UTF-8,
//! wrong content types, garbage headers and query strings, unknown routes and methods, and malformed HTTP.
//! Every one gets a 4xx answer — never a 5xx, never a dropped connection — and changes nothing.
//!
//! The generator is seeded (`ENTITLE_FUZZ_SEED` to replay another run); a failure prints the seed and the
//! request.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad answer"
)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{ADMIN, Backend, Opts, TestApp, spawn_with};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: usize = 65_536;
const REQUESTS: usize = 1_000;

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n as u64)).unwrap_or(0)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next() >> 24) as u8).collect()
    }
    /// Visible ASCII and obs-text: what a header value may carry.
    fn header_bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                let b = (self.next() >> 24) as u8;
                if b < 0x20 || b == 0x7f { b'~' } else { b }
            })
            .collect()
    }
}

/// A write endpoint and a valid body for it, with each field's JSON type.
struct Target {
    method: Method,
    path: &'static str,
    body: Value,
}

fn targets() -> Vec<Target> {
    let t = |method: Method, path: &'static str, body: Value| Target { method, path, body };
    vec![
        t(
            Method::POST,
            "/v1/tenants/acme/users",
            json!({"id": "u1", "licenses": ["microsoft-365-business-basic"], "kind": "member"}),
        ),
        t(
            Method::POST,
            "/v1/tenants/acme/flows",
            json!({"id": "f1", "environment": "default", "trigger": "scheduled", "owner": "mia", "connectors": ["http"], "created": "2024-02-01"}),
        ),
        t(
            Method::POST,
            "/v1/tenants/acme/apps",
            json!({"id": "a1", "environment": "default", "users": ["mia"], "connectors": ["shared_sharepointonline"]}),
        ),
        t(
            Method::POST,
            "/v1/tenants/acme/environments",
            json!({"id": "e9", "dataverse": true, "kind": "sandbox"}),
        ),
        t(
            Method::POST,
            "/v1/tenants/acme/entities",
            json!({"id": "new_thing", "restricted": false}),
        ),
        t(
            Method::POST,
            "/v1/tenants/acme/subscriptions",
            json!({"id": "s9", "sku": "power-automate-per-user", "quantity": 1, "start": "2024-01-01"}),
        ),
        t(
            Method::PATCH,
            "/v1/tenants/acme/users/bo",
            json!({"licenses": ["microsoft-365-business-basic"], "left": "2025-01-01"}),
        ),
        t(
            Method::PUT,
            "/v1/tenants/acme/flows/bo-flow/license",
            json!({"license": "process"}),
        ),
        t(
            Method::POST,
            "/v1/tenants/acme/users/cy/assignLicense",
            json!({"addLicenses": [{"skuId": "power-automate-per-user", "disabledPlans": []}], "removeLicenses": []}),
        ),
        t(
            Method::PATCH,
            "/v1/tenants/acme/environments/e2/allocations",
            json!({"currencyAllocations": [{"currencyType": "power-automate-process", "allocated": 2}]}),
        ),
        t(
            Method::POST,
            "/v1/tenants/acme/purchases:preview",
            json!({"sku": "power-automate-per-user", "quantity": 2, "as": "mia", "at": "2024-06-03"}),
        ),
        t(
            Method::POST,
            "/v1/tenants/acme/keys",
            json!({"role": "environment-admin", "environments": ["e2"], "name": "x"}),
        ),
        t(Method::POST, "/v1/keys", json!({"role": "operator", "name": "x"})),
        t(
            Method::POST,
            "/v1/tenants",
            json!({"tenant": {"id": "t9", "at": "2024-06-03"}, "users": [{"id": "u"}]}),
        ),
    ]
}

/// A value of another JSON type than `v` (never `null`: optional fields take it).
fn wrong_type(rng: &mut Rng, v: &Value) -> Value {
    loop {
        let w = match rng.below(5) {
            0 => json!(rng.below(1000) as i64 - 500),
            1 => json!(format!("s{}", rng.below(100))),
            2 => json!(rng.below(2) == 0),
            3 => json!([1, "x", {}]),
            _ => json!({"k": [1]}),
        };
        let same = matches!(
            (v, &w),
            (Value::Number(_), Value::Number(_))
                | (Value::String(_), Value::String(_))
                | (Value::Bool(_), Value::Bool(_))
                | (Value::Array(_), Value::Array(_))
                | (Value::Object(_), Value::Object(_))
        );
        if !same {
            return w;
        }
    }
}

/// Every path to a leaf or container of `v`, as pointers.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{at}/{k}");
                out.push(p.clone());
                pointers(x, p, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(x, p, out);
            }
        }
        _ => {}
    }
}

/// One malformed request.
#[derive(Debug, Clone)]
struct Req {
    kind: &'static str,
    method: Method,
    path: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

fn req(kind: &'static str, method: Method, path: &str, ct: Option<&str>, body: Vec<u8>) -> Req {
    let mut headers = vec![("authorization".to_owned(), format!("Bearer {ADMIN}").into_bytes())];
    if let Some(ct) = ct {
        headers.push(("content-type".to_owned(), ct.as_bytes().to_vec()));
    }
    Req {
        kind,
        method,
        path: path.to_owned(),
        headers,
        body,
    }
}

fn nested(rng: &mut Rng, depth: usize) -> Vec<u8> {
    match rng.below(3) {
        0 => format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes(),
        1 => format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth)).into_bytes(),
        // Unclosed.
        _ => "[{\"a\":".repeat(depth).into_bytes(),
    }
}

fn generate(rng: &mut Rng, i: usize) -> Req {
    let targets = targets();
    let t = rng.pick(&targets);
    match i % 10 {
        // Random bytes as JSON.
        0 => {
            let n = rng.below(2_000);
            let body = rng.bytes(n);
            req(
                "random-bytes",
                t.method.clone(),
                t.path,
                Some("application/json"),
                body,
            )
        }
        // A valid body with one field of the wrong type.
        1 | 2 => {
            let mut body = t.body.clone();
            let mut ps = Vec::new();
            pointers(&body, String::new(), &mut ps);
            let p = rng.pick(&ps).clone();
            let old = body.pointer(&p).cloned().unwrap_or(Value::Null);
            let new = wrong_type(rng, &old);
            if let Some(slot) = body.pointer_mut(&p) {
                *slot = new;
            }
            req(
                "wrong-type",
                t.method.clone(),
                t.path,
                Some("application/json"),
                body.to_string().into_bytes(),
            )
        }
        // Deep nesting, in JSON and in TOML.
        3 => {
            let depth = 200 + rng.below(20_000);
            if rng.below(3) == 0 {
                let mut body = b"[tenant]\nid = \"deep\"\nx = ".to_vec();
                body.extend(format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes());
                req(
                    "deep-toml",
                    Method::POST,
                    "/v1/tenants",
                    Some("application/toml"),
                    body,
                )
            } else {
                let body = nested(rng, depth);
                req(
                    "deep-json",
                    t.method.clone(),
                    t.path,
                    Some("application/json"),
                    body,
                )
            }
        }
        // Over the body limit (valid JSON inside, so only the size is wrong).
        4 => {
            let n = LIMIT + 1 + rng.below(3 * LIMIT);
            let mut body = t.body.clone();
            if let Some(o) = body.as_object_mut() {
                o.insert("pad".into(), json!("x".repeat(n)));
            }
            let ct = if t.path == "/v1/tenants" && rng.below(2) == 0 {
                "application/toml"
            } else {
                "application/json"
            };
            req(
                "too-large",
                t.method.clone(),
                t.path,
                Some(ct),
                body.to_string().into_bytes(),
            )
        }
        // Invalid UTF-8 inside an otherwise valid body.
        5 => {
            let text = t.body.to_string();
            let cut = text.find("\":").map_or(1, |p| p + 3).min(text.len());
            let mut body = text.as_bytes()[..cut].to_vec();
            body.extend([0xff, 0xfe, 0xc3, 0x28]);
            body.extend(&text.as_bytes()[cut..]);
            let ct = if t.path == "/v1/tenants" {
                "application/toml"
            } else {
                "application/json"
            };
            req("invalid-utf8", t.method.clone(), t.path, Some(ct), body)
        }
        // A valid body under a content type that is not JSON.
        6 => {
            let cts: [&[u8]; 8] = [
                b"text/plain",
                b"application/xml",
                b"multipart/form-data; boundary=x",
                b"application/x-www-form-urlencoded",
                b"application/yaml",
                b"image/png",
                b"application/jsonx",
                b"appl\xffication/json",
            ];
            let mut r = req(
                "content-type",
                t.method.clone(),
                t.path,
                None,
                t.body.to_string().into_bytes(),
            );
            r.headers.push(("content-type".into(), rng.pick(&cts).to_vec()));
            r
        }
        // Garbage in the headers a request is judged by.
        7 => {
            let mut r = req(
                "header",
                t.method.clone(),
                t.path,
                Some("application/json"),
                t.body.to_string().into_bytes(),
            );
            match rng.below(5) {
                0 => {
                    let n = 1 + rng.below(80);
                    let junk = rng.header_bytes(n);
                    r.headers[0].1 = [b"Bearer ".as_slice(), &junk].concat();
                }
                1 => {
                    let n = 1 + rng.below(40);
                    r.headers[0].1 = rng.header_bytes(n);
                }
                // Idempotency keys are read by the writes (not by previews and key creation).
                n if r.path.ends_with("preview") || r.path.ends_with("/keys") => {
                    r.headers[0].1 = format!("Bearer ent_{n}").into_bytes();
                }
                2 => {
                    r.headers.push((
                        "idempotency-key".into(),
                        [b"k\xff".as_slice(), &rng.header_bytes(5)].concat(),
                    ));
                }
                3 => {
                    r.headers
                        .push(("idempotency-key".into(), vec![b'k'; 256 + rng.below(500)]));
                }
                _ => {
                    r.headers.push(("idempotency-key".into(), b"   ".to_vec()));
                }
            }
            r
        }
        // Garbage query strings on the answers.
        8 => {
            let qs = [
                "at=someday",
                "at=2024-13-45",
                "at=%ZZ",
                "at=2024-06-03&at=2024-06-04",
                "colour=red",
                "user=%00",
                "as=&as=",
                "dry_run=maybe",
                "limit=-1",
                "limit=99999999999999999999",
                "after=abc",
                "since=yesterday",
                "format=yaml",
                "catalog=vintage",
                "%FF%FE=1",
            ];
            let paths = [
                "/v1/tenants/acme/flows/mia-flow/decision",
                "/v1/tenants/acme/apps/mia-app/decision",
                "/v1/tenants/acme/audit",
                "/v1/tenants/acme/capacity",
                "/v1/tenants/acme/cost",
                "/v1/tenants/acme/limits",
                "/v1/tenants/acme/audit-log",
                "/v1/tenants/acme/export",
            ];
            let q = *rng.pick(&qs);
            let p = *rng.pick(&paths);
            // Every route here refuses every one of these: a parameter it does not take, or a value it cannot
            // read (or, for `user=%00`, a user that does not exist).
            let path = format!("{p}?{q}");
            req("query", Method::GET, &path, None, Vec::new())
        }
        // Unknown routes and methods.
        _ => {
            let methods = [
                "PROPFIND", "FOO", "PATCH", "PUT", "DELETE", "POST", "GET", "OPTIONS",
            ];
            let routes = [
                "/v1/tenants/acme/widgets/1/2".to_owned(),
                "/v1/tenants/acme/flows/mia-flow/decision/extra".to_owned(),
                "/v2/tenants".to_owned(),
                "/v1/../../etc/passwd".to_owned(),
                "/v1/tenants/%2e%2e/export".to_owned(),
                format!("/v1/tenants/acme/{}", "x".repeat(3000)),
                "/v1/tenants/acme/flows/%FF%FE/decision".to_owned(),
                "/v1/openapi.json".to_owned(),
                "/v1/tenants/acme/export".to_owned(),
                "/healthz".to_owned(),
            ];
            let mut route = rng.pick(&routes).clone();
            let mut method = (*rng.pick(&methods)).to_owned();
            // Routes that exist only with methods they do not take.
            let exists = matches!(
                route.as_str(),
                "/v1/openapi.json" | "/healthz" | "/v1/tenants/acme/export"
            );
            if exists && (method == "GET" || method == "OPTIONS") {
                method = "PUT".into();
            }
            if route == "/v1/tenants/%2e%2e/export" && method == "GET" {
                route.push_str("?format=yaml");
            }
            let m = Method::from_bytes(method.as_bytes()).unwrap_or(Method::PATCH);
            req("route", m, &route, None, Vec::new())
        }
    }
}

/// Sends one request through the client; the status, or why there was none.
async fn send(app: &TestApp, r: &Req) -> Result<(u16, String), String> {
    let mut rb = app.client.request(r.method.clone(), app.url(&r.path));
    for (k, v) in &r.headers {
        let v = reqwest::header::HeaderValue::from_bytes(v).map_err(|e| format!("header {k}: {e}"))?;
        rb = rb.header(k.as_str(), v);
    }
    let res = rb
        .body(r.body.clone())
        .send()
        .await
        .map_err(|e| format!("no answer: {e:?}"))?;
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = res.text().await.unwrap_or_default();
    Ok((
        status,
        format!("[{ct}] {}", text.chars().take(300).collect::<String>()),
    ))
}

/// Malformed HTTP itself, over a raw connection.
fn raw_requests(rng: &mut Rng) -> Vec<(&'static str, Vec<u8>)> {
    let auth = format!("Authorization: Bearer {ADMIN}\r\n");
    let mut out: Vec<(&'static str, Vec<u8>)> = vec![
        ("bad request line", b"GARBAGE\r\n\r\n".to_vec()),
        ("bad version", b"GET /healthz HTTP/9.9\r\n\r\n".to_vec()),
        ("bad header line", b"GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n".to_vec()),
        (
            "bad content-length",
            format!("POST /v1/tenants/acme/users HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: abc\r\n\r\n{{}}").into_bytes(),
        ),
        (
            "two content-lengths",
            format!("POST /v1/tenants/acme/users HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{{}}").into_bytes(),
        ),
        (
            "bad chunk",
            format!("POST /v1/tenants/acme/users HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{{}}\r\n0\r\n\r\n").into_bytes(),
        ),
    ];
    // A chunked body over the limit: no Content-Length to refuse it by.
    let mut big = format!(
        "POST /v1/tenants/acme/users HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    let chunk = vec![b' '; 16_384];
    for _ in 0..(LIMIT / chunk.len() + 2) {
        big.extend(format!("{:x}\r\n", chunk.len()).into_bytes());
        big.extend(&chunk);
        big.extend(b"\r\n");
    }
    big.extend(b"0\r\n\r\n");
    out.push(("chunked over the limit", big));
    // Header lines of random bytes.
    for _ in 0..3 {
        let n = 10 + rng.below(200);
        let mut r = b"GET /v1/tenants HTTP/1.1\r\nHost: x\r\n".to_vec();
        r.extend(
            rng.bytes(n)
                .into_iter()
                .map(|b| if b == b'\n' { b'x' } else { b }),
        );
        r.extend(b"\r\n\r\n");
        out.push(("random header bytes", r));
    }
    // A header block over any sane size.
    let mut huge = b"GET /v1/tenants HTTP/1.1\r\nHost: x\r\n".to_vec();
    huge.extend(format!("X-Junk: {}\r\n\r\n", "j".repeat(600_000)).into_bytes());
    out.push(("huge header", huge));
    out
}

async fn send_raw(addr: &str, bytes: &[u8]) -> Result<(u16, String), String> {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    // The server may answer (and close) before it has read everything: that is fine.
    let _ = s.write_all(bytes).await;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut chunk = [0u8; 4096];
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    buf.extend(&chunk[..n]);
                    if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    if read.is_err() {
        return Err("no answer within 10 s".into());
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("no status line in {text:?}"))?;
    Ok((status, text.lines().next().unwrap_or("").to_owned()))
}

async fn fuzz(backend: Backend) {
    let app = spawn_with(
        backend,
        Opts {
            max_body_bytes: Some(LIMIT),
            ..Opts::default()
        },
    )
    .await;
    app.acme("acme").await;
    let export = app.get("/v1/tenants/acme/export", ADMIN).await.expect(200).text;
    let seed = std::env::var("ENTITLE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_cafe_f00d_u64);
    let mut rng = Rng(seed);
    let mut sent = 0;
    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    let mut bad = Vec::new();

    let raw = raw_requests(&mut rng);
    let addr = app.base.trim_start_matches("http://").to_owned();
    for (kind, bytes) in &raw {
        let got = send_raw(&addr, bytes).await;
        sent += 1;
        *by_kind.entry(kind).or_default() += 1;
        match got {
            Ok((status, line)) => {
                *by_status.entry(status).or_default() += 1;
                if !(400..500).contains(&status) {
                    bad.push(format!("raw `{kind}`: {status} {line}"));
                }
            }
            Err(e) => bad.push(format!("raw `{kind}`: {e}")),
        }
    }
    let mut i = 0;
    while sent < REQUESTS {
        let r = generate(&mut rng, i);
        i += 1;
        let got = send(&app, &r).await;
        sent += 1;
        *by_kind.entry(r.kind).or_default() += 1;
        match got {
            Ok((status, text)) => {
                *by_status.entry(status).or_default() += 1;
                if !(400..500).contains(&status) || !text.starts_with("[application/problem+json]") {
                    bad.push(format!(
                        "#{i} {} {} {} [{} body bytes, headers {:?}]: {status} {text}",
                        r.kind,
                        r.method,
                        r.path.chars().take(120).collect::<String>(),
                        r.body.len(),
                        r.headers
                            .iter()
                            .map(|(k, v)| (
                                k.clone(),
                                String::from_utf8_lossy(v).chars().take(60).collect::<String>()
                            ))
                            .collect::<Vec<_>>()
                    ));
                }
            }
            Err(e) => bad.push(format!("#{i} {} {} {}: {e}", r.kind, r.method, r.path)),
        }
    }
    eprintln!(
        "{backend}: {sent} malformed requests (seed {seed:#x}); by kind {by_kind:?}; by status {by_status:?}"
    );
    assert_eq!(sent, REQUESTS);
    assert_eq!(
        by_status.values().sum::<usize>()
            + bad
                .iter()
                .filter(|b| b.contains("no answer") || b.contains("no status"))
                .count(),
        REQUESTS
    );
    assert!(
        bad.is_empty(),
        "{backend} (seed {seed:#x}): {} of {sent} not a 4xx problem:\n{}",
        bad.len(),
        bad.join("\n")
    );
    assert!(
        by_status.get(&413).copied().unwrap_or(0) >= 90,
        "bodies over the limit get 413: {by_status:?}"
    );

    // The server is well, and nothing changed.
    app.get("/healthz", ADMIN).await.expect(200);
    assert_eq!(
        app.get("/v1/tenants/acme/export", ADMIN).await.expect(200).text,
        export
    );
    let tenants = app.get("/v1/tenants", ADMIN).await.expect(200).json();
    assert_eq!(tenants.as_array().map(Vec::len), Some(1));
    let log = app.audit_log("acme", "").await;
    assert_eq!(log.len(), 1, "{log:#?}");
    app.stop().await;
}

on_every_backend!(a_thousand_malformed_requests_get_4xx, fuzz);
