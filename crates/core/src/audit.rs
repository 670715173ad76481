//! The audit (ENF-1, ENF-2): every flow in every environment that needs a licence it lacks, with its
//! enforcement kind, timeline and fixes, and the tenant-wide problems (over-assigned SKUs, process shortfalls,
//! portal and AI Builder allocations, non-interactive users).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use chrono::NaiveDate;
use serde::Serialize;

use crate::catalog::SkuIdx;
use crate::decision::Finding;
use crate::dryrun::{Change, Index, Item, Ledger, LedgerRead, Reads, World};
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
    run(snap, None, false).0
}

/// [`audit`], with what the audit of the tenant's next version needs to be worked out from this one (a
/// [`Memo`]). When `snap` was patched by a write from the snapshot `before` belongs to (`before`: that snapshot's
/// audit and memo, as this function made them), every computation whose inputs the write and the fixes counted
/// before it left as they were is taken over instead of done again; the audit is the same either way.
pub fn audit_since(snap: &Snapshot, before: Option<(&Audit, Memo)>) -> (Audit, Memo) {
    run(snap, before, true)
}

/// What an audit keeps so that the audit of the tenant's next version, patched from this one by a write, is
/// worked out from it (issue 13: the first view after a write on a 100,000-flow tenant): for each flow at risk,
/// what the checks of its fixes read; for each turn of the headline on a tenant the fixes counted before had
/// changed, what it read and what it chose; and the writes of the counted fixes, per user, flow and environment.
/// A computation is taken over only if everything it read is the same in the new version: the users, flows and
/// environments of its dry runs, which the write did not change and the fixes counted before it changed with
/// the same writes; the same answers of the ledger of units; the subscriptions as the records read them. Its
/// result is then the one a full run computes (the property test `patched_audits_are_full_ones` checks it).
#[derive(Debug, Default)]
pub struct Memo {
    /// The snapshot it was made on ([`Snapshot::serial`]), with its number of users and flows.
    serial: u64,
    users: usize,
    flows: usize,
    /// Per flow at risk (by position): its row in the audit's flows, and what the checks of its fixes read.
    listed: foldhash::HashMap<u32, (usize, Taken)>,
    /// Per headline turn (the flow, and how many turns it had before): what it read and what it chose.
    turns: foldhash::HashMap<(u32, u8), Turn>,
    /// The writes of the fixes the headline counted, per part of the tenant, in order.
    logs: foldhash::HashMap<Item, Vec<Change>>,
    /// Computations taken over from the memo before, and computations done.
    reused: usize,
    computed: usize,
}

impl Memo {
    /// How many computations (each flow's fixes, each headline turn on a changed tenant) were taken over from
    /// the audit before, and how many were done.
    pub fn reused(&self) -> (usize, usize) {
        (self.reused, self.computed)
    }
}

/// What one computation read (see [`Memo`]).
#[derive(Debug)]
struct Taken {
    /// The users, flows and environments read, sorted.
    items: Box<[Item]>,
    /// Of those, the ones the counted fixes had written to, with how many writes (sorted).
    written: Box<[(Item, usize)]>,
    /// Of the environments read, those where the counted fixes had set flows to a process licence, with them.
    processed: Box<[(u32, Box<[u32]>)]>,
    /// The ledger's answers, with the units bought and used counted on top of the world's.
    ledger: Box<[LedgerRead]>,
    /// The subscriptions as records read them, on a world the counted fixes had changed.
    digest: Option<Arc<Digest>>,
}

/// A headline turn: what it read, the fix it chose (before it was applied) and whether it found the flow turned.
#[derive(Debug)]
struct Turn {
    taken: Taken,
    chosen: Option<CheckedFix>,
    covered: bool,
}

/// The writes of counted fixes to one part of the tenant, in order, and how many of the first ones are the
/// writes the audit before made to it (so that telling whether a part was written alike costs no comparison).
#[derive(Debug, Default)]
struct Log {
    writes: Vec<Change>,
    alike: usize,
}

