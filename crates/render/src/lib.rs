//! Rendering answers: aligned tables for people (colour only on a terminal), CSV for spreadsheets.

use std::io::IsTerminal;

use chrono::NaiveDate;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use entitle_core::Catalog;
use entitle_core::audit::Audit;
use entitle_core::buying::{Cost, Purchase};
use entitle_core::capacity::Capacity;
use entitle_core::decision::Finding;
use entitle_core::fixes::{Action, CheckedFix, Fix};
use entitle_core::report::{AppAnswer, FlowAnswer, LicensedByJson};
use entitle_core::requests::Limit;
use entitle_core::rule::Rule;

/// How an answer is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// Writing an answer failed (a CSV or JSON writer's fault: the answers themselves always render).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError(pub String);

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RenderError {}

/// Colour when stdout is a terminal and `NO_COLOR` is not set.
pub fn color_enabled() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn paint(text: &str, code: &str, color: bool) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

fn yes_no(v: bool, color: bool) -> String {
    if v {
        paint("yes", "32", color)
    } else {
        paint("no", "31;1", color)
    }
}

fn table() -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    t
}

fn rules(list: &[Rule]) -> String {
    list.iter().map(|r| r.id()).collect::<Vec<_>>().join(" → ")
}

fn by(l: &LicensedByJson) -> String {
    let mut s = l.kind.to_owned();
    let parts: Vec<String> = [
        ("user", &l.user),
        ("sku", &l.sku),
        ("flow", &l.flow),
        ("app", &l.app),
    ]
    .iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} {v}")))
    .collect();
    if !parts.is_empty() {
        s.push_str(&format!(" ({})", parts.join(", ")));
    }
    s
}

fn fix_line(f: &Fix) -> String {
    let mut s = format!("{:?}", f.action);
    s = kebab(&s);
    if let Some(sku) = &f.sku {
        s.push_str(&format!(" {sku}"));
    }
    if let Some(q) = f.quantity {
        s.push_str(&format!(" ×{q}"));
    }
    if let Some(t) = &f.target {
        s.push_str(&format!(" → {t}"));
    }
    match &f.monthly_cost {
        Some(m) => s.push_str(&format!(" — {m}/month")),
        None => s.push_str(" — no cost"),
    }
    s
}

/// A checked fix in words: a combined one as its steps, a capacity one with the units it allocates.
fn checked_line(f: &CheckedFix) -> String {
    if f.fix.action == Action::Combined {
        let steps: Vec<String> = f.steps.iter().map(checked_line).collect();
        let total = f
            .fix
            .monthly_cost
            .as_ref()
            .map_or_else(|| "no cost".to_owned(), |m| format!("{m}/month"));
        return format!("combined: {} — {total} in all", steps.join("; then "));
    }
    let mut s = fix_line(&f.fix);
    if let (Some(k @ 1..), Some(env), Action::AssignProcessLicense) =
        (f.allocate, &f.environment, f.fix.action)
    {
        s.push_str(&format!(" (allocates {k} to {env})"));
    }
    s
}

