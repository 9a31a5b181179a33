//! Verification scenarios of the port contract: the window, replay refusal, throttling and the
//! HOTP look-ahead through the use cases (so through `verify_material`, `verification_state`
//! and the three `record_verify_*` statements), and two races: one valid code verified from 16
//! threads at once gives exactly one success, and wrong codes verified at once are each either
//! counted or refused as locked, with no count lost.

use std::sync::Barrier;

use crate::Error;
use crate::audit::Caller;
use crate::error::{Realm, Resource};
use crate::ids::{AccountId, AppId};
use crate::otp::{self, Algorithm, CodeInput, Digits, Period, VerifyWindow};
use crate::ports::{Clock, Store, VerificationState};
use crate::service::{AccountPatch, FailureReason, IdentityPatch, Lockout, Verification};
use crate::testkit::Kit;
use crate::values::Patch;

use super::{assert_not_found, fixture, h, hotp_uri, new_account, org, totp_uri};

/// The secret of the scenario URIs.
const SECRET: &[u8] = b"12345678901234567890";

/// Rounds of the race scenarios.
const ROUNDS: usize = 12;

fn code(s: &str) -> CodeInput {
    CodeInput::parse(s).unwrap()
}

/// The 6-digit SHA-1 TOTP code of the scenario secret at time step `step` (period 30).
fn totp_at_step(step: u64) -> CodeInput {
    code(&otp::hotp(Algorithm::Sha1, SECRET, step, Digits::SIX))
}

/// The 6-digit SHA-1 HOTP code of the scenario secret at `counter`.
fn hotp_at(counter: u64) -> CodeInput {
    code(&otp::hotp(Algorithm::Sha1, SECRET, counter, Digits::SIX))
}

/// A code that is none of `avoid`'s (six digits).
fn wrong_code(avoid: &[CodeInput]) -> CodeInput {
    (0..1000u32)
        .map(|n| code(&format!("{n:06}")))
        .find(|c| !avoid.contains(c))
        .unwrap()
}

/// A code that is none of the TOTP codes of steps `step - 1..=step + 1`.
fn wrong_near_step(step: u64) -> CodeInput {
    wrong_code(&[totp_at_step(step - 1), totp_at_step(step), totp_at_step(step + 1)])
}

/// An account patch that sets (or clears) the verification window alone.
fn window_patch(verify_window: Patch<VerifyWindow>) -> AccountPatch {
    AccountPatch {
        verify_window,
        ..AccountPatch::default()
    }
}

/// An identity patch that sets the status alone.
fn status_patch(status: &str) -> IdentityPatch {
    IdentityPatch {
        handle: None,
        status: Some(status.into()),
    }
}

fn now_step<S: Store>(k: &Kit<S>) -> u64 {
    u64::try_from(k.clock.now().unix_seconds()).unwrap() / 30
}

fn state<S: Store>(k: &Kit<S>, o: &Caller, id: AccountId) -> VerificationState {
    k.authd
        .store()
        .run(|r| r.verification_state(o.org(), id))
        .unwrap()
        .expect("a live account has a verification state")
}

fn valid(offset: i64) -> Result<Verification, Error> {
    Ok(Verification::Valid { matched_offset: offset })
}

fn refused(reason: FailureReason, remaining: u32) -> Result<Verification, Error> {
    Ok(Verification::Invalid {
        reason,
        remaining_attempts: remaining,
    })
}

/// Compares a verification result, showing both on failure (errors have no `PartialEq`).
#[track_caller]
fn assert_verified(got: Result<Verification, Error>, want: Result<Verification, Error>, what: &str) {
    let same = match (&got, &want) {
        (Ok(g), Ok(w)) => g == w,
        (
            Err(Error::TooManyAttempts { retry_after_seconds: g }),
            Err(Error::TooManyAttempts { retry_after_seconds: w }),
        ) => g == w,
        (Err(Error::NotFound(g)), Err(Error::NotFound(w))) => g == w,
        (Err(Error::Unauthorized(g)), Err(Error::Unauthorized(w))) => g == w,
        (Err(Error::Paused), Err(Error::Paused)) => true,
        _ => false,
    };
    assert!(same, "{what}: got {got:?}, want {want:?}");
}

fn locked(secs: u64) -> Result<Verification, Error> {
    Err(Error::TooManyAttempts {
        retry_after_seconds: secs,
    })
}

