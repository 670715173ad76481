//! The events a change writes (issue 14): their vocabulary, and how a write's changes, its enforcement and the
//! jobs' happenings become events. They are stored in the change's own transaction ([`crate::store::Commit`]),
//! so an event exists exactly when its change does.
//!
//! Types (docs/server.md, "Events"): `tenant.created`; `license.assigned`, `license.removed`;
//! `{kind}.created|updated|deleted` for items (`flow`, `user`, `environment`, `app`, `subscription`, …);
//! `license_request.approved|denied`; `environment.allocated`, `environment.storage_reported`, `flow.license_set`;
//! `flow.suspended`, `flow.resumed`; `enforcement.admin_notice`, `enforcement.maker_notice`,
//! `enforcement.cleared`; `trial.expiring`, `trial.expired`; `subscription.renewed`, `subscription.lapsed`,
//! `subscription.cancelled`, `subscription.taken_over`; `requests.warning`; `clock.advanced`.

use chrono::NaiveDate;
use entitle_core::Snapshot;
use entitle_core::enforcement::on_write::{CreatedOff, TurnedOn};
use entitle_core::timeline::Happening;
use serde_json::{Value, json};

use crate::store::NewEvent;
use crate::write::Change;

/// The most events one change may write: a bound on a transaction (a whole-tenant replace that touches many
/// items writes one event per kind of change beyond it).
pub const MAX_PER_CHANGE: usize = 10_000;

/// A new event with a fresh id.
pub fn new_event(kind: &str, day: NaiveDate, told: Vec<String>, payload: Value) -> NewEvent {
    NewEvent {
        id: crate::auth::new_id("evt_"),
        kind: kind.to_owned(),
        day,
        told,
        payload,
    }
}

/// The past tense of a change's action, as event types write it.
fn past(action: &str) -> String {
    match action {
        "create" => "created".to_owned(),
        "update" => "updated".to_owned(),
        "delete" => "deleted".to_owned(),
        "approve" => "approved".to_owned(),
        "deny" => "denied".to_owned(),
        "allocate" => "allocated".to_owned(),
        "set-license" => "license_set".to_owned(),
        "report-storage" => "storage_reported".to_owned(),
        "revoke" => "revoked".to_owned(),
        other => other.replace('-', "_"),
    }
}

