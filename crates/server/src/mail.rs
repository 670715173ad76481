//! ENF-3's notices by e-mail (issue 14), when the server runs with `--smtp-url`: admin notices to the admins,
//! maker notices to a flow's owner and co-owners, turn-offs to both. Read from the events table after a cursor
//! per tenant (so a notice is mailed at least once, and never holds up the change that made it), one node at a
//! time under a lease. A user is mailed when their id is an e-mail address (`ann@contoso.com`, as Entra ID's
//! user principal names are); others are told by events and banners only.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::Value;

use crate::state::AppState;
use crate::store::EventFilter;

/// The event types mailed.
pub const MAILED: &[&str] = &[
    "enforcement.admin_notice",
    "enforcement.maker_notice",
    "flow.suspended",
];

/// Sends the notices.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("--smtp-url: {0} (smtp://host:port, smtps://… for TLS, smtp://…?tls=required for STARTTLS)")]
    Url(String),
    #[error("--smtp-from `{0}`: not an e-mail address")]
    From(String),
}

impl Mailer {
    pub fn new(url: &str, from: &str) -> Result<Mailer, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError::Url(e.to_string()))?
            .timeout(Some(Duration::from_secs(10)))
            .build();
        let from = from.parse().map_err(|_| MailError::From(from.to_owned()))?;
        Ok(Mailer { transport, from })
    }

    async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), String> {
        let to: Mailbox = to.parse().map_err(|e| format!("`{to}`: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .body(body)
            .map_err(|e| e.to_string())?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The subject and text of an event's notice, for the tenant `tenant`.
pub fn compose(tenant: &str, kind: &str, p: &Value) -> (String, String) {
    let s = |k: &str| p[k].as_str().unwrap_or("").to_owned();
    let kind_name = s("kind");
    match kind {
        "enforcement.admin_notice" => {
            let flows: Vec<&str> = p["flows"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            (
                format!(
                    "[{tenant}] {} flow(s) will be turned off on {} ({kind_name})",
                    flows.len(),
                    s("turn_off")
                ),
                format!(
                    "These flows need a licence they do not have (enforcement: {kind_name}). Their makers will be told \
                     30 days after this notice; unless they are licensed, they will be turned off on {}.\n\n{}\n\n\
                     Rules: ENF-2, ENF-3. The audit lists the cheapest fix of each.\n",
                    s("turn_off"),
                    flows
                        .iter()
                        .map(|f| format!("  - {f}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
            )
        }
        "enforcement.maker_notice" => (
            format!(
                "[{tenant}] your flow {} will be turned off on {}",
                s("flow"),
                s("turn_off")
            ),
            format!(
                "Your flow `{}` (environment {}) needs a licence it does not have (enforcement: {kind_name}; its \
                 decision fails {}). Unless it is licensed, it will be turned off on {}.\n\nRules: ENF-2, ENF-3.\n",
                s("flow"),
                s("environment"),
                s("failing"),
                s("turn_off")
            ),
        ),
        _ => {
            let fix = if p["fix"].is_object() {
                format!("\nThe cheapest fix: {}\n", p["fix"])
            } else {
                String::new()
            };
            (
                format!("[{tenant}] flow {} was turned off", s("flow")),
                format!(
                    "The flow `{}` was turned off (enforcement: {kind_name}; its decision fails {}). It can be turned \
                     on again once it is licensed (ENF-5).{fix}\nRules: ENF-2, ENF-3.\n",
                    s("flow"),
                    s("failing")
                ),
            )
        }
    }
}

/// Mails what the tenant's events told since its cursor; stops at the first failure (tried again next round).
async fn tenant_round(
    state: &AppState,
    mailer: &Mailer,
    tenant: &str,
    incarnation: &str,
) -> Result<(), String> {
    let name = format!("mail:{tenant}:{incarnation}");
    let cursor = state.store.cursor(&name).await.map_err(|e| e.to_string())?;
    let filter = EventFilter {
        after_seq: Some(cursor),
        types: MAILED.iter().map(|t| (*t).to_owned()).collect(),
        told: None,
        limit: 200,
    };
    let events = state
        .store
        .events(tenant, incarnation, &filter)
        .await
        .map_err(|e| e.to_string())?;
    for e in events {
        let (subject, body) = compose(tenant, &e.kind, &e.payload);
        for user in e.told.iter().filter(|u| u.contains('@')) {
            mailer.send(user, &subject, body.clone()).await?;
        }
        state
            .store
            .set_cursor(&name, e.seq)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Every 2 seconds (or when a write stored events), under the lease `mail`: each tenant's new notices.
pub async fn run(state: Arc<AppState>, mailer: Mailer, node: String) {
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = crate::store::now_ms();
        match state.store.take_lease("mail", &node, now, now + 30_000).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "the mail lease could not be taken");
                continue;
            }
        }
        let tenants: Vec<(String, String)> = state
            .index
            .load()
            .iter()
            .map(|(t, inc)| (t.clone(), inc.to_string()))
            .collect();
        for (t, inc) in tenants {
            if let Err(e) = tenant_round(&state, &mailer, &t, &inc).await {
                tracing::warn!(tenant = %t, error = %e, "mailing notices failed; trying again shortly");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_maker_notice_says_which_flow_and_when() {
        let (subject, body) = compose(
            "northwind",
            "enforcement.maker_notice",
            &json!({"flow": "sync", "environment": "default", "kind": "owner-without-premium", "failing": "FLOW-24", "turn_off": "2022-10-15"}),
        );
        assert_eq!(
            subject,
            "[northwind] your flow sync will be turned off on 2022-10-15"
        );
        assert!(body.contains("FLOW-24") && body.contains("ENF-3"), "{body}");
    }

    #[test]
    fn bad_settings_are_named() {
        assert!(Mailer::new("ftp://x", "a@b.c").is_err());
        assert!(matches!(
            Mailer::new("smtp://127.0.0.1:2525", "not an address"),
            Err(MailError::From(_))
        ));
    }
}
