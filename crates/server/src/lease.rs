//! The serving replica's seal lease: `authd serve` seals new secrets only while its last
//! heartbeat (which adopts a newly promoted primary) is recent, so that a replica the others no
//! longer count as live (a promotion did not wait for it) cannot go on sealing under what may be
//! an old key. Opening is never leased.

use std::sync::atomic::{AtomicI64, Ordering};

use domain::ids::AccountId;
use domain::keys::KeyId;
use domain::otp::Secret;
use domain::ports::{CipherError, SealedSecret, SecretCipher};
use storage_diesel::XChaChaCipher;

/// A cipher that seals only until its lease ends (unix seconds).
#[derive(Debug)]
pub struct LeasedCipher {
    inner: XChaChaCipher,
    until: AtomicI64,
}

impl LeasedCipher {
    /// A cipher whose lease has ended (`serve`, until its replica registers).
    pub fn expired(inner: XChaChaCipher) -> Self {
        Self {
            inner,
            until: AtomicI64::new(i64::MIN),
        }
    }

    /// A cipher without a lease (one-shot commands: they serve no requests).
    pub fn unleased(inner: XChaChaCipher) -> Self {
        Self {
            inner,
            until: AtomicI64::new(i64::MAX),
        }
    }

    /// Seals until `until` (unix seconds).
    pub fn renew(&self, until: i64) {
        self.until.store(until, Ordering::Release);
    }

    /// Seals no more until renewed.
    pub fn end(&self) {
        self.until.store(i64::MIN, Ordering::Release);
    }

    fn leased(&self) -> bool {
        now() <= self.until.load(Ordering::Acquire)
    }
}

/// The current unix time in seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl SecretCipher for LeasedCipher {
    fn seal(&self, account: AccountId, secret: &Secret) -> Result<SealedSecret, CipherError> {
        if !self.leased() {
            return Err(CipherError(
                "this replica may not seal: its key heartbeat lapsed, or the primary is not in its keyring",
            ));
        }
        self.inner.seal(account, secret)
    }

    fn open(&self, account: AccountId, sealed: &SealedSecret) -> Result<Secret, CipherError> {
        self.inner.open(account, sealed)
    }

    fn key_ids(&self) -> Vec<KeyId> {
        self.inner.key_ids()
    }

    fn primary(&self) -> KeyId {
        self.inner.primary()
    }

    fn set_primary(&self, key: &KeyId) -> Result<(), CipherError> {
        self.inner.set_primary(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_only_within_its_lease_and_always_opens() {
        let id = AccountId::parse("0190a000-0000-7000-8000-000000000001").expect("an account id");
        let secret = Secret::from_bytes(b"12345678901234567890".to_vec()).expect("secret");
        let c = LeasedCipher::expired(XChaChaCipher::new([1; 32]));
        assert!(c.seal(id, &secret).is_err(), "not registered yet");
        c.renew(now() + 10);
        let sealed = c.seal(id, &secret).expect("within the lease");
        c.renew(now() - 1);
        assert!(c.seal(id, &secret).is_err(), "lapsed");
        assert_eq!(c.open(id, &sealed).expect("opens").expose(), b"12345678901234567890");
        c.renew(now() + 10);
        c.end();
        assert!(c.seal(id, &secret).is_err(), "ended");
        let free = LeasedCipher::unleased(XChaChaCipher::new([1; 32]));
        assert!(free.seal(id, &secret).is_ok());
    }
}
