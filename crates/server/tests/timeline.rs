//! Time (issue 14) through the HTTP API, on a test clock: ENF-3's notices and ENF-2's turn-offs on the table's
//! dates, ENF-4 (a flow created after its maker notice is stored off), ENF-5 (a suspended flow turns on only once
//! licensed), ENF-7 (deleting an app turns its flows off), BUY-7 (a trial ends on day 90 and its decisions turn),
//! events with cursor paging and a type filter, maker notices, and a real-time tenant refusing `clock:advance`.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad answer"
)]

mod common;

use common::{ADMIN, Backend, TestApp, spawn_app, workspace};
use serde_json::{Value, json};

const T: &str = "/v1/tenants/northwind";

fn example() -> String {
    std::fs::read_to_string(workspace().join("examples/enforcement-timeline.toml")).unwrap()
}

async fn advance(app: &TestApp, to: &str) -> Value {
    app.post(&format!("{T}/clock:advance"), ADMIN, json!({"to": to}))
        .await
        .expect(200)
        .json()
}

/// Every event of the tenant, paged through 7 at a time (so the cursor is exercised).
async fn events(app: &TestApp, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after: Option<i64> = None;
    loop {
        let mut path = format!("{T}/events?limit=7{query}");
        if let Some(a) = after {
            path.push_str(&format!("&after={a}"));
        }
        let v = app.get(&path, ADMIN).await.expect(200).json();
        out.extend(v["events"].as_array().cloned().unwrap());
        match v["next"].as_i64() {
            Some(n) => after = Some(n),
            None => return out,
        }
    }
}

/// (day, type, subject) of the jobs' events: the flow, the kind of an admin notice, the subscription.
fn job_rows(events: &[Value]) -> Vec<(String, String, String)> {
    events
        .iter()
        .filter(|e| {
            let t = e["type"].as_str().unwrap();
            t.starts_with("enforcement.")
                || t.starts_with("trial.")
                || t.starts_with("subscription.")
                || (t == "flow.suspended" && e["payload"]["rules"][0] == "ENF-3")
        })
        .map(|e| {
            let p = &e["payload"];
            let subject = p["flow"]
                .as_str()
                .or(p["subscription"].as_str())
                .or(p["kind"].as_str())
                .unwrap()
                .to_owned();
            (
                e["day"].as_str().unwrap().to_owned(),
                e["type"].as_str().unwrap().to_owned(),
                subject,
            )
        })
        .collect()
}

fn row(day: &str, kind: &str, subject: &str) -> (String, String, String) {
    (day.to_owned(), kind.to_owned(), subject.to_owned())
}

/// PATCHes an item with the ETag it has now.
async fn patch_now(app: &TestApp, path: &str, body: Value) -> common::Resp {
    let etag = app.get(path, ADMIN).await.expect(200).etag();
    app.patch(path, ADMIN, Some(&etag), body).await
}

async fn decision(app: &TestApp, flow: &str) -> Value {
    app.get(&format!("{T}/flows/{flow}/decision"), ADMIN)
        .await
        .expect(200)
        .json()
}

