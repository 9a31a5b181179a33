//! Graceful shutdown: SIGTERM under load drains in-flight requests and exits 0 within 10 s.

use std::io::Write as _;
use std::net::TcpStream;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{APPS, Cli, HttpError, Req, ServeOpts, Server, new_master_key, read_resp, str_field};

const THREADS: usize = 6;
const MAX_PER_THREAD: usize = 3000;
/// Load before the signal.
const WARM_UP: Duration = Duration::from_millis(1200);
/// Requests whose body is still on its way when the signal arrives, finished after it.
const SLOW_REQUESTS: usize = 2;
const SLOW_TAIL_DELAY: Duration = Duration::from_millis(400);

#[derive(Default, Debug)]
struct Tally {
    /// Complete responses (any time).
    completed: usize,
    /// Complete responses to requests started after the signal (the drain at work, or requests
    /// that raced the listener's close).
    completed_after_term: usize,
    /// Complete responses with an unexpected status.
    bad_status: Vec<String>,
    /// New connections refused after the signal (fine).
    refused_after_term: usize,
    /// Connections accepted by the kernel after the signal, then reset with no response: the
    /// listener closed with them in its backlog (the same as a refused new connection).
    reset_new_after_term: usize,
    /// Failures of requests started before the signal, and truncated responses at any time.
    broken: Vec<String>,
}

#[test]
fn sigterm_under_load_drains_in_flight_requests_and_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("authd.sqlite").display());
    let key = new_master_key();
    let mut server = Server::start(&ServeOpts::new(&url, &key, dir.path(), "shutdown"));
    let cli = Cli {
        db_url: url.clone(),
        master_key: key,
        cwd: dir.path().to_owned(),
    };
    let token = cli.token_create("org_shutdown", None);
    let api = server.api(&token);
    let app = api.create_app(None);
    let acc = str_field(
        &api.create_account(&app, "otpauth://totp/Sd:bob?secret=JBSWY3DPEHPK3PXP&issuer=Sd"),
        "id",
    );
    let addr = server.addr;

    let tally = Mutex::new(Tally::default());
    let term_at: Mutex<Option<Instant>> = Mutex::new(None);
    let stop_all = AtomicBool::new(false);
    let mut exit = None;
    let mut exit_after = Duration::ZERO;

    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (tally, term_at, stop_all, token, app, acc) = (&tally, &term_at, &stop_all, &token, &app, &acc);
            s.spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(25);
                for i in 0..MAX_PER_THREAD {
                    if stop_all.load(Ordering::SeqCst) || Instant::now() >= deadline {
                        break;
                    }
                    let (req, want) = match (t + i) % 4 {
                        0 => (Req::get(APPS), 200),
                        1 => (Req::post(APPS).json(&json!({})), 201),
                        2 => (Req::post(format!("{APPS}/{app}/accounts/{acc}/generate-otp")), 200),
                        _ => (Req::get(format!("{APPS}/{app}")), 200),
                    };
                    let req = req.token(token).timeout(Duration::from_secs(15));
                    let started = Instant::now();
                    let result = req.send(addr);
                    let term = *term_at.lock().expect("lock");
                    let after_term = term.is_some_and(|t| started >= t);
                    // Nothing was sent on a refused connection: fine once the signal was sent.
                    let refused_after_term = term.is_some() && result.as_ref().is_err_and(HttpError::is_refused);
                    let mut tl = tally.lock().expect("lock");
                    match result {
                        Ok(r) => {
                            tl.completed += 1;
                            if after_term {
                                tl.completed_after_term += 1;
                            }
                            // (After the signal the port may be free and another test's server
                            // may answer: only answers to requests sent before it are checked.)
                            if r.status != want && !after_term {
                                tl.bad_status
                                    .push(format!("{} {} for {}", r.status, r.text(), req.describe()));
                            }
                        }
                        Err(_) if refused_after_term => {
                            tl.refused_after_term += 1;
                            break;
                        }
                        Err(HttpError::NoResponse { .. }) if after_term => {
                            tl.reset_new_after_term += 1;
                        }
                        Err(e) => {
                            let when = match term {
                                Some(t) if after_term => format!("{:?} after", started - t),
                                Some(t) => format!("{:?} before", t - started),
                                None => "before".to_owned(),
                            };
                            let took = started.elapsed();
                            tl.broken.push(format!(
                                "request started {when} SIGTERM, failed after {took:?}: {e:?}: {}",
                                req.describe()
                            ));
                        }
                    }
                }
            });
        }
        // Requests in flight at the signal: head and half of the body sent before it, the rest
        // after it. A graceful drain answers them.
        let mut slow = Vec::new();
        for i in 0..SLOW_REQUESTS {
            let (term_at, token) = (&term_at, &token);
            slow.push(s.spawn(move || -> Result<(u16, String), String> {
                std::thread::sleep(WARM_UP / 2);
                let start = Instant::now();
                let stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
                stream
                    .set_read_timeout(Some(Duration::from_secs(15)))
                    .map_err(|e| e.to_string())?;
                let body = format!("{{\"agent_handle\": null, \"pad\": \"{i}\"}}");
                let (first, rest) = body.split_at(body.len() / 2);
                let head = format!(
                    "POST {APPS} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nX-Service-Token: {token}\r\n\
                     Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{first}",
                    body.len()
                );
                (&stream)
                    .write_all(head.as_bytes())
                    .map_err(|e| format!("write head: {e}"))?;
                while term_at.lock().expect("lock").is_none() {
                    std::thread::sleep(Duration::from_millis(5));
                }
                std::thread::sleep(SLOW_TAIL_DELAY);
                (&stream)
                    .write_all(rest.as_bytes())
                    .map_err(|e| format!("write the rest after SIGTERM: {e}"))?;
                let r = read_resp(&stream, start).map_err(|e| format!("{e:?}"))?;
                Ok((r.status, r.text()))
            }));
        }

        std::thread::sleep(WARM_UP);
        let t0 = Instant::now();
        *term_at.lock().expect("lock") = Some(t0);
        server.proc.signal("TERM");
        exit = server.proc.wait_timeout(Duration::from_secs(10));
        exit_after = t0.elapsed();
        // The port is free now; another test may bind it: stop the load.
        stop_all.store(true, Ordering::SeqCst);
        for (i, h) in slow.into_iter().enumerate() {
            match h.join().expect("slow request thread") {
                Ok((201, _)) => {}
                Ok((status, body)) => tally
                    .lock()
                    .expect("lock")
                    .broken
                    .push(format!("slow request {i}: expected 201, got {status} {body}")),
                Err(e) => tally.lock().expect("lock").broken.push(format!(
                    "slow request {i} (body finished after SIGTERM) got no complete response: {e}"
                )),
            }
        }
    });

    let tally = tally.into_inner().expect("lock");
    eprintln!("graceful shutdown: exit {exit:?} after {exit_after:?}; {tally:?}");
    let status = exit.unwrap_or_else(|| panic!("authd did not exit within 10 s of SIGTERM; log:\n{}", server.log()));
    assert!(
        status.success(),
        "authd must exit 0 after SIGTERM, got {status}; log:\n{}",
        server.log()
    );
    assert!(tally.completed > 50, "the load barely ran: {tally:?}");
    assert!(
        tally.broken.is_empty(),
        "requests in flight at SIGTERM must complete: {:#?}",
        tally.broken
    );
    assert!(
        tally.bad_status.is_empty(),
        "unexpected statuses under load: {:#?}",
        tally.bad_status
    );
}
