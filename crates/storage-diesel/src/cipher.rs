//! Account secrets at rest: the domain's [`SecretCipher`] port with XChaCha20-Poly1305.
//!
//! Stored format: `[version 0x01][24-byte random nonce][ciphertext + 16-byte tag]`. The
//! associated data is `b"authd/account-secret/v1/"` followed by the account id's 16 bytes, so a
//! value copied to another account's row does not open. The version byte names the key, so a
//! later key rotation can tell old values from new ones.

use std::fmt;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use domain::ids::AccountId;
use domain::otp::Secret;
use domain::ports::{CipherError, SealedSecret, SecretCipher};
use zeroize::Zeroize;

/// The key version byte this cipher writes (and the only one it reads).
pub const VERSION: u8 = 0x01;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const AAD_PREFIX: &[u8] = b"authd/account-secret/v1/";

/// XChaCha20-Poly1305 under one 256-bit master key. The key is wiped when the cipher is
/// dropped, and `Debug` never shows it.
pub struct XChaChaCipher {
    aead: XChaCha20Poly1305,
}

impl XChaChaCipher {
    /// A cipher under `key` (the caller's copy of the key is the caller's to wipe).
    #[must_use]
    pub fn new(key: [u8; 32]) -> Self {
        let mut key = key;
        let aead = XChaCha20Poly1305::new(&key.into());
        key.zeroize();
        Self { aead }
    }
}

impl fmt::Debug for XChaChaCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XChaChaCipher")
            .field("version", &VERSION)
            .field("key", &"<redacted>")
            .finish()
    }
}

fn aad(account: AccountId) -> [u8; AAD_PREFIX.len() + 16] {
    let mut out = [0u8; AAD_PREFIX.len() + 16];
    let (prefix, id) = out.split_at_mut(AAD_PREFIX.len());
    prefix.copy_from_slice(AAD_PREFIX);
    id.copy_from_slice(account.as_uuid().as_bytes());
    out
}

impl SecretCipher for XChaChaCipher {
    fn seal(&self, account: AccountId, secret: &Secret) -> Result<SealedSecret, CipherError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| CipherError("randomness unavailable"))?;
        let aad = aad(account);
        let sealed = self
            .aead
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: secret.expose(),
                    aad: &aad,
                },
            )
            .map_err(|_| CipherError("encryption failed"))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(SealedSecret(out))
    }

    fn open(&self, account: AccountId, sealed: &SealedSecret) -> Result<Secret, CipherError> {
        let Some((&version, rest)) = sealed.0.split_first() else {
            return Err(CipherError("empty sealed secret"));
        };
        if version != VERSION {
            return Err(CipherError("unknown key version"));
        }
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(CipherError("sealed secret too short"));
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| CipherError("sealed secret too short"))?;
        let aad = aad(account);
        let plain = self
            .aead
            .decrypt(&nonce, Payload { msg: body, aad: &aad })
            .map_err(|_| CipherError("authentication failed"))?;
        Secret::from_bytes(plain).ok_or(CipherError("empty secret"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> AccountId {
        AccountId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn secret() -> Secret {
        Secret::from_bytes(b"12345678901234567890".to_vec()).unwrap()
    }

    #[test]
    fn round_trip_with_format() {
        let c = XChaChaCipher::new([1; 32]);
        let s = c.seal(id(1), &secret()).unwrap();
        assert_eq!(s.0[0], VERSION);
        assert_eq!(s.0.len(), 1 + NONCE_LEN + 20 + TAG_LEN);
        assert!(!s.0.windows(20).any(|w| w == b"12345678901234567890"));
        assert_eq!(c.open(id(1), &s).unwrap().expose(), b"12345678901234567890");
        let again = c.seal(id(1), &secret()).unwrap();
        assert_ne!(s.0, again.0, "fresh nonce every time");
    }

    #[test]
    fn wrong_key_fails() {
        let s = XChaChaCipher::new([1; 32]).seal(id(1), &secret()).unwrap();
        assert!(XChaChaCipher::new([2; 32]).open(id(1), &s).is_err());
    }

    #[test]
    fn moved_to_another_account_fails() {
        let c = XChaChaCipher::new([1; 32]);
        let s = c.seal(id(1), &secret()).unwrap();
        assert!(c.open(id(2), &s).is_err());
    }

    #[test]
    fn any_tampered_byte_fails() {
        let c = XChaChaCipher::new([1; 32]);
        let s = c.seal(id(1), &secret()).unwrap();
        for i in 1..s.0.len() {
            let mut t = s.clone();
            t.0[i] ^= 0x01;
            assert!(c.open(id(1), &t).is_err(), "byte {i}");
        }
        let mut short = s.clone();
        short.0.truncate(1 + NONCE_LEN + TAG_LEN - 1);
        assert!(c.open(id(1), &short).is_err());
        assert!(c.open(id(1), &SealedSecret(Vec::new())).is_err());
    }

    #[test]
    fn unknown_version_fails() {
        let c = XChaChaCipher::new([1; 32]);
        let mut s = c.seal(id(1), &secret()).unwrap();
        s.0[0] = 0x02;
        let e = c.open(id(1), &s).unwrap_err();
        assert!(e.to_string().contains("unknown key version"), "{e}");
    }

    #[test]
    fn debug_shows_no_key() {
        let shown = format!("{:?}", XChaChaCipher::new([0xAB; 32]));
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(
            !shown.to_lowercase().contains("ab, ab") && !shown.contains("171"),
            "{shown}"
        );
    }
}
