//! The HOTP counter advance as a hand-written, *cacheable* statement.
//!
//! diesel never caches the prepared statement of an `UPDATE` built with its DSL
//! (`UpdateStatement::walk_ast` marks every update unsafe to cache), so each advance would be
//! parsed and planned again: on PostgreSQL that is an extra round trip per HOTP code. This
//! fragment has a static query id and fixed SQL, so each pooled connection prepares it once.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{QueryResult, RunQueryDsl};

/// `UPDATE accounts SET counter = counter + 1 WHERE <live HOTP account of org> AND counter <
/// i64::MAX RETURNING counter`: one statement, so concurrent callers in any process each get
/// their own value; `updated_at` is left alone.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdvanceCounter<'a> {
    pub(crate) org: &'a str,
    pub(crate) id: &'a str,
}

impl QueryId for AdvanceCounter<'_> {
    type QueryId = AdvanceCounter<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for AdvanceCounter<'_> {
    type SqlType = Nullable<BigInt>;
}

impl<Conn> RunQueryDsl<Conn> for AdvanceCounter<'_> {}

impl<DB> QueryFragment<DB> for AdvanceCounter<'_>
where
    DB: Backend,
    str: diesel::serialize::ToSql<Text, DB>,
    DB: diesel::sql_types::HasSqlType<Text>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE accounts SET counter = counter + 1 WHERE org_id = ");
        out.push_bind_param::<Text, str>(self.org)?;
        out.push_sql(" AND id = ");
        out.push_bind_param::<Text, str>(self.id)?;
        out.push_sql(
            " AND otp_type = 'hotp' AND deleted_at IS NULL AND counter < 9223372036854775807 RETURNING counter",
        );
        Ok(())
    }
}

/// PostgreSQL only: [`AdvanceCounter`] and the insert of its audit event in one statement (a
/// data-modifying `WITH`), so the counter never moves without its event and the hot path keeps
/// one round trip without a transaction. The event is inserted only when the counter advanced.
pub(crate) struct AdvanceCounterAudited<'a> {
    pub(crate) advance: AdvanceCounter<'a>,
    pub(crate) event: &'a crate::rows::NewAuditEvent<'a>,
}

impl QueryId for AdvanceCounterAudited<'_> {
    type QueryId = AdvanceCounterAudited<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for AdvanceCounterAudited<'_> {
    type SqlType = Nullable<BigInt>;
}

impl<Conn> RunQueryDsl<Conn> for AdvanceCounterAudited<'_> {}

impl QueryFragment<diesel::pg::Pg> for AdvanceCounterAudited<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        out.push_sql("WITH adv AS (");
        self.advance.walk_ast(out.reborrow())?;
        out.push_sql("), ev AS (INSERT INTO audit_events ");
        push_event_columns_and_values(&mut out, self.event, "SELECT ")?;
        out.push_sql(" FROM adv) SELECT counter FROM adv");
        Ok(())
    }
}

/// The insert of one audit event as a hand-written statement with a static query id, so each
/// pooled connection prepares it once (the hot path writes one per code).
pub(crate) struct InsertEvent<'a>(pub(crate) &'a crate::rows::NewAuditEvent<'a>);

impl QueryId for InsertEvent<'_> {
    type QueryId = InsertEvent<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<Conn> RunQueryDsl<Conn> for InsertEvent<'_> {}

