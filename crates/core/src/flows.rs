//! Flow decisions: which licence a flow run uses, and whether it may run (RULES.md §4, M365-1/2, D365-2, ENT).
//!
//! [`decide_flow`] is the hot path: it reads a [`Snapshot`] whose expensive parts (premium status, process
//! coverage, users' rights) were worked out when it was built, and fills a fixed-size [`FlowDecision`]; it
//! allocates nothing and takes no lock.

use crate::catalog::Capability;
use crate::decision::{
    Enforcement, EnforcementKind, FlowDecision, LicensedBy, Problem, Problems, Trace, What,
};
use crate::rule::Rule;
use crate::scenario::{DesktopMode, FlowLicense, Trigger, UserKind};
use crate::snapshot::{Coverage, FlowIdx, FlowRec, Snapshot, UserIdx, UserRec};

/// In whose name a user-licensed flow runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Owner,
    Invoker,
    /// The context user of an ancestor flow (FLOW-7).
    Parent(FlowIdx),
}

/// Decides whether `flow` may run, for the invoking user `as_user` (instant flows; ignored by automated and
/// scheduled ones, FLOW-2). Without `as_user`, an instant flow is checked for every user in its `run_by`, or
/// for its owner when nobody is listed.
pub fn decide_flow(snap: &Snapshot, flow: FlowIdx, as_user: Option<UserIdx>) -> FlowDecision {
    let mut d = FlowDecision {
        flow,
        as_user,
        allowed: false,
        premium: false,
        licensed_by: LicensedBy::Nothing,
        trace: Trace::new(),
        problems: Problems::new(),
        warnings: Problems::new(),
        enforcement: None,
    };
    let Some(f) = snap.flow(flow) else { return d };
    d.premium = f.premium.premium;
    classify(f, &mut d);

    // FLOW-1, FLOW-14, FLOW-17: a capacity licence of its own comes first; without a free unit in its
    // environment the flow falls back to its user licence.
    let own = match f.license {
        FlowLicense::Process => Some((
            Rule::Flow14,
            LicensedBy::Process { flow },
            What::NoProcessUnit { env: f.env },
        )),
        FlowLicense::PerFlow => Some((
            Rule::Flow17,
            LicensedBy::PerFlow { flow },
            What::NoPerFlowUnit { env: f.env },
        )),
        FlowLicense::User => None,
    };
    if let Some((rule, by, shortfall)) = own {
        d.trace.push(rule);
        d.trace.push(Rule::Flow13);
        if f.coverage == Coverage::Covered {
            d.trace.push(Rule::Flow1);
            return allow(d, by);
        }
        d.problems.push(Problem {
            rule,
            what: shortfall,
        });
    }

    // FLOW-15: a flow associated with a process-licensed flow of the same solution, using the same data sources
    // (connectors), shares its licence; a
    // per-flow licence does not cover associated flows (FLOW-17).
    if let Some(other) = f.in_context_of {
        d.trace.push(Rule::Flow15);
        if snap
            .flow(other)
            .is_some_and(|o| o.license == FlowLicense::PerFlow)
        {
            d.trace.push(Rule::Flow17);
        } else if f.in_context_mismatch {
            d.problems.push(Problem {
                rule: Rule::Flow15,
                what: if f.in_context_sources_differ {
                    What::InContextDataSources { with: other }
                } else {
                    What::InContextMismatch { with: other }
                },
            });
        } else if let Some(by) = process_holder(snap, other, false) {
            d.trace.push(Rule::Flow1);
            return allow(d, LicensedBy::Process { flow: by });
        }
    }

    // FLOW-16: the flows that call a machine's desktop flows, with their parents and children, are covered by
    // the machine's process licences (bots); an unattended desktop flow needs them.
    let unattended = f.premium.desktop && f.desktop_mode == Some(DesktopMode::Unattended);
    if let Some(by) = f.machine_cover {
        d.trace.push(Rule::Flow16);
        // The add-ons that can hold a machine's bots (CAT-6, CAT-7), for the flow on the machine itself.
        if let Some(e) = Some(f)
            .filter(|f| f.machine_coverage == Coverage::Covered)
            .and_then(|f| snap.env(f.env))
        {
            if e.hosted_units > 0 {
                d.trace.push(Rule::Cat7);
            }
            if e.unattended_units > 0 {
                d.trace.push(Rule::Cat6);
            }
        }
        return allow(d, LicensedBy::Machine { flow: by });
    }
    if unattended {
        d.trace.push(Rule::Flow16);
        d.problems.push(Problem {
            rule: Rule::Flow16,
            what: What::NoBot { env: f.env },
        });
        return deny(snap, f, d, None);
    }

    // FLOW-7: a child flow runs in its parent's context, unless the transition period applies.
    if let Some(parent) = f.parent {
        d.trace.push(Rule::Flow7);
        if !snap.transition() {
            // FLOW-14, FLOW-15 (seeds 001 and 002): a process (or per-flow) licence is environment-specific; an
            // ancestor's licence in another environment does not cover this child, which falls back to the
            // parent's owner's licence (FLOW-7; user licences are tenant-wide, FLOW-13).
            let holder = process_holder(snap, parent, true);
            if let Some(by) = holder.filter(|h| !same_env(snap, *h, f)) {
                d.trace.push(Rule::Flow15);
                d.trace.push(Rule::Flow14);
                d.problems.push(Problem {
                    rule: Rule::Flow15,
                    what: What::ParentLicenceOtherEnv { with: by, env: f.env },
                });
            }
            if let Some(by) = holder.filter(|h| same_env(snap, *h, f)) {
                // FLOW-15 (process) or FLOW-17 (per flow): the licence covers the parent's children.
                let licensed = match snap.flow(by).map(|p| p.license) {
                    Some(FlowLicense::PerFlow) => {
                        d.trace.push(Rule::Flow17);
                        LicensedBy::PerFlow { flow: by }
                    }
                    _ => {
                        d.trace.push(Rule::Flow15);
                        LicensedBy::Process { flow: by }
                    }
                };
                d.trace.push(Rule::Flow1);
                return allow(d, licensed);
            }
            let root = root_of(snap, parent);
            let Some(r) = snap.flow(root) else { return d };
            return decide_in_context(snap, f, r, d, as_user, Some(root));
        }
    }
    decide_in_context(snap, f, f, d, as_user, None)
}

