//! The checks that serde cannot make: references, unique ids, one default environment, no parent cycles, known
//! SKUs, and the few cross-field rules of SCENARIO.md.
//!
//! Each problem names the key path it is about and the path to point at (usually the same; a missing key points
//! at its neighbour or its table). The parser turns paths into lines and columns.
//!
//! Where SCENARIO.md is silent, these are the rules:
//! - every reference must resolve: users (`owner`, `co_owners`, `run_by`, `approvers`, `beneficiaries`,
//!   `apps[].users`, `buyer`, `usage[].user`, `events[].user`), environments, apps (`flows[].app`,
//!   `embedded_in`), flows (`parent`, `in_context_of`, `usage[].flow`, `events[].flow`) and entities: an entity
//!   named by an app or flow must be declared under `[[entities]]`, since a typo there would silently change the
//!   ENT decisions (restricted, complex logic);
//! - SKU ids must be in the catalog wherever a SKU is named (`subscriptions[].sku`, `licenses`,
//!   `home_licenses`, `allocations` keys, `tenant.self_service` keys, `events[].sku`); connector names are not
//!   checked (the catalog cannot list every connector, and the decisions treat an unknown one as premium);
//! - ids are unique within their section and not blank; an app and a flow may share an id;
//! - every id, declared or referred to, follows the one id grammar of [`ids`](super::ids) (1 to 128 characters
//!   of `[A-Za-z0-9._@:+-]`, not starting with a dot): so the server can address each in a URL, and a reference
//!   that could never resolve says why instead of searching for a "did you mean";
//! - every quantity (subscription `quantity`, `allocations`, `storage`, `logins`, `page_views`,
//!   `concurrent_runs`, `request_addons`, usage `requests`) is at most [`MAX_QUANTITY`]: the sums the snapshot
//!   makes of them then cannot overflow;
//! - when environments are listed, exactly one is the default;
//! - `version` is 1 to [`SCENARIO_VERSION`]; `tenant.id` is not blank; `country` is two capital letters;
//! - `quantity = 0` is allowed (pointless, not wrong); a subscription may end on the day it starts (an empty
//!   window), not before;
//! - `buyer` is required on a self-service subscription and refused on any other;
//! - an environment's `owner` (CAT-11) is a user, and only a `developer` environment has one;
//! - `home_licenses` need `kind = "guest"` (a member's would be ignored); `home_cloud` alone is harmless, as
//!   SCENARIO.md's own example shows;
//! - an app is not embedded in itself, a flow not in its own context, and no flow is its own ancestor;
//! - a `[[usage]]` names a user or a flow; an event names what its kind needs (`license-removed`: user and SKU,
//!   `trial-started`: user and SKU, `flow-edited`: flow).

use std::collections::{HashMap, HashSet};

use crate::Snapshot;
use crate::catalog::{Catalog, Scope};
use crate::snapshot::Delta;

use super::ids;
use super::limits::MAX_QUANTITY;
use super::locate::Target;
use super::model::{
    AppKind, Consumption, ConsumptionKind, EnvironmentKind, EventKind, Flow, LicenseRequest, PurchaseChannel,
    SCENARIO_VERSION, Scenario, Usage, User, UserKind,
};
use super::path::KeyPath;
use super::suggest;

/// One semantic problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// The key the message is about.
    pub(crate) key: KeyPath,
    /// Where to point: a path, and whether at its key or its value.
    pub(crate) at: KeyPath,
    pub(crate) target: Target,
    pub(crate) message: String,
    pub(crate) help: Option<String>,
}

impl Problem {
    fn new(key: KeyPath, message: impl Into<String>) -> Problem {
        Problem {
            at: key.clone(),
            key,
            target: Target::Value,
            message: message.into(),
            help: None,
        }
    }

    fn help(mut self, help: Option<String>) -> Problem {
        self.help = help;
        self
    }

    fn at(mut self, at: KeyPath, target: Target) -> Problem {
        self.at = at;
        self.target = target;
        self
    }
}

