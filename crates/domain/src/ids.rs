//! Identifiers: UUID newtypes (one per entity, so they cannot be mixed up) and the tenant id.

use std::fmt;

use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps a UUID.
            #[must_use]
            pub const fn from_uuid(u: Uuid) -> Self {
                Self(u)
            }

            /// Parses any form the `uuid` crate accepts (hyphenated, simple, braced, urn, any
            /// case). Returns `None` for anything else.
            #[must_use]
            pub fn parse(s: &str) -> Option<Self> {
                Uuid::parse_str(s).ok().map(Self)
            }

            /// The wrapped UUID.
            #[must_use]
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            /// Lower-case hyphenated, the only form authd ever emits.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }
    };
}

uuid_id!(
    /// An identity (agent or person).
    IdentityId
);
uuid_id!(
    /// An authenticator app.
    AppId
);
uuid_id!(
    /// An OTP account inside an app.
    AccountId
);
uuid_id!(
    /// An app instance (one installation on a device).
    InstanceId
);
uuid_id!(
    /// The device an instance runs on (chosen by the client or generated).
    DeviceId
);
uuid_id!(
    /// A service token's public id (never the token itself).
    TokenId
);

/// The tenant: a plain string such as `org_acme`; 1-128 characters of `[A-Za-z0-9._:-]`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrgId(String);

/// Why an organization id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("organization id must be 1-128 characters of A-Z a-z 0-9 . _ : -")]
pub struct InvalidOrgId;

impl OrgId {
    /// Validates an organization id.
    ///
    /// # Errors
    /// [`InvalidOrgId`] when empty, longer than 128 characters, or containing other characters.
    pub fn new(s: impl Into<String>) -> Result<Self, InvalidOrgId> {
        let s = s.into();
        let ok = !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if ok { Ok(Self(s)) } else { Err(InvalidOrgId) }
    }

    /// The id as a string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrgId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_ids_accept_every_uuid_form_and_print_lower_hyphenated() {
        let forms = [
            "0190c0de-1234-7abc-8def-0123456789ab",
            "0190C0DE-1234-7ABC-8DEF-0123456789AB",
            "0190c0de12347abc8def0123456789ab",
            "{0190c0de-1234-7abc-8def-0123456789ab}",
            "urn:uuid:0190c0de-1234-7abc-8def-0123456789ab",
        ];
        for f in forms {
            let id = AppId::parse(f).expect(f);
            assert_eq!(id.to_string(), "0190c0de-1234-7abc-8def-0123456789ab");
        }
        assert!(AppId::parse("not-a-uuid").is_none());
        assert!(AppId::parse("").is_none());
        assert!(AppId::parse("../etc").is_none());
    }

    #[test]
    fn org_ids_are_validated() {
        assert!(OrgId::new("org_acme").is_ok());
        assert!(OrgId::new("acme").is_ok());
        assert!(OrgId::new("").is_err());
        assert!(OrgId::new("a b").is_err());
        assert!(OrgId::new("x".repeat(129)).is_err());
        assert!(OrgId::new("x".repeat(128)).is_ok());
    }
}
