//! Crash durability: SIGKILL under a write load; every write acknowledged with `201` survives
//! the restart, and the audit trail matches the data exactly (issue #14): every acknowledged
//! app and account has exactly one `app.create` / `account.create` event, every such event's
//! record exists (also for the writes in flight at the kill, which may or may not have
//! committed: the set of apps and accounts equals the set of their creation events), and the
//! trail is numbered 1..n without gaps in page order.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{
    APPS, Cli, HttpError, PgDb, Req, ServeOpts, Server, audit_trail, check_seqs_gap_free, new_master_key,
    sqlite_integrity, str_field,
};

/// The organization of the crash tests.
const ORG: &str = "org_crash";

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

/// Every acknowledged write is readable on the restarted server, which takes a write (the app
/// it creates, returned, is an acknowledged write too).
fn verify(server: &Server, token: &str, all: &Acked, round: usize) -> String {
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
    api.create_app(None)
}

/// A string at a JSON pointer of an event; panics otherwise.
fn ptr_str(e: &Value, pointer: &str) -> String {
    e.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("expected a string at {pointer} in event {e}"))
        .to_owned()
}

/// At most a few elements of a set difference, for failure messages.
fn few<T: std::fmt::Debug>(items: impl IntoIterator<Item = T>) -> String {
    let v: Vec<T> = items.into_iter().collect();
    let n = v.len();
    let shown: Vec<&T> = v.iter().take(5).collect();
    format!("{n}: {shown:?}{}", if n > 5 { " ..." } else { "" })
}

