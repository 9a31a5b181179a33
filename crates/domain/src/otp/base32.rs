//! [`Secret`]: decoded OTP key bytes, and the lenient base32 decoder used for them.

use std::fmt;

use zeroize::Zeroizing;

/// A decoded OTP secret: never empty, wiped on drop, never printed.
///
/// `Debug` prints `Secret(<redacted>)` and there is no `Display`. Equality compares the bytes
/// without early exit.
#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Wraps raw key bytes; `None` if `bytes` is empty.
    #[must_use]
    pub fn from_bytes(bytes: Vec<u8>) -> Option<Self> {
        if bytes.is_empty() {
            None
        } else {
            Some(Self(Zeroizing::new(bytes)))
        }
    }

    /// Decodes a base32 (RFC 4648 alphabet) secret, leniently:
    ///
    /// - letters are case-insensitive;
    /// - ASCII spaces (U+0020) are ignored anywhere;
    /// - `=` padding is accepted (any amount) but only at the end (only spaces and more `=`
    ///   may follow the first `=`);
    /// - non-zero trailing bits in the last symbol are ignored.
    ///
    /// Errors: any other character, a symbol count that cannot be produced by base32 (1, 3 or 6
    /// modulo 8), or an empty result. The error never contains the input.
    pub fn from_base32(s: &str) -> Result<Self, Base32Error> {
        Self::from_base32_bytes(s.as_bytes())
    }

    /// Same as [`Secret::from_base32`] on raw bytes (the URI parser decodes percent-escapes to
    /// bytes; a non-ASCII byte is simply an invalid character).
    pub(crate) fn from_base32_bytes(input: &[u8]) -> Result<Self, Base32Error> {
        // 5-bit symbol values; they are the secret in another form, so wipe them too.
        let mut symbols: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::with_capacity(input.len()));
        let mut padding_seen = false;
        for &byte in input {
            let value = match byte {
                b' ' => continue,
                b'=' => {
                    padding_seen = true;
                    continue;
                }
                b'A'..=b'Z' => byte - b'A',
                b'a'..=b'z' => byte - b'a',
                b'2'..=b'7' => byte - b'2' + 26,
                _ => return Err(Base32Error(Base32ErrorKind::InvalidCharacter)),
            };
            if padding_seen {
                return Err(Base32Error(Base32ErrorKind::MisplacedPadding));
            }
            symbols.push(value);
        }
        if symbols.is_empty() {
            return Err(Base32Error(Base32ErrorKind::Empty));
        }
        // 8 symbols carry 5 bytes; a final group of 1, 3 or 6 symbols cannot come from whole bytes.
        if matches!(symbols.len() % 8, 1 | 3 | 6) {
            return Err(Base32Error(Base32ErrorKind::InvalidLength));
        }

        // Exact upper bound, so the vector never reallocates (no unwiped copies left behind).
        let mut out: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::with_capacity(symbols.len() / 8 * 5 + 5));
        let mut buffer: u16 = 0; // holds fewer than 8 pending bits between iterations
        let mut bits: u32 = 0;
        for &value in symbols.iter() {
            buffer = (buffer << 5) | u16::from(value);
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                let [low, _] = (buffer >> bits).to_le_bytes();
                out.push(low);
                buffer &= (1u16 << bits) - 1;
            }
        }
        // Whatever is left in `buffer` are trailing bits: ignored (tolerated even if non-zero).

        if out.is_empty() {
            // Unreachable given the length check above, but never hand out an empty secret.
            return Err(Base32Error(Base32ErrorKind::Empty));
        }
        Ok(Self(out))
    }

    /// The raw key bytes (never empty).
    #[must_use]
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Canonical base32: upper-case RFC 4648 alphabet, no padding. Wiped on drop.
    #[must_use]
    pub fn to_base32(&self) -> Zeroizing<String> {
        let encoding = &data_encoding::BASE32_NOPAD;
        // Allocate the exact size up front: `encode_append` then never reallocates.
        let mut out = Zeroizing::new(String::with_capacity(encoding.encode_len(self.0.len())));
        encoding.encode_append(&self.0, &mut out);
        out
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.expose(), other.expose());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl Eq for Secret {}