/// `(<columns>) <lead><values>`: the column list and the bound values of an audit event, for
/// `INSERT INTO audit_events ... VALUES (...)` ([`InsertEvent`]) and `... SELECT ... FROM adv`
/// ([`AdvanceCounterAudited`]).
fn push_event_columns_and_values<'b, DB>(
    out: &mut AstPass<'_, 'b, DB>,
    e: &'b crate::rows::NewAuditEvent<'b>,
    lead: &str,
) -> QueryResult<()>
where
    DB: Backend + diesel::sql_types::HasSqlType<Text> + diesel::sql_types::HasSqlType<diesel::sql_types::Timestamp>,
    str: diesel::serialize::ToSql<Text, DB>,
    String: diesel::serialize::ToSql<Text, DB>,
    Option<String>: diesel::serialize::ToSql<Nullable<Text>, DB>,
    Option<&'b str>: diesel::serialize::ToSql<Nullable<Text>, DB>,
    time::PrimitiveDateTime: diesel::serialize::ToSql<diesel::sql_types::Timestamp, DB>,
{
    use diesel::sql_types::Timestamp;
    out.push_sql(
        "(id, org_id, seq, at, actor_kind, actor_id, action, resource_type, resource_id, request_id, details) ",
    );
    out.push_sql(lead);
    out.push_bind_param::<Text, String>(&e.id)?;
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
    out.push_bind_param::<Text, String>(&e.resource_id)?;
    out.push_sql(", ");
    out.push_bind_param::<Nullable<Text>, _>(&e.request_id)?;
    out.push_sql(", ");
    out.push_bind_param::<Text, str>(e.details)?;
    Ok(())
}

/// [`InsertEvent`] on each backend.
macro_rules! insert_event_fragment {
    ($backend:ty) => {
        impl QueryFragment<$backend> for InsertEvent<'_> {
            fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, $backend>) -> QueryResult<()> {
                out.push_sql("INSERT INTO audit_events ");
                push_event_columns_and_values(&mut out, self.0, "VALUES (")?;
                out.push_sql(")");
                Ok(())
            }
        }
    };
}
insert_event_fragment!(diesel::pg::Pg);
insert_event_fragment!(diesel::sqlite::Sqlite);

/// PostgreSQL only: [`InsertEvent`] as a transaction of its own with asynchronous commit
/// (`synchronous_commit` off for this one statement, set inside it): committed and visible when
/// it returns, without waiting for the WAL flush. For an event that records no change (a TOTP
/// code): a crash of the database server, not of authd, may lose the last fraction of a second
/// of them (up to three `wal_writer_delay`s); no change can lose its event this way.
pub(crate) struct InsertEventAsync<'a>(pub(crate) InsertEvent<'a>);

impl QueryId for InsertEventAsync<'_> {
    type QueryId = InsertEventAsync<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for InsertEventAsync<'_> {
    type SqlType = Text;
}

impl<Conn> RunQueryDsl<Conn> for InsertEventAsync<'_> {}

impl QueryFragment<diesel::pg::Pg> for InsertEventAsync<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        out.push_sql("WITH ev AS (");
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(" RETURNING 1) SELECT set_config('synchronous_commit', 'off', true) FROM ev");
        Ok(())
    }
}

/// PostgreSQL only: the insert of an app and of its audit event in one statement (a
/// data-modifying `WITH`), so creating an app costs one round trip and no transaction.
pub(crate) struct InsertAppAudited<'a> {
    pub(crate) app: &'a crate::rows::NewApp<'a>,
    pub(crate) event: &'a crate::rows::NewAuditEvent<'a>,
}

impl QueryId for InsertAppAudited<'_> {
    type QueryId = InsertAppAudited<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for InsertAppAudited<'_> {
    type SqlType = Text;
}

impl<Conn> RunQueryDsl<Conn> for InsertAppAudited<'_> {}

impl QueryFragment<diesel::pg::Pg> for InsertAppAudited<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        use diesel::sql_types::Timestamp;
        let a = self.app;
        out.push_sql("WITH a AS (INSERT INTO apps (id, org_id, identity_id, created_at, updated_at) VALUES (");
        out.push_bind_param::<Text, String>(&a.id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, str>(a.org_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&a.identity_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&a.created_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&a.updated_at)?;
        out.push_sql(") RETURNING id), ev AS (INSERT INTO audit_events ");
        push_event_columns_and_values(&mut out, self.event, "SELECT ")?;
        out.push_sql(" FROM a) SELECT id FROM a");
        Ok(())
    }
}
