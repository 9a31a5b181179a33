//! RFC 4226 HOTP and RFC 6238 TOTP code computation.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha512};

use super::{Algorithm, Digits, Period};

/// A TOTP code and how long it stays current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totp {
    /// Zero-padded code of `digits` characters.
    pub code: String,
    /// Seconds until the next time step: `period - (t % period)`, in `1..=period`.
    pub valid_for_seconds: u32,
}

/// HMAC of `message` under `key`, reduced by RFC 4226 dynamic truncation to a 31-bit value.
#[expect(
    clippy::expect_used,
    reason = "HMAC takes keys of any length: `new_from_slice` cannot fail"
)]
fn truncated_hmac(alg: Algorithm, key: &[u8], message: &[u8]) -> u32 {
    // One concrete HMAC type per arm (hmac 0.13 makes a generic version awkward).
    match alg {
        Algorithm::Sha1 => {
            let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
            mac.update(message);
            dynamic_truncation(&mac.finalize().into_bytes())
        }
        Algorithm::Sha256 => {
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
            mac.update(message);
            dynamic_truncation(&mac.finalize().into_bytes())
        }
        Algorithm::Sha512 => {
            let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
            mac.update(message);
            dynamic_truncation(&mac.finalize().into_bytes())
        }
    }
}

/// RFC 4226 section 5.3: the low 4 bits of the last byte select 4 bytes, top bit masked off.
fn dynamic_truncation(hash: &[u8]) -> u32 {
    let offset = usize::from(hash.last().copied().unwrap_or(0) & 0x0f);
    // offset <= 15 and every supported hash is at least 20 bytes long, so this always succeeds;
    // the fallback only exists to keep the function total.
    let word: [u8; 4] = hash
        .get(offset..offset + 4)
        .and_then(|s| s.try_into().ok())
        .unwrap_or([0; 4]);
    u32::from_be_bytes(word) & 0x7fff_ffff
}

/// RFC 4226 HOTP: HMAC(`secret`, 8-byte big-endian `counter`), dynamic truncation, modulo
/// 10^`digits`, zero-padded to `digits` characters.
#[must_use]
pub fn hotp(alg: Algorithm, secret: &[u8], counter: u64, digits: Digits) -> String {
    let value = truncated_hmac(alg, secret, &counter.to_be_bytes());
    let width = usize::from(digits.get());
    let modulus = 10u32.pow(u32::from(digits.get())); // at most 10^8: fits in u32
    format!("{:0width$}", value % modulus)
}

