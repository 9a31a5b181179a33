//! Test databases: a fresh SQLite file or a fresh PostgreSQL database per test, dropped at the
//! end (even when the test panics).

use std::sync::Arc;

use diesel::{Connection, PgConnection, RunQueryDsl};
use domain::testkit::{Kit, kit_with};
use storage_diesel::{Backend, DieselStore, PoolOptions, XChaChaCipher};

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
    Sqlite(tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Guard::Postgres { admin_url, name } = &self.guard
            && let Ok(mut admin) = PgConnection::establish(admin_url)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin);
        }
    }
}

impl TestDb {
    /// The SQLite file's path (SQLite only).
    pub fn sqlite_path(&self) -> &str {
        self.url.strip_prefix("sqlite://").expect("a sqlite:// URL")
    }

    /// The temp directory holding the SQLite file (SQLite only).
    pub fn dir(&self) -> &std::path::Path {
        match &self.guard {
            Guard::Sqlite(d) => d.path(),
            Guard::Postgres { .. } => panic!("not a SQLite test database"),
        }
    }
}

pub fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/authd.sqlite", dir.path().display());
    TestDb {
        url,
        backend: Backend::Sqlite,
        guard: Guard::Sqlite(dir),
    }
}

/// The admin URL of the test PostgreSQL server.
pub fn pg_admin_url() -> String {
    std::env::var("AUTHD_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh PostgreSQL database, or `None` (after a loud message) when no server answers and
/// `CI` is not set.
pub fn postgres() -> Option<TestDb> {
    let admin_url = pg_admin_url();
    let shown = storage_diesel::redact_url(&admin_url);
    let mut admin = match PgConnection::establish(&admin_url) {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("PostgreSQL not reachable at {shown}: {e}");
            if std::env::var_os("CI").is_some() {
                panic!("{msg} (CI is set: PostgreSQL tests must run)");
            }
            eprintln!("\n*** SKIPPED: {msg} ***\n*** set AUTHD_TEST_POSTGRES_URL to run the PostgreSQL tests ***\n");
            return None;
        }
    };
    let name = format!("authd_t_{}", uuid::Uuid::now_v7().simple());
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .expect("create test database");
    Some(TestDb {
        url: with_database(&admin_url, &name),
        backend: Backend::Postgres,
        guard: Guard::Postgres { admin_url, name },
    })
}

/// `url` with its database (path) replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (head, query) = match url.find('?') {
        Some(q) => url.split_at(q),
        None => (url, ""),
    };
    let after_scheme = head.find("://").map_or(0, |i| i + 3);
    let base = match head[after_scheme..].find('/') {
        Some(slash) => &head[..after_scheme + slash],
        None => head,
    };
    format!("{base}/{name}{query}")
}

/// Runs `f` on a fresh database of that backend (or skips, see [`postgres`]).
pub fn with_db(which: Which, f: impl FnOnce(&TestDb)) {
    match which {
        Which::Sqlite => f(&sqlite()),
        Which::Postgres => {
            if let Some(db) = postgres() {
                f(&db);
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
