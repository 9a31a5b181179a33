//! The SQLite write-ahead log is folded back into the database file by a thread of its own.
//!
//! By default SQLite runs a checkpoint inside the commit that takes the log past 1,000 pages:
//! that request then copies the pages and waits for two `fsync`s, and with the writers of this
//! process queued on the [`WriterGate`] every one of them would wait as well. The pool's
//! connections therefore turn the automatic checkpoint off (`PRAGMA wal_autocheckpoint = 0`),
//! and this thread, after every [`EVERY_WRITES`] writes (or within a second of the last ones):
//!
//! 1. runs a `PASSIVE` checkpoint on its own connection, outside the gate: the bulk of the log
//!    is copied and synced while readers and writers carry on;
//! 2. then takes the writers' turn and runs it again: only the pages appended meanwhile remain
//!    to copy, and when it returns the whole log is in the database file, so the next writer
//!    starts the log over from its beginning instead of growing it (a checkpoint that never
//!    catches up with the writers would let it grow without bound).

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection as _;
use diesel::{Connection as _, SqliteConnection};

use crate::pool::WriterGate;

/// How often the thread looks at the write count.
const TICK: Duration = Duration::from_millis(50);
/// Writes after which the log is checkpointed (a write appends a few pages: a few MB of log).
pub(crate) const EVERY_WRITES: u64 = 300;
/// Fewer writes are checkpointed after this long.
const AT_LEAST_EVERY: Duration = Duration::from_secs(1);

/// The running checkpoint thread; dropping it stops the thread and waits for it (so that its
/// connection is closed when the store is gone).
#[derive(Debug)]
pub(crate) struct Checkpointer {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread on a connection of its own to the SQLite file `path`.
    ///
    /// # Errors
    /// The driver's message when the connection cannot be opened or the thread not started.
    pub(crate) fn start(path: &str, gate: Arc<WriterGate>) -> Result<Self, String> {
        let mut conn = SqliteConnection::establish(path).map_err(|e| e.to_string())?;
        conn.batch_execute("PRAGMA busy_timeout = 1000")
            .map_err(|e| e.to_string())?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                let mut done = gate.writes();
                let mut last = Instant::now();
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(TICK) {
                    let writes = gate.writes();
                    let pending = writes.wrapping_sub(done);
                    if pending >= EVERY_WRITES || (pending > 0 && last.elapsed() >= AT_LEAST_EVERY) {
                        checkpoint(&mut conn, &gate);
                        done = writes;
                        last = Instant::now();
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

fn checkpoint(conn: &mut SqliteConnection, gate: &WriterGate) {
    let run = |conn: &mut SqliteConnection| {
        if let Err(e) = conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE)") {
            tracing::debug!(error = %e, "WAL checkpoint skipped");
        }
    };
    run(conn);
    let _turn = gate.hold();
    run(conn);
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
