//! Purchase previews: would this purchase be accepted, through which channel, billed to whom, at what cost? Each
//! rule family is one function below; [`preview_purchase`] runs them in turn and collects what they find.

use rust_decimal::Decimal;
use serde::Serialize;

use super::{catalog_rules, free_currency, push_once};
use crate::catalog::{Channel, Kind, ProductLine, Sku, SkuIdx};
use crate::decision::Finding;
use crate::money::Money;
use crate::rule::Rule;
use crate::scenario::{Account, AdminRole, Cloud, PurchaseChannel, SelfServicePolicy, User, UserKind};
use crate::snapshot::{Snapshot, UserIdx};

/// Would this purchase be accepted, and what would it cost?
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Purchase {
    pub accepted: bool,
    pub sku: String,
    pub quantity: u32,
    /// `admin` (bought directly by an admin), `csp` (through a partner), `self-service` or `trial`.
    pub channel: &'static str,
    /// Who pays: `tenant`, the self-service buyer, or nobody for a trial.
    pub billed_to: String,
    /// A decimal string in JSON, with `currency` beside it.
    #[serde(serialize_with = "crate::money::amount_only")]
    pub monthly_cost: Option<Money>,
    pub currency: Option<String>,
    pub rules: Vec<Rule>,
    pub problems: Vec<Finding>,
}

/// What the checks found: the rules they applied and the reasons to refuse.
#[derive(Default)]
struct Found {
    rules: Vec<Rule>,
    problems: Vec<Finding>,
}

impl Found {
    fn apply(&mut self, rule: Rule) {
        self.rules.push(rule);
    }

    fn refuse(&mut self, rule: Rule, message: String) {
        self.rules.push(rule);
        self.problems.push(Finding::new(rule, message));
    }
}

/// A dry run of buying `quantity` units of `sku`, by `buyer` (an admin when absent), through `channel` (when
/// absent: directly for an admin, self-service for anyone else; a trial or free plan is always signed up for).
pub fn preview_purchase(
    snap: &Snapshot,
    sku: SkuIdx,
    quantity: u32,
    buyer: Option<UserIdx>,
    channel: Option<PurchaseChannel>,
) -> Purchase {
    let catalog = snap.catalog();
    let at = snap.at();
    let Some(def) = catalog.sku(sku) else {
        return Purchase {
            accepted: false,
            sku: "?".to_owned(),
            quantity,
            channel: "admin",
            billed_to: "tenant".to_owned(),
            monthly_cost: None,
            currency: None,
            rules: Vec::new(),
            problems: Vec::new(),
        };
    };
    let user = buyer.and_then(|b| snap.scenario().users.get(b.0 as usize));
    let admin = user.is_none_or(|u| buys_for_the_organisation(snap, def, u));
    let mut found = Found::default();

    let channel = kind_of_offer(def, channel, admin, &mut found);
    cat_4_on_sale(def, at, &mut found);
    cat_4_holding_minimum(snap, sku, def, quantity, &mut found);
    if def.add_on {
        cat_13_add_on_needs_a_base(snap, def, &mut found);
    }
    if def.kind == Kind::Trial {
        buy_7_trial_sign_up(snap, def, user, admin, quantity, &mut found);
    }
    if def.kind == Kind::Paid {
        let self_service = user.filter(|_| channel == PurchaseChannel::SelfService);
        if let Some(u) = user {
            cat_14_work_account(def, u, &mut found);
        }
        buy_8_who_buys_for_the_organisation(def, user, channel, admin, &mut found);
        if let Some(u) = self_service {
            buy_1_self_service(snap, def, u, &mut found);
        }
        sold_through(def, channel, &mut found);
        if self_service.is_some() {
            buy_2_admin_policy(snap, def, &mut found);
        }
    }

    // The catalog rules the SKU rests on come first: what is being bought, and on which terms.
    let mut rules = catalog_rules(def);
    for r in found.rules {
        push_once(&mut rules, r);
    }
    // CAT-10, BUY-7: a trial (or free plan) costs nothing, and says so: `"0.00"` with its currency, not null.
    let monthly_cost = if channel == PurchaseChannel::Trial {
        Some(Money::zero(&free_currency(catalog, def, at)))
    } else {
        def.price_at(at)
            .map(|p| Money::new(p.amount * Decimal::from(quantity), &p.currency))
    };
    let mut problems = found.problems;
    if def.kind == Kind::Paid && monthly_cost.is_none() {
        problems.push(Finding::new(
            rule_of(def, Rule::Cat13),
            format!("`{}` has no price on {at}", def.id),
        ));
    }
    let billed_to = match channel {
        PurchaseChannel::Trial => "nobody".to_owned(),
        PurchaseChannel::SelfService => user.map_or_else(|| "tenant".to_owned(), |u| u.id.clone()),
        PurchaseChannel::Admin | PurchaseChannel::Csp => "tenant".to_owned(),
    };
    Purchase {
        accepted: problems.is_empty(),
        sku: def.id.clone(),
        quantity,
        channel: channel.as_str(),
        billed_to,
        currency: monthly_cost.as_ref().map(|m| m.currency.clone()),
        monthly_cost,
        rules,
        problems,
    }
}

