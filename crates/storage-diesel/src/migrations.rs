//! The embedded migrations (`migrations/sqlite` and `migrations/postgres`, same version stamps)
//! and how they are applied on either backend.

use std::collections::BTreeSet;

use diesel::QueryableByName;
use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel::sql_types::{Bool, Text};
use diesel::{PgConnection, RunQueryDsl, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::pool::{AnyConnection, Conn};

const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// Any migration failure (its message names no secret: migrations carry none).
pub(crate) type MigrationError = Box<dyn std::error::Error + Send + Sync>;

/// A constant key for `pg_advisory_lock`: replicas starting together migrate one at a time.
const PG_LOCK: &str = "SELECT pg_advisory_lock(7306296906616530945)";
const PG_UNLOCK: &str = "SELECT pg_advisory_unlock(7306296906616530945)";

/// Applies the pending migrations; returns the versions applied, oldest first.
///
/// Processes migrating one database together (replicas starting, a `token` command run while
/// `serve` starts) do it one at a time: PostgreSQL under an advisory lock, SQLite in one
/// `BEGIN IMMEDIATE` transaction (each migration a savepoint in it), so the second process finds
/// the write lock taken, waits for it (the connection's `busy_timeout`), then reads what was
/// applied meanwhile instead of applying it again. On SQLite the whole run is also atomic (so a
/// SQLite migration cannot be one that must run outside a transaction, such as `VACUUM`).
pub(crate) fn run_pending(conn: &mut Conn) -> Result<Vec<String>, MigrationError> {
    let applied = match &mut conn.inner {
        AnyConnection::Sqlite(c) => with_sqlite_fk_off(c, |c| {
            c.immediate_transaction(|c| c.run_pending_migrations(SQLITE).map(versions))
        })?,
        AnyConnection::Postgresql(c) => {
            c.batch_execute(PG_LOCK)?;
            let r = c.run_pending_migrations(POSTGRES).map(versions);
            let unlocked = c.batch_execute(PG_UNLOCK);
            let r = r?;
            unlocked?;
            r
        }
    };
    Ok(applied)
}

/// Reverts every applied migration, newest first (tests and `authd migrate --revert-all`).
pub(crate) fn revert_all(conn: &mut Conn) -> Result<Vec<String>, MigrationError> {
    let reverted = match &mut conn.inner {
        AnyConnection::Sqlite(c) => with_sqlite_fk_off(c, |c| {
            c.immediate_transaction(|c| c.revert_all_migrations(SQLITE).map(versions))
        })?,
        AnyConnection::Postgresql(c) => {
            c.batch_execute(PG_LOCK)?;
            let r = c.revert_all_migrations(POSTGRES).map(versions);
            let unlocked = c.batch_execute(PG_UNLOCK);
            let r = r?;
            unlocked?;
            r
        }
    };
    Ok(reverted)
}

/// diesel's bookkeeping table: one row per applied version.
const MIGRATIONS_TABLE: &str = "__diesel_schema_migrations";

#[derive(QueryableByName)]
struct Present {
    #[diesel(sql_type = Bool)]
    present: bool,
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = Text)]
    version: String,
}

/// The versions embedded in this binary and not applied to the database, oldest first, found
/// without writing anything: diesel's own `pending_migrations` first creates its bookkeeping
/// table (`CREATE TABLE IF NOT EXISTS`), which would turn a read-only check (`authd
/// check-config`) into a write, and fail on a read-only role or a hot standby. No lock is taken:
/// the answer is a snapshot, and may be stale at once if another process migrates meanwhile.
pub(crate) fn pending(conn: &mut Conn) -> Result<Vec<String>, MigrationError> {
    let (embedded, applied) = match &mut conn.inner {
        AnyConnection::Sqlite(c) => {
            let embedded = MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE)?
                .iter()
                .map(|m| m.name().version().to_string())
                .collect::<Vec<_>>();
            (embedded, applied_sqlite(c)?)
        }
        AnyConnection::Postgresql(c) => {
            let embedded = MigrationSource::<diesel::pg::Pg>::migrations(&POSTGRES)?
                .iter()
                .map(|m| m.name().version().to_string())
                .collect::<Vec<_>>();
            (embedded, applied_pg(c)?)
        }
    };
    let pending: BTreeSet<String> = embedded.into_iter().filter(|v| !applied.contains(v)).collect();
    Ok(pending.into_iter().collect())
}

/// The versions recorded as applied on SQLite (none when diesel's table does not exist yet).
fn applied_sqlite(c: &mut SqliteConnection) -> Result<BTreeSet<String>, MigrationError> {
    let present = diesel::sql_query(format!(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '{MIGRATIONS_TABLE}') AS present"
    ))
    .get_result::<Present>(c)?
    .present;
    if !present {
        return Ok(BTreeSet::new());
    }
    let rows: Vec<Version> = diesel::sql_query(format!("SELECT version FROM {MIGRATIONS_TABLE}")).load(c)?;
    Ok(rows.into_iter().map(|r| r.version).collect())
}

/// The versions recorded as applied on PostgreSQL (none when diesel's table does not exist
/// yet). `to_regclass` resolves the name through the `search_path`, as diesel's unqualified
/// queries do.
fn applied_pg(c: &mut PgConnection) -> Result<BTreeSet<String>, MigrationError> {
    let present = diesel::sql_query(format!(
        "SELECT to_regclass('{MIGRATIONS_TABLE}') IS NOT NULL AS present"
    ))
    .get_result::<Present>(c)?
    .present;
    if !present {
        return Ok(BTreeSet::new());
    }
    let rows: Vec<Version> =
        diesel::sql_query(format!("SELECT version::text AS version FROM {MIGRATIONS_TABLE}")).load(c)?;
    Ok(rows.into_iter().map(|r| r.version).collect())
}

fn versions(v: Vec<diesel::migration::MigrationVersion<'_>>) -> Vec<String> {
    v.iter().map(ToString::to_string).collect()
}

/// SQLite ignores `PRAGMA foreign_keys` inside a transaction, and a migration that rebuilds a
/// table (SQLite's only way to alter most things) must run with foreign keys off; they are
/// switched back on afterwards, whatever happened.
fn with_sqlite_fk_off<T>(
    c: &mut diesel::SqliteConnection,
    f: impl FnOnce(&mut diesel::SqliteConnection) -> Result<T, MigrationError>,
) -> Result<T, MigrationError> {
    c.batch_execute("PRAGMA foreign_keys = OFF")?;
    let r = f(c);
    c.batch_execute("PRAGMA foreign_keys = ON")?;
    r
}
