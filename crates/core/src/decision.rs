//! What a decision is made of: the trace of rules applied, the problems found, and who licenses what.
//!
//! These types are fixed-size so that making a decision allocates nothing: a trace holds up to
//! [`Trace::CAPACITY`] rules, a decision up to [`Problems::CAPACITY`] problems. Rendering them to text (for the
//! CLI's JSON, the API) is a separate, allocating step ([`crate::report`]).

use chrono::NaiveDate;

use crate::catalog::SkuIdx;
use crate::rule::Rule;
use crate::snapshot::{AppIdx, EnvIdx, FlowIdx, UserIdx};

/// The rules a decision applied, in order, each once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trace {
    rules: [Rule; Trace::CAPACITY],
    len: u8,
}

impl Trace {
    pub const CAPACITY: usize = 24;

    pub const fn new() -> Trace {
        Trace {
            rules: [Rule::Cat1; Trace::CAPACITY],
            len: 0,
        }
    }

    /// Records a rule unless it is already there; a full trace keeps its first rules.
    #[inline]
    pub fn push(&mut self, rule: Rule) {
        if self.contains(rule) {
            return;
        }
        if let Some(slot) = self.rules.get_mut(usize::from(self.len)) {
            *slot = rule;
            self.len += 1;
        }
    }

    #[inline]
    pub fn contains(&self, rule: Rule) -> bool {
        self.as_slice().contains(&rule)
    }

    #[inline]
    pub fn as_slice(&self) -> &[Rule] {
        self.rules.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

impl Default for Trace {
    fn default() -> Self {
        Trace::new()
    }
}

/// A bounded list (problems, warnings) that never allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Problems {
    items: [Option<Problem>; Problems::CAPACITY],
    len: u8,
}

impl Problems {
    pub const CAPACITY: usize = 8;

    pub const fn new() -> Problems {
        Problems {
            items: [None; Problems::CAPACITY],
            len: 0,
        }
    }

    /// Adds a problem unless the same one is there; past the capacity it is dropped (the first ones matter).
    #[inline]
    pub fn push(&mut self, p: Problem) {
        if self.iter().any(|q| q == p) {
            return;
        }
        if let Some(slot) = self.items.get_mut(usize::from(self.len)) {
            *slot = Some(p);
            self.len += 1;
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = Problem> + '_ {
        self.items.iter().take(usize::from(self.len)).flatten().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }
}

impl Default for Problems {
    fn default() -> Self {
        Problems::new()
    }
}

/// One thing wrong (or worth a warning), under the rule that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Problem {
    pub rule: Rule,
    pub what: What,
}

/// The facts of a problem, by index; [`crate::report`] turns them into sentences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    /// The user needs a premium Power Automate licence (FLOW-4, FLOW-8).
    PremiumNeeded { user: UserIdx },
    /// The user holds nothing that runs flows at all (FLOW-5).
    StandardNeeded { user: UserIdx },
    /// The owner left the organisation (FLOW-24).
    OwnerLeft { user: UserIdx, on: NaiveDate },
    /// The owner's premium licence or trial lapsed (FLOW-24).
    PremiumLapsed { user: UserIdx, on: NaiveDate },
    /// A Power Apps licence covers premium flows only in an app's context (FLOW-9, FLOW-12).
    OutsideAppContext { user: UserIdx },
    /// A Dynamics 365 licence covers premium flows only in the D365 app's context (FLOW-10, D365-2).
    OutsideD365Context { user: UserIdx },
    /// A premium flow owned by a service principal needs a process licence (FLOW-20).
    ServicePrincipalNeedsProcess,
    /// The flow is set to a process licence but its environment has no free unit (FLOW-14).
    NoProcessUnit { env: EnvIdx },
    /// The flow is set to per flow but its environment has no free per-flow unit (FLOW-17).
    NoPerFlowUnit { env: EnvIdx },
    /// The machine of an unattended desktop flow has too few bots (FLOW-16).
    NoBot { env: EnvIdx },
    /// Attended desktop flows need an RPA-capable licence (FLOW-4, FLOW-23).
    AttendedRpaNeeded { user: UserIdx },
    /// An instant flow with no invoking user to check (FLOW-3).
    NoInvoker,
    /// Power Automate does not support non-interactive users (FLOW-22).
    NonInteractive { user: UserIdx },
    /// A guest's home licences do not count across clouds (FLOW-19).
    GuestHomeIgnored { user: UserIdx },
    /// A consumer account may use only free plans (CAT-14).
    ConsumerAccount { user: UserIdx },
    /// ENT-1: an entity with synchronous logic needs Plan 2 rights.
    ComplexEntity { user: UserIdx, entity: u32 },
    /// ENT-2: a restricted entity needs a Dynamics 365 plan.
    RestrictedEntity { user: UserIdx, entity: u32 },
    /// FLOW-15: associated with a process flow of another solution or environment.
    InContextMismatch { with: FlowIdx },
    /// FLOW-14, FLOW-15: the ancestor `with` holds a process (or per-flow) licence, but in another environment
    /// than this child's `env`; the licence is environment-specific and does not cover it.
    ParentLicenceOtherEnv { with: FlowIdx, env: EnvIdx },
    /// FLOW-15: associated with a process flow of the same solution that uses other data sources (connectors).
    InContextDataSources { with: FlowIdx },
    /// FLOW-21: a service account shared by people who run or benefit from a premium flow.
    Multiplexing { user: UserIdx },
    /// FLOW-21: a user listed among a premium flow's beneficiaries (who get value from it, e.g. its e-mail)
    /// holds no premium licence, whoever owns the flow (seed 002, example 3).
    BeneficiaryUnlicensed { user: UserIdx },
    /// A connector the catalog does not know: treated as premium.
    UnknownConnector,
    /// The user may not run this app (CAT-2, APP-1, D365-1, D365-3, M365-3).
    AppNotCovered { user: UserIdx, app: AppIdx },
    /// Per-app passes: the user uses more apps than their passes cover (APP-1).
    PerAppShort { user: UserIdx, needed: u32, held: u32 },
    /// Model-driven apps need Plan 2 rights (ENT-4).
    ModelDrivenNeeded { user: UserIdx },
    /// Internal portal use needs a licence (PORTAL-4).
    PortalNotCovered { user: UserIdx },
    /// The user left the organisation.
    UserLeft { user: UserIdx, on: NaiveDate },
}

