//! `authd serve`: the HTTP server with graceful shutdown on SIGINT and SIGTERM.

use std::sync::{Arc, Mutex, PoisonError};

use actix_web::HttpServer;
use anyhow::Context as _;
use domain::Authd;
use domain::keys::{HEARTBEAT_SECONDS, KeyError, KeyId, ReplicaBeat, SEAL_LEASE_SECONDS, SealedCounts};
use domain::service::{Beat, RetentionDays};
use storage_diesel::DieselStore;

use crate::cli::ServeOpts;
use crate::config::{ConfigError, DbConfig};
use crate::lease::{self, LeasedCipher};

/// Seconds in-flight requests get to finish after a stop signal.
const DRAIN_SECONDS: u64 = 10;

/// Between "stop accepting" and "stop": time for accepted connections to start their requests.
const PAUSE_BEFORE_STOP: std::time::Duration = std::time::Duration::from_millis(500);

/// How often the audit purge runs (when a retention is set).
const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Purges audit events past the retention, now and then every [`PURGE_EVERY`], on a thread of
/// its own (it never holds up a request). Every replica may run it: each purge is one
/// statement, and a second one finds nothing left to delete.
fn start_purger(authd: Arc<Authd<DieselStore>>, days: RetentionDays) {
    let spawned = std::thread::Builder::new().name("audit-purge".into()).spawn(move || {
        loop {
            match authd.purge_audit_events(days) {
                Ok(n) => tracing::info!(deleted = n, days = days.get(), "purged audit events past the retention"),
                Err(e) => tracing::warn!(error = %e, "could not purge audit events; trying again later"),
            }
            std::thread::sleep(PURGE_EVERY);
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the audit purge thread");
    }
}

/// Every how many heartbeats the sealed-value counts of `/metrics` are read again (a scan of
/// the accounts: about every 30 s).
const COUNT_EVERY_BEATS: u32 = 6;

/// This replica in the `replicas` table: its heartbeat, and whether it has stopped (after which
/// it never beats again, so its row, once removed, stays removed).
struct Replica {
    beat: ReplicaBeat,
    stopped: bool,
}

/// What `/metrics` shows of the keyring: the primary and the values under each key, as last
/// read by the heartbeat.
#[derive(Default)]
struct KeyGauges {
    primary: Option<KeyId>,
    counts: Option<SealedCounts>,
}

/// Registers this replica (refusing to start when the database's primary is not in its ring)
/// and starts its heartbeat thread, which adopts a newly promoted primary and renews the seal
/// lease (see `lease.rs`): after a failed heartbeat the lease runs out within
/// [`SEAL_LEASE_SECONDS`]; when the recorded primary is not in the ring it ends at once.
fn start_replica(
    authd: &Arc<Authd<DieselStore>>,
    cipher: &Arc<LeasedCipher>,
    gauges: &Arc<Mutex<KeyGauges>>,
) -> anyhow::Result<Arc<Mutex<Replica>>> {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned());
    let now = domain::time::Timestamp::from_offset(time::OffsetDateTime::now_utc());
    let mut beat = ReplicaBeat {
        id: domain::ports::IdGenerator::new_uuid(&domain::system::UuidV7).to_string(),
        host,
        pid: std::process::id(),
        started_at: now,
        seen_at: now,
        keys: Vec::new(),
        sealing: KeyId::legacy(),
    };
    let primary = authd.register_replica(&mut beat).map_err(|e| match e {
        KeyError::PrimaryNotHeld { .. } => anyhow::Error::new(ConfigError(format!("refusing to start: {e}"))),
        other => anyhow::Error::new(other).context("cannot register this replica"),
    })?;
    cipher.renew(lease::now() + SEAL_LEASE_SECONDS);
    tracing::info!(replica = %beat.id, primary = %primary, keys = ?beat.keys.iter().map(KeyId::as_str).collect::<Vec<_>>(), "sealing new secrets under the primary key");
    let replica = Arc::new(Mutex::new(Replica { beat, stopped: false }));
    let (authd, mine, gauges, cipher) = (authd.clone(), replica.clone(), gauges.clone(), cipher.clone());
    let spawned = std::thread::Builder::new().name("key-heartbeat".into()).spawn(move || {
        let mut n: u32 = 0;
        let mut warned: Option<KeyId> = None;
        loop {
            if n.is_multiple_of(COUNT_EVERY_BEATS) {
                match authd.key_status() {
                    Ok(s) => {
                        let mut g = gauges.lock().unwrap_or_else(PoisonError::into_inner);
                        g.primary = s.primary;
                        g.counts = Some(s.sealed);
                    }
                    Err(e) => tracing::warn!(error = %e, "could not count the sealed values"),
                }
            }
            n = n.wrapping_add(1);
            std::thread::sleep(std::time::Duration::from_secs(HEARTBEAT_SECONDS.unsigned_abs()));
            let mut r = mine.lock().unwrap_or_else(PoisonError::into_inner);
            if r.stopped {
                return;
            }
            let started = lease::now();
            let beat = authd.heartbeat(&mut r.beat);
            if matches!(beat, Ok(Beat::Sealing { .. })) {
                cipher.renew(started + SEAL_LEASE_SECONDS);
            }
            match beat {
                Ok(Beat::Sealing { primary, switched: true }) => {
                    tracing::warn!(primary = %primary, "a new primary key was promoted: sealing new secrets under it");
                    gauges.lock().unwrap_or_else(PoisonError::into_inner).primary = Some(primary);
                    warned = None;
                }
                Ok(Beat::Sealing { .. }) => warned = None,
                Ok(Beat::PrimaryNotHeld { primary }) => {
                    cipher.end();
                    if warned.as_ref() != Some(&primary) {
                        tracing::error!(
                            primary = %primary,
                            "the primary key recorded in the database is not in this replica's keyring: it seals nothing (new accounts answer 500) until the key is added and the replica restarted"
                        );
                        warned = Some(primary);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "heartbeat failed; trying again"),
            }
        }
    });
    if let Err(e) = spawned {
        anyhow::bail!("could not start the heartbeat thread: {e}");
    }
    Ok(replica)
}

/// This replica stops: no more heartbeats, its row goes.
fn stop_replica(authd: &Authd<DieselStore>, replica: &Mutex<Replica>) {
    let mut r = replica.lock().unwrap_or_else(PoisonError::into_inner);
    r.stopped = true;
    if let Err(e) = authd.unregister_replica(&r.beat.id) {
        tracing::warn!(error = %e, "could not remove this replica's heartbeat; it expires by itself");
    }
}

/// The keyring's series for `/metrics`.
fn key_metrics(gauges: &Mutex<KeyGauges>, out: &mut String) {
    use std::fmt::Write as _;
    let g = gauges.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(primary) = &g.primary {
        let _ = writeln!(
            out,
            "# HELP authd_key_primary_info The primary master key (the one new secrets are sealed under).\n\
             # TYPE authd_key_primary_info gauge\nauthd_key_primary_info{{key_id=\"{primary}\"}} 1"
        );
    }
    if let Some(c) = &g.counts {
        let _ = writeln!(
            out,
            "# HELP authd_sealed_values Stored secrets sealed under each master key (read about every 30 s).\n\
             # TYPE authd_sealed_values gauge"
        );
        for (k, n) in &c.by_key {
            let _ = writeln!(out, "authd_sealed_values{{key_id=\"{k}\"}} {n}");
        }
        let _ = writeln!(out, "authd_sealed_values{{key_id=\"\"}} {}", c.unknown);
    }
}

/// Serves until SIGINT or SIGTERM, then drains in-flight requests.
///
/// # Errors
/// When the address cannot be bound or the runtime fails.
pub fn serve(
    authd: Arc<Authd<DieselStore>>,
    cipher: &Arc<LeasedCipher>,
    db: &DbConfig,
    opts: &ServeOpts,
) -> anyhow::Result<()> {
    let workers = opts.workers.map_or_else(
        || std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        |w| usize::try_from(w).unwrap_or(usize::MAX),
    );
    let bind = opts.bind.clone();
    let url = storage_diesel::redact_url(&db.url);
    let store = authd.store().clone();
    let blocking_threads = blocking_threads(store.pool_state().max_size, workers);
    let deadline = std::time::Duration::from_millis(opts.request_timeout_ms);
    if deadline < db.pool.unit_deadline() {
        anyhow::bail!(
            "--request-timeout-ms {} must exceed --db-statement-timeout-ms by at least a second",
            opts.request_timeout_ms
        );
    }
    http_actix::set_request_deadline(deadline);
    let gauges = Arc::new(Mutex::new(KeyGauges::default()));
    let replica = start_replica(&authd, cipher, &gauges)?;
    http_actix::metrics::set_extra(move |out| {
        pool_metrics(&store, out);
        key_metrics(&gauges, out);
    });
    if let Some(days) = opts.audit_retention_days.and_then(RetentionDays::new) {
        start_purger(authd.clone(), days);
    }
    actix_web::rt::System::new().block_on(async move {
        let data = authd.clone();
        let server = HttpServer::new(move || http_actix::app(data.clone()))
            .workers(workers)
            .worker_max_blocking_threads(blocking_threads)
            .disable_signals()
            .shutdown_timeout(DRAIN_SECONDS)
            .bind(&bind)
            .with_context(|| format!("cannot listen on {bind}"))?
            .run();
        let handle = server.handle();
        actix_web::rt::spawn(async move {
            wait_for_signal().await;
            tracing::info!("stop signal received; draining in-flight requests");
            // Stop accepting first, and give the workers a moment to start the requests on
            // connections they have already accepted: a graceful stop only waits for requests
            // in progress, and would drop those still queued.
            handle.pause().await;
            actix_web::rt::time::sleep(PAUSE_BEFORE_STOP).await;
            handle.stop(true).await;
        });
        tracing::info!(bind = %bind, database = %url, workers, "authd listening");
        let served = server.await.context("server failed");
        stop_replica(&authd, &replica);
        served?;
        if let Err(e) = authd.store().checkpoint() {
            tracing::warn!(error = %e, "could not checkpoint the database on the way out");
        }
        tracing::info!("authd stopped");
        Ok(())
    })
}

/// Threads of each worker's blocking pool (where the use cases run): the pool's connections
/// shared among the workers (at least one each).
///
/// More threads than connections would only park on the pool's condition variable and be woken
/// again, a context switch each way per request, and not in arrival order; with as many, a queued
/// use case is picked up by a thread that has just finished one. (Measured on SQLite: about a
/// third more requests per second on 2 cores, see docs/PERFORMANCE.md.) When the database is
/// unreachable, the queue does not wait out one connection timeout per connection in turn: once a
/// checkout has timed out and no connection is left, the store refuses at once (503) until a
/// connection is back.
fn blocking_threads(pool_max: u32, workers: usize) -> usize {
    usize::try_from(pool_max)
        .unwrap_or(usize::MAX)
        .div_ceil(workers.max(1))
        .max(1)
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {},
        _ = term.recv() => {},
    }
}

/// The database pool's series for `/metrics`.
fn pool_metrics(store: &DieselStore, out: &mut String) {
    use std::fmt::Write as _;
    let s = store.pool_state();
    let series: [(&str, &str, &str, String); 7] = [
        (
            "authd_db_pool_connections",
            "gauge",
            "Database connections open (idle or in use).",
            s.connections.to_string(),
        ),
        (
            "authd_db_pool_idle_connections",
            "gauge",
            "Database connections idle.",
            s.idle.to_string(),
        ),
        (
            "authd_db_pool_max_connections",
            "gauge",
            "The pool's maximum size.",
            s.max_size.to_string(),
        ),
        (
            "authd_db_pool_waits_total",
            "counter",
            "Checkouts that found no idle connection and waited.",
            s.waits.to_string(),
        ),
        (
            "authd_db_pool_wait_seconds_total",
            "counter",
            "Time spent waiting for a connection.",
            s.wait_seconds.to_string(),
        ),
        (
            "authd_db_pool_timeouts_total",
            "counter",
            "Checkouts that timed out (answered 503).",
            s.timeouts.to_string(),
        ),
        (
            "authd_db_pool_replacements_total",
            "counter",
            "Times the pool was replaced because the database stopped answering (a unit of work outlived the statement timeout by a second).",
            s.replacements.to_string(),
        ),
    ];
    for (name, kind, help, value) in series {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    }
}
