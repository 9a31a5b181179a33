//! The one error type of every use case, typed: each variant says *what* went wrong in the
//! domain's words (which resource was not found, which rule a change ran into, which
//! credential was refused). How that reads on the wire (statuses, messages, the two error
//! envelopes) is the HTTP adapter's business alone (`http-actix/src/error.rs`); the `Display`
//! texts here are for logs and the CLI.

use std::fmt;

use crate::access::{Scope, TooBroad};
use crate::otp::UriError;
use crate::values::{Handle, TokenLifetime};

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

/// Why a valid service token may not do what it asked (`403`). Records outside a token's
/// restriction are never this: they answer [`Error::NotFound`], like missing ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Forbidden {
    /// The route needs a scope the token lacks.
    MissingScope(Scope),
    /// A new identity (or a renamed one) would be outside the token's identity patterns.
    IdentityOutside(Handle),
    /// A confined token may only create apps linked to one of its identities.
    AppOutside,
    /// A token may not mint a token broader than itself.
    TooBroad(TooBroad),
    /// The asked lifetime is over the organization's maximum token lifetime.
    LifetimeOverMax(TokenLifetime),
}

impl fmt::Display for Forbidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingScope(s) => write!(f, "this token lacks the scope {s}"),
            Self::IdentityOutside(h) => write!(f, "the handle {h} is outside this token's identities"),
            Self::AppOutside => f.write_str("this token may only create apps linked to one of its identities"),
            Self::TooBroad(what) => write!(
                f,
                "a token cannot mint a token broader than itself: {what} is too broad"
            ),
            Self::LifetimeOverMax(max) => write!(f, "the organization's tokens live at most {} seconds", max.seconds()),
        }
    }
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
    /// A valid token that may not do this (see [`Forbidden`]).
    #[error("forbidden: {0}")]
    Forbidden(Forbidden),
    /// The record does not exist, is deleted, belongs to another organization, or is outside
    /// the caller's restriction.
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
