//! The audit (ENF-1, ENF-2): every flow in every environment that needs a licence it lacks, with its
//! enforcement kind, timeline and fixes, and the tenant-wide problems (over-assigned SKUs, process shortfalls,
//! portal and AI Builder allocations, non-interactive users).

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::NaiveDate;
use serde::Serialize;

use crate::decision::Finding;
use crate::dryrun::{Index, World};
use crate::enforcement::State;
use crate::fixes::{CheckedFix, Fix};
use crate::flows::decide_flow;
use crate::report::{flow_timeline, message};
use crate::rule::Rule;
use crate::snapshot::{FlowIdx, Snapshot};

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
    pub fixes: Vec<CheckedFix>,
    /// The fixes the headline counts for this flow: its cheapest fix on the tenant as the fixes counted before it
    /// leave it (so it may differ from `fixes[0]`); a second one only if a fix counted later for another flow (a
    /// process licence on a parent in another environment: FLOW-14, FLOW-15) took the first one's effect away.
    /// Empty when the fixes counted before already turn it (`headline_covered`) or when no fix turns it. See
    /// [`Summary::cheapest_fixes_monthly`] for the order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headline_fixes: Vec<CheckedFix>,
    /// The fixes counted before this flow's turn already turn it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub headline_covered: bool,
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
    /// What the flows' `headline_fixes` cost together, per currency. Fixes are chosen greedily, flow by flow,
    /// each the cheapest that turns its flow once the ones chosen before are applied (a running ledger of the
    /// units bought and used): a spare unit is counted once, and a licence that fixes several flows is bought
    /// once. Flows with fewer fixes choose first (they have less choice: a service principal's flow has only a
    /// process licence, so it gets the spare unit before a flow whose owner could take a licence instead), then
    /// in the order of `flows`. Applying them all, in that order, turns every flow at risk that has a fix, at
    /// exactly this cost. Not always the least such cost (that is a set-cover problem), never an unreachable one.
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
    let index = Index::new(snap);
    let listing = World::new(snap, &index);
    let mut counted = World::new(snap, &index);
    // (number of fixes, position in `flows`, flow): the order in which the headline chooses.
    let mut order: Vec<(usize, usize, FlowIdx)> = Vec::new();
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
        let fixes = listing.flow_fixes(snap, &d);
        *summary.by_enforcement.entry(kind).or_insert(0) += 1;
        if t.is_some_and(|t| matches!(t.state, State::TurnedOff | State::CreatedOff)) {
            summary.turned_off += 1;
        }
        order.push((fixes.len(), flows.len(), idx));
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
            headline_fixes: Vec::new(),
            headline_covered: false,
        });
    }
    summary.at_risk = flows.len();
    order.sort();
    let row_of: HashMap<u32, usize> = order.iter().map(|(_, at, idx)| (idx.0, *at)).collect();
    let mut queue: VecDeque<(usize, FlowIdx)> = order.into_iter().map(|(_, at, idx)| (at, idx)).collect();
    // A flow counted as turned goes back in the queue if a fix counted later takes that away (a process licence on
    // a parent in another environment: FLOW-14, FLOW-15); at most twice, so the pass ends.
    let mut requeued: HashMap<u32, u8> = HashMap::new();
    while let Some((at, idx)) = queue.pop_front() {
        let Some(row) = flows.get_mut(at) else { continue };
        let (fix, covered) = headline(&mut counted, idx, &row.fixes);
        if let Some(m) = fix.as_ref().and_then(|x| x.fix.monthly_cost.as_ref()) {
            summary.cheapest_fixes_monthly.add(m);
        }
        let moved = fix
            .as_ref()
            .map(|f| f.moves_cover(&counted, idx))
            .unwrap_or_default();
        row.headline_fixes.extend(fix);
        row.headline_covered = covered;
        let mut below: Vec<FlowIdx> = moved.into_iter().flat_map(|m| index.descendants(m)).collect();
        below.sort();
        below.dedup();
        for d in below {
            let Some(&at) = row_of.get(&d.0) else { continue };
            let Some(row) = flows.get_mut(at) else { continue };
            let counted_for = row.headline_covered || !row.headline_fixes.is_empty();
            if !counted_for || counted.flow_allowed(d, None, &[]) {
                continue;
            }
            let n = requeued.entry(d.0).or_insert(0);
            if *n < 2 {
                *n += 1;
                row.headline_covered = false;
                queue.push_back((at, d));
            }
        }
    }

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

/// The fix the headline counts for `flow` (whose own fixes are `fixes`), applied to `counted` for the flows that
/// follow; or whether the fixes counted before already turn it.
fn headline(counted: &mut World<'_>, flow: FlowIdx, fixes: &[CheckedFix]) -> (Option<CheckedFix>, bool) {
    let chosen = if counted.changed() {
        let Some((s, f, _)) = counted.flow_snapshot(flow, None, &[]) else {
            return (None, false);
        };
        let d = decide_flow(&s, f, None);
        if d.allowed {
            return (None, true);
        }
        counted.cheapest_flow_fix(&s, &d)
    } else {
        fixes.first().cloned()
    };
    let id = counted.base.flow_id(flow).to_owned();
    match chosen {
        Some(fix) if counted.apply(&fix, Some(&id)).is_ok() => (Some(fix), false),
        _ => (None, false),
    }
}
