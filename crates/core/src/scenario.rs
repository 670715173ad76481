//! The scenario file: one tenant as of a date (`docs/scenario.md`, a public contract).
//!
//! [`Scenario::parse`] reads TOML or JSON into the same types, rejects unknown keys (with a "did you mean"),
//! checks every reference, and reports the first problem with file, line and key.

pub mod ids;
pub mod limits;
mod locate;
mod model;
mod parse;
mod path;
mod suggest;
mod validate;

pub use model::*;
pub use parse::{Format, WriteError, json_schema};
