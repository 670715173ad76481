//! Helpers: a snapshot from an inline TOML scenario, decisions by id, and assertions that name the rule.

use std::sync::{Arc, OnceLock};

use chrono::NaiveDate;
use rust_decimal::Decimal;

use entitle_core::audit::{Audit, AuditFlow, audit};
use entitle_core::buying::{Purchase, preview_purchase};
use entitle_core::decision::{AppDecision, FlowDecision};
use entitle_core::scenario::{Format, Scenario};
use entitle_core::snapshot::{AppIdx, FlowIdx, UserIdx};
use entitle_core::{Catalog, Rule, Snapshot};

/// The embedded seed catalog (the default edition), parsed once.
pub(crate) fn catalog() -> Arc<Catalog> {
    static CATALOG: OnceLock<Arc<Catalog>> = OnceLock::new();
    Arc::clone(
        CATALOG.get_or_init(|| Arc::new(Catalog::seed().unwrap_or_else(|e| panic!("seed catalog: {e}")))),
    )
}

pub(crate) fn day(s: &str) -> NaiveDate {
    s.parse().unwrap_or_else(|e| panic!("bad date `{s}`: {e}"))
}

/// The tenant header most tests share: a public-cloud commercial tenant in the Netherlands with one default
/// environment `default`. Tests append their own sections.
pub(crate) const HEAD: &str = r#"
[tenant]
id = "contoso"
country = "NL"

[[environments]]
id = "default"
default = true
"#;

/// Parses `text` (a whole scenario) and builds its snapshot on `at`.
pub(crate) fn snap_of(text: &str, at: &str) -> Snapshot {
    let catalog = catalog();
    let scenario = Scenario::parse(text, Format::Toml, "test.toml", &catalog)
        .unwrap_or_else(|e| panic!("bad scenario: {e}\n{text}"));
    Snapshot::new(catalog, scenario, day(at)).unwrap_or_else(|e| panic!("snapshot: {e}"))
}

/// [`HEAD`] followed by `body`, on `at`.
pub(crate) fn snap(body: &str, at: &str) -> Snapshot {
    snap_of(&format!("{HEAD}{body}"), at)
}

pub(crate) fn user(s: &Snapshot, id: &str) -> UserIdx {
    s.user_idx(id).unwrap_or_else(|| panic!("no user `{id}`"))
}

pub(crate) fn flow_idx(s: &Snapshot, id: &str) -> FlowIdx {
    s.flow_idx(id).unwrap_or_else(|| panic!("no flow `{id}`"))
}

pub(crate) fn app_idx(s: &Snapshot, id: &str) -> AppIdx {
    s.app_idx(id).unwrap_or_else(|| panic!("no app `{id}`"))
}

/// `check flow FLOW` (every listed invoker of an instant flow, or its owner).
pub(crate) fn flow(s: &Snapshot, id: &str) -> FlowDecision {
    entitle_core::flows::decide_flow(s, flow_idx(s, id), None)
}

/// `check flow FLOW --as USER`.
pub(crate) fn flow_as(s: &Snapshot, id: &str, as_user: &str) -> FlowDecision {
    entitle_core::flows::decide_flow(s, flow_idx(s, id), Some(user(s, as_user)))
}

/// `check app APP --user USER`.
pub(crate) fn app(s: &Snapshot, app: &str, user_id: &str) -> AppDecision {
    entitle_core::apps::decide_app(s, app_idx(s, app), user(s, user_id))
}

/// `buy --sku SKU --quantity N [--as USER]`.
pub(crate) fn buy(s: &Snapshot, sku: &str, quantity: u32, buyer: Option<&str>) -> Purchase {
    let idx = s
        .catalog()
        .sku_idx(sku)
        .unwrap_or_else(|| panic!("no SKU `{sku}` in the seed catalog"));
    preview_purchase(s, idx, quantity, buyer.map(|b| user(s, b)), None)
}

/// `buy --sku SKU --quantity N [--as USER] --channel CHANNEL`.
pub(crate) fn buy_via(
    s: &Snapshot,
    sku: &str,
    quantity: u32,
    buyer: Option<&str>,
    channel: entitle_core::scenario::PurchaseChannel,
) -> Purchase {
    let idx = s
        .catalog()
        .sku_idx(sku)
        .unwrap_or_else(|| panic!("no SKU `{sku}` in the seed catalog"));
    preview_purchase(s, idx, quantity, buyer.map(|b| user(s, b)), Some(channel))
}

/// The audit's row of one flow, if the flow is at risk.
pub(crate) fn audit_row(a: &Audit, flow: &str) -> Option<AuditFlow> {
    a.flows.iter().find(|f| f.flow == flow).cloned()
}

pub(crate) fn audit_of(s: &Snapshot) -> Audit {
    audit(s)
}

