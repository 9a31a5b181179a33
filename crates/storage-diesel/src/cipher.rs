//! Account secrets at rest: the domain's [`SecretCipher`] port with XChaCha20-Poly1305 under a
//! keyring of master keys, each with a stable id.
//!
//! Two stored formats, both opened:
//!
//! - **`0x01`** (key id `0`): `[0x01][24-byte random nonce][ciphertext + 16-byte tag]`, associated
//!   data `b"authd/account-secret/v1/"` followed by the account id's 16 bytes. Every authd version
//!   reads it; it is still what a value sealed under the key with id `0` (today's single bare
//!   master key) is written as, so that a deployment that never adds a key stays readable by an
//!   older binary.
//! - **`0x02`** (any key id): `[0x02][id length, one byte][id bytes][24-byte random nonce]
//!   [ciphertext + 16-byte tag]`, associated data `b"authd/account-secret/v2/"`, the id length
//!   byte, the id bytes, then the account id's 16 bytes. A key other than `0` seals in this format.
//!
//! A value copied to another account's row does not open (the account id is associated data), nor
//! does a value whose key id was edited (the id is associated data too). A value sealed under a
//! key id missing from the ring fails with a [`CipherError`] (the domain turns it into
//! `SecretUnreadable`, the HTTP layer into a 500 without detail), never a panic.
//!
//! Key ids are 1 to 32 characters of `a-z`, `0-9` and `-` ([`KeyId`]).

use std::fmt;
use std::sync::{PoisonError, RwLock};

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use domain::ids::AccountId;
use domain::keys::{EnvelopeKey, split_envelope};
pub use domain::keys::{InvalidKeyId, KEY_ID_MAX_LEN, KeyId};
use domain::otp::Secret;
use domain::ports::{CipherError, SealedSecret, SecretCipher};
use zeroize::{Zeroize, Zeroizing};

/// The format byte of values under key id `0` written by every authd version.
pub const VERSION: u8 = domain::keys::LEGACY_ENVELOPE;
/// The format byte of values carrying their key id.
pub const VERSION_KEYED: u8 = domain::keys::KEYED_ENVELOPE;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const AAD_PREFIX: &[u8] = b"authd/account-secret/v1/";
const AAD_PREFIX_KEYED: &[u8] = b"authd/account-secret/v2/";

/// A keyring that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    /// No key at all.
    #[error("the keyring holds no key")]
    Empty,
    /// Two keys with one id.
    #[error("the key id `{0}` appears twice")]
    DuplicateId(KeyId),
}

/// The key id a stored value names: `0` for a `0x01` value, the id of a `0x02` value. `None` for
/// a value of no known format (empty, unknown format byte, malformed id). Reads no key: for
/// counting values per key. (The envelope is the domain's: [`domain::keys`].)
#[must_use]
pub fn sealed_key_id(sealed: &SealedSecret) -> Option<KeyId> {
    sealed.key_id()
}

/// XChaCha20-Poly1305 under a keyring: several 256-bit master keys by id, one of them primary.
/// [`SecretCipher::seal`] uses the primary; [`SecretCipher::open`] uses the key the value names.
/// The keys are wiped when the cipher is dropped, and `Debug` shows only their ids.
///
/// The primary starts as the first key of the ring; the service then makes the primary recorded
/// in the database the one ([`SecretCipher::set_primary`]), so that every replica agrees.
pub struct XChaChaCipher {
    /// The ring, in order.
    ring: Vec<(KeyId, XChaCha20Poly1305)>,
    /// The primary's index in `ring`.
    primary: RwLock<usize>,
}

impl XChaChaCipher {
    /// A cipher under one key, `key`, with id `0` (the caller's copy of the key is the caller's
    /// to wipe). It seals in the `0x01` format.
    #[must_use]
    pub fn new(key: [u8; 32]) -> Self {
        let mut key = key;
        let aead = XChaCha20Poly1305::new(&key.into());
        key.zeroize();
        Self {
            ring: vec![(KeyId::legacy(), aead)],
            primary: RwLock::new(0),
        }
    }

    /// A cipher under a keyring, in order; the first key is the primary until another is set.
    ///
    /// # Errors
    /// [`KeyringError`] for an empty ring or an id given twice.
    pub fn keyring<I>(keys: I) -> Result<Self, KeyringError>
    where
        I: IntoIterator<Item = (KeyId, Zeroizing<[u8; 32]>)>,
    {
        let mut ring: Vec<(KeyId, XChaCha20Poly1305)> = Vec::new();
        for (id, key) in keys {
            if ring.iter().any(|(have, _)| *have == id) {
                return Err(KeyringError::DuplicateId(id));
            }
            let aead = XChaCha20Poly1305::new((&*key).into());
            ring.push((id, aead));
        }
        if ring.is_empty() {
            return Err(KeyringError::Empty);
        }
        Ok(Self {
            ring,
            primary: RwLock::new(0),
        })
    }