/// Decides `f` in the user context of `ctx` (itself, or the root of its parent chain).
fn decide_in_context(
    snap: &Snapshot,
    f: &FlowRec,
    ctx: &FlowRec,
    mut d: FlowDecision,
    as_user: Option<UserIdx>,
    via_parent: Option<FlowIdx>,
) -> FlowDecision {
    let Some(owner) = snap.user(ctx.owner) else {
        return d;
    };
    let role_of = |r: Role| via_parent.map_or(r, Role::Parent);

    // FLOW-20, REQ-4: a service principal's automated flow draws on the tenant pool; premium needs a process
    // licence, unless the flow is in a Dynamics 365 app's context (ENF-2 e exemption).
    if owner.kind == UserKind::ServicePrincipal && ctx.trigger != Trigger::Instant {
        d.trace.push(Rule::Flow20);
        if !d.premium {
            d.trace.push(Rule::Flow5);
            return allow(
                d,
                LicensedBy::Standard {
                    user: None,
                    sku: None,
                },
            );
        }
        if in_d365_context(snap, f) {
            d.trace.push(Rule::Flow10);
            return allow(
                d,
                LicensedBy::D365Context {
                    user: ctx.owner,
                    sku: None,
                },
            );
        }
        d.problems.push(Problem {
            rule: Rule::Flow20,
            what: What::ServicePrincipalNeedsProcess,
        });
        d.enforcement = Some(Enforcement {
            kind: EnforcementKind::ServicePrincipalWithoutProcess,
            rule: Rule::Flow20,
            since: f.created,
        });
        return d;
    }

    match ctx.trigger {
        Trigger::Automated | Trigger::Scheduled => {
            d.trace.push(Rule::Flow2);
            if !ctx.run_by.is_empty() || !ctx.co_owners.is_empty() {
                d.trace.push(Rule::Flow6);
            }
            let (ok, by) = check_user(snap, f, ctx.owner, owner, role_of(Role::Owner), &mut d);
            if ok {
                return allow(d, by);
            }
        }
        Trigger::Instant => {
            d.trace.push(Rule::Flow3);
            let mut all = true;
            let mut last = LicensedBy::Nothing;
            let mut check = |u: UserIdx, d: &mut FlowDecision| {
                // A user index from another snapshot is nobody: never allowed.
                let Some(rec) = snap.user(u) else {
                    all = false;
                    d.problems.push(Problem {
                        rule: Rule::Flow3,
                        what: What::NoInvoker,
                    });
                    return;
                };
                let (ok, by) = check_user(snap, f, u, rec, role_of(Role::Invoker), d);
                all &= ok;
                if ok {
                    last = by;
                }
            };
            match as_user {
                Some(u) => check(u, &mut d),
                None if !ctx.run_by.is_empty() => {
                    for &u in &ctx.run_by {
                        check(u, &mut d);
                    }
                }
                // Nobody named: the owner is the one who runs it (the maker testing it).
                None => check(ctx.owner, &mut d),
            }
            if all {
                return allow(d, last);
            }
        }
    }
    deny(snap, f, d, Some(ctx))
}