/// BUY-8: a global or billing admin buys for the organisation; so does a Power Platform admin, for the product
/// lines the catalog's terms name (seed 001: "Power Platform-beheerders kunnen licenties kopen voor Power
/// Automate").
fn buys_for_the_organisation(snap: &Snapshot, def: &Sku, u: &User) -> bool {
    let lines = &snap.catalog().terms.self_service.platform_admin_lines;
    u.roles.iter().any(|r| match r {
        AdminRole::GlobalAdmin | AdminRole::BillingAdmin => true,
        AdminRole::PowerPlatformAdmin => lines.contains(&def.product_line),
        AdminRole::EnvironmentAdmin => false,
    })
}

/// CAT-13: an add-on is bought only by a tenant that holds a paid standalone Power Apps or Power Automate licence
/// (assigned, or a subscription such as process licences) or a Dynamics 365 licence. Seed 000: AI Builder "is een
/// capaciteitsuitbreiding voor betaalde, zelfstandige licenties voor Power Apps, Power Automate en Dynamics 365";
/// the other add-ons "zijn van toepassing op alle zelfstandige Power Apps- en Power Automate-abonnementen", portal
/// capacity also on Dynamics 365 licences. Trials, free plans, the developer plan and Microsoft 365 are no base.
fn cat_13_add_on_needs_a_base(snap: &Snapshot, def: &Sku, found: &mut Found) {
    let catalog = snap.catalog();
    let t = snap.tenant();
    let base = t
        .subscribed
        .iter()
        .chain(t.assigned.iter().filter(|(_, n)| **n > 0).map(|(s, _)| s))
        .filter_map(|s| catalog.sku(*s))
        .any(|s| {
            !s.add_on
                && match s.product_line {
                    ProductLine::PowerApps | ProductLine::PowerAutomate => s.kind == Kind::Paid,
                    ProductLine::Dynamics365 => true,
                    _ => false,
                }
        });
    if !base {
        found.refuse(
            rule_of(def, Rule::Cat13),
            format!(
                "`{}` is an add-on to a paid standalone Power Apps, Power Automate or Dynamics 365 licence, and the \
                 tenant holds none",
                def.id
            ),
        );
    }
}

/// BUY-7, CAT-14, BUY-2: a trial. A person signs up for one trial unit, for themselves (seed 001: "Als een
/// gebruiker zich echter als individu aanmeldt voor een proefversie"), with a work account (a consumer account "kan
/// alleen het gratis abonnement gebruiken"), unless an admin has disabled self-service for the product it tries
/// out; an admin assigns at most the trial units the tenant is shown (10,000).
fn buy_7_trial_sign_up(
    snap: &Snapshot,
    def: &Sku,
    user: Option<&User>,
    admin: bool,
    quantity: u32,
    found: &mut Found,
) {
    let terms = &snap.catalog().terms.self_service;
    if let Some(u) = user.filter(|u| u.account == Account::Consumer) {
        found.refuse(
            Rule::Cat14,
            format!(
                "`{}` has a consumer account, which may use only the free plan (not the trial `{}`)",
                u.id, def.id
            ),
        );
    }
    if admin {
        if quantity > terms.trial_units_shown {
            found.refuse(
                Rule::Buy7,
                format!(
                    "an admin assigns at most the {} trial units the tenant is shown, not {quantity}",
                    terms.trial_units_shown
                ),
            );
        }
        return;
    }
    if quantity != 1 {
        found.refuse(
            Rule::Buy7,
            format!("a person signs up for one trial, for themselves, not {quantity}"),
        );
    }
    let tried = def.successor.as_deref().unwrap_or(&def.id);
    let policy = snap.scenario().tenant.self_service.get(tried).copied();
    if policy == Some(SelfServicePolicy::Disabled) {
        found.refuse(
            Rule::Buy2,
            format!("an admin has disabled self-service for `{tried}`, trials of it included"),
        );
    }
}

/// The first rule the SKU's catalog entry cites, else `fallback`.
fn rule_of(def: &Sku, fallback: Rule) -> Rule {
    def.sources
        .iter()
        .find_map(|s| Rule::parse(s))
        .unwrap_or(fallback)
}