fn kebab(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Findings on one line, for a CSV cell.
fn joined(list: &[Finding]) -> String {
    list.iter()
        .map(|p| format!("{}: {}", p.rule, p.message))
        .collect::<Vec<_>>()
        .join("; ")
}

fn findings_text(list: &[Finding]) -> String {
    list.iter()
        .map(|p| format!("{}: {}", p.rule, p.message))
        .collect::<Vec<_>>()
        .join("\n")
}

fn fixes_text(list: &[CheckedFix]) -> String {
    list.iter()
        .enumerate()
        .map(|(i, f)| format!("{}. {}", i + 1, checked_line(f)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn kv(rows: Vec<(&str, String)>) -> String {
    let mut t = table();
    for (k, v) in rows.into_iter().filter(|(_, v)| !v.is_empty()) {
        t.add_row(vec![k.to_owned(), v]);
    }
    format!("{t}\n")
}

fn csv_out(header: &[&str], rows: Vec<Vec<String>>) -> Result<String, RenderError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).map_err(|e| RenderError(e.to_string()))?;
    for r in rows {
        w.write_record(&r).map_err(|e| RenderError(e.to_string()))?;
    }
    let bytes = w.into_inner().map_err(|e| RenderError(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| RenderError(e.to_string()))
}

/// What a flow and an app answer share: the verdict, the licence, the rules, problems, warnings and fixes.
struct Verdict<'a> {
    allowed: bool,
    premium: bool,
    licensed_by: &'a LicensedByJson,
    rules: &'a [Rule],
    problems: &'a [Finding],
    warnings: &'a [Finding],
    fixes: &'a [CheckedFix],
}

impl Verdict<'_> {
    fn table_rows(&self, color: bool) -> Vec<(&'static str, String)> {
        vec![
            ("allowed", yes_no(self.allowed, color)),
            ("premium", if self.premium { "yes" } else { "no" }.to_owned()),
            ("licensed by", by(self.licensed_by)),
            ("rules", rules(self.rules)),
            ("problems", findings_text(self.problems)),
            ("warnings", findings_text(self.warnings)),
            ("fixes", fixes_text(self.fixes)),
        ]
    }

    const CSV_HEADER: [&'static str; 6] = [
        "allowed",
        "premium",
        "licensed_by",
        "rules",
        "problems",
        "cheapest_fix",
    ];

    fn csv_cells(&self) -> Vec<String> {
        vec![
            self.allowed.to_string(),
            self.premium.to_string(),
            by(self.licensed_by),
            rules(self.rules),
            joined(self.problems),
            self.fixes.first().map(checked_line).unwrap_or_default(),
        ]
    }
}

fn flow_verdict(a: &FlowAnswer) -> Verdict<'_> {
    Verdict {
        allowed: a.allowed,
        premium: a.premium,
        licensed_by: &a.licensed_by,
        rules: &a.rules,
        problems: &a.problems,
        warnings: &a.warnings,
        fixes: &a.fixes,
    }
}

fn app_verdict(a: &AppAnswer) -> Verdict<'_> {
    Verdict {
        allowed: a.allowed,
        premium: a.premium,
        licensed_by: &a.licensed_by,
        rules: &a.rules,
        problems: &a.problems,
        warnings: &a.warnings,
        fixes: &a.fixes,
    }
}

