//! The tenant-wide plan (`GET …/plan`, issue 16) applied through the API: for each of the repository's example
//! tenants, the plan's batch is dry-run first (nothing written, every targeted decision listed as turning), then
//! made; afterwards every decision the plan targeted is allowed, and a new plan has nothing left to do.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad answer"
)]

mod common;

use common::{ADMIN, Backend, spawn_app, workspace};
use serde_json::Value;

fn examples() -> Vec<(String, String)> {
    let dir = workspace().join("examples");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            if p.extension()? != "toml" {
                return None;
            }
            Some((p.display().to_string(), std::fs::read_to_string(&p).ok()?))
        })
        .collect();
    out.sort();
    out
}

/// Whether the decision a plan names (`flow:ID` or `app:ID/USER`) is allowed now.
async fn allowed(app: &common::TestApp, tenant: &str, target: &str) -> bool {
    let path = if let Some(f) = target.strip_prefix("flow:") {
        format!("/v1/tenants/{tenant}/flows/{f}/decision")
    } else if let Some(rest) = target.strip_prefix("app:") {
        let (a, u) = rest.split_once('/').unwrap();
        format!("/v1/tenants/{tenant}/apps/{a}/decision?user={u}")
    } else {
        panic!("unknown target {target}")
    };
    app.get(&path, ADMIN).await.expect(200).json()["allowed"] == Value::Bool(true)
}

async fn plan_applied(backend: Backend) {
    let app = spawn_app(backend).await;
    let files = examples();
    assert!(files.len() >= 5, "the examples: {files:?}");
    let mut turned = 0;
    for (file, toml) in files {
        let created = app.create_tenant_toml(&toml, None).await.expect(201).json();
        let t = created["id"]
            .as_str()
            .or(created["tenant"].as_str())
            .unwrap()
            .to_owned();
        let plan = app
            .get(&format!("/v1/tenants/{t}/plan"), ADMIN)
            .await
            .expect(200)
            .json();
        let targets: Vec<String> = plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["turns"].as_array().cloned().unwrap_or_default())
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect();
        assert!(
            plan["targets"]["not_turned"].as_array().unwrap().is_empty(),
            "{file}: {plan}"
        );
        for x in &targets {
            assert!(
                !allowed(&app, &t, x).await,
                "{file}: {x} was allowed before the plan"
            );
        }
        let batch = plan["batch"].clone();
        let log = app.audit_log(&t, "").await.len();
        let dry = app
            .post(
                &format!("/v1/tenants/{t}/changes:batch?dry_run=true"),
                ADMIN,
                batch.clone(),
            )
            .await
            .expect(200)
            .json();
        assert_eq!(
            app.audit_log(&t, "").await.len(),
            log,
            "{file}: a dry run writes nothing"
        );
        for x in &targets {
            assert!(!allowed(&app, &t, x).await, "{file}: the dry run changed {x}");
        }
        let flips = dry["flips"].as_array().cloned().unwrap_or_default();
        for x in &targets {
            let (kind, rest) = x.split_once(':').unwrap();
            let (id, user) = rest.split_once('/').map_or((rest, None), |(a, u)| (a, Some(u)));
            let listed = flips.iter().any(|f| {
                f["kind"] == kind
                    && f["id"] == id
                    && user.is_none_or(|u| f["user"] == u)
                    && f["allowed_after"] == Value::Bool(true)
            });
            assert!(listed, "{file}: the dry run does not list {x} as turning: {dry}");
        }
        app.post(&format!("/v1/tenants/{t}/changes:batch"), ADMIN, batch)
            .await
            .expect(200);
        for x in &targets {
            assert!(
                allowed(&app, &t, x).await,
                "{file}: {x} still denied after the plan"
            );
            turned += 1;
        }
        let again = app
            .get(&format!("/v1/tenants/{t}/plan"), ADMIN)
            .await
            .expect(200)
            .json();
        let unfixable = again["targets"]["unfixable"].as_array().unwrap().len() as u64;
        assert_eq!(
            again["targets"]["denied"].as_u64(),
            Some(unfixable),
            "{file}: decisions left to turn after the plan: {again}"
        );
        assert!(again["changes"].as_array().unwrap().is_empty(), "{file}: {again}");
        // A bad `only` is bad input, pointed at.
        let bad = app
            .get(&format!("/v1/tenants/{t}/plan?only=no-such-flow"), ADMIN)
            .await
            .expect(422);
        assert_eq!(bad.json()["pointer"], "query:only");
    }
    assert!(turned >= 20, "{turned} decisions turned over the examples");
}
on_every_backend!(
    a_plan_applied_through_the_api_turns_every_targeted_decision,
    plan_applied
);
