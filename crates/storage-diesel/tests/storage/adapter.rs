//! Adapter rules the contract scenarios do not pin down exactly: which conflict a unique
//! violation is, autocommit versus transaction, foreign keys, the HOTP statement, the pool.

use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};
use domain::access::{Access, HandlePattern, IdentityGrant, Restriction, Scope, Scopes};
use domain::audit::AuditQuery;
use domain::entities::{
    Account, AccountParts, App, AppParts, Identity, IdentityEdit, IdentityParts, ServiceToken, ServiceTokenParts,
};
use domain::ids::{AccountId, AppId, IdentityId, OrgId, TokenId};
use domain::otp::{Algorithm, Digits, OtpKind, Period};
use domain::ports::{ConflictKind, HotpAdvance, Lock, Repo, SealedSecret, Store, StoreError};
use domain::time::Timestamp;
use domain::token::TokenHash;
use domain::values::{Handle, IdentityStatus, TokenLifetime};
use storage_diesel::{Backend, DieselStore, PoolOptions};

use crate::support::{TestDb, Which, store, with_db, with_migrated_db};

on_both_backends!(
    unique_violations_name_their_rule,
    run_autocommits_and_transaction_rolls_back,
    foreign_keys_are_enforced,
    hotp_advance_is_one_statement_that_keeps_updated_at,
    kind_columns_that_contradict_the_type_are_a_corrupt_row,
    metadata_the_domain_refuses_is_a_corrupt_row,
    exhausted_pool_fails_fast_as_unavailable,
    pool_state_and_ping,
    a_deadlock_is_run_again_not_answered,
    token_access_round_trips_and_what_the_domain_refuses_is_a_corrupt_row,
    touching_a_token_is_conditional_on_staleness,
    max_token_lifetime_is_upserted_and_checked_on_read,
    audit_within_lists_only_those_records,
);

fn org() -> OrgId {
    OrgId::new("org_a").unwrap()
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_unix_seconds(1_773_835_200 + secs).unwrap()
}

fn uuid() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}

fn identity(id: IdentityId, handle: &str) -> Identity {
    Identity::from_parts(IdentityParts {
        id,
        org: org(),
        handle: Handle::parse(handle).unwrap(),
        status: IdentityStatus::Active,
        created_at: at(0),
        updated_at: at(0),
    })
}

fn app(id: AppId, identity: Option<IdentityId>) -> App {
    App::from_parts(AppParts {
        id,
        org: org(),
        identity_id: identity,
        metadata: Default::default(),
        created_at: at(0),
        updated_at: at(0),
    })
}

fn hotp_account(id: AccountId, app: AppId, counter: u64) -> Account {
    Account::from_parts(AccountParts {
        id,
        org: org(),
        app_id: app,
        kind: OtpKind::Hotp { counter },
        issuer: None,
        account_name: "bob".into(),
        display_name: None,
        description: None,
        algorithm: Algorithm::Sha1,
        digits: Digits::SIX,
        verify_window: None,
        metadata: Default::default(),
        created_at: at(0),
        updated_at: at(0),
    })
}

/// Runs one statement changing one row on a connection of its own, around the adapter and
/// without the CHECK constraints (SQLite ignores them on that connection; on PostgreSQL the
/// test database loses the accounts table's type/period/counter constraint).
fn unchecked(db: &TestDb, sql: &str) {
    let n = match db.backend {
        Backend::Sqlite => {
            let mut c = SqliteConnection::establish(db.sqlite_path()).unwrap();
            diesel::sql_query("PRAGMA ignore_check_constraints = ON")
                .execute(&mut c)
                .unwrap();
            diesel::sql_query(sql).execute(&mut c)
        }
        Backend::Postgres => {
            let mut c = PgConnection::establish(&db.url).unwrap();
            diesel::sql_query("ALTER TABLE accounts DROP CONSTRAINT IF EXISTS accounts_check")
                .execute(&mut c)
                .unwrap();
            diesel::sql_query(sql).execute(&mut c)
        }
    };
    assert_eq!(n.unwrap(), 1, "{sql}");
}

/// An audit event for the inserts that take one.
fn event() -> domain::audit::AuditEvent {
    domain::testkit::contract::test_event(&org(), uuid())
}

