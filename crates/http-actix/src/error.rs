//! The two error families of the wire contract, typed, and their mapping from
//! [`domain::Error`].
//!
//! - [`ApiError`]: the Inkbox paths, the authd extensions (instances, device API) and the
//!   operational paths: `{"detail": "<message>"}`, or for `422` the FastAPI-style
//!   `{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`.
//! - [`OneWelcomeError`]: the OneWelcome end-user API: `{"error": "<message>"}`, always with
//!   `Content-Type: application/json;charset=UTF-8`, `Cache-Control: no-store` and
//!   `Pragma: no-cache`.
//!
//! This module is the only place that knows statuses, error messages and the two envelopes: the
//! domain's errors say what went wrong in its own terms ([`domain::error`]), the handlers
//! return them unchanged, and [`status_of`] / [`detail`] give each its status and wording.
//!
//! A `500` never carries its cause: the cause is logged (tracing, level `error`) where the
//! domain error is converted, and the client sees exactly `Internal server error`.

use std::borrow::Cow;
use std::fmt;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};
use domain::error::{ConflictKind, Realm, Resource};
use domain::otp::{Base32ErrorKind, MAX_COUNTER, Period, UriError, UriParameter, UriShape};
use domain::values::InvalidValue;
use serde::Serialize;

use crate::respond::{self, Disp};

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

    /// A domain value refused at `loc` (last element: the field's wire name), with the
    /// reason's wire wording and the given pydantic type (`value_error`, `enum`).
    #[must_use]
    pub fn value(loc: &[&str], reason: InvalidValue, kind: &'static str) -> Self {
        let field = loc.last().copied().unwrap_or("value");
        Self::new(loc, value_message(field, reason), kind)
    }
}

/// The wire wording of a refused value of the field `field`.
fn value_message(field: &str, reason: InvalidValue) -> String {
    match reason {
        InvalidValue::Empty => format!("{field} must not be empty"),
        InvalidValue::TooLong { max } => format!("{field} must be at most {max} characters"),
        InvalidValue::ContainsNul => format!("{field} must not contain U+0000"),
        InvalidValue::BadFirstChar => format!("{field} must start with a letter or digit"),
        InvalidValue::BadChar => format!("{field} may contain only letters, digits, '.', '_' and '-'"),
        InvalidValue::NotOneOf { allowed } => format!("{field} must be one of {}", allowed.join(", ")),
    }
}

/// An error of the Inkbox family (and of the authd extensions and operational paths): a use
/// case's [`domain::Error`], or a failure of the request itself that no use case saw.
///
/// Each is one status; `Display` is the client-facing message (never a cause, never a secret).
/// Infrastructure failures have been logged (with their cause) when they became an `ApiError`
/// and carry nothing.
#[derive(Debug)]
pub enum ApiError {
    /// A use case's answer: `401`, `403`, `404`, `409`, `400` or `429`.
    Domain(domain::Error),
    /// `422`: the request's shape (path ids, body, query) is wrong.
    Invalid(Vec<FieldError>),
    /// `404 Not Found`: no route has this path.
    RouteNotFound,
    /// `405`, with the methods the path has (sent as `Allow`).
    MethodNotAllowed(&'static str),
    /// `413`: the body is larger than 65,536 bytes.
    PayloadTooLarge,
    /// `400`: the body could not be read (a broken chunked encoding, say).
    BodyUnreadable,
    /// `503`: the database cannot be reached (the cause has been logged).
    Unavailable,
    /// `500` (the cause has been logged).
    Internal,
}

impl ApiError {
    /// `401` of the realm (no credential, or one of the wrong form).
    pub(crate) const fn unauthorized(realm: Realm) -> Self {
        Self::Domain(domain::Error::Unauthorized(realm))
    }
}

impl std::error::Error for ApiError {}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&detail(self))
    }
}