/// The audit trail of the restarted server against its data, after every round (see the
/// module doc): read through the API only.
fn verify_audit(server: &Server, token: &str, all: &Acked, round: usize) {
    let api = server.api(token);
    let events = audit_trail(&api);
    if let Err(e) = check_seqs_gap_free(&events) {
        panic!("round {round}: the trail after restart: {e}");
    }
    // The creation events by record; the token's own event first.
    let mut app_events: BTreeMap<String, usize> = BTreeMap::new();
    let mut account_events: BTreeMap<String, Vec<String>> = BTreeMap::new(); // account -> its apps
    let mut token_events = 0;
    for e in &events {
        assert_eq!(e["org"], ORG, "round {round}: an event of another org: {e}");
        match e["action"].as_str() {
            Some("token.create") => {
                token_events += 1;
                assert_eq!(e["seq"], 1, "round {round}: token.create is the first event: {e}");
                assert_eq!(e["actor"], json!({"kind": "cli", "id": null}), "round {round}: {e}");
                assert_eq!(e["resource"]["type"], "service_token", "round {round}: {e}");
            }
            Some("app.create") => {
                assert_eq!(e["resource"]["type"], "app", "round {round}: {e}");
                assert_eq!(e["actor"]["kind"], "service_token", "round {round}: {e}");
                *app_events.entry(ptr_str(e, "/resource/id")).or_default() += 1;
            }
            Some("account.create") => {
                assert_eq!(e["resource"]["type"], "account", "round {round}: {e}");
                assert_eq!(e["actor"]["kind"], "service_token", "round {round}: {e}");
                account_events
                    .entry(ptr_str(e, "/resource/id"))
                    .or_default()
                    .push(ptr_str(e, "/details/app_id"));
            }
            _ => panic!("round {round}: only token.create, app.create and account.create were done, got {e}"),
        }
    }
    assert_eq!(token_events, 1, "round {round}: exactly one token.create event");
    let dup_apps: Vec<_> = app_events.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        dup_apps.is_empty(),
        "round {round}: apps with more than one app.create event: {}",
        few(dup_apps)
    );
    let dup_accounts: Vec<_> = account_events.iter().filter(|(_, apps)| apps.len() != 1).collect();
    assert!(
        dup_accounts.is_empty(),
        "round {round}: accounts with more than one account.create event: {}",
        few(dup_accounts)
    );
    let account_events: BTreeMap<String, String> = account_events
        .into_iter()
        .map(|(acc, mut apps)| (acc, apps.remove(0)))
        .collect();

    // (a) Every acknowledged write has its event.
    let no_event: Vec<_> = all.apps.iter().filter(|a| !app_events.contains_key(*a)).collect();
    assert!(
        no_event.is_empty(),
        "round {round}: acknowledged apps without an app.create event: {}",
        few(no_event)
    );
    let no_event: Vec<_> = all
        .accounts
        .iter()
        .filter(|(app, acc)| account_events.get(acc) != Some(app))
        .collect();
    assert!(
        no_event.is_empty(),
        "round {round}: acknowledged (app, account)s without an account.create event of that app: {}",
        few(no_event)
    );

    // (b) Every creation event has its record: the event's app and account are readable...
    for app in app_events.keys() {
        let r = api.get(&format!("{APPS}/{app}"));
        assert_eq!(
            r.status,
            200,
            "round {round}: app {app} of an app.create event after restart: {} {}",
            r.status,
            r.text()
        );
    }
    for (acc, app) in &account_events {
        let r = api.get(&format!("{APPS}/{app}/accounts/{acc}"));
        assert_eq!(
            r.status,
            200,
            "round {round}: account {acc} (app {app}) of an account.create event after restart: {} {}",
            r.status,
            r.text()
        );
    }
    // ...and the records are exactly the events' (nothing was deleted): in-flight writes at the
    // kill are in both or in neither.
    let listed = api.get(APPS).expect(200, "list apps after restart");
    let apps: BTreeSet<String> = listed
        .as_array()
        .unwrap_or_else(|| panic!("GET /apps is an array: {listed}"))
        .iter()
        .map(|a| str_field(a, "id"))
        .collect();
    let evented: BTreeSet<String> = app_events.keys().cloned().collect();
    assert!(
        apps == evented,
        "round {round}: apps without an app.create event: {}; app.create events without their app: {}",
        few(apps.difference(&evented)),
        few(evented.difference(&apps))
    );
    let mut accounts: BTreeMap<String, String> = BTreeMap::new();
    for app in &apps {
        let listed = api
            .get(&format!("{APPS}/{app}/accounts"))
            .expect(200, "list accounts after restart");
        for acc in listed
            .as_array()
            .unwrap_or_else(|| panic!("GET /apps/{{id}}/accounts is an array: {listed}"))
        {
            assert_eq!(str_field(acc, "authenticator_app_id"), *app, "round {round}: {acc}");
            accounts.insert(str_field(acc, "id"), app.clone());
        }
    }
    let stray: Vec<_> = accounts
        .iter()
        .filter(|(acc, app)| account_events.get(*acc) != Some(app))
        .collect();
    let orphan: Vec<_> = account_events
        .iter()
        .filter(|(acc, app)| accounts.get(*acc) != Some(app))
        .collect();
    assert!(
        stray.is_empty() && orphan.is_empty(),
        "round {round}: accounts without an account.create event of their app: {}; account.create events \
         without their account: {}",
        few(stray),
        few(orphan)
    );
    let acked_apps: BTreeSet<&String> = all.apps.iter().collect();
    let acked_accounts: BTreeSet<&String> = all.accounts.iter().map(|(_, acc)| acc).collect();
    eprintln!(
        "round {round}: audit trail after restart: {} events, seq 1..{} gap-free; {} apps and {} accounts, \
         each with exactly one creation event ({} apps and {} accounts committed but not acknowledged)",
        events.len(),
        events.len(),
        apps.len(),
        accounts.len(),
        apps.iter().filter(|a| !acked_apps.contains(a)).count(),
        accounts.keys().filter(|a| !acked_accounts.contains(a)).count(),
    );
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
    let token = cli.token_create(ORG, None);
    let mut all = Acked::default();
    for round in 0..rounds {
        let acked = load_and_kill(&mut server, &token, round);
        all.apps.extend(acked.apps);
        all.accounts.extend(acked.accounts);
        if let Err(e) = Req::get("/healthz").timeout(Duration::from_secs(1)).send(server.addr) {
            assert!(matches!(e, HttpError::Connect(_)), "the killed server is gone: {e:?}");
        }
        server = Server::start(&opts);
        verify_audit(&server, &token, &all, round);
        let app = verify(&server, &token, &all, round);
        all.apps.push(app);
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