/// What a user-licensed check of one user concluded: covered (and by what), or not.
type Verdict = (bool, LicensedBy);

/// The licence `user` lends the run, named for the part they play in it.
fn licensed_as(role: Role, user: UserIdx, sku: Option<crate::catalog::SkuIdx>) -> LicensedBy {
    match role {
        Role::Owner => LicensedBy::Owner { user, sku },
        Role::Invoker => LicensedBy::Invoker { user, sku },
        Role::Parent(flow) => LicensedBy::Parent { flow, user, sku },
    }
}

/// Checks one user (owner, invoker or the parent's context user) against what `f` needs: who they are, then
/// the rights of the family that applies (standard, desktop, premium), then why nothing covered the run.
fn check_user(
    snap: &Snapshot,
    f: &FlowRec,
    idx: UserIdx,
    user: &UserRec,
    role: Role,
    d: &mut FlowDecision,
) -> Verdict {
    if let Some(refused) = who_runs(idx, user, d) {
        return refused;
    }
    if !f.approvers.is_empty() {
        d.trace.push(Rule::Flow18);
    }
    let entities_ok = crate::rights::entities(
        f.complex_entity,
        f.restricted_entity,
        idx,
        user,
        &mut d.trace,
        &mut d.problems,
    );
    if crate::rights::developer(snap, f.env, idx) {
        // CAT-11: everything in the owner's own developer environment, Dataverse included.
        d.trace.push(Rule::Cat11);
        return (
            true,
            licensed_as(role, idx, user.sku_for(Capability::DeveloperEnvironment)),
        );
    }
    if !d.premium {
        return standard_rights(f, idx, user, entities_ok, d);
    }
    d.trace.push(Rule::Flow4);
    multiplexing(snap, f, idx, user, d);
    if let Some(verdict) = desktop_rights(snap, f, idx, user, role, entities_ok, d) {
        return verdict;
    }
    if let Some(by) = premium_rights(snap, f, idx, user, role, d) {
        return (entities_ok, by);
    }
    not_covered(f, idx, user, role, d)
}

