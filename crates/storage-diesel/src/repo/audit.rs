//! The audit trail: `audit_events` rows, [`AuditRepo`], and the statements that insert an event
//! on its own or with the change it records.

use diesel::backend::Backend;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Nullable, Text, Timestamp};
use diesel::sqlite::Sqlite;
use domain::audit::{Action, Actor, AuditEvent, AuditQuery, Details, RequestId, ResourceType};
use domain::ids::OrgId;
use domain::ports::{AuditRepo, StoreResult};
use time::PrimitiveDateTime;
use uuid::Uuid;

use super::{DieselRepo, read_db, write_db};
use crate::pool::AnyConnection;
use crate::schema::audit_events;
use crate::sql::{Key, corrupt, from_ts, rows, static_statement, ts};
use crate::stored_ts::StoredTs;

const T: &str = "audit_events";

/// An `audit_events` row.
#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_events)]
struct AuditRow {
    id: Key<Uuid>,
    org_id: String,
    seq: Option<i64>,
    at: StoredTs,
    actor_kind: String,
    actor_id: Option<Key<Uuid>>,
    action: String,
    resource_type: String,
    resource_id: Key<Uuid>,
    request_id: Option<String>,
    details: String,
}

impl AuditRow {
    fn into_event(self) -> StoreResult<AuditEvent> {
        Ok(AuditEvent {
            id: self.id.0,
            org: OrgId::new(self.org_id).map_err(|_| corrupt(T, "org_id"))?,
            seq: self
                .seq
                .map(|s| u64::try_from(s).map_err(|_| corrupt(T, "seq")))
                .transpose()?,
            at: from_ts(self.at),
            actor: Actor::from_stored(&self.actor_kind, self.actor_id.map(|k| k.0))
                .ok_or_else(|| corrupt(T, "actor"))?,
            action: Action::parse(&self.action).ok_or_else(|| corrupt(T, "action"))?,
            resource_type: ResourceType::parse(&self.resource_type).ok_or_else(|| corrupt(T, "resource_type"))?,
            resource_id: self.resource_id.0,
            request_id: self
                .request_id
                .map(|r| RequestId::parse(&r).ok_or_else(|| corrupt(T, "request_id")))
                .transpose()?,
            details: Details::from_stored(self.details),
        })
    }
}

/// A new event's columns (inserted unnumbered), in the order [`InsertEvent`] names them. The
/// `Insertable` derive is what the schema test checks the hand-written column list against.
#[derive(Insertable)]
#[diesel(table_name = audit_events, treat_none_as_default_value = false)]
pub(super) struct NewAuditEvent<'a> {
    id: Key<Uuid>,
    org_id: &'a str,
    seq: Option<i64>,
    at: PrimitiveDateTime,
    actor_kind: &'static str,
    actor_id: Option<Key<Uuid>>,
    action: &'static str,
    resource_type: &'static str,
    resource_id: Key<Uuid>,
    request_id: Option<&'a str>,
    details: &'a str,
}

impl<'a> NewAuditEvent<'a> {
    pub(super) fn of(e: &'a AuditEvent) -> Self {
        Self {
            id: Key(e.id),
            org_id: e.org.as_str(),
            seq: None,
            at: ts(e.at),
            actor_kind: e.actor.kind(),
            actor_id: e.actor.id().map(Key),
            action: e.action.as_str(),
            resource_type: e.resource_type.as_str(),
            resource_id: Key(e.resource_id),
            request_id: e.request_id.as_ref().map(RequestId::as_str),
            details: e.details.as_json(),
        }
    }
}

/// `INSERT INTO audit_events (<every column>) VALUES (...)`, hand-written with a static query id
/// so each pooled connection prepares it once (the hot path writes one per code). Its column
/// list is [`push_event_columns_and_values`]'s.
pub(crate) struct InsertEvent<'a>(pub(super) &'a NewAuditEvent<'a>);

