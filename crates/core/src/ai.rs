//! AI Builder credits (AI-1, AI-2): bought per tenant, allocated to environments, enforced per month.

use serde::Serialize;

use crate::catalog::Kind;
use crate::decision::Finding;
use crate::rule::Rule;
use crate::snapshot::Snapshot;

/// A tenant's AI Builder credits per month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Credits {
    /// From add-ons (AI-1).
    pub purchased: u64,
    /// Seeded in licences, capped per tenant.
    pub seeded: u64,
    /// Allocated to environments.
    pub allocated: u64,
    pub unallocated: i64,
}

/// Credits, and allocations beyond what the tenant has (AI-1). Environment allocations of an AI Builder SKU
/// are counted in credits, as admins allocate them (SCENARIO.md's `ai-builder-credits = 500000`).
pub fn credits(snap: &Snapshot) -> (Credits, Vec<Finding>) {
    let catalog = snap.catalog();
    let mut c = Credits::default();
    for (s, n) in &snap.tenant().units {
        let Some(d) = catalog.sku(*s) else { continue };
        if d.kind == Kind::Paid && d.grants.ai_credits > 0 && snap.tenant().subscribed.contains(s) {
            c.purchased = c.purchased.saturating_add(d.grants.ai_credits.saturating_mul(*n));
        }
    }
    let seeded: u64 = snap
        .users()
        .flat_map(|(_, u)| u.skus.iter())
        .filter_map(|s| catalog.sku(*s))
        .map(|d| d.grants.ai_credits_seeded)
        .fold(0, u64::saturating_add);
    c.seeded = seeded.min(catalog.terms.limits.ai_seeded_cap);
    for e in &snap.scenario().environments {
        for (id, n) in &e.allocations {
            if catalog.sku_by_id(id).is_some_and(|d| d.grants.ai_credits > 0) {
                c.allocated = c.allocated.saturating_add(*n);
            }
        }
    }
    let available = c.purchased.saturating_add(c.seeded);
    c.unallocated =
        i64::try_from(available).unwrap_or(i64::MAX) - i64::try_from(c.allocated).unwrap_or(i64::MAX);
    let mut findings = Vec::new();
    if c.allocated > available {
        findings.push(Finding::new(
            Rule::Ai1,
            format!(
                "{} AI Builder credits are allocated to environments but the tenant has {available} a month",
                c.allocated
            ),
        ));
    }
    (c, findings)
}
