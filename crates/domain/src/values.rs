//! Validated values: every constrained string or enum of the model, parsed once at the edge
//! ("parse, don't validate"). Lengths are counted in Unicode scalar values.

use std::collections::BTreeMap;
use std::fmt;

/// Why a value was refused (never echoing the input). The wire wording of each reason, with
/// the field's name, is the HTTP adapter's; `Display` is for the CLI and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidValue {
    /// Empty where a value is required.
    #[error("must not be empty")]
    Empty,
    /// Longer than `max` characters (Unicode scalar values).
    #[error("must be at most {max} characters")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// Contains U+0000.
    #[error("must not contain U+0000")]
    ContainsNul,
    /// A handle whose first character is not an ASCII letter or digit.
    #[error("must start with a letter or digit")]
    BadFirstChar,
    /// A handle with a character outside `[A-Za-z0-9._-]`.
    #[error("may contain only letters, digits, '.', '_' and '-'")]
    BadChar,
    /// Not one of the names the value may take.
    #[error("must be one of {}", .allowed.join(", "))]
    NotOneOf {
        /// The names, in documentation order.
        allowed: &'static [&'static str],
    },
}

fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// An identity's handle: 1-255 characters of `[A-Za-z0-9._-]`, the first alphanumeric. One
/// leading `@` is stripped (`@bot` and `bot` are the same handle).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Handle(String);

impl Handle {
    /// The longest handle (ASCII, so characters and bytes agree), `@` not counted.
    pub const MAX_CHARS: usize = 255;

    /// Parses a handle, stripping one leading `@`.
    ///
    /// # Errors
    /// [`InvalidValue`] when the rest is empty, longer than 255 characters, starts with a
    /// non-alphanumeric character or contains a character outside `[A-Za-z0-9._-]`.
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let s = input.strip_prefix('@').unwrap_or(input);
        let mut bytes = s.bytes();
        match bytes.next() {
            None => return Err(InvalidValue::Empty),
            Some(b) if !b.is_ascii_alphanumeric() => return Err(InvalidValue::BadFirstChar),
            Some(_) => {}
        }
        if s.len() > Self::MAX_CHARS {
            return Err(InvalidValue::TooLong { max: Self::MAX_CHARS });
        }
        if !bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
            return Err(InvalidValue::BadChar);
        }
        Ok(Self(s.to_owned()))
    }

    /// The handle without `@`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle({})", self.0)
    }
}

macro_rules! bounded_text {
    ($(#[$doc:meta])* $name:ident, $non_empty:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, Debug)]
        pub struct $name(String);

        impl $name {
            /// The fewest characters (Unicode scalar values) accepted.
            pub const MIN_CHARS: usize = if $non_empty { 1 } else { 0 };
            /// The most characters (Unicode scalar values) accepted.
            pub const MAX_CHARS: usize = $max;

            /// Validates the length (in Unicode scalar values) and refuses U+0000.
            ///
            /// # Errors
            /// [`InvalidValue`] when too short, too long, or containing U+0000.
            pub fn parse(s: impl Into<String>) -> Result<Self, InvalidValue> {
                let s = s.into();
                if s.contains('\0') {
                    return Err(InvalidValue::ContainsNul);
                }
                let n = char_len(&s);
                if n < Self::MIN_CHARS {
                    return Err(InvalidValue::Empty);
                }
                if n > Self::MAX_CHARS {
                    return Err(InvalidValue::TooLong { max: Self::MAX_CHARS });
                }
                Ok(Self(s))
            }

            /// The text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

bounded_text!(
    /// An account's display name: at most 255 characters.
    DisplayName, false, 255
);
bounded_text!(
    /// An account's description: at most 4096 characters.
    Description, false, 4096
);
bounded_text!(
    /// An instance's device name: 1-255 characters.
    DeviceName, true, 255
);
bounded_text!(
    /// A service token's optional name (CLI): 1-255 characters.
    TokenName, true, 255
);

/// How long a new service token lives: at least [`TokenLifetime::MIN_SECONDS`] (one minute), at
/// most [`TokenLifetime::MAX_SECONDS`] (ten years). Parsed from a whole number and one unit:
/// `30d`, `12h`, `90m`, `3600s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenLifetime(i64);

/// Why [`TokenLifetime::parse`] or [`TokenLifetime::from_seconds`] refused its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidLifetime {
    /// Not a whole number followed by `s`, `m`, `h` or `d`.
    #[error("must be a whole number followed by s, m, h or d (e.g. 30d, 12h, 90m, 3600s)")]
    Format,
    /// Shorter than one minute.
    #[error("must be at least 1 minute")]
    TooShort,
    /// Longer than ten years.
    #[error("must be at most 3650 days")]
    TooLong,
}

impl TokenLifetime {
    /// The shortest lifetime: one minute.
    pub const MIN_SECONDS: i64 = 60;
    /// The longest lifetime: 3650 days.
    pub const MAX_SECONDS: i64 = 3650 * 86_400;

    /// A lifetime of this many seconds.
    ///
    /// # Errors
    /// [`InvalidLifetime::TooShort`] or [`InvalidLifetime::TooLong`] outside the bounds.
    pub const fn from_seconds(secs: i64) -> Result<Self, InvalidLifetime> {
        if secs < Self::MIN_SECONDS {
            Err(InvalidLifetime::TooShort)
        } else if secs > Self::MAX_SECONDS {
            Err(InvalidLifetime::TooLong)
        } else {
            Ok(Self(secs))
        }
    }

    /// Parses `<n><unit>`, the unit one of `s`, `m`, `h`, `d` (e.g. `30d`).
    ///
    /// # Errors
    /// [`InvalidLifetime`] when the text has another shape or the lifetime is out of bounds.
    pub fn parse(input: &str) -> Result<Self, InvalidLifetime> {
        let Some(unit) = input.chars().last() else {
            return Err(InvalidLifetime::Format);
        };
        let per: i64 = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(InvalidLifetime::Format),
        };
        let digits = input.get(..input.len().saturating_sub(1)).unwrap_or_default();
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidLifetime::Format);
        }
        // Too many digits for an i64 is certainly too long.
        let n: i64 = digits.parse().map_err(|_| InvalidLifetime::TooLong)?;
        Self::from_seconds(n.saturating_mul(per))
    }

    /// The lifetime in seconds.
    #[must_use]
    pub const fn seconds(self) -> i64 {
        self.0
    }
}