/// A kind of thing that has ids and can be referred to.
#[derive(Clone, Copy)]
enum Kind {
    User,
    Environment,
    App,
    Flow,
    Entity,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Environment => "environment",
            Kind::App => "app",
            Kind::Flow => "flow",
            Kind::Entity => "entity",
        }
    }

    fn section(self) -> &'static str {
        match self {
            Kind::User => "users",
            Kind::Environment => "environments",
            Kind::App => "apps",
            Kind::Flow => "flows",
            Kind::Entity => "entities",
        }
    }
}

/// Whether an id is known (see [`Ids`]).
type Known<'s> = Box<dyn Fn(&str) -> bool + 's>;
/// Every id of a section (see [`Ids`]).
type Every<'s> = Box<dyn Fn() -> Vec<&'s str> + 's>;

/// The ids of one section, in order, with the index of each id's first use.
struct Ids<'s> {
    kind: Kind,
    order: Vec<&'s str>,
    first: foldhash::HashMap<&'s str, usize>,
    /// For the checks of a write ([`problems_in`]): whether an id is known, answered by the snapshot before the
    /// write, and every id, made only when a message lists or suggests them. `order` and `first` are then empty.
    known: Option<Known<'s>>,
    every: Option<Every<'s>>,
}

impl<'s> Ids<'s> {
    fn new<I: IntoIterator<Item = &'s str>>(kind: Kind, ids: I) -> Ids<'s> {
        let order: Vec<&str> = ids.into_iter().collect();
        let mut first = foldhash::HashMap::with_capacity_and_hasher(order.len(), Default::default());
        for (i, id) in order.iter().enumerate() {
            first.entry(*id).or_insert(i);
        }
        Ids {
            kind,
            order,
            first,
            known: None,
            every: None,
        }
    }

    /// The ids of a section known to a snapshot (see `known`).
    fn known_by(
        kind: Kind,
        known: impl Fn(&str) -> bool + 's,
        every: impl Fn() -> Vec<&'s str> + 's,
    ) -> Ids<'s> {
        Ids {
            kind,
            order: Vec::new(),
            first: foldhash::HashMap::default(),
            known: Some(Box::new(known)),
            every: Some(Box::new(every)),
        }
    }

    fn contains(&self, id: &str) -> bool {
        match &self.known {
            Some(known) => known(id),
            None => self.first.contains_key(id),
        }
    }

    /// Empty and duplicate ids.
    fn check_unique(&self, out: &mut Vec<Problem>) {
        for (i, id) in self.order.iter().enumerate() {
            let first = self.first.get(id).copied().filter(|&f| f != i);
            out.extend(id_problem(self.kind.section(), self.kind.noun(), i, id, first));
        }
    }

    /// A reference to an id of this section.
    fn check_ref(&self, id: &str, key: KeyPath, out: &mut Vec<Problem>) {
        if self.contains(id) {
            return;
        }
        if let Err(why) = ids::check(id) {
            out.push(invalid_id(key, self.kind.noun(), id, &why));
            return;
        }
        let every = self.every.as_ref().map(|e| e());
        let order = every.as_deref().unwrap_or(&self.order);
        let help = suggest::did_you_mean(id, order.iter().copied()).or_else(|| self.known(order));
        out.push(Problem::new(key, format!("unknown {} `{id}`", self.kind.noun())).help(help));
    }

    /// "known users: `a`, `b`" when there are few; a hint to declare it when there are none.
    fn known(&self, order: &[&str]) -> Option<String> {
        // Only a few are listed: stop counting past them (a tenant of 20,000 users made this quadratic).
        let mut distinct: Vec<&str> = Vec::new();
        for id in order {
            if !distinct.contains(id) {
                distinct.push(id);
                if distinct.len() > 6 {
                    break;
                }
            }
        }
        match distinct.len() {
            0 => Some(format!("there are no `{}`", self.kind.section())),
            1..=6 => Some(format!(
                "known {}: {}",
                self.kind.section(),
                suggest::list(distinct)
            )),
            _ => None,
        }
    }
}

/// The problem with item `i`'s id in `section` (`noun`: how messages name it), if any: blank, not of the id
/// grammar, or the same as item `first`'s.
fn id_problem(section: &str, noun: &str, i: usize, id: &str, first: Option<usize>) -> Option<Problem> {
    let key = KeyPath::root().key(section).index(i).key("id");
    if id.trim().is_empty() {
        Some(Problem::new(key, format!("empty {noun} id")))
    } else if let Err(why) = ids::check(id) {
        Some(invalid_id(key, noun, id, &why))
    } else {
        first.map(|first| {
            Problem::new(key, format!("duplicate {noun} id `{id}`"))
                .help(Some(format!("`{section}[{first}]` has the same id")))
        })
    }
}