fn totp_account<S: Store>(k: &Kit<S>, o: &Caller, window: Option<u64>) -> (AppId, AccountId) {
    let app = *k.authd.create_app(o, None).unwrap().id();
    let mut input = new_account(&totp_uri());
    input.verify_window = window.map(|w| VerifyWindow::new(w).unwrap());
    let acc = *k.authd.create_account(o, app, input).unwrap().id();
    (app, acc)
}

/// TOTP: the current step and `window` steps either side are accepted (the default window is
/// 1), with the step's offset; a step at or before the last accepted one is `Replayed`;
/// outside the window is `Invalid`; the window is set on create and by PATCH (null: default).
pub fn verify_totp_window_and_replay<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_v"));
    let (app, acc) = totp_account(k, &o, None);
    assert_eq!(a.get_account(&o, app, acc).unwrap().effective_verify_window().get(), 1);
    let s = now_step(k);
    let at_step = |step: u64| a.verify_otp(&o, app, acc, &totp_at_step(step));

    assert_verified(at_step(s - 1), valid(-1), "previous step");
    assert_eq!(state(k, &o, acc).last_verified_step, Some(s - 1));
    let replayed = refused(FailureReason::Replayed, 99);
    assert_verified(at_step(s - 1), replayed, "the same code again");
    k.clock.advance(1); // past the 1 s lock of that failure
    assert_verified(at_step(s + 1), valid(1), "next step");
    assert_eq!(
        state(k, &o, acc),
        VerificationState {
            last_verified_step: Some(s + 1),
            failed_attempts: 0,
            locked_until: None,
            counter: None,
        },
        "a success resets the failures and the lock"
    );
    // The current step is now behind the last accepted one: a replay, though never used.
    let replayed = refused(FailureReason::Replayed, 99);
    assert_verified(at_step(s), replayed, "a step before the last accepted one");
    k.clock.advance(1);
    let outside = refused(FailureReason::Invalid, 98);
    assert_verified(at_step(s + 2), outside, "two steps ahead, outside a window of 1");
    assert_eq!(state(k, &o, acc).failed_attempts, 2);

    // A window of 3 set by PATCH reaches s + 3 (the clock is still in step s).
    k.clock.advance(2);
    let patch = window_patch(Patch::Set(VerifyWindow::new(3).unwrap()));
    let patched = a.update_account(&o, app, acc, patch).unwrap();
    assert_eq!(*patched.verify_window(), VerifyWindow::new(3));
    assert_eq!(a.get_account(&o, app, acc).unwrap().effective_verify_window().get(), 3);
    assert_verified(at_step(s + 3), valid(3), "window 3");
    // null resets to the default.
    let patched = a.update_account(&o, app, acc, window_patch(Patch::Clear)).unwrap();
    assert_eq!(*patched.verify_window(), None);
    assert_eq!(patched.effective_verify_window().get(), 1);

    // A window of 0, from the create body: only the current step.
    let (app0, acc0) = totp_account(k, &o, Some(0));
    let at_step0 = |step: u64| a.verify_otp(&o, app0, acc0, &totp_at_step(step));
    let s = now_step(k);
    let invalid = refused(FailureReason::Invalid, 99);
    assert_verified(at_step0(s + 1), invalid, "window 0, next step");
    k.clock.advance(1);
    let s = now_step(k);
    assert_verified(at_step0(s), valid(0), "window 0, this step");
    // A string of digits of another length is simply invalid (and counted).
    k.clock.advance(1);
    let eight = otp::totp(
        Algorithm::Sha1,
        SECRET,
        u64::try_from(k.clock.now().unix_seconds()).unwrap(),
        Period::new(30).unwrap(),
        Digits::EIGHT,
    );
    assert_verified(
        a.verify_otp(&o, app0, acc0, &code(&eight.code)),
        refused(FailureReason::Invalid, 99),
        "an 8-digit code for a 6-digit account",
    );
}

