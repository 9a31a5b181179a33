//! Crash durability: SIGKILL under a write load; every write acknowledged with `201` survives
//! the restart.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{APPS, Cli, HttpError, PgDb, Req, ServeOpts, Server, new_master_key, sqlite_integrity, str_field};

const THREADS: usize = 4;
/// Iterations per thread and round (each: one app, one account in it).
const MAX_ITERATIONS: usize = 150;
/// Kill once this many writes of the round have been acknowledged (by round: different points
/// of the WAL's life, e.g. around an automatic checkpoint)...
const KILL_AFTER_ACKS: [usize; 3] = [150, 400, 800];
/// ...or after this long.
const KILL_AFTER: Duration = Duration::from_secs(4);

#[derive(Default)]
struct Acked {
    apps: Vec<String>,
    accounts: Vec<(String, String)>,
}

/// One round: load, SIGKILL mid-load, and the acknowledged writes of the round.
fn load_and_kill(server: &mut Server, token: &str, round: usize) -> Acked {
    let acked = Mutex::new(Acked::default());
    let ack_count = AtomicUsize::new(0);
    let killed = AtomicBool::new(false);
    let unexpected = Mutex::new(Vec::<String>::new());
    let addr = server.addr;
    let round_start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (acked, ack_count, killed, unexpected) = (&acked, &ack_count, &killed, &unexpected);
            s.spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(20);
                // Outcome of one request: Some(body) on 201, None when the server is gone.
                let call = |req: Req| -> Option<serde_json::Value> {
                    let desc = req.describe();
                    match req.token(token).timeout(Duration::from_secs(10)).send(addr) {
                        Ok(r) if r.status == 201 => Some(r.json()),
                        // Once the server is killed its port is free: another test's server
                        // may answer there.
                        Ok(_) if killed.load(Ordering::SeqCst) => None,
                        Ok(r) => {
                            // A complete non-201 answer from our server is never expected.
                            unexpected
                                .lock()
                                .expect("lock")
                                .push(format!("{} {} for {desc}", r.status, r.text()));
                            None
                        }
                        Err(e) => {
                            if !killed.load(Ordering::SeqCst) {
                                unexpected
                                    .lock()
                                    .expect("lock")
                                    .push(format!("{e:?} before the kill, for {desc}"));
                            }
                            None
                        }
                    }
                };
                for i in 0..MAX_ITERATIONS {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let Some(app) = call(Req::post(APPS).json(&json!({}))) else {
                        break;
                    };
                    let app = str_field(&app, "id");
                    acked.lock().expect("lock").apps.push(app.clone());
                    ack_count.fetch_add(1, Ordering::SeqCst);
                    let uri = format!("otpauth://totp/Crash:r{round}t{t}i{i}?secret=JBSWY3DPEHPK3PXP&issuer=Crash");
                    let Some(acc) =
                        call(Req::post(format!("{APPS}/{app}/accounts")).json(&json!({"otpauth_uri": uri})))
                    else {
                        break;
                    };
                    acked.lock().expect("lock").accounts.push((app, str_field(&acc, "id")));
                    ack_count.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
        while ack_count.load(Ordering::SeqCst) < KILL_AFTER_ACKS[round % 3] && round_start.elapsed() < KILL_AFTER {
            std::thread::sleep(Duration::from_millis(5));
        }
        killed.store(true, Ordering::SeqCst);
        server.proc.kill9();
    });
    let unexpected = unexpected.into_inner().expect("lock");
    assert!(
        unexpected.is_empty(),
        "round {round}: unexpected outcomes under load: {unexpected:#?}"
    );
    let acked = acked.into_inner().expect("lock");
    eprintln!(
        "round {round}: SIGKILL after {:?}; {} apps and {} accounts acknowledged",
        round_start.elapsed(),
        acked.apps.len(),
        acked.accounts.len()
    );
    assert!(
        !acked.apps.is_empty(),
        "round {round}: the load acknowledged nothing before the kill"
    );
    acked
}

/// Every acknowledged write is readable on the restarted server.
fn verify(server: &Server, token: &str, all: &Acked, round: usize) {
    let api = server.api(token);
    for app in &all.apps {
        let r = api.get(&format!("{APPS}/{app}"));
        assert_eq!(
            r.status,
            200,
            "round {round}: acknowledged app {app} after restart: {} {}",
            r.status,
            r.text()
        );
    }
    for (app, acc) in &all.accounts {
        let r = api.get(&format!("{APPS}/{app}/accounts/{acc}"));
        assert_eq!(
            r.status,
            200,
            "round {round}: acknowledged account {acc} (app {app}) after restart: {} {}",
            r.status,
            r.text()
        );
    }
    // And the restarted server takes writes.
    api.create_app(None);
}

fn crash_rounds(db_url: &str, dir: &Path, rounds: usize, sqlite_file: Option<&Path>) {
    let key = new_master_key();
    let opts = ServeOpts::new(db_url, &key, dir, "crash");
    let mut server = Server::start(&opts);
    let cli = Cli {
        db_url: db_url.to_owned(),
        master_key: key.clone(),
        cwd: dir.to_owned(),
    };
    let token = cli.token_create("org_crash", None);
    let mut all = Acked::default();
    for round in 0..rounds {
        let acked = load_and_kill(&mut server, &token, round);
        all.apps.extend(acked.apps);
        all.accounts.extend(acked.accounts);
        if let Err(e) = Req::get("/healthz").timeout(Duration::from_secs(1)).send(server.addr) {
            assert!(matches!(e, HttpError::Connect(_)), "the killed server is gone: {e:?}");
        }
        server = Server::start(&opts);
        verify(&server, &token, &all, round);
        if let Some(file) = sqlite_file
            && let Some(check) = sqlite_integrity(file)
        {
            assert_eq!(check, "ok", "round {round}: PRAGMA integrity_check");
        }
    }
}

#[test]
fn sigkill_under_write_load_loses_no_acknowledged_write_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("authd.sqlite");
    let url = format!("sqlite://{}", file.display());
    crash_rounds(&url, dir.path(), 3, Some(&file));
}

#[test]
fn sigkill_under_write_load_loses_no_acknowledged_write_postgres() {
    let Some(db) = PgDb::create() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    crash_rounds(&db.url, dir.path(), 1, None);
}