/// "`x` is not a valid user id: it contains `/`", with the grammar as help.
fn invalid_id(key: KeyPath, noun: &str, id: &str, why: &str) -> Problem {
    Problem::new(
        key,
        format!("`{}` is not a valid {noun} id: {why}", ids::shown(id)),
    )
    .help(Some(ids::GRAMMAR.to_owned()))
}

/// A quantity past [`MAX_QUANTITY`].
fn quantity(n: u64, key: KeyPath, out: &mut Vec<Problem>) {
    if n > MAX_QUANTITY {
        out.push(
            Problem::new(
                key,
                format!("{n} is more than {MAX_QUANTITY}, the largest quantity entitle takes"),
            )
            .help(Some("no tenant comes near it; check for a typo".to_owned())),
        );
    }
}

/// The catalog's SKU ids, for "unknown SKU" checks.
struct Skus<'c> {
    catalog: &'c Catalog,
}

impl Skus<'_> {
    fn check(&self, id: &str, key: KeyPath, target: Target, out: &mut Vec<Problem>) {
        if self.catalog.sku_idx(id).is_some() {
            return;
        }
        // No SKU id is longer than an id; a longer one is neither compared nor repeated whole.
        let help = (id.len() <= ids::MAX_LEN)
            .then(|| suggest::did_you_mean(id, self.catalog.skus.iter().map(|s| s.id.as_str())))
            .flatten()
            .unwrap_or_else(|| "`entitle catalog` lists the SKU ids".to_owned());
        let at = key.clone();
        out.push(
            Problem::new(key, format!("unknown SKU `{}`", ids::shown(id)))
                .help(Some(help))
                .at(at, target),
        );
    }
}

