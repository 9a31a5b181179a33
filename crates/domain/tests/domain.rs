//! Domain tests that need no database: the port contract on the in-memory store, and use-case
//! rules that do not depend on storage.

#![expect(clippy::tests_outside_test_module, reason = "an integration-test crate is all tests")]
#![expect(clippy::unwrap_used, reason = "a test panics when it fails")]

mod contract {
    //! The port contract on the in-memory store: every scenario of [`contract::scenarios`], the
    //! one list of them (`storage-diesel` runs the same list on SQLite and PostgreSQL).

    use std::thread;

    use domain::testkit::{InMemoryStore, contract, kit};

    /// Runs every scenario, each on a fresh kit and on a thread named
    /// `contract::memory::<scenario>` (so a failure's panic message names its scenario), and
    /// fails at the end naming every scenario that failed.
    #[test]
    fn every_scenario_on_the_in_memory_store() {
        let scenarios = contract::scenarios::<InMemoryStore>();
        let total = scenarios.len();
        let failed: Vec<&str> = scenarios
            .into_iter()
            .filter(|&(name, scenario)| {
                thread::Builder::new()
                    .name(format!("contract::memory::{name}"))
                    .spawn(move || scenario(&kit()))
                    .unwrap()
                    .join()
                    .is_err()
            })
            .map(|(name, _)| name)
            .collect();
        assert!(
            failed.is_empty(),
            "{} of {total} contract scenarios failed on the in-memory store (their panics are above): {}",
            failed.len(),
            failed.join(", ")
        );
    }

    /// The scenario sources, `contract.rs` and each file of `contract/`: each
    /// `pub fn name<S: Store>(k: &Kit<S>)` in them is a scenario.
    const SOURCES: [&str; 6] = [
        include_str!("../src/testkit/contract.rs"),
        include_str!("../src/testkit/contract/audit.rs"),
        include_str!("../src/testkit/contract/keys.rs"),
        include_str!("../src/testkit/contract/races.rs"),
        include_str!("../src/testkit/contract/tokens.rs"),
        include_str!("../src/testkit/contract/verify.rs"),
    ];

    #[test]
    fn every_scenario_is_in_the_one_list() {
        let mut defined: Vec<&str> = SOURCES
            .iter()
            .flat_map(|src| src.lines())
            .filter_map(|l| l.trim_start().strip_prefix("pub fn "))
            .filter(|rest| rest.contains("&Kit<S>)"))
            .map(|rest| rest.split(['<', '(']).next().unwrap_or_default())
            .collect();
        let mut listed: Vec<&str> = contract::scenarios::<InMemoryStore>().iter().map(|(n, _)| *n).collect();
        defined.sort_unstable();
        listed.sort_unstable();
        assert_eq!(
            defined, listed,
            "contract::scenarios() must list each scenario function exactly once"
        );
    }

    #[test]
    fn every_scenario_file_is_checked() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/testkit/contract");
        let files = std::fs::read_dir(dir).unwrap().count();
        assert_eq!(1 + files, SOURCES.len(), "add new scenario files to SOURCES");
    }
}

mod use_cases {
    use std::sync::Arc;

    use domain::Error;
    use domain::audit::{Actor, Caller};
    use domain::cascade::{CascadePlan, CascadeStep};
    use domain::entities::ServiceToken;
    use domain::error::{Realm, Resource};
    use domain::ids::{AccountId, AppId, IdentityId, OrgId};
    use domain::otp::UriError;
    use domain::ports::{Clock, OtpMaterial, Store};
    use domain::service::{NewAccount, NewToken};
    use domain::testkit::{InMemoryStore, Kit, TestCipher, kit, kit_with};
    use domain::token::PlainToken;
    use domain::values::Handle;

    fn org() -> OrgId {
        OrgId::new("org_a").unwrap()
    }

    fn caller() -> Caller {
        Caller::new(org(), Actor::Cli)
    }

    fn uri(u: &str) -> NewAccount {
        NewAccount {
            otpauth_uri: u.into(),
            display_name: None,
            description: None,
            verify_window: None,
            metadata: Default::default(),
        }
    }