/// Each failure locks for 2^(n-1) s after the n-th in a row (1, 2, 4, ... 512, then 900 from the
/// 11th on); while locked the answer is `TooManyAttempts` with the seconds left and nothing is
/// counted; a success resets; at 0 remaining attempts failures still count and lock for 900 s.
pub fn verify_throttle_delays_and_reset<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_v"));
    let (app, acc) = totp_account(k, &o, None);
    let right = |k: &Kit<S>| totp_at_step(now_step(k));
    let wrong = |k: &Kit<S>| wrong_near_step(now_step(k));
    for n in 1..=12u32 {
        assert_verified(
            a.verify_otp(&o, app, acc, &wrong(k)),
            refused(FailureReason::Invalid, 100 - n),
            &format!("failure {n}"),
        );
        let lock = crate::throttle::lock_seconds(n);
        assert_eq!(lock, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900][n as usize - 1]);
        let st = state(k, &o, acc);
        assert_eq!(st.failed_attempts, n);
        assert_eq!(st.locked_until, Some(k.clock.now().plus_seconds(lock)));
        // Locked: even the right code is refused, and not counted.
        let secs = u64::try_from(lock).unwrap();
        assert_verified(
            a.verify_otp(&o, app, acc, &right(k)),
            locked(secs),
            "locked, right code",
        );
        assert_verified(
            a.verify_otp(&o, app, acc, &wrong(k)),
            locked(secs),
            "locked, wrong code",
        );
        if lock > 1 {
            k.clock.advance(lock - 1);
            assert_verified(a.verify_otp(&o, app, acc, &wrong(k)), locked(1), "one second left");
            k.clock.advance(1);
        } else {
            k.clock.advance(1);
        }
        assert_eq!(state(k, &o, acc).failed_attempts, n, "locked attempts are not counted");
    }
    // A success resets the count and the lock.
    assert_verified(
        a.verify_otp(&o, app, acc, &right(k)),
        valid(0),
        "right code after the lock",
    );
    assert_eq!(state(k, &o, acc).failed_attempts, 0);
    assert_eq!(state(k, &o, acc).locked_until, None);
    assert_verified(
        a.verify_otp(&o, app, acc, &wrong(k)),
        refused(FailureReason::Invalid, 99),
        "counting starts again",
    );

    // Zero remaining attempts: still counted, still a 900 s lock each time, never below 0.
    let (app, acc) = totp_account(k, &o, None);
    for n in 1..=102u32 {
        let r = a.verify_otp(&o, app, acc, &wrong(k));
        assert_verified(
            r,
            refused(FailureReason::Invalid, 100u32.saturating_sub(n)),
            &format!("failure {n}"),
        );
        k.clock.advance(crate::throttle::lock_seconds(n));
    }
    let st = state(k, &o, acc);
    assert_eq!(st.failed_attempts, 102);
    assert_eq!(st.locked_until, Some(k.clock.now()), "the last lock just ended");
    assert_verified(
        a.verify_otp(&o, app, acc, &wrong(k)),
        refused(FailureReason::Invalid, 0),
        "103rd",
    );
    assert_verified(
        a.verify_otp(&o, app, acc, &wrong(k)),
        locked(900),
        "locked for 15 minutes",
    );
    k.clock.advance(900);
    assert_verified(
        a.verify_otp(&o, app, acc, &right(k)),
        valid(0),
        "a success still resets",
    );
    assert_eq!(state(k, &o, acc).failed_attempts, 0);
}

