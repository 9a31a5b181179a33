//! Database outage: a TCP proxy of ours sits between authd and PostgreSQL; we cut it under load
//! and restore it.

use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{APPS, Cli, PgDb, Req, Resp, ServeOpts, Server, new_master_key, poll, str_field};

/// Longest acceptable answer while the database is away ("fail fast").
const MAX_OUTAGE_LATENCY: Duration = Duration::from_secs(6);
/// How long the database stays away (longer than the 2 s token cache).
const OUTAGE: Duration = Duration::from_millis(8500);
/// How soon after the restore the server must serve again by itself.
const RECOVERY_BOUND: Duration = Duration::from_secs(15);
/// Requests started this soon after the cut may still have been answered from before it.
const CUT_GRACE: Duration = Duration::from_millis(300);

#[derive(Default)]
struct ProxyState {
    /// Forwarding is on (listening, new connections proxied).
    up: AtomicBool,
    /// The accept thread's view: it currently holds a listener.
    listening: AtomicBool,
    /// End the accept thread.
    stop: AtomicBool,
    /// Both sockets of every proxied connection (to cut them).
    conns: Mutex<Vec<TcpStream>>,
}

/// A TCP proxy on 127.0.0.1 that can be cut (every proxied connection closed, the port closed
/// so that new connections are refused) and restored (the same port listens again).
struct Proxy {
    port: u16,
    state: Arc<ProxyState>,
    thread: Option<JoinHandle<()>>,
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

impl Proxy {
    fn start(upstream: String) -> Self {
        let first = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = first.local_addr().expect("proxy addr").port();
        let state = Arc::new(ProxyState::default());
        state.up.store(true, Ordering::SeqCst);
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            let mut listener = Some(first);
            while !st.stop.load(Ordering::SeqCst) {
                if !st.up.load(Ordering::SeqCst) {
                    listener = None; // closes the port: new connections are refused
                    st.listening.store(false, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                if listener.is_none() {
                    match TcpListener::bind(("127.0.0.1", port)) {
                        Ok(l) => listener = Some(l),
                        Err(_) => {
                            std::thread::sleep(Duration::from_millis(20));
                            continue;
                        }
                    }
                }
                let Some(l) = &listener else { continue };
                l.set_nonblocking(true).expect("nonblocking");
                st.listening.store(true, Ordering::SeqCst);
                match l.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let Ok(server) = TcpStream::connect(&upstream) else {
                            continue;
                        };
                        let (Ok(c2), Ok(s2), Ok(c3), Ok(s3)) = (
                            client.try_clone(),
                            server.try_clone(),
                            client.try_clone(),
                            server.try_clone(),
                        ) else {
                            continue;
                        };
                        st.conns.lock().expect("lock").extend([c3, s3]);
                        std::thread::spawn(move || pump(client, server));
                        std::thread::spawn(move || pump(s2, c2));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(5)),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        let p = Self {
            port,
            state,
            thread: Some(thread),
        };
        p.wait_listening(true);
        p
    }

    fn wait_listening(&self, want: bool) {
        let ok = poll(Duration::from_secs(10), Duration::from_millis(5), || {
            (self.state.listening.load(Ordering::SeqCst) == want).then_some(())
        });
        assert!(ok.is_some(), "proxy did not reach listening={want}");
    }

    fn close_all(&self) {
        for s in self.state.conns.lock().expect("lock").drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Closes every proxied connection and refuses new ones.
    fn cut(&self) {
        self.state.up.store(false, Ordering::SeqCst);
        self.wait_listening(false);
        self.close_all();
    }

    /// Listens and forwards again.
    fn restore(&self) {
        self.state.up.store(true, Ordering::SeqCst);
        self.wait_listening(true);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        self.state.up.store(false, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.close_all();
    }
}

/// One request of the load.
struct Sample {
    started: Instant,
    ended: Instant,
    what: String,
    outcome: Result<Resp, String>,
}

fn is_503_json(r: &Resp) -> bool {
    r.status == 503 && r.is_json() && r.json().get("detail").is_some()
}

#[test]
fn database_outage_gives_fast_503s_and_recovers_without_restart() {
    let Some(db) = PgDb::create() else { return };
    let proxy = Proxy::start(db.server_addr());
    let dir = tempfile::tempdir().expect("tempdir");
    let key = new_master_key();
    let mut opts = ServeOpts::new(&db.url_via(proxy.port), &key, dir.path(), "outage");
    opts.pool_size = Some(4);
    let mut server = Server::start(&opts);
    let cli = Cli {
        db_url: db.url.clone(),
        master_key: key,
        cwd: dir.path().to_owned(),
    };
    let token = cli.token_create("org_outage", None);
    let api = server.api(&token);
    let app = api.create_app(None);
    let acc = str_field(
        &api.create_account(&app, "otpauth://totp/Out:carol?secret=JBSWY3DPEHPK3PXP&issuer=Out"),
        "id",
    );
    let addr = server.addr;

    let samples = Mutex::new(Vec::<Sample>::new());
    let done = AtomicBool::new(false);
    let (mut cut_at, mut restore_at, mut recovered_after) = (None, None, None);
    // When the cut began: a request that ended while `proxy.cut()` ran may have seen it.
    let mut cut_began = None;
    let probes = Mutex::new(Vec::<(u32, &str, Result<Resp, String>)>::new());
    std::thread::scope(|s| {
        for t in 0..4usize {
            let (samples, done, token, app, acc) = (&samples, &done, &token, &app, &acc);
            s.spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(60);
                for i in 0..5000usize {
                    if done.load(Ordering::SeqCst) || Instant::now() >= deadline {
                        break;
                    }
                    let req = match (t + i) % 3 {
                        0 => Req::get(format!("{APPS}/{app}")),
                        1 => Req::post(format!("{APPS}/{app}/accounts/{acc}/generate-otp")),
                        _ => Req::post(APPS).json(&json!({})),
                    };
                    let what = req.describe();
                    let started = Instant::now();
                    let outcome = req
                        .token(token)
                        .timeout(Duration::from_secs(30))
                        .send(addr)
                        .map_err(|e| format!("{e:?}"));
                    let ended = Instant::now();
                    samples.lock().expect("lock").push(Sample {
                        started,
                        ended,
                        what,
                        outcome,
                    });
                    std::thread::sleep(Duration::from_millis(10));
                }
            });
        }
        std::thread::sleep(Duration::from_secs(1));

        cut_began = Some(Instant::now());
        proxy.cut();
        let t_cut = Instant::now();
        cut_at = Some(t_cut);
        // Two waves of probes: one while the token is still cached (2 s), one after.
        for (wave, at) in [(1, Duration::from_millis(500)), (2, Duration::from_millis(2600))] {
            let (probes, token, app, acc) = (&probes, &token, &app, &acc);
            s.spawn(move || {
                std::thread::sleep(at.saturating_sub(t_cut.elapsed()));
                let reqs = [
                    ("healthz", Req::get("/healthz")),
                    ("readyz", Req::get("/readyz")),
                    ("get app", Req::get(format!("{APPS}/{app}")).token(token)),
                    ("list apps", Req::get(APPS).token(token)),
                    ("create app", Req::post(APPS).json(&json!({})).token(token)),
                    (
                        "generate",
                        Req::post(format!("{APPS}/{app}/accounts/{acc}/generate-otp")).token(token),
                    ),
                ];
                // The second wave adds a burst: many requests waiting for the database at once.
                let burst = if wave == 2 { 16 } else { 0 };
                let reqs = reqs
                    .into_iter()
                    .chain((0..burst).map(|_| ("burst get app", Req::get(format!("{APPS}/{app}")).token(token))));
                std::thread::scope(|s2| {
                    for (name, req) in reqs {
                        s2.spawn(move || {
                            let r = req.timeout(Duration::from_secs(30)).send(addr);
                            probes
                                .lock()
                                .expect("lock")
                                .push((wave, name, r.map_err(|e| format!("{e:?}"))));
                        });
                    }
                });
            });
        }
        let left = OUTAGE.saturating_sub(t_cut.elapsed());
        std::thread::sleep(left);
        assert!(
            server.proc.try_wait().is_none(),
            "authd exited during the outage; log:\n{}",
            server.log()
        );

        proxy.restore();
        let t_restore = Instant::now();
        restore_at = Some(t_restore);
        let ok = poll(
            RECOVERY_BOUND + Duration::from_secs(5),
            Duration::from_millis(200),
            || {
                let r = Req::get(format!("{APPS}/{app}"))
                    .token(&token)
                    .timeout(Duration::from_secs(10))
                    .send(addr);
                r.is_ok_and(|r| r.status == 200).then(|| t_restore.elapsed())
            },
        );
        recovered_after = ok;
        std::thread::sleep(Duration::from_secs(1)); // load after the recovery
        done.store(true, Ordering::SeqCst);
    });
    let (cut_at, restore_at) = (cut_at.expect("cut"), restore_at.expect("restore"));
    let cut_began = cut_began.expect("cut");
    eprintln!("outage: recovered {recovered_after:?} after the restore");

    // The process never exited.
    assert!(server.proc.try_wait().is_none(), "authd exited; log:\n{}", server.log());
    // It recovered by itself, within the bound.
    let rec = recovered_after.unwrap_or_else(|| panic!("no 200 within {RECOVERY_BOUND:?} of the restore"));
    assert!(rec <= RECOVERY_BOUND, "recovery took {rec:?}");
    // The probes during the outage: healthz stays 200 (no database), everything else is a
    // fast 503 with a JSON body (also once the token is no longer cached: not a 401).
    let probes = probes.into_inner().expect("lock");
    let mut problems = Vec::new();
    for (wave, name, outcome) in &probes {
        eprintln!(
            "outage probe, wave {wave}, {name}: {}",
            match outcome {
                Ok(r) => format!("{} {} in {:?}", r.status, r.text(), r.elapsed),
                Err(e) => e.clone(),
            }
        );
        match (name, outcome) {
            (&"healthz", Ok(r)) if r.status == 200 && r.elapsed < Duration::from_secs(1) => {}
            (&"healthz", other) => problems.push(format!("wave {wave}: healthz must stay 200 and fast: {other:?}")),
            // readyz's body is not an error of the API families: any JSON.
            (&"readyz", Ok(r)) if r.status == 503 && r.is_json() && r.elapsed < MAX_OUTAGE_LATENCY => {}
            (_, Ok(r)) if is_503_json(r) && r.elapsed < MAX_OUTAGE_LATENCY => {}
            (_, other) => problems.push(format!(
                "wave {wave}: {name} must be a 503 with a JSON body within {MAX_OUTAGE_LATENCY:?}: {other:?}"
            )),
        }
    }
    assert_eq!(probes.len(), 12 + 16, "every probe ran");

    // Every sample of the load, by when it started.
    let samples = samples.into_inner().expect("lock");
    let (mut before, mut during, mut during_503, mut after) = (0, 0, 0, 0);
    let mut slowest = Duration::ZERO;
    let recovered_at = restore_at + rec;
    for smp in &samples {
        let took = smp.ended - smp.started;
        slowest = slowest.max(took);
        let ok_status = |r: &Resp| matches!(r.status, 200 | 201);
        let either = |r: &Resp| ok_status(r) || is_503_json(r);
        let desc = || match &smp.outcome {
            Ok(r) => format!("{} {} in {:?}", r.status, r.text(), r.elapsed),
            Err(e) => e.clone(),
        };
        let (phase, good) = if smp.started < cut_began && smp.ended <= cut_began {
            before += 1;
            ("before the cut", smp.outcome.as_ref().is_ok_and(ok_status))
        } else if smp.started < cut_at + CUT_GRACE {
            ("around the cut", smp.outcome.as_ref().is_ok_and(either))
        } else if smp.started < restore_at && smp.ended <= restore_at {
            during += 1;
            let good = smp.outcome.as_ref().is_ok_and(is_503_json);
            during_503 += usize::from(good);
            ("during the outage (want a 503 JSON)", good)
        } else if smp.started < recovered_at {
            ("around the restore", smp.outcome.as_ref().is_ok_and(either))
        } else {
            after += 1;
            ("after the recovery", smp.outcome.as_ref().is_ok_and(ok_status))
        };
        if !good {
            problems.push(format!("{phase}: {} -> {}", smp.what, desc()));
        }
        if took >= MAX_OUTAGE_LATENCY {
            problems.push(format!(
                "{phase}: took {took:?} (no hang: < {MAX_OUTAGE_LATENCY:?}): {}",
                smp.what
            ));
        }
    }
    eprintln!(
        "outage load: {} requests; {before} before the cut, {during} inside the outage ({during_503} of them 503), \
         {after} after the recovery; slowest {slowest:?}",
        samples.len()
    );
    assert!(
        before > 0 && after > 0,
        "the load must span the phases: {before}/{during}/{after}"
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );

    // Fully back: readiness, writes, codes.
    let api = server.api(&token);
    api.get("/readyz").expect(200, "readyz after the recovery");
    api.create_app(None);
    api.generate(&app, &acc);
    server.proc.kill9();
}