/// `(<columns>) <lead><values>`: the column list and the bound values of an audit event, for
/// `INSERT INTO audit_events ... VALUES (...)` ([`InsertEvent`]) and `... SELECT ... FROM adv`
/// (the HOTP advance with its event, `accounts.rs`). The one place the columns are spelled.
pub(super) fn push_event_columns_and_values<'b, DB>(
    out: &mut AstPass<'_, 'b, DB>,
    e: &'b NewAuditEvent<'b>,
    lead: &str,
) -> QueryResult<()>
where
    DB: Backend + HasSqlType<Text> + HasSqlType<Timestamp>,
    str: ToSql<Text, DB>,
    Key<Uuid>: ToSql<Text, DB>,
    Option<Key<Uuid>>: ToSql<Nullable<Text>, DB>,
    Option<&'b str>: ToSql<Nullable<Text>, DB>,
    PrimitiveDateTime: ToSql<Timestamp, DB>,
{
    out.push_sql(
        "(id, org_id, seq, at, actor_kind, actor_id, action, resource_type, resource_id, request_id, details) ",
    );
    out.push_sql(lead);
    out.push_bind_param::<Text, _>(&e.id)?;
    out.push_sql(", ");
    out.push_bind_param::<Text, str>(e.org_id)?;
    out.push_sql(", NULL, ");
    out.push_bind_param::<Timestamp, _>(&e.at)?;
    out.push_sql(", ");
    out.push_bind_param::<Text, str>(e.actor_kind)?;
    out.push_sql(", ");
    out.push_bind_param::<Nullable<Text>, _>(&e.actor_id)?;
    out.push_sql(", ");
    out.push_bind_param::<Text, str>(e.action)?;
    out.push_sql(", ");
    out.push_bind_param::<Text, str>(e.resource_type)?;
    out.push_sql(", ");
    out.push_bind_param::<Text, _>(&e.resource_id)?;
    out.push_sql(", ");
    out.push_bind_param::<Nullable<Text>, _>(&e.request_id)?;
    out.push_sql(", ");
    out.push_bind_param::<Text, str>(e.details)?;
    Ok(())
}

impl<DB> QueryFragment<DB> for InsertEvent<'_>
where
    DB: Backend + HasSqlType<Text> + HasSqlType<Timestamp>,
    str: ToSql<Text, DB>,
    Key<Uuid>: ToSql<Text, DB>,
    Option<Key<Uuid>>: ToSql<Nullable<Text>, DB>,
    for<'x> Option<&'x str>: ToSql<Nullable<Text>, DB>,
    PrimitiveDateTime: ToSql<Timestamp, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("INSERT INTO audit_events ");
        push_event_columns_and_values(&mut out, self.0, "VALUES (")?;
        out.push_sql(")");
        Ok(())
    }
}

/// PostgreSQL only: [`InsertEvent`] as a transaction of its own with asynchronous commit
/// (`synchronous_commit` off for this one statement, set inside it): committed and visible when
/// it returns, without waiting for the WAL flush. For an event that records no change (a TOTP
/// code): a crash of the database server, not of authd, may lose the last fraction of a second
/// of them (up to three `wal_writer_delay`s); no change can lose its event this way.
pub(crate) struct InsertEventAsync<'a>(InsertEvent<'a>);

impl Query for InsertEventAsync<'_> {
    type SqlType = Text;
}

impl QueryFragment<Pg> for InsertEventAsync<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH ev AS (");
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(" RETURNING 1) SELECT set_config('synchronous_commit', 'off', true) FROM ev");
        Ok(())
    }
}

/// A statement of fixed text and no binds, for one backend: its SQL and its backend come from
/// `K` (one type per statement, so each has its own static query id).
pub(crate) struct Fixed<'a, K>(std::marker::PhantomData<(&'a (), K)>);

/// The text and the backend of a [`Fixed`] statement.
pub(crate) trait FixedSql {
    /// The backend the text is written for (the statement compiles for no other).
    type Db: Backend;
    /// The statement.
    const SQL: &'static str;
}

impl<K: FixedSql> Fixed<'_, K> {
    fn new() -> Self {
        Self(std::marker::PhantomData)
    }
}

impl<K: FixedSql> QueryFragment<K::Db> for Fixed<'_, K> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, K::Db>) -> QueryResult<()> {
        out.push_sql(K::SQL);
        Ok(())
    }
}

/// Takes the audit sequencer's lock on PostgreSQL (`pg_advisory_xact_lock`), released when the
/// transaction ends: one sequencer at a time across processes.
pub(crate) enum LockSequencerSql {}

impl FixedSql for LockSequencerSql {
    type Db = Pg;
    const SQL: &'static str = "SELECT pg_advisory_xact_lock(7306296906616530946)";
}

/// Numbers the oldest `limit` unnumbered events (PostgreSQL): per organization, after its
/// highest number, by id (UUID v7: creation order). Each organization's highest number is read
/// once (an index look-up), not once per event: the cost grows with the batch, not with the
/// backlog.
pub(crate) struct SequenceEvents<'a> {
    limit: i64,
    _p: std::marker::PhantomData<&'a ()>,
}

