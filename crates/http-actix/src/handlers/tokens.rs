//! `/api/v1/tokens[/self|/{token_id}]` (authd extension): minting, listing and revoking service
//! tokens with a token, never broader than the calling one.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use domain::Authd;
use domain::ports::Store;

use super::blocking;
use crate::error::ApiError;
use crate::input::Input;
use crate::request::{CreateTokenRequest, TokenPath};
use crate::respond::{self, NewTokenDto, Seq, TokenDto};

/// `POST /tokens`: mints a token no broader than the caller; the token is shown this once.
#[utoipa::path(
    post,
    path = crate::paths::TOKENS,
    tag = "tokens",
    operation_id = "create_token",
    summary = "Mint a service token",
    description = "Mints a service token of the caller's org with these scopes, optionally confined to identities (handles, pinned to today's identity, or `prefix*` patterns) and apps, optionally expiring. It is never broader than the calling token: every scope, identity, app and its lifetime must be within the caller's (`403` names what is not), and within the org's maximum token lifetime. The token is in the answer this once; it is stored only as a hash. Audited (`token.create`).",
    request_body(content = crate::schemas::CreateTokenRequest),
    responses(
        (status = 201, description = "The new token, with the token itself", body = crate::schemas::NewServiceToken),
        (status = 403, description = "The caller lacks `tokens:write`, or the new token would be broader than the caller (`a token cannot mint a token broader than itself: the scope admin is too broad`), or outlive the org's maximum", body = crate::schemas::DetailError),
        (status = 404, description = "A listed handle or app does not exist (a confined caller gets the `403` for anything outside its own view, existing or not)", body = crate::schemas::DetailError),
    ),
)]
pub(crate) async fn create<S: Store>(
    Input(who, (), body): Input<(), CreateTokenRequest>,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let (token, plain) = blocking(move || authd.create_service_token(&who, body.into())).await?;
    Ok(respond::json(StatusCode::CREATED, &NewTokenDto::new(&token, &plain)))
}

/// `GET /tokens`.
#[utoipa::path(
    get,
    path = crate::paths::TOKENS,
    tag = "tokens",
    operation_id = "list_tokens",
    summary = "List service tokens",
    description = "The org's service tokens (revoked ones too) that are no broader than the caller, oldest first; never the tokens themselves.",
    responses(
        (status = 200, description = "The tokens", body = Vec<crate::schemas::ServiceToken>),
    ),
)]
pub(crate) async fn list<S: Store>(
    Input(who, (), ()): Input,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let tokens = blocking(move || authd.list_tokens(&who)).await?;
    Ok(respond::json(StatusCode::OK, &Seq(&tokens, TokenDto::new)))
}

/// `GET /tokens/self`.
#[utoipa::path(
    get,
    path = crate::paths::TOKEN_SELF,
    tag = "tokens",
    operation_id = "get_token_self",
    summary = "The calling token",
    description = "What the calling token may do: its scopes, restriction and expiry. Needs no scope: any valid token may read itself.",
    responses(
        (status = 200, description = "The calling token", body = crate::schemas::ServiceToken),
    ),
)]
pub(crate) async fn get_self<S: Store>(
    Input(who, (), ()): Input,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let token = blocking(move || authd.token_self(&who)).await?;
    Ok(respond::json(StatusCode::OK, &TokenDto::new(&token)))
}

/// `DELETE /tokens/{token_id}`.
#[utoipa::path(
    delete,
    path = crate::paths::TOKEN,
    tag = "tokens",
    operation_id = "revoke_token",
    summary = "Revoke a service token",
    description = "Revokes one of the org's tokens that is no broader than the caller (the caller itself included), and every token minted by it, transitively. Every replica refuses them within 2 seconds. Audited (`token.revoke`, one event per token).",
    params(crate::schemas::TokenPath),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No unrevoked token of the org no broader than the caller has this id", body = crate::schemas::DetailError),
    ),
)]
pub(crate) async fn revoke<S: Store>(
    Input(who, path, ()): Input<TokenPath>,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    blocking(move || authd.revoke_token(&who, path.token_id)).await?;
    Ok(respond::no_content())
}
