//! The audit (ENF-1, ENF-2): every flow in every environment that needs a licence it lacks, with its
//! enforcement kind, timeline and fixes, and the tenant-wide problems (over-assigned SKUs, process shortfalls,
//! portal and AI Builder allocations, non-interactive users).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use crate::decision::Finding;
use crate::enforcement::State;
use crate::fixes::{Fix, flow_fixes};
use crate::flows::decide_flow;
use crate::report::{flow_timeline, message};
use crate::rule::Rule;
use crate::snapshot::Snapshot;

/// One flow at risk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditFlow {
    pub flow: String,
    pub environment: String,
    pub owner: String,
    pub trigger: &'static str,
    pub enabled: bool,
    /// An ENF-2 kind, or `other`.
    pub enforcement: &'static str,
    /// The rule that fails.
    pub rule: Rule,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_notice: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maker_notice: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub turn_off: Option<NaiveDate>,
    pub rules: Vec<Rule>,
    pub problems: Vec<Finding>,
    pub fixes: Vec<Fix>,
}

/// A warning about a flow that may run (FLOW-21 multiplexing, unknown connectors, guests).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditWarning {
    pub flow: String,
    pub rule: Rule,
    pub message: String,
}

/// Counts for the headline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub environments: usize,
    pub flows: usize,
    pub at_risk: usize,
    pub by_enforcement: BTreeMap<&'static str, usize>,
    pub turned_off: usize,
    /// The cheapest fix of every flow at risk, added up per currency.
    pub cheapest_fixes_monthly: crate::money::Totals,
}

/// The whole audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Audit {
    pub tenant: String,
    pub at: NaiveDate,
    pub summary: Summary,
    pub flows: Vec<AuditFlow>,
    pub tenant_problems: Vec<Finding>,
    pub warnings: Vec<AuditWarning>,
    pub fixes: Vec<Fix>,
}

/// Audits every flow and the tenant-wide allocations.
pub fn audit(snap: &Snapshot) -> Audit {
    let mut summary = Summary {
        environments: snap.envs.len(),
        flows: snap.flows.len(),
        ..Summary::default()
    };
    let mut flows = Vec::new();
    let mut warnings = Vec::new();
    for (idx, f) in snap.flows() {
        let d = decide_flow(snap, idx, None);
        for w in d.warnings.iter() {
            warnings.push(AuditWarning {
                flow: f.id.to_string(),
                rule: w.rule,
                message: message(snap, &w),
            });
        }
        if d.allowed {
            continue;
        }
        let e = d.enforcement;
        let kind = e.map_or("other", |e| e.kind.as_str());
        let rule = e.map_or(Rule::Enf1, |e| e.rule);
        let t = flow_timeline(snap, &d);
        let fixes = flow_fixes(snap, &d);
        *summary.by_enforcement.entry(kind).or_insert(0) += 1;
        if t.is_some_and(|t| matches!(t.state, State::TurnedOff | State::CreatedOff)) {
            summary.turned_off += 1;
        }
        if let Some(m) = fixes.first().and_then(|x| x.monthly_cost.as_ref()) {
            summary.cheapest_fixes_monthly.add(m);
        }
        let mut rules = d.trace.as_slice().to_vec();
        rules.push(Rule::Enf1);
        let mut problems: Vec<Finding> = d
            .problems
            .iter()
            .map(|p| Finding {
                rule: p.rule,
                message: message(snap, &p),
            })
            .collect();
        if let Some(t) = t {
            rules.extend([Rule::Enf2, Rule::Enf3]);
            match t.state {
                State::CreatedOff => {
                    rules.extend([Rule::Enf4, Rule::Enf5]);
                    problems.push(Finding::new(
                        Rule::Enf4,
                        format!(
                            "created on or after the makers' notice of {}: created turned off",
                            t.maker_notice
                        ),
                    ));
                }
                State::TurnedOff => rules.push(Rule::Enf5),
                _ => {}
            }
            if matches!(t.state, State::CreatedOff | State::TurnedOff) {
                problems.push(Finding::new(
                    Rule::Enf5,
                    "turned off by enforcement: it can be turned on only once it is licensed or associated with its app",
                ));
            }
        }
        flows.push(AuditFlow {
            flow: f.id.to_string(),
            environment: snap.env_id(f.env).to_owned(),
            owner: snap.user_id(f.owner).to_owned(),
            trigger: f.trigger.as_str(),
            enabled: f.enabled,
            enforcement: kind,
            rule,
            state: t.map(|t| t.state.as_str()),
            admin_notice: t.map(|t| t.admin_notice),
            maker_notice: t.map(|t| t.maker_notice),
            turn_off: t.map(|t| t.turn_off),
            rules,
            problems: d
                .problems
                .iter()
                .map(|p| Finding {
                    rule: p.rule,
                    message: message(snap, &p),
                })
                .collect(),
            fixes,
        });
    }
    summary.at_risk = flows.len();

    let mut tenant_problems = Vec::new();
    let limits = &snap.catalog().terms.limits;
    if snap.tenant().non_interactive_users > limits.non_interactive_max {
        tenant_problems.push(Finding::new(
            Rule::Flow22,
            format!(
                "{} non-interactive users; a tenant may have at most {}",
                snap.tenant().non_interactive_users,
                limits.non_interactive_max
            ),
        ));
    }
    for (_, e) in snap.envs() {
        let demand = e.process_demand.saturating_add(e.bot_demand);
        let supply = e.process_units.saturating_add(e.bot_only_units);
        if demand > supply {
            tenant_problems.push(Finding::new(
                Rule::Flow14,
                format!(
                    "environment `{}` needs {demand} process licence(s) (flows and unattended bots) but has {supply} allocated",
                    e.id
                ),
            ));
        }
        if e.per_flow_demand > e.per_flow_units {
            tenant_problems.push(Finding::new(
                Rule::Flow17,
                format!(
                    "environment `{}` has {} per-flow flow(s) but {} per-flow licence(s) allocated",
                    e.id, e.per_flow_demand, e.per_flow_units
                ),
            ));
        }
    }
    let (_, over, fixes) = crate::buying::usage(snap);
    tenant_problems.extend(over);
    tenant_problems.extend(crate::portals::check(snap).1);
    tenant_problems.extend(crate::ai::credits(snap).1);
    Audit {
        tenant: snap.scenario().tenant.id.clone(),
        at: snap.at(),
        summary,
        flows,
        tenant_problems,
        warnings,
        fixes,
    }
}
