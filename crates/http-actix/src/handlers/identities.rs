//! `/api/v1/identities[/]`, `/api/v1/identities/{agent_handle}[/authenticator_app]`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use domain::Authd;
use domain::ports::Store;
use domain::service::IdentityPatch;
use domain::values::Handle;

use super::blocking;
use crate::error::ApiError;
use crate::input::Input;
use crate::request::{AssignAppRequest, CreateIdentityRequest, UpdateIdentityRequest};
use crate::respond::{self, IdentityDetailDto, IdentityDto, Seq};

/// `POST /api/v1/identities[/]`: `{"agent_handle": "bot"}`.
#[utoipa::path(
    post,
    path = crate::paths::IDENTITIES,
    tag = "identities",
    operation_id = "create_identity",
    summary = "Create an identity",
    description = "Creates an identity of the caller's org.",
    request_body(content = crate::schemas::CreateIdentityRequest),
    responses(
        (status = 201, description = "The new identity", body = crate::schemas::IdentitySummary),
        (status = 409, description = "The handle is taken", body = crate::schemas::DetailError),
    ),
)]
pub(crate) async fn create<S: Store>(
    Input(org, (), body): Input<(), CreateIdentityRequest>,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let identity = blocking(move || authd.create_identity(&org, body.agent_handle)).await?;
    Ok(respond::json(StatusCode::CREATED, &IdentityDto::new(&identity)))
}

/// `GET /api/v1/identities[/]`: newest first.
#[utoipa::path(
    get,
    path = crate::paths::IDENTITIES,
    tag = "identities",
    operation_id = "list_identities",
    summary = "List identities",
    description = "Every live identity of the caller's org, newest first.",
    responses(
        (status = 200, description = "The identities", body = Vec<crate::schemas::IdentitySummary>),
    ),
)]
pub(crate) async fn list<S: Store>(
    Input(org, (), ()): Input,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let identities = blocking(move || authd.list_identities(&org)).await?;
    Ok(respond::json(StatusCode::OK, &Seq(&identities, IdentityDto::new)))
}

/// `GET /{agent_handle}`: the detail.
#[utoipa::path(
    get,
    path = crate::paths::IDENTITY,
    tag = "identities",
    operation_id = "get_identity",
    summary = "Get an identity",
    description = "The identity with its linked app.",
    params(crate::schemas::IdentityPath),
    responses(
        (status = 200, description = "The identity", body = crate::schemas::IdentityDetail),
        (status = 404, description = "Identity not found", body = crate::schemas::DetailError),
    ),
)]
pub(crate) async fn get<S: Store>(
    Input(org, handle, ()): Input<Handle>,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let detail = blocking(move || authd.get_identity(&org, &handle)).await?;
    Ok(respond::json(StatusCode::OK, &IdentityDetailDto::new(&detail)))
}

/// `PATCH /{agent_handle}`: rename and/or pause/unpause; answers the summary.
#[utoipa::path(
    patch,
    path = crate::paths::IDENTITY,
    tag = "identities",
    operation_id = "update_identity",
    summary = "Update an identity",
    description = "Renames the identity and/or pauses or resumes it.",
    params(crate::schemas::IdentityPath),
    request_body(content = ref("#/components/schemas/UpdateIdentityRequest"), description = "Any subset of the fields; an empty body counts as `{}`"),
    responses(
        (status = 200, description = "The updated identity", body = crate::schemas::IdentitySummary),
        (status = 400, description = "Bad status", body = crate::schemas::DetailError),
        (status = 404, description = "Identity not found", body = crate::schemas::DetailError),
        (status = 409, description = "The new handle is taken", body = crate::schemas::DetailError),
    ),
)]
pub(crate) async fn update<S: Store>(
    Input(org, handle, body): Input<Handle, UpdateIdentityRequest>,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let patch = IdentityPatch {
        handle: body.agent_handle,
        status: body.status,
    };
    let identity = blocking(move || authd.update_identity(&org, &handle, patch)).await?;
    Ok(respond::json(StatusCode::OK, &IdentityDto::new(&identity)))
}

/// `DELETE /{agent_handle}`: the app is unlinked, its instances revoked.
#[utoipa::path(
    delete,
    path = crate::paths::IDENTITY,
    tag = "identities",
    operation_id = "delete_identity",
    summary = "Delete an identity",
    description = "Deletes the identity: its app is unlinked and the app's instances revoked.",
    params(crate::schemas::IdentityPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Identity not found", body = crate::schemas::DetailError),
    ),
)]
pub(crate) async fn delete<S: Store>(
    Input(org, handle, ()): Input<Handle>,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    blocking(move || authd.delete_identity(&org, &handle)).await?;
    Ok(respond::no_content())
}

/// `POST /{agent_handle}/authenticator_app`: `{"authenticator_app_id": "<uuid>"}`; answers the
/// detail with the app linked.
#[utoipa::path(
    post,
    path = crate::paths::IDENTITY_APP,
    tag = "identities",
    operation_id = "assign_authenticator_app",
    summary = "Link an app",
    description = "Links the app to the identity; linking the same app again is a no-op.",
    params(crate::schemas::IdentityPath),
    request_body(content = crate::schemas::AssignAppRequest),
    responses(
        (status = 200, description = "The identity with the app linked", body = crate::schemas::IdentityDetail),
        (status = 404, description = "Identity or app not found", body = crate::schemas::DetailError),
        (status = 409, description = "The app is linked to another identity, or the identity has a different app", body = crate::schemas::DetailError),
    ),
)]
pub(crate) async fn assign_app<S: Store>(
    Input(org, handle, body): Input<Handle, AssignAppRequest>,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let detail = blocking(move || authd.assign_app(&org, &handle, body.authenticator_app_id)).await?;
    Ok(respond::json(StatusCode::OK, &IdentityDetailDto::new(&detail)))
}

/// `DELETE /{agent_handle}/authenticator_app`: `204` also when nothing was linked.
#[utoipa::path(
    delete,
    path = crate::paths::IDENTITY_APP,
    tag = "identities",
    operation_id = "unlink_authenticator_app",
    summary = "Unlink the app",
    description = "Unlinks the identity's app (also when none was linked) and revokes the app's instances.",
    params(crate::schemas::IdentityPath),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 404, description = "Identity not found", body = crate::schemas::DetailError),
    ),
)]
pub(crate) async fn unlink_app<S: Store>(
    Input(org, handle, ()): Input<Handle>,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    blocking(move || authd.unlink_app(&org, &handle)).await?;
    Ok(respond::no_content())
}