/// HOTP: the look-ahead covers the stored counter and `window` more (default 10); a match at
/// counter c moves the stored counter to c + 1 (generation shares it); a counter behind the
/// stored one within the window is `Replayed`.
pub fn verify_hotp_look_ahead_moves_the_counter<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_v"));
    let app = *a.create_app(&o, None).unwrap().id();
    let acc = *a.create_account(&o, app, new_account(&hotp_uri(0))).unwrap().id();
    let counter = |k: &Kit<S>| k.authd.get_account(&o, app, acc).unwrap().kind().counter();
    let at = |acc: AccountId, c: u64| a.verify_otp(&o, app, acc, &hotp_at(c));
    assert_eq!(a.get_account(&o, app, acc).unwrap().effective_verify_window().get(), 10);

    assert_verified(at(acc, 3), valid(3), "counter 3 of 0..=10");
    assert_eq!(counter(k), Some(4));
    assert_verified(at(acc, 3), refused(FailureReason::Replayed, 99), "counter 3 again");
    k.clock.advance(1);
    assert_verified(
        at(acc, 1),
        refused(FailureReason::Replayed, 98),
        "counter 1, skipped by the look-ahead, is behind the stored counter",
    );
    k.clock.advance(2);
    let past = refused(FailureReason::Invalid, 97);
    assert_verified(at(acc, 15), past, "counter 15 is past 4..=14");
    assert_eq!(counter(k), Some(4), "failures leave the counter alone");
    // Generation uses counter 4: its code is then used, and verifying it is a replay.
    let generated = a.generate_otp(&o, app, acc).unwrap();
    assert_eq!(counter(k), Some(5));
    k.clock.advance(4);
    assert_verified(
        a.verify_otp(&o, app, acc, &code(&generated.code)),
        refused(FailureReason::Replayed, 96),
        "a generated code",
    );
    k.clock.advance(8);
    assert_verified(at(acc, 15), valid(10), "counter 15 of 5..=15");
    assert_eq!(counter(k), Some(16));
    assert_eq!(state(k, &o, acc).failed_attempts, 0);
    assert_eq!(
        a.generate_otp(&o, app, acc).unwrap().code,
        hotp_at(16).expose(),
        "generation goes on after the verified counter"
    );

    // Window 0: only the stored counter itself.
    let patch = window_patch(Patch::Set(VerifyWindow::new(0).unwrap()));
    a.update_account(&o, app, acc, patch).unwrap();
    let invalid = refused(FailureReason::Invalid, 99);
    assert_verified(at(acc, 18), invalid, "window 0, one ahead");
    k.clock.advance(1);
    assert_verified(at(acc, 17), valid(0), "window 0, the stored counter");
    assert_eq!(counter(k), Some(18));

    // The last usable counter can be verified; then nothing is ahead.
    let max = otp::MAX_COUNTER;
    let top = *a.create_account(&o, app, new_account(&hotp_uri(max - 1))).unwrap().id();
    assert_verified(at(top, max - 1), valid(0), "the last counter");
    assert_eq!(a.get_account(&o, app, top).unwrap().kind().counter(), Some(max));
    let replayed = refused(FailureReason::Replayed, 99);
    assert_verified(at(top, max - 1), replayed, "the last counter again");
}

/// 404 for another org's, another app's or a deleted account (before 403), 403 for a paused
/// identity (before 429, and nothing counted); the device path verifies its app's accounts and
/// records `last_used_at`.
pub fn verify_existence_paused_and_device<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_v"));
    let f = fixture(k, &o, "alice");
    let s = now_step(k);
    let any = totp_at_step(s);
    assert_verified(
        a.verify_otp(&org("org_x"), f.app, f.totp, &any),
        Err(Error::NotFound(Resource::Account)),
        "other org",
    );
    let other = *a.create_app(&o, None).unwrap().id();
    assert_verified(
        a.verify_otp(&o, other, f.totp, &any),
        Err(Error::NotFound(Resource::Account)),
        "other app",
    );

    // Locked, then paused: 403 wins; nothing is counted while paused.
    let wrong = wrong_near_step(s);
    assert_verified(
        a.verify_otp(&o, f.app, f.totp, &wrong),
        refused(FailureReason::Invalid, 99),
        "a failure",
    );
    a.update_identity(&o, &h("alice"), status_patch("paused")).unwrap();
    assert_verified(
        a.verify_otp(&o, f.app, f.totp, &any),
        Err(Error::Paused),
        "paused and locked",
    );
    assert_verified(
        a.device_verify_otp(&f.device_token, f.totp, &any, None),
        Err(Error::Paused),
        "device, paused",
    );
    a.update_identity(&o, &h("alice"), status_patch("active")).unwrap();
    assert_eq!(state(k, &o, f.totp).failed_attempts, 1);
    assert_verified(
        a.verify_otp(&o, f.app, f.totp, &any),
        locked(1),
        "locked again once active",
    );

    // The device path, a second later.
    k.clock.advance(1);
    assert_verified(
        a.device_verify_otp(&f.device_token, f.totp, &any, None),
        valid(0),
        "device, TOTP",
    );
    let inst = a.get_instance(&o, f.app, f.instance).unwrap();
    assert_eq!(*inst.last_used_at(), Some(k.clock.now()), "last_used_at recorded");
    assert_verified(
        a.device_verify_otp(&f.device_token, f.hotp, &hotp_at(0), None),
        valid(0),
        "device, HOTP",
    );
    assert_eq!(a.get_account(&o, f.app, f.hotp).unwrap().kind().counter(), Some(1));
    let g = fixture(k, &o, "bob");
    assert_verified(
        a.device_verify_otp(&f.device_token, g.totp, &any, None),
        Err(Error::NotFound(Resource::Account)),
        "device, another app's account",
    );
    assert_verified(
        a.device_verify_otp("authd_dev_unknown", f.totp, &any, None),
        Err(Error::Unauthorized(Realm::Device)),
        "unknown device token",
    );

    // Deleted: 404, and the state is gone with the account.
    a.delete_account(&o, f.app, f.totp).unwrap();
    assert_verified(
        a.verify_otp(&o, f.app, f.totp, &any),
        Err(Error::NotFound(Resource::Account)),
        "deleted account",
    );
    let gone = a.store().run(|r| r.verification_state(o.org(), f.totp)).unwrap();
    assert_eq!(gone, None);
}