/// Every semantic problem of a scenario, in the order of its sections.
pub(crate) fn problems(s: &Scenario, catalog: &Catalog) -> Vec<Problem> {
    let mut out = Vec::new();
    let root = KeyPath::root();
    let skus = Skus { catalog };
    let users = Ids::new(Kind::User, s.users.iter().map(|u| u.id.as_str()));
    let envs = Ids::new(Kind::Environment, s.environments.iter().map(|e| e.id.as_str()));
    let apps = Ids::new(Kind::App, s.apps.iter().map(|a| a.id.as_str()));
    let flows = Ids::new(Kind::Flow, s.flows.iter().map(|f| f.id.as_str()));
    let entities = Ids::new(Kind::Entity, s.entities.iter().map(|e| e.id.as_str()));
    let checks = Checks {
        skus,
        users,
        envs,
        apps,
        flows,
        entities,
    };
    let (skus, users, envs, apps, flows, entities) = (
        &checks.skus,
        &checks.users,
        &checks.envs,
        &checks.apps,
        &checks.flows,
        &checks.entities,
    );

    // version
    if let Some(v) = s.version {
        let key = root.key("version");
        if v == 0 {
            out.push(
                Problem::new(key, "there is no version 0").help(Some("the first version is 1".to_owned())),
            );
        } else if v > SCENARIO_VERSION {
            out.push(
                Problem::new(key, format!("version {v} is newer than this entitle reads")).help(Some(
                    format!("this build reads version {SCENARIO_VERSION}; upgrade entitle"),
                )),
            );
        }
    }

    // [tenant]
    let tenant = root.key("tenant");
    if s.tenant.id.trim().is_empty() {
        out.push(Problem::new(tenant.key("id"), "empty tenant id"));
    } else if let Err(why) = ids::check(&s.tenant.id) {
        // The grammar has no `*`, which the audit log uses for operator-level entries.
        out.push(invalid_id(tenant.key("id"), "tenant", &s.tenant.id, &why));
    }
    if let Some(country) = &s.tenant.country {
        let ok = country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase());
        if !ok {
            let help = if country.chars().count() == 2 && country.chars().all(|c| c.is_ascii_alphabetic()) {
                format!("did you mean `{}`?", country.to_ascii_uppercase())
            } else {
                "write an ISO 3166-1 alpha-2 code: two capital letters, such as `NL`".to_owned()
            };
            out.push(
                Problem::new(
                    tenant.key("country"),
                    format!("`{country}` is not a two-letter country code"),
                )
                .help(Some(help)),
            );
        }
    }
    for sku in s.tenant.self_service.keys() {
        skus.check(sku, tenant.key("self_service").key(sku), Target::Key, &mut out);
    }

    // [[subscriptions]]
    let mut sub_ids: HashMap<&str, usize> = HashMap::new();
    for (i, sub) in s.subscriptions.iter().enumerate() {
        let here = root.key("subscriptions").index(i);
        if let Some(id) = &sub.id {
            if id.trim().is_empty() {
                out.push(Problem::new(here.key("id"), "empty subscription id"));
            } else if let Err(why) = ids::check(id) {
                out.push(invalid_id(here.key("id"), "subscription", id, &why));
            } else if let Some(first) = sub_ids.insert(id, i) {
                sub_ids.insert(id, first);
                out.push(
                    Problem::new(here.key("id"), format!("duplicate subscription id `{id}`"))
                        .help(Some(format!("`subscriptions[{first}]` has the same id"))),
                );
            }
        }
        skus.check(&sub.sku, here.key("sku"), Target::Value, &mut out);
        quantity(u64::from(sub.quantity), here.key("quantity"), &mut out);
        if let (Some(start), Some(end)) = (sub.start, sub.end)
            && end < start
        {
            out.push(Problem::new(
                here.key("end"),
                format!("ends on {end}, before it starts on {start}"),
            ));
        }
        match (&sub.buyer, sub.channel) {
            (Some(buyer), PurchaseChannel::SelfService) => {
                users.check_ref(buyer, here.key("buyer"), &mut out)
            }
            (Some(_), _) => out.push(
                Problem::new(
                    here.key("buyer"),
                    "only a self-service subscription has a `buyer`",
                )
                .help(Some(
                    "remove `buyer`, or set `channel = \"self-service\"`".to_owned(),
                )),
            ),
            (None, PurchaseChannel::SelfService) => out.push(
                Problem::new(here.key("buyer"), "a self-service subscription needs a `buyer`")
                    .help(Some("name the user who bought it".to_owned()))
                    .at(here.key("channel"), Target::Value),
            ),
            (None, _) => {}
        }
    }

    // [[users]]
    users.check_unique(&mut out);
    for (i, user) in s.users.iter().enumerate() {
        check_user(&checks, i, user, &mut out);
    }

    // [[environments]]
    envs.check_unique(&mut out);
    let mut default: Option<usize> = None;
    for (i, env) in s.environments.iter().enumerate() {
        let here = root.key("environments").index(i);
        if env.default {
            match default {
                None => default = Some(i),
                Some(first) => out.push(
                    Problem::new(here.key("default"), "a second default environment").help(Some(format!(
                        "`environments[{first}]` is already the default; exactly one environment is"
                    ))),
                ),
            }
        }
        // CAT-11: only a developer environment belongs to one user.
        if let Some(owner) = &env.owner {
            users.check_ref(owner, here.key("owner"), &mut out);
            if env.kind != EnvironmentKind::Developer {
                out.push(
                    Problem::new(here.key("owner"), "only a developer environment has an owner")
                        .help(Some(
                            "set `kind = \"developer\"` (an individual environment of the developer plan, CAT-11), \
                             or remove `owner`"
                                .to_owned(),
                        )),
                );
            }
        }
        if let Some(st) = &env.storage {
            for (name, n) in [
                ("database_mb", st.database_mb),
                ("file_mb", st.file_mb),
                ("log_mb", st.log_mb),
            ] {
                quantity(n, here.key("storage").key(name), &mut out);
            }
        }
        for (sku, n) in &env.allocations {
            let key = here.key("allocations").key(sku);
            quantity(*n, key.clone(), &mut out);
            skus.check(sku, key.clone(), Target::Key, &mut out);
            // An allocation gives an environment units of an environment-scoped add-on, or flow-scoped units
            // its flows then take (RULES.md's vocabulary; FLOW-14, AI-1, PORTAL-5). A user's licence or a tenant
            // pool is never allocated: counting it here would grant what was not bought for this.
            if let Some(def) = catalog.sku_by_id(sku)
                && matches!(def.scope, Scope::User | Scope::Tenant)
            {
                let scope = if def.scope == Scope::User {
                    "user"
                } else {
                    "tenant"
                };
                out.push(
                    Problem::new(key.clone(), format!("`{sku}` is {scope}-scoped and is not allocated to environments"))
                        .help(Some(
                            "allocate environment or flow SKUs (process, hosted process, AI Builder, portal add-ons); \
                             assign user SKUs to users"
                                .to_owned(),
                        ))
                        .at(key, Target::Key),
                );
            }
        }
    }
    if !s.environments.is_empty() && default.is_none() {
        out.push(
            Problem::new(root.key("environments"), "no environment is the default")
                .help(Some("set `default = true` on exactly one environment".to_owned()))
                .at(root.key("environments").index(0), Target::Value),
        );
    }

    // [[apps]]
    apps.check_unique(&mut out);
    for (i, app) in s.apps.iter().enumerate() {
        let here = root.key("apps").index(i);
        envs.check_ref(&app.environment, here.key("environment"), &mut out);
        for (name, n) in [("logins", app.logins), ("page_views", app.page_views)] {
            if let Some(n) = n {
                quantity(n, here.key(name), &mut out);
            }
        }
        if let Some(host) = &app.embedded_in {
            if *host == app.id {
                out.push(Problem::new(
                    here.key("embedded_in"),
                    "an app cannot be embedded in itself",
                ));
            } else {
                apps.check_ref(host, here.key("embedded_in"), &mut out);
            }
        }
        for (k, user) in app.users.iter().enumerate() {
            users.check_ref(user, here.key("users").index(k), &mut out);
        }
        if let Some(owner) = &app.owner {
            users.check_ref(owner, here.key("owner"), &mut out);
        }
        for (k, entity) in app.entities.iter().enumerate() {
            entities.check_ref(entity, here.key("entities").index(k), &mut out);
        }
    }

    // [[flows]]
    flows.check_unique(&mut out);
    for (i, flow) in s.flows.iter().enumerate() {
        check_flow(&checks, i, flow, &mut out);
    }
    parent_cycles(s, flows, &mut out);

    // [[entities]]
    entities.check_unique(&mut out);

    // [[usage]]
    for (i, u) in s.usage.iter().enumerate() {
        check_usage(&checks, i, u, &mut out);
    }

    // [[events]]
    for (i, e) in s.events.iter().enumerate() {
        let here = root.key("events").index(i);
        if let Some(user) = &e.user {
            users.check_ref(user, here.key("user"), &mut out);
        }
        if let Some(flow) = &e.flow {
            flows.check_ref(flow, here.key("flow"), &mut out);
        }
        if let Some(sku) = &e.sku {
            skus.check(sku, here.key("sku"), Target::Value, &mut out);
        }
        let (kind, needs): (&str, &[&str]) = match e.kind {
            EventKind::LicenseRemoved => ("license-removed", &["user", "sku"]),
            EventKind::FlowEdited => ("flow-edited", &["flow"]),
            EventKind::TrialStarted => ("trial-started", &["user", "sku"]),
        };
        for need in needs {
            let missing = match *need {
                "user" => e.user.is_none(),
                "flow" => e.flow.is_none(),
                _ => e.sku.is_none(),
            };
            if missing {
                out.push(
                    Problem::new(here.key(need), format!("a `{kind}` event needs a `{need}`"))
                        .at(here.key("kind"), Target::Value),
                );
            }
        }
    }

    // [[license_requests]]
    let mut request_ids: HashMap<&str, usize> = HashMap::new();
    for (i, r) in s.license_requests.iter().enumerate() {
        let first = request_ids.get(r.id.as_str()).copied();
        let problem = id_problem("license_requests", "licence request", i, &r.id, first);
        if problem.is_none() {
            request_ids.insert(&r.id, i);
        }
        out.extend(problem);
        check_request(&checks, i, r, &mut out);
    }

    // [[consumption]]
    let mut event_ids: HashMap<&str, usize> = HashMap::new();
    for (i, c) in s.consumption.iter().enumerate() {
        if let Some(id) = &c.id {
            let first = event_ids.get(id.as_str()).copied();
            let problem = id_problem("consumption", "consumption event", i, id, first);
            if problem.is_none() {
                event_ids.insert(id, i);
            }
            out.extend(problem);
        }
        check_consumption(s, &checks, i, c, &mut out);
    }

    out
}

