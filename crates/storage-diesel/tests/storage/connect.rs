//! Connect errors name the URL without its password, and the cause.

use std::time::{Duration, Instant};

use storage_diesel::{Backend, DieselStore, PoolOptions, StorageError, backend_of};

const PASSWORD: &str = "s3cr3t-pw";

#[test]
fn bad_scheme_names_the_redacted_url() {
    let url = format!("mysql://authd:{PASSWORD}@127.0.0.1/authd");
    let e = DieselStore::connect(&url, PoolOptions::default_for(Backend::Sqlite)).unwrap_err();
    assert!(matches!(e, StorageError::InvalidUrl { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("mysql://authd:***@127.0.0.1/authd"), "{msg}");
    assert!(msg.contains("unsupported scheme"), "{msg}");
    assert!(!msg.contains(PASSWORD) && !format!("{e:?}").contains(PASSWORD), "{msg}");
    assert!(backend_of(&url).is_err());
}

#[test]
fn unreachable_postgres_names_the_redacted_url_and_the_cause() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let url = format!("postgres://authd:{PASSWORD}@127.0.0.1:1/authd");
    let t = Instant::now();
    let e = DieselStore::connect(&url, PoolOptions::default_for(Backend::Postgres)).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(10), "fails fast: {:?}", t.elapsed());
    assert!(matches!(e, StorageError::Connect { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("postgres://authd:***@127.0.0.1:1/authd"), "{msg}");
    assert!(msg.to_lowercase().contains("refused"), "the cause is kept: {msg}");
    assert!(!msg.contains(PASSWORD) && !format!("{e:?}").contains(PASSWORD), "{msg}");
}

#[test]
fn password_in_query_is_redacted_too() {
    let url = format!("postgresql://127.0.0.1:1/authd?user=authd&password={PASSWORD}");
    let e = DieselStore::connect(&url, PoolOptions::default_for(Backend::Postgres)).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("password=***"), "{msg}");
    assert!(!msg.contains(PASSWORD), "{msg}");
}

#[test]
fn sqlite_parent_directory_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/authd.sqlite");
    let s = DieselStore::connect(
        &format!("sqlite:{}", path.display()),
        PoolOptions::default_for(Backend::Sqlite),
    )
    .unwrap();
    assert_eq!(s.backend(), Backend::Sqlite);
    s.migrate().unwrap();
    assert!(path.exists());
    // It holds sealed secrets and token hashes: owner-only, and so are its WAL and shm files.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for f in [
            path.clone(),
            path.with_extension("sqlite-wal"),
            path.with_extension("sqlite-shm"),
        ] {
            if let Ok(meta) = std::fs::metadata(&f) {
                assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{}", f.display());
            }
        }
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

#[test]
fn sqlite_relative_path_is_relative_to_the_working_directory() {
    // Tests run with the crate directory as the working directory; use a unique name in target/.
    let rel = format!(
        "../../target/tmp/authd-rel-{}/authd.sqlite",
        uuid::Uuid::now_v7().simple()
    );
    let s = DieselStore::connect(&format!("sqlite://{rel}"), PoolOptions::default_for(Backend::Sqlite)).unwrap();
    s.migrate().unwrap();
    let abs = std::env::current_dir().unwrap().join(&rel);
    assert!(abs.exists(), "{}", abs.display());
    drop(s);
    std::fs::remove_dir_all(abs.parent().unwrap()).unwrap();
}

#[test]
fn sqlite_that_cannot_be_opened_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // A directory is not a database file.
    let url = format!("sqlite://{}", dir.path().display());
    let e = DieselStore::connect(&url, PoolOptions::default_for(Backend::Sqlite)).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, StorageError::Connect { .. }), "{e:?}");
    assert!(msg.contains(&url), "{msg}");
}

#[test]
fn in_memory_sqlite_and_bad_options_are_refused() {
    let e = DieselStore::connect("sqlite::memory:", PoolOptions::default_for(Backend::Sqlite)).unwrap_err();
    assert!(matches!(e, StorageError::InvalidUrl { .. }), "{e:?}");
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/x.sqlite", dir.path().display());
    let zero = PoolOptions {
        max_size: 0,
        ..PoolOptions::default_for(Backend::Sqlite)
    };
    assert!(matches!(
        DieselStore::connect(&url, zero),
        Err(StorageError::InvalidOptions { .. })
    ));
    let no_wait = PoolOptions {
        connection_timeout: Duration::ZERO,
        ..PoolOptions::default_for(Backend::Sqlite)
    };
    assert!(matches!(
        DieselStore::connect(&url, no_wait),
        Err(StorageError::InvalidOptions { .. })
    ));
}

#[test]
fn sqlite_runs_in_wal_mode() {
    use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection, sql_types::Text};
    #[derive(QueryableByName)]
    struct Mode {
        #[diesel(sql_type = Text)]
        journal_mode: String,
    }
    let db = crate::support::sqlite();
    let _store = crate::support::store(&db);
    let mut c = SqliteConnection::establish(db.sqlite_path()).unwrap();
    let m: Mode = diesel::sql_query("PRAGMA journal_mode").get_result(&mut c).unwrap();
    assert_eq!(m.journal_mode, "wal");
}

#[test]
fn pool_options_defaults() {
    let s = PoolOptions::default_for(Backend::Sqlite);
    let p = PoolOptions::default_for(Backend::Postgres);
    assert_eq!((s.max_size, p.max_size), (4, 8));
    assert_eq!(s.connection_timeout, Duration::from_secs(5));
    assert_eq!(p.connection_timeout, Duration::from_secs(2));
}

/// The pool's connections do not checkpoint the write-ahead log in the commit that fills it;
/// the store's own thread does, and completely enough that SQLite starts the log over: the
/// file stops growing with the number of writes.
#[test]
fn sqlite_wal_is_checkpointed_by_the_store_and_stays_bounded() {
    use domain::ids::OrgId;
    let db = crate::support::sqlite();
    let k = crate::support::kit(crate::support::store(&db));
    let wal = std::path::PathBuf::from(format!("{}-wal", db.sqlite_path()));
    let o = domain::audit::Caller::new(OrgId::new("org_wal").unwrap(), domain::audit::Actor::Cli);
    let mut sizes = Vec::new();
    for _round in 0..6 {
        for _ in 0..500 {
            k.authd.create_app(&o, None).unwrap();
        }
        sizes.push(std::fs::metadata(&wal).unwrap().len());
        // Time for the checkpoint thread (it looks every 50 ms, and acts after 300 writes).
        std::thread::sleep(Duration::from_millis(400));
    }
    // Without the thread the log would hold all 3,000 writes, six times the first round's.
    let (first, last) = (sizes[0], *sizes.last().unwrap());
    assert!(first > 0, "{sizes:?}");
    assert!(
        last <= first * 2,
        "the log kept growing: {sizes:?} bytes after each 500 writes"
    );
}
