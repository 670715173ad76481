//! Who may do what, in one table. Keys of another tenant never get here: they get 404 before (see
//! [`crate::state::AppState::slot`]). Within its tenant, a key lacking a right gets 403.

use crate::auth::{Principal, Role};
use crate::problem::Problem;

/// The endpoint families of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// The tenant itself: export, delete.
    Tenant,
    Users,
    Environments,
    Apps,
    Flows,
    Entities,
    Subscriptions,
    /// `assignLicense`.
    Licenses,
    /// Environment allocations (`currencyAllocations`).
    Allocations,
    /// Setting a flow's licence (user, process, per-flow).
    FlowLicense,
    /// Decisions and reports: decision, audit, capacity, limits, cost, subscribedSkus, purchase previews.
    Answers,
    /// The audit log.
    AuditLog,
    /// API keys of the tenant.
    Keys,
    /// Counting requests against the meter.
    Usage,
    /// Licence requests: a maker asks for a licence; billing and global admins approve or deny.
    LicenseRequests,
    /// Webhook endpoints and their deliveries: like keys, for operators and global admins only (an endpoint
    /// receives every event of the tenant).
    Webhooks,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// What the request touches, for roles scoped to environments (environment admins) or to a user (makers).
#[derive(Debug, Clone, Copy, Default)]
pub struct Scope<'a> {
    pub environment: Option<&'a str>,
    /// The owner of the app or flow, or the user a decision or limit is about.
    pub user: Option<&'a str>,
}

/// Is `p` allowed `access` to `family` within its own tenant?
pub fn allowed(p: &Principal, family: Family, access: Access, scope: Scope<'_>) -> bool {
    use Access::{Read, Write};
    use Family::*;
    let own_env = || {
        scope
            .environment
            .is_some_and(|e| p.environments.iter().any(|x| x == e))
    };
    let own_user = || scope.user.is_some() && scope.user == p.user.as_deref();
    match (p.role, access) {
        (Role::Operator | Role::GlobalAdmin, _) => true,
        (Role::Reader | Role::BillingAdmin | Role::EnvironmentAdmin, Read) => {
            !matches!(family, Keys | Webhooks)
        }
        (Role::BillingAdmin, Write) => {
            matches!(family, Subscriptions | Licenses | Allocations | LicenseRequests)
        }
        (Role::EnvironmentAdmin, Write) => {
            matches!(family, Environments | Apps | Flows | FlowLicense) && own_env()
        }
        (Role::Maker, Read) => match family {
            Apps | Flows | Answers | Users | LicenseRequests => own_user(),
            Environments | Entities => true,
            _ => false,
        },
        (Role::Maker, Write) => matches!(family, Apps | Flows | LicenseRequests) && own_user(),
        (Role::Reader, Write) => false,
    }
}

pub fn require(p: &Principal, family: Family, access: Access, scope: Scope<'_>) -> Result<(), Problem> {
    if allowed(p, family, access, scope) {
        Ok(())
    } else {
        Err(Problem::forbidden(format!(
            "{} {} key may not {} {family:?}{}",
            if p.role.as_str().starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            },
            p.role.as_str(),
            if access == Access::Read { "read" } else { "change" },
            match (scope.environment, scope.user) {
                (Some(e), _) if p.role == Role::EnvironmentAdmin => format!(" in environment `{e}`"),
                (_, Some(u)) if p.role == Role::Maker => format!(" of `{u}`"),
                _ => String::new(),
            }
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(role: Role) -> Principal {
        Principal {
            key_id: "k".into(),
            tenant: Some("t".into()),
            role,
            environments: vec!["e1".into()],
            user: Some("mia".into()),
        }
    }

    #[test]
    fn readers_read_but_never_write() {
        let p = key(Role::Reader);
        assert!(allowed(&p, Family::Flows, Access::Read, Scope::default()));
        assert!(!allowed(&p, Family::Flows, Access::Write, Scope::default()));
        assert!(!allowed(&p, Family::Keys, Access::Read, Scope::default()));
    }

    #[test]
    fn environment_admins_write_only_in_their_environments() {
        let p = key(Role::EnvironmentAdmin);
        let e1 = Scope {
            environment: Some("e1"),
            user: None,
        };
        let e2 = Scope {
            environment: Some("e2"),
            user: None,
        };
        assert!(allowed(&p, Family::Flows, Access::Write, e1));
        assert!(!allowed(&p, Family::Flows, Access::Write, e2));
        assert!(!allowed(&p, Family::Subscriptions, Access::Write, e1));
    }

    #[test]
    fn makers_touch_only_their_own() {
        let p = key(Role::Maker);
        let mine = Scope {
            environment: None,
            user: Some("mia"),
        };
        let theirs = Scope {
            environment: None,
            user: Some("bo"),
        };
        assert!(allowed(&p, Family::Flows, Access::Write, mine));
        assert!(!allowed(&p, Family::Flows, Access::Write, theirs));
        assert!(allowed(&p, Family::Answers, Access::Read, mine));
        assert!(!allowed(&p, Family::Answers, Access::Read, theirs));
        assert!(!allowed(&p, Family::Licenses, Access::Write, mine));
        assert!(allowed(&p, Family::LicenseRequests, Access::Write, mine));
        assert!(!allowed(&p, Family::LicenseRequests, Access::Write, theirs));
    }

    #[test]
    fn billing_admins_buy_and_assign() {
        let p = key(Role::BillingAdmin);
        assert!(allowed(&p, Family::Licenses, Access::Write, Scope::default()));
        assert!(allowed(
            &p,
            Family::Subscriptions,
            Access::Write,
            Scope::default()
        ));
        assert!(!allowed(&p, Family::Flows, Access::Write, Scope::default()));
    }
}