pub fn flow_table(a: &FlowAnswer, color: bool) -> String {
    let mut rows = vec![
        ("flow", format!("{} (environment {})", a.flow, a.environment)),
        ("as", a.r#as.clone().unwrap_or_default()),
    ];
    rows.extend(flow_verdict(a).table_rows(color));
    // After "licensed by": why it is at risk.
    rows.insert(
        5.min(rows.len()),
        ("enforcement", a.enforcement.unwrap_or("").to_owned()),
    );
    kv(rows)
}

pub fn flow_csv(a: &FlowAnswer) -> Result<String, RenderError> {
    let mut header = vec!["flow", "environment", "as"];
    header.extend(Verdict::CSV_HEADER);
    let mut row = vec![
        a.flow.clone(),
        a.environment.clone(),
        a.r#as.clone().unwrap_or_default(),
    ];
    row.extend(flow_verdict(a).csv_cells());
    csv_out(&header, vec![row])
}

pub fn app_table(a: &AppAnswer, passes: u32, color: bool) -> String {
    let per_app = a
        .licensed_by
        .sku
        .as_deref()
        .is_some_and(|s| s.contains("per-app"));
    let mut rows = vec![
        ("app", a.app.clone()),
        ("user", a.user.clone()),
        (
            "per-app passes",
            if per_app {
                passes.to_string()
            } else {
                String::new()
            },
        ),
    ];
    rows.extend(app_verdict(a).table_rows(color));
    kv(rows)
}

pub fn app_csv(a: &AppAnswer) -> Result<String, RenderError> {
    let mut header = vec!["app", "user"];
    header.extend(Verdict::CSV_HEADER);
    let mut row = vec![a.app.clone(), a.user.clone()];
    row.extend(app_verdict(a).csv_cells());
    csv_out(&header, vec![row])
}

fn date(d: Option<NaiveDate>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

pub fn audit_table(a: &Audit, color: bool) -> String {
    let s = &a.summary;
    let mut out = format!(
        "Audit of `{}` on {}: {} flow(s) in {} environment(s), {} at risk, {} turned off\n",
        a.tenant,
        a.at,
        s.flows,
        s.environments,
        paint(
            &s.at_risk.to_string(),
            if s.at_risk > 0 { "31;1" } else { "32" },
            color
        ),
        s.turned_off
    );
    if !s.by_enforcement.is_empty() {
        let kinds: Vec<String> = s
            .by_enforcement
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        out.push_str(&format!("By enforcement kind: {}\n", kinds.join(", ")));
    }
    if !s.cheapest_fixes_monthly.0.is_empty() {
        let totals: Vec<String> = s
            .cheapest_fixes_monthly
            .0
            .iter()
            .map(|(c, v)| format!("{v:.2} {c}"))
            .collect();
        out.push_str(&format!(
            "The cheapest fixes that hold together (chosen flow by flow, each spare unit counted once): {} a month\n",
            totals.join(" + ")
        ));
    }
    if !a.flows.is_empty() {
        let mut t = table();
        t.set_header(vec![
            "flow",
            "environment",
            "owner",
            "enforcement",
            "state",
            "turn-off",
            "why",
            "cheapest fix",
        ]);
        for f in &a.flows {
            t.add_row(vec![
                f.flow.clone(),
                f.environment.clone(),
                f.owner.clone(),
                f.enforcement.to_owned(),
                f.state.unwrap_or("").to_owned(),
                date(f.turn_off),
                f.problems
                    .first()
                    .map(|p| format!("{}: {}", p.rule, p.message))
                    .unwrap_or_default(),
                f.fixes.first().map(checked_line).unwrap_or_default(),
            ]);
        }
        out.push_str(&format!("{t}\n"));
    }
    if !a.tenant_problems.is_empty() {
        out.push_str("Tenant problems:\n");
        for p in &a.tenant_problems {
            out.push_str(&format!("  {}: {}\n", p.rule, p.message));
        }
    }
    if !a.fixes.is_empty() {
        out.push_str("Tenant fixes:\n");
        for f in &a.fixes {
            out.push_str(&format!("  {}\n", fix_line(f)));
        }
    }
    if !a.warnings.is_empty() {
        out.push_str("Warnings:\n");
        for w in &a.warnings {
            out.push_str(&format!("  {} ({}): {}\n", w.flow, w.rule, w.message));
        }
    }
    out
}

/// One row per flow at risk, for a spreadsheet (ENF-1).
pub fn audit_csv(a: &Audit) -> Result<String, RenderError> {
    let rows = a
        .flows
        .iter()
        .map(|f| {
            let fix = f.fixes.first();
            vec![
                f.flow.clone(),
                f.environment.clone(),
                f.owner.clone(),
                f.trigger.to_owned(),
                f.enabled.to_string(),
                f.enforcement.to_owned(),
                f.rule.id().to_owned(),
                f.state.unwrap_or("").to_owned(),
                date(f.admin_notice),
                date(f.maker_notice),
                date(f.turn_off),
                joined(&f.problems),
                fix.map(checked_line).unwrap_or_default(),
                fix.and_then(|x| x.fix.monthly_cost.as_ref())
                    .map(|m| format!("{:.2}", m.amount))
                    .unwrap_or_default(),
                fix.and_then(|x| x.fix.monthly_cost.as_ref())
                    .map(|m| m.currency.clone())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    csv_out(
        &[
            "flow",
            "environment",
            "owner",
            "trigger",
            "enabled",
            "enforcement",
            "rule",
            "state",
            "admin_notice",
            "maker_notice",
            "turn_off",
            "problems",
            "cheapest_fix",
            "cheapest_fix_monthly_cost",
            "currency",
        ],
        rows,
    )
}

fn gb(mb: u64) -> String {
    format!("{mb} MB ({:.2} GB)", mb as f64 / 1000.0)
}

pub fn capacity_table(c: &Capacity) -> String {
    let mut t = table();
    t.set_header(vec![
        "source",
        "rule",
        "units",
        "database MB",
        "file MB",
        "log MB",
    ]);
    for s in &c.sources {
        t.add_row(vec![
            s.source.clone(),
            s.rule.id().to_owned(),
            s.units.to_string(),
            s.database_mb.to_string(),
            s.file_mb.to_string(),
            s.log_mb.to_string(),
        ]);
    }
    t.add_row(vec![
        "total".to_owned(),
        String::new(),
        String::new(),
        c.database_mb.to_string(),
        c.file_mb.to_string(),
        c.log_mb.to_string(),
    ]);
    let mut out = format!(
        "Database {}, file {}, log {}\n{t}\n",
        gb(c.database_mb),
        gb(c.file_mb),
        gb(c.log_mb)
    );
    out.push_str(&format!(
        "In use: database {} MB, file {} MB, log {} MB; free database {} MB; a new environment with Dataverse {} (CAP-5)\n",
        c.used_database_mb,
        c.used_file_mb,
        c.used_log_mb,
        c.free_database_mb,
        if c.can_create_environment { "can be created" } else { "cannot be created" }
    ));
    out
}

pub fn capacity_csv(c: &Capacity) -> Result<String, RenderError> {
    let rows = c
        .sources
        .iter()
        .map(|s| {
            vec![
                s.source.clone(),
                s.rule.id().to_owned(),
                s.units.to_string(),
                s.database_mb.to_string(),
                s.file_mb.to_string(),
                s.log_mb.to_string(),
            ]
        })
        .collect();
    csv_out(
        &["source", "rule", "units", "database_mb", "file_mb", "log_mb"],
        rows,
    )
}

pub fn limits_table(l: &Limit) -> String {
    let mut t = table();
    t.set_header(vec!["source", "rule", "requests / 24 h"]);
    for s in &l.sources {
        t.add_row(vec![
            s.source.clone(),
            s.rule.id().to_owned(),
            s.requests.to_string(),
        ]);
    }
    let budget = serde_json::to_string(&l.budget).unwrap_or_default();
    format!(
        "{} requests per 24 hours (at most {} in any 5 minutes); budget {budget}\n{t}\nUsed today: {}, remaining: {}. Rules: {}\n",
        l.requests_per_24h,
        l.per_5_minutes,
        l.used,
        l.remaining,
        rules(&l.rules)
    )
}

pub fn limits_csv(l: &Limit) -> Result<String, RenderError> {
    let rows = l
        .sources
        .iter()
        .map(|s| vec![s.source.clone(), s.rule.id().to_owned(), s.requests.to_string()])
        .collect();
    csv_out(&["source", "rule", "requests_per_24h"], rows)
}

pub fn cost_table(c: &Cost) -> String {
    let mut t = table();
    t.set_header(vec![
        "sku",
        "quantity",
        "unit price",
        "monthly",
        "channel",
        "billed to",
    ]);
    for l in &c.lines {
        t.add_row(vec![
            l.sku.clone(),
            l.quantity.to_string(),
            l.unit_price.to_string(),
            l.monthly.to_string(),
            l.channel.to_owned(),
            l.billed_to.clone(),
        ]);
    }
    let totals: Vec<String> = c.total.0.iter().map(|(cur, v)| format!("{v:.2} {cur}")).collect();
    let mut out = format!(
        "{t}\nTotal per month: {}\n",
        if totals.is_empty() {
            "nothing".to_owned()
        } else {
            totals.join(" + ")
        }
    );
    for p in &c.problems {
        out.push_str(&format!("Problem {}: {}\n", p.rule, p.message));
    }
    for f in &c.fixes {
        out.push_str(&format!("Fix: {}\n", fix_line(f)));
    }
    out
}

pub fn cost_csv(c: &Cost) -> Result<String, RenderError> {
    let rows = c
        .lines
        .iter()
        .map(|l| {
            vec![
                l.sku.clone(),
                l.quantity.to_string(),
                format!("{:.2}", l.unit_price.amount),
                format!("{:.2}", l.monthly.amount),
                l.monthly.currency.clone(),
                l.channel.to_owned(),
                l.billed_to.clone(),
            ]
        })
        .collect();
    csv_out(
        &[
            "sku",
            "quantity",
            "unit_price",
            "monthly",
            "currency",
            "channel",
            "billed_to",
        ],
        rows,
    )
}

pub fn buy_table(p: &Purchase, color: bool) -> String {
    kv(vec![
        ("sku", format!("{} ×{}", p.sku, p.quantity)),
        ("accepted", yes_no(p.accepted, color)),
        ("channel", p.channel.to_owned()),
        ("billed to", p.billed_to.clone()),
        (
            "monthly cost",
            p.monthly_cost.as_ref().map(|m| m.to_string()).unwrap_or_default(),
        ),
        ("rules", rules(&p.rules)),
        ("problems", findings_text(&p.problems)),
    ])
}

pub fn buy_csv(p: &Purchase) -> Result<String, RenderError> {
    csv_out(
        &[
            "sku",
            "quantity",
            "accepted",
            "channel",
            "billed_to",
            "monthly_cost",
            "currency",
            "problems",
        ],
        vec![vec![
            p.sku.clone(),
            p.quantity.to_string(),
            p.accepted.to_string(),
            p.channel.to_owned(),
            p.billed_to.clone(),
            p.monthly_cost
                .as_ref()
                .map(|m| format!("{:.2}", m.amount))
                .unwrap_or_default(),
            p.monthly_cost
                .as_ref()
                .map(|m| m.currency.clone())
                .unwrap_or_default(),
            joined(&p.problems),
        ]],
    )
}

/// `entitle catalog`: SKUs (or connectors) with the figures in force on `at` (default: today).
pub fn catalog(
    c: &Catalog,
    connectors: bool,
    format: Format,
    at: Option<NaiveDate>,
) -> Result<String, RenderError> {
    let day = at.unwrap_or_else(|| chrono::Utc::now().date_naive());
    if connectors {
        let rows: Vec<Vec<String>> = c
            .connectors
            .iter()
            .map(|k| {
                vec![
                    k.id.clone(),
                    k.name.clone(),
                    format!("{:?}", k.tier_on(day)).to_lowercase(),
                    k.changes
                        .iter()
                        .map(|ch| format!("{}: {:?}", ch.on, ch.tier).to_lowercase())
                        .collect::<Vec<_>>()
                        .join(", "),
                    k.reclassified.to_string(),
                ]
            })
            .collect();
        return match format {
            Format::Json => serde_json::to_string_pretty(&c.connectors)
                .map(|s| s + "\n")
                .map_err(|e| RenderError(e.to_string())),
            Format::Csv => csv_out(&["id", "name", "tier", "changes", "reclassified"], rows),
            Format::Table => {
                let mut t = table();
                t.set_header(vec![
                    "id",
                    "name",
                    &format!("tier on {day}"),
                    "changes",
                    "reclassified (M365-1)",
                ]);
                for r in rows {
                    t.add_row(r);
                }
                Ok(format!("{t}\n"))
            }
        };
    }
    let rows: Vec<Vec<String>> = c
        .skus
        .iter()
        .map(|s| {
            let price = s
                .price_at(day)
                .map(|p| format!("{:.2} {}", p.amount, p.currency))
                .unwrap_or_default();
            vec![
                s.id.clone(),
                s.name.clone(),
                format!("{:?}", s.scope).to_lowercase(),
                format!("{:?}", s.kind).to_lowercase(),
                price,
                s.unit.clone(),
                if s.minimum > 1 {
                    s.minimum.to_string()
                } else {
                    String::new()
                },
                s.retired_on.map(|d| d.to_string()).unwrap_or_default(),
                s.sku_part_number.clone().unwrap_or_default(),
            ]
        })
        .collect();
    match format {
        Format::Json => serde_json::to_string_pretty(&c.skus)
            .map(|s| s + "\n")
            .map_err(|e| RenderError(e.to_string())),
        Format::Csv => csv_out(
            &[
                "id",
                "name",
                "scope",
                "kind",
                "price",
                "unit",
                "minimum",
                "retired_on",
                "sku_part_number",
            ],
            rows,
        ),
        Format::Table => {
            let mut t = table();
            t.set_header(vec![
                "id",
                "name",
                "scope",
                "kind",
                &format!("price on {day}"),
                "per",
                "min",
                "retired",
                "Graph part number",
            ]);
            for r in rows {
                t.add_row(r);
            }
            Ok(format!(
                "Catalog `{}`: {} (figures as of {})\n{t}\n",
                c.catalog.edition, c.catalog.title, c.catalog.as_of
            ))
        }
    }
}

fn verdict(allowed: bool) -> &'static str {
    if allowed { "allowed" } else { "denied" }
}

/// `entitle apply`: the users changed, then the decisions turned.
pub fn apply_table(a: &entitle_core::changes::Applied) -> String {
    let mut out = format!("{} user(s) changed", a.changed.len());
    if a.flips.is_empty() {
        out.push_str("; no decision turns.\n");
        return out;
    }
    let t = flips_table(&a.flips);
    out.push_str(&format!("; {} decision(s) turn:\n{t}\n", a.flips.len()));
    out
}

/// `entitle apply --format csv`: the decisions turned.
pub fn apply_csv(a: &entitle_core::changes::Applied) -> Result<String, RenderError> {
    flips_csv(&a.flips)
}

/// The decisions a change turns, one row each.
fn flips_table(flips: &[entitle_core::entities::Flip]) -> comfy_table::Table {
    let mut t = table();
    t.set_header(vec!["kind", "id", "user", "before", "after"]);
    for f in flips {
        t.add_row(vec![
            f.kind.to_owned(),
            f.id.clone(),
            f.user.clone().unwrap_or_default(),
            verdict(f.allowed_before).to_owned(),
            verdict(f.allowed_after).to_owned(),
        ]);
    }
    t
}

fn flips_csv(flips: &[entitle_core::entities::Flip]) -> Result<String, RenderError> {
    let rows = flips
        .iter()
        .map(|f| {
            vec![
                f.kind.to_owned(),
                f.id.clone(),
                f.user.clone().unwrap_or_default(),
                f.allowed_before.to_string(),
                f.allowed_after.to_string(),
            ]
        })
        .collect();
    csv_out(&["kind", "id", "user", "allowed_before", "allowed_after"], rows)
}

pub fn impact_table(i: &entitle_core::entities::Impact) -> String {
    if i.flips.is_empty() {
        return format!(
            "Changing entity `{}` flips no decision ({}).\n",
            i.entity,
            rules(&i.rules)
        );
    }
    let t = flips_table(&i.flips);
    format!(
        "Changing entity `{}` flips {} decision(s) ({}):\n{t}\n",
        i.entity,
        i.flips.len(),
        rules(&i.rules)
    )
}

pub fn impact_csv(i: &entitle_core::entities::Impact) -> Result<String, RenderError> {
    flips_csv(&i.flips)
}

/// `entitle explain RULE`: the rule's title, the project's reading, each seed sentence with its gloss, and the
/// tests that check it, as plain text (the reading is markdown, which reads as text).
pub fn rule_text(s: &entitle_core::rulebook::Section<'_>, color: bool) -> String {
    let mut out = format!(
        "{} — {}\n\n{}\n",
        paint(s.id.id(), "1", color),
        s.title,
        s.reading
    );
    for q in &s.seed_quotes {
        out.push_str(&format!(
            "\nSeed {} ({}): {}\n  = {}\n",
            q.seed, q.language, q.original, q.gloss
        ));
    }
    out.push_str("\nTests:\n");
    for t in &s.tests {
        out.push_str(&format!("  {t}\n"));
    }
    out
}

/// One row per seed quote (a rule without quotes has one row with empty quote columns); the reading on one
/// line, as spreadsheets show a cell.
pub fn rule_csv(s: &entitle_core::rulebook::Section<'_>) -> Result<String, RenderError> {
    let reading = s.reading.split_whitespace().collect::<Vec<_>>().join(" ");
    let base = |seed: &str, language: &str, original: &str, gloss: &str| {
        vec![
            s.id.id().to_owned(),
            s.title.to_owned(),
            reading.clone(),
            seed.to_owned(),
            language.to_owned(),
            original.to_owned(),
            gloss.to_owned(),
            s.tests.join(" "),
        ]
    };
    let mut rows: Vec<Vec<String>> = s
        .seed_quotes
        .iter()
        .map(|q| base(q.seed, q.language, q.original, q.gloss))
        .collect();
    if rows.is_empty() {
        rows.push(base("", "", "", ""));
    }
    csv_out(
        &[
            "id", "title", "reading", "seed", "language", "original", "gloss", "tests",
        ],
        rows,
    )
}

fn money_list(m: &[entitle_core::money::Money]) -> String {
    if m.is_empty() {
        return "0.00".to_owned();
    }
    m.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(" + ")
}

/// What one plan change does, in words.
fn plan_what(c: &entitle_core::optimise::PlanChange) -> String {
    let s = |x: &Option<String>| x.clone().unwrap_or_default();
    match c.action {
        "buy" => format!("buy {} × {}", c.quantity.unwrap_or(0), s(&c.sku)),
        "assign" => format!("assign {} to {}", s(&c.sku), s(&c.user)),
        "reassign" => format!("move {} from {} to {}", s(&c.sku), s(&c.from), s(&c.user)),
        "remove" => format!("remove {} from {}", s(&c.sku), s(&c.user)),
        "allocate" => format!(
            "allocate {} × {} to environment {}",
            c.quantity.unwrap_or(0),
            s(&c.sku),
            s(&c.environment)
        ),
        "set-flow-license" => format!("set flow {} to its process licence", s(&c.flow)),
        "change-owner" => format!("make {} the owner of flow {}", s(&c.user), s(&c.flow)),
        "associate-app" => format!("associate flow {} with app {}", s(&c.flow), s(&c.app)),
        other => other.to_owned(),
    }
}

/// `entitle optimise`: the plan's changes, the bills and the bound.
pub fn plan_table(p: &entitle_core::optimise::Plan) -> String {
    let t = &p.targets;
    let mut out = format!(
        "Plan for `{}` on {}: {} denied decision(s) of {} flow(s) and {} app user(s); {} turned by the plan\n",
        p.tenant, p.at, t.denied, t.flows, t.app_users, t.turned
    );
    let mut tab = table();
    tab.set_header(vec!["#", "change", "monthly cost", "rules", "turns"]);
    for (i, c) in p.changes.iter().enumerate() {
        let turns = if c.turns.len() > 4 {
            format!(
                "{} and {} more",
                c.turns.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
                c.turns.len() - 3
            )
        } else {
            c.turns.join(", ")
        };
        tab.add_row(vec![
            (i + 1).to_string(),
            plan_what(c),
            c.monthly_cost.as_ref().map(|m| m.to_string()).unwrap_or_default(),
            c.rules.iter().map(|r| r.id()).collect::<Vec<_>>().join(" "),
            turns,
        ]);
    }
    if p.changes.is_empty() {
        out.push_str("No change needed.\n");
    } else {
        out.push_str(&format!("{tab}\n"));
    }
    out.push_str(&format!(
        "Monthly cost: before {}, after {} (adds {})\n",
        money_list(&p.cost_before),
        money_list(&p.cost_after),
        money_list(&p.added)
    ));
    out.push_str(&format!(
        "Per-flow sum (the audit's cheapest fix per decision): {}; saving: {}\n",
        money_list(&p.per_flow_sum),
        money_list(&p.saving)
    ));
    let b = &p.bound;
    out.push_str(&format!(
        "Solver: {}{}, lower bound {}, gap {}% ({} requirement(s), {} atom(s))\n",
        b.method,
        if b.optimal { " (optimal)" } else { "" },
        b.lower_bound,
        b.gap_percent,
        b.requirements,
        b.atoms
    ));
    if !t.unfixable.is_empty() {
        out.push_str(&format!("No change turns: {}\n", t.unfixable.join(", ")));
    }
    if !t.not_turned.is_empty() {
        out.push_str(&format!(
            "Still denied after the plan: {}\n",
            t.not_turned.join(", ")
        ));
    }
    out
}