impl SequenceEvents<'_> {
    pub(crate) fn new(limit: u32) -> Self {
        Self {
            limit: i64::from(limit),
            _p: std::marker::PhantomData,
        }
    }
}

impl QueryFragment<Pg> for SequenceEvents<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "WITH todo AS MATERIALIZED (SELECT id, org_id FROM audit_events WHERE seq IS NULL ORDER BY id LIMIT ",
        );
        out.push_bind_param::<diesel::sql_types::BigInt, _>(&self.limit)?;
        out.push_sql(
            "), top AS (SELECT o.org_id, COALESCE((SELECT MAX(m.seq) FROM audit_events m \
               WHERE m.org_id = o.org_id AND m.seq IS NOT NULL), 0) AS top \
               FROM (SELECT DISTINCT org_id FROM todo) o), \
             numbered AS (SELECT todo.id, top.top + ROW_NUMBER() OVER (PARTITION BY todo.org_id ORDER BY todo.id) AS seq \
               FROM todo JOIN top ON top.org_id = todo.org_id) \
             UPDATE audit_events SET seq = numbered.seq FROM numbered WHERE audit_events.id = numbered.id",
        );
        Ok(())
    }
}

/// [`SequenceEvents`] on SQLite: the `limit` unnumbered events after the sequencer's place, in
/// rowid (= commit) order. Each organization's highest number is read through the partial index
/// `audit_events_org_seq_uq` (hence `seq IS NOT NULL`, the index's own condition): without it,
/// SQLite scanned the whole table once per event numbered (2,000 events after 7,000 took 1.9 s
/// in the optimized `sqlite3`, over 10 s in a debug build; 0.01 s with it).
pub(crate) struct SequenceEventsSqlite<'a> {
    limit: i64,
    _p: std::marker::PhantomData<&'a ()>,
}

impl SequenceEventsSqlite<'_> {
    pub(crate) fn new(limit: u32) -> Self {
        Self {
            limit: i64::from(limit),
            _p: std::marker::PhantomData,
        }
    }
}

impl QueryFragment<Sqlite> for SequenceEventsSqlite<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql(
            "UPDATE audit_events SET seq = numbered.seq \
             FROM (SELECT t.pos AS pos, \
                          COALESCE((SELECT MAX(m.seq) FROM audit_events m \
                                    WHERE m.org_id = t.org_id AND m.seq IS NOT NULL), 0) \
                            + ROW_NUMBER() OVER (PARTITION BY t.org_id ORDER BY t.pos) AS seq \
                   FROM (SELECT pos, org_id FROM audit_events \
                         WHERE pos > (SELECT last_pos FROM audit_sequencer) ORDER BY pos LIMIT ",
        );
        out.push_bind_param::<diesel::sql_types::BigInt, _>(&self.limit)?;
        out.push_sql(") t) AS numbered WHERE audit_events.pos = numbered.pos");
        Ok(())
    }
}

/// Moves the SQLite sequencer's place past the events just numbered (those after it with a
/// number).
pub(crate) enum AdvanceSequencerSqliteSql {}

impl FixedSql for AdvanceSequencerSqliteSql {
    type Db = Sqlite;
    const SQL: &'static str = "UPDATE audit_sequencer SET last_pos = COALESCE(\
         (SELECT MAX(pos) FROM audit_events WHERE pos > audit_sequencer.last_pos AND seq IS NOT NULL), last_pos)";
}

/// The sequencer's statements.
pub(crate) type LockSequencer<'a> = Fixed<'a, LockSequencerSql>;
/// See [`AdvanceSequencerSqliteSql`].
pub(crate) type AdvanceSequencerSqlite<'a> = Fixed<'a, AdvanceSequencerSqliteSql>;

/// Deletes at most `limit` numbered events older than the bound, except each organization's
/// newest.
pub(crate) struct PurgeEvents<'a> {
    before: PrimitiveDateTime,
    limit: i64,
    _p: std::marker::PhantomData<&'a ()>,
}

