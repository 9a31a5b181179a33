//! The real storage backends for the API scenarios, from the shared `test-db` crate: a fresh
//! SQLite file per test, and a fresh PostgreSQL database per test (a clone of the migrated
//! template on the server at `AUTHD_TEST_POSTGRES_URL`), with the production cipher.

use std::sync::Arc;

use domain::testkit::{Kit, kit_with};
use storage_diesel::{Backend, DieselStore, PoolOptions, XChaChaCipher};
use test_db::{PgDatabase, SqliteDatabase};

fn store(url: &str, backend: Backend) -> DieselStore {
    let store = DieselStore::connect(url, PoolOptions::default_for(backend)).expect("connect");
    store.migrate().expect("migrate");
    store
}

fn kit(url: &str, backend: Backend) -> Kit<DieselStore> {
    kit_with(store(url, backend), Arc::new(XChaChaCipher::new([3; 32])))
}

/// A kit over a new SQLite file; the database (its temporary directory) is the guard.
pub fn sqlite() -> (Kit<DieselStore>, SqliteDatabase) {
    let db = SqliteDatabase::new();
    (kit(db.url(), Backend::Sqlite), db)
}

/// The migration entry point for `test-db`'s template database.
fn migrate(url: &str) -> Result<(), storage_diesel::StorageError> {
    DieselStore::connect(url, PoolOptions::default_for(Backend::Postgres))?.migrate()?;
    Ok(())
}

/// A kit over a new PostgreSQL database (dropped with the guard), or `None` (loudly) when
/// `AUTHD_TEST_POSTGRES_URL` is unset; in CI that fails the test instead.
pub fn postgres() -> Option<(Kit<DieselStore>, PgDatabase)> {
    let db = PgDatabase::migrated(migrate)?;
    Some((kit(db.url(), Backend::Postgres), db))
}
