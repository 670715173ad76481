//! Tenant isolation and roles: every role × every endpoint family × its own tenant or another. A key of
//! another tenant gets 404 for everything (it may not learn the tenant exists); within its tenant, a key gets
//! what the policy table allows (2xx) or 403. The expectations are written out here by hand from the table in
//! `policy.rs`, not computed from it.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad answer"
)]

mod common;

use common::{ADMIN, Backend, Body, TestApp, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};

const ROLES: [&str; 6] = [
    "operator",
    "global-admin",
    "billing-admin",
    "environment-admin",
    "maker",
    "reader",
];

/// One request, and what each role (in the order of [`ROLES`]) gets for it in its own tenant.
struct Probe {
    family: &'static str,
    access: &'static str,
    method: Method,
    /// `{t}` stands for the tenant.
    path: &'static str,
    body: Option<Value>,
    /// Send `If-Match` with the current ETag of this item path (read by the operator).
    if_match: Option<&'static str>,
    own: [u16; 6],
}

fn probe(
    family: &'static str,
    access: &'static str,
    method: Method,
    path: &'static str,
    body: Option<Value>,
    own: [u16; 6],
) -> Probe {
    Probe {
        family,
        access,
        method,
        path,
        body,
        if_match: None,
        own,
    }
}

fn guarded(mut p: Probe, item: &'static str) -> Probe {
    p.if_match = Some(item);
    p
}

