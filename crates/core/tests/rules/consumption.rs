//! PORTAL-2, PORTAL-3, PORTAL-5, PORTAL-6, AI-1, AI-2, CAP-5, CAP-6 as consumed: a scenario's `[[consumption]]`
//! counted offline (the ledger the server uses), and the month's report with the rules it applied.

use super::common::*;

use entitle_core::consumption::{Report, months, offline, report};
use entitle_ledger::Month;

const TENANT: &str = r#"
[[subscriptions]]
sku = "portal-logins-tier-1"
quantity = 1
start = "2024-01-01"

[[subscriptions]]
sku = "portal-page-views"
quantity = 1
start = "2024-01-01"

[[subscriptions]]
sku = "ai-builder-capacity"
quantity = 1
start = "2024-01-01"

[[subscriptions]]
sku = "power-apps-per-user"
quantity = 1
start = "2024-01-01"

[[environments]]
id = "prod"
dataverse = true
allocations = { ai-builder-capacity = 1000 }

[[apps]]
id = "members"
environment = "prod"
kind = "portal"
logins = 100
page_views = 50000
"#;

fn login(user: &str, at: &str) -> String {
    format!(
        "\n[[consumption]]\nkind = \"portal-login\"\nportal = \"members\"\nuser = \"{user}\"\nat = \"{at}\"\n"
    )
}

fn month_report(body: &str, month: &str) -> (Report, Vec<(usize, String)>) {
    let s = snap(&format!("{TENANT}{body}"), "2024-06-30");
    let o = offline(&s);
    let m: Month = month.parse().unwrap_or_else(|e| panic!("{e}"));
    let usage = o.ledger.usage("contoso", &["members"], &["prod", "default"], m);
    (report(&s, m, &usage), o.refused)
}

fn has(r: &Report, id: &str) -> bool {
    r.rules.contains(&rule(id))
}

#[test]
fn portal_2_logins_within_24_hours_are_one_day_pass() {
    let body = [
        login("ann", "2024-06-03T08:00:00Z"),
        login("ann", "2024-06-03T20:00:00Z"),
        login("ann", "2024-06-04T07:59:59Z"),
        login("ann", "2024-06-04T08:00:00Z"),
        login("bob", "2024-06-03T20:00:00Z"),
    ]
    .concat();
    let (r, refused) = month_report(&body, "2024-06");
    let mut c = checks();
    c.eq(
        "ann: two passes (the fourth login is 24 hours after the first), bob: one",
        r.portals[0].logins.used,
        3,
    );
    c.ok("nothing refused", refused.is_empty());
    c.ok("PORTAL-2 in the report's rules", has(&r, "PORTAL-2"));
}

#[test]
fn portal_3_page_views_are_counted_per_portal_and_month() {
    let views = |n: u64, at: &str| {
        format!(
            "\n[[consumption]]\nkind = \"page-views\"\nportal = \"members\"\ncount = {n}\nat = \"{at}\"\n"
        )
    };
    let body = [
        views(30_000, "2024-06-02T00:00:00Z"),
        views(25_000, "2024-06-20T00:00:00Z"),
    ]
    .concat();
    let (r, _) = month_report(&body, "2024-06");
    let mut c = checks();
    c.eq("55,000 page views", r.portals[0].page_views.used, 55_000);
    c.eq(
        "5,000 over the 50,000 allocated",
        r.portals[0].page_views.over,
        5_000,
    );
    c.ok(
        "the fix is a page-view pack",
        r.portals[0]
            .fixes
            .iter()
            .any(|f| f.sku == "portal-page-views" && f.units == 1),
    );
    c.ok("PORTAL-3 in the report's rules", has(&r, "PORTAL-3"));
}

#[test]
fn portal_5_logins_past_the_allocation_are_refused_under_refuse() {
    let mut body: Vec<String> = (0..101)
        .map(|i| login(&format!("c{i}"), "2024-06-03T08:00:00Z"))
        .collect();
    body.insert(0, String::new());
    let scenario = format!("{HEAD}{TENANT}{}", body.concat()).replace(
        "country = \"NL\"",
        "country = \"NL\"\nportal_overage = \"refuse\"",
    );
    let s = snap_of(&scenario, "2024-06-30");
    let o = offline(&s);
    let m = Month::new(2024, 6).unwrap_or_else(|| panic!("month"));
    let usage = o.ledger.usage("contoso", &["members"], &["prod"], m);
    let r = report(&s, m, &usage);
    let mut c = checks();
    c.eq("the 100 allocated are used", r.portals[0].logins.used, 100);
    c.eq("the 101st is refused", o.refused.len(), 1);
    c.ok(
        "refused for the allocation",
        o.refused.iter().all(|(_, why)| why.contains("refuses more")),
    );
    c.ok("PORTAL-5 in the report's rules", has(&r, "PORTAL-5"));
}