    fn primary_index(&self) -> usize {
        *self.primary.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn key(&self, id: &str) -> Option<&XChaCha20Poly1305> {
        self.ring.iter().find(|(k, _)| k.as_str() == id).map(|(_, aead)| aead)
    }
}

impl fmt::Debug for XChaChaCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.ring.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("XChaChaCipher")
            .field("primary", &self.primary().as_str())
            .field("key_ids", &ids)
            .field("keys", &"<redacted>")
            .finish()
    }
}

fn aad_v1(account: AccountId) -> Vec<u8> {
    let mut out = Vec::with_capacity(AAD_PREFIX.len() + 16);
    out.extend_from_slice(AAD_PREFIX);
    out.extend_from_slice(account.as_uuid().as_bytes());
    out
}

/// The id length byte and the id (both as stored).
fn id_header(id: &str) -> Result<[u8; 1], CipherError> {
    u8::try_from(id.len())
        .map(|n| [n])
        .map_err(|_| CipherError("malformed key id"))
}

fn aad_v2(id: &str, account: AccountId) -> Result<Vec<u8>, CipherError> {
    let mut out = Vec::with_capacity(AAD_PREFIX_KEYED.len() + 1 + id.len() + 16);
    out.extend_from_slice(AAD_PREFIX_KEYED);
    out.extend_from_slice(&id_header(id)?);
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(account.as_uuid().as_bytes());
    Ok(out)
}

fn decrypt(aead: &XChaCha20Poly1305, rest: &[u8], aad: &[u8]) -> Result<Secret, CipherError> {
    if rest.len() < NONCE_LEN + TAG_LEN {
        return Err(CipherError("sealed secret too short"));
    }
    let (nonce, body) = rest.split_at(NONCE_LEN);
    let nonce = XNonce::try_from(nonce).map_err(|_| CipherError("sealed secret too short"))?;
    let plain = aead
        .decrypt(&nonce, Payload { msg: body, aad })
        .map_err(|_| CipherError("authentication failed"))?;
    Secret::from_bytes(plain).ok_or(CipherError("empty secret"))
}