/// The caller's own labels on a record (an account, an app): string keys and string values,
/// ordered by key. At most [`Metadata::MAX_KEYS`] keys of 1 to [`Metadata::MAX_KEY_CHARS`]
/// characters, values of at most [`Metadata::MAX_VALUE_CHARS`] characters (Stripe's limits,
/// counted in Unicode scalar values), no U+0000 in either. Empty by default.
///
/// The values are the caller's data: `Debug` prints the keys only, and the audit trail records
/// only the key names ([`Metadata::key_names`]).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Metadata(BTreeMap<String, String>);

/// Why [`Metadata::parse`] refused its input. A key or value is refused for an
/// [`InvalidValue`] reason, like any other text; the key is named (as the audit trail names
/// it), a value never is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidMetadata {
    /// More than [`Metadata::MAX_KEYS`] keys.
    #[error("metadata must have at most {} keys", Metadata::MAX_KEYS)]
    TooManyKeys,
    /// This key is refused.
    #[error("metadata key {key:?} {reason}")]
    Key {
        /// The key.
        key: String,
        /// Why: empty, too long or containing U+0000.
        reason: InvalidValue,
    },
    /// The value of this key is refused.
    #[error("metadata value of {key:?} {reason}")]
    Value {
        /// Its key.
        key: String,
        /// Why: too long or containing U+0000.
        reason: InvalidValue,
    },
}

impl Metadata {
    /// The most keys.
    pub const MAX_KEYS: usize = 50;
    /// The longest key (Unicode scalar values); a key has at least one.
    pub const MAX_KEY_CHARS: usize = 40;
    /// The longest value (Unicode scalar values); a value may be empty.
    pub const MAX_VALUE_CHARS: usize = 500;

    /// Validates the entries (a repeated key keeps its last value): the number of keys first,
    /// then each entry in key order, its key before its value.
    ///
    /// # Errors
    /// [`InvalidMetadata`]: more than [`Self::MAX_KEYS`] keys, an empty key
    /// ([`InvalidValue::Empty`]), a key or value too long ([`InvalidValue::TooLong`]), U+0000 in
    /// a key or value ([`InvalidValue::ContainsNul`]).
    pub fn parse(entries: impl IntoIterator<Item = (String, String)>) -> Result<Self, InvalidMetadata> {
        let map: BTreeMap<String, String> = entries.into_iter().collect();
        if map.len() > Self::MAX_KEYS {
            return Err(InvalidMetadata::TooManyKeys);
        }
        for (k, v) in &map {
            let key_refused = if k.contains('\0') {
                Some(InvalidValue::ContainsNul)
            } else if k.is_empty() {
                Some(InvalidValue::Empty)
            } else if char_len(k) > Self::MAX_KEY_CHARS {
                Some(InvalidValue::TooLong {
                    max: Self::MAX_KEY_CHARS,
                })
            } else {
                None
            };
            if let Some(reason) = key_refused {
                return Err(InvalidMetadata::Key { key: k.clone(), reason });
            }
            let value_refused = if v.contains('\0') {
                Some(InvalidValue::ContainsNul)
            } else if char_len(v) > Self::MAX_VALUE_CHARS {
                Some(InvalidValue::TooLong {
                    max: Self::MAX_VALUE_CHARS,
                })
            } else {
                None
            };
            if let Some(reason) = value_refused {
                return Err(InvalidMetadata::Value { key: k.clone(), reason });
            }
        }
        Ok(Self(map))
    }

