//! The verify use cases on the in-memory store with a fixed clock: rules the port contract
//! scenarios (`testkit::contract::verify`) do not pin down, such as step boundaries, what is
//! (not) counted, and that a typed code never shows up anywhere.

#![expect(clippy::tests_outside_test_module, reason = "an integration-test crate is all tests")]
#![expect(clippy::unwrap_used, reason = "a test panics when it fails")]

use std::sync::Arc;

use domain::Error;
use domain::ids::{AccountId, AppId, OrgId};
use domain::otp::{self, Algorithm, CodeInput, Digits, VerifyWindow};
use domain::ports::{Store, VerificationState};
use domain::service::{FailureReason, NewAccount, Verification};
use domain::testkit::{InMemoryStore, Kit, START, TestCipher, kit, kit_with};

const SECRET_B32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
const SECRET: &[u8] = b"12345678901234567890";

fn org() -> OrgId {
    OrgId::new("org_a").unwrap()
}

fn caller() -> domain::audit::Caller {
    domain::audit::Caller::new(org(), domain::audit::Actor::Cli)
}

fn code(s: &str) -> CodeInput {
    CodeInput::parse(s).unwrap()
}

fn at_step(step: u64) -> CodeInput {
    code(&otp::hotp(Algorithm::Sha1, SECRET, step, Digits::SIX))
}

/// The input of an account from `uri` with a verification window of `window` steps (`None`:
/// the type's default).
fn new_account(uri: &str, window: Option<u64>) -> NewAccount {
    NewAccount {
        otpauth_uri: uri.to_owned(),
        display_name: None,
        description: None,
        verify_window: window.map(|w| VerifyWindow::new(w).unwrap()),
        metadata: Default::default(),
    }
}

fn account(k: &Kit, uri: &str, window: Option<u64>) -> (AppId, AccountId) {
    let app = *k.authd.create_app(&caller(), None).unwrap().id();
    let acc = *k
        .authd
        .create_account(&caller(), app, new_account(uri, window))
        .unwrap()
        .id();
    (app, acc)
}

fn totp(k: &Kit) -> (AppId, AccountId) {
    account(k, &format!("otpauth://totp/x?secret={SECRET_B32}"), None)
}

/// The account's verification state, as the store holds it.
fn state(k: &Kit, id: AccountId) -> VerificationState {
    let store = k.authd.store();
    store.run(|r| r.verification_state(&org(), id)).unwrap().unwrap()
}

fn failures(k: &Kit, id: AccountId) -> u32 {
    state(k, id).failed_attempts
}

#[test]
fn the_window_follows_the_clock_across_a_step_boundary() {
    let k = kit();
    let (app, acc) = account(&k, &format!("otpauth://totp/x?secret={SECRET_B32}"), Some(0));
    let step = u64::try_from(START).unwrap() / 30;
    // The last second of step `step`: its code is current...
    k.clock.set(START + 29);
    let got = k.authd.verify_otp(&caller(), app, acc, &at_step(step)).unwrap();
    assert_eq!(got, Verification::Valid { matched_offset: 0 });
    // ...and one second later, with a window of 0, only the next step's code is: the previous
    // one is no longer looked at (so it is not even a replay).
    k.clock.set(START + 30);
    let got = k.authd.verify_otp(&caller(), app, acc, &at_step(step)).unwrap();
    assert!(
        matches!(
            got,
            Verification::Invalid {
                reason: FailureReason::Invalid,
                ..
            }
        ),
        "{got:?}"
    );
    k.clock.set(START + 31);
    let got = k.authd.verify_otp(&caller(), app, acc, &at_step(step + 1)).unwrap();
    assert_eq!(got, Verification::Valid { matched_offset: 0 });
}

#[test]
fn a_longer_period_and_eight_digits_verify_too() {
    let k = kit();
    let (app, acc) = account(
        &k,
        &format!("otpauth://totp/x?secret={SECRET_B32}&period=60&digits=8&algorithm=sha512"),
        None,
    );
    let seed = b"12345678901234567890";
    k.clock.set(1_111_111_109);
    let c = otp::totp(
        Algorithm::Sha512,
        seed,
        1_111_111_109 - 60,
        otp::Period::new(60).unwrap(),
        Digits::EIGHT,
    );
    let got = k.authd.verify_otp(&caller(), app, acc, &code(&c.code)).unwrap();
    assert_eq!(got, Verification::Valid { matched_offset: -1 });
}

#[test]
fn a_replay_is_a_counted_failure_and_locks() {
    let k = kit();
    let (app, acc) = totp(&k);
    let c = at_step(u64::try_from(START).unwrap() / 30);
    assert!(matches!(
        k.authd.verify_otp(&caller(), app, acc, &c),
        Ok(Verification::Valid { .. })
    ));
    let again = k.authd.verify_otp(&caller(), app, acc, &c).unwrap();
    assert_eq!(
        again,
        Verification::Invalid {
            reason: FailureReason::Replayed,
            remaining_attempts: 99
        }
    );
    assert_eq!(failures(&k, acc), 1);
    assert!(matches!(
        k.authd.verify_otp(&caller(), app, acc, &c),
        Err(Error::TooManyAttempts { retry_after_seconds: 1 })
    ));
}

