//! AI-1, AI-2: AI Builder credits, bought per tenant, allocated to environments, counted per month (seed 000).

use super::common::*;

use entitle_core::ai::credits;

fn tenant(units: u32, allocated: u64) -> String {
    format!(
        r#"
[[subscriptions]]
sku = "ai-builder-capacity"
quantity = {units}

[[environments]]
id = "prod"
dataverse = true
allocations = {{ ai-builder-capacity = {allocated} }}
"#
    )
}

/// Credits are the tenant's: an admin allocates them to environments, and allocating more than the tenant has is
/// a finding under AI-1.
#[test]
fn ai_1_credits_are_bought_per_tenant_and_allocated_to_environments() {
    let mut c = checks();
    let (cr, findings) = credits(&snap(&tenant(1, 600_000), "2024-06-01"));
    c.eq("bought", cr.purchased, 1_000_000);
    c.eq("allocated to prod", cr.allocated, 600_000);
    c.eq("left to allocate", cr.unallocated, 400_000);
    c.ok(
        &format!("within what was bought: {findings:?}"),
        findings.is_empty(),
    );
    let (cr, findings) = credits(&snap(&tenant(1, 1_500_000), "2024-06-01"));
    c.eq("over-allocated", cr.unallocated, -500_000);
    c.finding("1,500,000 of 1,000,000 allocated", &findings, "AI-1");
}

/// The add-on is a monthly capacity: one unit is 1,000,000 credits a month, two units 2,000,000, whatever was
/// used before; the SKU rests on AI-2.
#[test]
fn ai_2_capacity_is_counted_per_month() {
    let mut c = checks();
    c.eq(
        "credits per unit per month",
        catalog()
            .sku_by_id("ai-builder-capacity")
            .map(|d| d.grants.ai_credits),
        Some(1_000_000),
    );
    let (cr, _) = credits(&snap(&tenant(2, 0), "2024-06-01"));
    c.eq("two units this month", cr.purchased, 2_000_000);
    c.sku_rests_on("ai-builder-capacity", "AI-2");
}