/// RFC 6238 TOTP with T0 = 0: `T = floor(unix_seconds / period)`, code = HOTP(T).
#[must_use]
pub fn totp(alg: Algorithm, secret: &[u8], unix_seconds: u64, period: Period, digits: Digits) -> Totp {
    let step = u64::from(period.get()); // >= 1
    let counter = unix_seconds / step;
    let elapsed = unix_seconds % step; // < period, so fits in u32
    let valid_for_seconds = period.get() - u32::try_from(elapsed).unwrap_or(0);
    Totp {
        code: hotp(alg, secret, counter, digits),
        valid_for_seconds,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The RFC 4226 / RFC 6238 test seeds (also used by `verify`'s tests).
    pub(crate) const SEED_SHA1: &[u8] = b"12345678901234567890";
    pub(crate) const SEED_SHA256: &[u8] = b"12345678901234567890123456789012";
    pub(crate) const SEED_SHA512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    /// RFC 6238 appendix B: (time, SHA-1, SHA-256, SHA-512 codes at 8 digits).
    pub(crate) const RFC6238_VECTORS: [(u64, &str, &str, &str); 6] = [
        (59, "94287082", "46119246", "90693936"),
        (1_111_111_109, "07081804", "68084774", "25091201"),
        (1_111_111_111, "14050471", "67062674", "99943326"),
        (1_234_567_890, "89005924", "91819424", "93441116"),
        (2_000_000_000, "69279037", "90698825", "38618901"),
        (20_000_000_000, "65353130", "77737706", "47863826"),
    ];

    fn period(p: u64) -> Period {
        Period::new(p).unwrap()
    }

    #[test]
    fn rfc4226_appendix_d() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489",
        ];
        for (counter, code) in (0u64..).zip(&expected) {
            assert_eq!(
                hotp(Algorithm::Sha1, SEED_SHA1, counter, Digits::SIX),
                *code,
                "counter {counter}"
            );
        }
    }

    #[test]
    fn rfc4226_truncated_values_at_eight_digits() {
        // Appendix D lists the 31-bit truncated values; 8 digits keeps their low 8 decimals.
        let truncated: [u32; 10] = [
            1_284_755_224,
            1_094_287_082,
            137_359_152,
            1_726_969_429,
            1_640_338_314,
            868_254_676,
            1_918_287_922,
            82_162_583,
            673_399_871,
            645_520_489,
        ];
        for (counter, value) in (0u64..).zip(&truncated) {
            assert_eq!(
                truncated_hmac(Algorithm::Sha1, SEED_SHA1, &(counter).to_be_bytes()),
                *value
            );
            assert_eq!(
                hotp(Algorithm::Sha1, SEED_SHA1, counter, Digits::EIGHT),
                format!("{:08}", value % 100_000_000)
            );
        }
    }

    #[test]
    fn rfc6238_appendix_b() {
        for (t, sha1, sha256, sha512) in RFC6238_VECTORS {
            for (alg, seed, code) in [
                (Algorithm::Sha1, SEED_SHA1, sha1),
                (Algorithm::Sha256, SEED_SHA256, sha256),
                (Algorithm::Sha512, SEED_SHA512, sha512),
            ] {
                let got = totp(alg, seed, t, period(30), Digits::EIGHT);
                assert_eq!(got.code, code, "{alg:?} at {t}");
            }
        }
    }

    #[test]
    fn six_digit_codes_are_zero_padded() {
        // RFC 6238: SHA1 at t=1111111109 is 07081804 at 8 digits, so 081804 at 6.
        let got = totp(Algorithm::Sha1, SEED_SHA1, 1_111_111_109, period(30), Digits::SIX);
        assert_eq!(got.code, "081804");
        let got = totp(Algorithm::Sha1, SEED_SHA1, 1_111_111_109, period(30), Digits::EIGHT);
        assert_eq!(got.code, "07081804");
    }

    #[test]
    fn totp_is_hotp_of_time_step() {
        for t in [0u64, 1, 29, 30, 59, 60, 1_700_000_000, u64::MAX] {
            for p in [1u64, 30, 60, 86_400] {
                let got = totp(Algorithm::Sha256, SEED_SHA256, t, period(p), Digits::SIX);
                assert_eq!(got.code, hotp(Algorithm::Sha256, SEED_SHA256, t / p, Digits::SIX));
            }
        }
    }

    #[test]
    fn valid_for_seconds_at_boundaries() {
        let p = period(30);
        let v = |t| totp(Algorithm::Sha1, SEED_SHA1, t, p, Digits::SIX).valid_for_seconds;
        assert_eq!(v(0), 30);
        assert_eq!(v(1), 29);
        assert_eq!(v(29), 1);
        assert_eq!(v(30), 30);
        assert_eq!(v(59), 1);
        assert_eq!(v(60), 30);
        assert_eq!(v(1_111_111_109), 1); // 1111111109 % 30 == 29
        assert_eq!(v(1_111_111_110), 30);
        // Period 1: always exactly one second left.
        let one = totp(Algorithm::Sha1, SEED_SHA1, 12_345, period(1), Digits::SIX);
        assert_eq!(one.valid_for_seconds, 1);
        // A one-day period.
        let day = period(86_400);
        let d = |t| totp(Algorithm::Sha1, SEED_SHA1, t, day, Digits::SIX).valid_for_seconds;
        assert_eq!(d(86_400), 86_400);
        assert_eq!(d(86_399), 1);
        assert_eq!(d(u64::MAX), 86_400 - u32::try_from(u64::MAX % 86_400).unwrap());
    }

    #[test]
    fn matches_python_hmac_oracle_for_short_and_long_keys() {
        // Generated with Python's `hmac`/`hashlib` (an independent implementation). Keys cover
        // one byte, and keys longer than the hash block size (which HMAC hashes first).
        let range = |n: u8| (0..n).collect::<Vec<u8>>();
        let cases: [(Algorithm, Vec<u8>, u64, Digits, &str); 6] = [
            (Algorithm::Sha1, vec![1], 0, Digits::SIX, "569809"),
            (Algorithm::Sha1, range(100), 123_456_789, Digits::EIGHT, "02086390"),
            (
                Algorithm::Sha256,
                range(65),
                crate::otp::MAX_COUNTER,
                Digits::SIX,
                "618628",
            ),
            (Algorithm::Sha256, b"k".to_vec(), 1, Digits::EIGHT, "02815337"),
            (Algorithm::Sha512, range(200), 987_654_321_012, Digits::SIX, "551975"),
            (Algorithm::Sha512, vec![0xff; 129], u64::MAX, Digits::EIGHT, "54925779"),
        ];
        for (alg, key, counter, digits, code) in cases {
            assert_eq!(hotp(alg, &key, counter, digits), code, "{alg:?} {counter}");
        }
    }

    #[test]
    fn extreme_counters_and_short_keys() {
        // No panic and right length at the edges; a one-byte key is accepted.
        for counter in [0, 1, crate::otp::MAX_COUNTER, u64::MAX] {
            for alg in [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512] {
                assert_eq!(hotp(alg, b"k", counter, Digits::SIX).len(), 6);
                assert_eq!(hotp(alg, b"k", counter, Digits::EIGHT).len(), 8);
            }
        }
        // Algorithms give different codes for the same input.
        let codes: Vec<String> = [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512]
            .iter()
            .map(|a| hotp(*a, SEED_SHA1, 1, Digits::EIGHT))
            .collect();
        assert_ne!(codes[0], codes[1]);
        assert_ne!(codes[1], codes[2]);
    }

    proptest! {
        #[test]
        fn totp_invariants(
            t in any::<u64>(),
            p in 1u64..=86_400,
            eight in any::<bool>(),
            key in proptest::collection::vec(any::<u8>(), 1..80),
        ) {
            let digits = if eight { Digits::EIGHT } else { Digits::SIX };
            let got = totp(Algorithm::Sha512, &key, t, period(p), digits);
            prop_assert_eq!(got.code.len(), usize::from(digits.get()));
            prop_assert!(got.code.bytes().all(|b| b.is_ascii_digit()));
            prop_assert!(got.valid_for_seconds >= 1);
            prop_assert!(u64::from(got.valid_for_seconds) <= p);
            prop_assert_eq!(u64::from(got.valid_for_seconds), p - t % p);
            // The 6-digit code is the suffix of the 8-digit code.
            let six = hotp(Algorithm::Sha1, &key, t, Digits::SIX);
            let eight = hotp(Algorithm::Sha1, &key, t, Digits::EIGHT);
            prop_assert!(eight.ends_with(&six));
        }
    }
}
