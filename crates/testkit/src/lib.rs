//! The shared scenario corpus: expected answers for the example tenants, run through every face of entitle.
//!
//! A corpus file (`corpus/*.toml`) names one scenario and lists cases: a command with its arguments, and the
//! part of the JSON answer the rules determine. The same cases are run through the library (this crate's
//! [`library_answer`], the JSON the CLI would print, built from `entitle_core::report` and friends), through the
//! real binary (the CLI's tests), and later through the HTTP API: [`run_corpus`] takes the way of answering as a
//! closure, so each face only says how to ask.
//!
//! ```toml
//! description = "What this file checks"          # optional
//! scenario = "../examples/small-business-m365.toml"  # relative to the corpus file
//! at = "2024-06-03"                               # optional: overrides the scenario's `tenant.at` (like `--at`)
//! catalog = "seed"                                # optional: `seed` (default), `current` or a file (like `--catalog`)
//!
//! [[case]]
//! name = "flow_4_owner_without_premium"           # snake_case, unique in the file; named after the rule it checks
//! command = "check-flow"                          # check-flow | check-app | audit | capacity | limits | cost | buy
//! args = { flow = "invoice-sync" }                # flow, as, app, user, sku, quantity, channel (as needed)
//! at = "2024-10-01"                               # optional, per case (wins over the file's)
//! catalog = "current"                             # optional, per case
//! why = "FLOW-2, FLOW-4: an automated flow needs its owner to hold premium"   # optional: shown on failure
//! [case.expect]                                   # a partial JSON answer; see `matcher` for how it is matched
//! allowed = false
//! "rules.contains" = ["FLOW-4"]
//! ```
//!
//! Expectations are matched with [`matcher::matches`]: objects as subsets, arrays exactly element by element,
//! decimal strings by value, and the key operators `.contains`, `.excludes`, `.first`, `.len` and `.absent`
//! (`"rules.contains" = ["FLOW-10"]`).

pub mod matcher;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;
use entitle_core::audit::audit;
use entitle_core::buying::{cost, preview_purchase};
use entitle_core::capacity::capacity;
use entitle_core::report::{app_answer, flow_answer};
use entitle_core::requests::{flow_limit, user_limit};
use entitle_core::scenario::{Format, PurchaseChannel};
use entitle_core::{Catalog, Scenario, Snapshot};
use serde::Deserialize;
use serde_json::Value;

pub use matcher::{Mismatch, matches};

/// A corpus file that cannot be used: unreadable, not TOML, or a case that does not make sense.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpusError(pub String);

impl fmt::Display for CorpusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CorpusError {}

/// The commands a case may ask, as the CLI names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Command {
    CheckFlow,
    CheckApp,
    Audit,
    Capacity,
    Limits,
    Cost,
    Buy,
}

impl Command {
    /// The name in a corpus file.
    pub const fn as_str(self) -> &'static str {
        match self {
            Command::CheckFlow => "check-flow",
            Command::CheckApp => "check-app",
            Command::Audit => "audit",
            Command::Capacity => "capacity",
            Command::Limits => "limits",
            Command::Cost => "cost",
            Command::Buy => "buy",
        }
    }

    /// The words of the CLI's subcommand.
    pub const fn cli_words(self) -> &'static [&'static str] {
        match self {
            Command::CheckFlow => &["check", "flow"],
            Command::CheckApp => &["check", "app"],
            Command::Audit => &["audit"],
            Command::Capacity => &["capacity"],
            Command::Limits => &["limits"],
            Command::Cost => &["cost"],
            Command::Buy => &["buy"],
        }
    }
}

/// A case's arguments; which ones a command takes is checked when the corpus is loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    pub flow: Option<String>,
    /// The invoking user (`check-flow`, `limits` with `flow`) or the buyer (`buy`).
    #[serde(rename = "as")]
    pub as_user: Option<String>,
    pub app: Option<String>,
    pub user: Option<String>,
    pub sku: Option<String>,
    pub quantity: Option<u32>,
    /// The purchase channel (`buy`): `admin`, `csp`, `self-service` or `trial`.
    pub channel: Option<PurchaseChannel>,
}

