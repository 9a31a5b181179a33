//! Two `authd serve` replicas sharing one PostgreSQL database and one master key.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{APPS, Cli, PgDb, RFC_SECRET_B32, Req, ServeOpts, Server, hotp_rfc, new_master_key, str_field};

/// A database, a temp dir, two replicas started one after the other (the first one migrates).
pub(crate) struct Pair {
    pub(crate) a: Server,
    pub(crate) b: Server,
    pub(crate) cli: Cli,
    _dir: tempfile::TempDir,
    _db: PgDb, // dropped last: the servers are killed first
}

/// Starts two replicas on `db` (also used by the `audit` and `verify` modules).
pub(crate) fn start_pair(db: PgDb) -> Pair {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = new_master_key();
    let a = Server::start(&ServeOpts::new(&db.url, &key, dir.path(), "replica-a"));
    let b = Server::start(&ServeOpts::new(&db.url, &key, dir.path(), "replica-b"));
    let cli = Cli {
        db_url: db.url.clone(),
        master_key: key,
        cwd: dir.path().to_owned(),
    };
    Pair {
        a,
        b,
        cli,
        _dir: dir,
        _db: db,
    }
}

fn hotp_uri(digits: u32) -> String {
    format!("otpauth://hotp/Sys:alice?secret={RFC_SECRET_B32}&issuer=Sys&counter=0&digits={digits}")
}

