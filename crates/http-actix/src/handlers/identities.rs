//! `/api/v1/identities[/]`, `/api/v1/identities/{agent_handle}[/authenticator_app]`.

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::Authd;
use domain::FieldError;
use domain::error::not_found;
use domain::ids::AppId;
use domain::ports::Store;
use domain::service::IdentityPatch;
use domain::values::Handle;

use super::{blocking, caller};
use crate::body::{self, IfEmpty, Object};
use crate::error::ApiError;
use crate::respond::{self, IdentityDetailDto, IdentityDto, Seq};

fn handle(field: &str, s: &str) -> Result<Handle, FieldError> {
    body::value(field, Handle::parse(s), "value_error")
}

/// The handle in the path, `@` stripped; one that is not a valid handle is simply not found.
fn path_handle(req: &HttpRequest) -> Result<Handle, ApiError> {
    req.match_info()
        .get("agent_handle")
        .and_then(|h| Handle::parse(h).ok())
        .ok_or(ApiError::NotFound(Cow::Borrowed(not_found::IDENTITY)))
}

/// The body of `PATCH /{agent_handle}`: both keys optional (`null` is taken as absent: neither
/// field can be cleared). The status is validated by the use case (`400`, after `404`/`409`).
fn identity_patch(b: &Object) -> Result<IdentityPatch, Vec<FieldError>> {
    let new_handle =
        body::optional_str(b, "agent_handle").and_then(|h| h.map(|h| handle("agent_handle", h)).transpose());
    let status = body::optional_str(b, "status");
    match (new_handle, status) {
        (Ok(handle), Ok(status)) => Ok(IdentityPatch {
            handle,
            status: status.map(str::to_owned),
        }),
        (h, s) => Err(body::errors([h.err(), s.err()])),
    }
}

/// `POST /api/v1/identities[/]`: `{"agent_handle": "bot"}`.
pub(crate) async fn create<S: Store>(
    req: HttpRequest,
    payload: web::Payload,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let org = caller(&req, &authd).await?;
    let bytes = body::read(payload).await?;
    let b = body::object(&bytes, IfEmpty::Missing)?;
    let handle = handle("agent_handle", body::required_str(&b, "agent_handle")?)?;
    let identity = blocking(move || authd.create_identity(&org, handle)).await?;
    Ok(respond::json(StatusCode::CREATED, &IdentityDto::new(&identity)))
}

/// `GET /api/v1/identities[/]`: newest first.
pub(crate) async fn list<S: Store>(req: HttpRequest, authd: web::Data<Authd<S>>) -> Result<HttpResponse, ApiError> {
    let org = caller(&req, &authd).await?;
    let identities = blocking(move || authd.list_identities(&org)).await?;
    Ok(respond::json(StatusCode::OK, &Seq(&identities, IdentityDto::new)))
}

/// `GET /{agent_handle}`: the detail.
pub(crate) async fn get<S: Store>(req: HttpRequest, authd: web::Data<Authd<S>>) -> Result<HttpResponse, ApiError> {
    let org = caller(&req, &authd).await?;
    let handle = path_handle(&req)?;
    let detail = blocking(move || authd.get_identity(&org, &handle)).await?;
    Ok(respond::json(StatusCode::OK, &IdentityDetailDto::new(&detail)))
}

/// `PATCH /{agent_handle}`: rename and/or pause/unpause; answers the summary.
pub(crate) async fn update<S: Store>(
    req: HttpRequest,
    payload: web::Payload,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let org = caller(&req, &authd).await?;
    let bytes = body::read(payload).await?;
    let b = body::object(&bytes, IfEmpty::EmptyObject)?;
    let patch = identity_patch(&b)?;
    let handle = path_handle(&req)?;
    let identity = blocking(move || authd.update_identity(&org, &handle, patch)).await?;
    Ok(respond::json(StatusCode::OK, &IdentityDto::new(&identity)))
}

/// `DELETE /{agent_handle}`: the app is unlinked, its instances revoked.
pub(crate) async fn delete<S: Store>(req: HttpRequest, authd: web::Data<Authd<S>>) -> Result<HttpResponse, ApiError> {
    let org = caller(&req, &authd).await?;
    let handle = path_handle(&req)?;
    blocking(move || authd.delete_identity(&org, &handle)).await?;
    Ok(respond::no_content())
}

/// `POST /{agent_handle}/authenticator_app`: `{"authenticator_app_id": "<uuid>"}`; answers the
/// detail with the app linked.
pub(crate) async fn assign_app<S: Store>(
    req: HttpRequest,
    payload: web::Payload,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let org = caller(&req, &authd).await?;
    let bytes = body::read(payload).await?;
    let b = body::object(&bytes, IfEmpty::Missing)?;
    let app = body::uuid(
        "authenticator_app_id",
        body::required_str(&b, "authenticator_app_id")?,
        AppId::parse,
    )?;
    let handle = path_handle(&req)?;
    let detail = blocking(move || authd.assign_app(&org, &handle, app)).await?;
    Ok(respond::json(StatusCode::OK, &IdentityDetailDto::new(&detail)))
}

/// `DELETE /{agent_handle}/authenticator_app`: `204` also when nothing was linked.
pub(crate) async fn unlink_app<S: Store>(
    req: HttpRequest,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let org = caller(&req, &authd).await?;
    let handle = path_handle(&req)?;
    blocking(move || authd.unlink_app(&org, &handle)).await?;
    Ok(respond::no_content())
}
