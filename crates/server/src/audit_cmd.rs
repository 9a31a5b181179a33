//! `authd audit tail|purge`.

use domain::Authd;
use domain::audit::{Action, Actor, AuditEvent, AuditQuery, Caller, MAX_PAGE, ResourceType};
use domain::ids::OrgId;
use domain::service::RetentionDays;
use storage_diesel::DieselStore;

use crate::cli::{AuditCommand, OutputFormat};
use crate::config::ConfigError;
use crate::print_line;
use crate::table::{self, Column, Table};

/// The longest cell of the DETAILS column.
const DETAILS_MAX: usize = 48;

/// A hyphenated UUID's length.
const UUID_LEN: usize = "0190a5b4-7c3e-7def-8abc-0123456789ab".len();

/// `audit tail`'s table. Its rows stream (`--follow`), so the widths are fixed in advance: each
/// as wide as the longest value the column can hold, but DETAILS, which is cut.
fn tail_table() -> Table<7> {
    // An actor is `cli`, or its kind and id: `service_token 0190a5b4-7c3e-7def-8abc-0123456789ab`.
    let actor = "service_token".len() + 1 + UUID_LEN;
    Table::new([
        Column::new("SEQ").right().width(6),
        Column::new("AT").width("2026-03-18T12:00:00Z".len()),
        Column::new("ACTOR").width(actor),
        Column::new("ACTION").width(longest(Action::ALL.iter().map(|a| a.as_str()))),
        Column::new("RESOURCE").width(longest(ResourceType::ALL.iter().map(|r| r.as_str()))),
        Column::new("RESOURCE_ID").width(UUID_LEN),
        Column::new("DETAILS").max(DETAILS_MAX),
    ])
}

/// The length of the longest of these names.
fn longest(names: impl Iterator<Item = &'static str>) -> usize {
    names.map(str::len).max().unwrap_or(0)
}

/// Runs an audit subcommand.
///
/// # Errors
/// [`ConfigError`] for invalid arguments; storage failures.
pub fn run(authd: &Authd<DieselStore>, cmd: &AuditCommand) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::Tail {
            org,
            after,
            follow,
            json,
            format,
        } => {
            let org = OrgId::new(org.as_str()).map_err(|e| ConfigError(format!("--org: {e}")))?;
            let who = Caller::new(org, Actor::Cli);
            let table = match table::output_format(*format, *json) {
                OutputFormat::Table => {
                    let t = tail_table();
                    print_line(&t.header())?;
                    Some(t)
                }
                OutputFormat::Json => None,
            };
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
                    match &table {
                        Some(t) => print_line(&t.row(&event_row(e)))?,
                        None => print_line(&event_line(e))?,
                    }
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
            print_line(&n.to_string())?;
            Ok(())
        }
    }
}

/// One event as a JSON line (the shape of `GET /api/v1/audit/events`).
fn event_line(e: &AuditEvent) -> String {
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

/// One event as a row of [`tail_table`].
fn event_row(e: &AuditEvent) -> [String; 7] {
    let actor = match e.actor.id() {
        Some(id) => format!("{} {}", e.actor.kind(), id.hyphenated()),
        None => e.actor.kind().to_owned(),
    };
    [
        table::or_none(e.seq.map(|s| s.to_string())),
        table::when(e.at),
        actor,
        e.action.as_str().to_owned(),
        e.resource_type.as_str().to_owned(),
        e.resource_id.hyphenated().to_string(),
        details_cell(e.details.as_json()),
    ]
}

/// An event's details for a person: `key=value` pairs in their stored order, a string quoted
/// (as in JSON) only when it is empty or holds a space, a quote, `=` or `\\`; `-` when there
/// are none. Details hold ids, names and outcomes, never a secret (see
/// [`domain::audit::Details`]).
fn details_cell(json: &str) -> String {
    let Ok(Pairs(pairs)) = serde_json::from_str::<Pairs>(json) else {
        // Not an object (never written so): shown as stored.
        return json.to_owned();
    };
    if pairs.is_empty() {
        return table::NONE.to_owned();
    }
    let plain = |s: &str| {
        !s.is_empty()
            && !s
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "\"=\\".contains(c))
    };
    pairs
        .iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) if plain(s) => format!("{k}={s}"),
            v => format!("{k}={v}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A JSON object's members in their order (`serde_json::Map` sorts them).
struct Pairs(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Pairs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Pairs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Pairs, A::Error> {
                let mut v = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    v.push(pair);
                }
                Ok(Pairs(v))
            }
        }
        d.deserialize_map(Visit)
    }
}

#[cfg(test)]
mod tests {
    use domain::audit::{Detail, Details};

    use super::*;

    #[test]
    fn details_read_as_key_value_pairs() {
        let d = Details::of(&[
            ("name", Detail::from("ci")),
            ("label", Detail::from("two words")),
            ("empty", Detail::from("")),
            ("eq", Detail::from("a=b")),
            ("digits", Detail::Int(6)),
            ("valid", Detail::Bool(false)),
            ("none", Detail::Null),
        ]);
        assert_eq!(
            details_cell(d.as_json()),
            r#"name=ci label="two words" empty="" eq="a=b" digits=6 valid=false none=null"#
        );
        assert_eq!(details_cell(Details::empty().as_json()), "-");
        assert_eq!(details_cell("[1]"), "[1]");
    }

    #[test]
    fn a_row_holds_every_column_and_lines_up_with_the_header() {
        let token = domain::ids::TokenId::parse("0190a5b4-7c3e-7def-8abc-0123456789ab").expect("uuid");
        let event = AuditEvent {
            id: token.as_uuid(),
            org: OrgId::new("acme").expect("org"),
            seq: Some(42),
            at: domain::time::Timestamp::from_unix_seconds(1_773_835_200).expect("time"),
            actor: Actor::ServiceToken(token),
            action: Action::AccountCreate,
            resource_type: ResourceType::Account,
            resource_id: token.as_uuid(),
            request_id: None,
            details: Details::of(&[
                ("issuer", Detail::from("Example")),
                ("name", Detail::from("x".repeat(60))),
            ]),
        };
        let t = tail_table();
        let header = t.header();
        let row = t.row(&event_row(&event));
        let at = |line: &str, what: &str| line.find(what).unwrap_or_else(|| panic!("no {what} in {line:?}"));
        assert_eq!(at(&header, "AT"), at(&row, "2026-03-18T12:00:00Z"));
        assert_eq!(at(&header, "ACTOR"), at(&row, "service_token 0190a5b4"));
        assert_eq!(at(&header, "ACTION"), at(&row, "account.create"));
        assert_eq!(at(&header, "RESOURCE "), at(&row, "account "));
        assert_eq!(
            at(&header, "RESOURCE_ID"),
            at(&row, "0190a5b4-7c3e-7def-8abc-0123456789ab  issuer")
        );
        assert_eq!(at(&header, "DETAILS"), at(&row, "issuer=Example"));
        assert!(row.starts_with("    42  "), "{row:?}");
        assert!(row.ends_with("xxx…"), "details are cut: {row:?}");
        assert_eq!(row.chars().count() - at(&row, "issuer="), DETAILS_MAX);
    }
}
