#![doc = include_str!("../README.md")]

pub mod ai;
pub mod apps;
pub mod audit;
pub mod buying;
pub mod capacity;
pub mod catalog;
pub mod changes;
pub mod chunked;
pub mod consumption;
pub mod decision;
pub mod dryrun;
pub mod enforcement;
pub mod entities;
pub mod error;
pub mod fixes;
pub mod flows;
pub mod generate;
pub mod import;
pub mod money;
pub mod optimise;
pub mod portals;
pub mod report;
pub mod requests;
mod rights;
pub mod rule;
pub mod rulebook;
pub mod scenario;
pub mod snapshot;
pub mod who;

pub use catalog::Catalog;
pub use chunked::Chunked;
pub use decision::{AppDecision, FlowDecision, LicensedBy};
pub use error::{InputError, Location};
pub use rule::Rule;
pub use scenario::Scenario;
pub use snapshot::Snapshot;
