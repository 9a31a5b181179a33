//! The audit trail of the real binary (issue #14).
//!
//! - Two PostgreSQL replicas: 8 writer threads create identities (25 each, alternating
//!   replicas, each with its own `X-Request-Id`) while 2 reader threads page the trail with the
//!   cursor, alternating replicas too, until the writers are done and a final page is empty.
//!   Each reader sees every event exactly once, numbered 1, 2, 3, ... in page order; the trail
//!   holds exactly the CLI's `token.create` and one `identity.create` per acknowledged creation,
//!   carrying its request id; no 5xx anywhere.
//! - One SQLite server: `authd audit tail` prints the same events as the API (one JSON line
//!   each, also across its 1000-event pages and from `--after`), and `authd audit purge
//!   --older-than-days 1` prints `0` and deletes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::replicas::start_pair;
use crate::support::{
    APPS, Api, Cli, PgDb, Req, ServeOpts, Server, audit_page, audit_trail, check_seqs_gap_free, event_seq,
    new_master_key, str_field,
};

/// Writer threads of the replica test.
const WRITERS: usize = 8;
/// Identities each writer creates.
const PER_WRITER: usize = 25;
/// Page size of each reader (a small one, so that pages end everywhere, and the largest).
const READER_LIMITS: [u32; 2] = [7, 1000];
/// Timeout of every request.
const REQ_TIMEOUT: Duration = Duration::from_secs(15);
/// Readers give up after this long (the writers take a few seconds).
const READ_BUDGET: Duration = Duration::from_secs(90);

const IDENTITIES: &str = "/api/v1/identities/";

/// The id of the CLI-created token with this name (from `authd token list --json`).
fn token_id(cli: &Cli, name: &str) -> String {
    let listed = cli.token_list_json();
    let entry = listed
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("token list --json has the token named {name}: {listed:?}"));
    str_field(entry, "id")
}

/// The events' ids, in order.
fn ids(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| str_field(e, "id")).collect()
}

/// One acknowledged identity creation.
struct Created {
    id: String,
    handle: String,
    request_id: String,
}

/// What one reader saw.
struct Read {
    /// The events, in the order read.
    events: Vec<Value>,
    /// Pages read.
    pages: usize,
    /// Of which empty.
    empty: usize,
}

