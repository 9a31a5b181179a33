//! The OTP engine: RFC 4226 HOTP, RFC 6238 TOTP, base32 secrets and `otpauth://` URIs.
//!
//! Everything here is pure (no clock, no I/O): callers pass the current Unix time to [`totp`]
//! and the stored counter to [`hotp()`], and the same to [`totp_match`] / [`hotp_match`] to check
//! a code a user typed ([`CodeInput`]) within a [`VerifyWindow`].
//!
//! Secrets are held in [`Secret`], which wipes its bytes on drop and never prints them
//! (`Debug` is redacted, there is no `Display`). Error messages never contain a secret.

mod base32;
mod hotp;
mod uri;
mod verify;

pub use base32::{Base32Error, Base32ErrorKind, Secret};
pub use hotp::{Totp, hotp, totp};
pub use uri::{MAX_URI_CHARS, OtpAuthUri, UriError, UriParameter, UriShape};
pub use verify::{CodeInput, CodeShapeError, VerifyWindow, codes_equal, hotp_match, totp_match};

use std::fmt;

/// Largest HOTP counter value: counters are `0..=i64::MAX` (they are stored in a signed
/// 64-bit database column).
pub const MAX_COUNTER: u64 = i64::MAX.unsigned_abs();

/// The two kinds of one-time password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OtpType {
    /// Time-based (RFC 6238).
    Totp,
    /// Counter-based (RFC 4226).
    Hotp,
}

impl OtpType {
    /// Both, in documentation order.
    pub const ALL: [Self; 2] = [Self::Totp, Self::Hotp];

    /// `"totp"` or `"hotp"`.
    #[must_use]
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::Hotp => "hotp",
        }
    }

    /// Parses `totp` / `hotp`, ASCII case-insensitively.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for OtpType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of one-time password an account or URI produces, with the state only that kind
/// has: the TOTP time step, or the HOTP counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OtpKind {
    /// Time-based (RFC 6238).
    Totp {
        /// The time step.
        period: Period,
    },
    /// Counter-based (RFC 4226).
    Hotp {
        /// The next counter to use (as last read), at most [`MAX_COUNTER`].
        counter: u64,
    },
}

impl OtpKind {
    /// The fieldless tag: [`OtpType::Totp`] or [`OtpType::Hotp`].
    #[must_use]
    pub const fn otp_type(&self) -> OtpType {
        match self {
            Self::Totp { .. } => OtpType::Totp,
            Self::Hotp { .. } => OtpType::Hotp,
        }
    }

    /// The TOTP period; `None` for HOTP.
    #[must_use]
    pub const fn period(&self) -> Option<Period> {
        match self {
            Self::Totp { period } => Some(*period),
            Self::Hotp { .. } => None,
        }
    }

    /// The HOTP counter; `None` for TOTP.
    #[must_use]
    pub const fn counter(&self) -> Option<u64> {
        match self {
            Self::Totp { .. } => None,
            Self::Hotp { counter } => Some(*counter),
        }
    }

    /// Rebuilds a kind from its tag and the two optional columns it is stored as. `None` when
    /// they contradict: TOTP without a period, HOTP without a counter, or a field of the other
    /// kind present.
    #[must_use]
    pub const fn from_columns(otp_type: OtpType, period: Option<Period>, counter: Option<u64>) -> Option<Self> {
        match (otp_type, period, counter) {
            (OtpType::Totp, Some(period), None) => Some(Self::Totp { period }),
            (OtpType::Hotp, None, Some(counter)) => Some(Self::Hotp { counter }),
            _ => None,
        }
    }
}

/// The HMAC hash function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// HMAC-SHA-1 (the default).
    #[default]
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

impl Algorithm {
    /// All three, in documentation order.
    pub const ALL: [Self; 3] = [Self::Sha1, Self::Sha256, Self::Sha512];

