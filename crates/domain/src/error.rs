//! The one error type of every use case, typed: each variant says *what* went wrong in the
//! domain's words (which resource was not found, which rule a change ran into, which
//! credential was refused). How that reads on the wire (statuses, messages, the two error
//! envelopes) is the HTTP adapter's business alone (`http-actix/src/error.rs`); the `Display`
//! texts here are for logs and the CLI.

use std::fmt;

use crate::otp::UriError;

/// An opaque infrastructure failure: its text goes to the log, never to a client.
pub struct Opaque(Box<dyn std::error::Error + Send + Sync>);

impl Opaque {
    /// Wraps any error.
    pub fn new(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(e.into())
    }
}

impl fmt::Debug for Opaque {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Display for Opaque {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// What a use case looked for and did not find (absent, deleted, or in another organization:
/// the three are never told apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    /// An authenticator app.
    App,
    /// An OTP account of an app.
    Account,
    /// An identity (by handle).
    Identity,
    /// An app instance of an app.
    Instance,
    /// A service token (CLI).
    ServiceToken,
    /// OneWelcome: the user (identity) has no live authentication app (instance), or does not
    /// exist.
    UserAuthenticationApps,
    /// OneWelcome: no such authentication app (instance) was ever enrolled for the user.
    UserAuthenticationApp,
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::App => "authenticator app",
            Self::Account => "account",
            Self::Identity => "identity",
            Self::Instance => "app instance",
            Self::ServiceToken => "service token",
            Self::UserAuthenticationApps => "user's authentication apps",
            Self::UserAuthenticationApp => "user's authentication app",
        })
    }
}

/// Which rule forbids a change. The storage port reports the uniqueness rules it enforces
/// ([`ConflictKind::HandleTaken`], [`ConflictKind::IdentityHasApp`], [`ConflictKind::Unique`]);
/// the use cases add the state rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConflictKind {
    /// Another live identity of the org has this handle.
    HandleTaken,
    /// The identity already has a live app.
    IdentityHasApp,
    /// The app is linked to another identity.
    AppLinkedElsewhere,
    /// Any other unique key (e.g. a duplicate id).
    Unique,
    /// Enrolling an instance needs the app to be linked to an identity.
    AppNotLinked,
    /// The HOTP counter is at its maximum: no further code can be generated.
    HotpCounterExhausted,
}

/// Which kind of credential was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Realm {
    /// A service token (every path but the device API).
    Service,
    /// A device token (the device API).
    Device,
}

/// Everything a use case can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Missing, unknown or revoked credential of that realm.
    #[error("unauthorized ({0:?} credential)")]
    Unauthorized(Realm),
    /// A service token that exists and is not revoked, but is at or past its `expires_at`.
    #[error("service token expired")]
    TokenExpired,
    /// The record does not exist, is deleted, or belongs to another organization.
    #[error("{0} not found")]
    NotFound(Resource),
    /// The identity the app is linked to is paused.
    #[error("identity is paused")]
    Paused,
    /// A uniqueness or state rule forbids the change.
    #[error("conflict: {0:?}")]
    Conflict(ConflictKind),
    /// The `otpauth://` URI is refused: its overall shape, or one of its OTP parameters.
    #[error("{0}")]
    Uri(UriError),
    /// An identity status other than `active` or `paused`.
    #[error("unknown identity status")]
    UnknownStatus,
    /// Verification is locked after failed attempts (see [`crate::throttle`]); the caller may
    /// try again in this many whole seconds (at least 1).
    #[error("too many failed attempts")]
    TooManyAttempts {
        /// Seconds until the lock ends, rounded up.
        retry_after_seconds: u64,
    },
    /// A stored secret could not be decrypted (wrong master key, moved ciphertext).
    #[error("stored secret cannot be decrypted")]
    SecretUnreadable,
    /// The database cannot be reached or the pool is exhausted.
    #[error("storage unavailable: {0}")]
    Unavailable(Opaque),
    /// Any other infrastructure failure.
    #[error("internal error: {0}")]
    Internal(Opaque),
}