/// Inserts an unlinked app and a HOTP account of it at `counter`: their ids and the account.
fn app_with_hotp(s: &DieselStore, counter: u64) -> (AppId, AccountId, Account) {
    let (a, acc) = (AppId::from_uuid(uuid()), AccountId::from_uuid(uuid()));
    s.run(|r| r.insert_app(&app(a, None), &event())).unwrap();
    let account = hotp_account(acc, a, counter);
    s.run(|r| r.insert_account(&account, &SealedSecret(vec![1, 2, 3])))
        .unwrap();
    (a, acc, account)
}

/// `advance_hotp_counter` of `org`'s account `acc`.
fn advance(s: &DieselStore, org: &OrgId, acc: AccountId) -> Result<HotpAdvance, StoreError> {
    s.run(|r| r.advance_hotp_counter(org, acc, &domain::testkit::contract::test_event(org, uuid::Uuid::nil())))
}

/// `got` (a read of `what`) must be a corrupt row, `want` its message.
#[track_caller]
fn assert_corrupt<T: std::fmt::Debug>(got: Result<T, StoreError>, want: &str, what: &str) {
    match got {
        Err(e @ StoreError::Other(_)) => assert_eq!(e.to_string(), want, "{what}"),
        other => panic!("{what}: expected a corrupt row ({want}), got {other:?}"),
    }
}

