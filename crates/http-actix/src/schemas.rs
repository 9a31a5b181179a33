//! The component types the handlers' `#[utoipa::path]` annotations name: the shared responses
//! (`401`, `413`, `422`, `429`, `500`), names for the DTOs and error bodies that produce the
//! bodies (`respond.rs`, `error.rs`), the request bodies (declared with their parsers in
//! `request.rs`) and the documentation-only path parameters.
//!
//! It imports the DTOs, never the handlers (see the layering in the crate's docs).

use serde_json::json;
use utoipa::ToResponse;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};

pub(crate) use types::*;

// ------------------------------------------------------------------------- shared responses

/// Every response on the OneWelcome paths, errors included, carries `Cache-Control: no-store`
/// and `Pragma: no-cache`: adds them to `response`.
pub(crate) fn one_welcome_headers(response: &mut Response) {
    for (name, value) in [("Cache-Control", "no-store"), ("Pragma", "no-cache")] {
        response.headers.insert(
            name.to_owned(),
            HeaderBuilder::new()
                .schema(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some([value])),
                )
                .description(Some(format!("Always `{value}`.")))
                .build(),
        );
    }
}

fn json_response(description: &str, schema: &str, example: serde_json::Value) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .example(Some(example))
                .build(),
        )
        .build()
}

/// `401` on a service-token path.
pub(crate) struct ServiceUnauthorized;

impl<'r> ToResponse<'r> for ServiceUnauthorized {
    fn response() -> (&'r str, RefOr<Response>) {
        let response = json_response(
            "Missing, unknown or revoked service token; `{\"detail\": \"token expired\"}` for one past its `expires_at`",
            "DetailError",
            json!({"detail": "Invalid service token"}),
        );
        ("ServiceUnauthorized", RefOr::T(response))
    }
}

/// `401` on the device API.
pub(crate) struct DeviceUnauthorized;

impl<'r> ToResponse<'r> for DeviceUnauthorized {
    fn response() -> (&'r str, RefOr<Response>) {
        let response = json_response(
            "Missing, unknown or revoked device token (a service token is refused here)",
            "DetailError",
            json!({"detail": "Invalid device token"}),
        );
        ("DeviceUnauthorized", RefOr::T(response))
    }
}

/// `401` on a OneWelcome path (with the OneWelcome headers).
pub(crate) struct OneWelcomeUnauthorized;

impl<'r> ToResponse<'r> for OneWelcomeUnauthorized {
    fn response() -> (&'r str, RefOr<Response>) {
        let mut response = json_response(
            "Missing, unknown or revoked service token",
            "OneWelcomeError",
            json!({"error": "Unauthorized"}),
        );
        one_welcome_headers(&mut response);
        ("OneWelcomeUnauthorized", RefOr::T(response))
    }
}

/// `413`, on any path.
pub(crate) struct TooLarge;

impl<'r> ToResponse<'r> for TooLarge {
    fn response() -> (&'r str, RefOr<Response>) {
        let response = json_response(
            "The request body is larger than 65,536 bytes (any path, any method)",
            "DetailError",
            json!({"detail": "Request body too large"}),
        );
        ("TooLarge", RefOr::T(response))
    }
}

/// `413` on a OneWelcome path (with the OneWelcome headers).
pub(crate) struct OneWelcomeTooLarge;

impl<'r> ToResponse<'r> for OneWelcomeTooLarge {
    fn response() -> (&'r str, RefOr<Response>) {
        let mut response = json_response(
            "The request body is larger than 65,536 bytes (any path, any method)",
            "OneWelcomeError",
            json!({"error": "Request body too large"}),
        );
        one_welcome_headers(&mut response);
        ("OneWelcomeTooLarge", RefOr::T(response))
    }
}

/// `422`: the request's shape.
pub(crate) struct Invalid;

impl<'r> ToResponse<'r> for Invalid {
    fn response() -> (&'r str, RefOr<Response>) {
        let response = json_response(
            "The request's shape is wrong: a path id that is not a UUID, a body that is not a JSON object, \
             a missing field, a wrong type, a length limit, U+0000 in a string",
            "ValidationError",
            json!({"detail": [{"loc": ["path", "app_id"], "msg": "Input should be a valid UUID", "type": "uuid_parsing"}]}),
        );
        ("Invalid", RefOr::T(response))
    }
}

/// `429` on verify: the account is locked after failed attempts, with `Retry-After`.
pub(crate) struct Locked;

