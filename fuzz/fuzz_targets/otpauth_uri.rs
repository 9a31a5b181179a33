//! The otpauth URI parser never panics, classifies every failure as shape or parameter, never
//! echoes the secret in an error, and what it accepts survives emit → parse unchanged (when the
//! emitted form fits the length limit: emission percent-encodes, so it can grow up to threefold;
//! found by this target, see `regressions/`).
#![no_main]

use domain::otp::{MAX_URI_CHARS, OtpAuthUri, UriError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    match OtpAuthUri::parse(s) {
        Ok(uri) => {
            let emitted = uri.to_uri();
            match OtpAuthUri::parse(&emitted) {
                Ok(again) => assert_eq!(again, uri, "round trip"),
                Err(e) => assert!(
                    emitted.chars().count() > MAX_URI_CHARS,
                    "emitted URI within the limit must parse: {e}"
                ),
            }
        }
        Err(UriError::Shape(m) | UriError::Parameter(m)) => {
            assert!(m.starts_with("otpauth_uri"), "message names the field: {m}");
        }
    }
});
