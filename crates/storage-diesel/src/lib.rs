//! # authd storage on diesel
//!
//! Every storage port of [`domain`] ([`Store`] and [`domain::ports::Repo`]) on diesel 2.3 +
//! r2d2, for the embedded SQLite default and for PostgreSQL, from one set of queries written
//! once and compiled for each backend's own connection (`db!` in `repo.rs`). Plus the domain's
//! [`domain::ports::SecretCipher`] port: [`XChaChaCipher`].
//!
//! ```no_run
//! use storage_diesel::{DieselStore, PoolOptions, backend_of};
//!
//! # fn main() -> Result<(), storage_diesel::StorageError> {
//! let url = "sqlite://data/authd.sqlite";
//! let store = DieselStore::connect(url, PoolOptions::default_for(backend_of(url)?))?;
//! let pending = store.pending_migrations()?; // read-only: what `migrate` would apply
//! let applied = store.migrate()?;
//! # Ok(()) }
//! ```
//!
//! - **Backend by URL scheme**: `sqlite://PATH` or `sqlite:PATH` (relative to the working
//!   directory; the parent directory is created), `postgres://...` or `postgresql://...`.
//! - **SQLite**: every connection runs `busy_timeout = 5000`, `journal_mode = WAL`,
//!   `synchronous = NORMAL` and `foreign_keys = ON`; write transactions are `BEGIN IMMEDIATE`.
//! - **Units of work**: [`Store::run`] uses one pooled connection in autocommit (no
//!   `BEGIN`/`COMMIT`), [`Store::transaction`] one transaction.
//! - **Errors**: an exhausted pool or a lost database is [`StoreError::Unavailable`], a unique
//!   violation [`StoreError::Conflict`] with the rule that was hit, anything else
//!   [`StoreError::Other`]. Connect and migration failures are [`StorageError`]s, naming the
//!   URL without its password. No secret or token ever reaches a message or a log.
//!
//! ## Embedding: authd's domain with this storage in another service
//!
//! Depend on `domain` and `storage-diesel`, neither with features: this crate builds both
//! backends (SQLite from the bundled `libsqlite3-sys`, PostgreSQL through the system's libpq),
//! and `domain`'s `testkit` feature is for tests only. Then compose as the `authd` binary does:
//! [`DieselStore::connect`], [`DieselStore::migrate`], then [`domain::Authd::new`] with
//! [`domain::service::Deps`] of [`domain::system`]'s clock, ids and randomness and an
//! [`XChaChaCipher`]. `examples/embedded_service.rs` is such a service, started twice over its
//! own SQLite file by this crate's tests.
//!
//! - **Which database**: a SQLite file (`sqlite://PATH`) suits a service on one host: keep it
//!   on a local disk, in a directory the service owns (the file is created with mode 0600).
//!   A PostgreSQL URL (`postgres://...`) suits a service with several replicas: they share the
//!   database, and so the master key.
//! - **Migrations**: the schema's migrations are embedded in this crate; call
//!   [`DieselStore::migrate`] at every start, before the first use case (it applies only what is
//!   pending; PostgreSQL replicas may call it at once, under an advisory lock).
//!   [`DieselStore::pending_migrations`] tells without changing anything.
//! - **The master key**: 32 bytes from a CSPRNG, given to [`XChaChaCipher::new`], which seals
//!   every OTP seed under it. Keep it outside the database (a file of mode 0600 beside the SQLite
//!   file, like `authd`'s `master.key`, or a secret store; never a table): a copy of the
//!   database alone must not open the seeds. Back it up, apart from the database's backups:
//!   **losing the key loses every seed**, and a wrong key opens none (generating a code then
//!   fails with [`domain::Error::SecretUnreadable`], the HOTP counter unmoved). Never log it.
//!   Several keys, each with a stable [`KeyId`], make a keyring
//!   ([`XChaChaCipher::keyring`]): the first seals, every one opens what it sealed (the
//!   stored formats are in [`cipher`]).

