//! The pool, replaceable: a bound on how long a unit of work may hang on PostgreSQL.
//!
//! A server that stops answering while its host's kernel still acknowledges (a stopped process,
//! a hung machine whose network stack still runs) defeats every socket-level bound: keepalives
//! are answered, sent data is acknowledged, and a statement waits for a reply forever. The
//! server's own `statement_timeout` cannot fire either. So every unit of work registers here
//! while it holds a connection, and a watchdog thread looks every [`TICK`]: when a unit of the
//! current pool has run longer than the deadline, the pool is replaced by a new one (the same
//! URL, so libpq's `target_session_attrs=read-write` finds the writable host of a multi-host URL
//! again). Units that hang on the old pool's connections stay stuck until their socket dies,
//! but nothing new is handed those connections; the request that waits for one is answered by
//! the HTTP adapter's own deadline (a `503` with `Retry-After`). The old pool is dropped with
//! its last connection.
//!
//! Healthy databases never trip it: the deadline is above the server-side `statement_timeout`
//! that every connection sets (see `pool::OnAcquire`), so a slow statement is cancelled by the
//! server before the watchdog would act.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use diesel::r2d2::Pool;

use crate::pool::Manager;
use crate::socket::SocketId;

/// How often the watchdog looks.
pub(crate) const TICK: Duration = Duration::from_millis(100);

/// The current pool, its generation, and the units of work running.
pub(crate) struct Pools {
    current: RwLock<(Pool<Manager>, u64)>,
    make: Box<dyn Fn() -> Pool<Manager> + Send + Sync>,
    running: Mutex<HashMap<u64, Running>>,
    next_unit: AtomicU64,
    /// How long a unit may run before its pool is replaced (`None`: never, SQLite).
    deadline: Option<Duration>,
    replaced: AtomicU64,
}

/// A unit of work running: since when, on which generation, on which socket.
#[derive(Clone, Copy)]
struct Running {
    since: Instant,
    generation: u64,
    socket: Option<SocketId>,
    /// Whether its socket was shut down already.
    cut: bool,
}

/// A registered unit of work: unregistered when dropped.
pub(crate) struct Unit {
    pools: Option<Arc<Pools>>,
    id: u64,
}

impl Drop for Unit {
    fn drop(&mut self) {
        if let Some(p) = &self.pools {
            p.running
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&self.id);
        }
    }
}

impl Pools {
    /// `first` serves until a unit outlives `deadline`; then `make` builds its successor. With
    /// a deadline, a watchdog thread runs until the last clone of the returned `Arc` is gone.
    pub(crate) fn new(
        first: Pool<Manager>,
        make: Box<dyn Fn() -> Pool<Manager> + Send + Sync>,
        deadline: Option<Duration>,
    ) -> Arc<Self> {
        let pools = Arc::new(Self {
            current: RwLock::new((first, 0)),
            make,
            running: Mutex::default(),
            next_unit: AtomicU64::new(0),
            deadline,
            replaced: AtomicU64::new(0),
        });
        if let Some(deadline) = deadline {
            let weak = Arc::downgrade(&pools);
            let spawned = std::thread::Builder::new()
                .name("authd-db-watchdog".to_owned())
                .spawn(move || watch(&weak, deadline));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start the database watchdog; hung connections are not bounded");
            }
        }
        pools
    }

    /// The current pool (a cheap clone) and its generation.
    pub(crate) fn current(&self) -> (Pool<Manager>, u64) {
        let guard = self.current.read().unwrap_or_else(PoisonError::into_inner);
        (guard.0.clone(), guard.1)
    }

    /// Registers a unit of work running on a connection (of pool generation `generation`, on
    /// `socket`).
    pub(crate) fn start(self: &Arc<Self>, generation: u64, socket: Option<SocketId>) -> Unit {
        if self.deadline.is_none() {
            return Unit { pools: None, id: 0 };
        }
        let id = self.next_unit.fetch_add(1, Relaxed);
        let running = Running {
            since: Instant::now(),
            generation,
            socket,
            cut: false,
        };
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, running);
        Unit {
            pools: Some(Arc::clone(self)),
            id,
        }
    }

    /// How many times the pool was replaced.
    pub(crate) fn replacements(&self) -> u64 {
        self.replaced.load(Relaxed)
    }

    /// Replaces the pool when a unit of the current generation outlived `deadline` (so that
    /// nothing new is handed its connections), then shuts down the sockets of every unit that
    /// outlived it (they wake with a lost connection and are dropped).
    fn check(&self, deadline: Duration) {
        let generation = self.current.read().unwrap_or_else(PoisonError::into_inner).1;
        let overdue: Vec<Option<SocketId>> = {
            let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
            let mut current = false;
            let sockets = running
                .values_mut()
                .filter(|u| u.since.elapsed() > deadline && !u.cut)
                .map(|u| {
                    u.cut = true;
                    current |= u.generation == generation;
                    u.socket
                })
                .collect();
            if current {
                self.replace(generation, deadline);
            }
            sockets
        };
        for socket in overdue {
            let cut = socket.is_some_and(crate::socket::shut_down);
            tracing::warn!(
                socket_shut_down = cut,
                "a database call outlived its deadline; its connection is cut"
            );
        }
    }

    fn replace(&self, generation: u64, deadline: Duration) {
        let fresh = (self.make)();
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if current.1 == generation {
            *current = (fresh, generation + 1);
            self.replaced.fetch_add(1, Relaxed);
            tracing::warn!(
                deadline_ms = u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX),
                "the database stopped answering: connection pool replaced"
            );
        }
    }
}

fn watch(pools: &Weak<Pools>, deadline: Duration) {
    loop {
        std::thread::sleep(TICK);
        let Some(p) = pools.upgrade() else { return };
        p.check(deadline);
    }
}