    /// A new unlinked app and an account of it from `u`: their ids.
    fn app_with_account(k: &Kit, u: &str) -> (AppId, AccountId) {
        let app = *k.authd.create_app(&caller(), None).unwrap().id();
        let acc = *k.authd.create_account(&caller(), app, uri(u)).unwrap().id();
        (app, acc)
    }

    /// The account and its sealed secret, as the store holds them.
    fn stored(k: &Kit, app: AppId, acc: AccountId) -> OtpMaterial {
        let store = k.authd.store();
        store.run(|r| r.otp_material(&org(), app, acc)).unwrap().unwrap()
    }

    /// A new service token of `org_a`, authenticated once (so cached): its record and itself.
    fn cached_token(k: &Kit) -> (ServiceToken, PlainToken) {
        let (meta, plain) = k
            .authd
            .create_service_token(&caller(), NewToken::admin(None, None))
            .unwrap();
        k.authd.authenticate_service_token(plain.expose()).unwrap();
        (meta, plain)
    }

    /// Whether the token is refused as a service token.
    fn refused(k: &Kit, plain: &PlainToken) -> bool {
        matches!(
            k.authd.authenticate_service_token(plain.expose()),
            Err(Error::Unauthorized(Realm::Service))
        )
    }

    #[test]
    fn uri_shape_is_invalid_before_app_existence() {
        let k = kit();
        let missing = AppId::from_uuid(uuid::Uuid::now_v7());
        let r = k.authd.create_account(&caller(), missing, uri("http://example.com"));
        match r {
            Err(Error::Uri(UriError::Shape(_))) => {}
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn otp_parameters_are_checked_after_app_existence() {
        let k = kit();
        let missing = AppId::from_uuid(uuid::Uuid::now_v7());
        let bad = uri("otpauth://totp/x?secret=GEZDGNBV&digits=7");
        assert!(matches!(
            k.authd.create_account(&caller(), missing, bad.clone()),
            Err(Error::NotFound(Resource::App))
        ));
        let app = *k.authd.create_app(&caller(), None).unwrap().id();
        assert!(matches!(
            k.authd.create_account(&caller(), app, bad),
            Err(Error::Uri(UriError::Parameter(_)))
        ));
    }

    #[test]
    fn new_account_debug_hides_the_uri() {
        let shown = format!("{:?}", uri("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP"));
        assert!(!shown.contains("JBSWY3DPEHPK3PXP"));
    }

    #[test]
    fn wrong_master_key_is_unreadable_and_does_not_advance_hotp() {
        let k = kit();
        let (app, acc) = app_with_account(&k, "otpauth://hotp/x?secret=GEZDGNBVGY3TQOJQ&counter=3");
        // The same data seen through a service holding another key.
        let store = InMemoryStore::new();
        let other = kit_with(store, Arc::new(TestCipher::new([9; 32])));
        // Move the row across by re-importing it through the store port.
        let material = stored(&k, app, acc);
        let app_row = k.authd.get_app(&caller(), app).unwrap();
        other
            .authd
            .store()
            .run(|r| r.insert_app(&app_row, &domain::testkit::contract::test_event(&org(), app.as_uuid())))
            .unwrap();
        other
            .authd
            .store()
            .run(|r| r.insert_account(&material.account, &material.sealed))
            .unwrap();
        assert!(matches!(
            other.authd.generate_otp(&caller(), app, acc),
            Err(Error::SecretUnreadable)
        ));
        assert_eq!(
            other.authd.get_account(&caller(), app, acc).unwrap().kind().counter(),
            Some(3)
        );
        // With the right key the same row works.
        assert!(k.authd.generate_otp(&caller(), app, acc).is_ok());
    }

    #[test]
    fn moved_ciphertext_does_not_open() {
        let k = kit();
        let (app, a) = app_with_account(&k, "otpauth://totp/a?secret=GEZDGNBVGY3TQOJQ");
        let b = k
            .authd
            .create_account(&caller(), app, uri("otpauth://totp/b?secret=JBSWY3DPEHPK3PXP"))
            .unwrap();
        let sealed_a = stored(&k, app, a).sealed;
        let mut moved = b.clone().into_parts();
        moved.id = AccountId::from_uuid(uuid::Uuid::now_v7());
        let moved = domain::entities::Account::from_parts(moved);
        k.authd.store().run(|r| r.insert_account(&moved, &sealed_a)).unwrap();
        assert!(matches!(
            k.authd.generate_otp(&caller(), app, *moved.id()),
            Err(Error::SecretUnreadable)
        ));
    }

    #[test]
    fn cascade_plans_are_explicit() {
        let k = kit();
        let at = k.clock.now();
        let (app, ident) = (
            AppId::from_uuid(uuid::Uuid::now_v7()),
            IdentityId::from_uuid(uuid::Uuid::now_v7()),
        );
        let p = CascadePlan::delete_app(org(), app, at);
        assert_eq!(
            p.steps(),
            [
                CascadeStep::RevokeInstancesOfApp(app),
                CascadeStep::DeleteAccountsOfApp(app),
                CascadeStep::DeleteApp(app)
            ]
        );
        assert_eq!(p.at(), at);
        let p = CascadePlan::unlink_app(org(), app, at);
        assert_eq!(
            p.steps(),
            [CascadeStep::RevokeInstancesOfApp(app), CascadeStep::UnlinkApp(app)]
        );
        let p = CascadePlan::delete_identity(org(), ident, Some(app), at);
        assert_eq!(
            p.steps(),
            [
                CascadeStep::RevokeInstancesOfApp(app),
                CascadeStep::UnlinkApp(app),
                CascadeStep::DeleteIdentity(ident)
            ]
        );
        let p = CascadePlan::delete_identity(org(), ident, None, at);
        assert_eq!(p.steps(), [CascadeStep::DeleteIdentity(ident)]);
    }

    #[test]
    fn service_token_cache_serves_until_ttl_then_refuses_revoked() {
        let k = kit();
        let (meta, plain) = cached_token(&k);
        // Revoke behind this process's back (as another replica would).
        k.authd
            .store()
            .run(|r| r.revoke_service_token(*meta.id(), k.clock.now()))
            .unwrap();
        assert!(
            k.authd.authenticate_service_token(plain.expose()).is_ok(),
            "cached within the TTL"
        );
        k.clock.advance(domain::auth::CACHE_TTL_SECONDS);
        assert!(refused(&k, &plain));
    }

    #[test]
    fn revocation_in_this_process_is_immediate() {
        let k = kit();
        let (meta, plain) = cached_token(&k);
        k.authd.revoke_service_token(*meta.id(), &Actor::Cli).unwrap();
        assert!(refused(&k, &plain));
    }

    #[test]
    fn handles_in_use_cases_strip_at() {
        let k = kit();
        k.authd
            .create_identity(&caller(), Handle::parse("@bot").unwrap())
            .unwrap();
        assert_eq!(
            k.authd
                .get_identity(&caller(), &Handle::parse("bot").unwrap())
                .unwrap()
                .identity
                .handle()
                .as_str(),
            "bot"
        );
        assert!(k.authd.user_instances(&caller(), "@bot").is_err());
    }
}

mod fuzz_regressions {
    use domain::otp::{MAX_URI_CHARS, OtpAuthUri, UriError};

    /// Found by `fuzz/` (otpauth_uri target, inputs in `fuzz/regressions/`): emission
    /// percent-encodes, so an accepted URI full of control characters can emit a form longer than
    /// the 2048-character limit, which the parser then refuses as shape. The round-trip promise
    /// holds for emitted forms within the limit.
    #[test]
    fn an_emitted_uri_can_outgrow_the_limit_and_is_then_refused_as_shape() {
        let raw = format!("otpauth://totp/{}?secret=JBSWY3DPEHPK3PXP", "\u{1}".repeat(700));
        let uri = OtpAuthUri::parse(&raw).expect("accepted");
        assert_eq!(uri.account_name.chars().count(), 700);
        let emitted = uri.to_uri();
        assert!(emitted.chars().count() > MAX_URI_CHARS);
        assert!(matches!(OtpAuthUri::parse(&emitted), Err(UriError::Shape(_))));
    }

    #[test]
    fn the_fuzzer_inputs_neither_panic_nor_break_a_fitting_round_trip() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/regressions");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).expect("fuzz/regressions") {
            let bytes = std::fs::read(entry.expect("entry").path()).expect("read");
            let Ok(s) = std::str::from_utf8(&bytes) else { continue };
            seen += 1;
            if let Ok(uri) = OtpAuthUri::parse(s) {
                let emitted = uri.to_uri();
                if emitted.chars().count() <= MAX_URI_CHARS {
                    assert_eq!(OtpAuthUri::parse(&emitted).expect("fits, parses"), uri);
                }
            }
        }
        assert!(seen > 0, "no regression inputs found");
    }
}