mod checkpointer;
pub mod cipher;
mod migrations;
mod pool;
mod repo;
mod schema;
mod socket;
mod sql;
mod stored_ts;
mod url;
mod watchdog;

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use diesel::r2d2::{CustomizeConnection, ManageConnection, Pool, PooledConnection};
use domain::error::Opaque;
use domain::ports::{Repo, Store, StoreError, StoreResult};

pub use crate::cipher::{InvalidKeyId, KeyId, KeyringError, XChaChaCipher, sealed_key_id};
pub use crate::url::{backend_of, redact_url};

use crate::pool::{Conn, LogErrors, Manager, OnAcquire, Target, WriterGate, in_transaction};
use crate::repo::DieselRepo;

/// The database behind a [`DieselStore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite (bundled), one file.
    Sqlite,
    /// PostgreSQL (or a PostgreSQL-compatible database).
    Postgres,
}

/// Connection pool settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolOptions {
    /// Most connections open at once (at least 1).
    pub max_size: u32,
    /// How long a unit of work waits for a free connection before failing with
    /// [`StoreError::Unavailable`] (more than zero). For PostgreSQL it also bounds the time
    /// to open a connection, unless the URL sets `connect_timeout` itself.
    pub connection_timeout: Duration,
    /// PostgreSQL: the server-side `statement_timeout` of every connection, and with it the
    /// bound on a unit of work: one that runs a second longer is taken for hung and its pool is
    /// replaced (see `watchdog`). Also libpq's `tcp_user_timeout`. Ignored on SQLite, whose
    /// waits are bounded by its busy timeout.
    pub statement_timeout: Duration,
}

impl PoolOptions {
    /// The defaults: SQLite 4 connections (one writer at a time anyway) waiting at most 5 s for
    /// a connection, PostgreSQL 8 waiting at most 2 s, statements bounded by 5 s.
    #[must_use]
    pub fn default_for(backend: Backend) -> Self {
        // SQLite waits are for a busy writer (its busy_timeout is 5 s as well); PostgreSQL waits
        // are mostly for an unreachable server, where failing fast (503) beats queueing.
        let (max_size, secs) = match backend {
            Backend::Sqlite => (4, 5),
            Backend::Postgres => (8, 2),
        };
        Self {
            max_size,
            connection_timeout: Duration::from_secs(secs),
            statement_timeout: Duration::from_secs(5),
        }
    }

    /// How long a unit of work may run before it is taken for hung: the statement timeout and
    /// one second more.
    #[must_use]
    pub fn unit_deadline(&self) -> Duration {
        self.statement_timeout + Duration::from_secs(1)
    }
}

/// A snapshot of the pool.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PoolState {
    /// Connections open (idle or in use).
    pub connections: u32,
    /// Connections idle.
    pub idle: u32,
    /// The pool's maximum size.
    pub max_size: u32,
    /// Checkouts that found no idle connection and had to wait (since start).
    pub waits: u64,
    /// Total time spent waiting in those checkouts, in seconds.
    pub wait_seconds: f64,
    /// Checkouts that gave up after the connection timeout (answered 503).
    pub timeouts: u64,
    /// Times the pool was replaced because the database stopped answering (see `watchdog`).
    pub replacements: u64,
}

/// Counters of pool checkouts that had to wait.
#[derive(Debug, Default)]
struct WaitStats {
    waits: std::sync::atomic::AtomicU64,
    wait_micros: std::sync::atomic::AtomicU64,
    timeouts: std::sync::atomic::AtomicU64,
    /// When the last checkout timed out, in microseconds since `epoch` (0: never).
    last_timeout: std::sync::atomic::AtomicU64,
    epoch: std::sync::OnceLock<std::time::Instant>,
}

impl WaitStats {
    fn now_micros(&self) -> u64 {
        let epoch = self.epoch.get_or_init(std::time::Instant::now);
        u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX).max(1)
    }
}