    /// `"sha1"`, `"sha256"` or `"sha512"`.
    #[must_use]
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    /// Parses `sha1` / `sha256` / `sha512`, ASCII case-insensitively (`"SHA1"` is accepted).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str().eq_ignore_ascii_case(s))
    }

    /// Upper-case spelling used when emitting `otpauth://` URIs (`"SHA1"`, ...), the form
    /// authenticator apps expect.
    pub(crate) const fn as_uri_str(&self) -> &'static str {
        match self {
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Number of digits of a code: 6 or 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digits(u8);

impl Digits {
    /// Six digits (the default).
    pub const SIX: Self = Self(6);
    /// Eight digits.
    pub const EIGHT: Self = Self(8);

    /// `Some` for 6 or 8, `None` otherwise.
    #[must_use]
    pub const fn new(digits: u32) -> Option<Self> {
        match digits {
            6 => Some(Self::SIX),
            8 => Some(Self::EIGHT),
            _ => None,
        }
    }

    /// 6 or 8.
    #[must_use]
    pub const fn get(self) -> u8 {
        self.0
    }
}

impl Default for Digits {
    fn default() -> Self {
        Self::SIX
    }
}

/// TOTP time step in seconds: `1..=86400`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period(u32);

impl Period {
    /// Smallest accepted period (seconds).
    pub const MIN: u32 = 1;
    /// Largest accepted period (seconds): one day.
    pub const MAX: u32 = 86_400;
    /// The default period: 30 seconds.
    pub const DEFAULT: Self = Self(30);

    /// `Some` for `1..=86400`, `None` otherwise.
    #[must_use]
    pub fn new(seconds: u64) -> Option<Self> {
        u32::try_from(seconds)
            .ok()
            .filter(|s| (Self::MIN..=Self::MAX).contains(s))
            .map(Self)
    }

    /// The period in seconds, in `1..=86400`.
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl Default for Period {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otp_type_parse_and_as_str() {
        for (s, t) in [
            ("totp", OtpType::Totp),
            ("TOTP", OtpType::Totp),
            ("ToTp", OtpType::Totp),
            ("hotp", OtpType::Hotp),
            ("HOTP", OtpType::Hotp),
        ] {
            assert_eq!(OtpType::parse(s), Some(t), "{s}");
        }
        for s in ["", "otp", "totp ", "motp", "tótp"] {
            assert_eq!(OtpType::parse(s), None, "{s}");
        }
        assert_eq!(OtpType::Totp.as_str(), "totp");
        assert_eq!(OtpType::Hotp.as_str(), "hotp");
        assert_eq!(OtpType::Hotp.to_string(), "hotp");
    }

    #[test]
    fn otp_kind_tag_fields_and_columns() {
        let p30 = Period::DEFAULT;
        let totp = OtpKind::Totp { period: p30 };
        let hotp = OtpKind::Hotp { counter: 7 };
        assert_eq!(totp.otp_type(), OtpType::Totp);
        assert_eq!(hotp.otp_type(), OtpType::Hotp);
        assert_eq!((totp.period(), totp.counter()), (Some(p30), None));
        assert_eq!((hotp.period(), hotp.counter()), (None, Some(7)));
        for kind in [totp, hotp] {
            assert_eq!(
                OtpKind::from_columns(kind.otp_type(), kind.period(), kind.counter()),
                Some(kind)
            );
        }
        // Columns that contradict the type.
        for (t, period, counter) in [
            (OtpType::Totp, None, None),
            (OtpType::Totp, None, Some(7)),
            (OtpType::Totp, Some(p30), Some(7)),
            (OtpType::Hotp, None, None),
            (OtpType::Hotp, Some(p30), None),
            (OtpType::Hotp, Some(p30), Some(7)),
        ] {
            assert_eq!(
                OtpKind::from_columns(t, period, counter),
                None,
                "{t} {period:?} {counter:?}"
            );
        }
    }

    #[test]
    fn algorithm_parse_and_as_str() {
        for (s, a) in [
            ("sha1", Algorithm::Sha1),
            ("SHA1", Algorithm::Sha1),
            ("Sha256", Algorithm::Sha256),
            ("SHA256", Algorithm::Sha256),
            ("sha512", Algorithm::Sha512),
            ("SHA512", Algorithm::Sha512),
        ] {
            assert_eq!(Algorithm::parse(s), Some(a), "{s}");
            assert_eq!(Algorithm::parse(a.as_str()), Some(a));
            assert_eq!(Algorithm::parse(a.as_uri_str()), Some(a));
        }
        for s in ["", "sha-1", "SHA-256", "md5", "sha384", " sha1", "sha1\0"] {
            assert_eq!(Algorithm::parse(s), None, "{s}");
        }
        assert_eq!(Algorithm::Sha256.as_str(), "sha256");
        assert_eq!(Algorithm::default(), Algorithm::Sha1);
    }

    #[test]
    fn digits_only_six_or_eight() {
        assert_eq!(Digits::new(6).map(Digits::get), Some(6));
        assert_eq!(Digits::new(8).map(Digits::get), Some(8));
        for d in [0, 1, 5, 7, 9, 10, u32::MAX] {
            assert_eq!(Digits::new(d), None, "{d}");
        }
        assert_eq!(Digits::default(), Digits::SIX);
    }

    #[test]
    fn period_range() {
        assert_eq!(Period::new(1).map(Period::get), Some(1));
        assert_eq!(Period::new(30).map(Period::get), Some(30));
        assert_eq!(Period::new(86_400).map(Period::get), Some(86_400));
        for p in [0, 86_401, u64::from(u32::MAX) + 1, u64::MAX] {
            assert_eq!(Period::new(p), None, "{p}");
        }
        assert_eq!(Period::default().get(), 30);
    }

    #[test]
    fn max_counter_is_i64_max() {
        assert_eq!(MAX_COUNTER, 9_223_372_036_854_775_807);
    }
}