/// Runs `n` copies of `f` on as many threads, released together.
fn race<R: Send>(n: usize, f: impl Fn() -> R + Sync) -> Vec<R> {
    let barrier = Barrier::new(n);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let (barrier, f) = (&barrier, &f);
                s.spawn(move || {
                    barrier.wait();
                    f()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a racing verification panicked"))
            .collect()
    })
}

/// One valid code verified from 16 threads at once: exactly one success; every other answer is
/// `Replayed` (counted) or locked by such a failure (not counted), and the stored failure count
/// is the number of `Replayed` answers. For TOTP and for HOTP, every round on a fresh account.
pub fn verify_race_one_valid_code_one_success<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_vrace"));
    let mut violations = Vec::new();
    for round in 0..ROUNDS {
        let (app, totp) = totp_account(k, &o, None);
        let hotp = *a.create_account(&o, app, new_account(&hotp_uri(0))).unwrap().id();
        for (what, acc, c) in [("totp", totp, totp_at_step(now_step(k))), ("hotp", hotp, hotp_at(2))] {
            let results = race(16, || a.verify_otp(&o, app, acc, &c));
            let wins = results
                .iter()
                .filter(|r| matches!(r, Ok(Verification::Valid { .. })))
                .count();
            let replayed = results
                .iter()
                .filter(|r| {
                    matches!(
                        r,
                        Ok(Verification::Invalid {
                            reason: FailureReason::Replayed,
                            ..
                        })
                    )
                })
                .count();
            let locked = results
                .iter()
                .filter(|r| matches!(r, Err(Error::TooManyAttempts { .. })))
                .count();
            if wins != 1 || wins + replayed + locked != 16 {
                violations.push(format!(
                    "round {round} {what}: {wins} successes, {replayed} replayed, {locked} locked: {results:?}"
                ));
            }
            let st = state(k, &o, acc);
            if st.failed_attempts as usize != replayed {
                violations.push(format!(
                    "round {round} {what}: {replayed} replayed answers, {} failures stored",
                    st.failed_attempts
                ));
            }
            if what == "hotp" && st.counter != Some(3) {
                violations.push(format!(
                    "round {round}: counter {:?} after verifying counter 2",
                    st.counter
                ));
            }
        }
        k.clock.advance(31); // a new step for the next round's TOTP code
    }
    assert!(
        violations.is_empty(),
        "verify_race_one_valid_code_one_success: {} violation(s) in {ROUNDS} rounds, e.g. {:?}",
        violations.len(),
        &violations[..violations.len().min(5)]
    );
}