/// CAT-9 … CAT-12, BUY-7: what kind of offer the SKU is, and so the channel the purchase goes through. Seeded
/// licences come with Microsoft 365, Windows or Dynamics 365; trials and free plans are signed up for, never
/// bought through a channel; paid SKUs go through the channel asked for, or the buyer's own.
fn kind_of_offer(
    def: &Sku,
    asked: Option<PurchaseChannel>,
    admin: bool,
    found: &mut Found,
) -> PurchaseChannel {
    let own = if admin {
        PurchaseChannel::Admin
    } else {
        PurchaseChannel::SelfService
    };
    let rule = match def.kind {
        Kind::Paid => {
            if asked == Some(PurchaseChannel::Trial) {
                found.refuse(
                    Rule::Cat10,
                    format!(
                        "`{}` is bought, not signed up for as a trial; its trial is a SKU of its own",
                        def.id
                    ),
                );
            }
            return asked.unwrap_or(own);
        }
        Kind::Seeded => {
            found.refuse(
                Rule::Cat9,
                format!(
                    "`{}` is bought with Microsoft 365, Windows or Dynamics 365, not here",
                    def.id
                ),
            );
            return asked.unwrap_or(own);
        }
        Kind::Trial => {
            found.apply(Rule::Cat10);
            Rule::Buy7
        }
        Kind::Free => Rule::Cat12,
        Kind::Developer => Rule::Cat11,
    };
    found.apply(rule);
    if let Some(c) = asked.filter(|c| *c != PurchaseChannel::Trial) {
        found.refuse(
            rule,
            format!(
                "`{}` is signed up for, free of charge; it is not bought {}",
                def.id,
                through(c)
            ),
        );
    }
    PurchaseChannel::Trial
}

/// How a channel reads in a sentence.
fn through(c: PurchaseChannel) -> &'static str {
    match c {
        PurchaseChannel::Admin => "directly by an admin (channel `admin`)",
        PurchaseChannel::Csp => "through a CSP partner (channel `csp`)",
        PurchaseChannel::SelfService => "self-service (channel `self-service`)",
        PurchaseChannel::Trial => "as a trial (channel `trial`)",
    }
}

/// BUY-8: only a global or billing admin creates costs for the organisation, directly or through a partner;
/// anyone else buys self-service and pays themselves (BUY-1). A self-service purchase needs the person buying.
fn buy_8_who_buys_for_the_organisation(
    def: &Sku,
    user: Option<&User>,
    channel: PurchaseChannel,
    admin: bool,
    found: &mut Found,
) {
    match (channel, user) {
        (PurchaseChannel::Admin | PurchaseChannel::Csp, Some(u)) if !admin => found.refuse(
            Rule::Buy8,
            format!(
                "`{}` is not a global or billing admin, so cannot buy `{}` for the organisation {}; they may buy \
                 it self-service",
                u.id,
                def.id,
                through(channel)
            ),
        ),
        (PurchaseChannel::SelfService, None) => found.refuse(
            Rule::Buy1,
            "a self-service purchase is made by a user, who pays: name the buyer (`as`)".to_owned(),
        ),
        (PurchaseChannel::SelfService, Some(_)) if !admin => found.apply(Rule::Buy8),
        _ => {}
    }
}

/// CAT-13, BUY-1: the channels a SKU is sold through. Seed 000's table sells the 5,000-login portal pack "Alleen
/// CSP" (only through a CSP partner); self-service offers only the SKUs the catalog marks for it.
fn sold_through(def: &Sku, channel: PurchaseChannel, found: &mut Found) {
    let (wanted, offered) = match channel {
        PurchaseChannel::Admin => (Channel::Admin, true),
        PurchaseChannel::Csp => (Channel::Csp, true),
        PurchaseChannel::SelfService => (Channel::SelfService, def.self_service),
        // Refused as the wrong kind of offer already (CAT-10).
        PurchaseChannel::Trial => return,
    };
    if offered && def.channels.contains(&wanted) {
        return;
    }
    let rule = if channel == PurchaseChannel::SelfService {
        Rule::Buy1
    } else {
        rule_of(def, Rule::Cat13)
    };
    let sold: Vec<&str> = def
        .channels
        .iter()
        .filter_map(|c| match c {
            Channel::Admin => Some("directly by an admin (`admin`)"),
            Channel::Csp => Some("through a CSP partner (`csp`)"),
            Channel::SelfService if def.self_service => Some("self-service (`self-service`)"),
            Channel::SelfService | Channel::Trial => None,
        })
        .collect();
    let elsewhere = if sold.is_empty() {
        "it is not sold".to_owned()
    } else {
        format!("it is sold only {}", sold.join(" or "))
    };
    found.refuse(
        rule,
        format!("`{}` cannot be bought {}: {elsewhere}", def.id, through(channel)),
    );
}

