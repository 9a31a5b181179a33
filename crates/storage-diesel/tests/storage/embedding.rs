//! Embedding for real: `examples/embedded_service.rs` started twice over one directory (two
//! starts of another service that embeds authd on its own SQLite file) finds what it wrote,
//! and a wrong master key reads no seed.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use domain::testkit::FixedClock;

#[path = "../../examples/embedded_service.rs"]
#[expect(dead_code, reason = "the example's `main` is its own binary's, not this test's")]
mod example;

use example::{KEY_FILE, Report, run};

/// RFC 6238's SHA-1 test time: the 8-digit code is `07081804`.
const RFC_TIME: i64 = 1_111_111_109;
const TOTP_AT_RFC_TIME: &str = "081804";
/// RFC 4226's codes of the test secret for counters 0, 1, 2.
const HOTP: [&str; 3] = ["755224", "287082", "359152"];
/// The seed in the example's URIs.
const SEED_B32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

/// One start of the service at the RFC's time (the clock is the service's port: a test fixes it).
fn start(dir: &Path) -> Result<Report, Box<dyn std::error::Error>> {
    run(dir, Arc::new(FixedClock::at(RFC_TIME)))
}

#[test]
fn a_second_start_finds_what_the_first_wrote() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("billing");

    let first = start(&dir).unwrap();
    assert!(first.created, "the first start creates its records");
    assert_eq!(first.totp_code, TOTP_AT_RFC_TIME);
    assert_eq!((first.hotp_code.as_str(), first.hotp_next_counter), (HOTP[0], 1));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(dir.join(KEY_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the master key file is the owner's only");
    }

    let second = start(&dir).unwrap();
    assert_eq!(
        second,
        Report {
            created: false,
            hotp_code: HOTP[1].to_owned(),
            hotp_next_counter: 2,
            ..first.clone()
        },
        "the same identity, app and accounts, the same TOTP code at the same time, the HOTP \
         counter where the first start left it"
    );
}

#[test]
fn a_wrong_master_key_reads_no_seed_and_moves_no_counter() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let first = start(dir).unwrap();
    let key = fs::read(dir.join(KEY_FILE)).unwrap();

    fs::write(dir.join(KEY_FILE), [0x17; 32]).unwrap();
    let err = start(dir).expect_err("another key cannot open the seeds");
    assert!(
        matches!(
            err.downcast_ref::<domain::Error>(),
            Some(domain::Error::SecretUnreadable)
        ),
        "got {err:?}"
    );
    assert_eq!(err.to_string(), "stored secret cannot be decrypted");
    assert!(!format!("{err:?}").contains(SEED_B32));

    fs::write(dir.join(KEY_FILE), &key).unwrap();
    let again = start(dir).unwrap();
    assert_eq!(again.hotp_account, first.hotp_account);
    assert_eq!(
        (again.hotp_code.as_str(), again.hotp_next_counter),
        (HOTP[1], 2),
        "the failed start did not use up a counter"
    );
}

#[test]
fn a_broken_or_lost_key_is_a_clear_error_not_a_new_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    start(dir).unwrap();

    fs::write(dir.join(KEY_FILE), [0x17; 31]).unwrap();
    let err = start(dir).expect_err("a short key").to_string();
    assert!(err.contains("must hold exactly 32 bytes"), "{err}");

    fs::remove_file(dir.join(KEY_FILE)).unwrap();
    let err = start(dir).expect_err("no key beside an existing database").to_string();
    assert!(err.contains("is missing but the database exists"), "{err}");
    assert!(!dir.join(KEY_FILE).exists(), "no new key was made");
}