/// A `[[consumption]]` record: the fields its kind needs, no others, and references that exist.
fn check_consumption(s: &Scenario, c: &Checks<'_>, i: usize, e: &Consumption, out: &mut Vec<Problem>) {
    let here = KeyPath::root().key("consumption").index(i);
    let (kind, needs): (&str, &[&str]) = match e.kind {
        ConsumptionKind::PortalLogin => ("portal-login", &["portal", "user"]),
        ConsumptionKind::PageViews => ("page-views", &["portal", "count"]),
        ConsumptionKind::AiCredits => ("ai-credits", &["environment", "credits"]),
    };
    let given = [
        ("portal", e.portal.is_some()),
        ("user", e.user.is_some()),
        ("count", e.count.is_some()),
        ("environment", e.environment.is_some()),
        ("credits", e.credits.is_some()),
        ("model", e.model.is_some()),
        ("preview", e.preview),
    ];
    for (field, is_given) in given {
        let needed = needs.contains(&field);
        let wanted = needed || (e.kind == ConsumptionKind::AiCredits && matches!(field, "model" | "preview"));
        if needed && !is_given {
            out.push(
                Problem::new(here.key(field), format!("a `{kind}` record needs a `{field}`"))
                    .at(here.key("kind"), Target::Value),
            );
        } else if is_given && !wanted {
            out.push(
                Problem::new(
                    here.key(field),
                    format!("`{field}` is not a field of a `{kind}` record"),
                )
                .at(here.key("kind"), Target::Value),
            );
        }
    }
    if let Some(portal) = &e.portal {
        let found = s.apps.iter().find(|a| a.id == *portal);
        match found {
            Some(a) if a.kind != AppKind::Portal => out.push(Problem::new(
                here.key("portal"),
                format!("app `{portal}` is a {} app, not a portal", a.kind.as_str()),
            )),
            Some(_) => {}
            None => c.apps.check_ref(portal, here.key("portal"), out),
        }
    }
    if let Some(user) = &e.user
        && let Err(why) = ids::check(user)
    {
        out.push(invalid_id(here.key("user"), "external user", user, &why));
    }
    if let Some(env) = &e.environment {
        c.envs.check_ref(env, here.key("environment"), out);
    }
    for (field, n) in [("count", e.count), ("credits", e.credits)] {
        match n {
            Some(0) => out.push(Problem::new(
                here.key(field),
                format!("`{field}` is 0; a record counts something"),
            )),
            Some(n) => quantity(n, here.key(field), out),
            None => {}
        }
    }
}

