//! Consumption through the HTTP API (PORTAL-2, PORTAL-3, PORTAL-4, PORTAL-5, PORTAL-6, AI-1, AI-2, D365-3): day
//! passes, replays, internal users, bad input, overdrafts with their fix, the month's report (JSON and CSV), the
//! statement, and the export that writes the events back.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad answer"
)]

mod common;

use chrono::NaiveDate;
use common::{ADMIN, Backend, Opts, TestApp, spawn_with, workspace};
use serde_json::json;

const T: &str = "/v1/tenants/fabrikam-homes";

async fn app(backend: Backend) -> TestApp {
    let app = spawn_with(
        backend,
        Opts {
            today: NaiveDate::from_ymd_opt(2024, 6, 20),
            ..Opts::default()
        },
    )
    .await;
    let toml = std::fs::read_to_string(workspace().join("examples/portal-consumption.toml")).unwrap();
    app.create_tenant_toml(&toml, None).await.expect(201);
    app
}

async fn login(app: &TestApp, body: serde_json::Value) -> common::Resp {
    app.post(&format!("{T}/portals/buyers/logins"), ADMIN, body).await
}

async fn portal_2_passes_replays_and_internal_users(backend: Backend) {
    let app = app(backend).await;
    // The scenario's history counted 5 passes on `buyers` in June.
    let first = login(
        &app,
        json!({"user": "contact-zed", "at": "2024-06-20T10:00:00Z", "id": "e1"}),
    )
    .await
    .expect(200)
    .json();
    assert_eq!(first["charged"], true, "{first}");
    assert_eq!(first["used"], 6, "{first}");
    assert_eq!(first["pass_ends_at"], "2024-06-21T10:00:00.000Z");
    assert!(first["rules"].as_array().unwrap().contains(&json!("PORTAL-2")));
    // Inside the pass: free (PORTAL-2).
    let second = login(&app, json!({"user": "contact-zed", "at": "2024-06-20T23:00:00Z"}))
        .await
        .expect(200)
        .json();
    assert_eq!(second["charged"], false, "{second}");
    assert_eq!(second["used"], 6);
    // Another portal counts on its own.
    let other = app
        .post(
            &format!("{T}/portals/sellers/logins"),
            ADMIN,
            json!({"user": "contact-zed", "at": "2024-06-20T11:00:00Z"}),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(other["charged"], true, "{other}");
    // A replayed id: the first answer, nothing counted; the same id on another event is refused.
    let again = login(
        &app,
        json!({"user": "contact-zed", "at": "2024-06-20T10:00:00Z", "id": "e1"}),
    )
    .await
    .expect(200)
    .json();
    assert_eq!(again["replayed"], true);
    assert_eq!(again["used"], 6);
    let reused = login(&app, json!({"user": "contact-amy", "id": "e1"}))
        .await
        .expect(422)
        .json();
    assert_eq!(reused["pointer"], "/id", "{reused}");
    // PORTAL-4: a user of the tenant is covered by their licence and consumes nothing.
    let maria = login(&app, json!({"user": "maria"})).await.expect(200).json();
    assert_eq!(maria["internal"], true, "{maria}");
    assert_eq!(maria["charged"], false);
    assert!(
        maria["rules"].as_array().unwrap().contains(&json!("PORTAL-4")),
        "{maria}"
    );
    let report = app
        .get(&format!("{T}/consumption?month=2024-06"), ADMIN)
        .await
        .expect(200)
        .json();
    assert_eq!(report["portals"][0]["portal"], "buyers");
    assert_eq!(report["portals"][0]["logins"]["used"], 6, "{report}");
    assert_eq!(report["portals"][1]["logins"]["used"], 2, "{report}");
}
on_every_backend!(
    portal_2_day_passes_over_http,
    portal_2_passes_replays_and_internal_users
);

async fn bad_input_names_the_field_and_changes_nothing(backend: Backend) {
    let app = app(backend).await;
    let cases = [
        (
            format!("{T}/portals/nope/logins"),
            json!({"user": "x"}),
            404,
            "/portal",
        ),
        (
            format!("{T}/portals/buyers/logins"),
            json!({"user": "x", "at": "2024-06-01T00:00:00Z"}),
            422,
            "/at",
        ),
        (
            format!("{T}/portals/buyers/logins"),
            json!({"user": "x", "at": "2024-06-21T00:00:01Z"}),
            422,
            "/at",
        ),
        (
            format!("{T}/portals/buyers/logins"),
            json!({"user": ""}),
            422,
            "/user",
        ),
        (
            format!("{T}/portals/buyers/page-views"),
            json!({"count": 0}),
            422,
            "/count",
        ),
        (
            format!("{T}/portals/buyers/page-views"),
            json!({"count": -3}),
            422,
            "/count",
        ),
        (
            format!("{T}/environments/nowhere/ai-credits:consume"),
            json!({"credits": 5}),
            404,
            "/environment",
        ),
    ];
    for (path, body, status, pointer) in cases {
        let p = app.post(&path, ADMIN, body.clone()).await.expect(status).json();
        assert_eq!(p["pointer"], pointer, "{path} {body}: {p}");
    }
    let bad_month = app
        .get(&format!("{T}/consumption?month=2024-6"), ADMIN)
        .await
        .expect(422)
        .json();
    assert_eq!(bad_month["pointer"], "query:month");
    let report = app
        .get(&format!("{T}/consumption?month=2024-06"), ADMIN)
        .await
        .expect(200)
        .json();
    assert_eq!(
        report["portals"][0]["logins"]["used"], 5,
        "nothing counted: {report}"
    );
    assert_eq!(report["portals"][0]["page_views"]["used"], 60_000, "{report}");
}
on_every_backend!(
    consumption_bad_input_is_refused_with_its_field,
    bad_input_names_the_field_and_changes_nothing
);

async fn ai_1_credits_never_overdraw(backend: Backend) {
    let app = app(backend).await;
    let path = format!("{T}/environments/prod/ai-credits:consume");
    // 650 of 1,000 used in June: 350 fit, then nothing.
    let ok = app
        .post(
            &path,
            ADMIN,
            json!({"credits": 350, "model": "invoice", "at": "2024-06-20T09:00:00Z"}),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(ok["used"], 1000, "{ok}");
    let over = app
        .post(&path, ADMIN, json!({"credits": 1, "at": "2024-06-20T09:01:00Z"}))
        .await
        .expect(409)
        .json();
    assert_eq!(over["rule"], "AI-1", "{over}");
    assert_eq!(over["fix"]["action"], "allocate-capacity", "{over}");
    // AI-2: a preview model is free even with nothing left.
    let preview = app
        .post(&path, ADMIN, json!({"credits": 500, "preview": true}))
        .await
        .expect(200)
        .json();
    assert_eq!(preview["consumed"], 0, "{preview}");
    // AI-1: an environment with no allocation may not draw on the pool (seed 000).
    let none = app
        .post(
            &format!("{T}/environments/default/ai-credits:consume"),
            ADMIN,
            json!({"credits": 1}),
        )
        .await
        .expect(409)
        .json();
    assert_eq!(none["rule"], "AI-1");
    let report = app
        .get(&format!("{T}/consumption?month=2024-06"), ADMIN)
        .await
        .expect(200)
        .json();
    assert_eq!(report["environments"][0]["credits"]["used"], 1000, "{report}");
}
on_every_backend!(
    ai_1_credits_are_never_overdrawn_over_http,
    ai_1_credits_never_overdraw
);

async fn statement_csv_and_export(backend: Backend) {
    let app = app(backend).await;
    let csv = app
        .get(&format!("{T}/consumption?month=2024-06&format=csv"), ADMIN)
        .await
        .expect(200);
    assert!(csv.header("content-type").unwrap_or("").starts_with("text/csv"));
    let text = csv.text.clone();
    assert!(
        text.starts_with(
            "Month,Environment ID,Resource Type,Resource ID,Unit,Entitled Quantity,Consumed Quantity"
        ),
        "{text}"
    );
    assert!(
        text.contains("2024-06,prod,Portal,buyers,page views,50000,60000,0,10000,over"),
        "{text}"
    );
    let st = app
        .get(&format!("{T}/statement?month=2024-06"), ADMIN)
        .await
        .expect(200)
        .json();
    assert_eq!(st["month"], "2024-06");
    assert_eq!(st["previous_month"], "2024-05");
    assert_eq!(st["overage_total"]["EUR"], "100.00", "{st}");
    assert_eq!(st["overage_total"]["USD"], "80.00", "{st}");
    let change = st["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["what"] == "portal-logins" && c["of"] == "buyers")
        .cloned();
    assert_eq!(
        change,
        Some(json!({"what": "portal-logins", "of": "buyers", "before": "3", "now": "5"})),
        "{st}"
    );
    // The export writes the history and the new event back as [[consumption]].
    login(&app, json!({"user": "contact-zed", "at": "2024-06-20T10:00:00Z"}))
        .await
        .expect(200);
    let export = app
        .get(&format!("{T}/export?format=json"), ADMIN)
        .await
        .expect(200)
        .json();
    assert_eq!(
        export["consumption"].as_array().map(Vec::len),
        Some(17),
        "{}",
        export["consumption"]
    );
}
on_every_backend!(statement_report_csv_and_lossless_export, statement_csv_and_export);

async fn portal_3_5_6_and_ai_2_name_their_rules(backend: Backend) {
    // The clock at the end of 3 June: the last days of May are at most 7 days old.
    let app = spawn_with(
        backend,
        Opts {
            today: NaiveDate::from_ymd_opt(2024, 6, 3),
            ..Opts::default()
        },
    )
    .await;
    let toml = std::fs::read_to_string(workspace().join("examples/portal-consumption.toml")).unwrap();
    app.create_tenant_toml(&toml, None).await.expect(201);
    // PORTAL-3: page views counted in the month of their time, named in the answer.
    let v = app
        .post(
            &format!("{T}/portals/sellers/page-views"),
            ADMIN,
            json!({"count": 1200, "at": "2024-06-02T10:00:00Z"}),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(v["used"], 1200, "{v}");
    assert!(v["rules"].as_array().unwrap().contains(&json!("PORTAL-3")), "{v}");
    // PORTAL-6: an event of the last days of May counts in May (still open), and June starts from June's own.
    let may = login(&app, json!({"user": "contact-may", "at": "2024-05-31T22:00:00Z"}))
        .await
        .expect(200)
        .json();
    assert_eq!(may["month"], "2024-05", "{may}");
    assert_eq!(may["used"], 4, "May had 3 passes on `buyers`: {may}");
    assert!(may["rules"].as_array().unwrap().contains(&json!("PORTAL-6")));
    // AI-2: a preview model is free; named.
    let p = app
        .post(
            &format!("{T}/environments/prod/ai-credits:consume"),
            ADMIN,
            json!({"credits": 50, "preview": true}),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(p["consumed"], 0, "{p}");
    assert!(p["rules"].as_array().unwrap().contains(&json!("AI-2")), "{p}");
}
on_every_backend!(
    portal_3_portal_6_ai_2_answers_name_their_rules,
    portal_3_5_6_and_ai_2_name_their_rules
);

/// PORTAL-5 under the `refuse` policy: past the allocation a login is refused with the rule and what to buy.
async fn portal_5_refuse(backend: Backend) {
    let app = spawn_with(
        backend,
        Opts {
            today: NaiveDate::from_ymd_opt(2024, 6, 20),
            ..Opts::default()
        },
    )
    .await;
    let toml = std::fs::read_to_string(workspace().join("examples/portal-consumption.toml"))
        .unwrap()
        .replace(
            "at = \"2024-06-20\"",
            "at = \"2024-06-20\"\nportal_overage = \"refuse\"",
        );
    app.create_tenant_toml(&toml, None).await.expect(201);
    // `sellers` has 1 pass of 100 in June: 99 more fit.
    for i in 0..99 {
        login_to(&app, "sellers", &format!("c-{i}")).await.expect(200);
    }
    let over = login_to(&app, "sellers", "c-last").await.expect(409).json();
    assert_eq!(over["rule"], "PORTAL-5", "{over}");
    assert_eq!(over["fix"]["sku"], "portal-logins-tier-1", "{over}");
    // Nothing counted; a login inside an open pass still goes through (it costs nothing).
    login_to(&app, "sellers", "c-0").await.expect(200);
    let r = app
        .get(&format!("{T}/consumption?month=2024-06"), ADMIN)
        .await
        .expect(200)
        .json();
    assert_eq!(r["portals"][1]["logins"]["used"], 100, "{r}");
}
on_every_backend!(portal_5_refuse_policy_stops_at_the_allocation, portal_5_refuse);

async fn login_to(app: &TestApp, portal: &str, user: &str) -> common::Resp {
    app.post(
        &format!("{T}/portals/{portal}/logins"),
        ADMIN,
        json!({"user": user}),
    )
    .await
}

/// CAP-5 and CAP-6: storage reported by a platform counts against the pools; an environment that gets a
/// database while less than 1 GB is free is refused, whichever route gives it one.
async fn cap_5_cap_6(backend: Backend) {
    let app = app(backend).await;
    let put = app
        .put(
            &format!("{T}/environments/prod/storage"),
            ADMIN,
            None,
            json!({"database_mb": 20000, "file_mb": 100, "log_mb": 5}),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(put["storage"]["database_mb"], 20000, "{put}");
    let r = app
        .get(&format!("{T}/consumption?month=2024-06"), ADMIN)
        .await
        .expect(200)
        .json();
    let db = r["storage"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pool"] == "database")
        .unwrap()
        .clone();
    assert_eq!(db["mb"]["used"], 20000, "{r}");
    assert_eq!(db["mb"]["state"], "over");
    assert!(r["rules"].as_array().unwrap().contains(&json!("CAP-6")), "{r}");
    let bad = app
        .put(
            &format!("{T}/environments/prod/storage"),
            ADMIN,
            None,
            json!({"database_mb": 1, "file_mb": 1}),
        )
        .await
        .expect(422)
        .json();
    assert!(bad["detail"].as_str().unwrap().contains("log_mb"), "{bad}");
    // CAP-5: a new environment with a database, and a database attached to one that had none: both refused.
    let new_env = app
        .post(
            &format!("{T}/environments"),
            ADMIN,
            json!({"id": "eu", "dataverse": true}),
        )
        .await
        .expect(409)
        .json();
    assert_eq!(new_env["rule"], "CAP-5", "{new_env}");
    assert_eq!(new_env["fix"]["sku"], "dataverse-database-capacity", "{new_env}");
    app.post(&format!("{T}/environments"), ADMIN, json!({"id": "eu"}))
        .await
        .expect(201);
    let etag = app
        .get(&format!("{T}/environments/eu"), ADMIN)
        .await
        .expect(200)
        .etag();
    let attach = app
        .patch(
            &format!("{T}/environments/eu"),
            ADMIN,
            Some(&etag),
            json!({"dataverse": true}),
        )
        .await
        .expect(409)
        .json();
    assert_eq!(attach["rule"], "CAP-5", "{attach}");
    // Once storage is back under the pools, the same change goes through.
    app.put(
        &format!("{T}/environments/prod/storage"),
        ADMIN,
        None,
        json!({"database_mb": 100, "file_mb": 100, "log_mb": 5}),
    )
    .await
    .expect(200);
    let etag = app
        .get(&format!("{T}/environments/eu"), ADMIN)
        .await
        .expect(200)
        .etag();
    app.patch(
        &format!("{T}/environments/eu"),
        ADMIN,
        Some(&etag),
        json!({"dataverse": true}),
    )
    .await
    .expect(200);
}
on_every_backend!(cap_5_cap_6_storage_and_new_databases, cap_5_cap_6);

/// PORTAL-5 and AI-1 on writes: an allocation below the minimum is 422 naming the field, allocations beyond what
/// the tenant bought are 409, and neither changes anything.
async fn portal_5_ai_1_allocations(backend: Backend) {
    let app = app(backend).await;
    let etag = app
        .get(&format!("{T}/apps/sellers"), ADMIN)
        .await
        .expect(200)
        .etag();
    let low = app
        .patch(
            &format!("{T}/apps/sellers"),
            ADMIN,
            Some(&etag),
            json!({"logins": 50}),
        )
        .await
        .expect(422)
        .json();
    assert_eq!(low["pointer"], "/logins", "{low}");
    assert_eq!(low["rule"], "PORTAL-5", "{low}");
    let low_views = app
        .patch(
            &format!("{T}/apps/sellers"),
            ADMIN,
            Some(&etag),
            json!({"page_views": 10}),
        )
        .await
        .expect(422)
        .json();
    assert_eq!(low_views["pointer"], "/page_views", "{low_views}");
    // 200 logins bought, 100 + 100 allocated: 150 more is over.
    let over = app
        .patch(
            &format!("{T}/apps/sellers"),
            ADMIN,
            Some(&etag),
            json!({"logins": 250}),
        )
        .await
        .expect(409)
        .json();
    assert_eq!(over["pointer"], "/logins", "{over}");
    assert_eq!(over["rule"], "PORTAL-5", "{over}");
    let after = app
        .get(&format!("{T}/apps/sellers"), ADMIN)
        .await
        .expect(200)
        .json();
    assert_eq!(after["logins"], 100, "unchanged: {after}");
    // AI-1: credits allocated in credits, within the 1,001,000 the tenant has a month; beyond is refused.
    let ok = app
        .patch(
            &format!("{T}/environments/prod/allocations"),
            ADMIN,
            None,
            json!({"currencyAllocations": [{"currencyType": "ai-builder-capacity", "allocated": 5000}]}),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let too_much = app
        .patch(
            &format!("{T}/environments/prod/allocations"),
            ADMIN,
            None,
            json!({"currencyAllocations": [{"currencyType": "ai-builder-capacity", "allocated": 2_000_000}]}),
        )
        .await
        .expect(409)
        .json();
    // The route merges into the environment, so the field named is the environment's allocations.
    assert_eq!(too_much["pointer"], "/environments/1/allocations", "{too_much}");
    assert_eq!(too_much["rule"], "AI-1", "{too_much}");
    let env = app
        .get(&format!("{T}/environments/prod/allocations"), ADMIN)
        .await
        .expect(200)
        .json();
    assert!(env.to_string().contains("5000"), "unchanged: {env}");
}
on_every_backend!(
    portal_5_ai_1_allocations_are_checked_on_every_write,
    portal_5_ai_1_allocations
);
