//! Credentials: service tokens (`X-Service-Token: <t>` or `Authorization: Bearer <t>`) on every
//! path but the device API, device tokens (`Authorization: Bearer authd_dev_...` only) on the
//! device API.
//!
//! A service token is first checked against the in-process cache
//! ([`domain::Authd::cached_principal`], no I/O); only on a miss does the look-up run on the
//! blocking pool. Tokens without the right prefix are refused without any look-up, which is
//! also what refuses a device token on a service path and a service token on the device API.

use actix_web::http::header;
use actix_web::{HttpRequest, web};
use domain::Authd;
use domain::ids::OrgId;
use domain::ports::Store;
use domain::token::{DEVICE_TOKEN_PREFIX, SERVICE_TOKEN_PREFIX};

use crate::error::ApiError;
use crate::handlers::blocking;

const X_SERVICE_TOKEN: &str = "x-service-token";

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive).
fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_start_matches(' '))
}

/// The presented service token: `X-Service-Token` when that header is present (even empty),
/// else the bearer token.
fn presented_service_token(req: &HttpRequest) -> Option<&str> {
    match req.headers().get(X_SERVICE_TOKEN) {
        Some(v) => v.to_str().ok(),
        None => bearer(req),
    }
}

/// The organization of the caller's service token, or `401`.
pub(crate) async fn service_org<S: Store>(req: &HttpRequest, authd: &web::Data<Authd<S>>) -> Result<OrgId, ApiError> {
    let token = presented_service_token(req)
        .filter(|t| t.starts_with(SERVICE_TOKEN_PREFIX))
        .ok_or(ApiError::InvalidServiceToken)?;
    if let Some(principal) = authd.cached_principal(token) {
        return Ok(principal.org);
    }
    let token = token.to_owned();
    let authd = authd.clone();
    let principal = blocking(move || authd.authenticate_service_token(&token)).await?;
    Ok(principal.org)
}

/// The presented device token (checked by the use case itself), or `401` when there is none
/// of the right form. `X-Service-Token` is never looked at here.
pub(crate) fn device_token(req: &HttpRequest) -> Result<String, ApiError> {
    bearer(req)
        .filter(|t| t.starts_with(DEVICE_TOKEN_PREFIX))
        .map(str::to_owned)
        .ok_or(ApiError::InvalidDeviceToken)
}
