//! The real storage backends for the API scenarios: a fresh SQLite file per test, and a fresh
//! PostgreSQL database per test (at `AUTHD_TEST_POSTGRES_URL`, default the local server), with
//! the production cipher.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use domain::testkit::{Kit, kit_with};
use storage_diesel::{Backend, DieselStore, PoolOptions, XChaChaCipher};

fn store(url: &str, backend: Backend) -> DieselStore {
    let store = DieselStore::connect(url, PoolOptions::default_for(backend)).expect("connect");
    store.migrate().expect("migrate");
    store
}

/// A kit over a new SQLite file; the temporary directory is the guard.
pub fn sqlite() -> (Kit<DieselStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/api.sqlite", dir.path().display());
    (
        kit_with(store(&url, Backend::Sqlite), Arc::new(XChaChaCipher::new([3; 32]))),
        dir,
    )
}

/// Drops its database on drop.
pub struct PgDatabase {
    admin: String,
    name: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let _ = psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

fn psql(url: &str, sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qc", sql])
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// A kit over a new PostgreSQL database, or `None` (loudly) when no server answers; in CI a
/// missing PostgreSQL fails the test instead.
pub fn postgres() -> Option<(Kit<DieselStore>, PgDatabase)> {
    static N: AtomicU32 = AtomicU32::new(0);
    let admin = std::env::var("AUTHD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("authd_api_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    if let Err(e) = psql(&admin, &format!("CREATE DATABASE {name}")) {
        assert!(std::env::var_os("CI").is_none(), "PostgreSQL is required in CI: {e}");
        eprintln!("SKIPPED: PostgreSQL not reachable at {admin}: {e}");
        return None;
    }
    let guard = PgDatabase {
        admin: admin.clone(),
        name: name.clone(),
    };
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    let url = format!("{base}/{name}");
    Some((
        kit_with(store(&url, Backend::Postgres), Arc::new(XChaChaCipher::new([3; 32]))),
        guard,
    ))
}
