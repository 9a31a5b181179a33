//! The device API (authd extension): `/api/v1/device/...`, authenticated with the device token
//! as `Authorization: Bearer authd_dev_...` only.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::Authd;
use domain::ids::AccountId;
use domain::ports::Store;

use super::blocking;
use crate::auth;
use crate::body;
use crate::error::ApiError;
use crate::metrics::{self, AuthFailure, Realm};
use crate::respond::{self, AccountDto, OtpDto, Seq};

/// The use cases report an unknown or revoked device token as `Unauthorized`, which on these
/// paths is the device-token `401`.
fn device_error(req: &HttpRequest, e: ApiError) -> ApiError {
    match e {
        ApiError::InvalidServiceToken => {
            auth::refused(req, Realm::Device, AuthFailure::Unknown);
            ApiError::InvalidDeviceToken
        }
        other => other,
    }
}

fn prologue(req: &HttpRequest) -> Result<String, ApiError> {
    if body::announced_too_large(req) {
        return Err(ApiError::PayloadTooLarge);
    }
    auth::device_token(req)
}

/// `GET /api/v1/device/accounts`: the app's live accounts (allowed while paused).
pub(crate) async fn accounts<S: Store>(req: HttpRequest, authd: web::Data<Authd<S>>) -> Result<HttpResponse, ApiError> {
    let token = prologue(&req)?;
    let accounts = blocking(move || authd.device_list_accounts(&token))
        .await
        .map_err(|e| device_error(&req, e))?;
    Ok(respond::json(StatusCode::OK, &Seq(&accounts, AccountDto::new)))
}

/// `POST /api/v1/device/accounts/{account_id}/generate-otp`: a code; records `last_used_at`.
pub(crate) async fn generate_otp<S: Store>(
    req: HttpRequest,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let token = prologue(&req)?;
    let id = match body::path_id(&req, "account_id", AccountId::parse) {
        Ok(id) => id,
        Err(invalid) => {
            // 401 wins over 422: the token must be checked before the path id is refused. The
            // domain has no separate device-token check, so the (read-only) listing does it.
            let authd = authd.clone();
            blocking(move || authd.device_list_accounts(&token))
                .await
                .map_err(|e| device_error(&req, e))?;
            return Err(invalid.into());
        }
    };
    let code = blocking(move || authd.device_generate_otp(&token, id))
        .await
        .map_err(|e| device_error(&req, e))?;
    metrics::record_otp(code.otp_type);
    Ok(respond::json(StatusCode::OK, &OtpDto::new(&code)))
}
