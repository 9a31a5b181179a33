//! `/api/v1/authenticator/apps` and `/api/v1/authenticator/apps/{app_id}`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::Authd;
use domain::ports::Store;

use super::blocking;
use crate::auth::ServiceCaller;
use crate::body;
use crate::error::ApiError;
use crate::request::{AppPath, CreateAppRequest};
use crate::respond::{self, AppDto, Seq};

/// `POST /apps`: `{}` or `{"agent_handle": "bot"}` (optional, nullable, `@` stripped).
#[utoipa::path(
    post,
    path = crate::paths::APPS,
    tag = "apps",
    operation_id = "create_app",
    summary = "Create an app",
    description = "Creates an authenticator app of the caller's org, linked to the identity `agent_handle` names when one is given.",
    request_body(content = ref("#/components/schemas/CreateAppRequest"), description = "`{}`, `{\"agent_handle\": \"bot\"}` or an empty body"),
    responses(
        (status = 201, description = "The new app", body = crate::schemas::App),
        (status = 404, description = "Identity not found", body = crate::schemas::DetailError),
        (status = 409, description = "The identity already has an app", body = crate::schemas::DetailError),
        (status = 422, response = crate::schemas::Invalid),
    ),
    security(("service_token" = []), ("service_bearer" = [])),
)]
pub(crate) async fn create<S: Store>(
    ServiceCaller(org): ServiceCaller,
    payload: web::Payload,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let bytes = body::read(payload).await?;
    let handle = CreateAppRequest::parse(&bytes)?.agent_handle;
    let app = blocking(move || authd.create_app(&org, handle.as_ref())).await?;
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
    security(("service_token" = []), ("service_bearer" = [])),
)]
pub(crate) async fn list<S: Store>(
    ServiceCaller(org): ServiceCaller,
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
        (status = 422, response = crate::schemas::Invalid),
    ),
    security(("service_token" = []), ("service_bearer" = [])),
)]
pub(crate) async fn get<S: Store>(
    ServiceCaller(org): ServiceCaller,
    req: HttpRequest,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let id = AppPath::parse(&req)?.app_id;
    let app = blocking(move || authd.get_app(&org, id)).await?;
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
        (status = 422, response = crate::schemas::Invalid),
    ),
    security(("service_token" = []), ("service_bearer" = [])),
)]
pub(crate) async fn delete<S: Store>(
    ServiceCaller(org): ServiceCaller,
    req: HttpRequest,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let id = AppPath::parse(&req)?.app_id;
    blocking(move || authd.delete_app(&org, id)).await?;
    Ok(respond::no_content())
}
