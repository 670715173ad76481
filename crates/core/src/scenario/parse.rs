//! Reading a scenario: syntax, unknown keys, references. (Filled in by the parser work.)

use crate::catalog::Catalog;
use crate::error::{InputError, Location};

use super::Scenario;

/// The two spellings of a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Json,
}

impl Format {
    /// `.json` files are JSON; everything else is read as TOML.
    pub fn from_path(path: &str) -> Format {
        if path.to_ascii_lowercase().ends_with(".json") {
            Format::Json
        } else {
            Format::Toml
        }
    }
}

impl Scenario {
    /// Parses and checks a scenario. `file` names the input in error messages.
    pub fn parse(text: &str, format: Format, file: &str, catalog: &Catalog) -> Result<Scenario, InputError> {
        let _ = catalog;
        match format {
            Format::Toml => toml::from_str(text).map_err(|e| InputError::parse(file, text, &e)),
            Format::Json => serde_json::from_str(text).map_err(|e| {
                InputError::new(
                    file,
                    Location {
                        line: Some(e.line()),
                        column: Some(e.column()),
                    },
                    "",
                    e.to_string(),
                )
            }),
        }
    }
}

/// The JSON Schema of the scenario file.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Scenario)).unwrap_or_default()
}
