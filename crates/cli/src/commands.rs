//! Runs a command: reads the input, asks the core, renders the answer. Deciding is the core's job.

use entitle_core::apps::per_app_passes_needed;
use entitle_core::audit::audit;
use entitle_core::buying::{cost, preview_purchase};
use entitle_core::capacity::capacity;
use entitle_core::entities::{EntityChange, impact};
use entitle_core::report::{app_answer, flow_answer};
use entitle_core::requests::{flow_limit, user_limit};
use entitle_core::scenario::Logic;
use entitle_core::scenario::json_schema;
use entitle_core::{Snapshot, generate};

use std::io::Write;

use crate::args::{Check, Cli, Command, Format, LogicArg};
use crate::input::{self, CliError, resolve};
use crate::output;

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

fn json<T: serde::Serialize + 'static>(value: T) -> Result<Out, CliError> {
    Ok(Out::Json(Box::new(move |w: &mut Stdout| {
        serde_json::to_writer_pretty(&mut *w, &value)?;
        w.write_all(b"\n")
    })))
}

/// Runs the command and returns what to print on stdout. Everything that can be wrong with the input is found
/// before anything is printed.
pub fn run(cli: Cli) -> Result<Out, CliError> {
    let g = cli.global;
    let catalog = input::catalog(&g.catalog)?;
    let color = output::color_enabled();
    match cli.command {
        Command::Schema => json(json_schema()),
        Command::Catalog(args) => output::catalog(&catalog, args.connectors, g.format, g.at).map(Out::Text),
        Command::Generate(args) => {
            let scenario = generate::synthetic(args.flows, args.users, args.environments, args.seed);
            if args.json {
                json(scenario)
            } else {
                scenario
                    .to_toml_string()
                    .map(Out::Text)
                    .map_err(|e| CliError::Internal(e.to_string()))
            }
        }
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
                    match g.format {
                        Format::Json => json(answer),
                        Format::Table => Ok(Out::Text(output::flow_table(&answer, color))),
                        Format::Csv => output::flow_csv(&answer).map(Out::Text),
                    }
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
                    match g.format {
                        Format::Json => json(answer),
                        Format::Table => Ok(Out::Text(output::app_table(&answer, passes, color))),
                        Format::Csv => output::app_csv(&answer).map(Out::Text),
                    }
                }
                Command::Audit => {
                    let a = audit(&snap);
                    match g.format {
                        Format::Json => json(a),
                        Format::Table => Ok(Out::Text(output::audit_table(&a, color))),
                        Format::Csv => output::audit_csv(&a).map(Out::Text),
                    }
                }
                Command::Capacity => {
                    let c = capacity(&snap);
                    match g.format {
                        Format::Json => json(c),
                        Format::Table => Ok(Out::Text(output::capacity_table(&c))),
                        Format::Csv => output::capacity_csv(&c).map(Out::Text),
                    }
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
                    match g.format {
                        Format::Json => json(limit),
                        Format::Table => Ok(Out::Text(output::limits_table(&limit))),
                        Format::Csv => output::limits_csv(&limit).map(Out::Text),
                    }
                }
                Command::Cost => {
                    let c = cost(&snap);
                    match g.format {
                        Format::Json => json(c),
                        Format::Table => Ok(Out::Text(output::cost_table(&c))),
                        Format::Csv => output::cost_csv(&c).map(Out::Text),
                    }
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
                    let p = preview_purchase(&snap, sku, args.quantity, u);
                    match g.format {
                        Format::Json => json(p),
                        Format::Table => Ok(Out::Text(output::buy_table(&p, color))),
                        Format::Csv => output::buy_csv(&p).map(Out::Text),
                    }
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
                    match g.format {
                        Format::Json => json(impact),
                        Format::Table => Ok(Out::Text(output::impact_table(&impact))),
                        Format::Csv => output::impact_csv(&impact).map(Out::Text),
                    }
                }
                Command::Schema | Command::Catalog(_) | Command::Generate(_) => {
                    Err(CliError::Internal("unreachable command branch".to_owned()))
                }
            }
        }
    }
}
