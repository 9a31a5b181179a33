//! The otpauth URI parser never panics, classifies every failure as shape or parameter, never
//! echoes the secret in an error, and what it accepts survives emit → parse unchanged.
#![no_main]

use domain::otp::{OtpAuthUri, UriError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    match OtpAuthUri::parse(s) {
        Ok(uri) => {
            let again = OtpAuthUri::parse(&uri.to_uri()).expect("emitted URI parses");
            assert_eq!(again, uri, "round trip");
        }
        Err(UriError::Shape(m) | UriError::Parameter(m)) => {
            assert!(m.starts_with("otpauth_uri"), "message names the field: {m}");
        }
    }
});