impl From<domain::Error> for ApiError {
    /// Keeps the domain's answer; infrastructure causes are logged here, at the one place where
    /// they are dropped. A refused URI shape is a `422` on `otpauth_uri`.
    fn from(e: domain::Error) -> Self {
        match e {
            domain::Error::Uri(e @ UriError::Shape(_)) => Self::Invalid(vec![FieldError::new(
                &["body", "otpauth_uri"],
                uri_message(e),
                "value_error",
            )]),
            domain::Error::SecretUnreadable => {
                tracing::error!("stored OTP secret cannot be decrypted (wrong master key or moved ciphertext)");
                Self::Internal
            }
            domain::Error::Unavailable(cause) => {
                tracing::error!(error = %cause, "storage unavailable");
                Self::Unavailable
            }
            domain::Error::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                Self::Internal
            }
            other => Self::Domain(other),
        }
    }
}

impl From<Vec<FieldError>> for ApiError {
    fn from(errors: Vec<FieldError>) -> Self {
        Self::Invalid(errors)
    }
}

impl From<FieldError> for ApiError {
    fn from(error: FieldError) -> Self {
        Self::Invalid(vec![error])
    }
}

/// The status of each error: the whole table of the wire contract's error statuses.
fn status_of(e: &ApiError) -> StatusCode {
    use domain::Error as D;
    match e {
        ApiError::Domain(d) => match d {
            D::Unauthorized(_) | D::TokenExpired => StatusCode::UNAUTHORIZED,
            D::NotFound(_) => StatusCode::NOT_FOUND,
            D::Paused | D::Forbidden(_) => StatusCode::FORBIDDEN,
            D::Conflict(_) => StatusCode::CONFLICT,
            D::Uri(UriError::Shape(_)) => StatusCode::UNPROCESSABLE_ENTITY,
            D::Uri(UriError::Parameter(_)) | D::UnknownStatus => StatusCode::BAD_REQUEST,
            D::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            D::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            D::SecretUnreadable | D::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        },
        ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ApiError::RouteNotFound => StatusCode::NOT_FOUND,
        ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
        ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ApiError::BodyUnreadable => StatusCode::BAD_REQUEST,
        ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

const fn not_found_message(r: Resource) -> &'static str {
    match r {
        Resource::App => "Authenticator app not found",
        Resource::Account => "Authenticator account not found",
        Resource::Identity => "Identity not found",
        Resource::Instance => "App instance not found",
        Resource::ServiceToken => "Service token not found",
        Resource::UserAuthenticationApps => "No authentication apps found",
        Resource::UserAuthenticationApp => "Authentication app not found",
    }
}

const fn conflict_message(k: ConflictKind) -> &'static str {
    match k {
        ConflictKind::HandleTaken => "Agent handle already taken",
        ConflictKind::IdentityHasApp => "Identity already has an authenticator app",
        ConflictKind::AppLinkedElsewhere => "Authenticator app is linked to another identity",
        ConflictKind::Unique => "Conflict",
        ConflictKind::AppNotLinked => "Authenticator app is not linked to an identity",
        ConflictKind::HotpCounterExhausted => "HOTP counter is at its maximum",
    }
}

