//! The embedded migrations (`migrations/sqlite` and `migrations/postgres`, same version stamps)
//! and how they are applied on either backend.

use diesel::connection::SimpleConnection;
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
pub(crate) fn run_pending(conn: &mut Conn) -> Result<Vec<String>, MigrationError> {
    let applied = match &mut conn.inner {
        AnyConnection::Sqlite(c) => with_sqlite_fk_off(c, |c| c.run_pending_migrations(SQLITE).map(versions))?,
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
        AnyConnection::Sqlite(c) => with_sqlite_fk_off(c, |c| c.revert_all_migrations(SQLITE).map(versions))?,
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
