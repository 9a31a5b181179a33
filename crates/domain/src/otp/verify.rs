//! Checking a code a user typed: the TOTP window (RFC 6238 §5.2), the HOTP look-ahead (RFC 4226
//! §7.4), and the typed code itself ([`CodeInput`]).
//!
//! Pure, like the rest of the engine: the caller passes the time or the stored counter, and
//! decides what a match means (replay, throttling: see `Authd::verify_otp`). Every candidate of a
//! window is computed and compared, whatever matched first, and codes are compared in constant
//! time, so the time taken says nothing about which candidate (if any) matched.

use std::fmt;

use zeroize::Zeroizing;

use super::{Algorithm, Digits, MAX_COUNTER, OtpType, Period, hotp};

/// How far a verification looks around the code it expects: TOTP time steps on either side of
/// the current one, HOTP counters past the stored one. `0..=10`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VerifyWindow(u8);

impl VerifyWindow {
    /// The widest window.
    pub const MAX: u8 = 10;
    /// The TOTP default: one step on either side (RFC 6238 §5.2 recommends at most one step of
    /// network delay).
    pub const TOTP_DEFAULT: Self = Self(1);
    /// The HOTP default: ten counters ahead (codes generated on the user's side but never used).
    pub const HOTP_DEFAULT: Self = Self(10);

    /// `Some` for `0..=10`, `None` otherwise.
    #[must_use]
    pub fn new(n: u64) -> Option<Self> {
        u8::try_from(n).ok().filter(|n| *n <= Self::MAX).map(Self)
    }

    /// The default of an account of this type.
    #[must_use]
    pub const fn default_for(otp_type: OtpType) -> Self {
        match otp_type {
            OtpType::Totp => Self::TOTP_DEFAULT,
            OtpType::Hotp => Self::HOTP_DEFAULT,
        }
    }

    /// `0..=10`.
    #[must_use]
    pub const fn get(self) -> u8 {
        self.0
    }
}

/// Why a typed code is not even a candidate (its shape; HTTP 422, never counted as an attempt).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeShapeError {
    /// The empty string.
    #[error("otp_code must not be empty")]
    Empty,
    /// More than [`CodeInput::MAX_CHARS`] characters.
    #[error("otp_code must have at most 10 characters")]
    TooLong,
    /// A character other than the ASCII digits `0-9`.
    #[error("otp_code must contain only the digits 0-9")]
    NotDigits,
}

/// A code a user typed, to be verified: 1 to 10 ASCII digits. A string of digits of another
/// length than the account's is a valid input that simply matches nothing.
///
/// It is a credential: `Debug` does not print it, there is no `Display`, it is wiped on drop,
/// and `==` compares in constant time ([`codes_equal`]).
#[derive(Clone)]
pub struct CodeInput(Zeroizing<String>);