    /// The entries, in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The value of `key`, if set.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// The number of keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The keys, sorted: what the audit trail records (never the values).
    #[must_use]
    pub fn key_names(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }
}

impl fmt::Debug for Metadata {
    /// The keys only: the values are the caller's data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Metadata")
            .field(&self.0.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The platform an app instance runs on. Case-insensitive on input, upper-case on output.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Platform {
    /// Android
    Android,
    /// iOS
    Ios,
    /// A browser
    Web,
    /// Windows
    Windows,
    /// macOS
    Macos,
    /// Linux
    Linux,
    /// Anything else
    Other,
}

impl Platform {
    /// Every platform, in documentation order.
    pub const ALL: [Self; 7] = [
        Self::Android,
        Self::Ios,
        Self::Web,
        Self::Windows,
        Self::Macos,
        Self::Linux,
        Self::Other,
    ];

    /// The wire names of [`Self::ALL`], in the same order.
    pub const NAMES: [&'static str; 7] = ["ANDROID", "IOS", "WEB", "WINDOWS", "MACOS", "LINUX", "OTHER"];

    /// Parses a platform name, case-insensitively, with no trimming.
    ///
    /// # Errors
    /// [`InvalidValue`] for anything but the seven names.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or(InvalidValue::NotOneOf { allowed: &Self::NAMES })
    }

    /// The upper-case wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Android => "ANDROID",
            Self::Ios => "IOS",
            Self::Web => "WEB",
            Self::Windows => "WINDOWS",
            Self::Macos => "MACOS",
            Self::Linux => "LINUX",
            Self::Other => "OTHER",
        }
    }
}

/// A live identity's status.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum IdentityStatus {
    /// Normal operation.
    Active,
    /// Its app can neither generate codes nor enroll instances.
    Paused,
}

impl IdentityStatus {
    /// Both, in documentation order.
    pub const ALL: [Self; 2] = [Self::Active, Self::Paused];
    /// The wire names of [`Self::ALL`], in the same order.
    pub const NAMES: [&'static str; 2] = ["active", "paused"];

    /// Parses `active` or `paused` (exactly, lower-case).
    ///
    /// # Errors
    /// [`InvalidValue`] for anything else.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        match s {
            "active" => Ok(Self::Active),
            "paused" => Ok(Self::Paused),
            _ => Err(InvalidValue::NotOneOf { allowed: &Self::NAMES }),
        }
    }

    /// The wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
        }
    }
}

/// A PATCH field: absent (keep), `null` (clear) or a new value.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub enum Patch<T> {
    /// The key was absent: keep the current value.
    #[default]
    Keep,
    /// The key was present with `null`: clear the field.
    Clear,
    /// The key was present with a value: set it.
    Set(T),
}

impl<T> Patch<T> {
    /// Applies the patch to a current optional value.
    #[must_use]
    pub fn apply(self, current: Option<T>) -> Option<T> {
        match self {
            Self::Keep => current,
            Self::Clear => None,
            Self::Set(v) => Some(v),
        }
    }

