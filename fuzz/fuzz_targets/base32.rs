//! The lenient base32 decoder never panics, and what it decodes re-encodes canonically to
//! something it decodes to the same bytes.
#![no_main]

use domain::otp::Secret;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(secret) = Secret::from_base32(s) {
        let canonical = secret.to_base32();
        let again = Secret::from_base32(&canonical).expect("canonical base32 decodes");
        assert_eq!(again.expose(), secret.expose());
    }
});
