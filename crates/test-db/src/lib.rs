//! Throw-away databases for authd's tests, shared by every test crate (modelled on crates.io's
//! `crates_io_test_db`).
//!
//! PostgreSQL, at `AUTHD_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/postgres`,
//! a role that may create databases):
//!
//! - [`PgDatabase::migrated`]: a fresh database cloned (`CREATE DATABASE .. TEMPLATE ..`) from a
//!   template database that is created and migrated once per test run. The template's name
//!   carries a hash of the workspace's `migrations/` directory, so a template built from other
//!   migrations is never reused; the caller passes the migration entry point, so this crate knows
//!   nothing of the storage adapter.
//! - [`PgDatabase::empty`]: a fresh database without any table (for the tests of migrating).
//!
//! Each is dropped `WITH (FORCE)` when its guard drops (also when the test panics). When the
//! variable is unset, both print `SKIPPED (PostgreSQL): ...` on stderr and return `None`, so the
//! test passes without running; when `CI` is set (and not empty) they panic instead: in CI the
//! PostgreSQL tests never skip.
//!
//! SQLite: [`SqliteDatabase`], a database file in a fresh temporary directory.
//!
//! Templates of older migrations are left on the server (a concurrent run of another checkout
//! may still clone them); drop them by hand: `DROP DATABASE authd_template_<hash>`.

#![expect(
    clippy::panic,
    clippy::expect_used,
    reason = "test support: a failure to set up a test database must abort the test"
)]

use std::fmt::Display;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use diesel::connection::SimpleConnection;
use diesel::sql_types::{Bool, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};

/// The variable naming the PostgreSQL server of the tests.
pub const POSTGRES_URL_VAR: &str = "AUTHD_TEST_POSTGRES_URL";

/// The workspace's migrations: the template's name carries a hash of this directory.
const MIGRATIONS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations");

/// The advisory lock under which one process at a time builds the template (different from the
/// adapter's migration lock).
const TEMPLATE_LOCK: i64 = 7_306_296_906_616_530_999;

// ---------------------------------------------------------------------------------------------
// Skipping
// ---------------------------------------------------------------------------------------------

/// Whether we run in CI (`CI` set and not empty): then nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Writes one line to the real stderr, past the test harness's output capture, so that a skip
/// is seen even when the test passes.
fn loud(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// The running test's name (the test harness names each test's thread after it).
fn test_name() -> String {
    std::thread::current().name().unwrap_or("this test").to_owned()
}

/// Skips loudly (`SKIPPED: <why>` on stderr), or panics when in CI.
pub fn skip_or_fail(why: &str) {
    assert!(!in_ci(), "CI is set, so this cannot be skipped: {why}");
    loud(&format!("*** SKIPPED: {why} ({}) ***", test_name()));
}

/// The PostgreSQL server URL of the tests, or `None` after the skip line (a panic in CI).
pub fn postgres_url() -> Option<String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                !in_ci(),
                "CI is set, so the PostgreSQL tests cannot be skipped: set {POSTGRES_URL_VAR} \
                 (e.g. postgres://postgres@127.0.0.1:5432/postgres)"
            );
            loud(&format!(
                "*** SKIPPED (PostgreSQL): set {POSTGRES_URL_VAR} (e.g. \
                 postgres://postgres@127.0.0.1:5432/postgres) to run {} ***",
                test_name()
            ));
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------------------------

/// A throw-away PostgreSQL database, dropped `WITH (FORCE)` when this guard drops.
#[derive(Debug)]
pub struct PgDatabase {
    name: String,
    url: String,
    admin_url: String,
}

impl PgDatabase {
    /// A fresh database with the schema of the workspace's migrations, cloned from the template
    /// (built on first use with `migrate`, which is given the template's URL and must leave no
    /// connection open). `None` when PostgreSQL tests are skipped (see [`postgres_url`]).
    pub fn migrated<E: Display>(migrate: fn(&str) -> Result<(), E>) -> Option<Self> {
        let admin_url = postgres_url()?;
        let template = template(&admin_url, migrate);
        Some(Self::create(admin_url, &format!("TEMPLATE {template}")))
    }

    /// A fresh, empty database (no table). `None` when PostgreSQL tests are skipped (see
    /// [`postgres_url`]).
    pub fn empty() -> Option<Self> {
        let admin_url = postgres_url()?;
        Some(Self::create(admin_url, ""))
    }

