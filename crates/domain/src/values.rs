//! Validated values: every constrained string or enum of the model, parsed once at the edge
//! ("parse, don't validate"). Lengths are counted in Unicode scalar values.

use std::fmt;

/// Why a value was refused. The message is client-facing (it never echoes the input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub &'static str);

fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// An identity's handle: 1-255 characters of `[A-Za-z0-9._-]`, the first alphanumeric. One
/// leading `@` is stripped (`@bot` and `bot` are the same handle).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Handle(String);

impl Handle {
    /// Parses a handle, stripping one leading `@`.
    ///
    /// # Errors
    /// [`InvalidValue`] when the rest is empty, longer than 255 characters, starts with a
    /// non-alphanumeric character or contains a character outside `[A-Za-z0-9._-]`.
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let s = input.strip_prefix('@').unwrap_or(input);
        let mut bytes = s.bytes();
        match bytes.next() {
            None => return Err(InvalidValue("agent_handle must not be empty")),
            Some(b) if !b.is_ascii_alphanumeric() => {
                return Err(InvalidValue("agent_handle must start with a letter or digit"));
            }
            Some(_) => {}
        }
        if s.len() > 255 {
            return Err(InvalidValue("agent_handle must be at most 255 characters"));
        }
        if !bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
            return Err(InvalidValue(
                "agent_handle may contain only letters, digits, '.', '_' and '-'",
            ));
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
    ($(#[$doc:meta])* $name:ident, $non_empty:literal, $max:expr, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, Debug)]
        pub struct $name(String);

        impl $name {
            /// Validates the length (in Unicode scalar values) and refuses U+0000.
            ///
            /// # Errors
            /// [`InvalidValue`] when too short, too long, or containing U+0000.
            pub fn parse(s: impl Into<String>) -> Result<Self, InvalidValue> {
                let s = s.into();
                if s.contains('\0') {
                    return Err(InvalidValue(concat!($field, " must not contain U+0000")));
                }
                let n = char_len(&s);
                if $non_empty && n == 0 {
                    return Err(InvalidValue(concat!($field, " must not be empty")));
                }
                if n > $max {
                    return Err(InvalidValue(concat!(
                        $field,
                        " must be at most ",
                        stringify!($max),
                        " characters"
                    )));
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
    DisplayName, false, 255, "display_name"
);
bounded_text!(
    /// An account's description: at most 4096 characters.
    Description, false, 4096, "description"
);
bounded_text!(
    /// An instance's device name: 1-255 characters.
    DeviceName, true, 255, "device_name"
);
bounded_text!(
    /// A service token's optional name (CLI): 1-255 characters.
    TokenName, true, 255, "name"
);

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

    /// Parses a platform name, case-insensitively, with no trimming.
    ///
    /// # Errors
    /// [`InvalidValue`] for anything but the seven names.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or(InvalidValue(
                "platform must be one of ANDROID, IOS, WEB, WINDOWS, MACOS, LINUX, OTHER",
            ))
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
    /// Parses `active` or `paused` (exactly, lower-case).
    ///
    /// # Errors
    /// [`InvalidValue`] for anything else.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        match s {
            "active" => Ok(Self::Active),
            "paused" => Ok(Self::Paused),
            _ => Err(InvalidValue("status must be 'active' or 'paused'")),
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
    }
}
