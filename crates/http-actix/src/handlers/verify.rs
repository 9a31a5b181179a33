//! Verifying a code an end user typed (authd extension):
//! `POST /api/v1/authenticator/apps/{app_id}/accounts/{account_id}/verify` (service token) and
//! `POST /api/v1/device/accounts/{account_id}/verify` (device token), body
//! `{"otp_code": "..."}`.
//!
//! - `200 {"valid": true, "matched_offset": k}`, or `200 {"valid": false, "reason":
//!   "invalid" | "replayed", "remaining_attempts": N}` (a refused code is a counted attempt);
//! - `429 {"detail": "Too many failed attempts", "retry_after_seconds": N}` with
//!   `Retry-After: N` while the account is locked (not counted);
//! - `422` for the body's shape (`otp_code` missing, not a string, empty, longer than 10
//!   characters, not only digits: never counted); `401`, `404`, `403` as for generation.
//!
//! The typed code goes from the body into a [`CodeInput`] (redacted `Debug`, wiped on drop) and
//! nowhere else: no log line, metric or error message carries it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::Authd;
use domain::otp::CodeInput;
use domain::ports::Store;
use domain::service::{FailureReason, Verification};

use super::{blocking, both, device};
use crate::auth::DeviceToken;
use crate::body;
use crate::error::{ApiError, FieldError};
use crate::input::Input;
use crate::metrics::{self, VerifyResult};
use crate::request::{AccountPath, DeviceAccountPath, VerifyRequest};
use crate::respond::{self, LockoutDto, VerificationDto};

/// The request body (required: an empty body is `otp_code` missing).
fn code_body(bytes: &[u8]) -> Result<CodeInput, Vec<FieldError>> {
    VerifyRequest::parse(bytes).map(|r| r.otp_code)
}

/// The `200`, or the error; every outcome of a verification is counted in the metrics.
fn answer(result: Result<Verification, ApiError>) -> Result<HttpResponse, ApiError> {
    let counted = match &result {
        Ok(Verification::Valid { .. }) => Some(VerifyResult::Valid),
        Ok(Verification::Invalid {
            reason: FailureReason::Invalid,
            ..
        }) => Some(VerifyResult::Invalid),
        Ok(Verification::Invalid {
            reason: FailureReason::Replayed,
            ..
        }) => Some(VerifyResult::Replayed),
        Err(ApiError::Domain(domain::Error::TooManyAttempts { .. })) => Some(VerifyResult::Locked),
        Err(_) => None,
    };
    if let Some(r) = counted {
        metrics::record_verification(r);
    }
    let v = result?;
    Ok(respond::json(StatusCode::OK, &VerificationDto::new(&v)))
}

/// `POST /apps/{app_id}/accounts/{account_id}/verify`.
#[utoipa::path(
    post,
    path = crate::paths::VERIFY_OTP,
    tag = "accounts",
    operation_id = "verify_otp",
    summary = "Verify a code (authd extension)",
    description = "Checks a code an end user typed. TOTP: the current time step and `verify_window` steps on either side (default 1); HOTP: the stored counter and `verify_window` counters past it (default 10), and a match at counter c moves the stored counter to c + 1 (generation shares it). A step or counter once accepted is never accepted again (`replayed`), also across replicas: of concurrent verifications of one code exactly one is valid.\n\nEvery refused code (`invalid` or `replayed`) is a failed attempt: after the n-th in a row the account is locked for 2^(n-1) seconds (1, 2, 4, ... at most 15 minutes); while locked every verification is `429` with `Retry-After`, and is not counted. `remaining_attempts` counts down from 100 to 0; at 0 the account stays usable, each further failure locking it for 15 minutes. A success resets the count. The body's shape (`422`) is never counted; a string of digits of another length than the account's is simply `invalid`.",
    params(crate::schemas::AccountPath),
    request_body(content = crate::schemas::VerifyRequest),
    responses(
        (status = 200, description = "The code was looked at: valid (and now used), or refused (and counted)", body = crate::schemas::Verification),
        (status = 403, description = "The identity is paused", body = crate::schemas::DetailError),
        (status = 404, description = "App or account not found", body = crate::schemas::DetailError),
        (status = 429, response = crate::schemas::Locked),
        (status = 500, response = crate::schemas::InternalError),
    ),
)]
pub(crate) async fn verify_otp<S: Store>(
    Input(org, path, body): Input<AccountPath, VerifyRequest>,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    answer(blocking(move || authd.verify_otp(&org, path.app_id, path.account_id, &body.otp_code)).await)
}

/// `POST /api/v1/device/accounts/{account_id}/verify`: as `verify_otp`; records `last_used_at`.
#[utoipa::path(
    post,
    path = crate::paths::DEVICE_VERIFY_OTP,
    tag = "device",
    operation_id = "verify_device_otp",
    summary = "Verify a code on the device",
    description = "As `verify_otp`, for an account of the device's app; records the instance's `last_used_at` when the code was looked at (a `200`, valid or not).",
    params(crate::schemas::DeviceAccountPath),
    request_body(content = crate::schemas::VerifyRequest),
    responses(
        (status = 200, description = "The code was looked at: valid (and now used), or refused (and counted)", body = crate::schemas::Verification),
        (status = 403, description = "The identity is paused", body = crate::schemas::DetailError),
        (status = 404, description = "Account not found", body = crate::schemas::DetailError),
        (status = 429, response = crate::schemas::Locked),
        (status = 500, response = crate::schemas::InternalError),
    ),
)]
pub(crate) async fn verify_device_otp<S: Store>(
    DeviceToken(token): DeviceToken,
    req: HttpRequest,
    payload: web::Payload,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let id = DeviceAccountPath::parse(&req).map(|p| p.account_id);
    let bytes = body::read(payload).await?;
    let (id, code) = match both(id, code_body(&bytes)) {
        Ok(parsed) => parsed,
        Err(invalid) => return Err(device::refuse_shape(&req, &authd, token, invalid).await),
    };
    let request_id = crate::auth::request_id(&req);
    let result = blocking(move || authd.device_verify_otp(&token, id, &code, request_id.as_ref()))
        .await
        .map_err(|e| device::device_error(&req, e));
    answer(result)
}

/// `GET /apps/{app_id}/accounts/{account_id}/lockout` (authd extension): the account's
/// throttling state, read only.
#[utoipa::path(
    get,
    path = crate::paths::ACCOUNT_LOCKOUT,
    tag = "accounts",
    operation_id = "get_account_lockout",
    summary = "Read an account's lockout",
    description = "authd extension: the account's throttling state: `failed_attempts` (consecutive refused codes since the last success), `remaining_attempts` (`max(0, 100 - failed_attempts)`), and while verifications are refused `locked_until` and `retry_after_seconds` (what a verification's `Retry-After` would say now), both `null` when the account is not locked. A read: it changes nothing, writes no audit event and counts no attempt. Never a secret.",
    params(crate::schemas::AccountPath),
    responses(
        (status = 200, description = "The lockout", body = crate::schemas::Lockout),
        (status = 404, description = "App or account not found", body = crate::schemas::DetailError),
    ),
)]
pub(crate) async fn lockout<S: Store>(
    Input(org, path, ()): Input<AccountPath>,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let lockout = blocking(move || authd.account_lockout(&org, path.app_id, path.account_id)).await?;
    Ok(respond::json(StatusCode::OK, &LockoutDto::new(&lockout)))
}