impl PartialEq for CodeInput {
    fn eq(&self, other: &Self) -> bool {
        codes_equal(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for CodeInput {}

impl CodeInput {
    /// The longest accepted input, in characters.
    pub const MAX_CHARS: usize = 10;

    /// Checks the shape of a typed code.
    ///
    /// # Errors
    /// [`CodeShapeError`]: empty, longer than 10 characters, or not only ASCII digits (checked
    /// in that order; the message never contains the input).
    pub fn parse(s: &str) -> Result<Self, CodeShapeError> {
        if s.is_empty() {
            return Err(CodeShapeError::Empty);
        }
        if s.chars().count() > Self::MAX_CHARS {
            return Err(CodeShapeError::TooLong);
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CodeShapeError::NotDigits);
        }
        Ok(Self(Zeroizing::new(s.to_owned())))
    }

    /// The digits, for comparing with the expected code.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CodeInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeInput(<redacted>)")
    }
}

/// Whether two codes are equal, in time that depends on their lengths only (never on where
/// they first differ).
#[must_use]
pub fn codes_equal(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // `black_box` keeps the optimizer from turning the fold back into an early exit.
    std::hint::black_box(diff) == 0
}

/// RFC 6238 verification with T0 = 0: the offset, in time steps from the current one
/// (`floor(unix_seconds / period)`), of the step in `-window..=window` whose code is `code`.
/// When several steps of the window have that code (a collision), the latest one wins, so that
/// a replay check against the last accepted step refuses only what it must. Steps before the
/// epoch do not exist. Every step of the window is computed.
#[must_use]
pub fn totp_match(
    alg: Algorithm,
    secret: &[u8],
    unix_seconds: u64,
    period: Period,
    digits: Digits,
    window: VerifyWindow,
    code: &CodeInput,
) -> Option<i64> {
    let current = unix_seconds / u64::from(period.get());
    let w = i64::from(window.get());
    let mut found = None;
    for offset in -w..=w {
        let Some(step) = current.checked_add_signed(offset) else {
            continue;
        };
        if codes_equal(hotp(alg, secret, step, digits).as_bytes(), code.expose().as_bytes()) {
            found = Some(offset);
        }
    }
    found
}

/// RFC 4226 look-ahead: the first counter of `from..=to` (never past [`MAX_COUNTER`]` - 1`, the
/// last counter a code can be generated for) whose code is `code`. Every counter of the range
/// is computed.
#[must_use]
pub fn hotp_match(alg: Algorithm, secret: &[u8], from: u64, to: u64, digits: Digits, code: &CodeInput) -> Option<u64> {
    let to = to.min(MAX_COUNTER - 1);
    let mut found = None;
    for counter in from..=to {
        if codes_equal(hotp(alg, secret, counter, digits).as_bytes(), code.expose().as_bytes()) && found.is_none() {
            found = Some(counter);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::otp::hotp::tests::{RFC6238_VECTORS, SEED_SHA1, SEED_SHA256, SEED_SHA512};

    fn code(s: &str) -> CodeInput {
        CodeInput::parse(s).unwrap()
    }

    fn window(n: u64) -> VerifyWindow {
        VerifyWindow::new(n).unwrap()
    }

    fn p30() -> Period {
        Period::new(30).unwrap()
    }

    #[test]
    fn window_range_and_defaults() {
        assert_eq!(VerifyWindow::new(0).map(VerifyWindow::get), Some(0));
        assert_eq!(VerifyWindow::new(10).map(VerifyWindow::get), Some(10));
        assert_eq!(VerifyWindow::new(11), None);
        assert_eq!(VerifyWindow::new(u64::MAX), None);
        assert_eq!(VerifyWindow::default_for(OtpType::Totp).get(), 1);
        assert_eq!(VerifyWindow::default_for(OtpType::Hotp).get(), 10);
    }

    #[test]
    fn code_input_shape() {
        for ok in ["0", "123456", "12345678", "0000000000"] {
            assert_eq!(code(ok).expose(), ok);
        }
        assert_eq!(CodeInput::parse(""), Err(CodeShapeError::Empty));
        assert_eq!(CodeInput::parse("12345678901"), Err(CodeShapeError::TooLong));
        assert_eq!(CodeInput::parse("٣".repeat(11).as_str()), Err(CodeShapeError::TooLong));
        for bad in [
            "12345a",
            " 123456",
            "123456 ",
            "12 34",
            "-12345",
            "+12345",
            "١٢٣٤٥٦",
            "12\u{0}34",
        ] {
            assert_eq!(CodeInput::parse(bad), Err(CodeShapeError::NotDigits), "{bad:?}");
        }
    }

    #[test]
    fn code_input_never_prints_the_code() {
        let c = code("287082");
        assert_eq!(format!("{c:?}"), "CodeInput(<redacted>)");
        assert!(!format!("{:?}", Some(&c)).contains("287082"));
    }

    #[test]
    fn constant_time_equality_is_equality() {
        assert!(codes_equal(b"123456", b"123456"));
        assert!(!codes_equal(b"123456", b"123457"));
        assert!(!codes_equal(b"123456", b"023456"));
        assert!(!codes_equal(b"123456", b"1234567"));
        assert!(!codes_equal(b"", b"0"));
        assert!(codes_equal(b"", b""));
    }

    #[test]
    fn rfc6238_vectors_verify_at_their_own_step() {
        // RFC 6238 appendix B (8 digits), each checked at its time with window 0.
        for (t, sha1, sha256, sha512) in RFC6238_VECTORS {
            for (alg, seed, c) in [
                (Algorithm::Sha1, SEED_SHA1, sha1),
                (Algorithm::Sha256, SEED_SHA256, sha256),
                (Algorithm::Sha512, SEED_SHA512, sha512),
            ] {
                let at = |t| totp_match(alg, seed, t, p30(), Digits::EIGHT, window(0), &code(c));
                assert_eq!(at(t), Some(0), "{alg:?} at {t}");
                // One step later it is the previous step's code: outside a zero window...
                assert_eq!(at(t + 30), None, "{alg:?} at {t} + 30");
                // ...inside a window of one, at offset -1; one step earlier, at +1.
                let w1 = |t| totp_match(alg, seed, t, p30(), Digits::EIGHT, window(1), &code(c));
                assert_eq!(w1(t + 30), Some(-1));
                assert_eq!(w1(t - 30), Some(1));
                assert_eq!(w1(t + 60), None);
            }
        }
    }

    #[test]
    fn totp_window_edges_and_the_epoch() {
        let t: u64 = 1_111_111_109; // step 37037036
        let c = |step| code(&hotp(Algorithm::Sha1, SEED_SHA1, step, Digits::SIX));
        let step = t / 30;
        for w in 0..=10u64 {
            for off in -12i64..=12 {
                let s = step.checked_add_signed(off).unwrap();
                let got = totp_match(Algorithm::Sha1, SEED_SHA1, t, p30(), Digits::SIX, window(w), &c(s));
                let inside = off.unsigned_abs() <= w;
                assert_eq!(got.is_some(), inside, "window {w}, offset {off}");
                if inside {
                    assert_eq!(got, Some(off), "window {w}, offset {off}");
                }
            }
        }
        // At the epoch there is no step -1: only 0 and +1 exist.
        let got = totp_match(Algorithm::Sha1, SEED_SHA1, 0, p30(), Digits::SIX, window(1), &c(1));
        assert_eq!(got, Some(1));
        let got = totp_match(Algorithm::Sha1, SEED_SHA1, 5, p30(), Digits::SIX, window(1), &c(0));
        assert_eq!(got, Some(0));
        // The far end of time does not overflow.
        let got = totp_match(
            Algorithm::Sha1,
            SEED_SHA1,
            u64::MAX,
            Period::new(1).unwrap(),
            Digits::SIX,
            window(10),
            &c(u64::MAX),
        );
        assert_eq!(got, Some(0));
    }

    #[test]
    fn totp_wrong_length_or_wrong_code_matches_nothing() {
        let t = 59;
        let m = |s: &str| {
            totp_match(
                Algorithm::Sha1,
                SEED_SHA1,
                t,
                p30(),
                Digits::EIGHT,
                window(10),
                &code(s),
            )
        };
        assert_eq!(m("94287082"), Some(0));
        assert_eq!(m("287082"), None, "the 6-digit suffix is not the 8-digit code");
        assert_eq!(m("094287082"), None);
        assert_eq!(m("94287083"), None);
    }

    #[test]
    fn rfc4226_look_ahead_finds_the_first_matching_counter() {
        let codes = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489",
        ];
        let m = |from, to, c: &str| hotp_match(Algorithm::Sha1, SEED_SHA1, from, to, Digits::SIX, &code(c));
        for (counter, c) in (0u64..).zip(&codes) {
            assert_eq!(m(0, 9, c), Some(counter), "{c}");
            assert_eq!(m(counter, counter, c), Some(counter));
            if counter > 0 {
                assert_eq!(m(0, counter - 1, c), None, "{c} is not before counter {counter}");
            }
            assert_eq!(m(counter + 1, 20, c), None, "{c} is not after counter {counter}");
        }
        assert_eq!(m(0, 9, "000000"), None);
        assert_eq!(m(5, 4, "254676"), None, "an empty range matches nothing");
    }

    #[test]
    fn hotp_look_ahead_stops_before_the_counter_limit() {
        let last = MAX_COUNTER - 1;
        let at_last = hotp(Algorithm::Sha256, SEED_SHA256, last, Digits::SIX);
        let got = hotp_match(
            Algorithm::Sha256,
            SEED_SHA256,
            last - 3,
            u64::MAX,
            Digits::SIX,
            &code(&at_last),
        );
        assert_eq!(got, Some(last));
        let at_max = hotp(Algorithm::Sha256, SEED_SHA256, MAX_COUNTER, Digits::SIX);
        if at_max != at_last {
            let got = hotp_match(
                Algorithm::Sha256,
                SEED_SHA256,
                MAX_COUNTER,
                MAX_COUNTER,
                Digits::SIX,
                &code(&at_max),
            );
            assert_eq!(got, None, "no code is ever generated for MAX_COUNTER");
        }
    }

    #[test]
    fn sha512_eight_digits_look_ahead() {
        let c = hotp(Algorithm::Sha512, SEED_SHA512, 42, Digits::EIGHT);
        let got = hotp_match(Algorithm::Sha512, SEED_SHA512, 40, 50, Digits::EIGHT, &code(&c));
        assert_eq!(got, Some(42));
    }
}
