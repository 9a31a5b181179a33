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