#[test]
fn digits_of_another_length_are_invalid_and_counted() {
    let k = kit();
    let (app, acc) = totp(&k);
    for (i, typed) in ["1", "12345", "1234567", "0000000000"].iter().enumerate() {
        let got = k.authd.verify_otp(&caller(), app, acc, &code(typed)).unwrap();
        let n = u32::try_from(i).unwrap() + 1;
        assert_eq!(
            got,
            Verification::Invalid {
                reason: FailureReason::Invalid,
                remaining_attempts: 100 - n
            },
            "{typed}"
        );
        k.clock.advance(domain::throttle::lock_seconds(n));
    }
    assert_eq!(failures(&k, acc), 4);
}

#[test]
fn an_unreadable_secret_is_a_500_and_counts_nothing() {
    let k = kit();
    let (app, acc) = account(&k, &format!("otpauth://hotp/x?secret={SECRET_B32}&counter=3"), None);
    // The same rows seen through a service holding another key.
    let other = kit_with(InMemoryStore::new(), Arc::new(TestCipher::new([9; 32])));
    let material = k
        .authd
        .store()
        .run(|r| r.otp_material(&org(), app, acc))
        .unwrap()
        .unwrap();
    other
        .authd
        .store()
        .run(|r| {
            r.insert_app(
                &k.authd.get_app(&caller(), app).unwrap(),
                &domain::testkit::contract::test_event(&org(), app.as_uuid()),
            )?;
            r.insert_account(&material.account, &material.sealed)
        })
        .unwrap();
    let c = code(&otp::hotp(Algorithm::Sha1, SECRET, 3, Digits::SIX));
    assert!(matches!(
        other.authd.verify_otp(&caller(), app, acc, &c),
        Err(Error::SecretUnreadable)
    ));
    let state = state(&other, acc);
    assert_eq!(
        (state.failed_attempts, state.counter),
        (0, Some(3)),
        "nothing counted, nothing used"
    );
    // With the right key the same code is valid.
    assert_eq!(
        k.authd.verify_otp(&caller(), app, acc, &c).unwrap(),
        Verification::Valid { matched_offset: 0 }
    );
}

#[test]
fn a_device_records_last_use_for_a_refused_code_too() {
    let k = kit();
    let a = &k.authd;
    a.create_identity(&caller(), domain::values::Handle::parse("bot").unwrap())
        .unwrap();
    let app = *a
        .create_app(&caller(), Some(&domain::values::Handle::parse("bot").unwrap()))
        .unwrap()
        .id();
    let input = new_account(&format!("otpauth://totp/x?secret={SECRET_B32}"), None);
    let acc = *a.create_account(&caller(), app, input).unwrap().id();
    let e = a
        .enroll_instance(
            &caller(),
            app,
            domain::service::NewInstance {
                device_name: domain::values::DeviceName::parse("Pixel").unwrap(),
                platform: domain::values::Platform::Android,
                device_id: None,
            },
        )
        .unwrap();
    k.clock.advance(5);
    let got = a
        .device_verify_otp(e.device_token.expose(), acc, &code("000000"), None)
        .unwrap();
    assert!(matches!(got, Verification::Invalid { .. }), "{got:?}");
    let inst = a.get_instance(&caller(), app, *e.instance.id()).unwrap();
    assert_eq!(inst.last_used_at().map(|t| t.unix_seconds()), Some(START + 5));
    // Locked: the code is not looked at.
    assert!(matches!(
        a.device_verify_otp(e.device_token.expose(), acc, &code("000000"), None),
        Err(Error::TooManyAttempts { .. })
    ));
}

#[test]
fn the_typed_code_never_shows_in_debug_or_errors() {
    let k = kit();
    let (app, acc) = totp(&k);
    let typed = "918273";
    let c = code(typed);
    assert!(!format!("{c:?}").contains(typed));
    let answers = [
        format!("{:?}", k.authd.verify_otp(&caller(), app, acc, &c)),
        format!("{:?}", k.authd.verify_otp(&caller(), app, acc, &c)),
        format!(
            "{:?}",
            k.authd.verify_otp(
                &domain::audit::Caller::new(OrgId::new("org_x").unwrap(), domain::audit::Actor::Cli),
                app,
                acc,
                &c
            )
        ),
    ];
    for a in &answers {
        assert!(!a.contains(typed), "{a}");
    }
    if let Err(e) = k.authd.verify_otp(&caller(), app, acc, &c) {
        assert!(!e.to_string().contains(typed));
    }
}
