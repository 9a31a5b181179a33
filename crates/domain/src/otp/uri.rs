//! `otpauth://` key URIs (the Google Authenticator "Key Uri Format"): parsing and emission.
//!
//! # Accepted syntax
//!
//! `otpauth://TYPE/LABEL?PARAMS`, where `otpauth` and `TYPE` (`totp` | `hotp`) are ASCII
//! case-insensitive.
//!
//! **Label** (everything between `TYPE/` and the first `?`):
//! - If it contains a *literal* `:`, the part before the first literal colon is the label issuer
//!   and the rest is the account name; literal (unencoded) spaces at the start of the account
//!   are removed, percent-encoded ones (`%20`) are kept. Both parts are then percent-decoded.
//! - Otherwise the whole label is percent-decoded; if the result contains a `:` (it was
//!   written `%3A`), it is split at the first one the same way, and leading spaces of the account
//!   are removed.
//! - Otherwise the whole decoded label is the account name.
//! - An empty label issuer (`:alice`) means no issuer; an empty label means account `""`.
//!
//! [`OtpAuthUri::to_uri`] writes the separating colon literally and encodes every `:` inside
//! the issuer and account as `%3A` (an issuer-less account containing `:` is written with a
//! leading literal colon), so `parse(to_uri(x)) == x` for any issuer and account.
//!
//! **Parameters**: `&`-separated `name=value` pieces (empty pieces skipped, a piece without `=`
//! has an empty value); names are matched ASCII case-insensitively and are not percent-decoded;
//! values are percent-decoded (`+` is a literal `+`). Unknown parameters are ignored entirely
//! (their values are not even decoded). A `#` has no special meaning.
//!
//! # Errors
//!
//! [`UriError::Shape`] (HTTP 422) for the overall form; [`UriError::Parameter`] (HTTP 400) for
//! OTP parameters. Shape is checked first, so it wins when both apply. Messages never contain
//! the secret (nor any parameter value).

use std::fmt::Write as _;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use zeroize::Zeroizing;

use super::base32::Base32ErrorKind;
use super::{Algorithm, Digits, MAX_COUNTER, OtpKind, OtpType, Period, Secret};

/// Longest accepted URI, in Unicode scalar values.
pub const MAX_URI_CHARS: usize = 2048;

/// A rejected `otpauth://` URI: which rule it broke (never any part of the input, so never the
/// secret). The shape is checked before the parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// The URI's overall form is wrong (too long, wrong scheme or type, bad label).
    #[error("otpauth URI shape: {0:?}")]
    Shape(UriShape),
    /// An OTP parameter is missing, malformed, empty or repeated.
    #[error("otpauth URI parameter: {0:?}")]
    Parameter(UriParameter),
}

/// How a URI's overall form is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriShape {
    /// Longer than `max` characters.
    TooLong {
        /// [`MAX_URI_CHARS`].
        max: usize,
    },
    /// Contains U+0000 anywhere.
    ContainsNul,
    /// Does not start with `otpauth://`.
    NotOtpauth,
    /// The type is neither `totp` nor `hotp`.
    UnknownType,
    /// No `/` and label after the type.
    NoLabel,
    /// The label is not valid percent-encoded UTF-8.
    LabelNotUtf8,
    /// The decoded label contains U+0000.
    LabelContainsNul,
}

/// Which OTP parameter is wrong, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriParameter {
    /// A known parameter (its canonical name) appears twice, in any case.
    Repeated(&'static str),
    /// A known parameter has an empty value.
    Empty(&'static str),
    /// A parameter's value is not valid percent-encoded UTF-8.
    NotUtf8(&'static str),
    /// No `secret`.
    SecretMissing,
    /// The `secret` is not valid percent-encoding.
    SecretNotPercentEncoded,
    /// The `secret` is not valid base32 (or empty once decoded).
    Secret(Base32ErrorKind),
    /// `algorithm` is not one of the [`Algorithm`]s.
    Algorithm,
    /// `digits` is not 6 or 8.
    Digits,
    /// `period` is not an integer in `Period::MIN..=Period::MAX`.
    Period,
    /// `counter` is not an integer in `0..=MAX_COUNTER`.
    Counter,
    /// The `issuer` contains U+0000.
    IssuerContainsNul,
}

const fn shape(s: UriShape) -> UriError {
    UriError::Shape(s)
}

const fn parameter(p: UriParameter) -> UriError {
    UriError::Parameter(p)
}

/// A parsed `otpauth://` URI. `Debug` does not print the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpAuthUri {
    /// TOTP with its period (default 30 s), or HOTP with its counter (default 0, at most
    /// [`MAX_COUNTER`]).
    pub kind: OtpKind,
    /// The `issuer` parameter, else the label prefix, else `None`. Never `Some("")` from `parse`.
    pub issuer: Option<String>,
    /// The account part of the label (possibly empty).
    pub account_name: String,
    /// The decoded secret (at least one byte).
    pub secret: Secret,
    /// Default `Sha1`.
    pub algorithm: Algorithm,
    /// Default 6.
    pub digits: Digits,
}

/// Characters percent-encoded on emission: everything but RFC 3986 "unreserved".
const ENCODE_SET: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Raw (still percent-encoded) values of the known parameters.
#[derive(Default)]
struct RawParams<'a> {
    secret: Option<&'a str>,
    issuer: Option<&'a str>,
    algorithm: Option<&'a str>,
    digits: Option<&'a str>,
    period: Option<&'a str>,
    counter: Option<&'a str>,
}

