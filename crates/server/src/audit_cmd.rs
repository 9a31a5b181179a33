//! `authd audit tail|purge`.

use domain::Authd;
use domain::audit::{Actor, AuditQuery, Caller, MAX_PAGE};
use domain::ids::OrgId;
use domain::service::RetentionDays;
use storage_diesel::DieselStore;

use crate::cli::AuditCommand;
use crate::config::ConfigError;
use crate::print_line;

/// Runs an audit subcommand.
///
/// # Errors
/// [`ConfigError`] for invalid arguments; storage failures.
pub fn run(authd: &Authd<DieselStore>, cmd: &AuditCommand) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::Tail { org, after, follow } => {
            let org = OrgId::new(org.as_str()).map_err(|e| ConfigError(format!("--org: {e}")))?;
            let who = Caller::new(org, Actor::Cli);
            let mut cursor = *after;
            loop {
                let page = authd.list_audit_events(
                    &who,
                    &AuditQuery {
                        after: cursor,
                        limit: MAX_PAGE,
                        ..AuditQuery::default()
                    },
                )?;
                for e in &page.events {
                    print_line(&event_line(e));
                }
                cursor = page.next;
                if u32::try_from(page.events.len()).is_ok_and(|n| n < MAX_PAGE) {
                    if !*follow {
                        return Ok(());
                    }
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
            }
        }
        AuditCommand::Purge { older_than_days } => {
            let days = RetentionDays::new(*older_than_days)
                .ok_or_else(|| ConfigError("--older-than-days: must be from 1 to 36500".into()))?;
            let n = authd.purge_audit_events(days)?;
            tracing::info!(deleted = n, days = days.get(), "purged audit events");
            print_line(&n.to_string());
            Ok(())
        }
    }
}

/// One event as a JSON line (the shape of `GET /api/v1/audit/events`).
fn event_line(e: &domain::audit::AuditEvent) -> String {
    serde_json::json!({
        "id": e.id.hyphenated().to_string(),
        "org": e.org.as_str(),
        "seq": e.seq,
        "at": e.at.to_rfc3339(),
        "actor": {"kind": e.actor.kind(), "id": e.actor.id().map(|u| u.hyphenated().to_string())},
        "action": e.action.as_str(),
        "resource": {"type": e.resource_type.as_str(), "id": e.resource_id.hyphenated().to_string()},
        "request_id": e.request_id.as_ref().map(domain::audit::RequestId::as_str),
        "details": serde_json::from_str::<serde_json::Value>(e.details.as_json()).unwrap_or_default(),
    })
    .to_string()
}
