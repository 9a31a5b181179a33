//! What every storage module shares at the SQL boundary: typed ids in and out of SQL ([`Key`]),
//! timestamps, the corrupt-row error, which statements read and which write ([`Read`],
//! [`Write`]), and the one way to write a statement diesel's DSL cannot express
//! ([`static_statement!`]).

use std::io::Write as _;

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::Pg;
use diesel::query_builder::{DeleteStatement, InsertStatement, UpdateStatement};
use diesel::query_dsl::methods::LimitDsl;
use diesel::query_source::QuerySource;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Text;
use diesel::sqlite::Sqlite;
use domain::error::Opaque;
use domain::ids::{AccountId, AppId, DeviceId, IdentityId, InstanceId, TokenId};
use domain::ports::StoreError;
use domain::time::Timestamp;
use time::PrimitiveDateTime;
use uuid::Uuid;

/// A corrupt stored value: names the table and column, never the value.
pub(crate) fn corrupt(table: &'static str, column: &'static str) -> StoreError {
    StoreError::Other(Opaque::new(format!("corrupt row in {table}: invalid {column}")))
}

/// A value the domain handed over that the database's column cannot hold (never happens for
/// values the domain produces: steps and counters stay far below `i64::MAX`).
pub(crate) fn out_of_range(what: &'static str) -> StoreError {
    StoreError::Other(Opaque::new(format!("{what} out of the stored range")))
}

/// A number of rows diesel reports, as the ports count them.
pub(crate) fn rows(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// A timestamp as stored (UTC, no zone).
pub(crate) fn ts(t: Timestamp) -> PrimitiveDateTime {
    t.to_primitive_utc()
}

/// A stored timestamp as the domain's.
pub(crate) fn from_ts(t: crate::stored_ts::StoredTs) -> Timestamp {
    Timestamp::from_primitive_utc(t.0)
}

// ------------------------------------------------------------------ typed ids

/// A domain id that is stored as the lower-case hyphenated text of its UUID.
pub(crate) trait StoredId: Copy {
    /// The UUID.
    fn uuid(self) -> Uuid;
    /// The id of a stored UUID.
    fn of_uuid(u: Uuid) -> Self;
}

macro_rules! stored_ids {
    ($($id:ty),*) => {$(
        impl StoredId for $id {
            fn uuid(self) -> Uuid {
                self.as_uuid()
            }
            fn of_uuid(u: Uuid) -> Self {
                Self::from_uuid(u)
            }
        }
    )*};
}
stored_ids!(AccountId, AppId, IdentityId, InstanceId, TokenId, DeviceId);

impl StoredId for Uuid {
    fn uuid(self) -> Uuid {
        self
    }
    fn of_uuid(u: Uuid) -> Self {
        u
    }
}

/// A typed id at the SQL boundary, in both directions: bound as the lower-case hyphenated UUID
/// of a `Text` column (`apps::id.eq(Key(app))`), and read back as the domain's id (a row field
/// `id: Key<AppId>`), a malformed stored id being a deserialization error (a corrupt row). So an
/// `AppId` can never be compared with an `identity_id` column by mistake of a `String`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub(crate) struct Key<T: StoredId + std::fmt::Debug + 'static>(pub(crate) T);

impl<T: StoredId + std::fmt::Debug + 'static> ToSql<Text, Pg> for Key<T> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        let mut buf = Uuid::encode_buffer();
        out.write_all(self.0.uuid().hyphenated().encode_lower(&mut buf).as_bytes())?;
        Ok(IsNull::No)
    }
}

impl<T: StoredId + std::fmt::Debug + 'static> ToSql<Text, Sqlite> for Key<T> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.uuid().hyphenated().to_string());
        Ok(IsNull::No)
    }
}

impl<T: StoredId + std::fmt::Debug + 'static> FromSql<Text, Pg> for Key<T> {
    fn from_sql(value: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        Ok(Self(T::of_uuid(Uuid::try_parse_ascii(value.as_bytes())?)))
    }
}

impl<T: StoredId + std::fmt::Debug + 'static> FromSql<Text, Sqlite> for Key<T> {
    fn from_sql(mut value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        Ok(Self(T::of_uuid(Uuid::try_parse(value.read_text())?)))
    }
}

// ------------------------------------------------------------------ reads and writes

/// A statement that only reads: a `SELECT` built with the DSL, locking or not (what diesel lets
/// one `LIMIT`: its select statements, plain or boxed, and tables; never an `INSERT`, `UPDATE`
/// or `DELETE`). `read_db!` and `lock_db!` accept nothing else, so a write cannot be issued past
/// SQLite's writer gate by mistake. Hand-written statements are all writes.
pub(crate) trait Read {}

impl<Q: LimitDsl> Read for Q {}

/// A statement that writes: an `INSERT`, `UPDATE` or `DELETE` built with the DSL, or a
/// hand-written statement ([`static_statement!`]). Only `write_db!` (which takes this process's
/// turn to write on SQLite, see `pool::WriterGate`) and the transaction runner accept one.
pub(crate) trait Write {}

impl<T: QuerySource, U, Op, Ret> Write for InsertStatement<T, U, Op, Ret> {}
impl<T: QuerySource, U, V, Ret> Write for UpdateStatement<T, U, V, Ret> {}
impl<T: QuerySource, U, Ret> Write for DeleteStatement<T, U, Ret> {}

/// The statement, checked to be a [`Read`].
pub(crate) fn read<Q: Read>(q: Q) -> Q {
    q
}

/// The statement, checked to be a [`Write`].
pub(crate) fn write<Q: Write>(q: Q) -> Q {
    q
}

/// Declares hand-written statements: `static_statement!(Name, ...)` for structs `Name<'a>` that
/// implement `QueryFragment` with fixed SQL text (binds vary, the text does not). Each gets a
/// static query id (so each pooled connection prepares it once and finds it in its cache by type
/// alone), `RunQueryDsl`, and its [`Write`] mark. This is the one way to write SQL that diesel's
/// DSL cannot express (a data-modifying `WITH`, a conditional `UPDATE` computing from the row, a
/// cacheable `UPDATE`): no `sql_query` strings, no other `QueryId` impls.
macro_rules! static_statement {
    ($($name:ident),* $(,)?) => {$(
        impl diesel::query_builder::QueryId for $name<'_> {
            type QueryId = $name<'static>;
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        impl<Conn> diesel::RunQueryDsl<Conn> for $name<'_> {}

        impl $crate::sql::Write for $name<'_> {}
    )*};
}
pub(crate) use static_statement;

/// The column list of the `INSERT INTO table (...)` in `sql` (quotes removed), for the tests
/// that hold a hand-written statement's columns to its table's `Insertable` row.
#[cfg(test)]
pub(crate) fn insert_columns(sql: &str, table: &str) -> Vec<String> {
    let plain = sql.replace('"', "");
    let start = plain
        .find(&format!("INSERT INTO {table} ("))
        .map(|i| i + "INSERT INTO  (".len() + table.len())
        .unwrap_or_else(|| panic!("no insert into {table} in {sql}"));
    let rest = plain.get(start..).unwrap_or_default();
    let end = rest.find(')').unwrap_or_default();
    rest.get(..end)
        .unwrap_or_default()
        .split(',')
        .map(|c| c.trim().to_owned())
        .collect()
}