/// The problems of `s`, a scenario that differs from `base`'s (a valid one) by `delta` alone: the checks of the
/// items the write touched, with ids looked up in `base`'s interners instead of sets built from the whole
/// scenario. `None` when the change needs the whole check (a flow with a parent could close a cycle).
pub(crate) fn problems_in(
    s: &Scenario,
    catalog: &Catalog,
    base: &Snapshot,
    d: &Delta,
) -> Option<Vec<Problem>> {
    if d.flows
        .touched()
        .any(|i| s.flows.get(i).is_some_and(|f| f.parent.is_some()))
    {
        return None;
    }
    let new_users: Vec<(usize, &str)> = d
        .users
        .appended
        .clone()
        .filter_map(|i| Some((i, s.users.get(i)?.id.as_str())))
        .collect();
    let new_flows: Vec<(usize, &str)> = d
        .flows
        .appended
        .clone()
        .filter_map(|i| Some((i, s.flows.get(i)?.id.as_str())))
        .collect();
    let mut out = Vec::new();
    let checks = Checks {
        skus: Skus { catalog },
        users: Ids::known_by(
            Kind::User,
            |id| base.user_idx(id).is_some() || new_users.iter().any(|(_, n)| *n == id),
            || s.users.iter().map(|u| u.id.as_str()).collect(),
        ),
        envs: Ids::known_by(
            Kind::Environment,
            |id| base.env_idx(id).is_some(),
            || s.environments.iter().map(|e| e.id.as_str()).collect(),
        ),
        apps: Ids::known_by(
            Kind::App,
            |id| base.app_idx(id).is_some(),
            || s.apps.iter().map(|a| a.id.as_str()).collect(),
        ),
        flows: Ids::known_by(
            Kind::Flow,
            |id| base.flow_idx(id).is_some() || new_flows.iter().any(|(_, n)| *n == id),
            || s.flows.iter().map(|f| f.id.as_str()).collect(),
        ),
        entities: Ids::known_by(
            Kind::Entity,
            |id| base.has_entity(id),
            || s.entities.iter().map(|e| e.id.as_str()).collect(),
        ),
    };
    new_ids(
        Kind::User,
        &new_users,
        |id| base.user_idx(id).map(|u| u.0 as usize),
        &mut out,
    );
    for i in d.users.touched() {
        if let Some(user) = s.users.get(i) {
            check_user(&checks, i, user, &mut out);
        }
    }
    new_ids(
        Kind::Flow,
        &new_flows,
        |id| base.flow_idx(id).map(|f| f.0 as usize),
        &mut out,
    );
    for i in d.flows.touched() {
        if let Some(flow) = s.flows.get(i) {
            check_flow(&checks, i, flow, &mut out);
        }
    }
    for i in d.usage.touched() {
        if let Some(u) = s.usage.get(i) {
            check_usage(&checks, i, u, &mut out);
        }
    }
    for i in d.license_requests.appended.clone() {
        let Some(r) = s.license_requests.get(i) else {
            continue;
        };
        let first = s.license_requests.iter().take(i).position(|x| x.id == r.id);
        out.extend(id_problem("license_requests", "licence request", i, &r.id, first));
    }
    for i in d.license_requests.touched() {
        if let Some(r) = s.license_requests.get(i) {
            check_request(&checks, i, r, &mut out);
        }
    }
    Some(out)
}

