//! Test databases (from the shared `test-db` crate): a fresh SQLite file or a fresh PostgreSQL
//! database per test, dropped at the end (even when the test panics).

use std::sync::Arc;

use domain::Authd;
use domain::audit::{Actor, Caller};
use domain::ids::{AppId, OrgId};
use domain::service::{NewAccount, NewInstance};
use domain::testkit::{Kit, kit_with};
use domain::values::{DeviceName, Handle, Platform};
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
    with_either(which, PgDatabase::empty, f);
}

/// Runs `f` on a fresh database of that backend, for [`store`]: on PostgreSQL a clone of the
/// migrated template (so `store` finds nothing pending), on SQLite an empty file.
pub fn with_migrated_db(which: Which, f: impl FnOnce(&TestDb)) {
    with_either(which, || PgDatabase::migrated(migrate), f);
}

/// Runs `f` on an empty SQLite file, or on the PostgreSQL database `pg` makes (when it makes one).
fn with_either(which: Which, pg: impl FnOnce() -> Option<PgDatabase>, f: impl FnOnce(&TestDb)) {
    match which {
        Which::Sqlite => f(&sqlite()),
        Which::Postgres => {
            if let Some(db) = pg() {
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

/// A command-line caller of `org_a`.
pub fn caller() -> Caller {
    Caller::new(OrgId::new("org_a").unwrap(), Actor::Cli)
}

/// The input of an account from `uri` alone (no display name, description, window or metadata).
pub fn new_account(uri: String) -> NewAccount {
    NewAccount {
        otpauth_uri: uri,
        display_name: None,
        description: None,
        verify_window: None,
        metadata: Default::default(),
    }
}

/// Creates the identity `alice` and an app linked to it: the app.
pub fn alice_app(a: &Authd<DieselStore>, o: &Caller) -> AppId {
    a.create_identity(o, Handle::parse("alice").unwrap()).unwrap();
    *a.create_app(o, Some(&Handle::parse("alice").unwrap())).unwrap().id()
}

/// Enrolls a `Pixel` (Android) in `app`: its device token.
pub fn enroll_pixel(a: &Authd<DieselStore>, o: &Caller, app: AppId) -> String {
    let device = NewInstance {
        device_name: DeviceName::parse("Pixel").unwrap(),
        platform: Platform::Android,
        device_id: None,
    };
    a.enroll_instance(o, app, device)
        .unwrap()
        .device_token
        .expose()
        .to_owned()
}