/// Failures to connect to or migrate a database. Every message names the URL with its
/// password replaced by `***`, and the cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The URL names no supported backend, or is malformed.
    #[error("invalid database URL `{url}`: {reason}")]
    InvalidUrl {
        /// The redacted URL.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The pool options are unusable.
    #[error("invalid pool options for `{url}`: {reason}")]
    InvalidOptions {
        /// The redacted URL.
        url: String,
        /// What is wrong with them.
        reason: &'static str,
    },
    /// The directory of the SQLite file could not be created.
    #[error("cannot create the directory `{dir}` of the SQLite database `{url}`: {cause}")]
    CreateDir {
        /// The redacted URL.
        url: String,
        /// The directory.
        dir: String,
        /// Why.
        cause: std::io::Error,
    },
    /// The database could not be reached or opened.
    #[error("cannot connect to the database `{url}`: {cause}")]
    Connect {
        /// The redacted URL.
        url: String,
        /// The driver's message (scrubbed of the password).
        cause: String,
    },
    /// Migrations could not be applied or reverted.
    #[error("cannot migrate the database `{url}`: {cause}")]
    Migrate {
        /// The redacted URL.
        url: String,
        /// Why.
        cause: String,
    },
    /// Which migrations are applied could not be read.
    #[error("cannot read the migration status of the database `{url}`: {cause}")]
    MigrationStatus {
        /// The redacted URL.
        url: String,
        /// Why.
        cause: String,
    },
}

/// The storage adapter: an r2d2 pool over SQLite or PostgreSQL. Cheap to clone (clones share
/// the pool).
#[derive(Clone)]
pub struct DieselStore {
    pools: Arc<watchdog::Pools>,
    /// PostgreSQL: every serving connection's `statement_timeout`.
    statement_timeout: Duration,
    waits: Arc<WaitStats>,
    backend: Backend,
    /// The URL without its password, for messages.
    url: Arc<str>,
    /// SQLite: the thread that checkpoints the write-ahead log (stopped with the last clone).
    _checkpointer: Option<Arc<checkpointer::Checkpointer>>,
}

impl fmt::Debug for DieselStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DieselStore")
            .field("backend", &self.backend)
            .field("url", &self.url)
            .field("pool", &self.pool_state())
            .finish()
    }
}

impl DieselStore {
    /// Opens a pool on the database `url` names (see [`backend_of`]). One connection is made
    /// first, so an unreachable database fails here, at once, with the driver's reason; the
    /// pool then opens its connections before this returns.
    ///
    /// # Errors
    /// [`StorageError::InvalidUrl`], [`StorageError::InvalidOptions`],
    /// [`StorageError::CreateDir`] (SQLite) or [`StorageError::Connect`].
    pub fn connect(url: &str, opts: PoolOptions) -> Result<Self, StorageError> {
        let redacted = redact_url(url);
        let backend = backend_of(url)?;
        if opts.max_size == 0 {
            return Err(StorageError::InvalidOptions {
                url: redacted,
                reason: "max_size must be at least 1",
            });
        }
        if opts.connection_timeout.is_zero() {
            return Err(StorageError::InvalidOptions {
                url: redacted,
                reason: "connection_timeout must be more than zero",
            });
        }
        if opts.statement_timeout < Duration::from_millis(100) {
            return Err(StorageError::InvalidOptions {
                url: redacted,
                reason: "statement_timeout must be at least 100 ms",
            });
        }
        let mut sqlite_path = None;
        let target = match backend {
            Backend::Sqlite => {
                let path = url::sqlite_path(url)?;
                create_parent_dir(&path, &redacted)?;
                create_private_file(&path, &redacted)?;
                sqlite_path = Some(path.clone());
                Target::Sqlite(path)
            }
            Backend::Postgres => Target::Postgres(url::with_pg_bounds(
                url,
                opts.connection_timeout,
                opts.statement_timeout,
            )),
        };
        let gate = Arc::<WriterGate>::default();
        let manager = Manager {
            target,
            passwords: url::passwords(url),
            gate: Arc::clone(&gate),
            statement_timeout: opts.statement_timeout,
            connecting: Arc::default(),
        };
        let connect_error = |cause: String| StorageError::Connect {
            url: redacted.clone(),
            cause,
        };
        // One connection by hand: r2d2 would retry until the timeout and then report less.
        let mut first = manager.connect().map_err(|e| connect_error(e.0))?;
        OnAcquire.on_acquire(&mut first).map_err(|e| connect_error(e.0))?;
        drop(first);
        let builder = move || {
            Pool::builder()
                .max_size(opts.max_size)
                .connection_timeout(opts.connection_timeout)
                // A checkout costs no round trip: a connection that failed is dropped instead
                // (see `Conn::fail` and `Manager::has_broken`).
                .test_on_check_out(false)
                .connection_customizer(Box::new(OnAcquire))
                .error_handler(Box::new(LogErrors))
        };
        let pool = builder()
            .build(manager.clone())
            .map_err(|e| connect_error(e.to_string()))?;
        // A replacement pool (see `watchdog`) connects in the background: it is made while the
        // database is in trouble, and its first checkouts wait for it within their timeout.
        let make = Box::new(move || builder().build_unchecked(manager.clone()));
        let deadline = (backend == Backend::Postgres).then(|| opts.unit_deadline());
        let pools = watchdog::Pools::new(pool, make, deadline);
        let checkpointer = sqlite_path
            .map(|path| checkpointer::Checkpointer::start(&path, gate).map(Arc::new))
            .transpose()
            .map_err(connect_error)?;
        tracing::info!(url = %redacted, ?backend, max_size = opts.max_size, "database pool ready");
        Ok(Self {
            pools,
            statement_timeout: opts.statement_timeout,
            waits: Arc::default(),
            backend,
            url: redacted.into(),
            _checkpointer: checkpointer,
        })
    }