/// Which licence covers a flow run or an app launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LicensedBy {
    /// Nothing does.
    #[default]
    Nothing,
    /// A process licence held by `flow` (itself, an ancestor, the flow it is associated with, FLOW-1, FLOW-15).
    Process {
        flow: FlowIdx,
    },
    /// A legacy per-flow licence held by `flow` (FLOW-17).
    PerFlow {
        flow: FlowIdx,
    },
    /// The process licence (bots) of the machine the flow runs on (FLOW-16).
    Machine {
        flow: FlowIdx,
    },
    Owner {
        user: UserIdx,
        sku: Option<SkuIdx>,
    },
    Invoker {
        user: UserIdx,
        sku: Option<SkuIdx>,
    },
    /// The parent's context user (FLOW-7).
    Parent {
        flow: FlowIdx,
        user: UserIdx,
        sku: Option<SkuIdx>,
    },
    AppContext {
        user: UserIdx,
        app: Option<AppIdx>,
        sku: Option<SkuIdx>,
    },
    D365Context {
        user: UserIdx,
        sku: Option<SkuIdx>,
    },
    /// Created before the reclassification and still inside the extended transition (FLOW-25).
    Grandfathered,
    /// A standard flow under the user's Microsoft 365 or other rights (FLOW-5).
    Standard {
        user: Option<UserIdx>,
        sku: Option<SkuIdx>,
    },
    /// An app or portal covered by the user's licence.
    User {
        user: UserIdx,
        sku: Option<SkuIdx>,
    },
}

impl LicensedBy {
    /// The kind as SCENARIO.md names it.
    pub const fn kind(&self) -> &'static str {
        match self {
            LicensedBy::Nothing => "none",
            LicensedBy::Process { .. } | LicensedBy::Machine { .. } => "process",
            LicensedBy::PerFlow { .. } => "per-flow",
            LicensedBy::Owner { .. } => "owner",
            LicensedBy::Invoker { .. } => "invoker",
            LicensedBy::Parent { .. } => "parent",
            LicensedBy::AppContext { .. } => "app-context",
            LicensedBy::D365Context { .. } => "d365-context",
            LicensedBy::Grandfathered => "grandfathered",
            LicensedBy::Standard { .. } => "standard",
            LicensedBy::User { .. } => "user",
        }
    }
}

