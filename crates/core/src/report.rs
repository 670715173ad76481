//! Answers in words and JSON: the shapes of SCENARIO.md's "JSON answers", built from decisions.
//!
//! Decisions hold indices; this module resolves them to ids and sentences. It allocates, so it stays off the
//! hot path: a platform that only needs `allowed` reads the [`FlowDecision`] itself.

use serde::Serialize;

use crate::apps::decide_app;
use crate::decision::{AppDecision, Finding, FlowDecision, LicensedBy, Problem, What};
use crate::enforcement::timeline;
use crate::fixes::{CheckedFix, app_fixes, flow_fixes};
use crate::flows::decide_flow;
use crate::rule::Rule;
use crate::snapshot::{AppIdx, FlowIdx, Snapshot, UserIdx};

/// `licensed_by` in JSON: `{kind, user?, sku?, flow?, app?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LicensedByJson {
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
}

/// The answer of `check flow`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowAnswer {
    pub flow: String,
    pub environment: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r#as: Option<String>,
    pub allowed: bool,
    pub premium: bool,
    pub licensed_by: LicensedByJson,
    pub rules: Vec<Rule>,
    pub problems: Vec<Finding>,
    pub warnings: Vec<Finding>,
    pub fixes: Vec<CheckedFix>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enforcement: Option<&'static str>,
}

/// The answer of `check app`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppAnswer {
    pub app: String,
    pub user: String,
    pub allowed: bool,
    pub premium: bool,
    pub licensed_by: LicensedByJson,
    pub rules: Vec<Rule>,
    pub problems: Vec<Finding>,
    pub warnings: Vec<Finding>,
    pub fixes: Vec<CheckedFix>,
}

pub fn licensed_by(snap: &Snapshot, by: &LicensedBy) -> LicensedByJson {
    let user = |u: &UserIdx| Some(snap.user_id(*u).to_owned());
    let sku = |s: &Option<crate::catalog::SkuIdx>| s.map(|s| snap.sku_id(s).to_owned());
    let flow = |f: &FlowIdx| Some(snap.flow_id(*f).to_owned());
    let mut j = LicensedByJson {
        kind: by.kind(),
        user: None,
        sku: None,
        flow: None,
        app: None,
    };
    match by {
        LicensedBy::Nothing | LicensedBy::Grandfathered => {}
        LicensedBy::Process { flow: f } | LicensedBy::Machine { flow: f } => {
            j.flow = flow(f);
            j.sku = snap
                .catalog()
                .skus
                .iter()
                .find(|s| {
                    s.kind == crate::catalog::Kind::Paid
                        && s.grants.capabilities.has(crate::catalog::Capability::Process)
                })
                .map(|s| s.id.clone());
        }
        LicensedBy::PerFlow { flow: f } => {
            j.flow = flow(f);
            j.sku = snap
                .catalog()
                .skus
                .iter()
                .find(|s| s.grants.capabilities.has(crate::catalog::Capability::PerFlow))
                .map(|s| s.id.clone());
        }
        LicensedBy::Owner { user: u, sku: s }
        | LicensedBy::Invoker { user: u, sku: s }
        | LicensedBy::User { user: u, sku: s } => {
            j.user = user(u);
            j.sku = sku(s);
        }
        LicensedBy::D365Context { user: u, sku: s } => {
            j.user = user(u);
            j.sku = sku(s);
        }
        LicensedBy::Parent {
            flow: f,
            user: u,
            sku: s,
        } => {
            j.flow = flow(f);
            j.user = user(u);
            j.sku = sku(s);
        }
        LicensedBy::AppContext { user: u, app, sku: s } => {
            j.user = user(u);
            j.sku = sku(s);
            j.app = app.map(|a| snap.app_id(a).to_owned());
        }
        LicensedBy::Standard { user: u, sku: s } => {
            j.user = u.as_ref().and_then(user);
            j.sku = sku(s);
        }
    }
    j
}