/// M = 12 wrong codes verified at once, round after round on one account (the clock moved past
/// the lock in between): every answer is `Invalid` or locked, never anything else, and after
/// every round the stored failure count equals the number of `Invalid` answers so far, each of
/// which reported its own count (no update lost, none counted twice).
pub fn verify_race_wrong_codes_lose_no_count<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_vrace"));
    let (app, acc) = totp_account(k, &o, None);
    let mut violations = Vec::new();
    let mut invalid_so_far = 0u32;
    for round in 0..ROUNDS {
        let s = now_step(k);
        let bad = wrong_near_step(s);
        let results = race(12, || a.verify_otp(&o, app, acc, &bad));
        let mut remaining: Vec<u32> = Vec::new();
        for r in &results {
            match r {
                Ok(Verification::Invalid {
                    reason: FailureReason::Invalid,
                    remaining_attempts,
                }) => remaining.push(*remaining_attempts),
                Err(Error::TooManyAttempts { .. }) => {}
                other => violations.push(format!("round {round}: unexpected answer {other:?}")),
            }
        }
        let before = invalid_so_far;
        invalid_so_far += u32::try_from(remaining.len()).unwrap();
        remaining.sort_unstable_by(|x, y| y.cmp(x));
        let want: Vec<u32> = (before + 1..=invalid_so_far).map(|n| 100 - n).collect();
        if remaining != want {
            violations.push(format!(
                "round {round}: remaining_attempts {remaining:?}, want {want:?}"
            ));
        }
        let stored = state(k, &o, acc).failed_attempts;
        if stored != invalid_so_far {
            violations.push(format!(
                "round {round}: {invalid_so_far} invalid answers so far, {stored} failures stored"
            ));
        }
        k.clock.advance(1_000); // past any lock
    }
    assert!(
        invalid_so_far >= u32::try_from(ROUNDS).unwrap(),
        "at least one counted per round"
    );
    assert!(
        violations.is_empty(),
        "verify_race_wrong_codes_lose_no_count: {} violation(s) in {ROUNDS} rounds, e.g. {:?}",
        violations.len(),
        &violations[..violations.len().min(5)]
    );
}

/// The lockout read (`Authd::account_lockout`) shows what throttling stored: the consecutive
/// failures, `remaining_attempts`, and the lock's end only while it lasts (with the seconds a
/// verification's `Retry-After` would say); a success clears it; it reads, never writes (no
/// event); an account of another app, a deleted one or another organization's is not found.
pub fn verify_lockout_reads_the_throttle<S: Store>(k: &Kit<S>) {
    let (a, o) = (&k.authd, org("org_v"));
    let (app, acc) = totp_account(k, &o, None);
    let unlocked = |failed: u32| Lockout {
        failed_attempts: failed,
        remaining_attempts: 100 - failed,
        locked_until: None,
        retry_after_seconds: None,
    };
    assert_eq!(a.account_lockout(&o, app, acc).unwrap(), unlocked(0));
    let wrong = |k: &Kit<S>| wrong_near_step(now_step(k));
    for n in 1..=3u32 {
        a.verify_otp(&o, app, acc, &wrong(k)).unwrap();
        if n < 3 {
            k.clock.advance(crate::throttle::lock_seconds(n));
        }
    }
    let events = || {
        k.authd
            .list_audit_events(&o, &crate::audit::AuditQuery::default())
            .unwrap()
            .events
            .len()
    };
    let before = events();
    assert_eq!(
        a.account_lockout(&o, app, acc).unwrap(),
        Lockout {
            failed_attempts: 3,
            remaining_attempts: 97,
            locked_until: Some(k.clock.now().plus_seconds(4)),
            retry_after_seconds: Some(4),
        }
    );
    k.clock.advance(3);
    assert_eq!(a.account_lockout(&o, app, acc).unwrap().retry_after_seconds, Some(1));
    assert_eq!(events(), before, "reading the lockout writes no event");
    // The lock ended: not shown, the count stays until a success.
    k.clock.advance(1);
    assert_eq!(a.account_lockout(&o, app, acc).unwrap(), unlocked(3));
    assert_verified(
        a.verify_otp(&o, app, acc, &totp_at_step(now_step(k))),
        valid(0),
        "a success",
    );
    assert_eq!(a.account_lockout(&o, app, acc).unwrap(), unlocked(0));

    // HOTP accounts are throttled alike.
    let hotp = *a.create_account(&o, app, new_account(&hotp_uri(0))).unwrap().id();
    a.verify_otp(&o, app, hotp, &wrong_code(&(0..=10).map(hotp_at).collect::<Vec<_>>()))
        .unwrap();
    let l = a.account_lockout(&o, app, hotp).unwrap();
    assert_eq!((l.failed_attempts, l.retry_after_seconds), (1, Some(1)));

    // Not found: under another app, another organization, deleted, a missing app.
    let (other_app, _) = totp_account(k, &o, None);
    assert_not_found(a.account_lockout(&o, other_app, acc), "under another app");
    assert_not_found(a.account_lockout(&org("org_w"), app, acc), "another organization");
    assert_not_found(
        a.account_lockout(&o, AppId::from_uuid(uuid::Uuid::nil()), acc),
        "missing app",
    );
    a.delete_account(&o, app, acc).unwrap();
    assert_not_found(a.account_lockout(&o, app, acc), "deleted");
}
