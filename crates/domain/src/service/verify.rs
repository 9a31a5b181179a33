//! The verify use cases: checking a code an end user typed, with a window, replay protection
//! and throttling ([`crate::throttle`]), through the service API and the device API.
//!
//! Concurrency: no lock, and no transaction around the reads. The use case reads the account and its
//! [`VerificationState`] once, decides, and records the outcome with **one conditional
//! statement** ([`crate::ports::VerifyRepo::record_verify_success_totp`], [`crate::ports::VerifyRepo::record_verify_success_hotp`],
//! [`crate::ports::VerifyRepo::record_verify_failure`]) whose condition is what the decision assumed (the step or
//! counter still unused, the account not locked). When the statement changes nothing, someone
//! else changed the row first: the state is read again and the code decided again against it,
//! so two verifications of one valid code, on any number of replicas, give exactly one success,
//! and concurrent failures are each counted by the database (never a count read earlier). A
//! recorded outcome goes to the audit trail with its record (the port writes both or neither);
//! a locked account's refusal changes nothing and writes no event.

use crate::Error;
use crate::audit::{Action, AuditEvent, Caller, Detail, RequestId, ResourceType};
use crate::entities::Account;
use crate::error::Resource;
use crate::ids::{AccountId, AppId};
use crate::otp::{self, CodeInput, OtpKind, Secret};
use crate::ports::{FailureRecord, Repo, Store, SuccessRecord, VerificationState, VerifyMaterial};
use crate::throttle::{self, LockSchedule};
use crate::time::Timestamp;
use crate::values::IdentityStatus;

use super::{Authd, confine_app, device_caller, device_hash, internal, live_account};

/// How often a refused record is followed by a new read and a new decision before giving up
/// (each refusal means another request changed the row in between; three in a row does not
/// happen outside a test that tries very hard).
const ROUNDS: usize = 3;

/// The answer to a verification of an account that is not locked (a locked account answers
/// [`Error::TooManyAttempts`] instead).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verification {
    /// The code is right and was not used before; it is now used.
    Valid {
        /// TOTP: the matching time step's offset from the current one (`-window..=window`);
        /// HOTP: the matching counter's offset from the stored counter (`0..=window`).
        matched_offset: i64,
    },
    /// The code was refused; the attempt was counted and the account locked for a while.
    Invalid {
        /// Why.
        reason: FailureReason,
        /// How many more consecutive failures [`throttle::MAX_CONSECUTIVE_FAILURES`] allows
        /// (`max(0, 100 - failures)`).
        remaining_attempts: u32,
    },
}

/// An account's throttling state as an operator reads it ([`Authd::account_lockout`]): how
/// many verifications failed in a row and whether the account is locked now. Never a secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lockout {
    /// Consecutive failed verifications since the last success.
    pub failed_attempts: u32,
    /// `max(0, 100 - failed_attempts)`: what the next failure's `remaining_attempts` counts
    /// down from.
    pub remaining_attempts: u32,
    /// Until when verifications are refused; `None` when the account is not locked now (a lock
    /// that has ended is not shown).
    pub locked_until: Option<Timestamp>,
    /// Whole seconds left of the lock (what a verification's `Retry-After` would say now);
    /// `None` when not locked.
    pub retry_after_seconds: Option<u64>,
}

impl Lockout {
    /// The state as it stands at `now`.
    #[must_use]
    pub fn at(state: &VerificationState, now: Timestamp) -> Self {
        let retry_after_seconds = throttle::retry_after_seconds(state.locked_until, now);
        Self {
            failed_attempts: state.failed_attempts,
            remaining_attempts: throttle::remaining_attempts(state.failed_attempts),
            locked_until: retry_after_seconds.and(state.locked_until),
            retry_after_seconds,
        }
    }
}

/// Why a code was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// It matches no step or counter of the window.
    Invalid,
    /// It matches a TOTP step at or before the last accepted one, or an HOTP counter already
    /// used (within the window behind the stored counter).
    Replayed,
}

impl FailureReason {
    /// `"invalid"` or `"replayed"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Invalid => "invalid",
            Self::Replayed => "replayed",
        }
    }
}

/// What a code is worth against one reading of the state.
enum Decision {
    /// Record this TOTP step as used.
    AcceptStep { step: u64, offset: i64 },
    /// Record this HOTP counter as used.
    AcceptCounter { counter: u64, offset: i64 },
    /// Count a failure.
    Fail(FailureReason),
}