async fn enf_3_test_clock_runs_every_job_on_its_day(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_tenant_toml(&example(), None).await.expect(201);

    // To the day after kind e's maker notice.
    let first = advance(&app, "2024-04-20").await;
    assert_eq!(first["from"], "2022-08-01");
    let days: Vec<&str> = first["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["day"].as_str().unwrap())
        .collect();
    assert!(
        days.contains(&"2022-10-15") && days.contains(&"2024-04-15"),
        "{days:?}"
    );
    let tenant = app.get(T, ADMIN).await.expect(200).json();
    assert_eq!(
        tenant["at"].as_str().or(tenant["tenant"]["at"].as_str()),
        Some("2024-04-20"),
        "{tenant}"
    );

    // ENF-4: a service principal's premium flow created after the maker notice is stored turned off, and the
    // answer says why.
    let made = app
        .post(
            &format!("{T}/flows"),
            ADMIN,
            json!({"id": "etl-2", "environment": "default", "trigger": "scheduled", "owner": "etl-app",
                   "connectors": ["shared_salesforce"]}),
        )
        .await
        .expect(201)
        .json();
    assert_eq!(made["enforcement"][0]["rule"], "ENF-4", "{made}");
    assert_eq!(made["enforcement"][0]["state"], "created-off");
    let stored = app
        .get(&format!("{T}/flows/etl-2"), ADMIN)
        .await
        .expect(200)
        .json();
    assert_eq!(stored["enabled"], false, "{stored}");
    assert_eq!(stored["suspended"]["rule"], "ENF-4");

    // ENF-5: `orders` was turned off on 2022-10-15; turning it on is refused while unlicensed, with the fix.
    let etag = app
        .get(&format!("{T}/flows/orders"), ADMIN)
        .await
        .expect(200)
        .etag();
    let refused = app
        .patch(
            &format!("{T}/flows/orders"),
            ADMIN,
            Some(&etag),
            json!({"enabled": true}),
        )
        .await
        .expect(409)
        .json();
    assert_eq!(refused["rule"], "ENF-5", "{refused}");
    assert!(refused["fix"].is_object(), "{refused}");
    // The engine's own field cannot be cleared by a write.
    let sneaky = app
        .patch(
            &format!("{T}/flows/orders"),
            ADMIN,
            Some(&etag),
            json!({"enabled": true, "suspended": null}),
        )
        .await;
    assert_eq!(sneaky.status, 409, "{}", sneaky.text);
    // Licensed (its fix: a new owner with premium), it may be turned on (ENF-6: at once).
    app.patch(
        &format!("{T}/flows/orders"),
        ADMIN,
        Some(&etag),
        json!({"owner": "bob", "enabled": true}),
    )
    .await
    .expect(200);
    let orders = app
        .get(&format!("{T}/flows/orders"), ADMIN)
        .await
        .expect(200)
        .json();
    assert_eq!(
        (orders["enabled"].clone(), orders.get("suspended").cloned()),
        (json!(true), None),
        "{orders}"
    );
    assert_eq!(decision(&app, "orders").await["allowed"], true);

    // BUY-7: the trial assigned on 2024-05-01 counts on day 89 and not on day 90.
    advance(&app, "2024-07-29").await;
    assert_eq!(decision(&app, "tina-sync").await["allowed"], true);
    advance(&app, "2024-07-30").await;
    let after = decision(&app, "tina-sync").await;
    assert_eq!(after["allowed"], false, "{after}");

    advance(&app, "2024-09-01").await;
    let all = events(&app, "").await;
    let got = job_rows(&all);
    let admin = "enforcement.admin_notice";
    let maker = "enforcement.maker_notice";
    let off = "flow.suspended";
    let want = vec![
        row("2022-09-01", admin, "owner-left"),
        row("2022-09-01", admin, "owner-without-premium"),
        row("2022-10-01", maker, "orders"),
        row("2022-10-01", maker, "sync"),
        row("2022-10-15", off, "orders"),
        row("2022-10-15", off, "sync"),
        row("2023-01-01", "subscription.renewed", "premium-annual"),
        row("2023-05-01", admin, "owner-left"),
        row("2023-05-31", maker, "reports"),
        row("2023-06-14", off, "reports"),
        row("2023-10-13", admin, "outside-d365-context"),
        row("2023-10-13", admin, "outside-power-apps-context"),
        row("2023-11-13", maker, "cleanup"),
        row("2023-11-13", maker, "leads"),
        row("2024-01-01", "subscription.renewed", "premium-annual"),
        row("2024-03-01", admin, "owner-without-premium"),
        row("2024-03-01", "subscription.lapsed", "carl-rpa"),
        row("2024-03-13", off, "cleanup"),
        row("2024-03-13", off, "leads"),
        row("2024-03-15", admin, "service-principal-without-process"),
        row("2024-03-31", maker, "carl-sync"),
        row("2024-04-14", off, "carl-sync"),
        row("2024-04-15", maker, "etl"),
        // `orders`, licensed and turned on again on 2024-04-20, had its notices forgotten then (ENF-5): no
        // `enforcement.cleared` follows, and it is never turned off again.
        row("2024-07-23", "trial.expiring", "pilot-trial"),
        row("2024-07-30", admin, "owner-without-premium"),
        row("2024-07-30", "trial.expired", "pilot-trial"),
        row("2024-08-15", off, "etl"),
        row("2024-08-29", maker, "tina-sync"),
    ];
    assert_eq!(got, want);
    // The write's own events: the flow created off, the one resumed.
    let suspended_4: Vec<&Value> = all
        .iter()
        .filter(|e| e["type"] == "flow.suspended" && e["payload"]["state"] == "created-off")
        .collect();
    assert_eq!(suspended_4.len(), 1);
    assert_eq!(suspended_4[0]["payload"]["flow"], "etl-2");
    assert_eq!(suspended_4[0]["day"], "2024-04-20");
    assert!(
        all.iter()
            .any(|e| e["type"] == "flow.resumed" && e["payload"]["flow"] == "orders")
    );
    // Every event carries its rules; ids are unique; seq grows.
    for e in &all {
        if e["type"].as_str().unwrap().starts_with("enforcement.admin") {
            assert!(
                e["payload"]["rules"]
                    .as_array()
                    .unwrap()
                    .contains(&json!("ENF-3")),
                "{e}"
            );
        }
    }
    let mut ids: Vec<&str> = all.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all.len());
    assert!(
        all.windows(2)
            .all(|w| w[0]["seq"].as_i64() < w[1]["seq"].as_i64())
    );

    // The type filter.
    let only = events(&app, "&type=trial.expiring,trial.expired").await;
    let kinds: Vec<&str> = only.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["trial.expiring", "trial.expired"]);
    app.get(&format!("{T}/events?type=Flow%20Suspended"), ADMIN)
        .await
        .expect(400);

    // Advancing again to the same day does nothing twice.
    let again = advance(&app, "2024-09-01").await;
    assert_eq!(again["days"], json!([]));
    assert_eq!(events(&app, "").await.len(), all.len());
    // The clock only moves forward.
    let back = app
        .post(&format!("{T}/clock:advance"), ADMIN, json!({"to": "2024-01-01"}))
        .await
        .expect(422)
        .json();
    assert_eq!(back["pointer"], "/to");
    app.stop().await;
}
on_every_backend!(
    enf_3_test_clock_on_every_backend,
    enf_3_test_clock_runs_every_job_on_its_day
);