/// The SKUs of a user's `licenses` in a change's `before` or `after` (a user item, or a list of SKUs).
fn skus(v: Option<&Value>) -> Vec<String> {
    let list = match v {
        Some(Value::Array(a)) => Some(a),
        Some(Value::Object(o)) => o.get("licenses").and_then(Value::as_array),
        _ => None,
    };
    list.map(|l| l.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// The events of a write's recorded changes: licence assignments as `license.assigned` / `license.removed`
/// (to the user), anything else as `{kind}.{action in the past}` with the item and its before and after.
pub fn of_changes(changes: &[Change], day: NaiveDate) -> Vec<NewEvent> {
    let mut out = Vec::new();
    for c in changes {
        if out.len() >= MAX_PER_CHANGE {
            break;
        }
        // A job's audit entries: its events are its happenings' own (`of_happening`).
        if c.kind == "job" {
            continue;
        }
        let user_licences =
            c.kind == "user" && matches!(c.action, "assign-license" | "update" | "create" | "delete");
        if user_licences {
            let (before, after) = (skus(c.before.as_ref()), skus(c.after.as_ref()));
            let added: Vec<&String> = after.iter().filter(|s| !before.contains(s)).collect();
            let removed: Vec<&String> = before.iter().filter(|s| !after.contains(s)).collect();
            let told: Vec<String> = c.item.iter().cloned().collect();
            if !added.is_empty() {
                out.push(new_event(
                    "license.assigned",
                    day,
                    told.clone(),
                    json!({"user": c.item, "skus": added, "rules": ["BUY-6"]}),
                ));
            }
            if !removed.is_empty() {
                out.push(new_event(
                    "license.removed",
                    day,
                    told.clone(),
                    json!({"user": c.item, "skus": removed, "rules": ["BUY-6"]}),
                ));
            }
            if c.action == "assign-license" {
                continue;
            }
        }
        // BUY-4 and terms: what a subscription's change means, besides the change itself.
        if c.kind == "subscription" && c.action == "update" {
            let field = |v: &Option<Value>, k: &str| {
                v.as_ref().and_then(|v| v.get(k)).cloned().unwrap_or(Value::Null)
            };
            if field(&c.before, "cancelled").is_null() && !field(&c.after, "cancelled").is_null() {
                out.push(new_event(
                    "subscription.cancelled",
                    day,
                    Vec::new(),
                    json!({"subscription": c.item, "cancelled": field(&c.after, "cancelled"), "ends": field(&c.after, "end"), "rules": []}),
                ));
            }
            if field(&c.before, "channel") == "self-service" && field(&c.after, "channel") == "admin" {
                out.push(new_event(
                    "subscription.taken_over",
                    day,
                    Vec::new(),
                    json!({"subscription": c.item, "buyer": field(&c.before, "buyer"), "rules": ["BUY-4"]}),
                ));
            }
        }
        let kind = c.kind.replace('-', "_");
        out.push(new_event(
            &format!("{kind}.{}", past(c.action)),
            day,
            Vec::new(),
            json!({"item": c.item, "before": c.before, "after": c.after}),
        ));
    }
    out
}

/// The owner and co-owners of a flow, who a change to it tells.
fn makers(snap: &Snapshot, flow: &str) -> Vec<String> {
    let Some(f) = snap.flow_idx(flow).and_then(|i| snap.flow(i)) else {
        return Vec::new();
    };
    std::iter::once(f.owner)
        .chain(f.co_owners.iter().copied())
        .map(|u| snap.user_id(u).to_owned())
        .collect()
}

/// The events of what a write did to enforcement: flows turned off because their app went (ENF-7) or created
/// off (ENF-4), and suspended flows turned on once licensed (ENF-5).
pub fn of_enforcement(
    next: &Snapshot,
    unlinked: &[String],
    created_off: &[CreatedOff],
    turned_on: &[TurnedOn],
) -> Vec<NewEvent> {
    let day = next.at();
    let mut out = Vec::new();
    for flow in unlinked.iter().take(MAX_PER_CHANGE) {
        out.push(new_event(
            "flow.suspended",
            day,
            makers(next, flow),
            json!({"flow": flow, "kind": "app-deleted", "state": "turned-off", "rules": ["ENF-7"]}),
        ));
    }
    for c in created_off {
        out.push(new_event(
            "flow.suspended",
            day,
            makers(next, &c.flow),
            json!({
                "flow": c.flow, "kind": c.kind, "state": "created-off", "failing": c.failing,
                "fix": c.fix, "rules": ["ENF-4", "ENF-2", c.failing],
            }),
        ));
    }
    for t in turned_on.iter().filter(|t| t.licensed) {
        out.push(new_event(
            "flow.resumed",
            day,
            makers(next, &t.flow),
            json!({"flow": t.flow, "allowed": true, "rules": ["ENF-5", "ENF-6"]}),
        ));
    }
    out
}

/// A job's happening as an event: its own fields (with `type` and the rules) as the payload.
pub fn of_happening(h: &Happening, day: NaiveDate) -> NewEvent {
    let payload = serde_json::to_value(h).unwrap_or_else(|e| json!({"error": e.to_string()}));
    new_event(
        h.kind(),
        day,
        h.told().into_iter().map(str::to_owned).collect(),
        payload,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 6, 3).unwrap_or_default()
    }

    #[test]
    fn an_assignment_tells_the_user_what_was_added_and_removed() {
        let c = Change {
            action: "assign-license",
            kind: "user",
            item: Some("ann".into()),
            before: Some(json!(["office-365-e3", "power-apps-per-user"])),
            after: Some(json!(["office-365-e3", "power-automate-premium"])),
        };
        let e = of_changes(&[c], day());
        let kinds: Vec<&str> = e.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["license.assigned", "license.removed"]);
        assert_eq!(e[0].payload["skus"], json!(["power-automate-premium"]));
        assert_eq!(e[1].payload["skus"], json!(["power-apps-per-user"]));
        assert_eq!(e[0].told, ["ann"]);
        assert_ne!(e[0].id, e[1].id);
    }

    #[test]
    fn other_changes_are_kind_and_action_in_the_past() {
        let c = Change {
            action: "approve",
            kind: "license-request",
            item: Some("r1".into()),
            before: None,
            after: None,
        };
        assert_eq!(of_changes(&[c], day())[0].kind, "license_request.approved");
    }
}