/// Why an `otpauth_uri` was refused, in the contract's words (never any part of the URI).
fn uri_message(e: UriError) -> String {
    let why: Cow<'static, str> = match e {
        UriError::Shape(s) => match s {
            UriShape::TooLong { max } => format!("must be at most {max} characters").into(),
            UriShape::ContainsNul => "must not contain U+0000".into(),
            UriShape::NotOtpauth => "must start with otpauth://totp/ or otpauth://hotp/".into(),
            UriShape::UnknownType => "type must be totp or hotp".into(),
            UriShape::NoLabel => "missing '/' and label after the type".into(),
            UriShape::LabelNotUtf8 => "label is not valid percent-encoded UTF-8".into(),
            UriShape::LabelContainsNul => "label must not contain U+0000".into(),
        },
        UriError::Parameter(p) => match p {
            UriParameter::Repeated(name) => format!("parameter '{name}' is given more than once").into(),
            UriParameter::Empty(name) => format!("parameter '{name}' is empty").into(),
            UriParameter::NotUtf8(name) => format!("parameter '{name}' is not valid percent-encoded UTF-8").into(),
            UriParameter::SecretMissing => "secret is missing".into(),
            UriParameter::SecretNotPercentEncoded => "secret is not valid percent-encoding".into(),
            UriParameter::Secret(kind) => match kind {
                Base32ErrorKind::InvalidCharacter => "secret is not valid base32: invalid character",
                Base32ErrorKind::MisplacedPadding => "secret is not valid base32: characters after '=' padding",
                Base32ErrorKind::InvalidLength => "secret is not valid base32: impossible length",
                Base32ErrorKind::Empty => "secret is empty",
            }
            .into(),
            UriParameter::Algorithm => "algorithm must be sha1, sha256 or sha512".into(),
            UriParameter::Digits => "digits must be 6 or 8".into(),
            UriParameter::Period => format!("period must be an integer in {}..={}", Period::MIN, Period::MAX).into(),
            UriParameter::Counter => format!("counter must be an integer in 0..={MAX_COUNTER}").into(),
            UriParameter::IssuerContainsNul => "issuer must not contain U+0000".into(),
        },
    };
    format!("otpauth_uri: {why}")
}

/// The `detail` of the Inkbox envelope: every error message of the wire contract.
fn detail(e: &ApiError) -> Cow<'_, str> {
    use domain::Error as D;
    Cow::Borrowed(match e {
        ApiError::Domain(d) => match d {
            D::Unauthorized(Realm::Service) => "Invalid service token",
            D::Unauthorized(Realm::Device) => "Invalid device token",
            D::TokenExpired => "token expired",
            D::NotFound(r) => not_found_message(*r),
            D::Paused => "Identity is paused",
            D::Forbidden(f) => return Cow::Owned(f.to_string()),
            D::Conflict(k) => conflict_message(*k),
            D::Uri(u) => return Cow::Owned(uri_message(*u)),
            D::UnknownStatus => "status must be 'active' or 'paused'",
            D::TooManyAttempts { .. } => "Too many failed attempts",
            D::Unavailable(_) => "Database unavailable",
            D::SecretUnreadable | D::Internal(_) => "Internal server error",
        },
        ApiError::Invalid(_) => "Unprocessable Entity",
        ApiError::RouteNotFound => "Not Found",
        ApiError::MethodNotAllowed(_) => "Method Not Allowed",
        ApiError::PayloadTooLarge => "Request body too large",
        ApiError::BodyUnreadable => "Request body could not be read",
        ApiError::Unavailable => "Database unavailable",
        ApiError::Internal => "Internal server error",
    })
}

/// One item of a `422` list.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ValidationErrorItem)]
pub(crate) struct FieldErrorDto<'a> {
    /// Where: `["body"]`, `["body", "<field>"]` or `["path", "<name>"]`.
    #[schema(value_type = Vec<String>)]
    loc: &'a [String],
    msg: &'a str,
    /// Pydantic-style error type, e.g. `missing`, `string_type`, `uuid_parsing`, `json_invalid`.
    #[serde(rename = "type")]
    kind: &'static str,
}

/// `422`: the FastAPI-style list of what is wrong with the request's shape.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ValidationError)]
pub(crate) struct ValidationBody<'a> {
    detail: Vec<FieldErrorDto<'a>>,
}

/// `{"detail": "<message>"}`: every other error of the Inkbox family and the extensions.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = DetailError)]
pub(crate) struct DetailBody<'a> {
    #[schema(value_type = String)]
    detail: Disp<&'a ApiError>,
}

/// `429 {"detail": "Too many failed attempts", "retry_after_seconds": N}` (sent with
/// `Retry-After: N`).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = TooManyAttempts)]
pub(crate) struct TooManyAttemptsBody<'a> {
    #[schema(value_type = String, examples("Too many failed attempts"))]
    detail: Disp<&'a ApiError>,
    /// Whole seconds until the lock ends (rounded up, at least 1): the `Retry-After` value.
    #[schema(minimum = 1)]
    retry_after_seconds: u64,
}

