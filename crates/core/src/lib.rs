#![doc = include_str!("../README.md")]

pub mod catalog;
pub mod error;
pub mod rule;
pub mod scenario;

pub use catalog::Catalog;
pub use error::{InputError, Location};
pub use rule::Rule;
pub use scenario::Scenario;
