//! API keys and roles. A key is 32 random bytes shown once (`ent_` + hex); the store keeps its SHA-256. A
//! request's key is hashed and looked up by hash, then compared in constant time (the lookup by hash leaks at
//! most which hash prefix exists, which says nothing about any key).

use std::collections::HashMap;
use std::sync::Arc;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::problem::Problem;
use crate::store::KeyRow;

/// What a key may do. Every role but `operator` belongs to one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// All tenants: creates tenants and keys.
    Operator,
    /// Everything in its tenant.
    GlobalAdmin,
    /// Subscriptions, licence assignment, purchases, costs; reads everything.
    BillingAdmin,
    /// The environments named on the key, and the apps and flows in them; reads everything.
    EnvironmentAdmin,
    /// Its own apps and flows and the decisions about them, as its user; may request licences.
    Maker,
    /// Reads everything in its tenant.
    Reader,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Operator,
        Role::GlobalAdmin,
        Role::BillingAdmin,
        Role::EnvironmentAdmin,
        Role::Maker,
        Role::Reader,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::GlobalAdmin => "global-admin",
            Role::BillingAdmin => "billing-admin",
            Role::EnvironmentAdmin => "environment-admin",
            Role::Maker => "maker",
            Role::Reader => "reader",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// The caller, as its key says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub key_id: String,
    pub tenant: Option<String>,
    pub role: Role,
    pub environments: Vec<String>,
    pub user: Option<String>,
}

impl Principal {
    /// The server itself (background work, the first operator key).
    pub fn system() -> Principal {
        Principal {
            key_id: "system".to_owned(),
            tenant: None,
            role: Role::Operator,
            environments: Vec::new(),
            user: None,
        }
    }

    /// May this key know that tenant `t` exists? Keys of other tenants get 404, never 403.
    pub fn sees_tenant(&self, t: &str) -> bool {
        self.role == Role::Operator || self.tenant.as_deref() == Some(t)
    }

    pub fn is_admin(&self) -> bool {
        matches!(self.role, Role::Operator | Role::GlobalAdmin)
    }
}

/// A new key: the secret (shown once) and its hash.
pub fn new_secret() -> (String, [u8; 32]) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("ent_{}", hex::encode(bytes));
    let hash = hash_secret(&secret);
    (secret, hash)
}

/// A short random id for keys and generated names.
pub fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

pub fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The keys in force, by hash.
#[derive(Debug, Default)]
pub struct KeyRing {
    by_hash: HashMap<[u8; 32], Arc<(KeyRow, Principal)>>,
}

impl KeyRing {
    pub fn new(rows: Vec<KeyRow>) -> KeyRing {
        let by_hash = rows
            .into_iter()
            .filter(|k| !k.revoked)
            .filter_map(|k| {
                let role = Role::parse(&k.role)?;
                let p = Principal {
                    key_id: k.id.clone(),
                    tenant: k.tenant.clone(),
                    role,
                    environments: k.environments.clone(),
                    user: k.user.clone(),
                };
                Some((k.hash, Arc::new((k, p))))
            })
            .collect();
        KeyRing { by_hash }
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// The principal of a bearer secret, if it is a key in force.
    pub fn check(&self, secret: &str) -> Option<Principal> {
        let hash = hash_secret(secret);
        let found = self.by_hash.get(&hash)?;
        bool::from(found.0.hash.ct_eq(&hash)).then(|| found.1.clone())
    }
}

/// The bearer secret of an `Authorization` header value.
pub fn bearer(header: Option<&str>) -> Result<&str, Problem> {
    let value = header.ok_or_else(|| unauthorized("missing `Authorization: Bearer <key>` header"))?;
    let (scheme, secret) = value
        .split_once(' ')
        .ok_or_else(|| unauthorized("malformed Authorization header"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || secret.trim().is_empty() {
        return Err(unauthorized("the Authorization header must be `Bearer <key>`"));
    }
    Ok(secret.trim())
}

pub fn unauthorized(detail: &str) -> Problem {
    Problem::new(axum::http::StatusCode::UNAUTHORIZED, "unauthorized", detail).at("header:Authorization")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, secret: &str, role: &str, revoked: bool) -> KeyRow {
        KeyRow {
            id: id.to_owned(),
            hash: hash_secret(secret),
            tenant: Some("t".to_owned()),
            role: role.to_owned(),
            environments: vec![],
            user: None,
            name: String::new(),
            created_ms: 0,
            revoked,
            incarnation: String::new(),
        }
    }

    #[test]
    fn keys_in_force_are_found_by_secret_only() {
        let ring = KeyRing::new(vec![
            row("k1", "ent_a", "reader", false),
            row("k2", "ent_b", "maker", true),
        ]);
        assert_eq!(ring.check("ent_a").map(|p| p.role), Some(Role::Reader));
        assert_eq!(ring.check("ent_b"), None, "revoked");
        assert_eq!(ring.check("ent_c"), None);
    }

    #[test]
    fn secrets_are_random_and_hashed() {
        let (a, ha) = new_secret();
        let (b, _) = new_secret();
        assert_ne!(a, b);
        assert!(a.starts_with("ent_") && a.len() == 68);
        assert_eq!(hash_secret(&a), ha);
    }

    #[test]
    fn bearer_header_is_parsed_strictly() {
        assert_eq!(bearer(Some("Bearer abc")).ok(), Some("abc"));
        assert_eq!(bearer(Some("bearer abc")).ok(), Some("abc"));
        assert!(bearer(Some("Basic abc")).is_err());
        assert!(bearer(Some("Bearer ")).is_err());
        assert!(bearer(None).is_err());
    }

    #[test]
    fn roles_round_trip_their_names() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }
}
