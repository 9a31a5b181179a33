//! Under contention, through two separate pools (as two server replicas would) on one database:
//! 400 HOTP generations from 32 threads give 400 distinct counters; 400 TOTP codes from 16
//! threads give 400 events, each written once.

use std::collections::HashMap;

use domain::audit::{Actor, Caller};
use domain::ids::{AccountId, AppId, OrgId};
use domain::otp::{self, Algorithm, Digits};
use domain::service::NewAccount;
use domain::testkit::Kit;
use domain::testkit::contract::RFC_SECRET_B32;
use storage_diesel::DieselStore;

use crate::support::{TestDb, Which, connect, kit, store, with_migrated_db};

on_both_backends!(
    hotp_400_generations_32_threads_two_pools,
    totp_events_of_400_codes_from_16_threads_are_each_written_once,
);

/// Two pools on one database (as two replicas), and one account of `uri` in a new app.
struct Replicas {
    one: Kit<DieselStore>,
    two: Kit<DieselStore>,
    o: Caller,
    app: AppId,
    acc: AccountId,
}

fn replicas(db: &TestDb, uri: &str) -> Replicas {
    let one = kit(store(db));
    // Another process's ids: every replica's events must have ids of their own.
    let two = domain::testkit::kit_with_ids(
        connect(db),
        std::sync::Arc::new(storage_diesel::XChaChaCipher::new(crate::support::KEY)),
        domain::testkit::SeqIds::after(1 << 40),
    );
    let o = Caller::new(OrgId::new("org_a").unwrap(), Actor::Cli);
    let app = *one.authd.create_app(&o, None).unwrap().id();
    let account = NewAccount {
        otpauth_uri: uri.to_owned(),
        display_name: None,
        description: None,
        verify_window: None,
        metadata: Default::default(),
    };
    let acc = *one.authd.create_account(&o, app, account).unwrap().id();
    Replicas { one, two, o, app, acc }
}

fn hotp_400_generations_32_threads_two_pools(which: Which) {
    with_migrated_db(which, |db| {
        let Replicas { one, two, o, app, acc } = replicas(
            db,
            &format!("otpauth://hotp/Acme:bob?secret={RFC_SECRET_B32}&counter=0"),
        );
        const THREADS: usize = 32;
        const TOTAL: usize = 400;
        let codes: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|t| {
                    let k = if t % 2 == 0 { &one } else { &two };
                    // 16 threads make 13 calls and 16 make 12: 400 in all.
                    let calls = TOTAL / THREADS + usize::from(t < TOTAL % THREADS);
                    let o = &o;
                    s.spawn(move || {
                        (0..calls)
                            .map(|_| k.authd.generate_otp(o, app, acc).unwrap().code)
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(codes.len(), TOTAL);
        let mut got: HashMap<String, usize> = HashMap::new();
        for c in codes {
            *got.entry(c).or_default() += 1;
        }
        let mut want: HashMap<String, usize> = HashMap::new();
        for c in 0..TOTAL as u64 {
            *want
                .entry(otp::hotp(Algorithm::Sha1, b"12345678901234567890", c, Digits::SIX))
                .or_default() += 1;
        }
        assert_eq!(got, want, "the codes are exactly HOTP(0..{TOTAL})");
        assert_eq!(
            two.authd.get_account(&o, app, acc).unwrap().kind().counter(),
            Some(TOTAL as u64)
        );
    });
}

/// Stand-alone events under contention: 400 TOTP codes from 16 threads through two pools give
/// 400 `otp.generate` events, each once, and the trail is numbered 1..=n without a gap.
fn totp_events_of_400_codes_from_16_threads_are_each_written_once(which: Which) {
    with_migrated_db(which, |db| {
        let Replicas { one, two, o, app, acc } =
            replicas(db, &format!("otpauth://totp/Acme:bob?secret={RFC_SECRET_B32}"));
        const THREADS: usize = 16;
        const PER_THREAD: usize = 25;
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let k = if t % 2 == 0 { &one } else { &two };
                let o = &o;
                s.spawn(move || {
                    for _ in 0..PER_THREAD {
                        k.authd.generate_otp(o, app, acc).unwrap();
                    }
                });
            }
        });
        let query = domain::audit::AuditQuery {
            limit: domain::audit::MAX_PAGE,
            action: Some(domain::audit::Action::OtpGenerate),
            ..domain::audit::AuditQuery::default()
        };
        let events = one.authd.list_audit_events(&o, &query).unwrap().events;
        assert_eq!(events.len(), THREADS * PER_THREAD, "one event per code");
        let ids: std::collections::HashSet<_> = events.iter().map(|e| e.id).collect();
        assert_eq!(ids.len(), events.len(), "no event written twice");
        // Numbered 1..=n over the whole trail (two creations first, then the codes).
        let all = one
            .authd
            .list_audit_events(
                &o,
                &domain::audit::AuditQuery {
                    limit: domain::audit::MAX_PAGE,
                    ..Default::default()
                },
            )
            .unwrap()
            .events;
        let seqs: Vec<u64> = all.iter().map(|e| e.seq.unwrap()).collect();
        assert_eq!(seqs, (1..=all.len() as u64).collect::<Vec<_>>());
        assert_eq!(all.len(), THREADS * PER_THREAD + 2);
    });
}