impl<DB> QueryFragment<DB> for PurgeEvents<'_>
where
    DB: Backend + HasSqlType<Timestamp> + HasSqlType<diesel::sql_types::BigInt>,
    PrimitiveDateTime: ToSql<Timestamp, DB>,
    i64: ToSql<diesel::sql_types::BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql(
            "DELETE FROM audit_events WHERE id IN (SELECT e.id FROM audit_events e WHERE e.seq IS NOT NULL AND e.at < ",
        );
        out.push_bind_param::<Timestamp, _>(&self.before)?;
        out.push_sql(" AND e.seq < (SELECT MAX(m.seq) FROM audit_events m WHERE m.org_id = e.org_id) LIMIT ");
        out.push_bind_param::<diesel::sql_types::BigInt, _>(&self.limit)?;
        out.push_sql(")");
        Ok(())
    }
}

static_statement!(
    InsertEvent,
    InsertEventAsync,
    LockSequencer,
    SequenceEvents,
    SequenceEventsSqlite,
    AdvanceSequencerSqlite,
    PurgeEvents,
);

impl AuditRepo for DieselRepo<'_> {
    fn insert_audit_event(&mut self, event: &AuditEvent) -> StoreResult<()> {
        let row = NewAuditEvent::of(event);
        let insert = InsertEvent(&row);
        if !self.in_tx
            && let AnyConnection::Postgresql(c) = &mut self.conn.inner
        {
            // An event of no change (see the port): its own transaction, committed without
            // waiting for the WAL flush.
            let done = crate::sql::write(InsertEventAsync(insert)).get_result::<String>(c);
            done.map_err(|e| self.conn.fail(e))?;
            return Ok(());
        }
        write_db!(self, count, insert)?;
        Ok(())
    }

    fn sequence_audit_events(&mut self, limit: u32) -> StoreResult<u64> {
        // One sequencer at a time across processes: on PostgreSQL an advisory lock held until
        // the transaction ends; on SQLite the transaction already holds the write lock. Runs
        // inside `Store::transaction`, which took SQLite's writer gate.
        let n = match &mut self.conn.inner {
            AnyConnection::Postgresql(c) => crate::sql::write(LockSequencer::new())
                .execute(c)
                .and_then(|_| crate::sql::write(SequenceEvents::new(limit)).execute(c)),
            // One writer at a time: the events after the sequencer's place, by rowid, are the
            // unnumbered ones, in commit order.
            AnyConnection::Sqlite(c) => crate::sql::write(SequenceEventsSqlite::new(limit))
                .execute(c)
                .and_then(|n| crate::sql::write(AdvanceSequencerSqlite::new()).execute(c).map(|_| n)),
        };
        Ok(rows(n.map_err(|e| self.conn.fail(e))?))
    }

    fn list_audit_events(&mut self, org: &OrgId, q: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        let after = q.after.map(|a| i64::try_from(a).unwrap_or(i64::MAX)).unwrap_or(0);
        let before = q.before.map(|b| i64::try_from(b).unwrap_or(i64::MAX));
        let resource = q.resource_id.map(Key);
        // A confined caller's view: only events about these records (none: no events).
        let within: Option<Vec<Key<Uuid>>> = q.within.as_ref().map(|ids| ids.iter().copied().map(Key).collect());
        if within.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Vec::new());
        }
        read_db!(self, all, {
            let mut query = audit_events::table
                .filter(audit_events::org_id.eq(org.as_str()))
                .filter(audit_events::seq.gt(after))
                .into_boxed();
            if let Some(a) = q.action {
                query = query.filter(audit_events::action.eq(a.as_str()));
            }
            if let Some(t) = q.resource_type {
                query = query.filter(audit_events::resource_type.eq(t.as_str()));
            }
            if let Some(id) = resource {
                query = query.filter(audit_events::resource_id.eq(id));
            }
            if let Some(ids) = &within {
                query = query.filter(audit_events::resource_id.eq_any(ids));
            }
            if let Some(b) = before {
                query = query.filter(audit_events::seq.lt(b));
            }
            query = if q.newest_first {
                query.order(audit_events::seq.desc())
            } else {
                query.order(audit_events::seq.asc())
            };
            query.limit(i64::from(q.limit)).select(AuditRow::as_select())
        })?
        .into_iter()
        .map(AuditRow::into_event)
        .collect()
    }

    fn purge_audit_events(&mut self, before: domain::time::Timestamp, limit: u32) -> StoreResult<u64> {
        let purge = PurgeEvents {
            before: ts(before),
            limit: i64::from(limit),
            _p: std::marker::PhantomData,
        };
        Ok(rows(write_db!(self, count, purge)?))
    }
}