fn probes() -> Vec<Probe> {
    use Method as M;
    const ALL: [u16; 6] = [200; 6];
    // operator, global-admin, billing-admin, environment-admin (e2), maker (mia), reader
    let assign = json!({"addLicenses": [{"skuId": "power-automate-per-user"}], "removeLicenses": []});
    let alloc = json!({"currencyAllocations": [{"currencyType": "power-automate-process", "allocated": 2}]});
    let buy_mia = json!({"sku": "power-automate-per-user", "quantity": 1, "as": "mia"});
    let buy_bo = json!({"sku": "power-automate-per-user", "quantity": 1, "as": "bo"});
    vec![
        probe(
            "tenant",
            "read",
            M::GET,
            "/v1/tenants/{t}/export",
            None,
            [200, 200, 200, 200, 403, 200],
        ),
        probe(
            "tenant",
            "write",
            M::DELETE,
            "/v1/tenants/{t}?dry_run=true",
            None,
            [200, 403, 403, 403, 403, 403],
        ),
        probe("users", "read", M::GET, "/v1/tenants/{t}/users/mia", None, ALL),
        probe(
            "users",
            "read",
            M::GET,
            "/v1/tenants/{t}/users/bo",
            None,
            [200, 200, 200, 200, 403, 200],
        ),
        probe(
            "users",
            "write",
            M::POST,
            "/v1/tenants/{t}/users?dry_run=true",
            Some(json!({"id": "zed"})),
            [200, 200, 403, 403, 403, 403],
        ),
        probe(
            "environments",
            "read",
            M::GET,
            "/v1/tenants/{t}/environments/e2",
            None,
            ALL,
        ),
        guarded(
            probe(
                "environments",
                "write",
                M::PATCH,
                "/v1/tenants/{t}/environments/e2?dry_run=true",
                Some(json!({})),
                [200, 200, 403, 200, 403, 403],
            ),
            "/v1/tenants/{t}/environments/e2",
        ),
        guarded(
            probe(
                "environments",
                "write",
                M::PATCH,
                "/v1/tenants/{t}/environments/default?dry_run=true",
                Some(json!({})),
                [200, 200, 403, 403, 403, 403],
            ),
            "/v1/tenants/{t}/environments/default",
        ),
        probe(
            "apps",
            "read",
            M::GET,
            "/v1/tenants/{t}/apps/bo-app",
            None,
            [200, 200, 200, 200, 403, 200],
        ),
        probe("apps", "read", M::GET, "/v1/tenants/{t}/apps/mia-app", None, ALL),
        guarded(
            probe(
                "apps",
                "write",
                M::PATCH,
                "/v1/tenants/{t}/apps/bo-app?dry_run=true",
                Some(json!({})),
                [200, 200, 403, 200, 403, 403],
            ),
            "/v1/tenants/{t}/apps/bo-app",
        ),
        guarded(
            probe(
                "apps",
                "write",
                M::PATCH,
                "/v1/tenants/{t}/apps/mia-app?dry_run=true",
                Some(json!({})),
                [200, 200, 403, 403, 200, 403],
            ),
            "/v1/tenants/{t}/apps/mia-app",
        ),
        probe(
            "flows",
            "read",
            M::GET,
            "/v1/tenants/{t}/flows/mia-flow",
            None,
            ALL,
        ),
        probe(
            "flows",
            "read",
            M::GET,
            "/v1/tenants/{t}/flows/bo-flow",
            None,
            [200, 200, 200, 200, 403, 200],
        ),
        guarded(
            probe(
                "flows",
                "write",
                M::PATCH,
                "/v1/tenants/{t}/flows/bo-flow?dry_run=true",
                Some(json!({})),
                [200, 200, 403, 200, 403, 403],
            ),
            "/v1/tenants/{t}/flows/bo-flow",
        ),
        guarded(
            probe(
                "flows",
                "write",
                M::PATCH,
                "/v1/tenants/{t}/flows/mia-flow?dry_run=true",
                Some(json!({})),
                [200, 200, 403, 403, 200, 403],
            ),
            "/v1/tenants/{t}/flows/mia-flow",
        ),
        // Trust item 3: a field that needs a right of its own needs it on every route. The licence mode of a
        // flow is a flow licence (PUT …/license), whether or not the maker owns the flow.
        guarded(
            probe(
                "flow-license",
                "write",
                M::PATCH,
                "/v1/tenants/{t}/flows/mia-flow?dry_run=true",
                Some(json!({"license": "process"})),
                [200, 200, 403, 403, 403, 403],
            ),
            "/v1/tenants/{t}/flows/mia-flow",
        ),
        guarded(
            probe(
                "flow-license",
                "write",
                M::PATCH,
                "/v1/tenants/{t}/flows/bo-flow?dry_run=true",
                Some(json!({"license": "process"})),
                [200, 200, 403, 200, 403, 403],
            ),
            "/v1/tenants/{t}/flows/bo-flow",
        ),
        probe(
            "flow-license",
            "write",
            M::POST,
            "/v1/tenants/{t}/flows?dry_run=true",
            Some(
                json!({"id": "mia-new", "environment": "default", "owner": "mia", "trigger": "scheduled", "license": "per-flow"}),
            ),
            [200, 200, 403, 403, 403, 403],
        ),
        probe(
            "flows",
            "write",
            M::POST,
            "/v1/tenants/{t}/flows?dry_run=true",
            Some(json!({"id": "mia-new", "environment": "default", "owner": "mia", "trigger": "scheduled"})),
            [200, 200, 403, 403, 200, 403],
        ),
        // An environment's allocations are allocations (PATCH …/allocations), its other fields the environment's.
        guarded(
            probe(
                "allocations",
                "write",
                M::PATCH,
                "/v1/tenants/{t}/environments/e2?dry_run=true",
                Some(json!({"allocations": {"power-automate-process": 2}})),
                [200, 200, 200, 403, 403, 403],
            ),
            "/v1/tenants/{t}/environments/e2",
        ),
        guarded(
            probe(
                "environments",
                "write",
                M::PATCH,
                "/v1/tenants/{t}/environments/e2?dry_run=true",
                Some(json!({"kind": "sandbox"})),
                [200, 200, 403, 200, 403, 403],
            ),
            "/v1/tenants/{t}/environments/e2",
        ),
        // A user's licences are a licence assignment (assignLicense), for the user's own maker key too.
        guarded(
            probe(
                "licenses",
                "write",
                M::PATCH,
                "/v1/tenants/{t}/users/cy?dry_run=true",
                Some(json!({"licenses": ["microsoft-365-business-basic", "power-automate-per-user"]})),
                [200, 200, 200, 403, 403, 403],
            ),
            "/v1/tenants/{t}/users/cy",
        ),
        guarded(
            probe(
                "licenses",
                "write",
                M::PATCH,
                "/v1/tenants/{t}/users/mia?dry_run=true",
                Some(json!({"licenses": ["microsoft-365-business-standard"]})),
                [200, 200, 200, 403, 403, 403],
            ),
            "/v1/tenants/{t}/users/mia",
        ),
        probe(
            "entities",
            "read",
            M::GET,
            "/v1/tenants/{t}/entities/new_order",
            None,
            ALL,
        ),
        probe(
            "entities",
            "write",
            M::POST,
            "/v1/tenants/{t}/entities?dry_run=true",
            Some(json!({"id": "new_x"})),
            [200, 200, 403, 403, 403, 403],
        ),
        probe(
            "subscriptions",
            "read",
            M::GET,
            "/v1/tenants/{t}/subscriptions/pa-sub",
            None,
            [200, 200, 200, 200, 403, 200],
        ),
        guarded(
            probe(
                "subscriptions",
                "write",
                M::PATCH,
                "/v1/tenants/{t}/subscriptions/pa-sub?dry_run=true",
                Some(json!({"quantity": 6})),
                [200, 200, 200, 403, 403, 403],
            ),
            "/v1/tenants/{t}/subscriptions/pa-sub",
        ),
        probe(
            "licenses",
            "read",
            M::GET,
            "/v1/tenants/{t}/subscribedSkus",
            None,
            [200, 200, 200, 200, 403, 200],
        ),
        probe(
            "licenses",
            "write",
            M::POST,
            "/v1/tenants/{t}/users/cy/assignLicense?dry_run=true",
            Some(assign),
            [200, 200, 200, 403, 403, 403],
        ),
        probe(
            "allocations",
            "read",
            M::GET,
            "/v1/tenants/{t}/environments/e2/allocations",
            None,
            [200, 200, 200, 200, 403, 200],
        ),
        probe(
            "allocations",
            "write",
            M::PATCH,
            "/v1/tenants/{t}/environments/e2/allocations?dry_run=true",
            Some(alloc),
            [200, 200, 200, 403, 403, 403],
        ),
        probe(
            "flow-license",
            "write",
            M::PUT,
            "/v1/tenants/{t}/flows/bo-flow/license?dry_run=true",
            Some(json!({"license": "process"})),
            [200, 200, 403, 200, 403, 403],
        ),
        probe(
            "flow-license",
            "write",
            M::PUT,
            "/v1/tenants/{t}/flows/mia-flow/license?dry_run=true",
            Some(json!({"license": "process"})),
            [200, 200, 403, 403, 403, 403],
        ),
        probe(
            "answers",
            "read",
            M::GET,
            "/v1/tenants/{t}/flows/mia-flow/decision",
            None,
            ALL,
        ),
        probe(
            "answers",
            "read",
            M::GET,
            "/v1/tenants/{t}/flows/bo-flow/decision",
            None,
            [200, 200, 200, 200, 403, 200],
        ),
        // Trust item 3: naming itself as the invoking user does not open another maker's flow to a maker.
        probe(
            "answers",
            "read",
            M::GET,
            "/v1/tenants/{t}/flows/bo-flow/decision?as=mia",
            None,
            [200, 200, 200, 200, 403, 200],
        ),
        probe(
            "answers",
            "read",
            M::GET,
            "/v1/tenants/{t}/limits?flow=bo-flow&as=mia",
            None,
            [200, 200, 200, 200, 403, 200],
        ),
        probe(
            "answers",
            "read",
            M::GET,
            "/v1/tenants/{t}/apps/mia-app/decision?user=mia",
            None,
            ALL,
        ),
        probe(
            "answers",
            "read",
            M::GET,
            "/v1/tenants/{t}/apps/mia-app/decision?user=bo",
            None,
            [200, 200, 200, 200, 403, 200],
        ),
        probe(
            "answers",
            "read",
            M::GET,
            "/v1/tenants/{t}/limits?user=mia",
            None,
            ALL,
        ),
        probe(
            "answers",
            "read",
            M::GET,
            "/v1/tenants/{t}/limits?flow=bo-flow",
            None,
            [200, 200, 200, 200, 403, 200],
        ),
        probe(
            "answers",
            "read",
            M::GET,
            "/v1/tenants/{t}/audit",
            None,
            [200, 200, 200, 200, 403, 200],
        ),
        probe(
            "answers",
            "read",
            M::GET,
            "/v1/tenants/{t}/capacity",
            None,
            [200, 200, 200, 200, 403, 200],
        ),
        probe(
            "answers",
            "read",
            M::GET,
            "/v1/tenants/{t}/cost",
            None,
            [200, 200, 200, 200, 403, 200],
        ),
        probe(
            "answers",
            "read",
            M::POST,
            "/v1/tenants/{t}/purchases:preview",
            Some(buy_mia),
            ALL,
        ),
        probe(
            "answers",
            "read",
            M::POST,
            "/v1/tenants/{t}/purchases:preview",
            Some(buy_bo),
            [200, 200, 200, 200, 403, 200],
        ),
        probe(
            "audit-log",
            "read",
            M::GET,
            "/v1/tenants/{t}/audit-log",
            None,
            [200, 200, 200, 200, 403, 200],
        ),
        probe(
            "keys",
            "read",
            M::GET,
            "/v1/tenants/{t}/keys",
            None,
            [200, 200, 403, 403, 403, 403],
        ),
        probe(
            "keys",
            "write",
            M::POST,
            "/v1/tenants/{t}/keys",
            Some(json!({"role": "reader", "name": "probe"})),
            [201, 201, 403, 403, 403, 403],
        ),
        probe(
            "keys",
            "write",
            M::DELETE,
            "/v1/tenants/{t}/keys/{k}",
            None,
            [204, 204, 403, 403, 403, 403],
        ),
    ]
}

