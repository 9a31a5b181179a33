//! Connections: the multi-backend connection type, the r2d2 manager that picks the backend by
//! URL scheme (so a connection failure keeps its real cause), the per-connection SQLite set-up,
//! transactions, and the mapping of diesel errors onto the domain's [`StoreError`].

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use diesel::connection::{AnsiTransactionManager, Connection, SimpleConnection, TransactionManager};
use diesel::r2d2::{CustomizeConnection, HandleError, ManageConnection, R2D2Connection};
use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind, Error as DieselError};
use diesel::{PgConnection, SqliteConnection};
use domain::error::Opaque;
use domain::ports::{ConflictKind, StoreError};

use crate::schema::{APP_IDENTITY_INDEX, HANDLE_INDEX};
use crate::url::scrub;

/// One connection to either backend. Every statement runs on the concrete connection (see
/// `db!` in `repo.rs`): the two variants are matched, never used through a common
/// `Connection` impl.
pub(crate) enum AnyConnection {
    /// PostgreSQL.
    Postgresql(PgConnection),
    /// SQLite (bundled).
    Sqlite(SqliteConnection),
}

/// A pooled connection: the connection, and whether a failure showed it to be unusable (so the
/// pool drops it instead of handing it out again).
pub(crate) struct Conn {
    pub(crate) inner: AnyConnection,
    pub(crate) broken: bool,
    /// Whether a statement failed because the database aborted the transaction to resolve a
    /// deadlock or a serialization failure (PostgreSQL): the transaction can be run again.
    pub(crate) lost_race: bool,
    /// Whether the current transaction's COMMIT was sent (a failure after that may have
    /// committed: the transaction is never run again).
    pub(crate) commit_sent: bool,
    /// Whether the server went away or turned read-only under this connection (a failover):
    /// a transaction that had not sent its COMMIT may run again on a new connection.
    pub(crate) lost_server: bool,
    /// PostgreSQL: the connection's socket, when it could be found (see `crate::socket`).
    pub(crate) socket: Option<crate::socket::SocketId>,
    /// SQLite only: the store's [`WriterGate`].
    gate: Option<Arc<WriterGate>>,
}

/// SQLite admits one writer at a time, and a connection that finds the write lock taken sleeps
/// in SQLite's busy handler (1 ms, then 2, 5, 10 ms...) whether or not the lock is released in
/// the meantime. Writers of this process first queue on this mutex instead, which hands the turn
/// over at once; the busy handler is left for writers of other processes (the CLI).
/// It also counts the writes, for the checkpoint thread ([`crate::checkpointer`]).
#[derive(Debug, Default)]
pub(crate) struct WriterGate {
    turn: Mutex<()>,
    writes: AtomicU64,
}

impl WriterGate {
    /// Waits for this process's turn to write, and counts the write.
    pub(crate) fn lock(&self) -> MutexGuard<'_, ()> {
        let turn = self.hold();
        self.writes.fetch_add(1, Ordering::Relaxed);
        turn
    }

    /// Waits for the turn without counting a write (the checkpoint thread).
    pub(crate) fn hold(&self) -> MutexGuard<'_, ()> {
        // The mutex guards no data, only the order of writers: a poisoned one is still fine.
        self.turn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Turns taken so far.
    pub(crate) fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }
}

impl Conn {
    /// On SQLite, waits for this process's turn to write (see [`WriterGate`]); `None` on
    /// PostgreSQL, where writers do not exclude each other.
    pub(crate) fn write_turn(gate: Option<&Arc<WriterGate>>) -> Option<MutexGuard<'_, ()>> {
        gate.map(|g| g.lock())
    }

    /// The gate of this connection (cloned, so that holding a turn does not borrow the
    /// connection).
    pub(crate) fn gate(&self) -> Option<Arc<WriterGate>> {
        self.gate.clone()
    }

    /// Maps a diesel error onto the port's error, remembering a lost connection (the pool
    /// then drops it instead of handing it out again; checkouts are not tested).
    pub(crate) fn fail(&mut self, e: DieselError) -> StoreError {
        let lost = matches!(
            e,
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection
                    | DatabaseErrorKind::UnableToSendCommand
                    | DatabaseErrorKind::ReadOnlyTransaction,
                _
            )
        ) || server_going_away(&e);
        if lost || statement_timed_out(&e) || matches!(e, DieselError::BrokenTransactionManager) {
            self.broken = true;
        }
        self.lost_server |= lost;
        if lost_race(&e) {
            self.lost_race = true;
        }
        map_error(e)
    }
}