/// `{"error": "<message>"}`: every error of the OneWelcome end-user API.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = OneWelcomeError)]
pub(crate) struct ErrorBody<'a> {
    error: &'a str,
}

/// The `Retry-After` of every `503`: long enough for a planned failover (about 1.5 s measured
/// from the old primary's demotion to both replicas writing again, see docs/OPERATIONS.md),
/// short enough that a client retrying as told keeps within a crashed primary's outage.
pub const RETRY_AFTER_UNAVAILABLE_SECONDS: u64 = 2;

fn builder(e: &ApiError) -> HttpResponseBuilder {
    let mut b = HttpResponse::build(status_of(e));
    match e {
        ApiError::MethodNotAllowed(allow) => {
            b.insert_header((header::ALLOW, *allow));
        }
        ApiError::Domain(domain::Error::TooManyAttempts { retry_after_seconds }) => {
            b.insert_header((header::RETRY_AFTER, retry_after_seconds.to_string()));
        }
        ApiError::Unavailable | ApiError::Domain(domain::Error::Unavailable(_)) => {
            b.insert_header((header::RETRY_AFTER, RETRY_AFTER_UNAVAILABLE_SECONDS.to_string()));
        }
        _ => {}
    }
    b
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        status_of(self)
    }

    fn error_response(&self) -> HttpResponse {
        let b = builder(self);
        match self {
            Self::Invalid(errors) => respond::json_with(
                b,
                &ValidationBody {
                    detail: errors
                        .iter()
                        .map(|e| FieldErrorDto {
                            loc: &e.loc,
                            msg: &e.msg,
                            kind: e.kind,
                        })
                        .collect(),
                },
            ),
            Self::Domain(domain::Error::TooManyAttempts { retry_after_seconds }) => respond::json_with(
                b,
                &TooManyAttemptsBody {
                    detail: Disp(self),
                    retry_after_seconds: *retry_after_seconds,
                },
            ),
            other => respond::json_with(b, &DetailBody { detail: Disp(other) }),
        }
    }
}

/// An error of the OneWelcome end-user API: `{"error": "<message>"}` with the OneWelcome
/// headers. It wraps the [`ApiError`] that gives its status; the message is the OneWelcome one
/// (`Unauthorized` for a `401`).
#[derive(Debug, thiserror::Error)]
#[error("{}", one_welcome_message(.0))]
pub struct OneWelcomeError(#[from] pub ApiError);

fn one_welcome_message(e: &ApiError) -> Cow<'_, str> {
    match e {
        ApiError::Domain(domain::Error::Unauthorized(_) | domain::Error::TokenExpired) => Cow::Borrowed("Unauthorized"),
        other => detail(other),
    }
}

impl From<domain::Error> for OneWelcomeError {
    fn from(e: domain::Error) -> Self {
        Self(ApiError::from(e))
    }
}

impl ResponseError for OneWelcomeError {
    fn status_code(&self) -> StatusCode {
        status_of(&self.0)
    }

    fn error_response(&self) -> HttpResponse {
        respond::one_welcome_json(
            builder(&self.0),
            &ErrorBody {
                error: &one_welcome_message(&self.0),
            },
        )
    }
}

/// Whether `path` is of the OneWelcome family (`/oauth/...`), whose errors are
/// [`OneWelcomeError`]s; every other path answers [`ApiError`]s.
pub(crate) fn is_one_welcome(path: &str) -> bool {
    path.starts_with("/oauth/")
}

/// `e` in the envelope of `path`'s family (for the answers given before or without a route: the
/// `413` of `BodyLimit`, the `404` of `not_found`).
pub(crate) fn response_for_path(path: &str, e: ApiError) -> HttpResponse {
    if is_one_welcome(path) {
        OneWelcomeError(e).error_response()
    } else {
        e.error_response()
    }
}

