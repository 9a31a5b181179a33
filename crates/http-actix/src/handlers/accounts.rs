//! `/api/v1/authenticator/apps/{app_id}/accounts[/{account_id}[/generate-otp]]`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use domain::Authd;
use domain::ports::Store;

use super::blocking;
use crate::error::ApiError;
use crate::input::Input;
use crate::request::{AccountPath, AppPath, CreateAccountRequest, UpdateAccountRequest};
use crate::respond::{self, AccountDto, OtpDto, Seq};

/// `POST /apps/{app_id}/accounts`.
#[utoipa::path(
    post,
    path = crate::paths::ACCOUNTS,
    tag = "accounts",
    operation_id = "create_account",
    summary = "Add an account",
    description = "Adds an OTP account from an `otpauth://` URI, with an optional `verify_window` (authd extension, an integer in 0..=10; absent or `null` for the default: 1 TOTP step either side, 10 HOTP counters ahead) and optional `metadata` (authd extension: at most 50 string keys of 1-40 characters, string values of at most 500). The URI's shape is `422`; its parameters are checked after the app exists (`400`): secret missing, not base32 or empty; algorithm not sha1/sha256/sha512; digits not 6 or 8; period not in 1..=86400; counter not in 0..=9223372036854775807; a parameter empty or given twice.",
    params(crate::schemas::AppPath),
    request_body(content = crate::schemas::CreateAccountRequest),
    responses(
        (status = 201, description = "The new account (never its secret)", body = crate::schemas::Account),
        (status = 400, description = "Bad OTP parameters in the URI", body = crate::schemas::DetailError),
        (status = 404, description = "App not found", body = crate::schemas::DetailError),
    ),
)]
pub(crate) async fn create<S: Store>(
    Input(org, path, body): Input<AppPath, CreateAccountRequest>,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let account = blocking(move || authd.create_account(&org, path.app_id, body.into())).await?;
    Ok(respond::json(StatusCode::CREATED, &AccountDto::new(&account)))
}

/// `GET /apps/{app_id}/accounts`.
#[utoipa::path(
    get,
    path = crate::paths::ACCOUNTS,
    tag = "accounts",
    operation_id = "list_accounts",
    summary = "List accounts",
    description = "Every live account of the app, oldest first.",
    params(crate::schemas::AppPath),
    responses(
        (status = 200, description = "The accounts", body = Vec<crate::schemas::Account>),
        (status = 404, description = "App not found", body = crate::schemas::DetailError),
    ),
)]
pub(crate) async fn list<S: Store>(
    Input(org, path, ()): Input<AppPath>,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let accounts = blocking(move || authd.list_accounts(&org, path.app_id)).await?;
    Ok(respond::json(StatusCode::OK, &Seq(&accounts, AccountDto::new)))
}

/// `GET /apps/{app_id}/accounts/{account_id}`.
#[utoipa::path(
    get,
    path = crate::paths::ACCOUNT,
    tag = "accounts",
    operation_id = "get_account",
    summary = "Get an account",
    description = "One account of the app.",
    params(crate::schemas::AccountPath),
    responses(
        (status = 200, description = "The account", body = crate::schemas::Account),
        (status = 404, description = "App or account not found", body = crate::schemas::DetailError),
    ),
)]
pub(crate) async fn get<S: Store>(
    Input(org, path, ()): Input<AccountPath>,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let account = blocking(move || authd.get_account(&org, path.app_id, path.account_id)).await?;
    Ok(respond::json(StatusCode::OK, &AccountDto::new(&account)))
}

/// `PATCH /apps/{app_id}/accounts/{account_id}`.
#[utoipa::path(
    patch,
    path = crate::paths::ACCOUNT,
    tag = "accounts",
    operation_id = "update_account",
    summary = "Update an account",
    description = "Sets or clears `display_name`, `description`, `verify_window` (authd extension, an integer in 0..=10) and `metadata` (authd extension, replaced whole): a key present with `null` clears the field (`verify_window` back to the type's default, `metadata` to `{}`), an absent key leaves it.",
    params(crate::schemas::AccountPath),
    request_body(content = ref("#/components/schemas/UpdateAccountRequest"), description = "Any subset of the fields; an empty body counts as `{}`"),
    responses(
        (status = 200, description = "The updated account", body = crate::schemas::Account),
        (status = 404, description = "App or account not found", body = crate::schemas::DetailError),
    ),
)]
pub(crate) async fn update<S: Store>(
    Input(org, path, body): Input<AccountPath, UpdateAccountRequest>,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let account = blocking(move || authd.update_account(&org, path.app_id, path.account_id, body.into())).await?;
    Ok(respond::json(StatusCode::OK, &AccountDto::new(&account)))
}

/// `DELETE /apps/{app_id}/accounts/{account_id}`.
#[utoipa::path(
    delete,
    path = crate::paths::ACCOUNT,
    tag = "accounts",
    operation_id = "delete_account",
    summary = "Delete an account",
    description = "Deletes the account.",
    params(crate::schemas::AccountPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "App or account not found", body = crate::schemas::DetailError),
    ),
)]
pub(crate) async fn delete<S: Store>(
    Input(org, path, ()): Input<AccountPath>,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    blocking(move || authd.delete_account(&org, path.app_id, path.account_id)).await?;
    Ok(respond::no_content())
}

/// `POST /apps/{app_id}/accounts/{account_id}/generate-otp`: no body (any body is ignored).
#[utoipa::path(
    post,
    path = crate::paths::GENERATE_OTP,
    tag = "accounts",
    operation_id = "generate_otp",
    summary = "Generate a code",
    description = "The account's current TOTP code, or the HOTP code of the next counter (the counter advances only on success). No request body (`Content-Length: 0`, no `Content-Type`).",
    params(crate::schemas::AccountPath),
    responses(
        (status = 200, description = "The code", body = crate::schemas::Otp),
        (status = 403, description = "The identity is paused", body = crate::schemas::DetailError),
        (status = 404, description = "App or account not found", body = crate::schemas::DetailError),
        (status = 409, description = "The HOTP counter is at its maximum", body = crate::schemas::DetailError),
        (status = 500, response = crate::schemas::InternalError),
    ),
)]
pub(crate) async fn generate_otp<S: Store>(
    Input(org, path, ()): Input<AccountPath>,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let code = blocking(move || authd.generate_otp(&org, path.app_id, path.account_id)).await?;
    crate::metrics::record_otp(code.otp_type);
    Ok(respond::json(StatusCode::OK, &OtpDto::new(&code)))
}