impl<'a> RawParams<'a> {
    /// The canonical name and slot of a known parameter (case-insensitive), `None` if unknown.
    fn slot(&mut self, name: &str) -> Option<(&'static str, &mut Option<&'a str>)> {
        let slots: [(&'static str, &mut Option<&'a str>); 6] = [
            ("secret", &mut self.secret),
            ("issuer", &mut self.issuer),
            ("algorithm", &mut self.algorithm),
            ("digits", &mut self.digits),
            ("period", &mut self.period),
            ("counter", &mut self.counter),
        ];
        slots.into_iter().find(|(known, _)| known.eq_ignore_ascii_case(name))
    }

    fn collect(query: &'a str) -> Result<Self, UriError> {
        let mut params = Self::default();
        for piece in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            let Some((known, slot)) = params.slot(name) else {
                continue; // unknown parameter: ignored
            };
            if slot.is_some() {
                return Err(parameter(UriParameter::Repeated(known)));
            }
            if value.is_empty() {
                return Err(parameter(UriParameter::Empty(known)));
            }
            *slot = Some(value);
        }
        Ok(params)
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Strict percent-decoding into `out`: every `%` must start a `%XX` escape. Returns `false` on
/// an invalid escape. `out` should have at least `raw.len()` spare capacity so that it never
/// reallocates (decoding only shrinks), which matters when it holds a secret.
fn percent_decode_into(raw: &str, out: &mut Vec<u8>) -> bool {
    let mut bytes = raw.bytes();
    while let Some(byte) = bytes.next() {
        if byte == b'%' {
            let high = bytes.next().and_then(hex_value);
            let low = bytes.next().and_then(hex_value);
            match (high, low) {
                (Some(h), Some(l)) => out.push((h << 4) | l),
                _ => return false,
            }
        } else {
            out.push(byte);
        }
    }
    true
}

/// Strict percent-decoding to UTF-8; `None` on an invalid escape or invalid UTF-8.
fn percent_decode_utf8(raw: &str) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    if !percent_decode_into(raw, &mut out) {
        return None;
    }
    String::from_utf8(out).ok()
}

/// `prefix` stripped from the start of `s`, compared ASCII case-insensitively.
fn strip_prefix_ignore_ascii_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// An unsigned decimal integer: ASCII digits only (leading zeros allowed), `None` on anything
/// else or on overflow.
fn parse_unsigned(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn decode_label_part(raw: &str) -> Result<String, UriError> {
    let decoded = percent_decode_utf8(raw).ok_or_else(|| shape(UriShape::LabelNotUtf8))?;
    if decoded.contains('\0') {
        return Err(shape(UriShape::LabelContainsNul));
    }
    Ok(decoded)
}

/// Splits a raw label into (issuer prefix, account name); see the module documentation.
fn parse_label(raw: &str) -> Result<(Option<String>, String), UriError> {
    let (issuer, account) = if let Some((raw_issuer, raw_account)) = raw.split_once(':') {
        (
            decode_label_part(raw_issuer)?,
            decode_label_part(raw_account.trim_start_matches(' '))?,
        )
    } else {
        let decoded = decode_label_part(raw)?;
        match decoded.split_once(':') {
            Some((issuer, account)) => (issuer.to_owned(), account.trim_start_matches(' ').to_owned()),
            None => return Ok((None, decoded)),
        }
    };
    let issuer = if issuer.is_empty() { None } else { Some(issuer) };
    Ok((issuer, account))
}

/// Percent-decodes a non-secret parameter value to UTF-8.
fn decode_value(raw: &str, name: &'static str) -> Result<String, UriError> {
    percent_decode_utf8(raw).ok_or(parameter(UriParameter::NotUtf8(name)))
}

fn parse_secret(raw: &str) -> Result<Secret, UriError> {
    // The decoded bytes are the secret in base32 form: keep them in a wiped buffer that is
    // allocated once (decoding never grows, so no reallocation leaves a copy behind).
    let mut decoded: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::with_capacity(raw.len()));
    if !percent_decode_into(raw, &mut decoded) {
        return Err(parameter(UriParameter::SecretNotPercentEncoded));
    }
    // Non-ASCII (including non-UTF-8) bytes are simply invalid base32 characters.
    Secret::from_base32_bytes(&decoded).map_err(|e| parameter(UriParameter::Secret(e.kind())))
}