/// What a TOTP code matched, computed once (it does not depend on the state).
#[derive(Clone, Copy)]
struct TotpMatch {
    current_step: u64,
    offset: Option<i64>,
}

impl<S: Store> Authd<S> {
    /// Verifies a code typed for an account: TOTP within `verify_window` steps either side of
    /// the current one, HOTP within `verify_window` counters from the stored one (a match at
    /// counter `c` moves the stored counter to `c + 1`, which generation shares). A step or
    /// counter once accepted is never accepted again (`Replayed`); every refused code counts as
    /// a failed attempt and locks the account for 2^(n-1) seconds after the n-th in a row (at
    /// most 15 minutes, see [`crate::throttle`]); a success resets the count.
    ///
    /// No lock: one read, then one conditional statement per outcome with its audit event (see the
    /// module documentation); the code is never stored, logged or put in an error.
    ///
    /// # Errors
    /// `NotFound` (app or account), `Paused`, `TooManyAttempts` (locked: not counted, the code
    /// is not even looked at), `SecretUnreadable`, storage failures. A code of the wrong length
    /// is not an error: it is `Invalid`.
    pub fn verify_otp(&self, who: &Caller, app: AppId, id: AccountId, code: &CodeInput) -> Result<Verification, Error> {
        let now = self.now();
        self.store.run(|r| {
            confine_app(r, who, app, Resource::Account)?;
            let material = r
                .verify_material(who.org(), app, id)?
                .ok_or(Error::NotFound(Resource::Account))?;
            self.verify_with(r, who, &material, code, now)
        })
    }

    /// The throttling state of an account: its consecutive failed verifications and, while it
    /// is locked, until when. A read: nothing changes, nothing is audited.
    ///
    /// # Errors
    /// `NotFound` (app or account, outside the caller's restriction included), storage failures.
    pub fn account_lockout(&self, who: &Caller, app: AppId, id: AccountId) -> Result<Lockout, Error> {
        let now = self.now();
        self.store.run(|r| {
            let account = live_account(r, who, app, id)?;
            let state = r
                .verification_state(who.org(), *account.id())?
                .ok_or(Error::NotFound(Resource::Account))?;
            Ok(Lockout::at(&state, now))
        })
    }

    /// [`Self::verify_otp`] for one of the device's app's accounts; records the instance's
    /// `last_used_at` when the code was looked at (valid or not).
    ///
    /// # Errors
    /// `Unauthorized` (unknown or revoked device token), then as [`Self::verify_otp`].
    pub fn device_verify_otp(
        &self,
        device_token: &str,
        account: AccountId,
        code: &CodeInput,
        request_id: Option<&RequestId>,
    ) -> Result<Verification, Error> {
        let hash = device_hash(device_token)?;
        let now = self.now();
        self.store.run(|r| {
            let (i, who) = device_caller(r, &hash, request_id)?;
            let material = r
                .verify_material(i.org(), *i.app_id(), account)?
                .ok_or(Error::NotFound(Resource::Account))?;
            let verification = self.verify_with(r, &who, &material, code, now)?;
            r.touch_instance(i.org(), *i.id(), now)?;
            Ok(verification)
        })
    }

    fn verify_with(
        &self,
        r: &mut dyn Repo,
        who: &Caller,
        m: &VerifyMaterial,
        code: &CodeInput,
        now: Timestamp,
    ) -> Result<Verification, Error> {
        let org = who.org();
        if m.otp.identity_status == Some(IdentityStatus::Paused) {
            return Err(Error::Paused);
        }
        let mut state = m.state;
        // Locked: answered before the secret is opened or the code looked at.
        unlocked(&state, now)?;
        let a = &m.otp.account;
        let secret = self
            .deps
            .cipher
            .open(*a.id(), &m.otp.sealed)
            .map_err(|_| Error::SecretUnreadable)?;
        let window = a.effective_verify_window();
        let totp = match *a.kind() {
            OtpKind::Totp { period } => {
                let t = u64::try_from(now.unix_seconds()).map_err(|_| internal("clock before 1970"))?;
                Some(TotpMatch {
                    current_step: t / u64::from(period.get()),
                    offset: otp::totp_match(*a.algorithm(), secret.expose(), t, period, *a.digits(), window, code),
                })
            }
            OtpKind::Hotp { .. } => None,
        };
        for _ in 0..ROUNDS {
            let decision = match totp {
                Some(t) => decide_totp(t, &state),
                None => decide_hotp(m, &secret, window.get(), code, &state)?,
            };
            let event = self.verify_event(who, a, &decision, now);
            let recorded = match decision {
                Decision::AcceptStep { step, offset } => {
                    accepted(r.record_verify_success_totp(org, *a.id(), step, now, &event)?, offset)
                }
                Decision::AcceptCounter { counter, offset } => accepted(
                    r.record_verify_success_hotp(org, *a.id(), counter, now, &event)?,
                    offset,
                ),
                Decision::Fail(reason) => {
                    match r.record_verify_failure(org, *a.id(), &LockSchedule::at(now), &event)? {
                        FailureRecord::Recorded { failed_attempts } => Some(Verification::Invalid {
                            reason,
                            remaining_attempts: throttle::remaining_attempts(failed_attempts),
                        }),
                        FailureRecord::Refused => None,
                    }
                }
            };
            if let Some(v) = recorded {
                return Ok(v);
            }
            // Another request changed the row between the read and the record: read it again
            // (gone: 404; locked meanwhile: 429, not counted) and decide again.
            state = r
                .verification_state(org, *a.id())?
                .ok_or(Error::NotFound(Resource::Account))?;
            unlocked(&state, now)?;
        }
        Err(internal(
            "the verification state changed under every attempt to record an outcome",
        ))
    }
}

