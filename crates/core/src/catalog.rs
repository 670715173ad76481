//! The catalog: every SKU, add-on and connector, with prices, dates and grants, as data.
//!
//! The catalog is effective-dated: prices carry the day they start, SKUs the window in which they can be bought,
//! connectors the days their tier changed. Two editions ship inside the binary ([`Catalog::seed`], the figures of
//! the seed documents, and [`Catalog::current`], today's figures from FACTS.md); a user may load their own file
//! with [`Catalog::from_toml`].

mod model;
#[cfg(test)]
mod tests;

pub use model::{
    Capability, CapabilitySet, Catalog, CatalogMeta, Channel, Connector, EnforcementTerms, Grants, GraphSku,
    Kind, NonLicensedPool, Price, ProductLine, RequestTerms, Scope, SelfServiceTerms, Sku, SkuIdx, Terms,
    Tier, TierChange,
};

use crate::error::CatalogError;

/// The default catalog: the figures of the seed documents (RULES.md, the 2020 price list).
pub const SEED_TOML: &str = include_str!("../catalog/seed.toml");
/// Today's figures (FACTS.md): per-app = one app at 5 USD, Premium 20 USD, request add-on 50,000, ….
pub const CURRENT_TOML: &str = include_str!("../catalog/current.toml");

impl Catalog {
    /// The embedded default edition.
    pub fn seed() -> Result<Catalog, CatalogError> {
        Catalog::from_toml(SEED_TOML, "<embedded seed catalog>")
    }

    /// The embedded edition with today's figures.
    pub fn current() -> Result<Catalog, CatalogError> {
        Catalog::from_toml(CURRENT_TOML, "<embedded current catalog>")
    }

    /// An embedded edition by name: `seed` (the default) or `current`.
    pub fn edition(name: &str) -> Option<Result<Catalog, CatalogError>> {
        match name {
            "seed" | "default" => Some(Catalog::seed()),
            "current" => Some(Catalog::current()),
            _ => None,
        }
    }

    /// Parses and validates a catalog; `origin` names the file in error messages.
    pub fn from_toml(text: &str, origin: &str) -> Result<Catalog, CatalogError> {
        model::parse(text, origin)
    }
}