/// Why a base32 secret was rejected. The message never contains the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.0.message())]
pub struct Base32Error(Base32ErrorKind);

impl Base32Error {
    /// The reason, for callers that want to branch on it.
    #[must_use]
    pub const fn kind(&self) -> Base32ErrorKind {
        self.0
    }
}

/// The reasons a base32 secret can be rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base32ErrorKind {
    /// A character outside `A-Z a-z 2-7`, space and `=`.
    InvalidCharacter,
    /// A base32 symbol after `=` padding.
    MisplacedPadding,
    /// A symbol count that no byte string encodes to (1, 3 or 6 modulo 8).
    InvalidLength,
    /// Nothing left after removing spaces and padding.
    Empty,
}

impl Base32ErrorKind {
    const fn message(self) -> &'static str {
        match self {
            Self::InvalidCharacter => "secret is not valid base32: invalid character",
            Self::MisplacedPadding => "secret is not valid base32: characters after '=' padding",
            Self::InvalidLength => "secret is not valid base32: impossible length",
            Self::Empty => "secret is empty",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode(s: &str) -> Result<Vec<u8>, Base32ErrorKind> {
        Secret::from_base32(s)
            .map(|s| s.expose().to_vec())
            .map_err(|e| e.kind())
    }

    #[test]
    fn rfc4648_vectors() {
        // RFC 4648 section 10 (padding tolerated, and optional).
        for (plain, enc) in [
            ("f", "MY======"),
            ("fo", "MZXQ===="),
            ("foo", "MZXW6==="),
            ("foob", "MZXW6YQ="),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI======"),
        ] {
            assert_eq!(decode(enc).unwrap(), plain.as_bytes(), "{enc}");
            assert_eq!(decode(enc.trim_end_matches('=')).unwrap(), plain.as_bytes(), "{enc}");
            let secret = Secret::from_bytes(plain.as_bytes().to_vec()).unwrap();
            assert_eq!(&*secret.to_base32(), enc.trim_end_matches('='));
        }
    }

    #[test]
    fn lenient_forms() {
        let canonical = decode("JBSWY3DPEHPK3PXP").unwrap();
        assert_eq!(canonical, b"Hello!\xde\xad\xbe\xef");
        // Lower case and mixed case.
        assert_eq!(decode("jbswy3dpehpk3pxp").unwrap(), canonical);
        assert_eq!(decode("JbSwY3dPeHpK3pXp").unwrap(), canonical);
        // Spaces anywhere, including leading/trailing and between padding.
        assert_eq!(decode("jbsw y3dp ehpk 3pxp").unwrap(), canonical);
        assert_eq!(decode("  JBSWY3DPEHPK3PXP  ").unwrap(), canonical);
        assert_eq!(decode("MZXW6 = = =").unwrap(), b"foo");
        // Padding: any amount at the end.
        assert_eq!(decode("MZXW6=").unwrap(), b"foo");
        assert_eq!(decode("MZXW6==========").unwrap(), b"foo");
    }

    #[test]
    fn trailing_bits_tolerated() {
        // "MY" is "f" with zero trailing bits; "MZ" sets the last (unused) bit.
        assert_eq!(decode("MY").unwrap(), b"f");
        assert_eq!(decode("MZ").unwrap(), b"f");
        assert_eq!(decode("M3").unwrap(), b"f"); // both trailing bits set
        // The canonical encoding drops them again.
        let secret = Secret::from_base32("MZ").unwrap();
        assert_eq!(&*secret.to_base32(), "MY");
    }

    #[test]
    fn invalid_characters() {
        for s in [
            "JBSWY3DP1",
            "JBSWY3DP0",
            "JBSWY3DP8",
            "JBSW-Y3DP",
            "JBSW\tY3DP",
            "JBSW\nY3DP",
            "JBSW+Y3DP",
            "JBSWY3DPÉ",
            "JBSW%20Y3",
            "ＪBSW",
            "JBSW\0Y3DP",
        ] {
            assert_eq!(decode(s), Err(Base32ErrorKind::InvalidCharacter), "{s:?}");
        }
    }

    #[test]
    fn padding_must_be_trailing() {
        assert_eq!(decode("MZ=XW6"), Err(Base32ErrorKind::MisplacedPadding));
        assert_eq!(decode("=MZXW6"), Err(Base32ErrorKind::MisplacedPadding));
    }

    #[test]
    fn impossible_lengths() {
        for s in ["A", "ABC", "ABCDEF", "ABCDEFGHA", "ABCDEFGHABC", "A======="] {
            assert_eq!(decode(s), Err(Base32ErrorKind::InvalidLength), "{s:?}");
        }
        for s in ["AB", "ABCD", "ABCDE", "ABCDEFG", "ABCDEFGH"] {
            assert!(decode(s).is_ok(), "{s:?}");
        }
    }

    #[test]
    fn empty_inputs() {
        for s in ["", " ", "=", "========", "  = ="] {
            assert_eq!(decode(s), Err(Base32ErrorKind::Empty), "{s:?}");
        }
        assert!(Secret::from_bytes(Vec::new()).is_none());
    }

    #[test]
    fn errors_do_not_echo_input() {
        let input = "SECRETSECRETSECRET1";
        let err = Secret::from_base32(input).unwrap_err();
        let msg = err.to_string();
        assert!(!msg.contains(input));
        assert!(!msg.contains("SECRET"));
        assert!(!format!("{err:?}").contains("SECRET"));
    }

    #[test]
    fn debug_is_redacted() {
        let secret = Secret::from_base32("JBSWY3DPEHPK3PXP").unwrap();
        let dbg = format!("{secret:?}");
        assert_eq!(dbg, "Secret(<redacted>)");
        assert!(!format!("{secret:#?}").contains("JBSW"));
    }

    #[test]
    fn equality_by_bytes() {
        let a = Secret::from_base32("jbswy3dpehpk3pxp").unwrap();
        let b = Secret::from_base32("JBSW Y3DP EHPK 3PXP").unwrap();
        let c = Secret::from_base32("JBSWY3DPEHPK3PXQ").unwrap();
        let d = Secret::from_base32("JBSWY3DP").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        assert_eq!(a.clone(), a);
    }

    proptest! {
        #[test]
        fn base32_round_trip(bytes in proptest::collection::vec(any::<u8>(), 1..100)) {
            let secret = Secret::from_bytes(bytes.clone()).unwrap();
            let encoded = secret.to_base32();
            // Independent oracle: data-encoding's strict decoder accepts our canonical form.
            prop_assert_eq!(data_encoding::BASE32_NOPAD.decode(encoded.as_bytes()).unwrap(), bytes.clone());
            let decoded = Secret::from_base32(&encoded).unwrap();
            prop_assert_eq!(decoded.expose(), &bytes[..]);
            // Lower-cased and padded (as data-encoding's padded encoder emits) also decodes.
            let padded = data_encoding::BASE32.encode(&bytes).to_ascii_lowercase();
            let lenient = Secret::from_base32(&padded).unwrap();
            prop_assert_eq!(lenient.expose(), &bytes[..]);
        }

        #[test]
        fn base32_agrees_with_oracle(s in "[A-Z2-7]{0,40}") {
            // On canonical-alphabet input, we accept exactly what the strict decoder accepts,
            // modulo trailing bits (we tolerate them) and emptiness (we reject it).
            let ours = Secret::from_base32(&s);
            match data_encoding::BASE32_NOPAD.decode(s.as_bytes()) {
                Ok(bytes) if bytes.is_empty() => prop_assert!(ours.is_err()),
                Ok(bytes) => {
                    let ours = ours.unwrap();
                    prop_assert_eq!(ours.expose(), &bytes[..]);
                }
                Err(e) if e.kind == data_encoding::DecodeKind::Trailing => {
                    prop_assert!(ours.is_ok());
                }
                Err(_) => prop_assert!(ours.is_err()),
            }
        }

        #[test]
        fn base32_never_panics(s in any::<String>()) {
            let _ = Secret::from_base32(&s);
        }
    }
}