/// FLOW-22, FLOW-19, CAT-14, FLOW-24: who the user is. A non-interactive user never runs a flow in its own
/// name, a consumer account's licences are set aside, and a premium flow of a user who left stops; the rest go
/// on to their rights (`None`).
fn who_runs(idx: UserIdx, user: &UserRec, d: &mut FlowDecision) -> Option<Verdict> {
    if user.kind == UserKind::NonInteractive {
        d.trace.push(Rule::Flow22);
        d.problems.push(Problem {
            rule: Rule::Flow22,
            what: What::NonInteractive { user: idx },
        });
        return Some((false, LicensedBy::Nothing));
    }
    if user.kind == UserKind::Guest {
        d.trace.push(Rule::Flow19);
        if user.home_licenses_ignored {
            d.warnings.push(Problem {
                rule: Rule::Flow19,
                what: What::GuestHomeIgnored { user: idx },
            });
        }
    }
    if user.consumer_ignored {
        d.trace.push(Rule::Cat14);
        d.problems.push(Problem {
            rule: Rule::Cat14,
            what: What::ConsumerAccount { user: idx },
        });
    }
    if let Some(on) = user.left {
        d.trace.push(Rule::Flow24);
        if d.premium {
            d.problems.push(Problem {
                rule: Rule::Flow24,
                what: What::OwnerLeft { user: idx, on },
            });
            return Some((false, LicensedBy::Nothing));
        }
        d.warnings.push(Problem {
            rule: Rule::Flow24,
            what: What::UserLeft { user: idx, on },
        });
    }
    None
}

/// FLOW-5, M365-3, FLOW-25, FLOW-23: a standard flow runs on any licence with standard flow rights (Microsoft
/// 365 included); a grandfathered one (premium only through reclassified connectors) too. A user who left keeps
/// standard flows running (FLOW-24 warned). A Windows licence runs no cloud flow.
fn standard_rights(
    f: &FlowRec,
    idx: UserIdx,
    user: &UserRec,
    entities_ok: bool,
    d: &mut FlowDecision,
) -> Verdict {
    d.trace.push(Rule::Flow5);
    if user.left.is_some() {
        return (
            entities_ok,
            LicensedBy::Standard {
                user: Some(idx),
                sku: None,
            },
        );
    }
    if user.has(Capability::FlowsStandard) {
        if f.premium.grandfathered {
            return (entities_ok, LicensedBy::Grandfathered);
        }
        d.trace.push(Rule::M365_3);
        let sku = user.sku_for(Capability::FlowsStandard);
        return (entities_ok, LicensedBy::Standard { user: Some(idx), sku });
    }
    if user.has(Capability::WindowsDesktopFlows) {
        d.trace.push(Rule::Flow23);
    }
    d.problems.push(Problem {
        rule: Rule::Flow5,
        what: What::StandardNeeded { user: idx },
    });
    (false, LicensedBy::Nothing)
}

/// FLOW-21: one premium licence covers one person. A licence on a shared service account does not cover the
/// people behind it, and (seed 002, example 3: the flow that e-mails whoever uploaded the item needs a premium
/// licence for the owner *and* that user) a listed beneficiary without a premium licence is multiplexing,
/// whoever owns the flow. Guidance: a warning, never a block. A process licence covers everyone, and such a
/// flow is decided before it gets here.
fn multiplexing(snap: &Snapshot, f: &FlowRec, idx: UserIdx, user: &UserRec, d: &mut FlowDecision) {
    if user.kind == UserKind::ServiceAccount && (!f.run_by.is_empty() || !f.beneficiaries.is_empty()) {
        d.trace.push(Rule::Flow21);
        d.warnings.push(Problem {
            rule: Rule::Flow21,
            what: What::Multiplexing { user: idx },
        });
    }
    for &b in &f.beneficiaries {
        let unlicensed = snap
            .user(b)
            .is_some_and(|r| r.left.is_none() && !r.has(Capability::FlowsPremium));
        if unlicensed {
            d.trace.push(Rule::Flow21);
            d.warnings.push(Problem {
                rule: Rule::Flow21,
                what: What::BeneficiaryUnlicensed { user: b },
            });
        }
    }
}

