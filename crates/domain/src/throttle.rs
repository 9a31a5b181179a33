//! Throttling of failed verifications (RFC 4226 §7.3, NIST SP 800-63B §5.2.2): the rule the
//! verify use cases apply and the storage port writes, in one place.
//!
//! - After the n-th consecutive failure the account is locked for 2^(n-1) seconds (1, 2, 4, ...),
//!   at most [`MAX_LOCK_SECONDS`] (15 minutes, from the 11th failure on). A success resets the
//!   count and the lock.
//! - While locked, a verification is answered at once (HTTP 429 with `Retry-After`), without
//!   looking at the code, and is not counted.
//! - [`MAX_CONSECUTIVE_FAILURES`] (100, NIST's bound) is what `remaining_attempts` counts down
//!   from. At 0 the account is not disabled: every further failure locks it for the full 15
//!   minutes again, so an attacker gets at most 4 more guesses an hour, and a success still
//!   resets it (disabling is a decision for the caller, who sees `remaining_attempts: 0`).
//!
//! Lock deadlines are computed here, at the request's `now`, and handed to the storage port as a
//! [`LockSchedule`], so the adapter applies the rule in one conditional statement without
//! knowing it (and without reading the count first).

use crate::time::Timestamp;

/// The count `remaining_attempts` runs down from.
pub const MAX_CONSECUTIVE_FAILURES: u32 = 100;

/// The longest lock: 15 minutes.
pub const MAX_LOCK_SECONDS: i64 = 900;

/// How many distinct lock durations there are: 2^0 .. 2^9 seconds (1 .. 512), then the cap.
pub const LOCK_STEPS: usize = 11;

/// How long the n-th consecutive failure locks the account: 2^(n-1) seconds, at most
/// [`MAX_LOCK_SECONDS`]; 0 for n = 0.
#[must_use]
pub fn lock_seconds(failures: u32) -> i64 {
    match failures {
        0 => 0,
        // 2^10 = 1024 > 900: from the 11th failure on, the cap.
        n if n > 10 => MAX_LOCK_SECONDS,
        n => (1i64 << (n - 1)).min(MAX_LOCK_SECONDS),
    }
}

/// `remaining_attempts` after `failures` consecutive failures: `max(0, 100 - failures)`.
#[must_use]
pub fn remaining_attempts(failures: u32) -> u32 {
    MAX_CONSECUTIVE_FAILURES.saturating_sub(failures)
}

/// Whole seconds until `locked_until`, rounded up and at least 1, when it is after `now`;
/// `None` when the account is not locked at `now`.
#[must_use]
pub fn retry_after_seconds(locked_until: Option<Timestamp>, now: Timestamp) -> Option<u64> {
    let until = locked_until?;
    if until <= now {
        return None;
    }
    let left = until.as_offset() - now.as_offset();
    let whole = left.whole_seconds();
    let rounded = if left.subsec_nanoseconds() > 0 {
        whole + 1
    } else {
        whole
    };
    Some(u64::try_from(rounded).unwrap_or(u64::MAX).max(1))
}

/// The lock deadline of every possible next failure, at one instant: entry `k` is where a
/// failure that is the (k+1)-th in a row locks the account until (`now + 2^k` seconds), and the
/// last entry applies to every later failure (`now + 15 min`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockSchedule {
    now: Timestamp,
    deadlines: [Timestamp; LOCK_STEPS],
}

impl LockSchedule {
    /// The schedule of a failure happening at `now`.
    #[must_use]
    pub fn at(now: Timestamp) -> Self {
        let mut deadlines = [now; LOCK_STEPS];
        for (k, d) in deadlines.iter_mut().enumerate() {
            // k < 11, so k + 1 fits in u32.
            *d = now.plus_seconds(lock_seconds(u32::try_from(k + 1).unwrap_or(u32::MAX)));
        }
        Self { now, deadlines }
    }

    /// The instant of the failure.
    #[must_use]
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Where a failure that makes `failures` consecutive failures (at least 1) locks the account
    /// until.
    #[must_use]
    pub fn deadline_after(&self, failures: u32) -> Timestamp {
        let k = usize::try_from(failures.saturating_sub(1)).unwrap_or(usize::MAX);
        let [.., cap] = self.deadlines;
        self.deadlines.get(k).copied().unwrap_or(cap)
    }

    /// Every deadline, by the number of consecutive failures *before* the new one: an adapter
    /// picks entry `min(stored count, LOCK_STEPS - 1)` (what SQL's `CASE failed_attempts WHEN 0
    /// THEN .. WHEN 9 THEN .. ELSE .. END` does).
    #[must_use]
    pub fn deadlines(&self) -> &[Timestamp; LOCK_STEPS] {
        &self.deadlines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_unix_seconds(secs).unwrap_or_else(|| Timestamp::from_offset(time::OffsetDateTime::UNIX_EPOCH))
    }

    #[test]
    fn lock_doubles_from_one_second_to_fifteen_minutes() {
        let got: Vec<i64> = (0..=13).map(lock_seconds).collect();
        assert_eq!(got, [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900]);
        assert_eq!(lock_seconds(100), 900);
        assert_eq!(lock_seconds(u32::MAX), 900);
    }

    #[test]
    fn remaining_attempts_count_down_to_zero_and_stay() {
        assert_eq!(remaining_attempts(0), 100);
        assert_eq!(remaining_attempts(1), 99);
        assert_eq!(remaining_attempts(99), 1);
        assert_eq!(remaining_attempts(100), 0);
        assert_eq!(remaining_attempts(150), 0);
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        let now = t(1_000);
        assert_eq!(retry_after_seconds(None, now), None);
        assert_eq!(retry_after_seconds(Some(now), now), None, "a lock ending now is over");
        assert_eq!(retry_after_seconds(Some(t(999)), now), None);
        assert_eq!(retry_after_seconds(Some(t(1_001)), now), Some(1));
        assert_eq!(retry_after_seconds(Some(t(1_900)), now), Some(900));
        let micro = Timestamp::from_offset(now.as_offset() + time::Duration::microseconds(1));
        assert_eq!(retry_after_seconds(Some(micro), now), Some(1));
        let and_a_bit = Timestamp::from_offset(t(1_002).as_offset() + time::Duration::milliseconds(1));
        assert_eq!(retry_after_seconds(Some(and_a_bit), now), Some(3));
    }

    #[test]
    fn schedule_lists_every_deadline() {
        let s = LockSchedule::at(t(1_000));
        assert_eq!(s.now(), t(1_000));
        let secs: Vec<i64> = s.deadlines().iter().map(|d| d.unix_seconds() - 1_000).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900]);
        for n in 1..=120 {
            assert_eq!(s.deadline_after(n), t(1_000 + lock_seconds(n)), "failure {n}");
        }
        assert_eq!(s.deadline_after(0), t(1_001), "0 is read as the first failure");
    }
}
