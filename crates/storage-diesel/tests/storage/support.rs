//! Test databases (from the shared `test-db` crate): a fresh SQLite file or a fresh PostgreSQL
//! database per test, dropped at the end (even when the test panics).

use std::sync::Arc;

use domain::testkit::{Kit, kit_with};
use storage_diesel::{Backend, DieselStore, PoolOptions, XChaChaCipher};
use test_db::{PgDatabase, SqliteDatabase};

/// The master key of every test kit.
pub const KEY: [u8; 32] = [0x5a; 32];

/// Which backend a test runs on.
#[derive(Clone, Copy, Debug)]
pub enum Which {
    Sqlite,
    Postgres,
}

/// A throw-away database.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    guard: Guard,
}

enum Guard {
    Sqlite(SqliteDatabase),
    Postgres(#[expect(dead_code, reason = "held for its Drop: the database is dropped with it")] PgDatabase),
}

impl TestDb {
    /// The SQLite file's path (SQLite only).
    pub fn sqlite_path(&self) -> &str {
        self.url.strip_prefix("sqlite://").expect("a sqlite:// URL")
    }

    /// The temp directory holding the SQLite file (SQLite only).
    pub fn dir(&self) -> &std::path::Path {
        match &self.guard {
            Guard::Sqlite(db) => db.dir(),
            Guard::Postgres(_) => panic!("not a SQLite test database"),
        }
    }
}

pub fn sqlite() -> TestDb {
    let db = SqliteDatabase::new();
    TestDb {
        url: db.url().to_owned(),
        backend: Backend::Sqlite,
        guard: Guard::Sqlite(db),
    }
}

fn postgres(db: PgDatabase) -> TestDb {
    TestDb {
        url: db.url().to_owned(),
        backend: Backend::Postgres,
        guard: Guard::Postgres(db),
    }
}

/// The migration entry point for `test-db`'s template database.
fn migrate(url: &str) -> Result<(), storage_diesel::StorageError> {
    DieselStore::connect(url, PoolOptions::default_for(Backend::Postgres))?.migrate()?;
    Ok(())
}

/// Runs `f` on a fresh, empty database of that backend (PostgreSQL may skip, see
/// [`test_db::postgres_url`]).
pub fn with_db(which: Which, f: impl FnOnce(&TestDb)) {
    match which {
        Which::Sqlite => f(&sqlite()),
        Which::Postgres => {
            if let Some(db) = PgDatabase::empty() {
                f(&postgres(db));
            }
        }
    }
}

/// Runs `f` on a fresh database of that backend, for [`store`]: on PostgreSQL a clone of the
/// migrated template (so `store` finds nothing pending), on SQLite an empty file.
pub fn with_migrated_db(which: Which, f: impl FnOnce(&TestDb)) {
    match which {
        Which::Sqlite => f(&sqlite()),
        Which::Postgres => {
            if let Some(db) = PgDatabase::migrated(migrate) {
                f(&postgres(db));
            }
        }
    }
}

/// A pool on the database, not migrated.
pub fn connect(db: &TestDb) -> DieselStore {
    DieselStore::connect(&db.url, PoolOptions::default_for(db.backend)).expect("connect")
}

/// A pool on the database, migrated.
pub fn store(db: &TestDb) -> DieselStore {
    let s = connect(db);
    s.migrate().expect("migrate");
    s
}

/// A service over the store with the real cipher.
pub fn kit(store: DieselStore) -> Kit<DieselStore> {
    kit_with(store, Arc::new(XChaChaCipher::new(KEY)))
}