/// A problem in words.
pub fn message(snap: &Snapshot, p: &Problem) -> String {
    let u = |i: &UserIdx| snap.user_id(*i).to_owned();
    match &p.what {
        What::PremiumNeeded { user } => format!("`{}` holds no premium Power Automate licence", u(user)),
        What::StandardNeeded { user } => {
            format!("`{}` holds no licence that includes Power Automate", u(user))
        }
        What::OwnerLeft { user, on } => format!("owner `{}` left the organisation on {on}", u(user)),
        What::PremiumLapsed { user, on } => {
            format!("`{}`'s premium licence or trial lapsed on {on}", u(user))
        }
        What::OutsideAppContext { user } => format!(
            "`{}` is licensed through Power Apps, which covers premium flows only in an app's context; the flow is neither triggered from nor associated with an app",
            u(user)
        ),
        What::OutsideD365Context { user } => format!(
            "`{}` is licensed through Dynamics 365, which covers flows only in the licensed app's context",
            u(user)
        ),
        What::ServicePrincipalNeedsProcess => {
            "a premium flow owned by a service principal needs a process licence".to_owned()
        }
        What::NoProcessUnit { env } => {
            format!(
                "environment `{}` has no free process licence for this flow",
                snap.env_id(*env)
            )
        }
        What::NoPerFlowUnit { env } => {
            format!(
                "environment `{}` has no free per-flow licence for this flow",
                snap.env_id(*env)
            )
        }
        What::NoBot { env } => format!(
            "the machine's unattended runs need more process licences (bots) than environment `{}` has free",
            snap.env_id(*env)
        ),
        What::AttendedRpaNeeded { user } => {
            format!(
                "`{}` needs a licence with attended RPA to run desktop flows",
                u(user)
            )
        }
        What::NoInvoker => "nobody is named to run this instant flow".to_owned(),
        What::NonInteractive { user } => {
            format!(
                "`{}` is a non-interactive user, which Power Automate does not support",
                u(user)
            )
        }
        What::GuestHomeIgnored { user } => format!(
            "guest `{}`'s home-tenant licences are not recognised across clouds",
            u(user)
        ),
        What::ConsumerAccount { user } => {
            format!(
                "`{}` has a consumer account, which may use only the free plan",
                u(user)
            )
        }
        What::ComplexEntity { user, entity } => format!(
            "entity `{}` has synchronous business logic; `{}` needs Plan 2 rights",
            snap.entity_id(*entity),
            u(user)
        ),
        What::RestrictedEntity { user, entity } => format!(
            "entity `{}` is restricted; `{}` needs a Dynamics 365 plan",
            snap.entity_id(*entity),
            u(user)
        ),
        What::InContextMismatch { with } => format!(
            "associated with `{}`, which is not in the same solution and environment",
            snap.flow_id(*with)
        ),
        What::ParentLicenceOtherEnv { with, env } => format!(
            "the licence of parent flow `{}` is in environment `{}`, not `{}`; a process licence covers its children in its own environment only",
            snap.flow_id(*with),
            snap.flow(*with).map_or("?", |w| snap.env_id(w.env)),
            snap.env_id(*env)
        ),
        What::InContextDataSources { with } => format!(
            "associated with `{}`, which uses other data sources (connectors); an associated flow must use the same ones",
            snap.flow_id(*with)
        ),
        What::Multiplexing { user } => format!(
            "`{}` is a shared service account; the people who run or benefit from this premium flow need their own licences",
            u(user)
        ),
        What::BeneficiaryUnlicensed { user } => format!(
            "`{}` gets value from this premium flow without a premium licence: multiplexing; give them a premium licence, or the flow a process licence",
            u(user)
        ),
        What::UnknownConnector => "uses a connector the catalog does not know; treated as premium".to_owned(),
        What::AppNotCovered { user, app } => {
            format!(
                "`{}` holds no licence that covers app `{}`",
                u(user),
                snap.app_id(*app)
            )
        }
        What::PerAppShort { user, needed, held } => format!(
            "`{}` uses apps needing {needed} per-app pass(es) but holds {held}",
            u(user)
        ),
        What::ModelDrivenNeeded { user } => {
            format!("`{}` needs Plan 2 rights to use model-driven apps", u(user))
        }
        What::PortalNotCovered { user } => {
            format!("`{}` holds no licence that covers internal portal use", u(user))
        }
        What::UserLeft { user, on } => format!("`{}` left the organisation on {on}", u(user)),
    }
}

fn findings(snap: &Snapshot, list: impl Iterator<Item = Problem>) -> Vec<Finding> {
    list.map(|p| Finding {
        rule: p.rule,
        message: message(snap, &p),
    })
    .collect()
}

/// `check flow` in full: the decision, in words, with fixes.
pub fn flow_answer(snap: &Snapshot, flow: FlowIdx, as_user: Option<UserIdx>) -> FlowAnswer {
    let d = decide_flow(snap, flow, as_user);
    flow_answer_of(snap, &d)
}

pub fn flow_answer_of(snap: &Snapshot, d: &FlowDecision) -> FlowAnswer {
    let env = snap
        .flow(d.flow)
        .map_or("?".to_owned(), |f| snap.env_id(f.env).to_owned());
    FlowAnswer {
        flow: snap.flow_id(d.flow).to_owned(),
        environment: env,
        r#as: d.as_user.map(|u| snap.user_id(u).to_owned()),
        allowed: d.allowed,
        premium: d.premium,
        licensed_by: licensed_by(snap, &d.licensed_by),
        rules: d.trace.as_slice().to_vec(),
        problems: findings(snap, d.problems.iter()),
        warnings: findings(snap, d.warnings.iter()),
        fixes: flow_fixes(snap, d),
        enforcement: d.enforcement.map(|e| e.kind.as_str()),
    }
}

/// `check app` in full.
pub fn app_answer(snap: &Snapshot, app: AppIdx, user: UserIdx) -> AppAnswer {
    let d: AppDecision = decide_app(snap, app, user);
    AppAnswer {
        app: snap.app_id(app).to_owned(),
        user: snap.user_id(user).to_owned(),
        allowed: d.allowed,
        premium: d.premium,
        licensed_by: licensed_by(snap, &d.licensed_by),
        rules: d.trace.as_slice().to_vec(),
        problems: findings(snap, d.problems.iter()),
        warnings: findings(snap, d.warnings.iter()),
        fixes: app_fixes(snap, &d),
    }
}

/// The timeline of a denied flow, if its kind has one.
pub(crate) fn flow_timeline(snap: &Snapshot, d: &FlowDecision) -> Option<crate::enforcement::Timeline> {
    let e = d.enforcement?;
    let created = snap.flow(d.flow).and_then(|f| f.created);
    timeline(snap.catalog(), &e, created, snap.at())
}