fn spec(role: &str) -> Value {
    match role {
        "environment-admin" => json!({"role": role, "environments": ["e2"]}),
        "maker" => json!({"role": role, "user": "mia"}),
        _ => json!({"role": role}),
    }
}

/// The keys of a tenant, in the order of [`ROLES`] (the operator's is the same everywhere).
async fn keys_of(app: &TestApp, tenant: &str) -> Vec<String> {
    let mut out = vec![ADMIN.to_owned()];
    for role in ROLES.iter().skip(1) {
        out.push(app.key(tenant, spec(role)).await.0);
    }
    out
}

async fn call(app: &TestApp, p: &Probe, tenant: &str, key: Option<&str>) -> (u16, bool) {
    let mut path = p.path.replace("{t}", tenant);
    if path.contains("{k}") {
        // A key to revoke, made afresh for each call.
        let (_, id) = app.key("acme", json!({"role": "reader"})).await;
        path = path.replace("{k}", &id);
    }
    let etag = match p.if_match {
        Some(item) => Some(
            app.get(&item.replace("{t}", "acme"), ADMIN)
                .await
                .expect(200)
                .etag(),
        ),
        None => None,
    };
    let headers: Vec<(&str, &str)> = etag.as_deref().map(|e| ("if-match", e)).into_iter().collect();
    let body = match &p.body {
        Some(v) => Body::Json(v.clone()),
        None => Body::None,
    };
    let r = app.send(p.method.clone(), &path, key, &headers, body).await;
    let problem_ok = r.status < 400 || r.is_problem();
    (r.status, problem_ok)
}