pub(crate) fn rule(id: &str) -> Rule {
    Rule::parse(id).unwrap_or_else(|| panic!("`{id}` is not a rule ID"))
}

pub(crate) fn ids(rules: &[Rule]) -> Vec<&'static str> {
    rules.iter().map(|r| r.id()).collect()
}

pub(crate) fn dec(s: &str) -> Decimal {
    s.parse().unwrap_or_else(|e| panic!("bad decimal `{s}`: {e}"))
}

/// The kind of `licensed_by` as SCENARIO.md names it (`owner`, `process`, …).
pub(crate) fn kind(d: &FlowDecision) -> &'static str {
    d.licensed_by.kind()
}

/// Soft checks: every failed check of a test is collected and reported together when the test ends, each
/// tagged `[answer]` (the rule's answer) or `[names]` (the decision does not name the rule), so that one
/// failing test shows every disagreement it found.
#[derive(Debug, Default)]
pub(crate) struct Checks {
    failures: Vec<String>,
}

pub(crate) fn checks() -> Checks {
    Checks::default()
}

impl Checks {
    pub(crate) fn ok(&mut self, what: &str, cond: bool) -> &mut Self {
        if !cond {
            self.failures.push(format!("[answer] {what}"));
        }
        self
    }

    pub(crate) fn eq<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, got: T, want: T) -> &mut Self {
        if got != want {
            self.failures
                .push(format!("[answer] {what}: expected {want:?}, got {got:?}"));
        }
        self
    }

    /// `rules` (a trace or an answer's `rules`) names the rule.
    pub(crate) fn names(&mut self, what: &str, rules: &[Rule], id: &str) -> &mut Self {
        if !rules.contains(&rule(id)) {
            self.failures
                .push(format!("[names] {what}: {:?} does not name {id}", ids(rules)));
        }
        self
    }

    /// A problem of a flow decision is filed under the rule.
    pub(crate) fn flow_problem(&mut self, what: &str, d: &FlowDecision, id: &str) -> &mut Self {
        let found: Vec<Rule> = d.problems.iter().map(|p| p.rule).collect();
        if !found.contains(&rule(id)) {
            self.failures.push(format!(
                "[names] {what}: problems {:?} have none under {id}",
                ids(&found)
            ));
        }
        self
    }

    /// A problem of an app decision is filed under the rule.
    pub(crate) fn app_problem(&mut self, what: &str, d: &AppDecision, id: &str) -> &mut Self {
        let found: Vec<Rule> = d.problems.iter().map(|p| p.rule).collect();
        if !found.contains(&rule(id)) {
            self.failures.push(format!(
                "[names] {what}: problems {:?} have none under {id}",
                ids(&found)
            ));
        }
        self
    }

    /// A finding of a list is filed under the rule.
    pub(crate) fn finding(
        &mut self,
        what: &str,
        findings: &[entitle_core::decision::Finding],
        id: &str,
    ) -> &mut Self {
        let found: Vec<Rule> = findings.iter().map(|f| f.rule).collect();
        if !found.contains(&rule(id)) {
            self.failures.push(format!(
                "[names] {what}: findings {:?} have none under {id}",
                ids(&found)
            ));
        }
        self
    }

    /// A catalog entry rests on the rule (its `sources` name it).
    pub(crate) fn sku_rests_on(&mut self, sku: &str, id: &str) -> &mut Self {
        let c = catalog();
        match c.sku_by_id(sku) {
            Some(def) if def.sources.iter().any(|s| s == id) => {}
            Some(def) => self.failures.push(format!(
                "[names] SKU `{sku}`: sources {:?} do not name {id}",
                def.sources
            )),
            None => self
                .failures
                .push(format!("[answer] SKU `{sku}` is not in the seed catalog")),
        }
        self
    }

    /// A monthly cost of `amount` in `currency`.
    pub(crate) fn cost(
        &mut self,
        what: &str,
        m: Option<&entitle_core::money::Money>,
        amount: &str,
        currency: &str,
    ) -> &mut Self {
        match m {
            Some(m) if m.amount == dec(amount) && m.currency == currency => {}
            other => self.failures.push(format!(
                "[answer] {what}: expected {amount} {currency}, got {:?}",
                other.map(|m| format!("{} {}", m.amount, m.currency))
            )),
        }
        self
    }
}

impl Drop for Checks {
    fn drop(&mut self) {
        if !self.failures.is_empty() && !std::thread::panicking() {
            panic!(
                "{} check(s) failed:\n  - {}",
                self.failures.len(),
                self.failures.join("\n  - ")
            );
        }
    }
}

/// The user named by a decision's `licensed_by`, as SCENARIO.md's JSON gives it.
pub(crate) fn by_user(s: &Snapshot, d: &FlowDecision) -> Option<String> {
    entitle_core::report::licensed_by(s, &d.licensed_by).user
}
