//! Runs a command: reads the input, asks the core, renders the answer. Deciding is the core's job.

use entitle_core::apps::per_app_passes_needed;
use entitle_core::audit::audit;
use entitle_core::buying::{cost, preview_purchase};
use entitle_core::capacity::capacity;
use entitle_core::changes::{BulkAssign, apply};
use entitle_core::consumption;
use entitle_core::entities::{EntityChange, impact};
use entitle_core::optimise::{Only, Options as OptimiseOptions, optimise};
use entitle_core::report::{app_answer, flow_answer};
use entitle_core::requests::{flow_limit, user_limit};
use entitle_core::scenario::json_schema;
use entitle_core::scenario::{Format as ScenarioFormat, Logic};
use entitle_core::{Snapshot, generate, rulebook, timeline};
use entitle_ledger::Month;
use std::sync::Arc;

use std::io::Write;

use crate::args::{AuditBy, Check, Cli, Command, Format, LogicArg};
use crate::input::{self, CliError, resolve};
use entitle_render as output;

fn user(snap: &Snapshot, flag: &str, id: &str) -> Result<entitle_core::snapshot::UserIdx, CliError> {
    resolve(
        flag,
        "user",
        id,
        snap.user_idx(id),
        snap.users().map(|(_, u)| u.id.to_string()),
    )
}

/// What a command prints: text, or a value written as JSON straight to stdout (an audit of a large tenant is
/// hundreds of megabytes: it is never held as one string).
pub enum Out {
    Text(String),
    Json(WriteJson),
}

/// The buffered standard output the answer goes to.
pub type Stdout = std::io::BufWriter<std::io::StdoutLock<'static>>;

/// Writes one value as pretty JSON (to a concrete writer: serde_json writes token by token, and a `dyn Write`
/// would make each of those a dynamic call).
pub type WriteJson = Box<dyn FnOnce(&mut Stdout) -> std::io::Result<()>>;

/// An answer in the chosen format: JSON for programs, a table for people, CSV for spreadsheets.
fn render<T: serde::Serialize + 'static>(
    format: Format,
    value: T,
    table: impl FnOnce(&T) -> String,
    csv: impl FnOnce(&T) -> Result<String, output::RenderError>,
) -> Result<Out, CliError> {
    match format {
        Format::Json => json(value),
        Format::Table => Ok(Out::Text(table(&value))),
        Format::Csv => csv(&value).map(Out::Text).map_err(CliError::from),
    }
}

/// `--month`, or the month of the evaluation date.
fn month_arg(snap: &Snapshot, month: Option<&str>) -> Result<Month, CliError> {
    match month {
        None => Ok(Month::of_date(snap.at())),
        Some(m) => m
            .parse()
            .map_err(|e: entitle_ledger::BadMonth| CliError::Input(format!("--month: {e}"))),
    }
}

/// What the offline ledger counted in `month` for the scenario's portals and environments.
fn usage_of(
    snap: &Snapshot,
    ledger: &entitle_ledger::LocalLedger,
    month: Month,
) -> entitle_ledger::MonthUsage {
    let sc = snap.scenario();
    let portals: Vec<&str> = sc
        .apps
        .iter()
        .filter(|a| a.kind == entitle_core::scenario::AppKind::Portal)
        .map(|a| a.id.as_str())
        .collect();
    let envs: Vec<&str> = sc.environments.iter().map(|e| e.id.as_str()).collect();
    ledger.usage(&sc.tenant.id, &portals, &envs, month)
}

fn refused_text(o: &consumption::Offline) -> Vec<String> {
    o.refused
        .iter()
        .map(|(i, why)| format!("consumption[{i}]: {why}"))
        .collect()
}

fn json<T: serde::Serialize + 'static>(value: T) -> Result<Out, CliError> {
    Ok(Out::Json(Box::new(move |w: &mut Stdout| {
        serde_json::to_writer_pretty(&mut *w, &value)?;
        w.write_all(b"\n")
    })))
}

/// `entitle explain RULE`. An unknown ID is bad input (exit 2) that names it and the closest IDs.
fn explain(id: &str, format: Format, color: bool) -> Result<Out, CliError> {
    let Some(section) = rulebook::parse_id(id).and_then(rulebook::get) else {
        let near: Vec<&str> = rulebook::suggest(id).iter().map(|r| r.id()).collect();
        let hint = if near.is_empty() {
            " (rule IDs look like `FLOW-4`, `CAT-13`, `M365-1`)".to_owned()
        } else {
            format!(" (did you mean {}?)", near.join(", "))
        };
        return Err(CliError::Input(format!("explain: unknown rule `{id}`{hint}")));
    };
    render(
        format,
        section,
        |s| output::rule_text(s, color),
        |s| output::rule_csv(s),
    )
}