async fn matrix(backend: Backend) {
    let app = spawn_app(backend).await;
    app.acme("acme").await;
    app.acme("globex").await;
    let own = keys_of(&app, "acme").await;
    let other = keys_of(&app, "globex").await;
    let (revoked, revoked_id) = app.key("acme", json!({"role": "global-admin"})).await;
    app.delete(&format!("/v1/tenants/acme/keys/{revoked_id}"), ADMIN)
        .await
        .expect(204);

    let mut table = String::new();
    table.push_str(&format!(
        "{:<14} {:<6} {:<7} {:<62}",
        "family", "access", "method", "path"
    ));
    for r in ROLES {
        table.push_str(&format!(" {:>9}", abbreviate(r)));
    }
    table.push_str("  other-tenant  no-key revoked\n");
    let mut wrong = Vec::new();
    let mut cells = 0;
    for p in probes() {
        table.push_str(&format!(
            "{:<14} {:<6} {:<7} {:<62}",
            p.family,
            p.access,
            p.method.as_str(),
            p.path
        ));
        for (i, role) in ROLES.iter().enumerate() {
            let (got, problem) = call(&app, &p, "acme", Some(&own[i])).await;
            cells += 1;
            let mark = if got == p.own[i] && problem { " " } else { "!" };
            if mark == "!" {
                wrong.push(format!(
                    "{} {} as {role} of its tenant: got {got}, want {} (problem+json: {problem})",
                    p.method, p.path, p.own[i]
                ));
            }
            table.push_str(&format!(" {got:>8}{mark}"));
        }
        // Keys of another tenant: 404, whatever the role and whatever the request.
        let mut others = Vec::new();
        for (i, role) in ROLES.iter().enumerate().skip(1) {
            let (got, problem) = call(&app, &p, "acme", Some(&other[i])).await;
            cells += 1;
            if got != 404 || !problem {
                wrong.push(format!(
                    "{} {} as {role} of another tenant: got {got}, want 404",
                    p.method, p.path
                ));
            }
            others.push(got.to_string());
        }
        others.dedup();
        table.push_str(&format!("  {:<12}", others.join("/")));
        for (label, key) in [("no key", None), ("revoked", Some(revoked.as_str()))] {
            let (got, problem) = call(&app, &p, "acme", key).await;
            cells += 1;
            if got != 401 || !problem {
                wrong.push(format!(
                    "{} {} with {label}: got {got}, want 401",
                    p.method, p.path
                ));
            }
            table.push_str(&format!(" {got:>7}"));
        }
        table.push('\n');
    }
    eprintln!("{backend}: role matrix ({cells} cells)\n{table}");
    assert!(
        wrong.is_empty(),
        "{backend}: {} cell(s) wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );

    // Nothing the probes did changed either tenant (they were dry runs), except the keys they made.
    for t in ["acme", "globex"] {
        let log = app.audit_log(t, "").await;
        let changes: Vec<&Value> = log.iter().filter(|e| e["kind"] != "key").collect();
        assert_eq!(changes.len(), 1, "{t}: only the creation is logged: {changes:?}");
    }
    // A tenant's key lists only its own tenant's keys, and never a secret.
    let listed = app.get("/v1/tenants/acme/keys", &own[1]).await.expect(200).json();
    let listed = listed.as_array().expect("a list");
    assert!(
        listed
            .iter()
            .all(|k| k["tenant"] == "acme" && k.get("key").is_none())
    );
    // Tenant lists: the operator sees both, a tenant key only its own.
    let all = app.get("/v1/tenants", ADMIN).await.expect(200).json();
    assert_eq!(ids(&all), vec!["acme", "globex"]);
    for k in own.iter().skip(1) {
        let mine = app.get("/v1/tenants", k).await.expect(200).json();
        assert_eq!(ids(&mine), vec!["acme"]);
    }
    // Operator-only routes look absent to tenant keys.
    for k in own.iter().skip(1) {
        app.get("/v1/keys", k).await.expect(404);
        let r = app
            .send(
                Method::POST,
                "/v1/tenants",
                Some(k),
                &[],
                Body::Raw(Some("application/toml".into()), common::acme_as("x").into_bytes()),
            )
            .await;
        assert_eq!(r.status, 403, "{}", r.text);
    }
    app.stop().await;
}

fn ids(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(|t| t["id"].as_str()).collect())
        .unwrap_or_default()
}

