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
//! A `500` never carries its cause: the cause is logged (tracing, level `error`) where the
//! domain error is converted, and the client sees exactly `Internal server error`.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};
use domain::FieldError;
use serde::Serialize;
use std::borrow::Cow;

use crate::respond::{self, Disp};

/// An error of the Inkbox family (and of the authd extensions and operational paths).
///
/// Each variant is one status; `Display` is the client-facing message (never a cause, never a
/// secret).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// `401`: missing, unknown or revoked service token (or a device token on a service path).
    #[error("Invalid service token")]
    InvalidServiceToken,
    /// `401`: missing, unknown or revoked device token on the device API.
    #[error("Invalid device token")]
    InvalidDeviceToken,
    /// `422`: the request's shape (path ids, body) is wrong.
    #[error("Unprocessable Entity")]
    Invalid(Vec<FieldError>),
    /// `404`, with its message (e.g. `Authenticator app not found`, or `Not Found` for a route).
    #[error("{0}")]
    NotFound(Cow<'static, str>),
    /// `403`: the identity is paused.
    #[error("Identity is paused")]
    Paused,
    /// `409`, with its message.
    #[error("{0}")]
    Conflict(String),
    /// `400`, with its message.
    #[error("{0}")]
    BadRequest(Cow<'static, str>),
    /// `429`: verification is locked after failed attempts; `Retry-After` and
    /// `retry_after_seconds` say when to try again (whole seconds, at least 1).
    #[error("Too many failed attempts")]
    TooManyAttempts(u64),
    /// `405`, with the methods the path has (sent as `Allow`).
    #[error("Method Not Allowed")]
    MethodNotAllowed(&'static str),
    /// `413`: the body is larger than 65,536 bytes.
    #[error("Request body too large")]
    PayloadTooLarge,
    /// `503`: the database cannot be reached (the cause has been logged).
    #[error("Service unavailable")]
    Unavailable,
    /// `500` (the cause has been logged).
    #[error("Internal server error")]
    Internal,
}

impl ApiError {
    /// `404 {"detail": "Not Found"}`, the answer for an unknown path.
    pub(crate) const fn route_not_found() -> Self {
        Self::NotFound(Cow::Borrowed("Not Found"))
    }
}

impl From<domain::Error> for ApiError {
    /// Maps each domain variant onto its status. Infrastructure causes are logged here, at the
    /// one place where they are dropped.
    fn from(e: domain::Error) -> Self {
        match e {
            domain::Error::Unauthorized => Self::InvalidServiceToken,
            domain::Error::Invalid(errors) => Self::Invalid(errors),
            domain::Error::NotFound(m) => Self::NotFound(Cow::Borrowed(m)),
            domain::Error::Paused => Self::Paused,
            domain::Error::Conflict(m) => Self::Conflict(m),
            domain::Error::BadRequest(m) => Self::BadRequest(Cow::Owned(m)),
            domain::Error::TooManyAttempts { retry_after_seconds } => Self::TooManyAttempts(retry_after_seconds),
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

fn status_of(e: &ApiError) -> StatusCode {
    match e {
        ApiError::InvalidServiceToken | ApiError::InvalidDeviceToken => StatusCode::UNAUTHORIZED,
        ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ApiError::NotFound(_) => StatusCode::NOT_FOUND,
        ApiError::Paused => StatusCode::FORBIDDEN,
        ApiError::Conflict(_) => StatusCode::CONFLICT,
        ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
        ApiError::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
        ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
        ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn builder(e: &ApiError) -> HttpResponseBuilder {
    let mut b = HttpResponse::build(status_of(e));
    match e {
        ApiError::MethodNotAllowed(allow) => {
            b.insert_header((header::ALLOW, *allow));
        }
        ApiError::TooManyAttempts(secs) => {
            b.insert_header((header::RETRY_AFTER, secs.to_string()));
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
            Self::TooManyAttempts(secs) => respond::json_with(
                b,
                &TooManyAttemptsBody {
                    detail: Disp(self),
                    retry_after_seconds: *secs,
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
        ApiError::InvalidServiceToken | ApiError::InvalidDeviceToken => Cow::Borrowed("Unauthorized"),
        ApiError::NotFound(m) => Cow::Borrowed(m),
        ApiError::Conflict(m) => Cow::Borrowed(m),
        ApiError::BadRequest(m) => Cow::Borrowed(m),
        other => Cow::Owned(other.to_string()),
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