/// The ids of items appended by a write: not blank, of the grammar, and new (the checks of
/// [`Ids::check_unique`] for the appended items alone; `before`: where an id already stands).
fn new_ids(
    kind: Kind,
    appended: &[(usize, &str)],
    before: impl Fn(&str) -> Option<usize>,
    out: &mut Vec<Problem>,
) {
    for (n, &(i, id)) in appended.iter().enumerate() {
        let first = before(id).or_else(|| {
            appended
                .iter()
                .take(n)
                .find(|(_, other)| *other == id)
                .map(|(j, _)| *j)
        });
        out.extend(id_problem(kind.section(), kind.noun(), i, id, first));
    }
}

/// What the checks of one item read: the catalog's SKUs and the ids of each section.
struct Checks<'s> {
    skus: Skus<'s>,
    users: Ids<'s>,
    envs: Ids<'s>,
    apps: Ids<'s>,
    flows: Ids<'s>,
    entities: Ids<'s>,
}

fn check_user(c: &Checks<'_>, i: usize, user: &User, out: &mut Vec<Problem>) {
    let here = KeyPath::root().key("users").index(i);
    for (k, sku) in user.licenses.iter().enumerate() {
        c.skus
            .check(sku, here.key("licenses").index(k), Target::Value, out);
    }
    for (k, sku) in user.home_licenses.iter().enumerate() {
        c.skus
            .check(sku, here.key("home_licenses").index(k), Target::Value, out);
    }
    // `home_cloud` alone is harmless (SCENARIO.md's own example gives it to a member); home licences on a
    // non-guest would be ignored, which silently changes decisions.
    if user.kind != UserKind::Guest && !user.home_licenses.is_empty() {
        out.push(
            Problem::new(here.key("home_licenses"), "only a guest has home licenses").help(Some(
                "set `kind = \"guest\"`, or move them to `licenses`".to_owned(),
            )),
        );
    }
}

