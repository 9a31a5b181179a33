//! The request handlers: each parses the request into domain types, runs the whole use case in
//! one [`blocking`] task (so a pooled connection is never held across an `.await`) and maps the
//! result onto the wire contract.
//!
//! Order of the checks, so that the first failure in the spec's precedence wins: `413` (an
//! announced oversized body: [`crate::limit::BodyLimit`], before routing), `401` (the credential
//! extractor, each handler's first argument: [`crate::input::Input`] on the service-token paths,
//! which awaits the caller before it reads anything else, [`crate::auth`] elsewhere), `422`
//! (path ids, then body shape, reported together; a body larger than announced is `413` when
//! it is read), then the use case, whose own order is `404` → `403` → `409` → `400`.

pub(crate) mod accounts;
pub(crate) mod apps;
pub(crate) mod audit;
pub(crate) mod device;
pub(crate) mod identities;
pub(crate) mod instances;
pub(crate) mod one_welcome;
pub(crate) mod ops;
pub(crate) mod tokens;
pub(crate) mod verify;

use actix_web::{HttpRequest, HttpResponse, ResponseError};

use crate::error::{self, ApiError, FieldError, OneWelcomeError};
pub(crate) use crate::run::blocking;

/// Combines two shape checks (path ids, body), reporting every error of both at once.
pub(crate) fn both<A, B>(
    a: Result<A, Vec<FieldError>>,
    b: Result<B, Vec<FieldError>>,
) -> Result<(A, B), Vec<FieldError>> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (a, b) => {
            let mut errors = a.err().unwrap_or_default();
            errors.extend(b.err().unwrap_or_default());
            Err(errors)
        }
    }
}

/// The `405` of a path of the Inkbox family (or of the extensions and operational paths).
pub(crate) fn method_not_allowed(allow: &'static str) -> HttpResponse {
    ApiError::MethodNotAllowed(allow).error_response()
}

/// The `405` of a OneWelcome path.
pub(crate) fn one_welcome_method_not_allowed(allow: &'static str) -> HttpResponse {
    OneWelcomeError(ApiError::MethodNotAllowed(allow)).error_response()
}

/// The answer for an unknown path: `404 {"detail": "Not Found"}`, or on `/oauth/...` the
/// OneWelcome `404 {"error": "Not Found"}` with its headers.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    error::response_for_path(req.path(), ApiError::RouteNotFound)
}
