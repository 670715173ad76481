//! Dataverse capacity (CAP-1 … CAP-6): the tenant's database, file and log pools, where each MB comes from, and
//! whether an environment with a database can still be created.

use serde::Serialize;

use crate::catalog::{Kind, SkuIdx};
use crate::rule::Rule;
use crate::scenario::EnvironmentKind;
use crate::snapshot::Snapshot;

/// One contribution to the pools.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CapacitySource {
    pub rule: Rule,
    /// `tenant default` or a SKU id.
    pub source: String,
    pub units: u64,
    pub database_mb: u64,
    pub file_mb: u64,
    pub log_mb: u64,
}

/// The tenant's capacity (1 GB = 1,000 MB).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capacity {
    pub database_mb: u64,
    pub file_mb: u64,
    pub log_mb: u64,
    pub sources: Vec<CapacitySource>,
    /// Storage in use by counted environments (CAP-6), and what is left (negative: over capacity).
    pub used_database_mb: u64,
    pub used_file_mb: u64,
    pub used_log_mb: u64,
    pub free_database_mb: i64,
    pub free_file_mb: i64,
    pub free_log_mb: i64,
    /// CAP-5: at least the minimum database capacity is free, so an environment with Dataverse can be created.
    pub can_create_environment: bool,
    pub rules: Vec<Rule>,
}

/// Works out the tenant's pools.
pub fn capacity(snap: &Snapshot) -> Capacity {
    let catalog = snap.catalog();
    let terms = &catalog.terms.capacity;
    let mut rules = vec![Rule::Cap1];
    let mut sources = Vec::new();
    let mut units: Vec<(SkuIdx, u64)> = snap
        .tenant()
        .units
        .iter()
        .map(|(s, n)| (*s, *n))
        .filter(|(_, n)| *n > 0)
        .collect();
    units.sort();

    // CAP-2: the first qualifying subscription gives a one-time default; later ones add only their accruals.
    let qualifies = units.iter().any(|(s, _)| {
        catalog
            .sku(*s)
            .is_some_and(|d| d.grants.tenant_default_capacity && matches!(d.kind, Kind::Paid | Kind::Seeded))
    });
    if qualifies {
        rules.push(Rule::Cap2);
        sources.push(CapacitySource {
            rule: Rule::Cap2,
            source: "tenant default".to_owned(),
            units: 1,
            database_mb: terms.default_database_mb,
            file_mb: terms.default_file_mb,
            log_mb: terms.default_log_mb,
        });
    }
    // CAP-3 (licences) and CAP-4 (capacity add-ons): per unit.
    for (s, n) in &units {
        let Some(d) = catalog.sku(*s) else { continue };
        let g = &d.grants;
        if matches!(d.kind, Kind::Trial | Kind::Free) {
            if !rules.contains(&Rule::Cat10) {
                rules.push(Rule::Cat10); // trials never add paid capacity
            }
            continue;
        }
        if g.database_mb == 0 && g.file_mb == 0 && g.log_mb == 0 {
            continue;
        }
        let rule = if d.scope == crate::catalog::Scope::Tenant {
            Rule::Cap4
        } else {
            Rule::Cap3
        };
        if !rules.contains(&rule) {
            rules.push(rule);
        }
        sources.push(CapacitySource {
            rule,
            source: d.id.clone(),
            units: *n,
            database_mb: g.database_mb.saturating_mul(*n),
            file_mb: g.file_mb.saturating_mul(*n),
            log_mb: g.log_mb.saturating_mul(*n),
        });
    }
    let database_mb = sources
        .iter()
        .map(|s| s.database_mb)
        .fold(0u64, u64::saturating_add);
    let file_mb = sources.iter().map(|s| s.file_mb).fold(0u64, u64::saturating_add);
    let log_mb = sources.iter().map(|s| s.log_mb).fold(0u64, u64::saturating_add);

    // CAP-6: what environments store counts against the pools; trial, developer and Teams environments do not.
    let mut used = (0u64, 0u64, 0u64);
    for e in &snap.scenario().environments {
        if matches!(
            e.kind,
            EnvironmentKind::Trial | EnvironmentKind::Developer | EnvironmentKind::Teams
        ) {
            continue;
        }
        if let Some(st) = e.storage {
            used.0 = used.0.saturating_add(st.database_mb);
            used.1 = used.1.saturating_add(st.file_mb);
            used.2 = used.2.saturating_add(st.log_mb);
        }
    }
    if used != (0, 0, 0) {
        rules.push(Rule::Cap6);
    }
    let free = |total: u64, used: u64| {
        i64::try_from(total).unwrap_or(i64::MAX) - i64::try_from(used).unwrap_or(i64::MAX)
    };
    let free_database_mb = free(database_mb, used.0);
    rules.push(Rule::Cap5);
    Capacity {
        database_mb,
        file_mb,
        log_mb,
        sources,
        used_database_mb: used.0,
        used_file_mb: used.1,
        used_log_mb: used.2,
        free_database_mb,
        free_file_mb: free(file_mb, used.1),
        free_log_mb: free(log_mb, used.2),
        can_create_environment: free_database_mb
            >= i64::try_from(terms.environment_min_database_mb).unwrap_or(i64::MAX),
        rules,
    }
}
