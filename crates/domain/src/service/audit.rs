//! The audit trail: reading a page of an organization's events, and the retention purge.

use crate::audit::{AuditPage, AuditQuery, Caller};
use crate::error::Error;
use crate::ports::Store;

use super::Authd;

/// How many days of audit events a purge keeps (1..=36500): a purge never touches them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionDays(u32);

impl RetentionDays {
    /// `None` outside 1..=36500.
    #[must_use]
    pub fn new(days: u32) -> Option<Self> {
        (1..=36_500).contains(&days).then_some(Self(days))
    }

    /// The number of days.
    #[must_use]
    pub fn get(self) -> u32 {
        self.0
    }
}

/// Events deleted per transaction by [`Authd::purge_audit_events`].
pub const PURGE_BATCH: u32 = 5_000;

/// Events numbered per transaction by the sequencer: a backlog is numbered in several short
/// units of work, never one that outlives the database's statement timeout.
pub const SEQUENCE_BATCH: u32 = 2_000;

impl<S: Store> Authd<S> {
    /// Numbers every committed, unnumbered event, [`SEQUENCE_BATCH`] at a time.
    fn sequence_all(&self) -> Result<(), Error> {
        loop {
            let n = self
                .store
                .transaction(|r| Ok::<_, Error>(r.sequence_audit_events(SEQUENCE_BATCH)?))?;
            if n < u64::from(SEQUENCE_BATCH) {
                return Ok(());
            }
        }
    }

    /// A page of the caller's organization's audit trail, oldest first or newest first. Numbers
    /// every event committed so far first, so a change the caller just made is listed. A confined caller sees only the
    /// events about the records it sees now: its identities, their apps (and the apps it lists),
    /// those apps' live accounts and instances.
    ///
    /// # Errors
    /// Storage failures.
    pub fn list_audit_events(&self, who: &Caller, query: &AuditQuery) -> Result<AuditPage, Error> {
        self.sequence_all()?;
        let events = self.store.run(|r| {
            let Some(rs) = who.restriction() else {
                return r.list_audit_events(who.org(), query);
            };
            let org = who.org();
            let mut within = Vec::new();
            let identities: Vec<_> = r
                .list_identities(org)?
                .into_iter()
                .filter(|i| rs.sees_identity(i))
                .map(|i| *i.id())
                .collect();
            within.extend(identities.iter().map(|i| i.as_uuid()));
            for app in r.list_apps(org)? {
                if !rs.apps.contains(app.id()) && !app.identity_id().is_some_and(|i| identities.contains(&i)) {
                    continue;
                }
                within.push(app.id().as_uuid());
                for account in r.list_accounts(org, *app.id())?.unwrap_or_default() {
                    within.push(account.id().as_uuid());
                }
                for instance in r.list_instances(org, *app.id())? {
                    within.push(instance.id().as_uuid());
                }
            }
            let confined = AuditQuery {
                within: Some(within),
                ..query.clone()
            };
            r.list_audit_events(org, &confined)
        })?;
        let cursor = if query.newest_first { query.before } else { query.after };
        let next = events.last().and_then(|e| e.seq).or(cursor);
        Ok(AuditPage { events, next })
    }

    /// Deletes the audit events older than `retention` (numbering every committed event first;
    /// each organization's newest event stays, so its numbering goes on). Returns how many.
    ///
    /// # Errors
    /// Storage failures.
    pub fn purge_audit_events(&self, retention: RetentionDays) -> Result<u64, Error> {
        let before = self.now().plus_seconds(-i64::from(retention.get()) * 86_400);
        // In batches, each its own short transaction: a large backlog never makes one statement
        // outlive the database's statement timeout, nor holds the sequencer for long.
        let mut total = 0;
        loop {
            self.sequence_all()?;
            let n = self
                .store
                .transaction(|r| Ok::<_, Error>(r.purge_audit_events(before, PURGE_BATCH)?))?;
            total += n;
            if n < u64::from(PURGE_BATCH) {
                return Ok(total);
            }
        }
    }
}