impl<'r> ToResponse<'r> for Locked {
    fn response() -> (&'r str, RefOr<Response>) {
        let mut response = json_response(
            "Locked after failed attempts (2^(n-1) seconds after the n-th in a row, at most 15 minutes); \
             not counted as an attempt",
            "TooManyAttempts",
            json!({"detail": "Too many failed attempts", "retry_after_seconds": 4}),
        );
        response.headers.insert(
            "Retry-After".to_owned(),
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)))
                .description(Some("Whole seconds until the lock ends (rounded up, at least 1)."))
                .build(),
        );
        ("Locked", RefOr::T(response))
    }
}

/// `500` (the cause is logged, never sent).
pub(crate) struct InternalError;

impl<'r> ToResponse<'r> for InternalError {
    fn response() -> (&'r str, RefOr<Response>) {
        let response = json_response(
            "Unexpected failure (e.g. a stored secret cannot be decrypted); the cause is logged, never sent",
            "DetailError",
            json!({"detail": "Internal server error"}),
        );
        ("InternalError", RefOr::T(response))
    }
}

// ------------------------------------------------------------------------- schemas

/// Names for the schema types the handlers' annotations use, and the documentation-only types
/// for what is parsed by hand (request bodies, path parameters) or written as plain strings
/// (enumerations).
#[expect(dead_code, reason = "documentation-only types: they are described, never built")]
mod types {
    use utoipa::{IntoParams, ToSchema};

    /// `{"detail": "<message>"}`.
    pub(crate) type DetailError = crate::error::DetailBody<'static>;
    /// `422 {"detail": [{"loc", "msg", "type"}]}`.
    pub(crate) type ValidationError = crate::error::ValidationBody<'static>;
    /// `{"error": "<message>"}` (OneWelcome).
    pub(crate) type OneWelcomeErrorBody = crate::error::ErrorBody<'static>;

    pub(crate) type App = crate::respond::AppDto<'static>;
    pub(crate) type Account = crate::respond::AccountDto<'static>;
    pub(crate) type Otp = crate::respond::OtpDto<'static>;
    pub(crate) type Lockout = crate::respond::LockoutDto;
    pub(crate) type AuditPage = crate::respond::AuditPageDto<'static>;
    /// `429` on verify.
    pub(crate) type TooManyAttempts = crate::error::TooManyAttemptsBody<'static>;
    pub(crate) type IdentitySummary = crate::respond::IdentityDto<'static>;
    pub(crate) type IdentityDetail = crate::respond::IdentityDetailDto<'static>;
    pub(crate) type Instance = crate::respond::InstanceDto<'static>;
    pub(crate) type Enrollment = crate::respond::EnrollmentDto<'static>;
    pub(crate) type UserInstance = crate::respond::UserInstanceDto<'static>;
    pub(crate) type ServiceToken = crate::respond::TokenDto<'static>;
    pub(crate) type NewServiceToken = crate::respond::NewTokenDto<'static>;

    /// The OneWelcome list envelope (`respond::UserInstancesDto` over a sequence).
    #[derive(ToSchema)]
    pub(crate) struct UserInstances {
        /// Every live instance enrolled for the user, oldest first.
        authentication_app_instances: Vec<UserInstance>,
    }

    /// `GET /healthz` and `GET /readyz`.
    #[derive(ToSchema)]
    pub(crate) struct HealthStatus {
        /// `ok` (`/healthz`); `ready` or `unavailable` (`/readyz`).
        #[schema(examples("ok"))]
        status: String,
    }

    /// The `200` of a verification: valid, or refused (and counted).
    #[derive(ToSchema)]
    #[serde(untagged)]
    pub(crate) enum Verification {
        Valid(crate::respond::VerificationValidDto),
        Failed(crate::respond::VerificationFailedDto),
    }

    // ------------------------------------------------------------------- request bodies

    // Declared once, with their parsers, in `request.rs`.
    pub(crate) use crate::request::{
        AssignAppRequest, CreateAccountRequest, CreateAppRequest, CreateIdentityRequest, CreateTokenRequest,
        EnrollInstanceRequest, UpdateAccountRequest, UpdateAppRequest, UpdateIdentityRequest, VerifyRequest,
    };

    // ------------------------------------------------------------------- path parameters

    // The UUID paths are declared once, with their parsers, in `request.rs`.
    pub(crate) use crate::request::{
        AccountPath, AppPath, AuditEventsQuery, DeviceAccountPath, IdentityPath, InstancePath, TokenPath, UserAppPath,
        UserPath,
    };

    /// `/docs/{asset}`.
    #[derive(IntoParams)]
    #[into_params(parameter_in = Path)]
    pub(crate) struct AssetPath {
        /// A file of the viewer.
        #[param(example = "swagger-ui-bundle.js")]
        asset: String,
    }

    /// `/console/{asset}`.
    #[derive(IntoParams)]
    #[into_params(parameter_in = Path)]
    pub(crate) struct ConsoleAssetPath {
        /// A file of the console.
        #[param(example = "console.js")]
        asset: String,
    }
}
