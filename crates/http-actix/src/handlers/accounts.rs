//! `/api/v1/authenticator/apps/{app_id}/accounts[/{account_id}[/generate-otp]]`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::Authd;
use domain::FieldError;
use domain::ids::{AccountId, AppId};
use domain::ports::Store;
use domain::service::{AccountPatch, NewAccount};
use domain::values::{Description, DisplayName, Patch};

use super::{blocking, both, caller, many};
use crate::body::{self, IfEmpty, Object};
use crate::error::ApiError;
use crate::respond::{self, AccountDto, OtpDto, Seq};

const DISPLAY_NAME_MAX: usize = 255;
const DESCRIPTION_MAX: usize = 4096;

fn display_name(s: &str) -> Result<DisplayName, FieldError> {
    body::text("display_name", s, 0, DISPLAY_NAME_MAX, DisplayName::parse)
}

fn description(s: &str) -> Result<Description, FieldError> {
    body::text("description", s, 0, DESCRIPTION_MAX, Description::parse)
}

fn patch<T>(
    p: Result<Patch<&str>, FieldError>,
    parse: fn(&str) -> Result<T, FieldError>,
) -> Result<Patch<T>, FieldError> {
    match p? {
        Patch::Keep => Ok(Patch::Keep),
        Patch::Clear => Ok(Patch::Clear),
        Patch::Set(s) => parse(s).map(Patch::Set),
    }
}

/// The body of `POST /accounts`. The URI's own shape is checked by the use case (it answers
/// `422` for the shape before `404` for the app, and `400` for OTP parameters after it).
fn new_account(b: &Object) -> Result<NewAccount, Vec<FieldError>> {
    let uri = body::required_str(b, "otpauth_uri");
    let name = body::optional_str(b, "display_name").and_then(|s| s.map(display_name).transpose());
    let desc = body::optional_str(b, "description").and_then(|s| s.map(description).transpose());
    match (uri, name, desc) {
        (Ok(uri), Ok(display_name), Ok(description)) => Ok(NewAccount {
            otpauth_uri: uri.to_owned(),
            display_name,
            description,
        }),
        (uri, name, desc) => Err(body::errors([uri.err(), name.err(), desc.err()])),
    }
}

/// The body of `PATCH /accounts/{account_id}`: absent keeps, `null` clears.
fn account_patch(b: &Object) -> Result<AccountPatch, Vec<FieldError>> {
    let name = patch(body::patch_str(b, "display_name"), display_name);
    let desc = patch(body::patch_str(b, "description"), description);
    match (name, desc) {
        (Ok(display_name), Ok(description)) => Ok(AccountPatch {
            display_name,
            description,
        }),
        (name, desc) => Err(body::errors([name.err(), desc.err()])),
    }
}

fn ids(req: &HttpRequest) -> Result<(AppId, AccountId), Vec<FieldError>> {
    both(
        many(body::path_id(req, "app_id", AppId::parse)),
        many(body::path_id(req, "account_id", AccountId::parse)),
    )
}

/// `POST /apps/{app_id}/accounts`.
pub(crate) async fn create<S: Store>(
    req: HttpRequest,
    payload: web::Payload,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let org = caller(&req, &authd).await?;
    let app = many(body::path_id(&req, "app_id", AppId::parse));
    let bytes = body::read(payload).await?;
    let input = many(body::object(&bytes, IfEmpty::Missing)).and_then(|b| new_account(&b));
    let (app, input) = both(app, input)?;
    let account = blocking(move || authd.create_account(&org, app, input)).await?;
    Ok(respond::json(StatusCode::CREATED, &AccountDto::new(&account)))
}

/// `GET /apps/{app_id}/accounts`.
pub(crate) async fn list<S: Store>(req: HttpRequest, authd: web::Data<Authd<S>>) -> Result<HttpResponse, ApiError> {
    let org = caller(&req, &authd).await?;
    let app = body::path_id(&req, "app_id", AppId::parse)?;
    let accounts = blocking(move || authd.list_accounts(&org, app)).await?;
    Ok(respond::json(StatusCode::OK, &Seq(&accounts, AccountDto::new)))
}

/// `GET /apps/{app_id}/accounts/{account_id}`.
pub(crate) async fn get<S: Store>(req: HttpRequest, authd: web::Data<Authd<S>>) -> Result<HttpResponse, ApiError> {
    let org = caller(&req, &authd).await?;
    let (app, id) = ids(&req)?;
    let account = blocking(move || authd.get_account(&org, app, id)).await?;
    Ok(respond::json(StatusCode::OK, &AccountDto::new(&account)))
}

/// `PATCH /apps/{app_id}/accounts/{account_id}`.
pub(crate) async fn update<S: Store>(
    req: HttpRequest,
    payload: web::Payload,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let org = caller(&req, &authd).await?;
    let path = ids(&req);
    let bytes = body::read(payload).await?;
    let input = many(body::object(&bytes, IfEmpty::EmptyObject)).and_then(|b| account_patch(&b));
    let ((app, id), patch) = both(path, input)?;
    let account = blocking(move || authd.update_account(&org, app, id, patch)).await?;
    Ok(respond::json(StatusCode::OK, &AccountDto::new(&account)))
}

/// `DELETE /apps/{app_id}/accounts/{account_id}`.
pub(crate) async fn delete<S: Store>(req: HttpRequest, authd: web::Data<Authd<S>>) -> Result<HttpResponse, ApiError> {
    let org = caller(&req, &authd).await?;
    let (app, id) = ids(&req)?;
    blocking(move || authd.delete_account(&org, app, id)).await?;
    Ok(respond::no_content())
}

/// `POST /apps/{app_id}/accounts/{account_id}/generate-otp`: no body (any body is ignored).
pub(crate) async fn generate_otp<S: Store>(
    req: HttpRequest,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let org = caller(&req, &authd).await?;
    let (app, id) = ids(&req)?;
    let code = blocking(move || authd.generate_otp(&org, app, id)).await?;
    crate::metrics::record_otp(code.otp_type);
    Ok(respond::json(StatusCode::OK, &OtpDto::new(&code)))
}
