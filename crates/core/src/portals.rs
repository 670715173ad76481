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
    let mut findings = Vec::new();
    for a in snap.scenario().apps.iter().filter(|a| a.kind == AppKind::Portal) {
        if let Some(l) = a.logins {
            cap.allocated_logins = cap.allocated_logins.saturating_add(l);
            if l > 0 && l < limits.min_logins_per_portal {
                findings.push(Finding::new(
                    Rule::Portal5,
                    format!(
                        "portal `{}` is allocated {l} logins; at least {} per portal",
                        a.id, limits.min_logins_per_portal
                    ),
                ));
            }
        }
        if let Some(v) = a.page_views {
            cap.allocated_page_views = cap.allocated_page_views.saturating_add(v);
            if v > 0 && v < limits.min_page_views_per_portal {
                findings.push(Finding::new(
                    Rule::Portal5,
                    format!(
                        "portal `{}` is allocated {v} page views; at least {} per portal",
                        a.id, limits.min_page_views_per_portal
                    ),
                ));
            }
        }
    }
    if cap.allocated_logins > cap.logins {
        findings.push(Finding::new(
            Rule::Portal5,
            format!(
                "{} logins are allocated to portals but {} were bought",
                cap.allocated_logins, cap.logins
            ),
        ));
    }
    if cap.allocated_page_views > cap.page_views {
        findings.push(Finding::new(
            Rule::Portal5,
            format!(
                "{} page views are allocated to portals but {} were bought",
                cap.allocated_page_views, cap.page_views
            ),
        ));
    }
    (cap, findings)
}