/// One question and the part of its answer the rules determine.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub name: String,
    pub command: Command,
    pub args: Args,
    /// The scenario file, resolved against the corpus file's directory.
    pub scenario: PathBuf,
    /// The evaluation day, when the corpus file or the case overrides the scenario's.
    pub at: Option<NaiveDate>,
    /// `seed`, `current` or a catalog file.
    pub catalog: String,
    /// The expected partial answer.
    pub expect: Value,
    /// Why the rules say so (shown when the case fails).
    pub why: Option<String>,
    /// The corpus file the case comes from.
    pub file: PathBuf,
}

impl Case {
    /// The CLI's arguments for this case, with `--format json` (without the program name).
    pub fn cli_args(&self) -> Vec<String> {
        let mut out: Vec<String> = self.command.cli_words().iter().map(|w| (*w).to_owned()).collect();
        let a = &self.args;
        match self.command {
            Command::CheckFlow => out.extend(a.flow.clone()),
            Command::CheckApp => out.extend(a.app.clone()),
            _ => {}
        }
        let mut flag = |name: &str, value: Option<String>| {
            if let Some(v) = value {
                out.push(name.to_owned());
                out.push(v);
            }
        };
        match self.command {
            Command::CheckFlow => flag("--as", a.as_user.clone()),
            Command::CheckApp => flag("--user", a.user.clone()),
            Command::Limits => {
                flag("--user", a.user.clone());
                flag("--flow", a.flow.clone());
                flag("--as", a.as_user.clone());
            }
            Command::Buy => {
                flag("--sku", a.sku.clone());
                flag("--quantity", a.quantity.map(|q| q.to_string()));
                flag("--as", a.as_user.clone());
                flag("--channel", a.channel.map(|c| c.as_str().to_owned()));
            }
            Command::Audit | Command::Capacity | Command::Cost => {}
        }
        flag("--scenario", Some(self.scenario.display().to_string()));
        flag("--at", self.at.map(|d| d.to_string()));
        flag("--catalog", Some(self.catalog.clone()));
        flag("--format", Some("json".to_owned()));
        out
    }

    /// The command line, for messages.
    pub fn command_line(&self) -> String {
        let mut line = String::from("entitle");
        for arg in self.cli_args() {
            line.push(' ');
            line.push_str(&arg);
        }
        line
    }
}

/// One corpus file, loaded and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Corpus {
    pub path: PathBuf,
    pub description: Option<String>,
    pub scenario: PathBuf,
    pub cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CorpusToml {
    description: Option<String>,
    scenario: String,
    at: Option<toml::Value>,
    catalog: Option<String>,
    #[serde(default, rename = "case")]
    cases: Vec<CaseToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseToml {
    name: String,
    command: Command,
    #[serde(default)]
    args: Args,
    at: Option<toml::Value>,
    catalog: Option<String>,
    why: Option<String>,
    expect: toml::Table,
}

/// The workspace's `corpus/` directory.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..")
        .join("corpus")
}

/// The `*.toml` files of a directory, sorted.
pub fn corpus_files(dir: &Path) -> Result<Vec<PathBuf>, CorpusError> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| CorpusError(format!("{}: cannot list: {e}", dir.display())))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| CorpusError(format!("{}: {e}", dir.display())))?
            .path();
        if path.extension().is_some_and(|x| x == "toml") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Every corpus file of a directory, loaded.
pub fn load_dir(dir: &Path) -> Result<Vec<Corpus>, CorpusError> {
    corpus_files(dir)?.iter().map(|p| load(p)).collect()
}

fn date(file: &str, key: &str, v: &toml::Value) -> Result<NaiveDate, CorpusError> {
    let text = match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Datetime(d) => d.to_string(),
        other => {
            return Err(CorpusError(format!(
                "{file}: {key}: expected a date, got `{other}`"
            )));
        }
    };
    text.parse::<NaiveDate>()
        .map_err(|e| CorpusError(format!("{file}: {key}: `{text}` is not a date (YYYY-MM-DD): {e}")))
}

/// Converts TOML to the JSON it stands for (dates become strings).
pub fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(t.iter().map(|(k, v)| (k.clone(), toml_to_json(v))).collect()),
    }
}