    fn create(admin_url: String, options: &str) -> Self {
        let name = unique_name();
        let mut admin = admin(&admin_url);
        admin
            .batch_execute(&format!("CREATE DATABASE {name} {options}"))
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name} {options}: {e}"));
        Self {
            url: with_database(&admin_url, &name),
            name,
            admin_url,
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its URL (the server's URL with the database replaced).
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let dropped = PgConnection::establish(&self.admin_url)
            .map_err(|e| e.to_string())
            .and_then(|mut c| {
                c.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = dropped {
            loud(&format!("note: could not drop test database {}: {e}", self.name));
        }
    }
}

/// A connection to the server's admin database; panics (the variable is set, so the tests were
/// asked for) when it does not answer.
fn admin(admin_url: &str) -> PgConnection {
    PgConnection::establish(admin_url).unwrap_or_else(|e| {
        panic!(
            "PostgreSQL does not answer at {} ({POSTGRES_URL_VAR}): {e}",
            redact(admin_url)
        )
    })
}

/// `authd_t_<pid>_<n>_<nanoseconds>`: unique across the threads and processes of a run.
fn unique_name() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "authd_t_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The template's name: `authd_template_<hash of migrations/>`.
pub fn template_name() -> String {
    format!("authd_template_{:016x}", migrations_hash(Path::new(MIGRATIONS_DIR)))
}

/// The template of this run, built on first use (per process; across processes under an
/// advisory lock, the first one builds it and the others find it).
fn template<E: Display>(admin_url: &str, migrate: fn(&str) -> Result<(), E>) -> &'static str {
    static TEMPLATE: OnceLock<Result<String, String>> = OnceLock::new();
    let built = TEMPLATE.get_or_init(|| {
        let name = template_name();
        let mut admin = admin(admin_url);
        admin
            .batch_execute(&format!("SELECT pg_advisory_lock({TEMPLATE_LOCK})"))
            .map_err(|e| format!("taking the template lock: {e}"))?;
        let built = build_template(&mut admin, admin_url, &name, migrate);
        let _ = admin.batch_execute(&format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK})"));
        built.map(|()| name)
    });
    match built {
        Ok(name) => name,
        Err(e) => panic!("the template test database: {e}"),
    }
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = Bool)]
    found: bool,
}

/// Under the lock: nothing to do when the template exists (it gets its name only once fully
/// migrated); otherwise migrate a new database and rename it to the template's name.
fn build_template<E: Display>(
    admin: &mut PgConnection,
    admin_url: &str,
    name: &str,
    migrate: fn(&str) -> Result<(), E>,
) -> Result<(), String> {
    let exists = diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS found")
        .bind::<Text, _>(name)
        .get_result::<Found>(admin)
        .map_err(|e| format!("looking for {name}: {e}"))?
        .found;
    if exists {
        return Ok(());
    }
    // A half-built template of a process that died while building it.
    let building = format!("{name}_new");
    let sql = |admin: &mut PgConnection, sql: &str| admin.batch_execute(sql).map_err(|e| format!("{sql}: {e}"));
    sql(admin, &format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))?;
    sql(admin, &format!("CREATE DATABASE {building}"))?;
    if let Err(e) = migrate(&with_database(admin_url, &building)) {
        let _ = sql(admin, &format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"));
        return Err(format!("migrating {building}: {e}"));
    }
    sql(admin, &format!("ALTER DATABASE {building} RENAME TO {name}"))?;
    // Nobody connects to it any more: a clone fails while a session is connected to its template.
    sql(admin, &format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false"))
}

/// FNV-1a (64 bits) of every file under `dir`, paths and contents, in path order: a stable
/// fingerprint of the migrations.
fn migrations_hash(dir: &Path) -> u64 {
    fn files(dir: &Path, out: &mut Vec<PathBuf>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                files(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    files(dir, &mut paths);
    paths.sort();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for path in paths {
        let relative = path.strip_prefix(dir).unwrap_or(&path);
        feed(relative.to_string_lossy().as_bytes());
        feed(&[0]);
        feed(&std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display())));
        feed(&[0]);
    }
    hash
}

/// `url` with its database (path) replaced by `name`, the query kept.
pub fn with_database(url: &str, name: &str) -> String {
    let (head, query) = url.split_once('?').map_or((url, None), |(h, q)| (h, Some(q)));
    let (scheme, rest) = head
        .split_once("://")
        .unwrap_or_else(|| panic!("not a URL: {}", redact(url)));
    let authority = rest.split_once('/').map_or(rest, |(a, _)| a);
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    format!("{scheme}://{authority}/{name}{query}")
}

/// `url` with its password, if any, replaced by `***`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let tail = rest.strip_prefix(authority).unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        _ => url.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// SQLite
// ---------------------------------------------------------------------------------------------

/// A SQLite database file (not created yet) in a fresh temporary directory, removed with the
/// directory when this guard drops.
#[derive(Debug)]
pub struct SqliteDatabase {
    dir: tempfile::TempDir,
    path: PathBuf,
    url: String,
}

impl SqliteDatabase {
    /// `authd.sqlite` in a new temporary directory.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("authd.sqlite");
        let url = format!("sqlite://{}", path.display());
        Self { dir, path, url }
    }

    /// `sqlite://<path>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The temporary directory holding it (and its `-wal`/`-shm` files).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Default for SqliteDatabase {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_database_replaces_the_path_and_keeps_the_query() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
        assert_eq!(with_database("postgresql://h:1/", "x"), "postgresql://h:1/x");
    }

    #[test]
    fn redact_hides_the_password_only() {
        assert_eq!(redact("postgres://u:secret@h/db?a=b"), "postgres://u:***@h/db?a=b");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
    }

    #[test]
    fn the_template_name_is_a_valid_identifier_that_follows_the_migrations() {
        let name = template_name();
        assert!(name.len() < 63 - "_new".len(), "{name}");
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        );
        assert_eq!(name, template_name(), "stable");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("m")).unwrap();
        std::fs::write(dir.path().join("m/up.sql"), "CREATE TABLE a ();").unwrap();
        let before = migrations_hash(dir.path());
        std::fs::write(dir.path().join("m/up.sql"), "CREATE TABLE b ();").unwrap();
        assert_ne!(
            before,
            migrations_hash(dir.path()),
            "a changed migration changes the hash"
        );
    }

    #[test]
    fn unique_names_differ() {
        assert_ne!(unique_name(), unique_name());
    }
}