mod keys {
    //! Key rotation across replicas on one shared store: each replica a service of its own
    //! with its own keyring (the test cipher), as two `authd serve` processes would be.

    use std::sync::Arc;

    use domain::audit::{Action, Actor, AuditQuery, Caller};
    use domain::ids::{AccountId, AppId, OrgId};
    use domain::keys::{KeyAction, KeyError, KeyId, ReplicaBeat};
    use domain::otp::{self, Algorithm, Digits, Period};
    use domain::ports::Clock;
    use domain::service::{Beat, NewAccount};
    use domain::testkit::{InMemoryStore, Kit, START, SeqIds, TestCipher, contract::RFC_SECRET_B32, kit_with_ids};
    use domain::time::Timestamp;

    const OLD: [u8; 32] = [1; 32];
    const NEW: [u8; 32] = [2; 32];

    fn key(s: &str) -> KeyId {
        s.parse().unwrap()
    }

    fn me() -> Caller {
        Caller::new(OrgId::new("org_a").unwrap(), Actor::Cli)
    }

    /// A replica over `store` holding `ring`, registered (or the refusal).
    fn replica(
        store: &Arc<InMemoryStore>,
        id: &str,
        ring: &[(&str, [u8; 32])],
    ) -> Result<(Kit<Arc<InMemoryStore>>, ReplicaBeat), KeyError> {
        // Each replica its own range of ids (they share one database).
        let n = u64::from(id.bytes().map(u32::from).sum::<u32>()) * 1_000_000;
        let k = kit_with_ids(store.clone(), Arc::new(TestCipher::ring(ring)), SeqIds::after(n));
        let at = Timestamp::from_unix_seconds(START).unwrap();
        let mut beat = ReplicaBeat {
            id: id.to_owned(),
            host: "test".to_owned(),
            pid: 1,
            started_at: at,
            seen_at: at,
            keys: Vec::new(),
            sealing: KeyId::legacy(),
        };
        k.authd.register_replica(&mut beat)?;
        Ok((k, beat))
    }

