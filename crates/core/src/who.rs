//! "Who needs what" (`entitle audit --by user`): the audit turned around, per user — the rights held, what they own
//! and run, the flows of theirs at risk with the rule that decides each (FLOW-4, FLOW-9, FLOW-24, …), the gap and
//! the cheapest licence that closes it — and per SKU the units bought against the units assigned (BUY-6).
//!
//! Nothing is decided here: the per-flow decisions and fixes are the audit's ([`crate::audit::audit`]); this only
//! groups them by owner and picks, for each user, the licence that turns most of their flows, cheapest first.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use serde::Serialize;

use crate::audit::Audit;
use crate::catalog::Scope;
use crate::fixes::{Action, CheckedFix};
use crate::rule::Rule;
use crate::snapshot::Snapshot;

/// One user's row.
#[derive(Debug, Clone, Serialize)]
pub struct UserNeeds {
    pub user: String,
    pub kind: &'static str,
    /// SKU ids assigned.
    pub licenses: Vec<String>,
    /// The capabilities those licences grant (the rights the decisions test).
    pub rights: Vec<&'static str>,
    pub owns_flows: usize,
    pub owns_apps: usize,
    /// Flows this user invokes (instant flows, FLOW-3).
    pub runs_flows: usize,
    /// Their flows at risk, each with the rule that decides it.
    pub at_risk: Vec<NeedFlow>,
    /// The distinct rules behind the gap.
    pub rules: Vec<Rule>,
    /// Anything at risk.
    pub gap: bool,
    /// The licence (or other fix) that turns most of their flows at risk, cheapest among equals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cheapest_fix: Option<CheckedFix>,
    /// How many of their flows at risk that fix turns.
    pub fix_turns: usize,
}

/// A flow at risk, as the user's row lists it.
#[derive(Debug, Clone, Serialize)]
pub struct NeedFlow {
    pub flow: String,
    pub enforcement: &'static str,
    pub rule: Rule,
}

/// Units of one SKU: bought (subscriptions in force) against assigned (users, or environment allocations).
#[derive(Debug, Clone, Serialize)]
pub struct SkuUnits {
    pub sku: String,
    /// `None`: no subscription in the scenario (seeded licences are bought elsewhere, CAT-9).
    pub bought: Option<u64>,
    pub assigned: u64,
    /// Bought less assigned: negative when short (BUY-6).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spare: Option<i64>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct ByUser {
    pub tenant: String,
    pub at: NaiveDate,
    pub users: Vec<UserNeeds>,
    pub skus: Vec<SkuUnits>,
}

/// Groups the audit by owner and counts units per SKU.
pub fn by_user(snap: &Snapshot, audit: &Audit) -> ByUser {
    let scenario = snap.scenario();
    let mut risk: HashMap<&str, Vec<&crate::audit::AuditFlow>> = HashMap::new();
    for f in &audit.flows {
        risk.entry(f.owner.as_str()).or_default().push(f);
    }
    let mut owns_flows: HashMap<&str, usize> = HashMap::new();
    let mut runs: HashMap<&str, usize> = HashMap::new();
    for f in &scenario.flows {
        *owns_flows.entry(f.owner.as_str()).or_default() += 1;
        for u in &f.run_by {
            *runs.entry(u.as_str()).or_default() += 1;
        }
    }
    let mut owns_apps: HashMap<&str, usize> = HashMap::new();
    for a in &scenario.apps {
        if let Some(o) = &a.owner {
            *owns_apps.entry(o.as_str()).or_default() += 1;
        }
    }
    let users = snap
        .users()
        .map(|(idx, u)| {
            let id = snap.user_id(idx);
            let flows = risk.get(id).map(Vec::as_slice).unwrap_or_default();
            let mut rules: Vec<Rule> = flows.iter().map(|f| f.rule).collect();
            rules.sort_by_key(|r| r.id());
            rules.dedup();
            let (cheapest_fix, fix_turns) = best_fix(flows);
            UserNeeds {
                user: id.to_owned(),
                kind: u.kind.as_str(),
                licenses: scenario
                    .users
                    .iter()
                    .find(|s| s.id == id)
                    .map(|s| s.licenses.clone())
                    .unwrap_or_default(),
                rights: u.caps.iter().map(|c| c.as_str()).collect(),
                owns_flows: owns_flows.get(id).copied().unwrap_or(0),
                owns_apps: owns_apps.get(id).copied().unwrap_or(0),
                runs_flows: runs.get(id).copied().unwrap_or(0),
                at_risk: flows
                    .iter()
                    .map(|f| NeedFlow {
                        flow: f.flow.clone(),
                        enforcement: f.enforcement,
                        rule: f.rule,
                    })
                    .collect(),
                rules,
                gap: !flows.is_empty(),
                cheapest_fix,
                fix_turns,
            }
        })
        .collect();
    ByUser {
        tenant: audit.tenant.clone(),
        at: audit.at,
        users,
        skus: units(snap),
    }
}

