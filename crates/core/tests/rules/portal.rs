//! PORTAL-1 … PORTAL-6: provisioning, logins, page views and their monthly allocation to portals (seed 000).

use super::common::*;

use entitle_core::portals::check;

fn portals(logins: [u64; 3], views: [u64; 3]) -> String {
    let mut body = String::from(
        r#"
[[subscriptions]]
sku = "portal-logins-tier-1"
quantity = 4

[[subscriptions]]
sku = "portal-page-views"
quantity = 2
"#,
    );
    for (i, (l, v)) in logins.iter().zip(views.iter()).enumerate() {
        body.push_str(&format!(
            "\n[[apps]]\nid = \"portal-{}\"\nenvironment = \"default\"\nkind = \"portal\"\nlogins = {l}\npage_views = {v}\n",
            i + 1
        ));
    }
    body
}

/// FACTS case 21: 4 login packs (400 logins) over 3 portals as 120, 151, 129 is valid; page views at least 50,000
/// per portal.
#[test]
fn portal_5_valid_allocation_120_151_129() {
    let s = snap(&portals([120, 151, 129], [50_000, 50_000, 100_000]), "2024-06-01");
    let (cap, findings) = check(&s);
    let mut c = checks();
    c.eq("logins bought", cap.logins, 400);
    c.eq("logins allocated", cap.allocated_logins, 400);
    c.eq("page views bought", cap.page_views, 200_000);
    c.ok(&format!("no problem: {findings:?}"), findings.is_empty());
}

/// Any portal below 100 logins, or below 50,000 page views, is invalid.
#[test]
fn portal_5_minimum_100_logins_and_50000_page_views_per_portal() {
    let mut c = checks();
    let (_, findings) = check(&snap(
        &portals([99, 151, 150], [50_000, 50_000, 50_000]),
        "2024-06-01",
    ));
    c.ok("99 logins: a problem", !findings.is_empty());
    c.finding("99 logins", &findings, "PORTAL-5");
    let (_, findings) = check(&snap(
        &portals([120, 151, 129], [49_999, 50_000, 50_000]),
        "2024-06-01",
    ));
    c.ok("49,999 page views: a problem", !findings.is_empty());
    c.finding("49,999 page views", &findings, "PORTAL-5");
}

/// No more than the tenant bought can be allocated.
#[test]
fn portal_5_allocations_within_what_was_bought() {
    let (_, findings) = check(&snap(
        &portals([120, 151, 130], [50_000, 50_000, 100_000]),
        "2024-06-01",
    ));
    let mut c = checks();
    c.ok("401 of 400 logins: a problem", !findings.is_empty());
    c.finding("401 logins", &findings, "PORTAL-5");
    let (_, findings) = check(&snap(
        &portals([120, 151, 129], [50_000, 50_000, 100_001]),
        "2024-06-01",
    ));
    c.finding("200,001 of 200,000 page views", &findings, "PORTAL-5");
}

// ------------------------------------------------------------------------------------------------ PORTAL-1 … 3, 6

/// A portal exists with no portal capacity bought at all; an internal user with Power Apps per user uses it, and
/// the decision names PORTAL-1.
#[test]
fn portal_1_a_portal_needs_no_licence_to_exist() {
    let s = snap(
        r#"
[[users]]
id = "ann"
licenses = ["power-apps-per-user"]

[[apps]]
id = "partners"
environment = "default"
kind = "portal"
"#,
        "2024-06-01",
    );
    let (cap, findings) = check(&s);
    let d = app(&s, "partners", "ann");
    let mut c = checks();
    c.eq("logins bought", cap.logins, 0);
    c.ok(&format!("no portal problem: {findings:?}"), findings.is_empty());
    c.eq("internal user allowed", d.allowed, true);
    c.names("trace", d.trace.as_slice(), "PORTAL-1");
}

/// A login pack is 100 day passes a month (one pass per user, portal and 24 hours): two packs give 200, and the
/// SKU rests on PORTAL-2.
#[test]
fn portal_2_a_login_pack_is_100_day_passes_a_month() {
    let s = snap(
        "\n[[subscriptions]]\nsku = \"portal-logins-tier-1\"\nquantity = 2\n",
        "2024-06-01",
    );
    let (cap, _) = check(&s);
    let mut c = checks();
    c.eq(
        "logins per pack",
        catalog()
            .sku_by_id("portal-logins-tier-1")
            .map(|d| d.grants.portal_logins),
        Some(100),
    );
    c.eq("two packs", cap.logins, 200);
    c.sku_rests_on("portal-logins-tier-1", "PORTAL-2");
}

/// Anonymous use is bought as page views, 100,000 a pack, and the SKU rests on PORTAL-3.
#[test]
fn portal_3_anonymous_use_is_bought_as_page_views() {
    let s = snap(
        "\n[[subscriptions]]\nsku = \"portal-page-views\"\nquantity = 3\n",
        "2024-06-01",
    );
    let (cap, _) = check(&s);
    let mut c = checks();
    c.eq("page views of three packs", cap.page_views, 300_000);
    c.eq("no logins from page views", cap.logins, 0);
    c.sku_rests_on("portal-page-views", "PORTAL-3");
}

/// Capacity is a monthly figure: a pack that ended last month gives nothing this month (no carry-over), so last
/// month's allocations are now beyond what the tenant has. The login and page view SKUs rest on PORTAL-6.
#[test]
fn portal_6_capacity_is_monthly_and_nothing_carries_over() {
    let body = |end: &str| {
        format!(
            r#"
[[subscriptions]]
sku = "portal-logins-tier-1"
quantity = 1
start = "2024-01-01"
end = "{end}"

[[apps]]
id = "partners"
environment = "default"
kind = "portal"
logins = 100
"#
        )
    };
    let mut c = checks();
    let (cap, findings) = check(&snap(&body("2024-07-01"), "2024-06-15"));
    c.eq("in force: 100 logins this month", cap.logins, 100);
    c.ok(&format!("in force: no problem {findings:?}"), findings.is_empty());
    let (cap, findings) = check(&snap(&body("2024-06-01"), "2024-06-15"));
    c.eq("ended last month: nothing this month", cap.logins, 0);
    c.finding("allocation left over from last month", &findings, "PORTAL-5");
    for sku in [
        "portal-logins-tier-1",
        "portal-logins-tier-2",
        "portal-logins-tier-3",
        "portal-page-views",
    ] {
        c.sku_rests_on(sku, "PORTAL-6");
    }
}
