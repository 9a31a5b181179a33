//! A PostgreSQL server that stops answering while its kernel still acknowledges (a stopped
//! process, a hung host) never hangs the store: through a proxy that can freeze (it keeps every
//! socket open and stops reading, so the kernel keeps acknowledging, as with `SIGSTOP`), a unit
//! of work in flight when the server froze fails `Unavailable` within the statement timeout and
//! a second; its connection is cut, the pool is replaced, and once the server answers again the
//! store serves at once, on new connections.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::{Duration, Instant};

use domain::ports::{Store, StoreError};
use storage_diesel::{DieselStore, PoolOptions};

use crate::support::{TestDb, Which, with_migrated_db};

/// A TCP proxy to `upstream`; while `frozen`, it forwards nothing (and reads nothing).
struct Proxy {
    port: u16,
    frozen: Arc<AtomicBool>,
}

impl Proxy {
    fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let frozen = Arc::new(AtomicBool::new(false));
        let f = Arc::clone(&frozen);
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            loop {
                // Frozen: nothing accepts (the kernel still completes connections into the
                // backlog, as for a stopped server).
                if f.load(SeqCst) {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
                let client = match listener.accept() {
                    Ok((c, _)) => c,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                    Err(_) => break,
                };
                client.set_nonblocking(false).unwrap();
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let f = Arc::clone(&f);
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        loop {
                            while f.load(SeqCst) {
                                std::thread::sleep(Duration::from_millis(20));
                            }
                            match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    // Frozen while this chunk was read: hold it (as a stopped
                                    // server would) until thawed.
                                    while f.load(SeqCst) {
                                        std::thread::sleep(Duration::from_millis(20));
                                    }
                                    if to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                        let _ = to.shutdown(Shutdown::Write);
                    });
                }
            }
        });
        Self { port, frozen }
    }
}

/// The host:port of a PostgreSQL URL (`postgres://user@host:port/db...`).
fn host_port(url: &str) -> (String, String) {
    let rest = url.split_once("://").unwrap().1;
    let authority = rest.split('/').next().unwrap();
    let hostport = authority.rsplit('@').next().unwrap();
    let hp = if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:5432")
    };
    (hostport.to_owned(), hp)
}

fn ping_unit(store: &DieselStore) -> Result<(), StoreError> {
    store.run(|r| {
        r.list_identities(&domain::ids::OrgId::new("org_hang").unwrap())
            .map(drop)
    })
}

#[test]
fn a_frozen_server_fails_units_within_the_bound_and_the_store_recovers() {
    with_migrated_db(Which::Postgres, |db: &TestDb| {
        let (authority, upstream) = host_port(&db.url);
        let proxy = Proxy::start(upstream);
        let url = db.url.replacen(&authority, &format!("127.0.0.1:{}", proxy.port), 1);
        let opts = PoolOptions {
            max_size: 2,
            statement_timeout: Duration::from_millis(300),
            ..PoolOptions::default_for(db.backend)
        };
        let store = DieselStore::connect(&url, opts).unwrap();
        ping_unit(&store).unwrap();
        assert_eq!(store.pool_state().replacements, 0);

        proxy.frozen.store(true, SeqCst);
        // Should the store hang after all, thaw the server after a while so that the test
        // fails on the time below instead of hanging.
        let safety = Arc::clone(&proxy.frozen);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(15));
            safety.store(false, SeqCst);
        });
        let t = Instant::now();
        let r = ping_unit(&store);
        let took = t.elapsed();
        assert!(
            matches!(r, Err(StoreError::Unavailable(_))),
            "a unit on a frozen server is Unavailable: {r:?}"
        );
        // The deadline (statement timeout + 1 s) and the watchdog's tick.
        assert!(
            took < opts.unit_deadline() + Duration::from_millis(700),
            "a unit on a frozen server returned after {took:?}"
        );
        assert!(store.pool_state().replacements >= 1, "the pool was replaced");
        // Still frozen: the new pool's connections cannot be made (libpq's connect_timeout), so
        // a unit is refused within the checkout timeout, never hangs.
        let t = Instant::now();
        let r = ping_unit(&store);
        assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
        assert!(
            t.elapsed() < opts.connection_timeout + Duration::from_secs(1),
            "a unit while the server is still frozen took {:?}",
            t.elapsed()
        );

        proxy.frozen.store(false, SeqCst);
        let t = Instant::now();
        let mut last = ping_unit(&store);
        while last.is_err() && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(50));
            last = ping_unit(&store);
        }
        last.unwrap();
        eprintln!(
            "frozen unit answered after {took:?}; served again {:?} after the thaw",
            t.elapsed()
        );
    });
}
