//! The one error type of every use case. Each variant maps onto exactly one HTTP status of the
//! wire contract; the HTTP adapter does that mapping and nothing else.

use std::fmt;

/// One field-level validation failure, in the FastAPI style the Inkbox clients expect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Where: e.g. `["body", "otpauth_uri"]` or `["path", "app_id"]`.
    pub loc: Vec<String>,
    /// A human message; never echoes a secret.
    pub msg: String,
    /// A machine-readable kind, e.g. `value_error`, `missing`, `string_type`.
    pub kind: &'static str,
}

impl FieldError {
    /// A failure located at `loc`.
    #[must_use]
    pub fn new(loc: &[&str], msg: impl Into<String>, kind: &'static str) -> Self {
        Self {
            loc: loc.iter().map(|s| (*s).to_owned()).collect(),
            msg: msg.into(),
            kind,
        }
    }
}

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

/// Everything a use case can answer besides success.
///
/// | variant | HTTP |
/// |---|---|
/// | `Unauthorized` | 401 |
/// | `Invalid` | 422 |
/// | `NotFound` | 404 |
/// | `Paused` | 403 |
/// | `Conflict` | 409 |
/// | `BadRequest` | 400 |
/// | `TooManyAttempts` | 429 (with `Retry-After`) |
/// | `SecretUnreadable`, `Internal` | 500 (no detail) |
/// | `Unavailable` | 503 |
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Missing, unknown or revoked credential.
    #[error("unauthorized")]
    Unauthorized,
    /// The request's shape is wrong (types, lengths, path ids, URI shape).
    #[error("invalid request: {0:?}")]
    Invalid(Vec<FieldError>),
    /// The record does not exist, is deleted, or belongs to another organization.
    #[error("{0}")]
    NotFound(&'static str),
    /// The identity the app is linked to is paused.
    #[error("Identity is paused")]
    Paused,
    /// A uniqueness or state rule forbids the change.
    #[error("{0}")]
    Conflict(String),
    /// A semantic failure (OTP parameters, an unknown status).
    #[error("{0}")]
    BadRequest(String),
    /// Verification is locked after failed attempts (see [`crate::throttle`]); the caller may
    /// try again in this many whole seconds (at least 1).
    #[error("Too many failed attempts")]
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

impl Error {
    /// A single-field 422.
    #[must_use]
    pub fn invalid(loc: &[&str], msg: impl Into<String>, kind: &'static str) -> Self {
        Self::Invalid(vec![FieldError::new(loc, msg, kind)])
    }
}

/// Not-found messages, shared so the HTTP layer and tests agree.
pub mod not_found {
    /// App.
    pub const APP: &str = "Authenticator app not found";
    /// Account.
    pub const ACCOUNT: &str = "Authenticator account not found";
    /// Identity.
    pub const IDENTITY: &str = "Identity not found";
    /// Instance.
    pub const INSTANCE: &str = "App instance not found";
    /// OneWelcome list.
    pub const USER_APPS: &str = "No authentication apps found";
    /// OneWelcome delete.
    pub const USER_APP: &str = "Authentication app not found";
    /// Service token (CLI).
    pub const TOKEN: &str = "Service token not found";
}
