//! Credentials: service tokens (`X-Service-Token: <t>` or `Authorization: Bearer <t>`) on every
//! path but the device API, device tokens (`Authorization: Bearer authd_dev_...` only) on the
//! device API.
//!
//! A service token is first checked against the in-process cache
//! ([`domain::Authd::cached_principal`], no I/O); only on a miss does the look-up run on the
//! blocking pool. Tokens without the right prefix are refused without any look-up, which is
//! also what refuses a device token on a service path and a service token on the device API.

use actix_web::HttpMessage as _;
use actix_web::http::header;
use actix_web::{HttpRequest, web};
use domain::Authd;
use domain::audit::{Actor, Caller, RequestId};
use domain::ports::Store;
use domain::token::{DEVICE_TOKEN_PREFIX, SERVICE_TOKEN_PREFIX};

use crate::error::ApiError;
use crate::handlers::blocking;
use crate::metrics::{self, AuthFailure};
use domain::error::Realm;

/// Counts and logs a refused credential: realm, reason and the peer address, never the
/// presented token (nor any part of it).
pub(crate) fn refused(req: &HttpRequest, realm: Realm, reason: AuthFailure) {
    metrics::record_auth_failure(realm, reason);
    let realm = match realm {
        Realm::Service => "service",
        Realm::Device => "device",
    };
    let peer = req.peer_addr().map(|a| a.ip().to_string());
    tracing::info!(
        target: "authd::auth",
        realm,
        reason = reason.as_str(),
        peer = peer.as_deref().unwrap_or("-"),
        "credential refused"
    );
}

/// Missing when no credential header is there at all, malformed otherwise.
fn absent_or_malformed(req: &HttpRequest) -> AuthFailure {
    let h = req.headers();
    if h.contains_key(X_SERVICE_TOKEN) || h.contains_key(header::AUTHORIZATION) {
        AuthFailure::Malformed
    } else {
        AuthFailure::Missing
    }
}

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
pub(crate) async fn service_caller<S: Store>(
    req: &HttpRequest,
    authd: &web::Data<Authd<S>>,
) -> Result<Caller, ApiError> {
    let Some(token) = presented_service_token(req).filter(|t| t.starts_with(SERVICE_TOKEN_PREFIX)) else {
        refused(req, Realm::Service, absent_or_malformed(req));
        return Err(ApiError::unauthorized(Realm::Service));
    };
    let caller = |p: domain::auth::Principal| {
        Caller::new(p.org, Actor::ServiceToken(p.token_id)).with_request_id(request_id(req))
    };
    if let Some(principal) = authd.cached_principal(token) {
        return Ok(caller(principal));
    }
    let token = token.to_owned();
    let authd = authd.clone();
    match blocking(move || authd.authenticate_service_token(&token)).await {
        Ok(principal) => Ok(caller(principal)),
        Err(e @ ApiError::Domain(domain::Error::Unauthorized(_))) => {
            refused(req, Realm::Service, AuthFailure::Unknown);
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// The presented device token (checked by the use case itself), or `401` when there is none
/// of the right form. `X-Service-Token` is never looked at here.
pub(crate) fn device_token(req: &HttpRequest) -> Result<String, ApiError> {
    match bearer(req).filter(|t| t.starts_with(DEVICE_TOKEN_PREFIX)) {
        Some(t) => Ok(t.to_owned()),
        None => {
            let reason = if req.headers().contains_key(header::AUTHORIZATION) {
                AuthFailure::Malformed
            } else {
                AuthFailure::Missing
            };
            refused(req, Realm::Device, reason);
            Err(ApiError::unauthorized(Realm::Device))
        }
    }
}

/// The request's id, as [`crate::RequestLog`] gave it (none when the app runs without it).
pub(crate) fn request_id(req: &HttpRequest) -> Option<RequestId> {
    let ext = req.extensions();
    let value = ext.get::<crate::log::RequestIdValue>()?;
    RequestId::parse(value.0.to_str().ok()?)
}