/// The fix that turns most of these flows (a licence for their owner usually turns all of them; a process
/// licence turns one), cheapest among those that turn as many.
fn best_fix(flows: &[&crate::audit::AuditFlow]) -> (Option<CheckedFix>, usize) {
    let mut tally: BTreeMap<(String, Option<String>), (usize, &CheckedFix)> = BTreeMap::new();
    for f in flows {
        for fix in &f.fixes {
            let key = (format!("{:?}", fix.fix.action), fix.fix.sku.clone());
            let per_flow = fix.fix.action != Action::AssignLicense;
            let e = tally.entry(key).or_insert((0, fix));
            if !per_flow || e.0 == 0 {
                e.0 += 1;
            }
        }
    }
    let cost = |f: &CheckedFix| f.fix.monthly_cost.as_ref().map(|m| m.amount).unwrap_or_default();
    tally
        .into_values()
        .max_by(|(n1, f1), (n2, f2)| n1.cmp(n2).then_with(|| cost(f2).cmp(&cost(f1))))
        .map_or((None, 0), |(n, f)| (Some(f.clone()), n))
}

/// Units bought (subscriptions in force on the day) against units assigned, per SKU.
fn units(snap: &Snapshot) -> Vec<SkuUnits> {
    let scenario = snap.scenario();
    let day = snap.at();
    let mut bought: BTreeMap<&str, u64> = BTreeMap::new();
    for s in &scenario.subscriptions {
        if s.start.is_none_or(|d| d <= day) && s.end.is_none_or(|d| day < d) {
            *bought.entry(s.sku.as_str()).or_default() += u64::from(s.quantity);
        }
    }
    let mut assigned: BTreeMap<&str, u64> = BTreeMap::new();
    for u in &scenario.users {
        for l in &u.licenses {
            *assigned.entry(l.as_str()).or_default() += 1;
        }
    }
    for e in &scenario.environments {
        for (sku, n) in &e.allocations {
            *assigned.entry(sku.as_str()).or_default() += n;
        }
    }
    let catalog = snap.catalog();
    let mut ids: Vec<&str> = bought.keys().chain(assigned.keys()).copied().collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter()
        .filter(|id| {
            catalog
                .sku_by_id(id)
                .is_none_or(|s| s.scope != Scope::Tenant || bought.contains_key(id))
        })
        .map(|id| {
            let b = bought.get(id).copied();
            let a = assigned.get(id).copied().unwrap_or(0);
            SkuUnits {
                sku: id.to_owned(),
                bought: b,
                assigned: a,
                spare: b.map(|b| i64::try_from(b).unwrap_or(i64::MAX) - i64::try_from(a).unwrap_or(i64::MAX)),
            }
        })
        .collect()
}

