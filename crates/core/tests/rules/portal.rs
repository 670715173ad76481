//! PORTAL-5: logins and page views allocated to portals (seed 000).

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