#[test]
fn portal_6_a_month_starts_from_nothing() {
    let body = [
        login("ann", "2024-05-10T08:00:00Z"),
        login("bob", "2024-05-11T08:00:00Z"),
        login("ann", "2024-06-10T08:00:00Z"),
    ]
    .concat();
    let (may, _) = month_report(&body, "2024-05");
    let (june, _) = month_report(&body, "2024-06");
    let mut c = checks();
    c.eq("May: 2 passes", may.portals[0].logins.used, 2);
    c.eq(
        "June: 1 pass, May's count does not carry over",
        june.portals[0].logins.used,
        1,
    );
    c.eq(
        "June's remaining is the whole allocation less June's",
        june.portals[0].logins.remaining,
        99,
    );
    c.ok("PORTAL-6 in the report's rules", has(&june, "PORTAL-6"));
    let s = snap(&format!("{TENANT}{body}"), "2024-06-30");
    c.eq(
        "the months with records",
        months(&s).iter().map(ToString::to_string).collect::<Vec<_>>(),
        vec!["2024-05".to_owned(), "2024-06".to_owned()],
    );
}

fn credits(n: u64, at: &str, preview: bool) -> String {
    format!(
        "\n[[consumption]]\nkind = \"ai-credits\"\nenvironment = \"prod\"\ncredits = {n}\nat = \"{at}\"\n{}",
        if preview { "preview = true\n" } else { "" }
    )
}

#[test]
fn ai_1_credits_past_the_environments_allocation_are_refused() {
    let body = [
        credits(700, "2024-06-03T08:00:00Z", false),
        credits(400, "2024-06-04T08:00:00Z", false),
        credits(300, "2024-06-05T08:00:00Z", false),
    ]
    .concat();
    let (r, refused) = month_report(&body, "2024-06");
    let mut c = checks();
    c.eq(
        "700 + 300 of 1,000 allocated",
        r.environments[0].credits.used,
        1_000,
    );
    c.eq("the 400 that did not fit are refused", refused.len(), 1);
    c.eq(
        "drawn from the environment's allocation",
        r.environments[0].source,
        "allocation",
    );
    c.ok("AI-1 in the report's rules", has(&r, "AI-1"));
}

#[test]
fn ai_2_preview_models_count_nothing_and_each_month_is_enforced_alone() {
    let body = [
        credits(1_000, "2024-05-31T23:00:00Z", false),
        credits(900, "2024-06-01T01:00:00Z", false),
        credits(5_000, "2024-06-02T00:00:00Z", true),
    ]
    .concat();
    let (may, refused) = month_report(&body, "2024-05");
    let (june, _) = month_report(&body, "2024-06");
    let mut c = checks();
    c.eq(
        "May uses its whole allocation",
        may.environments[0].credits.used,
        1_000,
    );
    c.eq(
        "June has its own 1,000 (the capacity is enforced per month)",
        june.environments[0].credits.used,
        900,
    );
    c.ok("the preview's 5,000 are free", refused.is_empty());
    c.ok("AI-2 in the report's rules", has(&june, "AI-2"));
}

#[test]
fn cap_6_storage_in_use_is_reported_against_the_pools_with_the_fix() {
    let body = TENANT.replace("allocations = { ai-builder-capacity = 1000 }", "allocations = { ai-builder-capacity = 1000 }\nstorage = { database_mb = 20000, file_mb = 100, log_mb = 10 }");
    let s = snap(&body, "2024-06-30");
    let m = Month::new(2024, 6).unwrap_or_else(|| panic!("month"));
    let r = report(
        &s,
        m,
        &offline(&s).ledger.usage("contoso", &["members"], &["prod"], m),
    );
    let db = r
        .storage
        .iter()
        .find(|p| p.pool == "database")
        .unwrap_or_else(|| panic!("no database pool"));
    let mut c = checks();
    c.eq("database in use", db.mb.used, 20_000);
    c.eq("over", db.mb.state, "over");
    c.ok(
        "the fix is database capacity",
        db.fix
            .as_ref()
            .is_some_and(|f| f.sku == "dataverse-database-capacity" && f.adds >= db.mb.over),
    );
    c.ok("CAP-6 in the report's rules", has(&r, "CAP-6"));
    c.ok(
        "CAP-5: no new environment with a database while over",
        has(&r, "CAP-5"),
    );
}
