//! What the request path sends to the database: `Store::run` opens no transaction, OTP
//! generation is one read (plus one `UPDATE ... RETURNING` for HOTP), a verification one read
//! plus one conditional `UPDATE` per outcome (none when locked), and `Store::transaction` is
//! `BEGIN` (`BEGIN IMMEDIATE` on SQLite) ... `COMMIT`.
//!
//! Statements are recorded by a diesel instrumentation installed for every new connection,
//! into a thread-local list that only the recording thread turns on (queries run on the
//! calling thread), so tests running in parallel do not interfere.

use std::cell::RefCell;

use diesel::connection::{Instrumentation, InstrumentationEvent, set_default_instrumentation};
use domain::otp::{self, Algorithm, CodeInput, Digits};
use domain::testkit::contract::RFC_SECRET_B32;
use storage_diesel::Backend;

use crate::support::{Which, alice_app, caller, enroll_pixel, kit, new_account, store, with_migrated_db};

on_both_backends!(request_path_statements);

/// The SQLite sequencer reads each organization's highest number through the index, never by
/// scanning the table once per event it numbers (a regression made an audit read after a
/// backlog of a few thousand events outlive the request deadline).
#[test]
fn sqlite_sequencer_uses_the_org_seq_index() {
    use diesel::{Connection as _, QueryableByName, RunQueryDsl as _, SqliteConnection};

    #[derive(QueryableByName)]
    struct Plan {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }

    set_default_instrumentation(recorder).unwrap();
    with_migrated_db(Which::Sqlite, |db| {
        let k = kit(store(db));
        let o = caller();
        alice_app(&k.authd, &o);
        let sql = statements(|| {
            k.authd
                .list_audit_events(&o, &domain::audit::AuditQuery::default())
                .unwrap();
        })
        .into_iter()
        .find(|s| s.contains("ROW_NUMBER()"))
        .expect("the sequencer's statement");
        let sql = sql.split(" -- binds").next().unwrap_or_default().to_owned();
        let mut c = SqliteConnection::establish(db.sqlite_path()).unwrap();
        let plan: Vec<Plan> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
            .bind::<diesel::sql_types::BigInt, _>(2000_i64)
            .load(&mut c)
            .unwrap();
        let plan: Vec<String> = plan.into_iter().map(|p| p.detail).collect();
        assert!(
            plan.iter()
                .any(|d| d.contains("SEARCH m USING COVERING INDEX audit_events_org_seq_uq")),
            "{plan:#?}"
        );
        assert!(!plan.iter().any(|d| d.starts_with("SCAN m")), "{plan:#?}");
    });
}

thread_local! {
    static RECORDING: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

struct Recorder;

impl Instrumentation for Recorder {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            RECORDING.with(|r| {
                if let Some(list) = r.borrow_mut().as_mut() {
                    list.push(query.to_string());
                }
            });
        }
    }
}

fn recorder() -> Option<Box<dyn Instrumentation>> {
    Some(Box::new(Recorder))
}

/// The statements `f` sends, in order (bind values are not part of the text).
fn statements(f: impl FnOnce()) -> Vec<String> {
    RECORDING.with(|r| *r.borrow_mut() = Some(Vec::new()));
    f();
    RECORDING.with(|r| r.borrow_mut().take()).unwrap_or_default()
}

fn starts(s: &str, prefix: &str) -> bool {
    s.trim_start().to_ascii_uppercase().starts_with(prefix)
}