    /// Which database this is.
    #[must_use]
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies the pending migrations (safe to call on every start, and from several
    /// PostgreSQL replicas at once). Returns the versions applied now, oldest first.
    ///
    /// # Errors
    /// [`StorageError::Migrate`] (or [`StorageError::Connect`] when no connection can be had).
    pub fn migrate(&self) -> Result<Vec<String>, StorageError> {
        let applied = self.with_migration_conn(migrations::run_pending, migrate_error)?;
        if !applied.is_empty() {
            tracing::info!(url = %self.url, versions = ?applied, "database migrated");
        }
        Ok(applied)
    }

    /// The versions of the migrations embedded in this binary that the database has not applied
    /// yet, oldest first (empty: the schema is up to date). Read-only: it writes nothing, not
    /// even diesel's bookkeeping table on a fresh database, and takes no lock (on PostgreSQL
    /// neither the advisory lock of [`Self::migrate`]), so the answer is a snapshot.
    ///
    /// # Errors
    /// [`StorageError::MigrationStatus`] (or [`StorageError::Connect`] when no connection can be
    /// had).
    pub fn pending_migrations(&self) -> Result<Vec<String>, StorageError> {
        self.with_migration_conn(migrations::pending, |url, cause| StorageError::MigrationStatus {
            url,
            cause,
        })
    }

    /// On SQLite, folds the write-ahead log back into the database file and truncates it
    /// (`PRAGMA wal_checkpoint(TRUNCATE)`), so that the next start does not have to read a large
    /// WAL; the server calls it after its last request. A no-op on PostgreSQL.
    ///
    /// # Errors
    /// [`StorageError::Connect`] when no connection can be had or the checkpoint fails.
    pub fn checkpoint(&self) -> Result<(), StorageError> {
        use diesel::RunQueryDsl as _;
        if self.backend != Backend::Sqlite {
            return Ok(());
        }
        let fail = |e: &dyn fmt::Display| StorageError::Connect {
            url: self.url.to_string(),
            cause: e.to_string(),
        };
        let mut conn = self.pools.current().0.get().map_err(|e| fail(&e))?;
        if let pool::AnyConnection::Sqlite(c) = &mut conn.inner {
            diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(c)
                .map_err(|e| fail(&e))?;
        }
        Ok(())
    }

    /// Reverts every migration (drops every table): for tests and tooling, never the server.
    ///
    /// # Errors
    /// [`StorageError::Migrate`] (or [`StorageError::Connect`] when no connection can be had).
    pub fn revert_all(&self) -> Result<(), StorageError> {
        let reverted = self.with_migration_conn(migrations::revert_all, migrate_error)?;
        tracing::info!(url = %self.url, versions = ?reverted, "database migrations reverted");
        Ok(())
    }

    /// Connections open and idle.
    #[must_use]
    pub fn pool_state(&self) -> PoolState {
        use std::sync::atomic::Ordering::Relaxed;
        let pool = self.pools.current().0;
        let s = pool.state();
        PoolState {
            connections: s.connections,
            idle: s.idle_connections,
            max_size: pool.max_size(),
            waits: self.waits.waits.load(Relaxed),
            wait_seconds: std::time::Duration::from_micros(self.waits.wait_micros.load(Relaxed)).as_secs_f64(),
            timeouts: self.waits.timeouts.load(Relaxed),
            replacements: self.pools.replacements(),
        }
    }

    fn with_migration_conn(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<Vec<String>, migrations::MigrationError>,
        fail: fn(String, String) -> StorageError,
    ) -> Result<Vec<String>, StorageError> {
        let mut conn = self.pools.current().0.get().map_err(|e| StorageError::Connect {
            url: self.url.to_string(),
            cause: e.to_string(),
        })?;
        // Migrations (and their lock wait) are not held to the serving statement timeout: this
        // connection runs without one, then gets it back before it returns to the pool. (Not
        // dropped instead: the pool would reconnect in the background, and a short-lived CLI
        // command could exit while libpq is mid-handshake.)
        let set_timeout = |conn: &mut Conn, ms: u128| match &mut conn.inner {
            pool::AnyConnection::Postgresql(c) => {
                use diesel::connection::SimpleConnection as _;
                c.batch_execute(&format!("SET statement_timeout = {ms}"))
            }
            pool::AnyConnection::Sqlite(_) => Ok(()),
        };
        set_timeout(&mut conn, 0).map_err(|e| fail(self.url.to_string(), e.to_string()))?;
        let result = f(&mut conn).map_err(|e| {
            // Whatever state the failure left the connection in, it is not reused.
            conn.broken = true;
            fail(self.url.to_string(), e.to_string())
        });
        if set_timeout(&mut conn, self.statement_timeout.as_millis()).is_err() {
            conn.broken = true;
        }
        result
    }

    /// A connection of the current pool, and the registration of the unit of work that uses it
    /// (see `watchdog`: keep it alive as long as the connection is in use).
    fn conn(&self) -> StoreResult<(PooledConnection<Manager>, watchdog::Unit)> {
        use std::sync::atomic::Ordering::Relaxed;
        let (pool, generation) = self.pools.current();
        if let Some(c) = pool.try_get() {
            let unit = self.pools.start(generation, c.socket);
            return Ok((c, unit));
        }
        // Every connection is gone and a checkout timed out moments ago: the database is
        // unreachable. Answer at once instead of queueing behind another full timeout (the
        // pool keeps reconnecting in the background; the first connection back ends this).
        let last = self.waits.last_timeout.load(Relaxed);
        let timeout = u64::try_from(pool.connection_timeout().as_micros()).unwrap_or(u64::MAX);
        if last != 0 && pool.state().connections == 0 && self.waits.now_micros().saturating_sub(last) < timeout {
            self.waits.timeouts.fetch_add(1, Relaxed);
            return Err(StoreError::Unavailable(Opaque::new(UnreachableDatabase)));
        }
        let start = std::time::Instant::now();
        let got = pool.get();
        self.waits.waits.fetch_add(1, Relaxed);
        let micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.waits.wait_micros.fetch_add(micros, Relaxed);
        got.map(|c| {
            let unit = self.pools.start(generation, c.socket);
            (c, unit)
        })
        .map_err(|e| {
            self.waits.timeouts.fetch_add(1, Relaxed);
            self.waits.last_timeout.store(self.waits.now_micros(), Relaxed);
            StoreError::Unavailable(Opaque::new(e))
        })
    }
}

/// How many times [`DieselStore::transaction`] runs a unit of work again after the database
/// aborted it for a deadlock or a serialization failure. Lock order (see `domain::ports::Lock`)
/// makes a deadlock rare; this bounds what one can cost.
const MAX_TRANSACTION_RETRIES: u32 = 3;

fn migrate_error(url: String, cause: String) -> StorageError {
    StorageError::Migrate { url, cause }
}

/// Why a checkout was refused without waiting (see `DieselStore::conn`).
#[derive(Debug, thiserror::Error)]
#[error("the database is unreachable (no connection, and the last checkout timed out)")]
struct UnreachableDatabase;

/// Creates a new SQLite database file readable by its owner only (0600; SQLite gives its `-wal`
/// and `-shm` files the same mode): it holds sealed secrets and token hashes. An existing file is
/// left as it is.
fn create_private_file(path: &str, url: &str) -> Result<(), StorageError> {
    if path.starts_with("file:") || Path::new(path).exists() {
        return Ok(());
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(_) => Ok(()),
        // Created meanwhile by another process: theirs to own.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StorageError::Connect {
            url: url.to_owned(),
            cause: format!("cannot create the database file: {e}"),
        }),
    }
}