impl OtpAuthUri {
    /// Parses an `otpauth://` URI; see the module documentation for the exact rules.
    /// Never panics.
    pub fn parse(uri: &str) -> Result<Self, UriError> {
        // ---- Shape (422) ----
        if uri.chars().count() > MAX_URI_CHARS {
            return Err(shape(UriShape::TooLong { max: MAX_URI_CHARS }));
        }
        if uri.contains('\0') {
            return Err(shape(UriShape::ContainsNul));
        }
        let rest = strip_prefix_ignore_ascii_case(uri, "otpauth://").ok_or(shape(UriShape::NotOtpauth))?;
        let (type_str, after_type) = match rest.find(['/', '?']) {
            Some(end) => rest.split_at_checked(end).unwrap_or((rest, "")),
            None => (rest, ""),
        };
        let otp_type = OtpType::parse(type_str).ok_or(shape(UriShape::UnknownType))?;
        let after_slash = after_type.strip_prefix('/').ok_or(shape(UriShape::NoLabel))?;
        let (raw_label, query) = after_slash.split_once('?').unwrap_or((after_slash, ""));
        let (label_issuer, account_name) = parse_label(raw_label)?;

        // ---- OTP parameters (400) ----
        let raw = RawParams::collect(query)?;

        let secret = parse_secret(raw.secret.ok_or(parameter(UriParameter::SecretMissing))?)?;

        let algorithm = match raw.algorithm {
            None => Algorithm::Sha1,
            Some(v) => Algorithm::parse(&decode_value(v, "algorithm")?).ok_or(parameter(UriParameter::Algorithm))?,
        };

        let digits = match raw.digits {
            None => Digits::SIX,
            Some(v) => parse_unsigned(&decode_value(v, "digits")?)
                .and_then(|n| u32::try_from(n).ok())
                .and_then(Digits::new)
                .ok_or(parameter(UriParameter::Digits))?,
        };

        let kind = match otp_type {
            OtpType::Totp => {
                let period = match raw.period {
                    None => Period::DEFAULT,
                    Some(v) => parse_unsigned(&decode_value(v, "period")?)
                        .and_then(Period::new)
                        .ok_or(parameter(UriParameter::Period))?,
                };
                OtpKind::Totp { period }
            }
            OtpType::Hotp => {
                let counter = match raw.counter {
                    None => 0,
                    Some(v) => parse_unsigned(&decode_value(v, "counter")?)
                        .filter(|n| *n <= MAX_COUNTER)
                        .ok_or(parameter(UriParameter::Counter))?,
                };
                OtpKind::Hotp { counter }
            }
        };

        let issuer = match raw.issuer {
            None => label_issuer,
            Some(v) => {
                let issuer = decode_value(v, "issuer")?;
                if issuer.contains('\0') {
                    return Err(parameter(UriParameter::IssuerContainsNul));
                }
                Some(issuer)
            }
        };

        Ok(Self {
            kind,
            issuer,
            account_name,
            secret,
            algorithm,
            digits,
        })
    }