/// Whether PostgreSQL said this connection's server is going away or cannot take writes: the
/// server shutting down or restarting (57P01-57P03, which diesel reports as `Unknown` unless the
/// socket closed first), a read-only transaction (25006, a demoted primary). Such a connection
/// is dropped, never handed out again; the request is a `503`.
pub(crate) fn server_going_away(e: &DieselError) -> bool {
    let DieselError::DatabaseError(DatabaseErrorKind::Unknown, info) = e else {
        return false;
    };
    let m = info.message();
    m.starts_with("terminating connection")
        || m.starts_with("the database system is")
        || m.starts_with("cannot execute") && m.contains("in a read-only transaction")
}

/// Whether the server cancelled the statement for its `statement_timeout` (57014): the
/// connection is dropped (its session may be in any state) and the request is a `503`; the
/// transaction is not run again (it could time out again).
pub(crate) fn statement_timed_out(e: &DieselError) -> bool {
    matches!(e, DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
        if info.message().starts_with("canceling statement due to statement timeout"))
}

/// The client port the server sees this connection come from (`None` over a Unix socket).
fn client_port(c: &mut PgConnection) -> Option<u16> {
    use diesel::RunQueryDsl as _;
    diesel::select(diesel::dsl::sql::<
        diesel::sql_types::Nullable<diesel::sql_types::Integer>,
    >("inet_client_port()"))
    .get_result::<Option<i32>>(c)
    .ok()
    .flatten()
    .and_then(|p| u16::try_from(p).ok())
}

/// Why a connection could not be made (already scrubbed of any password).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct ConnError(pub(crate) String);

/// Where the manager connects to.
#[derive(Clone)]
pub(crate) enum Target {
    /// A SQLite file path.
    Sqlite(String),
    /// A libpq URL (it may carry a password: never printed).
    Postgres(String),
}

/// The r2d2 manager: connects by scheme, so a failure is that backend's own error.
#[derive(Clone)]
pub(crate) struct Manager {
    pub(crate) target: Target,
    /// Forms of the URL's password, scrubbed from every driver message.
    pub(crate) passwords: Vec<String>,
    /// Shared by every SQLite connection of the pool.
    pub(crate) gate: Arc<WriterGate>,
    /// PostgreSQL: every connection's `statement_timeout`.
    pub(crate) statement_timeout: std::time::Duration,
    /// Held while a connection is made (see `connect`).
    pub(crate) connecting: Arc<Mutex<()>>,
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let backend = match self.target {
            Target::Sqlite(_) => "sqlite",
            Target::Postgres(_) => "postgres",
        };
        f.debug_struct("Manager")
            .field("backend", &backend)
            .finish_non_exhaustive()
    }
}

impl ManageConnection for Manager {
    type Connection = Conn;
    type Error = ConnError;

    fn connect(&self) -> Result<Conn, ConnError> {
        let (inner, socket) = match &self.target {
            Target::Sqlite(path) => (SqliteConnection::establish(path).map(AnyConnection::Sqlite), None),
            Target::Postgres(url) => {
                // One connect at a time per pool, so that the socket that appears is this
                // connection's even behind a proxy (other pools of the process are told apart
                // by the ports, see `crate::socket`).
                let _one_at_a_time = self.connecting.lock().unwrap_or_else(PoisonError::into_inner);
                let before = crate::socket::before();
                match PgConnection::establish(url) {
                    Ok(mut c) => {
                        let socket =
                            crate::socket::find(&before, &crate::socket::url_ports(url), || client_port(&mut c));
                        (Ok(AnyConnection::Postgresql(c)), socket)
                    }
                    Err(e) => (Err(e), None),
                }
            }
        };
        let inner = inner.map_err(|e| ConnError(scrub(&e.to_string(), &self.passwords)))?;
        let gate = matches!(inner, AnyConnection::Sqlite(_)).then(|| Arc::clone(&self.gate));
        let mut conn = Conn {
            inner,
            broken: false,
            lost_race: false,
            commit_sent: false,
            lost_server: false,
            socket,
            gate,
        };
        if let AnyConnection::Postgresql(c) = &mut conn.inner {
            // Bounds every statement on a server that still answers (a lock wait, a slow plan);
            // a server that stopped answering is the watchdog's.
            let ms = self.statement_timeout.as_millis();
            c.batch_execute(&format!("SET statement_timeout = {ms}"))
                .map_err(|e| ConnError(scrub(&e.to_string(), &self.passwords)))?;
            if conn.socket.is_none() {
                tracing::debug!(
                    "the socket of a new database connection was not found; a hang is bounded by the pool replacement and the request deadline"
                );
            }
        }
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), ConnError> {
        let pinged = match &mut conn.inner {
            AnyConnection::Sqlite(c) => c.batch_execute("SELECT 1"),
            AnyConnection::Postgresql(c) => c.batch_execute("SELECT 1"),
        };
        pinged.map_err(|e| ConnError(scrub(&e.to_string(), &self.passwords)))
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.broken
            || match &mut conn.inner {
                AnyConnection::Sqlite(c) => c.is_broken(),
                AnyConnection::Postgresql(c) => c.is_broken(),
            }
    }
}

