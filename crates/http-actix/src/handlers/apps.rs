//! `/api/v1/authenticator/apps` and `/api/v1/authenticator/apps/{app_id}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use domain::Authd;
use domain::ports::Store;

use super::blocking;
use crate::error::ApiError;
use crate::input::Input;
use crate::request::{AppPath, CreateAppRequest, UpdateAppRequest};
use crate::respond::{self, AppDto, Seq};

/// `POST /apps`: `{}` or `{"agent_handle": "bot"}` (optional, nullable, `@` stripped), with
/// optional `metadata` (authd extension).
#[utoipa::path(
    post,
    path = crate::paths::APPS,
    tag = "apps",
    operation_id = "create_app",
    summary = "Create an app",
    description = "Creates an authenticator app of the caller's org, linked to the identity `agent_handle` names when one is given, with optional `metadata` (authd extension: at most 50 string keys of 1-40 characters, string values of at most 500).",
    request_body(content = ref("#/components/schemas/CreateAppRequest"), description = "`{}`, `{\"agent_handle\": \"bot\"}`, with or without `metadata`, or an empty body"),
    responses(
        (status = 201, description = "The new app", body = crate::schemas::App),
        (status = 404, description = "Identity not found", body = crate::schemas::DetailError),
        (status = 409, description = "The identity already has an app", body = crate::schemas::DetailError),
    ),
)]
pub(crate) async fn create<S: Store>(
    Input(org, (), body): Input<(), CreateAppRequest>,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let app = blocking(move || authd.create_app_with(&org, body.into())).await?;
    Ok(respond::json(StatusCode::CREATED, &AppDto::new(&app)))
}

/// `GET /apps`.
#[utoipa::path(
    get,
    path = crate::paths::APPS,
    tag = "apps",
    operation_id = "list_apps",
    summary = "List apps",
    description = "Every live app of the caller's org, oldest first.",
    responses(
        (status = 200, description = "The apps", body = Vec<crate::schemas::App>),
    ),
)]
pub(crate) async fn list<S: Store>(
    Input(org, (), ()): Input,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let apps = blocking(move || authd.list_apps(&org)).await?;
    Ok(respond::json(StatusCode::OK, &Seq(&apps, AppDto::new)))
}

/// `GET /apps/{app_id}`.
#[utoipa::path(
    get,
    path = crate::paths::APP,
    tag = "apps",
    operation_id = "get_app",
    summary = "Get an app",
    description = "One app of the caller's org.",
    params(crate::schemas::AppPath),
    responses(
        (status = 200, description = "The app", body = crate::schemas::App),
        (status = 404, description = "App not found", body = crate::schemas::DetailError),
    ),
)]
pub(crate) async fn get<S: Store>(
    Input(org, path, ()): Input<AppPath>,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let app = blocking(move || authd.get_app(&org, path.app_id)).await?;
    Ok(respond::json(StatusCode::OK, &AppDto::new(&app)))
}

/// `PATCH /apps/{app_id}` (authd extension): `{"metadata": {...} | null}`.
#[utoipa::path(
    patch,
    path = crate::paths::APP,
    tag = "apps",
    operation_id = "update_app",
    summary = "Update an app",
    description = "authd extension. Sets or clears the app's `metadata` (at most 50 string keys of 1-40 characters, string values of at most 500): an object replaces the old metadata whole, `null` clears it to `{}`, an absent key leaves it. The identity link is not changed here.",
    params(crate::schemas::AppPath),
    request_body(content = ref("#/components/schemas/UpdateAppRequest"), description = "`{\"metadata\": {...}}`, `{\"metadata\": null}`; an empty body counts as `{}`"),
    responses(
        (status = 200, description = "The updated app", body = crate::schemas::App),
        (status = 404, description = "App not found", body = crate::schemas::DetailError),
    ),
)]
pub(crate) async fn update<S: Store>(
    Input(org, path, body): Input<AppPath, UpdateAppRequest>,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let app = blocking(move || authd.update_app(&org, path.app_id, body.into())).await?;
    Ok(respond::json(StatusCode::OK, &AppDto::new(&app)))
}

/// `DELETE /apps/{app_id}`: the app, its accounts and instances; its link is cleared.
#[utoipa::path(
    delete,
    path = crate::paths::APP,
    tag = "apps",
    operation_id = "delete_app",
    summary = "Delete an app",
    description = "Deletes the app, its accounts and instances (their device tokens stop working); its identity link is cleared.",
    params(crate::schemas::AppPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "App not found", body = crate::schemas::DetailError),
    ),
)]
pub(crate) async fn delete<S: Store>(
    Input(org, path, ()): Input<AppPath>,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    blocking(move || authd.delete_app(&org, path.app_id)).await?;
    Ok(respond::no_content())
}