/// The enforcement kinds of ENF-2, or `other` with the failing rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EnforcementKind {
    OwnerLeft,
    OwnerWithoutPremium,
    OutsidePowerAppsContext,
    OutsideD365Context,
    ServicePrincipalWithoutProcess,
    Other,
}

impl EnforcementKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            EnforcementKind::OwnerLeft => "owner-left",
            EnforcementKind::OwnerWithoutPremium => "owner-without-premium",
            EnforcementKind::OutsidePowerAppsContext => "outside-power-apps-context",
            EnforcementKind::OutsideD365Context => "outside-d365-context",
            EnforcementKind::ServicePrincipalWithoutProcess => "service-principal-without-process",
            EnforcementKind::Other => "other",
        }
    }
}

/// Why a flow is at risk, and since when (the day the engine can tell it fell into the kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enforcement {
    pub kind: EnforcementKind,
    /// The rule that fails.
    pub rule: Rule,
    pub since: Option<NaiveDate>,
}

/// The answer to "may this flow run, under which licence, and why".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowDecision {
    pub flow: FlowIdx,
    /// The invoking user asked about (`--as`).
    pub as_user: Option<UserIdx>,
    pub allowed: bool,
    pub premium: bool,
    pub licensed_by: LicensedBy,
    pub trace: Trace,
    pub problems: Problems,
    pub warnings: Problems,
    pub enforcement: Option<Enforcement>,
}

/// The answer to "may this user run this app".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppDecision {
    pub app: AppIdx,
    pub user: UserIdx,
    pub allowed: bool,
    pub premium: bool,
    pub licensed_by: LicensedBy,
    pub trace: Trace,
    pub problems: Problems,
    pub warnings: Problems,
}

/// A problem or warning in words, for answers that are not on the hot path (audit, cost, buy).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub rule: Rule,
    pub message: String,
}

impl Finding {
    pub fn new(rule: Rule, message: impl Into<String>) -> Finding {
        Finding {
            rule,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_keeps_order_and_drops_repeats() {
        let mut t = Trace::new();
        t.push(Rule::Flow4);
        t.push(Rule::Flow2);
        t.push(Rule::Flow4);
        assert_eq!(t.as_slice(), &[Rule::Flow4, Rule::Flow2]);
    }

    #[test]
    fn full_trace_keeps_its_first_rules() {
        let mut t = Trace::new();
        for r in Rule::ALL.iter().take(Trace::CAPACITY + 5) {
            t.push(*r);
        }
        assert_eq!(t.as_slice().len(), Trace::CAPACITY);
        assert_eq!(t.as_slice().first(), Rule::ALL.first());
    }

    #[test]
    fn problems_are_bounded_and_unique() {
        let mut p = Problems::new();
        let one = Problem {
            rule: Rule::Flow20,
            what: What::ServicePrincipalNeedsProcess,
        };
        p.push(one);
        p.push(one);
        assert_eq!(p.len(), 1);
        for i in 0..20 {
            p.push(Problem {
                rule: Rule::Flow4,
                what: What::PremiumNeeded { user: UserIdx(i) },
            });
        }
        assert_eq!(p.len(), Problems::CAPACITY);
    }

    #[test]
    fn licensed_by_kinds_match_the_contract() {
        let kinds = [
            LicensedBy::Process { flow: FlowIdx(0) }.kind(),
            LicensedBy::PerFlow { flow: FlowIdx(0) }.kind(),
            LicensedBy::Owner {
                user: UserIdx(0),
                sku: None,
            }
            .kind(),
            LicensedBy::Invoker {
                user: UserIdx(0),
                sku: None,
            }
            .kind(),
            LicensedBy::Parent {
                flow: FlowIdx(0),
                user: UserIdx(0),
                sku: None,
            }
            .kind(),
            LicensedBy::AppContext {
                user: UserIdx(0),
                app: None,
                sku: None,
            }
            .kind(),
            LicensedBy::D365Context {
                user: UserIdx(0),
                sku: None,
            }
            .kind(),
            LicensedBy::Grandfathered.kind(),
            LicensedBy::Standard {
                user: None,
                sku: None,
            }
            .kind(),
            LicensedBy::User {
                user: UserIdx(0),
                sku: None,
            }
            .kind(),
        ];
        assert_eq!(
            kinds,
            [
                "process",
                "per-flow",
                "owner",
                "invoker",
                "parent",
                "app-context",
                "d365-context",
                "grandfathered",
                "standard",
                "user"
            ]
        );
    }
}