/// Which arguments each command needs and takes.
fn check_args(file: &str, name: &str, command: Command, a: &Args) -> Result<(), CorpusError> {
    let given = [
        ("flow", a.flow.is_some()),
        ("as", a.as_user.is_some()),
        ("app", a.app.is_some()),
        ("user", a.user.is_some()),
        ("sku", a.sku.is_some()),
        ("quantity", a.quantity.is_some()),
        ("channel", a.channel.is_some()),
    ];
    let (required, allowed): (&[&str], &[&str]) = match command {
        Command::CheckFlow => (&["flow"], &["flow", "as"]),
        Command::CheckApp => (&["app", "user"], &["app", "user"]),
        Command::Audit | Command::Capacity | Command::Cost => (&[], &[]),
        Command::Limits => (&[], &["user", "flow", "as"]),
        Command::Buy => (&["sku", "quantity"], &["sku", "quantity", "as", "channel"]),
    };
    let what = command.as_str();
    for (arg, present) in given {
        if present && !allowed.contains(&arg) {
            return Err(CorpusError(format!(
                "{file}: case `{name}`: `{what}` takes no `{arg}`"
            )));
        }
    }
    for arg in required {
        if !given.iter().any(|(a, present)| a == arg && *present) {
            return Err(CorpusError(format!(
                "{file}: case `{name}`: `{what}` needs `args.{arg}`"
            )));
        }
    }
    if command == Command::Limits {
        if a.user.is_some() == a.flow.is_some() {
            return Err(CorpusError(format!(
                "{file}: case `{name}`: `limits` needs `user` or `flow`, not both"
            )));
        }
        if a.as_user.is_some() && a.flow.is_none() {
            return Err(CorpusError(format!(
                "{file}: case `{name}`: `limits` takes `as` only with `flow`"
            )));
        }
    }
    Ok(())
}

/// Reads and checks one corpus file.
pub fn load(path: &Path) -> Result<Corpus, CorpusError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| CorpusError(format!("{file}: cannot read: {e}")))?;
    let raw: CorpusToml = toml::from_str(&text).map_err(|e| CorpusError(format!("{file}: {e}")))?;
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    let scenario = base.join(&raw.scenario);
    if !scenario.is_file() {
        return Err(CorpusError(format!(
            "{file}: scenario `{}` is not a file",
            scenario.display()
        )));
    }
    let scenario = std::fs::canonicalize(&scenario).unwrap_or(scenario);
    let file_at = raw.at.as_ref().map(|v| date(&file, "at", v)).transpose()?;
    let file_catalog = raw.catalog.unwrap_or_else(|| "seed".to_owned());
    if raw.cases.is_empty() {
        return Err(CorpusError(format!("{file}: no [[case]]")));
    }
    let mut cases = Vec::with_capacity(raw.cases.len());
    for c in raw.cases {
        let name = c.name;
        let well_formed = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !well_formed {
            return Err(CorpusError(format!(
                "{file}: case name `{name}` is not snake_case"
            )));
        }
        if cases.iter().any(|x: &Case| x.name == name) {
            return Err(CorpusError(format!("{file}: two cases are named `{name}`")));
        }
        check_args(&file, &name, c.command, &c.args)?;
        if c.expect.is_empty() {
            return Err(CorpusError(format!("{file}: case `{name}`: `expect` is empty")));
        }
        let at = match &c.at {
            Some(v) => Some(date(&file, &format!("case `{name}`: at"), v)?),
            None => file_at,
        };
        cases.push(Case {
            command: c.command,
            args: c.args,
            scenario: scenario.clone(),
            at,
            catalog: c.catalog.unwrap_or_else(|| file_catalog.clone()),
            expect: toml_to_json(&toml::Value::Table(c.expect)),
            why: c.why,
            file: path.to_path_buf(),
            name,
        });
    }
    Ok(Corpus {
        path: path.to_path_buf(),
        description: raw.description,
        scenario,
        cases,
    })
}

/// A case whose answer did not match, or could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub file: PathBuf,
    pub case: String,
    pub command_line: String,
    pub why: Option<String>,
    pub reason: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.file_name().map_or_else(
            || self.file.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        writeln!(f, "{file}: case `{}`", self.case)?;
        writeln!(f, "  $ {}", self.command_line)?;
        if let Some(why) = &self.why {
            writeln!(f, "  rule: {why}")?;
        }
        write!(f, "  {}", self.reason)
    }
}

/// Asks one case with `answer` and matches the expectation.
pub fn check_case<F>(case: &Case, answer: &F) -> Result<(), Failure>
where
    F: Fn(&Case) -> Result<Value, String>,
{
    let fail = |reason: String| Failure {
        file: case.file.clone(),
        case: case.name.clone(),
        command_line: case.command_line(),
        why: case.why.clone(),
        reason,
    };
    let actual = answer(case).map_err(|e| fail(format!("no answer: {e}")))?;
    matches(&case.expect, &actual).map_err(|m| fail(m.to_string()))
}