    fn account(k: &Kit<Arc<InMemoryStore>>, app: AppId, uri: &str) -> AccountId {
        let new = NewAccount {
            otpauth_uri: uri.to_owned(),
            display_name: None,
            description: None,
            verify_window: None,
            metadata: Default::default(),
        };
        *k.authd.create_account(&me(), app, new).unwrap().id()
    }

    #[test]
    fn promotion_waits_for_every_replica_then_rewrap_converges_and_codes_stay() {
        let store = Arc::new(InMemoryStore::new());
        let (one, _) = replica(&store, "r1", &[("0", OLD)]).unwrap();
        let app = *one.authd.create_app(&me(), None).unwrap().id();
        let totp = account(&one, app, &format!("otpauth://totp/x?secret={RFC_SECRET_B32}"));
        let hotp = account(
            &one,
            app,
            &format!("otpauth://hotp/y?secret={RFC_SECRET_B32}&counter=3"),
        );
        let gone = account(&one, app, &format!("otpauth://totp/z?secret={RFC_SECRET_B32}"));
        one.authd.delete_account(&me(), app, gone).unwrap();

        // A second replica with the new key first in its ring still seals under the recorded
        // primary: the ring's order no longer chooses.
        let (two, mut beat_two) = replica(&store, "r2", &[("k2", NEW), ("0", OLD)]).unwrap();
        let by_two = account(&two, app, &format!("otpauth://totp/w?secret={RFC_SECRET_B32}"));
        let status = two.authd.key_status().unwrap();
        assert_eq!(status.primary, Some(KeyId::legacy()));
        assert_eq!(status.sealed.by_key, [(KeyId::legacy(), 4)]);

        // Promotion is refused while r1 lacks the key, naming it.
        let refused = two.authd.promote_key(&key("k2")).unwrap_err();
        assert!(matches!(refused, KeyError::ReplicasLack { .. }), "{refused:?}");
        assert!(
            refused.to_string().contains("(r1)") && !refused.to_string().contains("(r2)"),
            "{refused}"
        );
        // r1 restarts with both keys (the old process stops and unregisters).
        one.authd.unregister_replica("r1").unwrap();
        let (one, mut beat_one) = replica(&store, "r1b", &[("0", OLD), ("k2", NEW)]).unwrap();
        two.authd.promote_key(&key("k2")).unwrap();
        let events = two.authd.key_events(5).unwrap();
        assert_eq!(events[0].action, KeyAction::Promote);
        assert_eq!(events[0].details.as_json(), r#"{"from":"0"}"#);

        // r1b has not beaten since: the rewrap waits for it.
        assert!(matches!(
            two.authd.rewrap(2, &mut |_| {}),
            Err(KeyError::ReplicasBehind { .. })
        ));
        assert_eq!(
            one.authd.heartbeat(&mut beat_one).unwrap(),
            Beat::Sealing {
                primary: key("k2"),
                switched: true
            }
        );
        two.authd.heartbeat(&mut beat_two).unwrap();
        // Retiring the old key is refused right after a promotion (a replica may still commit a
        // value it sealed under the old key), then while values are under it.
        assert!(matches!(
            two.authd.retire_key(&KeyId::legacy()),
            Err(KeyError::TooSoon { since: 0 })
        ));
        two.clock.advance(domain::keys::REPLICA_LIVE_SECONDS);
        assert!(matches!(
            two.authd.retire_key(&KeyId::legacy()),
            Err(KeyError::StillSealed { count: 4, .. })
        ));

        let mut seen = Vec::new();
        let done = two.authd.rewrap(2, &mut |p| seen.push(p)).unwrap();
        assert_eq!((done.rewrapped, done.skipped, done.pass), (4, 0, 1));
        assert_eq!(
            seen.iter().map(|p| p.rewrapped).collect::<Vec<_>>(),
            [2, 4],
            "one call per batch"
        );
        let status = two.authd.key_status().unwrap();
        assert_eq!(status.sealed.by_key, [(key("k2"), 4)]);
        let again = two.authd.rewrap(2, &mut |_| panic!("nothing to do")).unwrap();
        assert_eq!(again.rewrapped, 0, "idempotent");
        assert_eq!(two.authd.key_events(1).unwrap()[0].action, KeyAction::Rewrap);

        // Each value re-sealed is an event of its organization.
        let page = one
            .authd
            .list_audit_events(
                &me(),
                &AuditQuery {
                    action: Some(Action::AccountRewrap),
                    ..AuditQuery::default()
                },
            )
            .unwrap();
        let mut ids: Vec<uuid::Uuid> = page.events.iter().map(|e| e.resource_id).collect();
        ids.sort();
        let mut want: Vec<uuid::Uuid> = [totp, hotp, gone, by_two].iter().map(|a| a.as_uuid()).collect();
        want.sort();
        assert_eq!(ids, want);
        assert_eq!(page.events[0].details.as_json(), r#"{"from":"0","to":"k2"}"#);

        // The old key retires; a replica with the new key alone reads every value; one with
        // the old key alone may not start.
        two.authd.retire_key(&KeyId::legacy()).unwrap();
        let (fresh, _) = replica(&store, "r3", &[("k2", NEW)]).unwrap();
        let now = u64::try_from(fresh.clock.now().unix_seconds()).unwrap();
        let code = fresh.authd.generate_otp(&me(), app, totp).unwrap().code;
        let rfc = b"12345678901234567890";
        assert_eq!(
            code,
            otp::totp(
                Algorithm::Sha1,
                rfc,
                now,
                Period::new(30).unwrap(),
                Digits::new(6).unwrap()
            )
            .code
        );
        let code = fresh.authd.generate_otp(&me(), app, hotp).unwrap().code;
        assert_eq!(code, otp::hotp(Algorithm::Sha1, rfc, 3, Digits::new(6).unwrap()));
        let refused = replica(&store, "r4", &[("0", OLD)]).map(|_| ()).unwrap_err();
        assert!(matches!(refused, KeyError::PrimaryNotHeld { .. }), "{refused:?}");
        assert!(matches!(
            two.authd.promote_key(&KeyId::legacy()),
            Err(KeyError::Retired(_))
        ));
    }
}
