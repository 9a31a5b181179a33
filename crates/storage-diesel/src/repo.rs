//! The [`domain::ports::Repo`] port on one pooled connection: one module per resource,
//! mirroring the domain's `service/` and its one port trait per resource (`IdentityRepo` in
//! `repo/identities.rs`, ...), each module with its rows, its query helpers and its statements.
//!
//! How a statement runs, everywhere in these modules:
//!
//! - [`read_db!`] for a read, [`lock_db!`] for a locking read, [`write_db!`] for a write. Each
//!   takes the statement (built with diesel's DSL, or declared with
//!   [`crate::sql::static_statement!`]) and how to run it (`first`: an optional row, `all`: every
//!   row, `count`: rows changed); the statement is compiled once for each backend's concrete
//!   connection (there is deliberately no common `Connection` over the two: diesel's
//!   `MultiConnection` renders a statement's SQL again on every execution, docs/PERFORMANCE.md has
//!   the cost). The kind is checked by type ([`crate::sql::Read`], [`crate::sql::Write`]): an
//!   `UPDATE` does not compile in `read_db!`, and `write_db!` is the only way to write outside a
//!   transaction, so every SQLite write of this process takes its turn at the writer gate.
//! - Every request-path statement is scoped by `org_id` (token look-ups excepted: they find the
//!   org from the hash), and only live rows are seen unless the port says otherwise: each module's
//!   `live(org)` helper is that filter, written once.
//! - Ids cross the boundary typed ([`crate::sql::Key`]).

mod accounts;
mod apps;
mod audit;
mod cascade;
mod identities;
mod instances;
mod keys;
mod tokens;
mod verify;

use domain::audit::AuditEvent;
use domain::ports::{AuditRepo as _, StoreError, StoreResult};

use crate::pool::{Conn, in_transaction};

/// The operations of one unit of work on one connection.
pub(crate) struct DieselRepo<'c> {
    conn: &'c mut Conn,
    /// Whether a transaction surrounds this unit of work (`Store::transaction`), or every
    /// statement commits on its own (`Store::run`).
    in_tx: bool,
}

impl<'c> DieselRepo<'c> {
    pub(crate) fn new(conn: &'c mut Conn, in_tx: bool) -> Self {
        Self { conn, in_tx }
    }

    /// Runs `change` and, when it changed something (its second value), inserts `event`: both
    /// in the surrounding transaction, or in one of their own (so a change never lacks its
    /// event, and an event never lacks its change).
    fn with_event<T>(
        &mut self,
        event: &AuditEvent,
        change: impl Fn(&mut DieselRepo<'_>) -> StoreResult<(T, bool)>,
    ) -> StoreResult<T> {
        let both = |repo: &mut DieselRepo<'_>| {
            let (outcome, changed) = change(repo)?;
            if changed {
                repo.insert_audit_event(event)?;
            }
            Ok::<_, StoreError>(outcome)
        };
        if self.in_tx {
            both(self)
        } else {
            in_transaction(self.conn, |conn| both(&mut DieselRepo::new(conn, true)))
        }
    }
}

/// Runs a statement on the concrete connection, mapping its error and noting a lost connection.
/// Not used directly: see [`read_db!`], [`lock_db!`], [`write_db!`].
macro_rules! on_conn {
    ($repo:expr, $run:ident, $check:path, $query:expr) => {{
        let repo: &mut $crate::repo::DieselRepo<'_> = $repo;
        let result = match &mut repo.conn.inner {
            $crate::pool::AnyConnection::Sqlite(c) => $crate::repo::run!($run, $check($query), c),
            $crate::pool::AnyConnection::Postgresql(c) => $crate::repo::run!($run, $check($query), c),
        };
        result.map_err(|e| repo.conn.fail(e))
    }};
}

/// How a statement is run: `first` (an optional row), `all` (every row), `count` (rows changed).
macro_rules! run {
    (first, $q:expr, $c:ident) => {
        diesel::OptionalExtension::optional(diesel::RunQueryDsl::get_result($q, $c))
    };
    (all, $q:expr, $c:ident) => {
        diesel::RunQueryDsl::load($q, $c)
    };
    (count, $q:expr, $c:ident) => {
        diesel::RunQueryDsl::execute($q, $c)
    };
}

/// A read: `read_db!(repo, first|all, statement)`; the statement must be a
/// [`crate::sql::Read`].
macro_rules! read_db {
    ($repo:expr, $run:ident, $query:expr) => {
        $crate::repo::on_conn!($repo, $run, $crate::sql::read, $query)
    };
}

/// A write: `write_db!(repo, first|all|count, statement)`; the statement must be a
/// [`crate::sql::Write`]. Outside a transaction it first waits for this process's turn to write
/// on SQLite (a transaction took the turn already; PostgreSQL writers do not exclude each other).
macro_rules! write_db {
    ($repo:expr, $run:ident, $query:expr) => {{
        let repo: &mut $crate::repo::DieselRepo<'_> = $repo;
        let gate = if repo.in_tx { None } else { repo.conn.gate() };
        let _turn = $crate::pool::Conn::write_turn(gate.as_ref());
        $crate::repo::on_conn!(repo, $run, $crate::sql::write, $query)
    }};
}

/// A locking read of one row (see `domain::ports::Lock`): `FOR SHARE` or `FOR UPDATE` on
/// PostgreSQL, where the row stays locked until the transaction ends (and a row changed
/// meanwhile by the holder of a conflicting lock is read again after it commits). On SQLite a
/// plain read: a transaction there holds the database's one write lock from its `BEGIN
/// IMMEDIATE` on, so no other writer of any process runs until it ends, and what it read cannot
/// change under it.
macro_rules! lock_db {
    ($repo:expr, $lock:expr, $query:expr) => {{
        let repo: &mut $crate::repo::DieselRepo<'_> = $repo;
        let result = match &mut repo.conn.inner {
            $crate::pool::AnyConnection::Sqlite(c) => $crate::repo::run!(first, $crate::sql::read($query), c),
            $crate::pool::AnyConnection::Postgresql(c) => match $lock {
                domain::ports::Lock::Share => $crate::repo::run!(first, $crate::sql::read($query.for_share()), c),
                domain::ports::Lock::Update => $crate::repo::run!(first, $crate::sql::read($query.for_update()), c),
            },
        };
        result.map_err(|e| repo.conn.fail(e))
    }};
}

pub(crate) use {lock_db, on_conn, read_db, run, write_db};