#[cfg(test)]
mod tests {
    use domain::otp::OtpAuthUri;

    use super::*;

    /// The wording of every URI refusal the contract shows, from the parser's typed reason.
    #[test]
    fn uri_messages_are_the_contracts() {
        let msg = |uri: &str| match OtpAuthUri::parse(uri) {
            Err(e) => uri_message(e),
            Ok(_) => panic!("{uri} parsed"),
        };
        for (uri, want) in [
            (
                "otpauth://totp/x?secret=JBSWY3DP&digits=7",
                "otpauth_uri: digits must be 6 or 8",
            ),
            ("otpauth://totp/x", "otpauth_uri: secret is missing"),
            (
                "otpauth://totp/x?secret=JBSWY3DP&Secret=A",
                "otpauth_uri: parameter 'secret' is given more than once",
            ),
            (
                "otpauth://totp/x?secret=JBSWY3DP&PERIOD=",
                "otpauth_uri: parameter 'period' is empty",
            ),
            (
                "otpauth://hotp/x?secret=JBSWY3DP&counter=9223372036854775808",
                "otpauth_uri: counter must be an integer in 0..=9223372036854775807",
            ),
            (
                "otpauth://totp/x?secret=JBSWY3DP&period=0",
                "otpauth_uri: period must be an integer in 1..=86400",
            ),
            (
                "otpauth://totp/x?secret=JBSWY3DP&algorithm=md5",
                "otpauth_uri: algorithm must be sha1, sha256 or sha512",
            ),
            (
                "otpauth://totp/x?secret=JBSWY3",
                "otpauth_uri: secret is not valid base32: impossible length",
            ),
            ("otpauth://totp/x?secret=%3D", "otpauth_uri: secret is empty"),
            (
                "otpauth://totp?secret=JBSWY3DP",
                "otpauth_uri: missing '/' and label after the type",
            ),
            (
                "http://example.com",
                "otpauth_uri: must start with otpauth://totp/ or otpauth://hotp/",
            ),
        ] {
            assert_eq!(msg(uri), want, "{uri}");
        }
        let long = format!("otpauth://totp/x?secret=A&i={}", "a".repeat(2048));
        assert_eq!(msg(&long), "otpauth_uri: must be at most 2048 characters");
    }

    /// Every domain error has its status and message (a new variant fails to compile here
    /// before it can reach a client unmapped).
    #[test]
    fn domain_errors_have_their_status_and_wording() {
        use domain::Error as D;
        let cases: [(D, u16, &str); 9] = [
            (D::Unauthorized(Realm::Service), 401, "Invalid service token"),
            (D::TokenExpired, 401, "token expired"),
            (D::Unauthorized(Realm::Device), 401, "Invalid device token"),
            (D::NotFound(Resource::Account), 404, "Authenticator account not found"),
            (D::Paused, 403, "Identity is paused"),
            (
                D::Conflict(ConflictKind::HandleTaken),
                409,
                "Agent handle already taken",
            ),
            (D::UnknownStatus, 400, "status must be 'active' or 'paused'"),
            (
                D::Uri(UriError::Parameter(UriParameter::Digits)),
                400,
                "otpauth_uri: digits must be 6 or 8",
            ),
            (
                D::TooManyAttempts { retry_after_seconds: 3 },
                429,
                "Too many failed attempts",
            ),
        ];
        for (e, status, message) in cases {
            let e = ApiError::from(e);
            assert_eq!(status_of(&e).as_u16(), status, "{e:?}");
            assert_eq!(e.to_string(), message, "{e:?}");
        }
        let shape = ApiError::from(D::Uri(UriError::Shape(UriShape::NoLabel)));
        assert_eq!(status_of(&shape).as_u16(), 422);
        assert!(matches!(shape, ApiError::Invalid(ref f) if f[0].loc == ["body", "otpauth_uri"]));
    }
}