fn check_flow(c: &Checks<'_>, i: usize, flow: &Flow, out: &mut Vec<Problem>) {
    let here = KeyPath::root().key("flows").index(i);
    c.envs.check_ref(&flow.environment, here.key("environment"), out);
    for (name, n) in [
        ("concurrent_runs", flow.concurrent_runs),
        ("request_addons", flow.request_addons),
    ] {
        if let Some(n) = n {
            quantity(u64::from(n), here.key(name), out);
        }
    }
    c.users.check_ref(&flow.owner, here.key("owner"), out);
    for (name, list) in [
        ("co_owners", &flow.co_owners),
        ("run_by", &flow.run_by),
        ("approvers", &flow.approvers),
        ("beneficiaries", &flow.beneficiaries),
    ] {
        for (k, user) in list.iter().enumerate() {
            c.users.check_ref(user, here.key(name).index(k), out);
        }
    }
    if let Some(parent) = flow.parent.as_deref().filter(|p| *p != flow.id) {
        c.flows.check_ref(parent, here.key("parent"), out);
    }
    if let Some(app) = &flow.app {
        c.apps.check_ref(app, here.key("app"), out);
    }
    if let Some(other) = &flow.in_context_of {
        if *other == flow.id {
            out.push(Problem::new(
                here.key("in_context_of"),
                "a flow cannot be in the context of itself",
            ));
        } else {
            c.flows.check_ref(other, here.key("in_context_of"), out);
        }
    }
    for (k, entity) in flow.entities.iter().enumerate() {
        c.entities.check_ref(entity, here.key("entities").index(k), out);
    }
}

fn check_usage(c: &Checks<'_>, i: usize, u: &Usage, out: &mut Vec<Problem>) {
    let here = KeyPath::root().key("usage").index(i);
    quantity(u.requests, here.key("requests"), out);
    if let Some(user) = &u.user {
        c.users.check_ref(user, here.key("user"), out);
    }
    if let Some(flow) = &u.flow {
        c.flows.check_ref(flow, here.key("flow"), out);
    }
    if u.user.is_none() && u.flow.is_none() {
        out.push(
            Problem::new(here, "usage names neither a `user` nor a `flow`")
                .help(Some("say whose requests these are".to_owned())),
        );
    }
}

fn check_request(c: &Checks<'_>, i: usize, r: &LicenseRequest, out: &mut Vec<Problem>) {
    let here = KeyPath::root().key("license_requests").index(i);
    c.users.check_ref(&r.user, here.key("user"), out);
    c.skus.check(&r.sku, here.key("sku"), Target::Value, out);
}

/// Flows that are their own ancestors, reported once per cycle at the cycle's first flow (in file order).
fn parent_cycles(s: &Scenario, flows: &Ids<'_>, out: &mut Vec<Problem>) {
    let parent_of = |i: usize| -> Option<usize> {
        let parent = s.flows.get(i)?.parent.as_deref()?;
        flows.first.get(parent).copied()
    };
    let mut reported: HashSet<usize> = HashSet::new();
    let mut visited: HashSet<usize> = HashSet::new();
    for start in 0..s.flows.len() {
        let mut chain: Vec<usize> = Vec::new();
        let mut at = Some(start);
        while let Some(i) = at {
            if visited.contains(&i) {
                break;
            }
            if let Some(pos) = chain.iter().position(|&c| c == i) {
                let cycle = chain.get(pos..).unwrap_or_default();
                let first = cycle.iter().copied().min().unwrap_or(i);
                if reported.insert(first) {
                    out.push(cycle_problem(s, first, flows));
                }
                break;
            }
            chain.push(i);
            at = parent_of(i);
        }
        visited.extend(chain);
    }
}

fn cycle_problem(s: &Scenario, first: usize, flows: &Ids<'_>) -> Problem {
    let mut names = Vec::new();
    let mut at = Some(first);
    while let Some(i) = at {
        let Some(flow) = s.flows.get(i) else { break };
        names.push(format!("`{}`", flow.id));
        at = flow.parent.as_deref().and_then(|p| flows.first.get(p).copied());
        if at == Some(first) || names.len() > s.flows.len() {
            if let Some(f) = s.flows.get(first) {
                names.push(format!("`{}`", f.id));
            }
            break;
        }
    }
    Problem::new(
        KeyPath::root().key("flows").index(first).key("parent"),
        format!("parent cycle: {}", names.join(" → ")),
    )
    .help(Some("a child flow cannot be its own ancestor".to_owned()))
}