/// The report as a table for people.
pub fn table(r: &ByUser) -> String {
    use std::fmt::Write;
    let mut out = format!("Who needs what — tenant {} on {}\n\n", r.tenant, r.at);
    let _ = writeln!(
        out,
        "{:<38} {:<7} {:>5} {:>4} {:>7}  {:<28} {:<30} licences",
        "user", "kind", "flows", "apps", "at risk", "rules", "cheapest fix"
    );
    for u in &r.users {
        let rules: Vec<&str> = u.rules.iter().map(|r| r.id()).collect();
        let fix = u.cheapest_fix.as_ref().map_or(String::new(), fix_text);
        let _ = writeln!(
            out,
            "{:<38} {:<7} {:>5} {:>4} {:>7}  {:<28} {:<30} {}",
            u.user,
            u.kind,
            u.owns_flows,
            u.owns_apps,
            u.at_risk.len(),
            rules.join(" "),
            fix,
            u.licenses.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "\n{:<45} {:>8} {:>8} {:>8}",
        "SKU", "bought", "assigned", "spare"
    );
    for s in &r.skus {
        let _ = writeln!(
            out,
            "{:<45} {:>8} {:>8} {:>8}",
            s.sku,
            s.bought.map_or("-".to_owned(), |b| b.to_string()),
            s.assigned,
            s.spare.map_or("-".to_owned(), |s| s.to_string())
        );
    }
    out
}

fn fix_text(f: &CheckedFix) -> String {
    let what = f.fix.sku.as_deref().unwrap_or("");
    let cost = f
        .fix
        .monthly_cost
        .as_ref()
        .map_or(String::new(), |m| format!(" {} {}", m.amount, m.currency));
    format!("{} {what}{cost} ({})", action_name(f.fix.action), f.fix.rule)
}

fn action_name(a: Action) -> String {
    serde_json::to_value(a)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{a:?}"))
}

/// The report as CSV: one row per user, then one per SKU (`kind` = `sku`).
pub fn csv(r: &ByUser) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "kind",
        "id",
        "user_kind",
        "licenses",
        "owns_flows",
        "owns_apps",
        "runs_flows",
        "at_risk",
        "rules",
        "cheapest_fix",
        "bought",
        "assigned",
        "spare",
    ])?;
    for u in &r.users {
        let rules: Vec<&str> = u.rules.iter().map(|r| r.id()).collect();
        w.write_record([
            "user",
            &u.user,
            u.kind,
            &u.licenses.join(" "),
            &u.owns_flows.to_string(),
            &u.owns_apps.to_string(),
            &u.runs_flows.to_string(),
            &u.at_risk.len().to_string(),
            &rules.join(" "),
            &u.cheapest_fix.as_ref().map_or(String::new(), fix_text),
            "",
            "",
            "",
        ])?;
    }
    for s in &r.skus {
        w.write_record([
            "sku",
            &s.sku,
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            &s.bought.map_or(String::new(), |b| b.to_string()),
            &s.assigned.to_string(),
            &s.spare.map_or(String::new(), |s| s.to_string()),
        ])?;
    }
    let bytes = w.into_inner().map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::scenario::Format;
    use crate::{Catalog, Scenario};

    #[test]
    fn a_premium_flow_of_an_e3_owner_is_their_gap_and_units_are_counted() {
        let catalog = Catalog::seed().unwrap();
        let text = r#"
[tenant]
id = "t"
at = "2024-06-01"
[[subscriptions]]
sku = "power-automate-per-user"
quantity = 3
[[users]]
id = "ann"
licenses = ["office-365-e3", "power-automate-per-user"]
[[users]]
id = "bob"
licenses = ["office-365-e3"]
[[environments]]
id = "default"
default = true
[[flows]]
id = "sync"
environment = "default"
owner = "bob"
connectors = ["shared_salesforce"]
created = "2024-01-01"
"#;
        let s = Scenario::parse(text, Format::Toml, "t.toml", &catalog).unwrap();
        let day = s.tenant.at.unwrap();
        let snap = Snapshot::new(Arc::new(catalog), s, day).unwrap();
        let r = by_user(&snap, &crate::audit::audit(&snap));
        let bob = r.users.iter().find(|u| u.user == "bob").unwrap();
        assert!(bob.gap);
        // FLOW-4: a premium connector needs a premium licence; a spare per-user unit is the cheapest fix.
        assert_eq!(bob.rules, vec![Rule::Flow4]);
        let fix = bob.cheapest_fix.as_ref().unwrap();
        assert_eq!(fix.fix.sku.as_deref(), Some("power-automate-per-user"));
        let ann = r.users.iter().find(|u| u.user == "ann").unwrap();
        assert!(!ann.gap);
        let per_user = r
            .skus
            .iter()
            .find(|s| s.sku == "power-automate-per-user")
            .unwrap();
        assert_eq!(
            (per_user.bought, per_user.assigned, per_user.spare),
            (Some(3), 1, Some(2))
        );
        assert!(table(&r).contains("bob"));
        assert!(csv(&r).unwrap().lines().count() > 3);
    }
}