/// [`Log`]s per part of the tenant.
type Logs = foldhash::HashMap<Item, Log>;

/// [`crate::snapshot::subscription_digest`].
type Digest = Option<Vec<(SkuIdx, bool, Option<NaiveDate>)>>;

/// The memo of the audit before, with what the write changed (sorted).
struct Before<'a> {
    audit: &'a Audit,
    memo: Memo,
    users: Vec<u32>,
    flows: Vec<u32>,
}

impl<'a> Before<'a> {
    fn new(snap: &Snapshot, before: Option<(&'a Audit, Memo)>) -> Option<Before<'a>> {
        let (audit, memo) = before?;
        let t = snap.touched_since_serial(memo.serial)?;
        let index = |v: &[usize]| {
            let mut out: Vec<u32> = v.iter().filter_map(|&i| u32::try_from(i).ok()).collect();
            out.sort_unstable();
            out
        };
        let grown = memo.users <= snap.users().len() && memo.flows <= snap.flows().len();
        (audit.at == snap.at() && grown).then(|| Before {
            users: index(&t.users),
            flows: index(&t.flows),
            audit,
            memo,
        })
    }

    /// The write changed this part of the tenant (or added it).
    fn written(&self, item: Item) -> bool {
        match item {
            Item::User(u) => u as usize >= self.memo.users || self.users.binary_search(&u).is_ok(),
            Item::Flow(f) => f as usize >= self.memo.flows || self.flows.binary_search(&f).is_ok(),
            Item::Env(_) => false,
        }
    }

    /// Whether the computation that read `t` reads the same on `world` (whose counted fixes made `logs`, and
    /// whose subscriptions read as `digest`).
    fn holds(&self, t: &Taken, world: &World<'_>, logs: &Logs, digest: &Arc<Digest>) -> bool {
        // No fix was counted yet, before or now (the fixes of each flow): nothing was written to compare.
        let unwritten = t.written.is_empty() && logs.is_empty();
        // Written to alike: as many writes now as then, each the one made then.
        let same_writes = |item: &Item| {
            let n = t
                .written
                .binary_search_by_key(item, |(i, _)| *i)
                .ok()
                .and_then(|k| t.written.get(k))
                .map_or(0, |(_, n)| *n);
            logs.get(item)
                .map_or(n == 0, |l| l.writes.len() == n && l.alike >= n)
        };
        let same_processed = |item: &Item| match item {
            Item::Env(e) => {
                let was = t
                    .processed
                    .binary_search_by_key(e, |(x, _)| *x)
                    .ok()
                    .and_then(|k| t.processed.get(k))
                    .map_or(&[][..], |(_, v)| v);
                was == world.set_to_process(*e)
            }
            _ => true,
        };
        let same_answers = |r: &LedgerRead| {
            let (bought, used) = world.ledger.counts(r.sku);
            let (Some(bought), Some(used)) = (bought.checked_add(r.bought), used.checked_add(r.used)) else {
                return false;
            };
            let l = Ledger::with_counts(r.sku, bought, used);
            let answer = match r.need {
                None => l.spare(world.base, r.sku),
                Some(need) => l.to_buy(world.base, r.sku, need),
            };
            answer == r.answer
        };
        t.digest.as_ref().is_none_or(|d| d == digest)
            && t.items
                .iter()
                .all(|i| !self.written(*i) && (unwritten || same_writes(i)) && same_processed(i))
            && t.ledger.iter().all(same_answers)
    }
}

/// What `reads`, noted while `world` was watched, come to (see [`Taken`]); `None` if they cannot be told again.
fn taken(mut reads: Reads, world: &World<'_>, logs: &Logs, digest: Option<&Arc<Digest>>) -> Option<Taken> {
    reads.items.sort_unstable();
    reads.items.dedup();
    let written = reads
        .items
        .iter()
        .filter_map(|i| Some((*i, logs.get(i)?.writes.len())))
        .filter(|(_, n)| *n > 0)
        .collect();
    let processed = reads
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Env(e) => Some((*e, world.set_to_process(*e))).filter(|(_, v)| !v.is_empty()),
            _ => None,
        })
        .map(|(e, v)| (e, v.into()))
        .collect();
    let mut ledger = reads
        .ledger
        .into_iter()
        .map(|r| {
            let (bought, used) = world.ledger.counts(r.sku);
            Some(LedgerRead {
                bought: r.bought.checked_sub(bought)?,
                used: r.used.checked_sub(used)?,
                ..r
            })
        })
        .collect::<Option<Vec<_>>>()?;
    ledger.sort_by_key(|r| (r.sku, r.need, r.bought, r.used, r.answer));
    ledger.dedup();
    Some(Taken {
        items: reads.items.into(),
        written,
        processed,
        ledger: ledger.into(),
        digest: digest.cloned(),
    })
}