/// FLOW-23, FLOW-4: attended desktop flows. A Windows licence runs them for personal productivity (in the
/// default environment, not shared, never cloud flows); anything else needs attended RPA. `None`: the flow has
/// no attended desktop part, or the user holds attended RPA.
fn desktop_rights(
    snap: &Snapshot,
    f: &FlowRec,
    idx: UserIdx,
    user: &UserRec,
    role: Role,
    entities_ok: bool,
    d: &mut FlowDecision,
) -> Option<Verdict> {
    if f.premium.desktop_only
        && user.has(Capability::WindowsDesktopFlows)
        && !user.has(Capability::AttendedRpa)
    {
        d.trace.push(Rule::Flow23);
        let in_default = snap.env(f.env).is_some_and(|e| e.default);
        let shared = !f.co_owners.is_empty() || f.run_by.iter().any(|u| *u != f.owner);
        if in_default && !shared && idx == f.owner {
            let sku = user.sku_for(Capability::WindowsDesktopFlows);
            return Some((entities_ok, licensed_as(role, idx, sku)));
        }
        d.problems.push(Problem {
            rule: Rule::Flow23,
            what: What::AttendedRpaNeeded { user: idx },
        });
        return Some((false, LicensedBy::Nothing));
    }
    if f.premium.desktop
        && f.desktop_mode != Some(DesktopMode::Unattended)
        && !user.has(Capability::AttendedRpa)
    {
        if user.has(Capability::WindowsDesktopFlows) {
            d.trace.push(Rule::Flow23);
        }
        d.problems.push(Problem {
            rule: Rule::Flow4,
            what: What::AttendedRpaNeeded { user: idx },
        });
        return Some((false, LicensedBy::Nothing));
    }
    None
}

/// FLOW-4, FLOW-9, FLOW-11, FLOW-12, FLOW-10, D365-2: the rights that cover a premium flow, tried in turn — a
/// premium flow licence; a Power Apps licence in an app's context (triggered from the app, or associated with an
/// app of the same environment); a Dynamics 365 licence in the licensed app's context.
fn premium_rights(
    snap: &Snapshot,
    f: &FlowRec,
    idx: UserIdx,
    user: &UserRec,
    role: Role,
    d: &mut FlowDecision,
) -> Option<LicensedBy> {
    if user.has(Capability::FlowsPremium) {
        return Some(licensed_as(role, idx, user.sku_for(Capability::FlowsPremium)));
    }
    if user.has(Capability::FlowsAppContext) {
        // FLOW-9: associated with an app of the same environment whose data sources it uses.
        let associated =
            !f.app_sources_differ && f.app.and_then(|a| snap.app(a)).is_some_and(|a| a.env == f.env);
        if associated || f.triggered_from_app {
            d.trace.push(Rule::Flow9);
            if f.triggered_from_app {
                d.trace.push(Rule::Flow11);
            }
            if !user.has(Capability::AppsPremium) {
                d.trace.push(Rule::Flow12);
            }
            let app = if associated { f.app } else { None };
            let sku = user.sku_for(Capability::FlowsAppContext);
            return Some(LicensedBy::AppContext { user: idx, app, sku });
        }
    }
    if !user.has(Capability::FlowsD365Context) {
        return None;
    }
    let d365 = LicensedBy::D365Context {
        user: idx,
        sku: user.sku_for(Capability::FlowsD365Context),
    };
    // FLOW-9: associated with an app that extends an installed Dynamics 365 app the user is licensed for.
    let extends = f.app.and_then(|a| snap.app(a)).is_some_and(|a| {
        a.env == f.env
            && a.dynamics_app
                .as_deref()
                .is_some_and(|x| user.licensed_for_dynamics(x))
    });
    if extends {
        d.trace.push(Rule::Flow9);
        d.trace.push(Rule::D365_2);
        return Some(d365);
    }
    // FLOW-10, D365-2: touching the Dynamics 365 app's data where it is installed.
    if in_d365_context(snap, f) {
        d.trace.push(Rule::Flow10);
        d.trace.push(Rule::D365_2);
        return Some(d365);
    }
    None
}