fn abbreviate(role: &str) -> &str {
    match role {
        "global-admin" => "g-admin",
        "billing-admin" => "b-admin",
        "environment-admin" => "e-admin",
        other => other,
    }
}

on_every_backend!(every_role_on_every_family_own_and_other_tenant, matrix);

/// A deleted tenant's keys do not open a new tenant of the same id.
async fn keys_die_with_their_tenant(backend: Backend) {
    let app = spawn_app(backend).await;
    app.acme("acme").await;
    let (old, _) = app.key("acme", json!({"role": "global-admin"})).await;
    app.get("/v1/tenants/acme/export", &old).await.expect(200);
    app.delete("/v1/tenants/acme", ADMIN).await.expect(204);
    app.get("/v1/tenants/acme/export", &old).await.expect(401);
    app.acme("acme").await;
    let r = app.get("/v1/tenants/acme/export", &old).await;
    assert_eq!(
        r.status, 401,
        "{backend}: a key of the deleted tenant still works: {}",
        r.status
    );
    let keys = app.get("/v1/tenants/acme/keys", ADMIN).await.expect(200).json();
    assert!(
        keys.as_array()
            .is_some_and(|k| k.iter().all(|k| k["revoked"] == true)),
        "{keys}"
    );
    app.stop().await;
}