async fn enf_3_makers_see_their_own_notices(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_tenant_toml(&example(), None).await.expect(201);
    advance(&app, "2022-10-16").await;
    let (ann, _) = app
        .key("northwind", json!({"role": "maker", "user": "ann"}))
        .await;
    let mine = app.get("/v1/me/notices", &ann).await.expect(200).json();
    let kinds: Vec<(&str, &str)> = mine["notices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["type"].as_str().unwrap(),
                n["payload"]["flow"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [("enforcement.maker_notice", "sync"), ("flow.suspended", "sync")],
        "{mine}"
    );
    // Another maker sees none of ann's.
    let (maker, _) = app
        .key("northwind", json!({"role": "maker", "user": "maker"}))
        .await;
    let theirs = app.get("/v1/me/notices", &maker).await.expect(200).json();
    assert_eq!(theirs["notices"], json!([]));
    // A maker key may not read the tenant's events, nor move its clock.
    app.get(&format!("{T}/events"), &ann).await.expect(403);
    app.post(&format!("{T}/clock:advance"), &ann, json!({"to": "2022-10-20"}))
        .await
        .expect(403);
    // The operator key has no user: no notices of its own.
    app.get("/v1/me/notices", ADMIN).await.expect(422);
    app.stop().await;
}
on_every_backend!(
    enf_3_maker_notices_on_every_backend,
    enf_3_makers_see_their_own_notices
);

async fn enf_7_deleting_an_app_turns_its_flows_off(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_tenant_toml(&common::acme_as("acme"), None)
        .await
        .expect(201);
    let t = "/v1/tenants/acme";
    // Associate a flow with an app, then delete the app.
    patch_now(&app, &format!("{t}/flows/mia-flow"), json!({"app": "mia-app"}))
        .await
        .expect(200);
    let (id, app_id) = ("mia-flow", "mia-app");
    let etag = app
        .get(&format!("{t}/apps/{app_id}"), ADMIN)
        .await
        .expect(200)
        .etag();
    app.send(
        reqwest::Method::DELETE,
        &format!("{t}/apps/{app_id}"),
        Some(ADMIN),
        &[("If-Match", etag.as_str())],
        common::Body::None,
    )
    .await
    .expect(204);
    let now = app
        .get(&format!("{t}/flows/{id}"), ADMIN)
        .await
        .expect(200)
        .json();
    assert_eq!(now["enabled"], false, "{now}");
    assert_eq!(now["suspended"]["rule"], "ENF-7");
    assert!(now.get("app").is_none_or(Value::is_null), "{now}");
    let ev = app
        .get(&format!("{t}/events?type=flow.suspended"), ADMIN)
        .await
        .expect(200)
        .json();
    assert_eq!(ev["events"][0]["payload"]["flow"], id);
    assert_eq!(ev["events"][0]["payload"]["rules"][0], "ENF-7");
    app.stop().await;
}
on_every_backend!(
    enf_7_app_deleted_on_every_backend,
    enf_7_deleting_an_app_turns_its_flows_off
);

async fn a_real_time_tenant_refuses_clock_advance(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_tenant_toml(&common::acme_as("acme"), None)
        .await
        .expect(201);
    let p = app
        .post(
            "/v1/tenants/acme/clock:advance",
            ADMIN,
            json!({"to": "2030-01-01"}),
        )
        .await
        .expect(409)
        .json();
    assert_eq!(p["test_clock"], false, "{p}");
    // Bad bodies say where.
    app.create_tenant_toml(&example(), None).await.expect(201);
    let bad = app
        .post(&format!("{T}/clock:advance"), ADMIN, json!({"to": "soon"}))
        .await
        .expect(422)
        .json();
    assert!(bad["pointer"].as_str().unwrap_or("").contains("to"), "{bad}");
    app.post(&format!("{T}/clock:advance"), ADMIN, json!({"to": "2040-01-01"}))
        .await
        .expect(422);
    app.stop().await;
}
on_every_backend!(
    real_time_refuses_clock_advance_on_every_backend,
    a_real_time_tenant_refuses_clock_advance
);

/// BUY-4: an admin takes over a self-service subscription (`channel` to `admin`, the buyer gone), and a
/// cancellation at term end; both are events of their own beside `subscription.updated`.
async fn buy_4_take_over_and_cancel_are_events(backend: Backend) {
    let app = spawn_app(backend).await;
    let toml = std::fs::read_to_string(workspace().join("examples/small-business-m365.toml")).unwrap();
    app.create_tenant_toml(&toml, None).await.expect(201);
    let t = "/v1/tenants/fabrikam-bakery";
    let subs = app
        .get(&format!("{t}/subscriptions"), ADMIN)
        .await
        .expect(200)
        .json();
    let list = subs["items"]
        .as_array()
        .or(subs.as_array())
        .cloned()
        .unwrap_or_default();
    let own = list
        .iter()
        .find(|s| s["channel"] == "self-service")
        .cloned()
        .unwrap();
    let id = own["id"].as_str().unwrap();
    patch_now(
        &app,
        &format!("{t}/subscriptions/{id}"),
        json!({"channel": "admin", "buyer": null}),
    )
    .await
    .expect(200);
    patch_now(
        &app,
        &format!("{t}/subscriptions/{id}"),
        json!({"end": "2025-05-01", "cancelled": "2024-06-03"}),
    )
    .await
    .expect(200);
    let ev = app
        .get(
            &format!("{t}/events?type=subscription.taken_over,subscription.cancelled"),
            ADMIN,
        )
        .await
        .expect(200)
        .json();
    let kinds: Vec<&str> = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["subscription.taken_over", "subscription.cancelled"],
        "{ev}"
    );
    assert_eq!(ev["events"][0]["payload"]["buyer"], "frank");
    assert_eq!(ev["events"][0]["payload"]["rules"][0], "BUY-4");
    assert_eq!(ev["events"][1]["payload"]["ends"], "2025-05-01");
    app.stop().await;
}
on_every_backend!(
    buy_4_take_over_on_every_backend,
    buy_4_take_over_and_cancel_are_events
);

/// REQ-8: the 80 % warning of a user's 24-hour limit is an event too, telling the user.
async fn req_8_the_warning_is_an_event(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_tenant_toml(&common::acme_as("acme"), None)
        .await
        .expect(201);
    let limit = app
        .get("/v1/tenants/acme/limits?user=cy", ADMIN)
        .await
        .expect(200)
        .json();
    let per_day = limit["requests_per_24h"]
        .as_u64()
        .unwrap_or_else(|| panic!("{limit}"));
    app.post(
        "/v1/tenants/acme/usage",
        ADMIN,
        json!({"user": "cy", "requests": per_day * 8 / 10}),
    )
    .await
    .expect(200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let ev = app
            .get("/v1/tenants/acme/events?type=requests.warning", ADMIN)
            .await
            .expect(200)
            .json();
        if let Some(e) = ev["events"].as_array().and_then(|a| a.first()) {
            assert_eq!(e["told"], json!(["cy"]), "{e}");
            assert_eq!(e["payload"]["rules"][0], "REQ-8");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no requests.warning event");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    app.stop().await;
}
on_every_backend!(req_8_event_on_every_backend, req_8_the_warning_is_an_event);