fn create_parent_dir(path: &str, url: &str) -> Result<(), StorageError> {
    // A `file:` URI is SQLite's to interpret; only plain paths get their directory made.
    if path.starts_with("file:") {
        return Ok(());
    }
    match Path::new(path).parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => {
            std::fs::create_dir_all(dir).map_err(|cause| StorageError::CreateDir {
                url: url.to_owned(),
                dir: dir.display().to_string(),
                cause,
            })
        }
        _ => Ok(()),
    }
}

impl Store for DieselStore {
    fn run<T, E: From<StoreError>>(&self, f: impl FnOnce(&mut dyn Repo) -> Result<T, E>) -> Result<T, E> {
        let (mut conn, _unit) = self.conn()?;
        f(&mut DieselRepo::new(&mut conn, false))
    }

    fn transaction<T, E: From<StoreError>>(&self, mut f: impl FnMut(&mut dyn Repo) -> Result<T, E>) -> Result<T, E> {
        let (mut conn, mut unit) = self.conn()?;
        let mut retries = 0;
        let mut reconnected = false;
        loop {
            conn.lost_race = false;
            conn.commit_sent = false;
            conn.lost_server = false;
            let result = in_transaction(&mut conn, |c| f(&mut DieselRepo::new(c, true)));
            // The connection was lost before COMMIT was sent: nothing of this unit was
            // committed, so it runs once more on a new connection (after a failover, on the new
            // primary). A failure at or after COMMIT is never run again: it may have committed.
            if result.is_err() && conn.lost_server && !conn.commit_sent && !reconnected {
                reconnected = true;
                tracing::info!("connection lost before the commit; running the transaction again on a new one");
                drop(conn);
                drop(unit);
                (conn, unit) = self.conn()?;
                continue;
            }
            // Rolled back because the database aborted it (deadlock, serialization failure):
            // nothing was changed, so the whole unit of work runs again on the same connection.
            if result.is_err() && conn.lost_race && !conn.broken && retries < MAX_TRANSACTION_RETRIES {
                retries += 1;
                tracing::debug!(retries, "transaction lost a race; running it again");
                std::thread::sleep(Duration::from_millis(2 * u64::from(retries)));
                continue;
            }
            if retries > 0 {
                tracing::info!(
                    retries,
                    ok = result.is_ok(),
                    "transaction ran again after losing a race"
                );
            }
            return result;
        }
    }

    fn ping(&self) -> StoreResult<()> {
        // Readiness probes have short timeouts of their own: answer within a second.
        let (pool, generation) = self.pools.current();
        let wait = pool.connection_timeout().min(Duration::from_secs(1));
        let mut conn = pool
            .get_timeout(wait)
            .map_err(|e| StoreError::Unavailable(Opaque::new(e)))?;
        let _unit = self.pools.start(generation, conn.socket);
        pool::ping_writable(&mut conn)
    }
}
