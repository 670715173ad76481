//! Reading the catalog and the scenario, and resolving ids given on the command line.

use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use entitle_core::scenario::Format;
use entitle_core::{Catalog, Scenario, Snapshot};

/// What went wrong, and which exit status says so (SCENARIO.md: 2 for bad input, 1 for an internal fault).
#[derive(Debug)]
pub enum CliError {
    Input(String),
    Internal(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Input(_) => 2,
            CliError::Internal(_) => 1,
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Input(m) | CliError::Internal(m) => f.write_str(m),
        }
    }
}

impl From<entitle_render::RenderError> for CliError {
    fn from(e: entitle_render::RenderError) -> CliError {
        CliError::Internal(e.0)
    }
}

/// `--catalog`: an embedded edition by name, or a file.
pub fn catalog(spec: &str) -> Result<Catalog, CliError> {
    if let Some(edition) = Catalog::edition(spec) {
        // The embedded editions are checked by the tests; failing here is a build fault.
        return edition.map_err(|e| CliError::Internal(format!("embedded catalog: {e}")));
    }
    let path = Path::new(spec);
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::Input(format!(
            "--catalog: cannot read `{spec}`: {e} (or name an edition: `seed`, `current`)"
        ))
    })?;
    Catalog::from_toml(&text, spec).map_err(|e| CliError::Input(e.to_string()))
}

/// Reads, parses and checks the scenario, and builds its snapshot on the evaluation day.
pub fn snapshot(path: Option<&Path>, at: Option<NaiveDate>, catalog: Catalog) -> Result<Snapshot, CliError> {
    let path =
        path.ok_or_else(|| CliError::Input("--scenario FILE is required for this command".to_owned()))?;
    let name = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| CliError::Input(format!("{name}: cannot read: {e}")))?;
    let scenario = Scenario::parse(&text, Format::from_path(&name), &name, &catalog)
        .map_err(|e| CliError::Input(e.to_string()))?;
    let day = at
        .or(scenario.tenant.at)
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    Snapshot::new(Arc::new(catalog), scenario, day).map_err(|e| CliError::Input(format!("{name}: {e}")))
}

/// Resolves an id given with `flag`, suggesting the closest known one.
pub fn resolve<T>(
    flag: &str,
    what: &str,
    id: &str,
    found: Option<T>,
    known: impl Iterator<Item = String>,
) -> Result<T, CliError> {
    found.ok_or_else(|| {
        let best = known
            .map(|k| (strsim::levenshtein(id, &k), k))
            .filter(|(d, _)| *d <= 3)
            .min_by_key(|(d, _)| *d)
            .map(|(_, k)| format!(" (did you mean `{k}`?)"))
            .unwrap_or_default();
        CliError::Input(format!("{flag}: unknown {what} `{id}`{best}"))
    })
}