#[test]
fn two_replicas_share_tokens_apps_revocation_and_hotp_counters() {
    let Some(db) = PgDb::create() else { return };
    let p = start_pair(db);
    let token = p.cli.token_create("org_replicas", Some("main"));
    let victim = p.cli.token_create("org_replicas", Some("to-revoke"));
    let (a, b) = (p.a.api(&token), p.b.api(&token));

    // A token created by the CLI works on both.
    for (name, api) in [("A", &a), ("B", &b)] {
        let r = api.get(APPS);
        assert_eq!(
            r.status,
            200,
            "replica {name}: GET /apps with a CLI token: {}",
            r.text()
        );
        assert!(
            r.json().is_array(),
            "replica {name}: GET /apps is a bare array: {}",
            r.text()
        );
    }

    // An app created on one is read on the other.
    let app = a.create_app(None);
    let on_b = b.get(&format!("{APPS}/{app}")).expect(200, "GET app on replica B");
    assert_eq!(str_field(&on_b, "id"), app);
    let listed = b.get(APPS).expect(200, "list apps on B");
    assert!(
        listed
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x["id"] == app.as_str())),
        "app {app} created on A is listed on B: {listed}"
    );

    // An HOTP account used alternately through both never repeats a counter.
    let acc = str_field(&b.create_account(&app, &hotp_uri(6)), "id");
    let path = format!("{APPS}/{app}/accounts/{acc}");
    for i in 0..40u64 {
        let api = if i % 2 == 0 { &a } else { &b };
        let otp = api.generate(&app, &acc);
        assert_eq!(
            otp["otp_code"],
            hotp_rfc(i, 6).as_str(),
            "call {i} (replica {}) must return HOTP({i}); got {otp}",
            if i % 2 == 0 { "A" } else { "B" }
        );
        assert_eq!(otp["otp_type"], "hotp");
    }
    for api in [&a, &b] {
        let acc_now = api.get(&path).expect(200, "GET account");
        assert_eq!(acc_now["counter"], 40, "counter after 40 codes: {acc_now}");
    }

    // Revocation through the CLI: both replicas refuse it within 5 s. First make both replicas
    // use (and cache) the token.
    for (name, srv) in [("A", &p.a), ("B", &p.b)] {
        let r = srv.api(&victim).get(APPS);
        assert_eq!(
            r.status,
            200,
            "replica {name}: victim token before revocation: {}",
            r.text()
        );
    }
    let listed = p.cli.token_list_json();
    let entry = listed
        .iter()
        .find(|t| t["name"] == "to-revoke")
        .unwrap_or_else(|| panic!("token list --json has the token named to-revoke: {listed:?}"));
    assert_eq!(entry["org"], "org_replicas");
    assert!(entry["revoked_at"].is_null(), "not revoked yet: {entry}");
    let id = str_field(entry, "id");
    p.cli.ok(&["token", "revoke", &id]);
    let revoked_at = Instant::now();
    let mut refused: HashMap<&str, Duration> = HashMap::new();
    while refused.len() < 2 && revoked_at.elapsed() < Duration::from_secs(8) {
        for (name, srv) in [("A", &p.a), ("B", &p.b)] {
            if refused.contains_key(name) {
                continue;
            }
            let r = srv.api(&victim).get(APPS);
            match r.status {
                401 => {
                    assert_eq!(r.json(), json!({"detail": "Invalid service token"}), "401 body");
                    refused.insert(name, revoked_at.elapsed());
                }
                200 => {}
                s => panic!(
                    "replica {name}: a revoked token must be 200 (cached) or 401, got {s} {}",
                    r.text()
                ),
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("revocation seen after: {refused:?}");
    for name in ["A", "B"] {
        let t = refused.get(name).copied();
        assert!(
            t.is_some_and(|t| t <= Duration::from_secs(5)),
            "replica {name} must refuse a revoked token within 5 s of `token revoke`; refused after {t:?}"
        );
    }
    // And it stays refused; the other token is unaffected.
    for (name, srv) in [("A", &p.a), ("B", &p.b)] {
        assert_eq!(srv.api(&victim).get(APPS).status, 401, "replica {name}: still refused");
        assert_eq!(
            srv.api(&victim).raw(&Req::get(APPS).bearer(&victim)).status,
            401,
            "replica {name}: refused as Bearer too"
        );
        assert_eq!(
            srv.api(&token).get(APPS).status,
            200,
            "replica {name}: the other token still works"
        );
    }
    let after = p.cli.token_list_json();
    let entry = after
        .iter()
        .find(|t| t["id"] == id.as_str())
        .expect("revoked token still listed");
    assert!(
        entry["revoked_at"].is_string(),
        "revoked_at is set after revoke: {entry}"
    );
}

#[test]
fn hotp_generation_across_replicas_never_repeats_a_counter() {
    let Some(db) = PgDb::create() else { return };
    let p = start_pair(db);
    let token = p.cli.token_create("org_hotp", None);
    let a = p.a.api(&token);
    let app = a.create_app(None);
    // Eight digits: two different counters almost never share a code, so a repeated counter
    // shows up in the multiset.
    let acc = str_field(&a.create_account(&app, &hotp_uri(8)), "id");

    const THREADS: usize = 16;
    const PER_THREAD: usize = 25;
    let codes = Mutex::new(Vec::with_capacity(THREADS * PER_THREAD));
    let failures = Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (codes, failures) = (&codes, &failures);
            let api = if t % 2 == 0 { p.a.api(&token) } else { p.b.api(&token) };
            let path = format!("{APPS}/{app}/accounts/{acc}/generate-otp");
            s.spawn(move || {
                for _ in 0..PER_THREAD {
                    match Req::post(&path).token(&api.token).send(api.addr) {
                        Ok(r) if r.status == 200 => {
                            let code = r.json()["otp_code"].as_str().map(str::to_owned);
                            codes.lock().expect("lock").push(code.unwrap_or_default());
                        }
                        Ok(r) => failures
                            .lock()
                            .expect("lock")
                            .push(format!("{} {}", r.status, r.text())),
                        Err(e) => failures.lock().expect("lock").push(format!("{e:?}")),
                    }
                }
            });
        }
    });
    eprintln!("{} generations in {:?}", THREADS * PER_THREAD, started.elapsed());
    let failures = failures.into_inner().expect("lock");
    assert!(
        failures.is_empty(),
        "every generation must succeed; failures: {failures:?}"
    );
    let mut got = codes.into_inner().expect("lock");
    let mut want: Vec<String> = (0..(THREADS * PER_THREAD) as u64).map(|c| hotp_rfc(c, 8)).collect();
    got.sort();
    want.sort();
    if got != want {
        let missing: Vec<_> = want.iter().filter(|c| !got.contains(c)).collect();
        let mut dupes = got.clone();
        dupes.dedup();
        panic!(
            "the {} codes must be exactly HOTP(0..{}) as a multiset; {} distinct codes, missing: {missing:?}",
            got.len(),
            want.len(),
            dupes.len()
        );
    }
    for srv in [&p.a, &p.b] {
        let v = srv
            .api(&token)
            .get(&format!("{APPS}/{app}/accounts/{acc}"))
            .expect(200, "GET account");
        assert_eq!(v["counter"], 400, "counter after 400 codes: {v}");
    }
}