impl SecretCipher for XChaChaCipher {
    fn seal(&self, account: AccountId, secret: &Secret) -> Result<SealedSecret, CipherError> {
        let (key_id, aead) = self
            .ring
            .get(self.primary_index())
            .ok_or(CipherError("no primary key"))?;
        let id = key_id.as_str();
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| CipherError("randomness unavailable"))?;
        // Key `0` keeps the format every authd version reads (see the module docs).
        let header = domain::keys::envelope(key_id);
        let aad = if *key_id == KeyId::legacy() {
            aad_v1(account)
        } else {
            aad_v2(id, account)?
        };
        let sealed = aead
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: secret.expose(),
                    aad: &aad,
                },
            )
            .map_err(|_| CipherError("encryption failed"))?;
        let mut out = header;
        out.reserve(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(SealedSecret(out))
    }

    fn open(&self, account: AccountId, sealed: &SealedSecret) -> Result<Secret, CipherError> {
        // The envelope (which key sealed it) is the domain's: `domain::keys`.
        match split_envelope(&sealed.0) {
            Some((EnvelopeKey::Legacy, rest)) => {
                let aead = self
                    .key(KeyId::legacy().as_str())
                    .ok_or(CipherError("key not in the keyring"))?;
                decrypt(aead, rest, &aad_v1(account))
            }
            Some((EnvelopeKey::Keyed(id), rest)) => {
                let aead = self.key(id).ok_or(CipherError("key not in the keyring"))?;
                decrypt(aead, rest, &aad_v2(id, account)?)
            }
            None if sealed.0.is_empty() => Err(CipherError("empty sealed secret")),
            None => Err(CipherError("unknown key version or malformed key id")),
        }
    }

    fn key_ids(&self) -> Vec<KeyId> {
        self.ring.iter().map(|(id, _)| id.clone()).collect()
    }

    fn primary(&self) -> KeyId {
        self.ring
            .get(self.primary_index())
            .map_or_else(KeyId::legacy, |(id, _)| id.clone())
    }

    fn set_primary(&self, key: &KeyId) -> Result<(), CipherError> {
        let index = self
            .ring
            .iter()
            .position(|(id, _)| id == key)
            .ok_or(CipherError("key not in the keyring"))?;
        *self.primary.write().unwrap_or_else(PoisonError::into_inner) = index;
        Ok(())
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
        s.0[0] = 0x03;
        let e = c.open(id(1), &s).unwrap_err();
        assert!(e.to_string().contains("unknown key version"), "{e}");
    }

    fn key(id: &str, byte: u8) -> (KeyId, Zeroizing<[u8; 32]>) {
        (id.parse().unwrap(), Zeroizing::new([byte; 32]))
    }

    fn ring(keys: &[(&str, u8)]) -> XChaChaCipher {
        XChaChaCipher::keyring(keys.iter().map(|&(i, b)| key(i, b))).unwrap()
    }

    #[test]
    fn round_trip_under_each_key_of_a_ring() {
        for (primary, byte) in [("k2", 2), ("0", 1), ("a-very-long-key-id-of-32-chars-x", 3)] {
            let others: Vec<(&str, u8)> = [("0", 1), ("k2", 2), ("a-very-long-key-id-of-32-chars-x", 3)]
                .into_iter()
                .filter(|&(i, _)| i != primary)
                .collect();
            let mut keys = vec![(primary, byte)];
            keys.extend(others);
            let c = ring(&keys);
            assert_eq!(c.primary().as_str(), primary);
            let s = c.seal(id(1), &secret()).unwrap();
            assert_eq!(sealed_key_id(&s).unwrap().as_str(), primary);
            if primary == "0" {
                assert_eq!(s.0[0], VERSION, "key 0 keeps the 0x01 format");
                assert_eq!(s.0.len(), 1 + NONCE_LEN + 20 + TAG_LEN);
            } else {
                assert_eq!(s.0[0], VERSION_KEYED);
                assert_eq!(usize::from(s.0[1]), primary.len());
                assert_eq!(&s.0[2..2 + primary.len()], primary.as_bytes());
                assert_eq!(s.0.len(), 2 + primary.len() + NONCE_LEN + 20 + TAG_LEN);
            }
            assert!(!s.0.windows(20).any(|w| w == b"12345678901234567890"));
            assert_eq!(c.open(id(1), &s).unwrap().expose(), b"12345678901234567890");
            // Any ring holding that key opens it, whichever its primary.
            let reordered = ring(&[("other", 9), (primary, byte)]);
            assert_eq!(reordered.open(id(1), &s).unwrap().expose(), b"12345678901234567890");
            // The same id under another key does not.
            assert!(ring(&[(primary, byte ^ 0x80)]).open(id(1), &s).is_err());
            assert!(c.open(id(2), &s).is_err(), "moved to another account");
        }
    }

    #[test]
    fn old_values_open_as_key_0() {
        let old = XChaChaCipher::new([1; 32]).seal(id(1), &secret()).unwrap();
        assert_eq!(old.0[0], VERSION);
        assert_eq!(sealed_key_id(&old), Some(KeyId::legacy()));
        let c = ring(&[("k2", 2), ("0", 1)]);
        assert_eq!(c.open(id(1), &old).unwrap().expose(), b"12345678901234567890");
        // And a `0x02` value naming key `0` opens too.
        let keyed0 = ring(&[("k2", 2), ("0", 1)]);
        let mut s = keyed0.seal(id(1), &secret()).unwrap();
        assert_eq!(&s.0[..4], &[VERSION_KEYED, 2, b'k', b'2']);
        // Re-seal by hand under key 0 in the keyed format.
        let aead = XChaCha20Poly1305::new((&[1u8; 32]).into());
        let nonce = [7u8; NONCE_LEN];
        let body = aead
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: b"12345678901234567890",
                    aad: &aad_v2("0", id(1)).unwrap(),
                },
            )
            .unwrap();
        s.0 = [&[VERSION_KEYED, 1, b'0'][..], &nonce, &body].concat();
        assert_eq!(sealed_key_id(&s), Some(KeyId::legacy()));
        assert_eq!(c.open(id(1), &s).unwrap().expose(), b"12345678901234567890");
        assert_eq!(
            XChaChaCipher::new([1; 32]).open(id(1), &s).unwrap().expose(),
            b"12345678901234567890"
        );
    }

    #[test]
    fn a_key_missing_from_the_ring_is_an_error() {
        let s = ring(&[("k2", 2), ("0", 1)]).seal(id(1), &secret()).unwrap();
        let e = XChaChaCipher::new([1; 32]).open(id(1), &s).unwrap_err();
        assert!(e.to_string().contains("key not in the keyring"), "{e}");
        let old = XChaChaCipher::new([1; 32]).seal(id(1), &secret()).unwrap();
        let e = ring(&[("k2", 2)]).open(id(1), &old).unwrap_err();
        assert!(e.to_string().contains("key not in the keyring"), "{e}");
    }

    #[test]
    fn a_tampered_key_id_or_header_fails() {
        // Two keys that are the same bytes under two ids: only the AAD tells them apart.
        let c = ring(&[("k2", 2), ("k3", 2)]);
        let s = c.seal(id(1), &secret()).unwrap();
        let mut t = s.clone();
        t.0[3] = b'3';
        assert_eq!(sealed_key_id(&t).unwrap().as_str(), "k3");
        assert!(c.open(id(1), &t).is_err(), "the id is bound into the AAD");
        // Every byte, header included.
        for i in 1..s.0.len() {
            let mut t = s.clone();
            t.0[i] ^= 0x01;
            assert!(c.open(id(1), &t).is_err(), "byte {i}");
        }
        // A 0x02 value relabelled 0x01 (and the reverse) does not open.
        let c0 = ring(&[("0", 1)]);
        let mut t = c0.seal(id(1), &secret()).unwrap();
        t.0.splice(0..1, [VERSION_KEYED, 1, b'0']);
        assert!(c0.open(id(1), &t).is_err());
        // Malformed headers: no panic, an error.
        for bad in [
            vec![VERSION_KEYED],
            vec![VERSION_KEYED, 0],
            vec![VERSION_KEYED, 200, b'k'],
            vec![VERSION_KEYED, 2, b'K', b'2'],
            [&[VERSION_KEYED, 2, 0xff, 0xfe][..], &[0; NONCE_LEN + TAG_LEN]].concat(),
            [&[VERSION_KEYED, 2, b'k', b'2'][..], &[0; NONCE_LEN + TAG_LEN - 1]].concat(),
        ] {
            assert!(c.open(id(1), &SealedSecret(bad.clone())).is_err(), "{bad:?}");
        }
        assert_eq!(sealed_key_id(&SealedSecret(vec![VERSION_KEYED, 2, b'K', b'2'])), None);
        assert_eq!(sealed_key_id(&SealedSecret(vec![0x03])), None);
        assert_eq!(sealed_key_id(&SealedSecret(Vec::new())), None);
    }

    #[test]
    fn set_primary_switches_the_sealing_key_and_reseal_moves_a_value() {
        let c = ring(&[("0", 1), ("k2", 2)]);
        let old = c.seal(id(1), &secret()).unwrap();
        assert_eq!(sealed_key_id(&old), Some(KeyId::legacy()));
        c.set_primary(&"k2".parse().unwrap()).unwrap();
        assert_eq!(c.primary().as_str(), "k2");
        let new = c.reseal(id(1), &old).unwrap();
        assert_eq!(sealed_key_id(&new).unwrap().as_str(), "k2");
        let alone = ring(&[("k2", 2)]);
        assert_eq!(alone.open(id(1), &new).unwrap().expose(), b"12345678901234567890");
        assert!(alone.open(id(1), &old).is_err());
        assert!(c.set_primary(&"k9".parse().unwrap()).is_err(), "not in the ring");
        assert_eq!(c.primary().as_str(), "k2", "unchanged by a refused switch");
        assert!(c.reseal(id(2), &old).is_err(), "another account's value");
    }

    #[test]
    fn a_ring_needs_keys_with_distinct_ids() {
        assert_eq!(XChaChaCipher::keyring(Vec::new()).map(|_| ()), Err(KeyringError::Empty));
        assert_eq!(
            XChaChaCipher::keyring([key("0", 1), key("k2", 2), key("0", 3)]).map(|_| ()),
            Err(KeyringError::DuplicateId(KeyId::legacy()))
        );
        let c = ring(&[("k2", 2), ("0", 1), ("k3", 3)]);
        assert_eq!(
            c.key_ids().iter().map(KeyId::as_str).collect::<Vec<_>>(),
            ["k2", "0", "k3"]
        );
    }

    #[test]
    fn debug_of_a_ring_shows_ids_only() {
        let shown = format!("{:?}", ring(&[("k2", 0xAB), ("0", 0xCD)]));
        assert!(shown.contains("<redacted>") && shown.contains("k2"), "{shown}");
        for leak in ["ab, ab", "171", "cd, cd", "205", "AB", "CD"] {
            assert!(!shown.contains(leak), "{shown}");
        }
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
