//! HOTP counters under contention: 400 generations from 32 threads through two separate pools
//! (as two server replicas would) on one database give 400 distinct counters.

use std::collections::HashMap;

use domain::ids::OrgId;
use domain::otp::{self, Algorithm, Digits};
use domain::service::NewAccount;
use domain::testkit::contract::RFC_SECRET_B32;

use crate::support::{Which, connect, kit, store, with_migrated_db};

on_both_backends!(hotp_400_generations_32_threads_two_pools);

fn hotp_400_generations_32_threads_two_pools(which: Which) {
    with_migrated_db(which, |db| {
        let one = kit(store(db));
        // Another process's ids: every replica's events must have ids of their own.
        let two = domain::testkit::kit_with_ids(
            connect(db),
            std::sync::Arc::new(storage_diesel::XChaChaCipher::new(crate::support::KEY)),
            domain::testkit::SeqIds::after(1 << 40),
        );
        let o = domain::audit::Caller::new(OrgId::new("org_a").unwrap(), domain::audit::Actor::Cli);
        let app = *one.authd.create_app(&o, None).unwrap().id();
        let acc = *one
            .authd
            .create_account(
                &o,
                app,
                NewAccount {
                    otpauth_uri: format!("otpauth://hotp/Acme:bob?secret={RFC_SECRET_B32}&counter=0"),
                    display_name: None,
                    description: None,
                    verify_window: None,
                },
            )
            .unwrap()
            .id();
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