on_every_backend!(a_deleted_tenants_keys_are_revoked, keys_die_with_their_tenant);

/// A deleted user's keys do not speak for a user created later under the same id; other users' keys live on.
async fn keys_die_with_their_user(backend: Backend) {
    let app = spawn_app(backend).await;
    app.acme("acme").await;
    let (cy, cy_id) = app.key("acme", json!({"role": "maker", "user": "cy"})).await;
    let (mia, _) = app.key("acme", json!({"role": "maker", "user": "mia"})).await;
    app.get("/v1/tenants/acme/users/cy", &cy).await.expect(200);
    app.delete("/v1/tenants/acme/users/cy", ADMIN).await.expect(204);
    app.get("/v1/tenants/acme/users", &cy).await.expect(401);
    app.post(
        "/v1/tenants/acme/users",
        ADMIN,
        json!({"id": "cy", "licenses": []}),
    )
    .await
    .expect(201);
    let r = app.get("/v1/tenants/acme/users/cy", &cy).await;
    assert_eq!(
        r.status, 401,
        "{backend}: the deleted user's key still works: {}",
        r.text
    );
    app.get("/v1/tenants/acme/users/mia", &mia).await.expect(200);
    let keys = app.get("/v1/tenants/acme/keys", ADMIN).await.expect(200).json();
    let revoked: Vec<&str> = keys
        .as_array()
        .map(|k| {
            k.iter()
                .filter(|k| k["revoked"] == true)
                .filter_map(|k| k["id"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(revoked, vec![cy_id.as_str()], "{keys}");
    let log = app
        .get("/v1/tenants/acme/audit-log?kind=key&action=revoke", ADMIN)
        .await
        .expect(200)
        .json();
    assert_eq!(log["entries"].as_array().map(Vec::len), Some(1), "{log}");
    app.stop().await;
}

on_every_backend!(a_deleted_users_keys_are_revoked, keys_die_with_their_user);

/// `GET /v1/me` tells every valid key who it is, and no one else anything.
async fn me_names_the_key(backend: Backend) {
    let app = spawn_app(backend).await;
    app.acme("acme").await;
    let keys = keys_of(&app, "acme").await;
    for (role, key) in ROLES.iter().zip(&keys) {
        let me = app.get("/v1/me", key).await.expect(200).json();
        assert_eq!(me["role"], *role, "{backend}: {me}");
        let tenant = if *role == "operator" {
            Value::Null
        } else {
            json!("acme")
        };
        assert_eq!(me["tenant"], tenant, "{backend}: {me}");
        let user = if *role == "maker" {
            json!("mia")
        } else {
            Value::Null
        };
        assert_eq!(me["user"], user, "{backend}: {me}");
        let envs = if *role == "environment-admin" {
            json!(["e2"])
        } else {
            json!([])
        };
        assert_eq!(me["environments"], envs, "{backend}: {me}");
        assert!(
            me["key_id"].as_str().is_some_and(|k| k.starts_with("key_")),
            "{me}"
        );
    }
    let r = app.send(Method::GET, "/v1/me", None, &[], Body::None).await;
    assert_eq!(r.status, 401, "{}", r.text);
    app.get("/v1/me", "ent_not_a_key_at_all_0000000000")
        .await
        .expect(401);
    app.stop().await;
}

on_every_backend!(me_answers_every_role_with_itself, me_names_the_key);