/// Runs the command and returns what to print on stdout. Everything that can be wrong with the input is found
/// before anything is printed.
pub fn run(cli: Cli) -> Result<Out, CliError> {
    let g = cli.global;
    if let Command::Serve(args) = cli.command {
        return crate::server::serve(args, g.catalog).map(Out::Text);
    }
    if let Command::Key(args) = cli.command {
        return crate::server::key(args).map(Out::Text);
    }
    let catalog = input::catalog(g.catalog.as_deref().unwrap_or("seed"))?;
    let color = output::color_enabled();
    match cli.command {
        Command::Schema => json(json_schema()),
        Command::Explain(args) => explain(&args.rule, g.format, color),
        Command::Catalog(args) => output::catalog(&catalog, args.connectors, g.format.into(), g.at)
            .map(Out::Text)
            .map_err(CliError::from),
        Command::Generate(args) => {
            let spinner = crate::progress::Progress::spinner(
                usize::try_from(args.flows).unwrap_or(usize::MAX) >= crate::progress::LARGE,
                "generating",
            );
            let scenario = generate::synthetic(args.flows, args.users, args.environments, args.seed);
            spinner.done();
            if args.json {
                json(scenario)
            } else {
                scenario
                    .to_toml_string()
                    .map(Out::Text)
                    .map_err(|e| CliError::Internal(e.to_string()))
            }
        }
        Command::Import(args) => crate::import::run(args, g.at, catalog),
        command => {
            let snap = input::snapshot(g.scenario.as_deref(), g.at, catalog)?;
            match command {
                Command::Check(Check::Flow { flow, as_user }) => {
                    let f = resolve(
                        "FLOW",
                        "flow",
                        &flow,
                        snap.flow_idx(&flow),
                        snap.flows().map(|(_, f)| f.id.to_string()),
                    )?;
                    let u = as_user.as_deref().map(|id| user(&snap, "--as", id)).transpose()?;
                    let answer = flow_answer(&snap, f, u);
                    render(
                        g.format,
                        answer,
                        |x| output::flow_table(x, color),
                        output::flow_csv,
                    )
                }
                Command::Check(Check::App { app, user: who }) => {
                    let a = resolve(
                        "APP",
                        "app",
                        &app,
                        snap.app_idx(&app),
                        snap.apps().map(|(_, a)| a.id.to_string()),
                    )?;
                    let u = user(&snap, "--user", &who)?;
                    let answer = app_answer(&snap, a, u);
                    let passes = per_app_passes_needed(&snap, u, Some(a));
                    render(
                        g.format,
                        answer,
                        |x| output::app_table(x, passes, color),
                        output::app_csv,
                    )
                }
                Command::Audit(args) => {
                    let spinner = crate::progress::Progress::spinner(
                        snap.flows().len() >= crate::progress::LARGE,
                        "auditing",
                    );
                    let a = audit(&snap);
                    spinner.done();
                    if args.by == AuditBy::User {
                        let r = entitle_core::who::by_user(&snap, &a);
                        return render(g.format, r, entitle_core::who::table, |r| {
                            entitle_core::who::csv(r).map_err(|e| output::RenderError(e.to_string()))
                        });
                    }
                    render(g.format, a, |x| output::audit_table(x, color), output::audit_csv)
                }
                Command::Optimise(args) => {
                    let only = Only::parse(&snap, args.only.as_deref())
                        .map_err(|e| CliError::Input(format!("--only: {e} in the scenario")))?;
                    if g.format == Format::Csv {
                        return Err(CliError::Input(
                            "optimise: --format table or json (a plan is not one table)".to_owned(),
                        ));
                    }
                    let opts = OptimiseOptions {
                        only,
                        ..OptimiseOptions::default()
                    };
                    let size = snap.flows().len() + snap.apps().map(|(_, a)| a.users.len()).sum::<usize>();
                    let bar = crate::progress::Bar::new(size);
                    let plan = optimise(&snap, &opts, &bar);
                    bar.finish();
                    render(g.format, plan, output::plan_table, |_| Ok(String::new()))
                }
                Command::Consumption(args) => {
                    let month = month_arg(&snap, args.month.as_deref())?;
                    let offline = consumption::offline(&snap);
                    let usage = usage_of(&snap, &offline.ledger, month);
                    let mut r = consumption::report(&snap, month, &usage);
                    r.refused = refused_text(&offline);
                    render(g.format, r, consumption::table, |r| {
                        consumption::csv(r).map_err(|e| output::RenderError(e.to_string()))
                    })
                }
                Command::Statement(args) => {
                    let month = month_arg(&snap, args.month.as_deref())?;
                    if g.format == Format::Csv {
                        return Err(CliError::Input(
                            "statement: --format table or json (use `consumption --format csv` for the usage rows)".to_owned(),
                        ));
                    }
                    // Each month is evaluated on its last day (or the evaluation date while it runs).
                    let day = consumption::statement_day(month, snap.at());
                    let on = |d| snap.on(d).map_err(|e| CliError::Input(format!("statement: {e}")));
                    let this = on(day)?;
                    let before = on(consumption::statement_day(month.previous(), snap.at()))?;
                    let offline = consumption::offline(&this);
                    let usage = usage_of(&this, &offline.ledger, month);
                    let before_usage = usage_of(&before, &offline.ledger, month.previous());
                    let mut st = consumption::statement(&this, &usage, &before, &before_usage, month);
                    st.consumption.refused = refused_text(&offline);
                    render(g.format, st, consumption::statement_table, |_| Ok(String::new()))
                }
                Command::Timeline(args) => {
                    let from = args.from.unwrap_or_else(|| snap.at());
                    let to = match args.to {
                        Some(to) => to,
                        None => from
                            .checked_add_months(chrono::Months::new(12))
                            .ok_or_else(|| CliError::Input("--from: too late a day".to_owned()))?,
                    };
                    if to < from {
                        return Err(CliError::Input(format!("--to {to} is before --from {from}")));
                    }
                    if (to - from).num_days() > timeline::MAX_DAYS {
                        return Err(CliError::Input(format!(
                            "--from {from} --to {to}: at most {} days at once",
                            timeline::MAX_DAYS
                        )));
                    }
                    let days =
                        timeline::run(Arc::clone(snap.catalog_arc()), snap.scenario().clone(), from, to)
                            .map_err(|e| CliError::Input(format!("timeline: {e}")))?;
                    render(
                        g.format,
                        days,
                        |d| timeline::table(d),
                        |d| timeline::csv(d).map_err(|e| output::RenderError(e.to_string())),
                    )
                }
                Command::Capacity => {
                    let c = capacity(&snap);
                    render(g.format, c, output::capacity_table, output::capacity_csv)
                }
                Command::Limits(args) => {
                    let limit = match (&args.target.user, &args.target.flow) {
                        (Some(id), _) => user_limit(&snap, user(&snap, "--user", id)?),
                        (_, Some(id)) => {
                            let f = resolve(
                                "--flow",
                                "flow",
                                id,
                                snap.flow_idx(id),
                                snap.flows().map(|(_, f)| f.id.to_string()),
                            )?;
                            let u = args
                                .as_user
                                .as_deref()
                                .map(|id| user(&snap, "--as", id))
                                .transpose()?;
                            flow_limit(&snap, f, u)
                        }
                        _ => {
                            return Err(CliError::Input(
                                "limits: give --user USER or --flow FLOW".to_owned(),
                            ));
                        }
                    };
                    render(g.format, limit, output::limits_table, output::limits_csv)
                }
                Command::Cost => {
                    let c = cost(&snap);
                    render(g.format, c, output::cost_table, output::cost_csv)
                }
                Command::Buy(args) => {
                    let catalog = snap.catalog();
                    let sku = resolve(
                        "--sku",
                        "SKU",
                        &args.sku,
                        catalog.sku_idx(&args.sku),
                        catalog.skus.iter().map(|s| s.id.clone()),
                    )?;
                    let u = args
                        .as_user
                        .as_deref()
                        .map(|id| user(&snap, "--as", id))
                        .transpose()?;
                    let p = preview_purchase(&snap, sku, args.quantity, u, args.channel.map(Into::into));
                    render(g.format, p, |x| output::buy_table(x, color), output::buy_csv)
                }
                Command::Apply(args) => {
                    let name = args.changes.display().to_string();
                    let text = std::fs::read_to_string(&args.changes)
                        .map_err(|e| CliError::Input(format!("{name}: cannot read: {e}")))?;
                    let ask: BulkAssign = serde_json::from_str(&text)
                        .map_err(|e| CliError::Input(format!("{name}:{}:{}: {e}", e.line(), e.column())))?;
                    let applied = apply(&snap, &ask).map_err(|r| CliError::Input(format!("{name}: {r}")))?;
                    if let (Some(out), Some(after)) = (&args.out, &applied.after) {
                        let path = out.display().to_string();
                        let text = after
                            .scenario()
                            .to_string_as(ScenarioFormat::from_path(&path))
                            .map_err(|e| CliError::Internal(e.to_string()))?;
                        std::fs::write(out, text)
                            .map_err(|e| CliError::Input(format!("{path}: cannot write: {e}")))?;
                    }
                    render(g.format, applied, output::apply_table, output::apply_csv)
                }
                Command::Impact(args) => {
                    let change = match args.change.add_logic {
                        Some(LogicArg::SyncPlugin) => EntityChange::AddLogic(Logic::SyncPlugin),
                        Some(LogicArg::RealtimeWorkflow) => EntityChange::AddLogic(Logic::RealtimeWorkflow),
                        Some(LogicArg::BackgroundWorkflow) => {
                            EntityChange::AddLogic(Logic::BackgroundWorkflow)
                        }
                        None => EntityChange::Restrict,
                    };
                    let known = snap.scenario().entities.iter().map(|e| e.id.clone());
                    let found = snap
                        .scenario()
                        .entities
                        .iter()
                        .any(|e| e.id == args.entity)
                        .then_some(());
                    resolve("--entity", "entity", &args.entity, found, known)?;
                    let impact =
                        impact(&snap, &args.entity, change).map_err(|e| CliError::Input(e.to_string()))?;
                    render(g.format, impact, output::impact_table, output::impact_csv)
                }
                Command::Schema
                | Command::Explain(_)
                | Command::Catalog(_)
                | Command::Generate(_)
                | Command::Import(_)
                | Command::Serve(_)
                | Command::Key(_) => Err(CliError::Internal("unreachable command branch".to_owned())),
            }
        }
    }
}
