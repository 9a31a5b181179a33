//! Bearer credentials: service tokens (`authd_st_...`) and device tokens (`authd_dev_...`).
//! 256 bits of randomness each, shown once, stored only as SHA-256.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::ports::{RandomError, RandomSource};

/// Prefix of service tokens.
pub const SERVICE_TOKEN_PREFIX: &str = "authd_st_";
/// Prefix of device tokens.
pub const DEVICE_TOKEN_PREFIX: &str = "authd_dev_";

/// A freshly created token, to be shown once. `Debug` never prints it.
pub struct PlainToken(Zeroizing<String>);

impl PlainToken {
    /// Generates `prefix` + 43 base64url characters (32 random bytes).
    ///
    /// # Errors
    /// [`RandomError`] when randomness is unavailable.
    pub fn generate(prefix: &str, rng: &dyn RandomSource) -> Result<Self, RandomError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill(bytes.as_mut())?;
        let mut s = Zeroizing::new(String::with_capacity(prefix.len() + 43));
        s.push_str(prefix);
        URL_SAFE_NO_PAD.encode_string(bytes.as_ref(), &mut s);
        Ok(Self(s))
    }

    /// The token, for its one-time display.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Its hash, for storage and look-up.
    #[must_use]
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainToken(<redacted>)")
    }
}

/// SHA-256 of a presented or created token. High-entropy tokens need no slow KDF, and a
/// deterministic hash allows an indexed look-up.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Hashes a presented token.
    #[must_use]
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// Rebuilds a hash read from storage.
    #[must_use]
    pub const fn from_bytes(b: [u8; 32]) -> Self {
        Self(b)
    }

    /// The digest bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, for storage as text.
    #[must_use]
    pub fn to_hex(&self) -> String {
        data_encoding::HEXLOWER.encode(&self.0)
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::OsRandom;

    #[test]
    fn tokens_have_prefix_and_256_bits() {
        let t = PlainToken::generate(SERVICE_TOKEN_PREFIX, &OsRandom).expect("rng");
        let rest = t.expose().strip_prefix(SERVICE_TOKEN_PREFIX).expect("prefix");
        assert_eq!(rest.len(), 43);
        let decoded = URL_SAFE_NO_PAD.decode(rest).expect("base64url");
        assert_eq!(decoded.len(), 32);
        let u = PlainToken::generate(SERVICE_TOKEN_PREFIX, &OsRandom).expect("rng");
        assert_ne!(t.expose(), u.expose());
    }

    #[test]
    fn debug_never_prints_tokens() {
        let t = PlainToken::generate(DEVICE_TOKEN_PREFIX, &OsRandom).expect("rng");
        let shown = format!("{t:?} {:?}", t.hash());
        assert!(!shown.contains(t.expose()));
        assert!(!shown.contains(&t.hash().to_hex()));
        assert!(!shown.contains(DEVICE_TOKEN_PREFIX));
    }

    #[test]
    fn hash_is_sha256_of_the_whole_token() {
        assert_eq!(
            TokenHash::of("abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