fn conflict(r: Result<(), StoreError>) -> ConflictKind {
    match r {
        Err(StoreError::Conflict(k)) => k,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

fn unique_violations_name_their_rule(which: Which) {
    with_migrated_db(which, |db| {
        let s = store(db);
        let (alice, bob) = (IdentityId::from_uuid(uuid()), IdentityId::from_uuid(uuid()));
        s.run(|r| r.insert_identity(&identity(alice, "alice"))).unwrap();
        s.run(|r| r.insert_identity(&identity(bob, "bob"))).unwrap();
        let again = IdentityId::from_uuid(uuid());
        assert_eq!(
            conflict(s.run(|r| r.insert_identity(&identity(again, "alice")))),
            ConflictKind::HandleTaken
        );
        assert_eq!(
            conflict(s.run(|r| r.insert_identity(&identity(alice, "carol")))),
            ConflictKind::Unique,
            "duplicate id"
        );
        let renamed = IdentityEdit {
            handle: Handle::parse("alice").unwrap(),
            status: IdentityStatus::Active,
            updated_at: at(1),
        };
        assert_eq!(
            conflict(s.run(|r| r.update_identity(&org(), bob, &renamed))),
            ConflictKind::HandleTaken
        );

        let (app1, app2) = (AppId::from_uuid(uuid()), AppId::from_uuid(uuid()));
        s.run(|r| r.insert_app(&app(app1, Some(alice)), &event())).unwrap();
        s.run(|r| r.insert_app(&app(app2, None), &event())).unwrap();
        s.run(|r| r.insert_app(&app(AppId::from_uuid(uuid()), None), &event()))
            .expect("any number of unlinked apps");
        assert_eq!(
            conflict(s.run(|r| r.insert_app(&app(AppId::from_uuid(uuid()), Some(alice)), &event()))),
            ConflictKind::IdentityHasApp
        );
        assert_eq!(
            conflict(s.run(|r| r.update_app(&org(), app2, &app(app2, Some(alice)).edit()))),
            ConflictKind::IdentityHasApp
        );
        assert_eq!(
            conflict(s.run(|r| r.insert_app(&app(app1, None), &event()))),
            ConflictKind::Unique,
            "duplicate id"
        );

        let token = |id| {
            ServiceToken::from_parts(ServiceTokenParts {
                id,
                org: org(),
                name: None,
                created_at: at(0),
                last_used_at: None,
                revoked_at: None,
                expires_at: None,
                access: Access::admin(),
                parent: None,
            })
        };
        let hash = TokenHash::of("authd_st_x");
        s.run(|r| r.insert_service_token(&token(TokenId::from_uuid(uuid())), &hash))
            .unwrap();
        assert_eq!(
            conflict(s.run(|r| r.insert_service_token(&token(TokenId::from_uuid(uuid())), &hash))),
            ConflictKind::Unique,
            "duplicate token hash"
        );
    });
}

/// A unit of work that inserts the identity `id` with `handle`, then fails.
fn insert_then_fail(id: IdentityId, handle: &str) -> impl Fn(&mut dyn Repo) -> Result<(), StoreError> + '_ {
    move |r| {
        r.insert_identity(&identity(id, handle))?;
        Err(StoreError::Conflict(ConflictKind::Unique))
    }
}

fn run_autocommits_and_transaction_rolls_back(which: Which) {
    with_migrated_db(which, |db| {
        let s = store(db);
        let kept = IdentityId::from_uuid(uuid());
        assert!(s.run(insert_then_fail(kept, "kept")).is_err());
        assert!(
            s.run(|r| r.identity_by_id(&org(), kept)).unwrap().is_some(),
            "run: each statement commits on its own"
        );
        let gone = IdentityId::from_uuid(uuid());
        assert!(s.transaction(insert_then_fail(gone, "gone")).is_err());
        assert!(
            s.run(|r| r.identity_by_id(&org(), gone)).unwrap().is_none(),
            "transaction: all or nothing"
        );
        // The connection that rolled back is fine for the next unit of work.
        let next = IdentityId::from_uuid(uuid());
        s.transaction(|r| r.insert_identity(&identity(next, "next"))).unwrap();
        assert_eq!(s.run(|r| r.list_identities(&org())).unwrap().len(), 2);
    });
}

fn foreign_keys_are_enforced(which: Which) {
    with_migrated_db(which, |db| {
        let s = store(db);
        let orphan = hotp_account(AccountId::from_uuid(uuid()), AppId::from_uuid(uuid()), 0);
        let r = s.run(|r| r.insert_account(&orphan, &SealedSecret(vec![1, 2, 3])));
        assert!(
            matches!(r, Err(StoreError::Other(_))),
            "an account of a missing app must be refused: {r:?}"
        );
    });
}

fn hotp_advance_is_one_statement_that_keeps_updated_at(which: Which) {
    with_migrated_db(which, |db| {
        let s = store(db);
        let (a, acc, account) = app_with_hotp(&s, 41);
        assert_eq!(advance(&s, &org(), acc).unwrap(), HotpAdvance::Use(41));
        assert_eq!(advance(&s, &org(), acc).unwrap(), HotpAdvance::Use(42));
        let read = s.run(|r| r.account(&org(), a, acc)).unwrap().unwrap();
        assert_eq!(*read.kind(), OtpKind::Hotp { counter: 43 });
        assert_eq!(
            read.updated_at(),
            account.updated_at(),
            "using an account is not editing it"
        );
        let other = OrgId::new("org_x").unwrap();
        assert_eq!(
            advance(&s, &other, acc).unwrap(),
            HotpAdvance::Missing,
            "another org's account"
        );
        assert_eq!(
            advance(&s, &org(), AccountId::from_uuid(uuid())).unwrap(),
            HotpAdvance::Missing
        );
    });
}

fn tight_pool(db: &TestDb) -> DieselStore {
    let opts = PoolOptions {
        max_size: 1,
        connection_timeout: Duration::from_millis(300),
        ..PoolOptions::default_for(db.backend)
    };
    let s = DieselStore::connect(&db.url, opts).unwrap();
    s.migrate().unwrap();
    s
}

/// A metadata column the domain would refuse (not JSON, not an object of strings, past a limit)
/// is read as a corrupt row naming the column, on every read of accounts and apps; `{}` and
/// metadata at the limits are read back as written.
fn metadata_the_domain_refuses_is_a_corrupt_row(which: Which) {
    with_migrated_db(which, |db| {
        let s = store(db);
        let (a, acc) = (AppId::from_uuid(uuid()), AccountId::from_uuid(uuid()));
        s.run(|r| r.insert_app(&app(a, None), &event())).unwrap();
        s.run(|r| r.insert_account(&hotp_account(acc, a, 7), &SealedSecret(vec![1, 2, 3])))
            .unwrap();
        let fifty_one: Vec<String> = (0..51).map(|i| format!("\"k{i}\":\"v\"")).collect();
        let fifty_one = format!("{{{}}}", fifty_one.join(","));
        let long_key = format!("{{\"{}\":\"v\"}}", "k".repeat(41));
        let long_value = format!("{{\"k\":\"{}\"}}", "v".repeat(501));
        for bad in [
            "",
            "not json",
            "[]",
            "null",
            "\"x\"",
            "{\"k\":1}",
            "{\"k\":null}",
            "{\"\":\"v\"}",
            "{\"k\":\"a\\u0000b\"}",
            &fifty_one,
            &long_key,
            &long_value,
        ] {
            let quoted = bad.replace('\'', "''");
            unchecked(
                db,
                &format!("UPDATE accounts SET metadata = '{quoted}' WHERE id = '{acc}'"),
            );
            unchecked(db, &format!("UPDATE apps SET metadata = '{quoted}' WHERE id = '{a}'"));
            let want = |t: &str| format!("storage failure: corrupt row in {t}: invalid metadata");
            for (what, got, table) in [
                ("account", s.run(|r| r.account(&org(), a, acc)).map(|_| ()), "accounts"),
                (
                    "list_accounts",
                    s.run(|r| r.list_accounts(&org(), a)).map(|_| ()),
                    "accounts",
                ),
                (
                    "otp_material",
                    s.run(|r| r.otp_material(&org(), a, acc)).map(|_| ()),
                    "accounts",
                ),
                ("app", s.run(|r| r.app(&org(), a)).map(|_| ()), "apps"),
                ("list_apps", s.run(|r| r.list_apps(&org())).map(|_| ()), "apps"),
            ] {
                match got {
                    Err(e @ StoreError::Other(_)) => assert_eq!(e.to_string(), want(table), "{what} of {bad:?}"),
                    other => panic!("{what} of {bad:?}: expected a corrupt row, got {other:?}"),
                }
            }
        }
        let at_limits = format!("{{\"{}\":\"{}\",\"z\":\"\"}}", "é".repeat(40), "é".repeat(500));
        for good in ["{}", at_limits.as_str()] {
            unchecked(
                db,
                &format!("UPDATE accounts SET metadata = '{good}' WHERE id = '{acc}'"),
            );
            unchecked(db, &format!("UPDATE apps SET metadata = '{good}' WHERE id = '{a}'"));
            let account = s.run(|r| r.account(&org(), a, acc)).unwrap().unwrap();
            let got = s.run(|r| r.app(&org(), a)).unwrap().unwrap();
            assert_eq!(account.metadata(), got.metadata());
            assert_eq!(account.metadata().len(), if good == "{}" { 0 } else { 2 });
        }
    });
}

/// The schema's CHECK ties `period` and `counter` to `otp_type`; should a row still contradict
/// it (TOTP without a period or with a counter, HOTP without a counter or with a period), it is
/// read as a corrupt row naming the column, never mended with a default.
fn kind_columns_that_contradict_the_type_are_a_corrupt_row(which: Which) {
    with_db(which, |db| {
        let s = store(db);
        let (a, acc, _) = app_with_hotp(&s, 7);
        let set = |columns: &str| unchecked(db, &format!("UPDATE accounts SET {columns} WHERE id = '{acc}'"));
        let corrupt = |column: &str| {
            let want = format!("storage failure: corrupt row in accounts: invalid {column}");
            for (what, got) in [
                ("account", s.run(|r| r.account(&org(), a, acc)).map(|_| ())),
                ("list_accounts", s.run(|r| r.list_accounts(&org(), a)).map(|_| ())),
                ("otp_material", s.run(|r| r.otp_material(&org(), a, acc)).map(|_| ())),
                (
                    "verify_material",
                    s.run(|r| r.verify_material(&org(), a, acc)).map(|_| ()),
                ),
            ] {
                assert_corrupt(got, &want, what);
            }
        };

        set("counter = NULL");
        corrupt("counter"); // HOTP without a counter
        let advanced = advance(&s, &org(), acc);
        assert!(
            matches!(advanced, Err(StoreError::Other(_))),
            "a HOTP row without a counter is corrupt, not missing: {advanced:?}"
        );
        set("period = 30, counter = 7");
        corrupt("period"); // HOTP with a period
        set("otp_type = 'totp', period = NULL, counter = NULL");
        corrupt("period"); // TOTP without a period
        set("period = 30, counter = 7");
        corrupt("counter"); // TOTP with a counter

        // Consistent again: read as such.
        set("counter = NULL");
        let read = s.run(|r| r.account(&org(), a, acc)).unwrap().unwrap();
        assert_eq!(
            *read.kind(),
            OtpKind::Totp {
                period: Period::new(30).unwrap()
            }
        );
        set("otp_type = 'hotp', period = NULL, counter = 7");
        let read = s.run(|r| r.account(&org(), a, acc)).unwrap().unwrap();
        assert_eq!(*read.kind(), OtpKind::Hotp { counter: 7 });
    });
}

fn exhausted_pool_fails_fast_as_unavailable(which: Which) {
    with_migrated_db(which, |db| {
        let s = tight_pool(db);
        let waited = s
            .run(|_held| {
                let t = Instant::now();
                let r = s.ping();
                assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
                Ok::<_, StoreError>(t.elapsed())
            })
            .unwrap();
        assert!(waited >= Duration::from_millis(250), "waited the timeout: {waited:?}");
        assert!(waited < Duration::from_secs(3), "and no longer: {waited:?}");
        s.ping().expect("the connection is back in the pool");
    });
}

fn pool_state_and_ping(which: Which) {
    with_migrated_db(which, |db| {
        let s = store(db);
        s.ping().unwrap();
        let max = PoolOptions::default_for(db.backend).max_size;
        let st = s.pool_state();
        assert!(st.connections >= 1 && st.connections <= max, "{st:?}");
        assert_eq!(st.idle, st.connections, "nothing in use: {st:?}");
        s.run(|_| {
            let inner = s.pool_state();
            assert_eq!(inner.idle + 1, inner.connections, "one in use: {inner:?}");
            Ok::<_, StoreError>(())
        })
        .unwrap();
        assert_eq!(s.backend(), db.backend);
        let shown = format!("{s:?}");
        assert!(shown.contains("DieselStore"), "{shown}");
    });
}

/// Two transactions that lock two apps in opposite orders deadlock on PostgreSQL: the database
/// aborts one (SQLSTATE 40P01) and the store runs that unit of work again, so both succeed and
/// neither caller sees an error. (SQLite runs one writing transaction at a time: two cannot
/// hold locks at once, so there is nothing to test there.)
fn a_deadlock_is_run_again_not_answered(which: Which) {
    if matches!(which, Which::Sqlite) {
        return;
    }
    with_migrated_db(which, |db| {
        let s = store(db);
        let (a, b) = (AppId::from_uuid(uuid()), AppId::from_uuid(uuid()));
        for id in [a, b] {
            s.run(|r| r.insert_app(&app(id, None), &event())).unwrap();
        }
        let barrier = std::sync::Barrier::new(2);
        let runs = [
            std::sync::atomic::AtomicUsize::new(0),
            std::sync::atomic::AtomicUsize::new(0),
        ];
        let results: Vec<Result<(), StoreError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = [(a, b), (b, a)]
                .into_iter()
                .enumerate()
                .map(|(t, (first, second))| {
                    let (s, barrier, runs) = (&s, &barrier, &runs);
                    scope.spawn(move || {
                        s.transaction(|r| {
                            let run = runs[t].fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            r.lock_app(&org(), first, Lock::Update)?;
                            // Both hold their first lock before either asks for its second.
                            if run == 0 {
                                barrier.wait();
                            }
                            r.lock_app(&org(), second, Lock::Update)?;
                            Ok(())
                        })
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(
            results.iter().all(Result::is_ok),
            "both units of work succeed: {results:?}"
        );
        let total: usize = runs.iter().map(|r| r.load(std::sync::atomic::Ordering::SeqCst)).sum();
        assert_eq!(
            total, 3,
            "one of the two was aborted by the deadlock detector and ran again (runs per thread: {runs:?})"
        );
    });
}

/// A token of `org()` with this access, used at `last_used`.
fn token_with(id: TokenId, access: Access, last_used: Option<Timestamp>) -> ServiceToken {
    ServiceToken::from_parts(ServiceTokenParts {
        id,
        org: org(),
        name: None,
        created_at: at(0),
        last_used_at: last_used,
        revoked_at: None,
        expires_at: Some(at(3600)),
        access,
        parent: None,
    })
}

/// Scopes and restrictions are read back as written (a NULL restriction: the whole
/// organization); stored text the domain cannot read is a corrupt row naming the column, on
/// every read of tokens, never mended into some access.
fn token_access_round_trips_and_what_the_domain_refuses_is_a_corrupt_row(which: Which) {
    with_migrated_db(which, |db| {
        let s = store(db);
        let confined = Access {
            scopes: Scopes::of(&[Scope::AppsRead, Scope::OtpGenerate]),
            restriction: Some(Restriction {
                identities: vec![
                    IdentityGrant::Pattern(HandlePattern::parse("sales-*").unwrap()),
                    IdentityGrant::Pinned(IdentityId::from_uuid(uuid()), Handle::parse("bot").unwrap()),
                ],
                apps: vec![AppId::from_uuid(uuid())],
            }),
        };
        let (id, admin_id) = (TokenId::from_uuid(uuid()), TokenId::from_uuid(uuid()));
        let hash = TokenHash::of("authd_st_confined");
        let written = token_with(id, confined.clone(), None);
        s.run(|r| r.insert_service_token(&written, &hash)).unwrap();
        let admin = token_with(admin_id, Access::admin(), None);
        s.run(|r| r.insert_service_token(&admin, &TokenHash::of("authd_st_admin")))
            .unwrap();
        let by_hash = || s.run(|r| r.service_token_by_hash(&hash));
        let listed = || s.run(|r| r.list_service_tokens(Some(&org())));
        assert_eq!(by_hash().unwrap(), Some(written.clone()));
        assert_eq!(listed().unwrap(), [written.clone(), admin.clone()]);
        assert_eq!(by_hash().unwrap().unwrap().access(), &confined);

        let set = |columns: &str| unchecked(db, &format!("UPDATE service_tokens SET {columns} WHERE id = '{id}'"));
        let corrupt = |column: &str, bad: &str| {
            let want = format!("storage failure: corrupt row in service_tokens: invalid {column}");
            assert_corrupt(by_hash(), &want, &format!("service_token_by_hash of {bad:?}"));
            assert_corrupt(listed(), &want, &format!("list_service_tokens of {bad:?}"));
            assert_corrupt(
                s.run(|r| r.list_service_tokens(None)),
                &want,
                &format!("list_service_tokens(None) of {bad:?}"),
            );
        };
        for bad in ["", " ", "nope", "apps:read nope", "ADMIN"] {
            set(&format!("scopes = '{bad}'"));
            corrupt("scopes", bad);
        }
        set("scopes = 'admin'");
        for bad in ["user:x", "app:nope", "identity:a*b", "identity:bot@nope", "identity:"] {
            set(&format!("restriction = '{bad}'"));
            corrupt("restriction", bad);
        }
        set("scopes = 'otp:generate apps:read', restriction = NULL");
        let read = by_hash().unwrap().unwrap();
        assert_eq!(
            read.access(),
            &Access {
                scopes: confined.scopes,
                restriction: None
            },
            "NULL: the whole organization"
        );
        set("restriction = ''");
        assert_eq!(
            by_hash().unwrap().unwrap().access().restriction,
            Some(Restriction::default()),
            "an empty restriction is one (it sees nothing), not none"
        );
    });
}

/// `touch_service_token` writes `last_used_at` only when it is unset or before `stale_before`
/// (not when it equals it), whatever the number of calls.
fn touching_a_token_is_conditional_on_staleness(which: Which) {
    with_migrated_db(which, |db| {
        let s = store(db);
        let id = TokenId::from_uuid(uuid());
        let hash = TokenHash::of("authd_st_touch");
        s.run(|r| r.insert_service_token(&token_with(id, Access::admin(), None), &hash))
            .unwrap();
        let used = || {
            *s.run(|r| r.service_token_by_hash(&hash))
                .unwrap()
                .unwrap()
                .last_used_at()
        };
        let touch = |now: i64, stale_before: i64| {
            s.run(|r| r.touch_service_token(id, at(now), at(stale_before))).unwrap();
        };
        touch(100, 41);
        assert_eq!(used(), Some(at(100)), "unset: written");
        touch(130, 71);
        assert_eq!(used(), Some(at(100)), "fresh: left alone");
        touch(159, 100);
        assert_eq!(used(), Some(at(100)), "exactly stale_before is not before it");
        touch(160, 101);
        assert_eq!(used(), Some(at(160)), "stale: written");
        let other = TokenId::from_uuid(uuid());
        s.run(|r| r.touch_service_token(other, at(500), at(500))).unwrap();
        assert_eq!(used(), Some(at(160)), "an unknown id changes nothing");
        let (second, second_hash) = (TokenId::from_uuid(uuid()), TokenHash::of("authd_st_second"));
        s.run(|r| r.insert_service_token(&token_with(second, Access::admin(), None), &second_hash))
            .unwrap();
        touch(600, 500);
        assert_eq!(used(), Some(at(600)));
        let second_used = s.run(|r| r.service_token_by_hash(&second_hash)).unwrap().unwrap();
        assert_eq!(*second_used.last_used_at(), None, "only the token touched");
    });
}

/// The maximum token lifetime: none until set, set again over itself, cleared with `None`, per
/// organization; a stored value outside the domain's bounds is a corrupt row.
fn max_token_lifetime_is_upserted_and_checked_on_read(which: Which) {
    with_migrated_db(which, |db| {
        let s = store(db);
        let other = OrgId::new("org_b").unwrap();
        let get = |o: &OrgId| s.run(|r| r.max_token_lifetime(o));
        let put = |o: &OrgId, max: Option<TokenLifetime>, t: i64| {
            s.run(|r| r.set_max_token_lifetime(o, max, at(t))).unwrap();
        };
        let (hour, day) = (
            TokenLifetime::from_seconds(3600).unwrap(),
            TokenLifetime::from_seconds(86_400).unwrap(),
        );
        assert_eq!(get(&org()).unwrap(), None);
        put(&org(), None, 0);
        assert_eq!(get(&org()).unwrap(), None, "clearing nothing is fine");
        put(&org(), Some(hour), 1);
        put(&other, Some(day), 1);
        assert_eq!(get(&org()).unwrap(), Some(hour));
        put(&org(), Some(day), 2);
        assert_eq!(get(&org()).unwrap(), Some(day), "set over itself");
        put(&org(), None, 3);
        assert_eq!(get(&org()).unwrap(), None, "cleared");
        assert_eq!(get(&other).unwrap(), Some(day), "another org's is its own");
        let min = TokenLifetime::from_seconds(TokenLifetime::MIN_SECONDS).unwrap();
        let max = TokenLifetime::from_seconds(TokenLifetime::MAX_SECONDS).unwrap();
        for bound in [min, max] {
            put(&org(), Some(bound), 4);
            assert_eq!(get(&org()).unwrap(), Some(bound));
        }

        let want = "storage failure: corrupt row in org_settings: invalid max_token_lifetime_seconds";
        for bad in [
            -1,
            0,
            TokenLifetime::MIN_SECONDS - 1,
            TokenLifetime::MAX_SECONDS + 1,
            i64::MAX,
        ] {
            unchecked(
                db,
                &format!("UPDATE org_settings SET max_token_lifetime_seconds = {bad} WHERE org_id = 'org_a'"),
            );
            assert_corrupt(get(&org()), want, &format!("{bad} seconds"));
        }
        put(&org(), Some(hour), 5);
        assert_eq!(get(&org()).unwrap(), Some(hour), "a write replaces the corrupt value");
    });
}

/// `AuditQuery::within`: only the events whose resource is listed; an empty list lists nothing;
/// combined with the other filters.
fn audit_within_lists_only_those_records(which: Which) {
    with_migrated_db(which, |db| {
        let s = store(db);
        let (x, y, z) = (uuid(), uuid(), uuid());
        for resource in [x, y, z, x] {
            s.run(|r| r.insert_audit_event(&domain::testkit::contract::test_event(&org(), resource)))
                .unwrap();
        }
        s.run(|r| r.insert_audit_event(&domain::testkit::contract::test_event(&OrgId::new("org_b").unwrap(), y)))
            .unwrap();
        s.transaction(|r| r.sequence_audit_events(u32::MAX)).unwrap();
        let list = |within: Option<Vec<uuid::Uuid>>, resource_id: Option<uuid::Uuid>| {
            let q = AuditQuery {
                within,
                resource_id,
                ..AuditQuery::default()
            };
            s.run(|r| r.list_audit_events(&org(), &q))
                .unwrap()
                .into_iter()
                .map(|e| (e.seq.unwrap(), e.resource_id))
                .collect::<Vec<_>>()
        };
        assert_eq!(list(None, None).len(), 4);
        assert_eq!(list(Some(vec![]), None), [], "an empty list: no events");
        assert_eq!(list(Some(vec![x]), None), [(1, x), (4, x)]);
        assert_eq!(
            list(Some(vec![z, y]), None),
            [(2, y), (3, z)],
            "org_b's event of y is not listed"
        );
        assert_eq!(list(Some(vec![uuid()]), None), [], "an unknown record");
        assert_eq!(list(Some(vec![x, y]), Some(y)), [(2, y)], "with resource_id");
        assert_eq!(list(Some(vec![x]), Some(y)), [], "resource_id outside the list");
    });
}