fn request_path_statements(which: Which) {
    set_default_instrumentation(recorder).unwrap();
    with_migrated_db(which, |db| {
        let k = kit(store(db));
        let a = &k.authd;
        let o = caller();
        let app = alice_app(a, &o);
        let uri = |t: &str| new_account(format!("otpauth://{t}/x?secret={RFC_SECRET_B32}"));
        let totp = *a.create_account(&o, app, uri("totp")).unwrap().id();
        let hotp = *a.create_account(&o, app, uri("hotp")).unwrap().id();
        let device = enroll_pixel(a, &o, app);

        let t = statements(|| {
            a.generate_otp(&o, app, totp).unwrap();
        });
        assert_eq!(t.len(), 2, "TOTP: one read and its audit event {t:#?}");
        assert!(starts(&t[0], "SELECT") && t[0].contains("JOIN"), "{t:#?}");
        match db.backend {
            // The event of no change commits without waiting for the WAL flush.
            Backend::Postgres => assert!(
                starts(&t[1], "WITH")
                    && t[1].contains("INSERT INTO audit_events")
                    && t[1].contains("synchronous_commit"),
                "{t:#?}"
            ),
            Backend::Sqlite => assert!(starts(&t[1], "INSERT") && t[1].contains("audit_events"), "{t:#?}"),
        }

        let h = statements(|| {
            a.generate_otp(&o, app, hotp).unwrap();
        });
        // The advance and its event: one statement on PostgreSQL; on SQLite one local
        // transaction (no round trips to save there).
        let advance = match db.backend {
            Backend::Postgres => {
                assert_eq!(h.len(), 2, "HOTP: one read, one advance with its event {h:#?}");
                assert!(
                    starts(&h[1], "WITH") && h[1].contains("RETURNING counter") && h[1].contains("audit_events"),
                    "{h:#?}"
                );
                &h[1]
            }
            Backend::Sqlite => {
                assert_eq!(h.len(), 5, "HOTP: read, BEGIN, advance, event, COMMIT {h:#?}");
                assert!(starts(&h[1], "BEGIN IMMEDIATE") && starts(&h[4], "COMMIT"), "{h:#?}");
                assert!(starts(&h[2], "UPDATE") && h[2].contains("RETURNING"), "{h:#?}");
                assert!(starts(&h[3], "INSERT") && h[3].contains("audit_events"), "{h:#?}");
                &h[2]
            }
        };
        assert!(
            !advance
                .split("audit_events")
                .next()
                .unwrap_or_default()
                .contains("updated_at"),
            "the advance leaves updated_at alone: {h:#?}"
        );

        let g = statements(|| {
            a.get_app(&o, app).unwrap();
            a.list_accounts(&o, app).unwrap();
        });
        // get_app is one query, list_accounts one (the app left-joined with its accounts).
        assert_eq!(g.len(), 2, "{g:#?}");
        for s in t.iter().chain(&g) {
            assert!(
                !starts(s, "BEGIN") && !starts(s, "COMMIT"),
                "run opens no transaction: {s}"
            );
        }

        let d = statements(|| {
            a.device_generate_otp(&device, totp, None).unwrap();
        });
        // No transaction (each statement is atomic): token, material, event, touch.
        assert!(d.iter().all(|s| !starts(s, "BEGIN") && !starts(s, "COMMIT")), "{d:#?}");
        assert!(d[2].contains("INSERT INTO audit_events"), "{d:#?}");
        assert_eq!(d.len(), 4, "{d:#?}");

        // Verification: one read, then one conditional UPDATE per outcome with its audit event,
        // the two in a transaction of their own (the read and a locked refusal take none).
        let code = |counter: u64| {
            CodeInput::parse(&otp::hotp(
                Algorithm::Sha1,
                b"12345678901234567890",
                counter,
                Digits::SIX,
            ))
            .unwrap()
        };
        let begin = match db.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        let recorded = |v: &[String], what: &str| {
            assert_eq!(v.len(), 5, "{what}: read, BEGIN, update, event, COMMIT {v:#?}");
            assert!(starts(&v[0], "SELECT") && v[0].contains("JOIN"), "{v:#?}");
            assert!(starts(&v[1], begin) && starts(&v[4], "COMMIT"), "{v:#?}");
            assert!(
                starts(&v[3], "INSERT") && v[3].contains("audit_events") && v[3].contains("otp.verify"),
                "{v:#?}"
            );
        };
        let step = u64::try_from(domain::testkit::START).unwrap() / 30;
        let ok = statements(|| {
            a.verify_otp(&o, app, totp, &code(step)).unwrap();
        });
        recorded(&ok, "a success");
        assert!(
            starts(&ok[2], "UPDATE") && ok[2].contains("last_verified_step <") && ok[2].contains("locked_until <="),
            "the success is conditional on the step and the lock {ok:#?}"
        );
        let replayed = statements(|| {
            a.verify_otp(&o, app, totp, &code(step)).unwrap();
        });
        recorded(&replayed, "a failure");
        assert!(
            starts(&replayed[2], "UPDATE")
                && replayed[2].contains("failed_attempts = failed_attempts + 1")
                && replayed[2].contains("RETURNING failed_attempts"),
            "{replayed:#?}"
        );
        let locked = statements(|| {
            a.verify_otp(&o, app, totp, &code(step)).unwrap_err();
        });
        assert_eq!(locked.len(), 1, "locked: the read only {locked:#?}");
        assert!(starts(&locked[0], "SELECT"), "{locked:#?}");
        let hotp_ok = statements(|| {
            a.verify_otp(&o, app, hotp, &code(2)).unwrap();
        });
        recorded(&hotp_ok, "an HOTP success");
        assert!(
            starts(&hotp_ok[2], "UPDATE") && hotp_ok[2].contains("counter <"),
            "{hotp_ok:#?}"
        );
        for s in ok.iter().chain(&replayed).chain(&hotp_ok) {
            assert!(!s.contains("updated_at ="), "verifying is not editing: {s}");
        }
        let w = statements(|| {
            a.delete_account(&o, app, hotp).unwrap();
        });
        assert!(
            starts(&w[0], begin),
            "a multi-statement write is one transaction: {w:#?}"
        );
        assert!(starts(w.last().unwrap(), "COMMIT"), "{w:#?}");
    });
}