/// Not covered: say why, most specific reason first. The flow's default user licence was used (FLOW-14: a
/// process licence would be the alternative), and a parent flow needs its own licence (FLOW-8).
fn not_covered(f: &FlowRec, idx: UserIdx, user: &UserRec, role: Role, d: &mut FlowDecision) -> Verdict {
    if f.license == FlowLicense::User {
        d.trace.push(Rule::Flow14);
    }
    if f.has_children {
        d.trace.push(Rule::Flow8);
    }
    if user.has(Capability::WindowsDesktopFlows) {
        d.trace.push(Rule::Flow23);
    }
    let (rule, what) = if let Some(on) = user.premium_lapsed {
        d.trace.push(Rule::Flow24);
        (Rule::Flow24, What::PremiumLapsed { user: idx, on })
    } else if user.has(Capability::FlowsAppContext) {
        d.trace.push(Rule::Flow9);
        (
            if user.has(Capability::AppsPremium) {
                Rule::Flow9
            } else {
                Rule::Flow12
            },
            What::OutsideAppContext { user: idx },
        )
    } else if user.has(Capability::FlowsD365Context) {
        d.trace.push(Rule::Flow10);
        d.trace.push(Rule::D365_2);
        (Rule::D365_2, What::OutsideD365Context { user: idx })
    } else if matches!(role, Role::Parent(_)) {
        d.trace.push(Rule::Flow8);
        (Rule::Flow8, What::PremiumNeeded { user: idx })
    } else {
        (Rule::Flow4, What::PremiumNeeded { user: idx })
    };
    d.problems.push(Problem { rule, what });
    (false, LicensedBy::Nothing)
}

/// Rules that follow from what the flow uses: premium or standard, reclassified or grandfathered.
fn classify(f: &FlowRec, d: &mut FlowDecision) {
    if f.premium.reclassified {
        d.trace.push(Rule::M365_1);
    }
    if f.premium.grandfathered {
        d.trace.push(Rule::M365_2);
        if f.premium.made_before_reclassification {
            d.trace.push(Rule::Flow25);
        }
    } else if f.premium.reclassified && f.premium.made_before_reclassification {
        // Considered and refused: the extended transition excludes gateways and other premium features, and
        // ended on its date (M365-2).
        d.trace.push(Rule::M365_2);
    }
    if f.premium.unknown_connector {
        d.warnings.push(Problem {
            rule: Rule::M365_1,
            what: What::UnknownConnector,
        });
    }
}

/// FLOW-10: the flow touches Dynamics 365 data (D365 entities through Dataverse, or a first-party D365
/// connector) in an environment where a Dynamics 365 app is installed.
fn in_d365_context(snap: &Snapshot, f: &FlowRec) -> bool {
    f.d365_data && snap.env(f.env).is_some_and(|e| e.has_dynamics)
}

/// FLOW-15: the process-licensed flow `f` is associated with, when that licence covers it (same solution,
/// environment and data sources, a process licence — per flow never covers associated flows, FLOW-17 — holding a unit).
fn associated_process(snap: &Snapshot, f: &FlowRec) -> Option<FlowIdx> {
    let ctx = f.in_context_of.filter(|_| !f.in_context_mismatch)?;
    snap.flow(ctx)
        .is_some_and(|c| c.coverage == Coverage::Covered && c.license == FlowLicense::Process)
        .then_some(ctx)
}