/// Runs every case of a corpus file through `answer`; the failures, in file order.
pub fn run_corpus<F>(corpus: &Corpus, answer: F) -> Vec<Failure>
where
    F: Fn(&Case) -> Result<Value, String>,
{
    corpus
        .cases
        .iter()
        .filter_map(|c| check_case(c, &answer).err())
        .collect()
}

/// The failures as one text, for a test's panic message.
pub fn report(failures: &[Failure]) -> String {
    let mut out = format!("{} case(s) failed:\n", failures.len());
    for f in failures {
        out.push('\n');
        out.push_str(&f.to_string());
        out.push('\n');
    }
    out
}

/// Loads the catalog a case names, like the CLI's `--catalog`.
pub fn catalog(spec: &str) -> Result<Catalog, String> {
    if let Some(edition) = Catalog::edition(spec) {
        return edition.map_err(|e| format!("embedded catalog `{spec}`: {e}"));
    }
    let text = std::fs::read_to_string(spec).map_err(|e| format!("--catalog `{spec}`: {e}"))?;
    Catalog::from_toml(&text, spec).map_err(|e| e.to_string())
}

/// Reads the case's scenario and builds its snapshot on the case's day (the scenario's `tenant.at` unless the
/// case overrides it; today when neither says).
pub fn snapshot(case: &Case) -> Result<Snapshot, String> {
    let catalog = catalog(&case.catalog)?;
    let name = case.scenario.display().to_string();
    let text = std::fs::read_to_string(&case.scenario).map_err(|e| format!("{name}: cannot read: {e}"))?;
    let scenario =
        Scenario::parse(&text, Format::from_path(&name), &name, &catalog).map_err(|e| e.to_string())?;
    let day = case
        .at
        .or(scenario.tenant.at)
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    Snapshot::new(Arc::new(catalog), scenario, day).map_err(|e| format!("{name}: {e}"))
}

fn json(value: &impl serde::Serialize) -> Result<Value, String> {
    serde_json::to_value(value).map_err(|e| e.to_string())
}

fn need<'a>(case: &Case, what: &str, v: &'a Option<String>) -> Result<&'a str, String> {
    v.as_deref()
        .ok_or_else(|| format!("case `{}`: no `{what}`", case.name))
}

/// The JSON answer the CLI prints for this case (`--format json`), computed through the library.
pub fn library_answer(case: &Case) -> Result<Value, String> {
    let snap = snapshot(case)?;
    let user = |id: &str| snap.user_idx(id).ok_or_else(|| format!("unknown user `{id}`"));
    let flow = |id: &str| snap.flow_idx(id).ok_or_else(|| format!("unknown flow `{id}`"));
    let a = &case.args;
    match case.command {
        Command::CheckFlow => {
            let f = flow(need(case, "flow", &a.flow)?)?;
            let u = a.as_user.as_deref().map(user).transpose()?;
            json(&flow_answer(&snap, f, u))
        }
        Command::CheckApp => {
            let id = need(case, "app", &a.app)?;
            let app = snap.app_idx(id).ok_or_else(|| format!("unknown app `{id}`"))?;
            let u = user(need(case, "user", &a.user)?)?;
            json(&app_answer(&snap, app, u))
        }
        Command::Audit => json(&audit(&snap)),
        Command::Capacity => json(&capacity(&snap)),
        Command::Limits => match (&a.user, &a.flow) {
            (Some(id), None) => json(&user_limit(&snap, user(id)?)),
            (None, Some(id)) => {
                let u = a.as_user.as_deref().map(user).transpose()?;
                json(&flow_limit(&snap, flow(id)?, u))
            }
            _ => Err(format!("case `{}`: limits needs `user` or `flow`", case.name)),
        },
        Command::Cost => json(&cost(&snap)),
        Command::Buy => {
            let id = need(case, "sku", &a.sku)?;
            let sku = snap
                .catalog()
                .sku_idx(id)
                .ok_or_else(|| format!("unknown SKU `{id}`"))?;
            let quantity = a
                .quantity
                .ok_or_else(|| format!("case `{}`: no `quantity`", case.name))?;
            let u = a.as_user.as_deref().map(user).transpose()?;
            json(&preview_purchase(&snap, sku, quantity, u, a.channel))
        }
    }
}