/// CAT-4, CAT-6, CAT-8: a retired SKU keeps working but can no longer be bought; a new one only from its date.
fn cat_4_on_sale(def: &Sku, at: chrono::NaiveDate, found: &mut Found) {
    if def.purchasable_on(at) {
        return;
    }
    let when = match (def.available_from, def.retired_on) {
        (Some(from), _) if at < from => format!("can be bought from {from}"),
        (_, Some(end)) => format!("can no longer be bought since {end}"),
        _ => "cannot be bought on this date".to_owned(),
    };
    found.refuse(rule_of(def, Rule::Cat4), format!("`{}` {when}", def.id));
}

/// CAT-4: purchase minimum and step. Seed 000: "Na de minimale aankoop van 5 stromen kunnen meer stromen
/// afzonderlijk worden gelicentieerd" (after the minimum purchase of 5 flows, more can be licensed one by one): the
/// minimum is on the tenant's holding (units of its active subscriptions) after the purchase, not on each one.
fn cat_4_holding_minimum(snap: &Snapshot, sku: SkuIdx, def: &Sku, quantity: u32, found: &mut Found) {
    let t = snap.tenant();
    let held = if t.subscribed.contains(&sku) {
        t.units.get(&sku).copied().unwrap_or(0)
    } else {
        0
    };
    let after = held.saturating_add(u64::from(quantity));
    let minimum = u64::from(def.minimum);
    if quantity == 0 || after < minimum || (after - minimum.min(after)) % u64::from(def.step.max(1)) != 0 {
        found.refuse(
            rule_of(def, Rule::Cat4),
            format!(
                "`{}` needs at least {} unit(s) held, bought in steps of {}; the tenant holds {held}, so buying \
                 {quantity} is not valid",
                def.id, def.minimum, def.step
            ),
        );
    }
}

/// CAT-14: paid plans need a work or school account.
fn cat_14_work_account(def: &Sku, u: &User, found: &mut Found) {
    if u.account == Account::Consumer {
        found.refuse(
            Rule::Cat14,
            format!(
                "`{}` has a consumer account, which may use only the free plan (not `{}`)",
                u.id, def.id
            ),
        );
    }
}

/// BUY-1: self-service purchase is for people of the tenant (not guests, not service accounts), from 2020-01-14,
/// in the commercial cloud, outside the segments excluded in the United States, in the countries it is offered in.
fn buy_1_self_service(snap: &Snapshot, def: &Sku, u: &User, found: &mut Found) {
    found.apply(Rule::Buy1);
    let tenant = &snap.scenario().tenant;
    let terms = &snap.catalog().terms.self_service;
    if snap.at() < terms.available_from {
        found.refuse(
            Rule::Buy1,
            format!(
                "self-service purchase is offered from {}, not on {}",
                terms.available_from,
                snap.at()
            ),
        );
    }
    if tenant.cloud != Cloud::Public {
        found.refuse(
            Rule::Buy1,
            format!(
                "self-service purchase is offered to commercial-cloud tenants only, not in `{}`",
                tenant.cloud.as_str()
            ),
        );
    }
    if u.kind == UserKind::Guest {
        found.refuse(
            Rule::Buy1,
            format!(
                "`{}` is a guest; guests cannot buy in a tenant where they are guests",
                u.id
            ),
        );
    } else if u.kind != UserKind::Member {
        found.refuse(
            Rule::Buy1,
            format!("`{}` is a {}, not a person who can pay", u.id, u.kind.as_str()),
        );
    }
    let excluded_here = terms.excluded_segments_in.is_empty()
        || tenant
            .country
            .as_ref()
            .is_none_or(|c| terms.excluded_segments_in.contains(c));
    if excluded_here
        && terms
            .excluded_segments
            .iter()
            .any(|s| s == tenant.segment.as_str())
    {
        found.refuse(
            Rule::Buy1,
            format!(
                "self-service purchase is not available to {} tenants{}",
                tenant.segment.as_str(),
                match &tenant.country {
                    Some(c) => format!(" in `{c}`"),
                    None => " (the tenant's country is not known)".to_owned(),
                }
            ),
        );
    }
    if let Some(c) = tenant.country.as_ref().filter(|c| !terms.countries.contains(c)) {
        found.refuse(
            Rule::Buy1,
            format!(
                "self-service purchase is not offered in `{c}` (buying `{}`)",
                def.id
            ),
        );
    }
}

/// BUY-2: admins allow, limit to trials, or disable self-service purchase per product.
fn buy_2_admin_policy(snap: &Snapshot, def: &Sku, found: &mut Found) {
    let policy = snap
        .scenario()
        .tenant
        .self_service
        .get(&def.id)
        .copied()
        .unwrap_or_default();
    let what = match policy {
        SelfServicePolicy::Enabled => return,
        SelfServicePolicy::Disabled => "disabled",
        _ => "limited to trials",
    };
    found.refuse(
        Rule::Buy2,
        format!("an admin has {what} self-service purchase of `{}`", def.id),
    );
}
