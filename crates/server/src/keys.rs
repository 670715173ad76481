//! Creating, listing and revoking API keys: shared by the API and `entitle key …` (which works on the store
//! directly, so an operator who lost every key can still get in).

use serde::{Deserialize, Serialize};

use crate::auth::{Role, new_id, new_secret};
use crate::problem::Problem;
use crate::store::{KeyIf, KeyRow, NewAudit, Revoked, Store, StoreError, now_ms};

/// What a new key may do.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeySpec {
    pub role: Role,
    /// Environment admins: the environments they administer (at least one).
    #[serde(default)]
    pub environments: Vec<String>,
    /// Makers: the user they act as.
    #[serde(default)]
    pub user: Option<String>,
    /// A label for people.
    #[serde(default)]
    pub name: Option<String>,
}

/// A key as listed: never its secret.
#[derive(Debug, Clone, Serialize)]
pub struct KeyView {
    pub id: String,
    pub tenant: Option<String>,
    pub role: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub name: String,
    pub created_at: String,
    pub revoked: bool,
}

impl From<&KeyRow> for KeyView {
    fn from(k: &KeyRow) -> KeyView {
        KeyView {
            id: k.id.clone(),
            tenant: k.tenant.clone(),
            role: k.role.clone(),
            environments: k.environments.clone(),
            user: k.user.clone(),
            name: k.name.clone(),
            created_at: chrono::DateTime::from_timestamp_millis(k.created_ms)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default(),
            revoked: k.revoked,
        }
    }
}

/// A new key: shown once.
#[derive(Debug, Clone, Serialize)]
pub struct NewKey {
    #[serde(flatten)]
    pub view: KeyView,
    /// The secret: send it as `Authorization: Bearer <key>`. It is not stored and cannot be shown again.
    pub key: String,
}

/// Checks a key's shape against its tenant (`None` for operator keys). `known` answers whether an environment
/// or user id exists in the tenant.
pub fn check_spec(
    spec: &KeySpec,
    tenant: Option<&str>,
    env_exists: &dyn Fn(&str) -> bool,
    user_exists: &dyn Fn(&str) -> bool,
) -> Result<(), Problem> {
    match (spec.role, tenant) {
        (Role::Operator, Some(_)) => {
            return Err(Problem::unprocessable(
                "an operator key belongs to no tenant: create it with POST /v1/keys",
            )
            .at("/role"));
        }
        (r, None) if r != Role::Operator => {
            return Err(Problem::unprocessable(
                "only operator keys are made here; other roles belong to a tenant: POST /v1/tenants/{t}/keys",
            )
            .at("/role"));
        }
        _ => {}
    }
    if spec.role == Role::EnvironmentAdmin && spec.environments.is_empty() {
        return Err(
            Problem::unprocessable("an environment admin key names at least one environment")
                .at("/environments"),
        );
    }
    if spec.role != Role::EnvironmentAdmin && !spec.environments.is_empty() {
        return Err(
            Problem::unprocessable("only environment admin keys name environments").at("/environments"),
        );
    }
    for (i, e) in spec.environments.iter().enumerate() {
        if !env_exists(e) {
            return Err(
                Problem::unprocessable(format!("unknown environment `{e}`")).at(format!("/environments/{i}"))
            );
        }
    }
    match (&spec.user, spec.role) {
        (None, Role::Maker) => {
            Err(Problem::unprocessable("a maker key names the user it acts as").at("/user"))
        }
        (Some(_), r) if r != Role::Maker => {
            Err(Problem::unprocessable("only maker keys name a user").at("/user"))
        }
        (Some(u), _) if !user_exists(u) => {
            Err(Problem::unprocessable(format!("unknown user `{u}`")).at("/user"))
        }
        _ => Ok(()),
    }
}

/// Makes and stores a key (checked by [`check_spec`] first), when `only_if` holds (see [`KeyIf`]).
pub async fn create(
    store: &dyn Store,
    actor: &str,
    tenant: Option<&str>,
    spec: &KeySpec,
    secret: Option<String>,
    only_if: KeyIf,
) -> Result<Option<NewKey>, StoreError> {
    let (secret, hash) = match secret {
        Some(s) => {
            let h = crate::auth::hash_secret(&s);
            (s, h)
        }
        None => new_secret(),
    };
    let row = KeyRow {
        id: new_id("key_"),
        hash,
        tenant: tenant.map(str::to_owned),
        role: spec.role.as_str().to_owned(),
        environments: spec.environments.clone(),
        user: spec.user.clone(),
        name: spec.name.clone().unwrap_or_default(),
        created_ms: now_ms(),
        revoked: false,
        incarnation: String::new(),
    };
    let view = KeyView::from(&row);
    let audit = NewAudit {
        tenant: tenant.unwrap_or("*").to_owned(),
        actor: actor.to_owned(),
        action: "create".to_owned(),
        kind: "key".to_owned(),
        item: Some(row.id.clone()),
        before: None,
        after: serde_json::to_value(&view).ok(),
    };
    let made = store.insert_key(&row, audit, only_if).await?;
    Ok(made.then_some(NewKey { view, key: secret }))
}

pub async fn revoke(store: &dyn Store, actor: &str, row: &KeyRow) -> Result<Revoked, StoreError> {
    let audit = NewAudit {
        tenant: row.tenant.clone().unwrap_or_else(|| "*".to_owned()),
        actor: actor.to_owned(),
        action: "revoke".to_owned(),
        kind: "key".to_owned(),
        item: Some(row.id.clone()),
        before: serde_json::to_value(KeyView::from(row)).ok(),
        after: None,
    };
    store.revoke_key(&row.id, audit).await
}