/// The part of the tenant a write of a fix changes (`None` for a purchase, which changes the subscriptions).
fn item_of(snap: &Snapshot, c: &Change) -> Option<Item> {
    match c {
        Change::Assign { user, .. } | Change::Remove { user, .. } => {
            snap.user_idx(user).map(|u| Item::User(u.0))
        }
        Change::SetProcess { flow } | Change::SetOwner { flow, .. } | Change::SetApp { flow, .. } => {
            snap.flow_idx(flow).map(|f| Item::Flow(f.0))
        }
        Change::Allocate { environment, .. } => snap.env_idx(environment).map(|e| Item::Env(e.0)),
        Change::Buy { .. } => None,
    }
}

/// The subscriptions of `world` as records read them.
fn digest_of(world: &World<'_>) -> Arc<Digest> {
    let snap = world.base;
    Arc::new(crate::snapshot::subscription_digest(
        snap.catalog(),
        &world.scenario().subscriptions,
        snap.at(),
    ))
}

/// The audit, and (`keep`) its memo, taking over from `before` what still holds.
fn run(snap: &Snapshot, before: Option<(&Audit, Memo)>, keep: bool) -> (Audit, Memo) {
    let mut before = if keep { Before::new(snap, before) } else { None };
    // As many computations as the audit before kept, most likely.
    let (listed, turns) = before
        .as_ref()
        .map_or((0, 0), |b| (b.memo.listed.len(), b.memo.turns.len()));
    let mut memo = Memo {
        serial: snap.serial(),
        users: snap.users().len(),
        flows: snap.flows().len(),
        listed: foldhash::HashMap::with_capacity_and_hasher(listed, Default::default()),
        turns: foldhash::HashMap::with_capacity_and_hasher(turns, Default::default()),
        ..Memo::default()
    };
    let mut summary = Summary {
        environments: snap.envs.len(),
        flows: snap.flows.len(),
        ..Summary::default()
    };
    let mut flows = Vec::new();
    let mut warnings = Vec::new();
    let index = Index::new(snap);
    let mut listing = World::new(snap, &index);
    let mut counted = World::new(snap, &index);
    let no_logs = Logs::default();
    let base_digest = Arc::new(None);
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
        // The fixes the audit before listed, if what their checks read is as it was.
        let kept = before.as_mut().and_then(|b| {
            let (row, taken) = b.memo.listed.remove(&idx.0)?;
            let old = b.audit.flows.get(row).filter(|o| *o.flow == *f.id)?;
            b.holds(&taken, &listing, &no_logs, &base_digest)
                .then(|| (old.fixes.clone(), taken))
        });
        let fixes = match kept {
            Some((fixes, taken)) => {
                memo.reused += 1;
                memo.listed.insert(idx.0, (flows.len(), taken));
                fixes
            }
            None if keep => {
                memo.computed += 1;
                listing.watch();
                let fixes = listing.flow_fixes(snap, &d);
                if let Some(t) = taken(listing.unwatch(), &listing, &no_logs, None) {
                    memo.listed.insert(idx.0, (flows.len(), t));
                }
                fixes
            }
            None => listing.flow_fixes(snap, &d),
        };
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
    // What a turn is taken over on: the turns each flow had, the writes of the counted fixes per part of the
    // tenant, and the subscriptions as the records read them.
    let mut turns: HashMap<u32, u8> = HashMap::new();
    let mut logs = Logs::default();
    let mut digest = digest_of(&counted);
    // A fix that could not be applied, or a write to something the tenant lacks, leaves a world the logs may not
    // describe: from then on, nothing is taken over or kept.
    let mut lost = !keep;
    while let Some((at, idx)) = queue.pop_front() {
        let Some(row) = flows.get_mut(at) else { continue };
        let turn = turns.entry(idx.0).or_insert(0);
        let key = (idx.0, *turn);
        *turn = turn.saturating_add(1);
        let (chosen, covered) = if !counted.changed() {
            (row.fixes.first().cloned(), false)
        } else if lost {
            choose(&counted, idx)
        } else {
            let kept = before.as_mut().and_then(|b| {
                let t = b.memo.turns.remove(&key)?;
                b.holds(&t.taken, &counted, &logs, &digest).then_some(t)
            });
            match kept {
                Some(t) => {
                    memo.reused += 1;
                    let out = (t.chosen.clone(), t.covered);
                    memo.turns.insert(key, t);
                    out
                }
                None => {
                    memo.computed += 1;
                    counted.watch();
                    let out = choose(&counted, idx);
                    let reads = counted.unwatch();
                    if let Some(taken) = taken(reads, &counted, &logs, Some(&digest)) {
                        let (chosen, covered) = (out.0.clone(), out.1);
                        memo.turns.insert(
                            key,
                            Turn {
                                taken,
                                chosen,
                                covered,
                            },
                        );
                    }
                    out
                }
            }
        };
        let mut fix = None;
        if let Some(c) = chosen {
            let id = snap.flow_id(idx).to_owned();
            let mut changes = Vec::new();
            let applied = counted.apply_noting(&c, Some(&id), &mut changes).is_ok();
            for ch in &changes {
                match item_of(snap, ch) {
                    Some(item) => {
                        let log = logs.entry(item).or_default();
                        let k = log.writes.len();
                        let was = before.as_ref().and_then(|b| b.memo.logs.get(&item)?.get(k));
                        if log.alike == k && was == Some(ch) {
                            log.alike += 1;
                        }
                        log.writes.push(ch.clone());
                    }
                    None => lost |= !matches!(ch, Change::Buy { .. }),
                }
            }
            if changes.iter().any(|ch| matches!(ch, Change::Buy { .. })) {
                digest = digest_of(&counted);
            }
            if applied {
                fix = Some(c);
            } else {
                lost = true;
            }
        }
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
    if lost {
        memo.turns.clear();
        memo.logs.clear();
    } else {
        memo.logs = logs.into_iter().map(|(i, l)| (i, l.writes)).collect();
    }
    let audit = Audit {
        tenant: snap.scenario().tenant.id.clone(),
        at: snap.at(),
        summary,
        flows,
        tenant_problems,
        warnings,
        fixes,
    };
    (audit, memo)
}

/// The fix the headline counts for `flow` on `counted`, a tenant the fixes counted before changed (to be applied
/// for the flows that follow); or whether those fixes already turn it.
fn choose(counted: &World<'_>, flow: FlowIdx) -> (Option<CheckedFix>, bool) {
    let Some((s, f, _)) = counted.flow_snapshot(flow, None, &[]) else {
        return (None, false);
    };
    let d = decide_flow(&s, f, None);
    if d.allowed {
        return (None, true);
    }
    (counted.cheapest_flow_fix(&s, &d), false)
}