/// The flow that holds a covering capacity licence for `start`: `start` itself (a process licence only, unless
/// `walk_parents`), the flow it is associated with, or (with `walk_parents`) an ancestor — whose process or
/// per-flow licence covers its children (FLOW-7, FLOW-17).
fn process_holder(snap: &Snapshot, start: FlowIdx, walk_parents: bool) -> Option<FlowIdx> {
    let mut cur = Some(start);
    let mut steps = 0usize;
    while let Some(i) = cur {
        let f = snap.flow(i)?;
        if f.coverage == Coverage::Covered && (walk_parents || f.license == FlowLicense::Process) {
            return Some(i);
        }
        if let Some(ctx) = associated_process(snap, f) {
            return Some(ctx);
        }
        if !walk_parents {
            return None;
        }
        steps += 1;
        if steps > snap.flows.len() {
            return None;
        }
        cur = f.parent;
    }
    None
}

/// The flow whose capacity licence a run of `flow` uses, if any, in the order [`decide_flow`] tries them: its
/// own unit, its machine's (FLOW-16), the flow it is associated with (FLOW-15), an ancestor's (FLOW-7; not
/// during the transition period). The request limits (REQ-4, REQ-5) follow the same licence.
pub(crate) fn licence_holder(snap: &Snapshot, flow: FlowIdx) -> Option<FlowIdx> {
    let f = snap.flow(flow)?;
    if f.coverage == Coverage::Covered {
        return Some(flow);
    }
    if let Some(m) = f.machine_cover {
        return Some(m);
    }
    if let Some(c) = associated_process(snap, f) {
        return Some(c);
    }
    if snap.transition() {
        return None;
    }
    // FLOW-14, FLOW-15: an ancestor's licence covers only children in its own environment.
    f.parent
        .and_then(|p| process_holder(snap, p, true))
        .filter(|h| same_env(snap, *h, f))
}

/// Whether flow `h` lives in `f`'s environment (FLOW-13, FLOW-14: capacity licences are environment-scoped).
fn same_env(snap: &Snapshot, h: FlowIdx, f: &FlowRec) -> bool {
    snap.flow(h).is_some_and(|h| h.env == f.env)
}

/// The top of a parent chain (cycles are refused when the snapshot is built).
fn root_of(snap: &Snapshot, start: FlowIdx) -> FlowIdx {
    let mut cur = start;
    for _ in 0..snap.flows.len() {
        match snap.flow(cur).and_then(|f| f.parent) {
            Some(p) => cur = p,
            None => break,
        }
    }
    cur
}

fn allow(mut d: FlowDecision, by: LicensedBy) -> FlowDecision {
    d.allowed = true;
    d.licensed_by = by;
    d
}

/// Marks the decision denied and names its enforcement kind (ENF-2) from the first problem.
fn deny(snap: &Snapshot, f: &FlowRec, mut d: FlowDecision, ctx: Option<&FlowRec>) -> FlowDecision {
    d.allowed = false;
    d.licensed_by = LicensedBy::Nothing;
    let Some(first) = d.problems.iter().next() else {
        return d;
    };
    let owner = ctx.and_then(|c| snap.user(c.owner));
    let manual = ctx.is_some_and(|c| c.trigger == Trigger::Instant);
    let legacy = owner.is_some_and(|o| o.legacy_plan);
    // ENF-2 (a) and (b) exempt manual flows and owners with legacy P1/P2.
    let (kind, since) = match first.what {
        What::OwnerLeft { on, .. } if !manual && !legacy => (EnforcementKind::OwnerLeft, Some(on)),
        What::PremiumLapsed { on, .. } if !manual && !legacy => {
            (EnforcementKind::OwnerWithoutPremium, Some(on))
        }
        What::OutsideAppContext { .. } => (EnforcementKind::OutsidePowerAppsContext, f.created),
        What::OutsideD365Context { .. } => (EnforcementKind::OutsideD365Context, f.created),
        _ => (EnforcementKind::Other, None),
    };
    d.enforcement = Some(Enforcement {
        kind,
        rule: first.rule,
        since,
    });
    d
}