/// One reader: pages with the cursor through replica `(r + k) % 2` for its `k`-th page until
/// a page asked for after the writers were done is empty. Returns the events it saw, in order,
/// how many pages it read and how many of them were empty; problems (non-200, bad cursor, an unexpected seq) go to
/// `problems`.
fn read_along(apis: &[Api; 2], r: usize, writers_done: &AtomicBool, problems: &Mutex<Vec<String>>) -> Read {
    let limit = READER_LIMITS[r % READER_LIMITS.len()];
    let problem = |p: String| problems.lock().expect("lock").push(format!("reader {r}: {p}"));
    let deadline = Instant::now() + READ_BUDGET;
    let mut seen: Vec<Value> = Vec::new();
    let mut after: Option<String> = None;
    let (mut pages, mut empty) = (0, 0);
    loop {
        if Instant::now() >= deadline {
            problem(format!("no final empty page within {READ_BUDGET:?}"));
            break;
        }
        let done_before = writers_done.load(Ordering::SeqCst);
        let api = &apis[(r + pages) % 2];
        pages += 1;
        let (events, next) = match audit_page(api, after.as_deref(), limit) {
            Ok(page) => page,
            Err(e) => {
                problem(e);
                break;
            }
        };
        if events.is_empty() {
            empty += 1;
            if done_before {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        for e in events {
            // Paging with `after` = the last seq seen, on a gap-free trail numbered in commit
            // order, must give exactly the next number every time.
            let want = seen.len() as u64 + 1;
            if e.get("seq").and_then(Value::as_u64) != Some(want) {
                problem(format!(
                    "page {pages} (after={after:?}, via {}): expected seq {want}, got {e}",
                    api.addr
                ));
                return Read {
                    events: seen,
                    pages,
                    empty,
                };
            }
            seen.push(e);
        }
        after = next;
    }
    Read {
        events: seen,
        pages,
        empty,
    }
}

#[test]
fn readers_paging_during_writes_see_every_event_once_in_order_on_two_postgres_replicas() {
    let Some(db) = PgDb::create() else { return };
    let p = start_pair(db);
    let org = "org_audit";
    let token = p.cli.token_create(org, Some("audit"));
    let token_id = token_id(&p.cli, "audit");
    let apis = [p.a.api(&token), p.b.api(&token)];

    let created = Mutex::new(Vec::<Created>::new());
    let problems = Mutex::new(Vec::<String>::new());
    let writers_left = AtomicUsize::new(WRITERS);
    let writers_done = AtomicBool::new(false);
    let start = Instant::now();
    let mut reads: Vec<Read> = Vec::new();
    std::thread::scope(|s| {
        for t in 0..WRITERS {
            let (apis, token, created, problems) = (&apis, &token, &created, &problems);
            let (writers_left, writers_done) = (&writers_left, &writers_done);
            s.spawn(move || {
                for i in 0..PER_WRITER {
                    let n = t * PER_WRITER + i;
                    let api = &apis[(t + i) % 2];
                    let handle = format!("sys-h{n}");
                    let request_id = format!("sys-{n}");
                    let req = Req::post(IDENTITIES)
                        .json(&json!({ "agent_handle": handle }))
                        .header("X-Request-Id", &request_id)
                        .token(token)
                        .timeout(REQ_TIMEOUT);
                    let outcome = match req.send(api.addr) {
                        Ok(r) if r.status == 201 => {
                            match r.try_json().and_then(|v| v["id"].as_str().map(str::to_owned)) {
                                Some(id) if r.header("x-request-id") == Some(request_id.as_str()) => Ok(id),
                                _ => Err(format!(
                                    "201 without an id or with X-Request-Id {:?}: {}",
                                    r.header("x-request-id"),
                                    r.text()
                                )),
                            }
                        }
                        Ok(r) => Err(format!("{} {}", r.status, r.text())),
                        Err(e) => Err(format!("{e:?}")),
                    };
                    match outcome {
                        Ok(id) => created.lock().expect("lock").push(Created { id, handle, request_id }),
                        Err(e) => problems
                            .lock()
                            .expect("lock")
                            .push(format!("writer {t}: create {handle} via {}: {e}", api.addr)),
                    }
                }
                if writers_left.fetch_sub(1, Ordering::SeqCst) == 1 {
                    writers_done.store(true, Ordering::SeqCst);
                }
            });
        }
        let readers: Vec<_> = (0..READER_LIMITS.len())
            .map(|r| {
                let (apis, writers_done, problems) = (&apis, &writers_done, &problems);
                s.spawn(move || read_along(apis, r, writers_done, problems))
            })
            .collect();
        reads = readers.into_iter().map(|h| h.join().expect("reader thread")).collect();
    });
    let elapsed = start.elapsed();
    let problems = problems.into_inner().expect("lock");
    assert!(
        problems.is_empty(),
        "{} problems under concurrent writes and reads (no 5xx, no other status, no skipped or \
         repeated seq may happen): {:#?}",
        problems.len(),
        &problems[..problems.len().min(20)]
    );
    let created = created.into_inner().expect("lock");
    assert_eq!(created.len(), WRITERS * PER_WRITER, "every creation was acknowledged");

    // The final full read, through both replicas: the same trail, numbered 1..n.
    let trail = audit_trail(&apis[0]);
    assert_eq!(audit_trail(&apis[1]), trail, "both replicas serve the same trail");
    if let Err(e) = check_seqs_gap_free(&trail) {
        panic!("the final trail: {e}");
    }
    assert_eq!(
        trail.len(),
        created.len() + 1,
        "the trail holds token.create and one identity.create per acknowledged creation: {:?}",
        trail.iter().map(|e| &e["action"]).collect::<Vec<_>>()
    );
    let first = &trail[0];
    assert_eq!(first["action"], "token.create", "the first event: {first}");
    assert_eq!(first["actor"], json!({"kind": "cli", "id": null}), "{first}");
    assert_eq!(
        first["resource"],
        json!({"type": "service_token", "id": token_id}),
        "{first}"
    );
    assert_eq!(first["request_id"], Value::Null, "{first}");
    assert_eq!(first["details"]["name"], "audit", "{first}");

    // Each identity has exactly one event, of its request, and each event its identity.
    let mut by_identity: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for e in &trail[1..] {
        assert_eq!(
            e["action"], "identity.create",
            "only identities were created after the token: {e}"
        );
        assert_eq!(e["org"], org, "{e}");
        assert_eq!(e["actor"], json!({"kind": "service_token", "id": token_id}), "{e}");
        assert_eq!(e["resource"]["type"], "identity", "{e}");
        by_identity.entry(str_field(&e["resource"], "id")).or_default().push(e);
    }
    for c in &created {
        let events = by_identity.remove(&c.id).unwrap_or_default();
        assert_eq!(
            events.len(),
            1,
            "identity {} ({}) has exactly one identity.create event: {events:?}",
            c.id,
            c.handle
        );
        let e = events[0];
        assert_eq!(
            e["request_id"], c.request_id,
            "the event of identity {} carries the X-Request-Id of its creation: {e}",
            c.handle
        );
        assert_eq!(e["details"]["agent_handle"], c.handle, "{e}");
    }
    assert!(
        by_identity.is_empty(),
        "identity.create events of no acknowledged creation: {by_identity:?}"
    );
    for c in created.iter().step_by(7) {
        apis[0]
            .get(&format!("{IDENTITIES}{}", c.handle))
            .expect(200, "an identity of the trail exists");
    }

    // Each reader saw every event exactly once, in order: the final trail itself.
    let all_ids: BTreeSet<String> = ids(&trail).into_iter().collect();
    for (r, read) in reads.iter().enumerate() {
        let seen = &read.events;
        let seen_ids = ids(seen);
        let unique: BTreeSet<String> = seen_ids.iter().cloned().collect();
        assert_eq!(unique.len(), seen_ids.len(), "reader {r} saw an event twice");
        assert!(
            unique == all_ids,
            "reader {r} saw {} events, the trail has {}: missed {:?}, extra {:?}",
            unique.len(),
            all_ids.len(),
            all_ids.difference(&unique).take(5).collect::<Vec<_>>(),
            unique.difference(&all_ids).take(5).collect::<Vec<_>>()
        );
        if let Err(e) = check_seqs_gap_free(seen) {
            panic!("reader {r}: {e}");
        }
        assert!(seen == &trail, "reader {r} saw the events as the final read has them");
        eprintln!(
            "audit (PostgreSQL, 2 replicas): reader {r} (limit {}) saw all {} events once, in order, in {} pages ({} empty)",
            READER_LIMITS[r],
            seen.len(),
            read.pages,
            read.empty
        );
    }
    eprintln!(
        "audit (PostgreSQL, 2 replicas): {} identities by {WRITERS} writers in {elapsed:?}; trail seq 1..{}",
        created.len(),
        trail.len()
    );
}

/// More than one page of 1000 for both the API and the CLI.
const BULK_APPS: usize = 1005;

#[test]
fn cli_tail_prints_the_api_trail_and_purge_of_recent_events_deletes_nothing_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("authd.sqlite").display());
    let key = new_master_key();
    let server = Server::start(&ServeOpts::new(&url, &key, dir.path(), "audit"));
    let cli = Cli {
        db_url: url,
        master_key: key,
        cwd: dir.path().to_owned(),
    };
    let org = "org_audit_tail";
    let token = cli.token_create(org, None);
    let api = server.api(&token);

    // Several kinds of change...
    let start = Instant::now();
    api.create_identity("tail-alice");
    let linked = api.create_app(Some("tail-alice"));
    let acc = str_field(
        &api.create_account(&linked, "otpauth://totp/Tail:alice?secret=JBSWY3DPEHPK3PXP&issuer=Tail"),
        "id",
    );
    api.generate(&linked, &acc);
    api.delete(&format!("{APPS}/{linked}/accounts/{acc}"))
        .expect(204, "delete account");
    // ...and enough of them for more than one page of 1000.
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                while next.fetch_add(1, Ordering::SeqCst) < BULK_APPS {
                    api.create_app(None);
                }
            });
        }
    });
    eprintln!("audit (SQLite): {} changes in {:?}", BULK_APPS + 6, start.elapsed());

    let trail = audit_trail(&api);
    if let Err(e) = check_seqs_gap_free(&trail) {
        panic!("the trail: {e}");
    }
    assert_eq!(trail.len(), BULK_APPS + 6, "one event per change (and token.create)");
    let actions: BTreeSet<&str> = trail.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(
        actions,
        BTreeSet::from([
            "token.create",
            "identity.create",
            "app.create",
            "account.create",
            "otp.generate",
            "account.delete"
        ]),
        "the actions of the trail"
    );

    // `audit tail`: one JSON line per event, the same ids and seqs as the API, in order.
    let tail = |extra: &[&str]| -> Vec<Value> {
        let mut args = vec!["audit", "tail", "--org", org];
        args.extend_from_slice(extra);
        let out = cli.ok(&args);
        out.lines()
            .map(|l| {
                serde_json::from_str::<Value>(l)
                    .ok()
                    .filter(Value::is_object)
                    .unwrap_or_else(|| panic!("authd audit tail prints one JSON object a line, got {l:?}"))
            })
            .collect()
    };
    let id_seq = |events: &[Value]| -> Vec<(String, u64)> {
        events.iter().map(|e| (str_field(e, "id"), event_seq(e))).collect()
    };
    let lines = tail(&[]);
    assert_eq!(lines.len(), trail.len(), "one line per event");
    assert_eq!(
        id_seq(&lines),
        id_seq(&trail),
        "audit tail: the API's ids and seqs, in order"
    );
    for (line, event) in lines.iter().zip(&trail) {
        assert_eq!(line, event, "audit tail prints the API's event {}", event["seq"]);
    }
    let after = tail(&["--after", "3"]);
    assert_eq!(id_seq(&after), id_seq(&trail[3..]), "audit tail --after 3");
    assert!(
        tail(&["--after", &trail.len().to_string()]).is_empty(),
        "nothing after the last seq"
    );
    let other = cli.ok(&["audit", "tail", "--org", "org_nobody"]);
    assert_eq!(other, "", "another org's trail is empty");

    // `audit purge --older-than-days 1`: nothing is that old.
    let purged = cli.ok(&["audit", "purge", "--older-than-days", "1"]);
    assert_eq!(purged, "0\n", "audit purge prints how many it deleted");
    let after_purge = audit_trail(&api);
    assert_eq!(id_seq(&after_purge), id_seq(&trail), "the purge deleted nothing");
    assert_eq!(id_seq(&tail(&[])), id_seq(&trail), "audit tail after the purge");
    // And numbering goes on.
    let app = api.create_app(None);
    let (events, _) = audit_page(&api, Some(&trail.len().to_string()), 10).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(events.len(), 1, "one new event: {events:?}");
    assert_eq!(event_seq(&events[0]), trail.len() as u64 + 1);
    assert_eq!(events[0]["resource"], json!({"type": "app", "id": app}));
    eprintln!(
        "audit (SQLite): audit tail printed the API's {} events; purge deleted 0",
        trail.len()
    );
}