    /// Canonical URI: `otpauth://TYPE/[ISSUER:]ACCOUNT?secret=..[&issuer=..]&algorithm=..&digits=..&period=..`
    /// (or `&counter=..` for HOTP). Issuer and account are percent-encoded except for RFC 3986
    /// unreserved characters; the secret is upper-case unpadded base32; the algorithm is
    /// upper-case (`SHA1`), as authenticator apps expect.
    ///
    /// `Some("")` as issuer is written as no issuer. For every value `parse` returns,
    /// `parse(to_uri(x)) == x`.
    ///
    /// The returned string contains the secret: do not log it, and wipe it if you can.
    #[must_use]
    pub fn to_uri(&self) -> String {
        let issuer = self.issuer.as_deref().filter(|i| !i.is_empty());

        let mut head = String::from("otpauth://");
        head.push_str(self.kind.otp_type().as_str());
        head.push('/');
        match issuer {
            Some(issuer) => {
                head.extend(utf8_percent_encode(issuer, ENCODE_SET));
                head.push(':');
            }
            // Without it, the account's `%3A` would be read as the issuer separator.
            None if self.account_name.contains(':') => head.push(':'),
            None => {}
        }
        head.extend(utf8_percent_encode(&self.account_name, ENCODE_SET));
        head.push_str("?secret=");

        let mut tail = String::new();
        if let Some(issuer) = issuer {
            tail.push_str("&issuer=");
            tail.extend(utf8_percent_encode(issuer, ENCODE_SET));
        }
        // Writing to a String cannot fail.
        let _ = write!(
            tail,
            "&algorithm={}&digits={}",
            self.algorithm.as_uri_str(),
            self.digits.get()
        );
        let _ = match self.kind {
            OtpKind::Totp { period } => write!(tail, "&period={}", period.get()),
            OtpKind::Hotp { counter } => write!(tail, "&counter={counter}"),
        };

        // Exact capacity: the string holding the secret is never reallocated (no stray copies).
        let secret = self.secret.to_base32();
        let mut uri = String::with_capacity(head.len() + secret.len() + tail.len());
        uri.push_str(&head);
        uri.push_str(&secret);
        uri.push_str(&tail);
        uri
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug)]
    enum Expect {
        Ok {
            otp_type: OtpType,
            issuer: Option<&'static str>,
            account: &'static str,
            secret: &'static [u8],
            algorithm: Algorithm,
            digits: u8,
            period: Option<u32>,
            counter: Option<u64>,
        },
        Shape,
        Parameter,
    }

    /// "Hello" is JBSWY3DP (exactly 40 bits, no trailing bits).
    const HELLO: &[u8] = b"Hello";

    fn totp_ok(issuer: Option<&'static str>, account: &'static str) -> Expect {
        Expect::Ok {
            otp_type: OtpType::Totp,
            issuer,
            account,
            secret: HELLO,
            algorithm: Algorithm::Sha1,
            digits: 6,
            period: Some(30),
            counter: None,
        }
    }

    fn hotp_ok(counter: u64) -> Expect {
        Expect::Ok {
            otp_type: OtpType::Hotp,
            issuer: None,
            account: "x",
            secret: HELLO,
            algorithm: Algorithm::Sha1,
            digits: 6,
            period: None,
            counter: Some(counter),
        }
    }

    fn cases() -> Vec<(&'static str, Expect)> {
        use Expect::{Parameter, Shape};
        vec![
            // ---------- valid ----------
            (
                "otpauth://totp/ACME%20Co:john.doe@email.com?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30",
                Expect::Ok {
                    otp_type: OtpType::Totp,
                    issuer: Some("ACME Co"),
                    account: "john.doe@email.com",
                    secret: b"=\xc6\xca\xa4\x82Jm(\x87g\xb23\x1e \xb41f\xcb\x85\xd9",
                    algorithm: Algorithm::Sha1,
                    digits: 6,
                    period: Some(30),
                    counter: None,
                },
            ),
            (
                "otpauth://totp/Example:alice@google.com?secret=JBSWY3DP&issuer=Example",
                totp_ok(Some("Example"), "alice@google.com"),
            ),
            (
                "otpauth://totp/alice@google.com?secret=JBSWY3DP",
                totp_ok(None, "alice@google.com"),
            ),
            (
                "otpauth://totp/Example:alice?secret=JBSWY3DP",
                totp_ok(Some("Example"), "alice"),
            ),
            (
                "otpauth://totp/Label:alice?secret=JBSWY3DP&issuer=Param",
                totp_ok(Some("Param"), "alice"),
            ),
            (
                "otpauth://totp/alice?secret=JBSWY3DP&issuer=Param",
                totp_ok(Some("Param"), "alice"),
            ),
            (
                "otpauth://totp/Example:  alice?secret=JBSWY3DP",
                totp_ok(Some("Example"), "alice"),
            ),
            (
                "otpauth://totp/Example:%20alice?secret=JBSWY3DP",
                totp_ok(Some("Example"), " alice"),
            ),
            (
                "otpauth://totp/Example%3Aalice?secret=JBSWY3DP",
                totp_ok(Some("Example"), "alice"),
            ),
            (
                "otpauth://totp/Example%3a%20%20alice?secret=JBSWY3DP",
                totp_ok(Some("Example"), "alice"),
            ),
            ("otpauth://totp/:alice?secret=JBSWY3DP", totp_ok(None, "alice")),
            ("otpauth://totp/:a%3Ab?secret=JBSWY3DP", totp_ok(None, "a:b")),
            ("otpauth://totp/a:b:c?secret=JBSWY3DP", totp_ok(Some("a"), "b:c")),
            ("otpauth://totp/Example:?secret=JBSWY3DP", totp_ok(Some("Example"), "")),
            ("otpauth://totp/?secret=JBSWY3DP", totp_ok(None, "")),
            (
                "otpauth://totp/Caf%C3%A9:j%C3%B6rg?secret=JBSWY3DP",
                totp_ok(Some("Café"), "jörg"),
            ),
            (
                "otpauth://totp/日本:ユーザー?secret=JBSWY3DP",
                totp_ok(Some("日本"), "ユーザー"),
            ),
            (
                "otpauth://totp/a+b?secret=JBSWY3DP&issuer=A%26B%3DC+D",
                totp_ok(Some("A&B=C+D"), "a+b"),
            ),
            ("otpauth://totp/x#y?secret=JBSWY3DP", totp_ok(None, "x#y")),
            (
                "otpauth://totp/x?secret=JBSW%20Y3DP%3D%3D%3D&&image=https%3A%2F%2Fe.com%2Fa.png&foo&image=%zz",
                totp_ok(None, "x"),
            ),
            ("otpauth://totp/x?secret=jbsw y3dp ===", totp_ok(None, "x")),
            (
                "otpauth://totp/x?secret=JBSWY3DP&counter=-1&counter2=",
                totp_ok(None, "x"),
            ),
            (
                "otpauth://totp/x?secret=JBSWY3DP&period=000030&digits=06&algorithm=sHa1",
                totp_ok(None, "x"),
            ),
            ("otpauth://totp/x?secret=JBSWY3DP&digits=%36", totp_ok(None, "x")),
            (
                "OTPAUTH://TOTP/x?SECRET=jbswy3dp&ALGORITHM=sha256&Digits=8&PeRiOd=60",
                Expect::Ok {
                    otp_type: OtpType::Totp,
                    issuer: None,
                    account: "x",
                    secret: HELLO,
                    algorithm: Algorithm::Sha256,
                    digits: 8,
                    period: Some(60),
                    counter: None,
                },
            ),
            (
                "otpauth://totp/x?secret=JBSWY3DP&algorithm=SHA512&period=86400",
                Expect::Ok {
                    otp_type: OtpType::Totp,
                    issuer: None,
                    account: "x",
                    secret: HELLO,
                    algorithm: Algorithm::Sha512,
                    digits: 6,
                    period: Some(86_400),
                    counter: None,
                },
            ),
            (
                "otpauth://totp/x?secret=JBSWY3DP&period=1",
                Expect::Ok {
                    otp_type: OtpType::Totp,
                    issuer: None,
                    account: "x",
                    secret: HELLO,
                    algorithm: Algorithm::Sha1,
                    digits: 6,
                    period: Some(1),
                    counter: None,
                },
            ),
            ("otpauth://hotp/x?secret=JBSWY3DP", hotp_ok(0)),
            ("otpauth://HOTP/x?secret=JBSWY3DP&counter=0042&period=abc", hotp_ok(42)),
            (
                "otpauth://hotp/x?secret=JBSWY3DP&counter=9223372036854775807",
                hotp_ok(MAX_COUNTER),
            ),
            (
                "otpauth://hotp/x?secret=JBSWY3DP&counter=00000000000000000000000000007",
                hotp_ok(7),
            ),
            // ---------- shape (422) ----------
            ("", Shape),
            ("https://totp/x?secret=JBSWY3DP", Shape),
            ("otpauth:/totp/x?secret=JBSWY3DP", Shape),
            ("otpauth//totp/x?secret=JBSWY3DP", Shape),
            (" otpauth://totp/x?secret=JBSWY3DP", Shape),
            ("otpauth://motp/x?secret=JBSWY3DP", Shape),
            ("otpauth:///x?secret=JBSWY3DP", Shape),
            ("otpauth://totp?secret=JBSWY3DP", Shape),
            ("otpauth://totp", Shape),
            ("otpauth://", Shape),
            ("otpauth://tótp/x?secret=JBSWY3DP", Shape),
            ("otpauth://totp/x%zz?secret=JBSWY3DP", Shape),
            ("otpauth://totp/x%4?secret=JBSWY3DP", Shape),
            ("otpauth://totp/x%C3?secret=JBSWY3DP", Shape),
            ("otpauth://totp/x%C3:y?secret=JBSWY3DP", Shape),
            ("otpauth://totp/x%00?secret=JBSWY3DP", Shape),
            ("otpauth://totp/x?secret=JBSWY3DP&issuer=a\0", Shape),
            // Shape wins over parameter errors.
            ("otpauth://totp?digits=7", Shape),
            ("otpauth://totp/%zz?secret=&secret=", Shape),
            // ---------- OTP parameters (400) ----------
            ("otpauth://totp/x", Parameter),
            ("otpauth://totp/x?", Parameter),
            ("otpauth://totp/x?issuer=a", Parameter),
            ("otpauth://totp/x?secret=", Parameter),
            ("otpauth://totp/x?secret", Parameter),
            ("otpauth://totp/x?secret=JBSW1Y3DP", Parameter),
            ("otpauth://totp/x?secret=JBSWY3DP+", Parameter),
            ("otpauth://totp/x?secret=JBSWY3", Parameter),
            ("otpauth://totp/x?secret=====", Parameter),
            ("otpauth://totp/x?secret=%20", Parameter),
            ("otpauth://totp/x?secret=JBSW%zz", Parameter),
            ("otpauth://totp/x?secret=JBSW%C3%A9", Parameter),
            ("otpauth://totp/x?secret=JBSWY3DP&secret=JBSWY3DP", Parameter),
            ("otpauth://totp/x?secret=JBSWY3DP&SECRET=JBSWY3DP", Parameter),
            ("otpauth://totp/x?secret=JBSWY3DP&algorithm=md5", Parameter),
            ("otpauth://totp/x?secret=JBSWY3DP&algorithm=SHA-256", Parameter),
            ("otpauth://totp/x?secret=JBSWY3DP&algorithm=", Parameter),
            ("otpauth://totp/x?secret=JBSWY3DP&digits=7", Parameter),
            ("otpauth://totp/x?secret=JBSWY3DP&digits=+6", Parameter),
            ("otpauth://totp/x?secret=JBSWY3DP&digits= 6", Parameter),
            ("otpauth://totp/x?secret=JBSWY3DP&digits=6.0", Parameter),
            ("otpauth://totp/x?secret=JBSWY3DP&digits=4294967302", Parameter),
            ("otpauth://totp/x?secret=JBSWY3DP&digits=6&Digits=6", Parameter),
            ("otpauth://totp/x?secret=JBSWY3DP&digits", Parameter),
            ("otpauth://totp/x?secret=JBSWY3DP&period=0", Parameter),
            ("otpauth://totp/x?secret=JBSWY3DP&period=86401", Parameter),
            ("otpauth://totp/x?secret=JBSWY3DP&period=-30", Parameter),
            (
                "otpauth://totp/x?secret=JBSWY3DP&period=99999999999999999999999",
                Parameter,
            ),
            ("otpauth://totp/x?secret=JBSWY3DP&period=３０", Parameter),
            ("otpauth://totp/x?secret=JBSWY3DP&counter=", Parameter),
            ("otpauth://totp/x?secret=JBSWY3DP&counter=1&counter=2", Parameter),
            ("otpauth://hotp/x?secret=JBSWY3DP&period=", Parameter),
            ("otpauth://hotp/x?secret=JBSWY3DP&period=1&PERIOD=1", Parameter),
            (
                "otpauth://hotp/x?secret=JBSWY3DP&counter=9223372036854775808",
                Parameter,
            ),
            (
                "otpauth://hotp/x?secret=JBSWY3DP&counter=18446744073709551616",
                Parameter,
            ),
            ("otpauth://hotp/x?secret=JBSWY3DP&counter=-1", Parameter),
            ("otpauth://totp/x?secret=JBSWY3DP&issuer=", Parameter),
            ("otpauth://totp/x?secret=JBSWY3DP&issuer=%zz", Parameter),
            ("otpauth://totp/x?secret=JBSWY3DP&issuer=%C3", Parameter),
            ("otpauth://totp/x?secret=JBSWY3DP&issuer=a%00b", Parameter),
            ("otpauth://totp/x?secret=JBSWY3DP&algorithm=%zz", Parameter),
        ]
    }

    #[test]
    fn table_of_uris() {
        let cases = cases();
        assert!(cases.len() >= 30);
        for (uri, expect) in cases {
            let got = OtpAuthUri::parse(uri);
            match (expect, got) {
                (
                    Expect::Ok {
                        otp_type,
                        issuer,
                        account,
                        secret,
                        algorithm,
                        digits,
                        period,
                        counter,
                    },
                    Ok(p),
                ) => {
                    assert_eq!(p.kind.otp_type(), otp_type, "{uri}");
                    assert_eq!(p.issuer.as_deref(), issuer, "{uri}");
                    assert_eq!(p.account_name, account, "{uri}");
                    assert_eq!(p.secret.expose(), secret, "{uri}");
                    assert_eq!(p.algorithm, algorithm, "{uri}");
                    assert_eq!(p.digits.get(), digits, "{uri}");
                    assert_eq!(p.kind.period().map(Period::get), period, "{uri}");
                    assert_eq!(p.kind.counter(), counter, "{uri}");
                    // Canonical emission parses back to the same value.
                    assert_eq!(OtpAuthUri::parse(&p.to_uri()).unwrap(), p, "{uri}");
                }
                (Expect::Shape, Err(UriError::Shape(_))) | (Expect::Parameter, Err(UriError::Parameter(_))) => {}
                (expect, got) => panic!("{uri:?}: expected {expect:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn specific_reasons() {
        use UriParameter as P;
        let err = |uri: &str| OtpAuthUri::parse(uri).unwrap_err();
        let cases = [
            ("otpauth://totp/x?secret=JBSWY3DP&digits=7", parameter(P::Digits)),
            ("otpauth://totp/x", parameter(P::SecretMissing)),
            (
                "otpauth://totp/x?secret=JBSWY3DP&Secret=A",
                parameter(P::Repeated("secret")),
            ),
            (
                "otpauth://totp/x?secret=JBSWY3DP&PERIOD=",
                parameter(P::Empty("period")),
            ),
            (
                "otpauth://hotp/x?secret=JBSWY3DP&counter=9223372036854775808",
                parameter(P::Counter),
            ),
            ("otpauth://totp/x?secret=JBSWY3DP&period=0", parameter(P::Period)),
            (
                "otpauth://totp/x?secret=JBSWY3DP&algorithm=md5",
                parameter(P::Algorithm),
            ),
            (
                "otpauth://totp/x?secret=JBSWY3",
                parameter(P::Secret(Base32ErrorKind::InvalidLength)),
            ),
            (
                "otpauth://totp/x?secret=%3D",
                parameter(P::Secret(Base32ErrorKind::Empty)),
            ),
            ("otpauth://totp/x?secret=JBSW%zz", parameter(P::SecretNotPercentEncoded)),
            (
                "otpauth://totp/x?secret=JBSWY3DP&issuer=%C3",
                parameter(P::NotUtf8("issuer")),
            ),
            (
                "otpauth://totp/x?secret=JBSWY3DP&issuer=a%00",
                parameter(P::IssuerContainsNul),
            ),
            ("otpauth://totp?secret=JBSWY3DP", shape(UriShape::NoLabel)),
            ("https://totp/x?secret=JBSWY3DP", shape(UriShape::NotOtpauth)),
            ("otpauth://motp/x?secret=JBSWY3DP", shape(UriShape::UnknownType)),
            ("otpauth://totp/x%C3?secret=JBSWY3DP", shape(UriShape::LabelNotUtf8)),
            ("otpauth://totp/x%00?secret=JBSWY3DP", shape(UriShape::LabelContainsNul)),
            ("otpauth://totp/x?secret=A\0", shape(UriShape::ContainsNul)),
        ];
        for (uri, want) in cases {
            assert_eq!(err(uri), want, "{uri}");
        }
        let long = format!("otpauth://totp/x?secret=JBSWY3DP&issuer={}", "a".repeat(MAX_URI_CHARS));
        assert_eq!(err(&long), shape(UriShape::TooLong { max: MAX_URI_CHARS }));
    }

    #[test]
    fn errors_never_contain_the_secret() {
        for uri in [
            "otpauth://totp/x?secret=SUPERSECRETVALUE1",
            "otpauth://totp/x?secret=SUPERSECRETVALUE%zz",
            "otpauth://totp/x?secret=SUPERSECRETVALUE&secret=SUPERSECRETVALUE",
            "otpauth://totp/x?secret=SUPERSECRETVALUE&digits=SUPERSECRETVALUE",
            "otpauth://totp/x?secret=SUPERSECRETVALUE&period=SUPERSECRETVALUE",
            "otpauth://totp/x?secret=SUPERSECRETVALUE&algorithm=SUPERSECRETVALUE",
            "otpauth://xotp/x?secret=SUPERSECRETVALUE",
        ] {
            let err = OtpAuthUri::parse(uri).unwrap_err();
            assert!(!err.to_string().contains("SUPERSECRET"), "{uri}: {err}");
            assert!(!format!("{err:?}").contains("SUPERSECRET"), "{uri}: {err:?}");
        }
    }

    #[test]
    fn debug_does_not_print_the_secret() {
        let p = OtpAuthUri::parse("otpauth://totp/a:b?secret=JBSWY3DPEHPK3PXP").unwrap();
        for dbg in [format!("{p:?}"), format!("{p:#?}")] {
            assert!(dbg.contains("Secret(<redacted>)"), "{dbg}");
            assert!(!dbg.to_ascii_uppercase().contains("JBSWY3DP"), "{dbg}");
            assert!(!dbg.contains("Hello"), "{dbg}");
            assert!(!dbg.contains("72, 101"), "{dbg}"); // b"He" as a byte list
        }
    }

    #[test]
    fn length_limit_counts_chars() {
        let base = "otpauth://totp/?secret=JBSWY3DP";
        let fill = |n: usize, c: char| {
            let mut s = String::from("otpauth://totp/");
            s.extend(std::iter::repeat_n(c, n - base.chars().count()));
            s.push_str("?secret=JBSWY3DP");
            s
        };
        // Exactly 2048 chars of multi-byte characters (well over 2048 bytes): accepted.
        let at_limit = fill(MAX_URI_CHARS, 'é');
        assert_eq!(at_limit.chars().count(), 2048);
        assert!(at_limit.len() > 2048);
        let p = OtpAuthUri::parse(&at_limit).unwrap();
        assert_eq!(p.account_name.chars().count(), 2048 - base.chars().count());
        // One more: shape error.
        let over = fill(MAX_URI_CHARS + 1, 'a');
        assert!(matches!(OtpAuthUri::parse(&over), Err(UriError::Shape(_))));
        // Even when it also has parameter problems.
        let over_bad = format!("{over}&digits=7");
        assert!(matches!(OtpAuthUri::parse(&over_bad), Err(UriError::Shape(_))));
    }

    #[test]
    fn emission_is_canonical() {
        let p =
            OtpAuthUri::parse("otpauth://TOTP/ACME%20Co:john doe?secret=jbsw y3dp ehpk 3pxp&issuer=ACME Co&digits=8")
                .unwrap();
        assert_eq!(
            p.to_uri(),
            "otpauth://totp/ACME%20Co:john%20doe?secret=JBSWY3DPEHPK3PXP&issuer=ACME%20Co&algorithm=SHA1&digits=8&period=30"
        );
        let h = OtpAuthUri::parse("otpauth://hotp/a%3Ab?secret=JBSWY3DP&counter=5").unwrap();
        assert_eq!(h.issuer.as_deref(), Some("a"));
        assert_eq!(
            h.to_uri(),
            "otpauth://hotp/a:b?secret=JBSWY3DP&issuer=a&algorithm=SHA1&digits=6&counter=5"
        );
        // An issuer-less account containing ':' gets a leading separator.
        let mut q = h.clone();
        q.issuer = None;
        q.account_name = "x:y".into();
        assert_eq!(
            q.to_uri(),
            "otpauth://hotp/:x%3Ay?secret=JBSWY3DP&algorithm=SHA1&digits=6&counter=5"
        );
        assert_eq!(OtpAuthUri::parse(&q.to_uri()).unwrap(), q);
        // Some("") is written as no issuer.
        q.issuer = Some(String::new());
        q.account_name = "plain".into();
        let back = OtpAuthUri::parse(&q.to_uri()).unwrap();
        assert_eq!(back.issuer, None);
    }

    fn label_text() -> impl Strategy<Value = String> {
        let special = proptest::sample::select(vec![
            ':',
            '&',
            '?',
            '%',
            ' ',
            '=',
            '+',
            '#',
            '/',
            '\\',
            '@',
            'é',
            '日',
            '\u{1F600}',
            '\n',
            '~',
            '-',
            '.',
            '_',
        ]);
        let ch = prop_oneof![
            3 => special,
            2 => proptest::char::range('a', 'z'),
            1 => any::<char>().prop_filter("no NUL", |c| *c != '\0'),
        ];
        proptest::collection::vec(ch, 0..24).prop_map(String::from_iter)
    }

    fn arbitrary_uri() -> impl Strategy<Value = OtpAuthUri> {
        (
            any::<bool>(),
            proptest::option::of(label_text().prop_filter("non-empty", |s| !s.is_empty())),
            label_text(),
            proptest::collection::vec(any::<u8>(), 1..64),
            prop_oneof![Just(Algorithm::Sha1), Just(Algorithm::Sha256), Just(Algorithm::Sha512)],
            any::<bool>(),
            1u64..=86_400,
            0..=MAX_COUNTER,
        )
            .prop_map(
                |(is_totp, issuer, account, secret, algorithm, eight, period, counter)| OtpAuthUri {
                    kind: if is_totp {
                        OtpKind::Totp {
                            period: Period::new(period).unwrap(),
                        }
                    } else {
                        OtpKind::Hotp { counter }
                    },
                    issuer,
                    account_name: account,
                    secret: Secret::from_bytes(secret).unwrap(),
                    algorithm,
                    digits: if eight { Digits::EIGHT } else { Digits::SIX },
                },
            )
    }

    proptest! {
        #[test]
        fn to_uri_parse_round_trip(x in arbitrary_uri()) {
            let uri = x.to_uri();
            prop_assert!(uri.chars().count() <= MAX_URI_CHARS);
            let back = OtpAuthUri::parse(&uri);
            prop_assert_eq!(back.as_ref().ok(), Some(&x), "{}", uri);
            // Emission is a fixed point.
            prop_assert_eq!(back.unwrap().to_uri(), uri);
        }

        #[test]
        fn parse_then_emit_is_stable(
            upper in any::<bool>(),
            label in label_text(),
            issuer in proptest::option::of(label_text()),
        ) {
            let mut uri = format!("otpauth://{}/{label}?secret=JBSWY3DP", if upper { "TOTP" } else { "totp" });
            if let Some(issuer) = issuer {
                uri.push_str("&issuer=");
                uri.push_str(&issuer);
            }
            if let Ok(parsed) = OtpAuthUri::parse(&uri) {
                prop_assert_eq!(OtpAuthUri::parse(&parsed.to_uri()).unwrap(), parsed);
            }
        }

        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = OtpAuthUri::parse(&s);
        }

        #[test]
        fn parse_never_panics_on_uri_like_input(
            tail in proptest::collection::vec(
                prop_oneof![
                    proptest::sample::select(vec![
                        "secret=", "JBSWY3DP", "issuer=", "digits=", "period=", "counter=",
                        "algorithm=", "sha1", "6", "8", "30", "%", "%3A", "%C3", "%zz", "%00",
                        "&", "?", ":", "/", " ", "=", "é", "99999999999999999999999",
                    ]).prop_map(String::from),
                    any::<char>().prop_map(String::from),
                ],
                0..30,
            ),
            head in proptest::sample::select(vec![
                "otpauth://totp/", "otpauth://hotp/", "OTPAUTH://TOTP", "otpauth://", "otpauth:",
            ]),
        ) {
            let uri = format!("{head}{}", tail.concat());
            match OtpAuthUri::parse(&uri) {
                Ok(p) => {
                    prop_assert_eq!(OtpAuthUri::parse(&p.to_uri()).unwrap(), p);
                }
                Err(UriError::Shape(_) | UriError::Parameter(_)) => {}
            }
        }
    }
}