    /// Applies the patch to a current value whose cleared state is its default (such as
    /// [`Metadata`]: `null` clears it to no keys).
    #[must_use]
    pub fn apply_or_default(self, current: T) -> T
    where
        T: Default,
    {
        match self {
            Self::Keep => current,
            Self::Clear => T::default(),
            Self::Set(v) => v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handle_strips_one_at_and_validates_charset() {
        assert_eq!(Handle::parse("@bot").expect("ok").as_str(), "bot");
        assert_eq!(Handle::parse("bot").expect("ok").as_str(), "bot");
        assert_eq!(Handle::parse("a.b_c-9").expect("ok").as_str(), "a.b_c-9");
        assert!(Handle::parse("@@bot").is_err());
        assert!(Handle::parse("@").is_err());
        assert!(Handle::parse("").is_err());
        assert!(Handle::parse("-bot").is_err());
        assert!(Handle::parse(".bot").is_err());
        assert!(Handle::parse("bot!").is_err());
        assert!(Handle::parse("b o t").is_err());
        assert!(Handle::parse("bót").is_err());
        assert!(Handle::parse(&"a".repeat(255)).is_ok());
        assert!(Handle::parse(&format!("@{}", "a".repeat(255))).is_ok());
        assert!(Handle::parse(&"a".repeat(256)).is_err());
    }

    #[test]
    fn text_lengths_count_scalar_values() {
        assert!(DisplayName::parse("é".repeat(255)).is_ok());
        assert!(DisplayName::parse("é".repeat(256)).is_err());
        assert!(DisplayName::parse("").is_ok());
        assert!(Description::parse("x".repeat(4096)).is_ok());
        assert!(Description::parse("x".repeat(4097)).is_err());
        assert!(DeviceName::parse("").is_err());
        assert!(DeviceName::parse("Alice's Pixel").is_ok());
        assert!(DeviceName::parse("a\0b").is_err());
        assert!(DisplayName::parse("\0").is_err());
    }

    #[test]
    fn platforms_are_case_insensitive_without_trimming() {
        assert_eq!(Platform::parse("android"), Ok(Platform::Android));
        assert_eq!(Platform::parse("MacOS"), Ok(Platform::Macos));
        assert_eq!(Platform::parse("IOS").map(Platform::as_str), Ok("IOS"));
        assert!(Platform::parse(" android").is_err());
        assert!(Platform::parse("BLACKBERRY").is_err());
    }

    #[test]
    fn platform_names_are_the_wire_names_in_order() {
        assert_eq!(Platform::ALL.map(Platform::as_str), Platform::NAMES);
        assert_eq!(IdentityStatus::ALL.map(IdentityStatus::as_str), IdentityStatus::NAMES);
    }

    #[test]
    fn reasons_are_typed() {
        assert_eq!(Handle::parse(&"a".repeat(256)), Err(InvalidValue::TooLong { max: 255 }));
        assert_eq!(Handle::parse("-a"), Err(InvalidValue::BadFirstChar));
        assert_eq!(Handle::parse("a!"), Err(InvalidValue::BadChar));
        assert_eq!(DeviceName::parse(""), Err(InvalidValue::Empty));
        assert_eq!(
            Description::parse("x".repeat(4097)),
            Err(InvalidValue::TooLong { max: 4096 })
        );
        assert_eq!(DisplayName::parse("\0"), Err(InvalidValue::ContainsNul));
        assert_eq!(
            Platform::parse("x").map_err(|e| e.to_string()),
            Err("must be one of ANDROID, IOS, WEB, WINDOWS, MACOS, LINUX, OTHER".to_owned())
        );
    }

    #[test]
    fn identity_status_is_exact() {
        assert_eq!(IdentityStatus::parse("paused"), Ok(IdentityStatus::Paused));
        assert!(IdentityStatus::parse("PAUSED").is_err());
        assert!(IdentityStatus::parse("deleted").is_err());
    }

    #[test]
    fn patch_semantics() {
        assert_eq!(Patch::Keep.apply(Some(1)), Some(1));
        assert_eq!(Patch::<i32>::Clear.apply(Some(1)), None);
        assert_eq!(Patch::Set(2).apply(None), Some(2));
        assert_eq!(Patch::Keep.apply_or_default(1), 1);
        assert_eq!(Patch::<i32>::Clear.apply_or_default(1), 0);
        assert_eq!(Patch::Set(2).apply_or_default(1), 2);
    }

    fn entries(n: usize, key: impl Fn(usize) -> String, value: &str) -> Vec<(String, String)> {
        (0..n).map(|i| (key(i), value.to_owned())).collect()
    }

    fn bad_key(key: &str, reason: InvalidValue) -> Result<Metadata, InvalidMetadata> {
        Err(InvalidMetadata::Key {
            key: key.to_owned(),
            reason,
        })
    }

    fn bad_value(key: &str, reason: InvalidValue) -> Result<Metadata, InvalidMetadata> {
        Err(InvalidMetadata::Value {
            key: key.to_owned(),
            reason,
        })
    }

    #[test]
    fn metadata_limits_at_and_one_past() {
        let k = |i: usize| format!("k{i}");
        // keys: at most 50
        let at = Metadata::parse(entries(Metadata::MAX_KEYS, k, "v")).expect("50 keys");
        assert_eq!(at.len(), 50);
        assert_eq!(
            Metadata::parse(entries(Metadata::MAX_KEYS + 1, k, "v")),
            Err(InvalidMetadata::TooManyKeys)
        );
        // a key: 1 to 40 characters (scalar values)
        let long_key = "é".repeat(Metadata::MAX_KEY_CHARS);
        assert!(Metadata::parse([(long_key.clone(), "v".to_owned())]).is_ok());
        let too_long_key = "é".repeat(Metadata::MAX_KEY_CHARS + 1);
        assert_eq!(
            Metadata::parse([(too_long_key.clone(), "v".to_owned())]),
            bad_key(&too_long_key, InvalidValue::TooLong { max: 40 })
        );
        assert_eq!(
            Metadata::parse([(String::new(), "v".to_owned())]),
            bad_key("", InvalidValue::Empty)
        );
        // a value: 0 to 500 characters
        assert!(Metadata::parse([("k".to_owned(), "é".repeat(Metadata::MAX_VALUE_CHARS))]).is_ok());
        assert!(Metadata::parse([("k".to_owned(), String::new())]).is_ok());
        assert_eq!(
            Metadata::parse([("k".to_owned(), "é".repeat(Metadata::MAX_VALUE_CHARS + 1))]),
            bad_value("k", InvalidValue::TooLong { max: 500 })
        );
        // U+0000 in either
        assert_eq!(
            Metadata::parse([("a\0b".to_owned(), "v".to_owned())]),
            bad_key("a\0b", InvalidValue::ContainsNul)
        );
        assert_eq!(
            Metadata::parse([("k".to_owned(), "\0".to_owned())]),
            bad_value("k", InvalidValue::ContainsNul)
        );
        // 50 keys of 40 characters with values of 500: the largest metadata
        let max = entries(Metadata::MAX_KEYS, |i| format!("{i:0>40}"), &"x".repeat(500));
        assert_eq!(Metadata::parse(max).map(|m| m.len()), Ok(50));
    }

    #[test]
    fn metadata_is_ordered_by_key_and_debug_hides_values() {
        let m = Metadata::parse([
            ("plan".to_owned(), "pro".to_owned()),
            ("customer".to_owned(), "c_1".to_owned()),
            ("plan".to_owned(), "enterprise".to_owned()),
        ])
        .expect("valid");
        assert_eq!(
            m.iter().collect::<Vec<_>>(),
            [("customer", "c_1"), ("plan", "enterprise")],
            "sorted, the last of a repeated key wins"
        );
        assert_eq!(m.key_names(), ["customer", "plan"]);
        assert_eq!(m.get("plan"), Some("enterprise"));
        assert_eq!(format!("{m:?}"), r#"Metadata(["customer", "plan"])"#);
        assert!(Metadata::default().is_empty());
        let e = Metadata::parse([("k".to_owned(), "x".repeat(501))]).expect_err("too long");
        assert_eq!(e.to_string(), r#"metadata value of "k" must be at most 500 characters"#);
        assert_eq!(
            InvalidMetadata::TooManyKeys.to_string(),
            "metadata must have at most 50 keys"
        );
    }
    #[test]
    fn token_lifetime_parses_units_and_bounds() {
        assert_eq!(TokenLifetime::parse("30d").map(TokenLifetime::seconds), Ok(30 * 86_400));
        assert_eq!(TokenLifetime::parse("12h").map(TokenLifetime::seconds), Ok(12 * 3600));
        assert_eq!(TokenLifetime::parse("90m").map(TokenLifetime::seconds), Ok(90 * 60));
        assert_eq!(TokenLifetime::parse("3600s").map(TokenLifetime::seconds), Ok(3600));
        assert_eq!(TokenLifetime::parse("1m").map(TokenLifetime::seconds), Ok(60));
        assert_eq!(
            TokenLifetime::parse("3650d").map(TokenLifetime::seconds),
            Ok(3650 * 86_400)
        );
        assert_eq!(TokenLifetime::parse("59s"), Err(InvalidLifetime::TooShort));
        assert_eq!(TokenLifetime::parse("0d"), Err(InvalidLifetime::TooShort));
        assert_eq!(TokenLifetime::parse("3651d"), Err(InvalidLifetime::TooLong));
        assert_eq!(
            TokenLifetime::parse("99999999999999999999d"),
            Err(InvalidLifetime::TooLong)
        );
        for bad in ["", "d", "30", "30w", "-5d", "+5d", " 5d", "5 d", "1.5h", "5é"] {
            assert_eq!(TokenLifetime::parse(bad), Err(InvalidLifetime::Format), "{bad:?}");
        }
    }
}