impl<S: Store> Authd<S> {
    /// The audit event of a verification's outcome (written only with the outcome's record).
    fn verify_event(&self, who: &Caller, a: &Account, decision: &Decision, now: Timestamp) -> AuditEvent {
        let (result, offset) = match decision {
            Decision::AcceptStep { offset, .. } | Decision::AcceptCounter { offset, .. } => ("valid", Some(*offset)),
            Decision::Fail(reason) => (reason.as_str(), None),
        };
        let details = [
            ("app_id", Detail::from(a.app_id().to_string())),
            ("otp_type", Detail::from(a.otp_type().as_str())),
            ("result", Detail::from(result)),
            ("matched_offset", Detail::from(offset)),
        ];
        self.event(
            who,
            now,
            (Action::OtpVerify, ResourceType::Account, a.id().as_uuid(), &details),
        )
    }
}

/// `Valid` when the success was recorded.
fn accepted(record: SuccessRecord, offset: i64) -> Option<Verification> {
    match record {
        SuccessRecord::Recorded => Some(Verification::Valid { matched_offset: offset }),
        SuccessRecord::Refused => None,
    }
}

/// `TooManyAttempts` while the account is locked at `now`.
fn unlocked(state: &VerificationState, now: Timestamp) -> Result<(), Error> {
    match throttle::retry_after_seconds(state.locked_until, now) {
        Some(retry_after_seconds) => Err(Error::TooManyAttempts { retry_after_seconds }),
        None => Ok(()),
    }
}

/// A TOTP match is a replay when its step is at or before the last accepted one.
fn decide_totp(t: TotpMatch, state: &VerificationState) -> Decision {
    let Some(offset) = t.offset else {
        return Decision::Fail(FailureReason::Invalid);
    };
    // `totp_match` only returns offsets of steps that exist.
    let Some(step) = t.current_step.checked_add_signed(offset) else {
        return Decision::Fail(FailureReason::Invalid);
    };
    if state.last_verified_step.is_some_and(|last| last >= step) {
        Decision::Fail(FailureReason::Replayed)
    } else {
        Decision::AcceptStep { step, offset }
    }
}

/// HOTP: the look-ahead `counter..=counter + window` accepts; a match in the `window` counters
/// behind the stored one (already used) is a replay.
fn decide_hotp(
    m: &VerifyMaterial,
    secret: &Secret,
    window: u8,
    code: &CodeInput,
    state: &VerificationState,
) -> Result<Decision, Error> {
    let a = &m.otp.account;
    let counter = state
        .counter
        .ok_or_else(|| internal("HOTP account without a counter"))?;
    let w = u64::from(window);
    let (alg, digits) = (*a.algorithm(), *a.digits());
    if let Some(matched) = otp::hotp_match(alg, secret.expose(), counter, counter.saturating_add(w), digits, code) {
        // matched - counter <= window <= 10.
        let offset = i64::try_from(matched - counter).map_err(internal)?;
        return Ok(Decision::AcceptCounter {
            counter: matched,
            offset,
        });
    }
    let behind = counter
        .checked_sub(1)
        .and_then(|last| otp::hotp_match(alg, secret.expose(), counter.saturating_sub(w), last, digits, code));
    Ok(Decision::Fail(if behind.is_some() {
        FailureReason::Replayed
    } else {
        FailureReason::Invalid
    }))
}
