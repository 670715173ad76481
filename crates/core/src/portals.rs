//! Portals (PORTAL-5): logins and page views allocated to portals, at least the minimum per portal and no more
//! than the tenant bought.

use crate::catalog::Kind;
use crate::decision::Finding;
use crate::rule::Rule;
use crate::scenario::AppKind;
use crate::snapshot::Snapshot;

/// Portal capacity a tenant bought, per month (PORTAL-6: nothing carries over).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PortalCapacity {
    pub logins: u64,
    pub page_views: u64,
    pub allocated_logins: u64,
    pub allocated_page_views: u64,
}

/// Checks the allocations of `[[apps]]` portals against PORTAL-5.
pub fn check(snap: &Snapshot) -> (PortalCapacity, Vec<Finding>) {
    let catalog = snap.catalog();
    let limits = &catalog.terms.limits;
    let mut cap = PortalCapacity::default();
    for (s, n) in &snap.tenant().units {
        if let Some(d) = catalog.sku(*s).filter(|d| d.kind == Kind::Paid) {
            cap.logins = cap
                .logins
                .saturating_add(d.grants.portal_logins.saturating_mul(*n));
            cap.page_views = cap
                .page_views
                .saturating_add(d.grants.page_views.saturating_mul(*n));
        }
    }
    let portals: Vec<_> = snap
        .scenario()
        .apps
        .iter()
        .filter(|a| a.kind == AppKind::Portal)
        .collect();
    cap.allocated_logins = portals
        .iter()
        .filter_map(|a| a.logins)
        .fold(0, u64::saturating_add);
    cap.allocated_page_views = portals
        .iter()
        .filter_map(|a| a.page_views)
        .fold(0, u64::saturating_add);
    let mut findings = Vec::new();
    // The same two checks for each measure: at least the minimum per portal, no more than was bought.
    let measures = [
        (
            "logins",
            limits.min_logins_per_portal,
            cap.logins,
            cap.allocated_logins,
        ),
        (
            "page views",
            limits.min_page_views_per_portal,
            cap.page_views,
            cap.allocated_page_views,
        ),
    ];
    for (what, minimum, bought, allocated) in measures {
        for a in &portals {
            let given = if what == "logins" { a.logins } else { a.page_views };
            if let Some(v) = given.filter(|v| *v > 0 && *v < minimum) {
                findings.push(Finding::new(
                    Rule::Portal5,
                    format!(
                        "portal `{}` is allocated {v} {what}; at least {minimum} per portal",
                        a.id
                    ),
                ));
            }
        }
        if allocated > bought {
            findings.push(Finding::new(
                Rule::Portal5,
                format!("{allocated} {what} are allocated to portals but {bought} were bought"),
            ));
        }
    }
    (cap, findings)
}