/// Statements run on every new SQLite connection, each on its own: the busy timeout first (so
/// the others wait for a lock instead of failing), then WAL (checkpointed by the store's own
/// thread, see [`crate::checkpointer`], not by the commit that fills it), then foreign keys (off
/// by default in SQLite).
pub(crate) const SQLITE_PRAGMAS: [&str; 5] = [
    "PRAGMA busy_timeout = 5000",
    "PRAGMA journal_mode = WAL",
    "PRAGMA wal_autocheckpoint = 0",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
];

/// Per-connection set-up (r2d2 calls it once for every new connection).
#[derive(Debug)]
pub(crate) struct OnAcquire;

impl CustomizeConnection<Conn, ConnError> for OnAcquire {
    fn on_acquire(&self, conn: &mut Conn) -> Result<(), ConnError> {
        if let AnyConnection::Sqlite(c) = &mut conn.inner {
            for pragma in SQLITE_PRAGMAS {
                execute_while_locked(c, pragma, std::time::Duration::from_secs(5))
                    .map_err(|e| ConnError(format!("{pragma}: {e}")))?;
            }
        }
        Ok(())
    }
}

/// Runs `sql`, retrying for up to `limit` while SQLite answers "database is locked".
///
/// The busy timeout makes most statements wait for a lock, but not `PRAGMA journal_mode = WAL`
/// on a brand-new database that another process is switching to WAL at the same moment (several
/// `authd` processes started together on a fresh file, e.g. a token command while `serve`
/// starts): SQLite answers busy at once there instead of calling the busy handler (it does not
/// wait for a lock upgrade from inside a read, to avoid a deadlock). The other process is done
/// within milliseconds, after which the pragma finds the database in WAL mode already.
fn execute_while_locked(c: &mut SqliteConnection, sql: &str, limit: std::time::Duration) -> Result<(), DieselError> {
    let deadline = std::time::Instant::now() + limit;
    let mut pause = std::time::Duration::from_millis(2);
    loop {
        match c.batch_execute(sql) {
            Err(DieselError::DatabaseError(_, info))
                if info.message().contains("database is locked") && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// Logs the pool's background connection failures through `tracing` (messages are scrubbed).
#[derive(Debug)]
pub(crate) struct LogErrors;

impl HandleError<ConnError> for LogErrors {
    fn handle_error(&self, error: ConnError) {
        tracing::warn!(error = %error, "database connection failed");
    }
}

/// Runs `f` in one transaction: `BEGIN IMMEDIATE` on SQLite (the write lock is taken up front,
/// so the transaction never fails on a lock upgrade), a plain `BEGIN` on PostgreSQL. Commits
/// when `f` returns `Ok`, rolls back otherwise.
pub(crate) fn in_transaction<T, E: From<StoreError>>(
    conn: &mut Conn,
    f: impl FnOnce(&mut Conn) -> Result<T, E>,
) -> Result<T, E> {
    let gate = conn.gate();
    let _turn = Conn::write_turn(gate.as_ref());
    let begun = match &mut conn.inner {
        AnyConnection::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE"),
        AnyConnection::Postgresql(c) => AnsiTransactionManager::begin_transaction(c),
    };
    begun.map_err(|e| E::from(conn.fail(e)))?;
    match f(conn) {
        Ok(value) => {
            conn.commit_sent = true;
            // On a failed COMMIT the transaction manager rolls back (or marks itself broken).
            let committed = match &mut conn.inner {
                AnyConnection::Sqlite(c) => AnsiTransactionManager::commit_transaction(c),
                AnyConnection::Postgresql(c) => AnsiTransactionManager::commit_transaction(c),
            };
            committed.map_err(|e| E::from(conn.fail(e)))?;
            Ok(value)
        }
        Err(e) => {
            let rolled_back = match &mut conn.inner {
                AnyConnection::Sqlite(c) => AnsiTransactionManager::rollback_transaction(c),
                AnyConnection::Postgresql(c) => AnsiTransactionManager::rollback_transaction(c),
            };
            if let Err(re) = rolled_back {
                // The caller's error wins; the connection is not reused.
                tracing::warn!(error = %re, "rollback failed; dropping the connection");
                conn.broken = true;
            }
            Err(e)
        }
    }
}

/// Whether the database takes writes: `SELECT 1` on SQLite; on PostgreSQL, a server in
/// recovery (a standby, a demoted primary) is not ready.
pub(crate) fn ping_writable(conn: &mut Conn) -> Result<(), StoreError> {
    use diesel::RunQueryDsl as _;
    let pinged = match &mut conn.inner {
        AnyConnection::Sqlite(c) => c.batch_execute("SELECT 1"),
        AnyConnection::Postgresql(c) => {
            match diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>("pg_is_in_recovery()"))
                .get_result::<bool>(c)
            {
                Ok(false) => Ok(()),
                Ok(true) => {
                    conn.broken = true;
                    return Err(StoreError::Unavailable(Opaque::new(ReadOnlyServer)));
                }
                Err(e) => Err(e),
            }
        }
    };
    pinged.map_err(|e| match conn.fail(e) {
        StoreError::Other(o) => StoreError::Unavailable(o),
        other => other,
    })
}

/// A readiness check reached a server in recovery.
#[derive(Debug, thiserror::Error)]
#[error("the database server is in recovery (read-only)")]
struct ReadOnlyServer;

/// Diesel error → port error: unique violations become [`StoreError::Conflict`] with the rule
/// that was hit, a lost connection or a lock wait that timed out [`StoreError::Unavailable`],
/// everything else [`StoreError::Other`].
pub(crate) fn map_error(e: DieselError) -> StoreError {
    match &e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            StoreError::Conflict(conflict_kind(info.as_ref()))
        }
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand, _) => {
            StoreError::Unavailable(Opaque::new(e))
        }
        // SQLITE_BUSY after the busy timeout: the database is there but cannot serve us in time.
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
            if info.message().contains("database is locked") =>
        {
            StoreError::Unavailable(Opaque::new(e))
        }
        DieselError::BrokenTransactionManager => StoreError::Unavailable(Opaque::new(e)),
        DieselError::DatabaseError(DatabaseErrorKind::ReadOnlyTransaction, _) => {
            StoreError::Unavailable(Opaque::new(e))
        }
        _ if server_going_away(&e) || statement_timed_out(&e) => StoreError::Unavailable(Opaque::new(e)),
        // Retried by `DieselStore::transaction`; when the retries run out, the request may
        // still succeed later.
        _ if lost_race(&e) => StoreError::Unavailable(Opaque::new(e)),
        _ => StoreError::Other(Opaque::new(e)),
    }
}

/// Whether PostgreSQL aborted the transaction to break a deadlock (SQLSTATE 40P01, which diesel
/// does not classify: its fixed message is the one mark) or because it could not serialize it
/// (40001).
pub(crate) fn lost_race(e: &DieselError) -> bool {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => true,
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, info) => info.message().starts_with("deadlock detected"),
        _ => false,
    }
}

/// Which uniqueness rule a violation hit: PostgreSQL names the index, SQLite the columns
/// (`UNIQUE constraint failed: identities.org_id, identities.handle`).
fn conflict_kind(info: &(dyn DatabaseErrorInformation + Send + Sync)) -> ConflictKind {
    let constraint = info.constraint_name().unwrap_or_default();
    let message = info.message();
    if constraint == HANDLE_INDEX || message.contains("identities.handle") {
        ConflictKind::HandleTaken
    } else if constraint == APP_IDENTITY_INDEX || message.contains("apps.identity_id") {
        ConflictKind::IdentityHasApp
    } else {
        ConflictKind::Unique
    }
}
