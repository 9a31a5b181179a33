//! The device API (authd extension): `/api/v1/device/...`, authenticated with the device token
//! as `Authorization: Bearer authd_dev_...` only.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::Authd;
use domain::ports::Store;

use super::blocking;
use crate::auth::{self, DeviceToken};
use crate::error::{ApiError, FieldError};
use crate::metrics::{self, AuthFailure};
use crate::request::DeviceAccountPath;
use crate::respond::{self, AccountDto, OtpDto, Seq};

/// Counts and logs an unknown or revoked device token the use case refused.
pub(crate) fn device_error(req: &HttpRequest, e: ApiError) -> ApiError {
    if let ApiError::Domain(domain::Error::Unauthorized(realm)) = &e {
        auth::refused(req, *realm, AuthFailure::Unknown);
    }
    e
}

/// The answer to a device request whose shape is wrong: the device token is checked first (one
/// look-up, no use case), so that `401` wins over `422` as on the service paths.
pub(crate) async fn refuse_shape<S: Store>(
    req: &HttpRequest,
    authd: &web::Data<Authd<S>>,
    token: String,
    invalid: Vec<FieldError>,
) -> ApiError {
    let authd = authd.clone();
    match blocking(move || authd.authenticate_device(&token)).await {
        Ok(()) => ApiError::Invalid(invalid),
        Err(e) => device_error(req, e),
    }
}

/// `GET /api/v1/device/accounts`: the app's live accounts (allowed while paused).
#[utoipa::path(
    get,
    path = crate::paths::DEVICE_ACCOUNTS,
    tag = "device",
    operation_id = "list_device_accounts",
    summary = "List the device's accounts",
    description = "Every live account of the device's app, oldest first (allowed while the identity is paused).",
    responses(
        (status = 200, description = "The accounts", body = Vec<crate::schemas::Account>),
    ),
)]
pub(crate) async fn accounts<S: Store>(
    DeviceToken(token): DeviceToken,
    req: HttpRequest,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let accounts = blocking(move || authd.device_list_accounts(&token))
        .await
        .map_err(|e| device_error(&req, e))?;
    Ok(respond::json(StatusCode::OK, &Seq(&accounts, AccountDto::new)))
}

/// `POST /api/v1/device/accounts/{account_id}/generate-otp`: a code; records `last_used_at`.
#[utoipa::path(
    post,
    path = crate::paths::DEVICE_GENERATE_OTP,
    tag = "device",
    operation_id = "generate_device_otp",
    summary = "Generate a code on the device",
    description = "As `generate_otp`, for an account of the device's app; records the instance's `last_used_at`.",
    params(crate::schemas::DeviceAccountPath),
    responses(
        (status = 200, description = "The code", body = crate::schemas::Otp),
        (status = 403, description = "The identity is paused", body = crate::schemas::DetailError),
        (status = 404, description = "Account not found", body = crate::schemas::DetailError),
        (status = 409, description = "The HOTP counter is at its maximum", body = crate::schemas::DetailError),
        (status = 500, response = crate::schemas::InternalError),
    ),
)]
pub(crate) async fn generate_otp<S: Store>(
    DeviceToken(token): DeviceToken,
    req: HttpRequest,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let id = match DeviceAccountPath::parse(&req) {
        Ok(p) => p.account_id,
        Err(invalid) => return Err(refuse_shape(&req, &authd, token, invalid).await),
    };
    let request_id = auth::request_id(&req);
    let code = blocking(move || authd.device_generate_otp(&token, id, request_id.as_ref()))
        .await
        .map_err(|e| device_error(&req, e))?;
    metrics::record_otp(code.otp_type);
    Ok(respond::json(StatusCode::OK, &OtpDto::new(&code)))
}
