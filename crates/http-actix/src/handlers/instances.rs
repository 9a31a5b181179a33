//! `/api/v1/authenticator/apps/{app_id}/instances[/{instance_id}]` (authd extension).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use domain::Authd;
use domain::ports::Store;

use super::blocking;
use crate::error::ApiError;
use crate::input::Input;
use crate::request::{AppPath, EnrollInstanceRequest, InstancePath};
use crate::respond::{self, EnrollmentDto, InstanceDto, Seq};

/// `POST /apps/{app_id}/instances`: enrolls a device; answers the instance and its device token.
#[utoipa::path(
    post,
    path = crate::paths::INSTANCES,
    tag = "instances",
    operation_id = "enroll_instance",
    summary = "Enroll a device",
    description = "Enrolls a device for the app's identity and returns its device token, shown this once.",
    params(crate::schemas::AppPath),
    request_body(content = crate::schemas::EnrollInstanceRequest),
    responses(
        (status = 201, description = "The instance and its device token", body = crate::schemas::Enrollment),
        (status = 403, description = "The identity is paused", body = crate::schemas::DetailError),
        (status = 404, description = "App not found", body = crate::schemas::DetailError),
        (status = 409, description = "The app is not linked to an identity", body = crate::schemas::DetailError),
    ),
)]
pub(crate) async fn enroll<S: Store>(
    Input(org, path, body): Input<AppPath, EnrollInstanceRequest>,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let enrollment = blocking(move || authd.enroll_instance(&org, path.app_id, body.into())).await?;
    Ok(respond::json(StatusCode::CREATED, &EnrollmentDto::new(&enrollment)))
}

/// `GET /apps/{app_id}/instances`.
#[utoipa::path(
    get,
    path = crate::paths::INSTANCES,
    tag = "instances",
    operation_id = "list_instances",
    summary = "List instances",
    description = "Every live instance of the app, oldest first.",
    params(crate::schemas::AppPath),
    responses(
        (status = 200, description = "The instances", body = Vec<crate::schemas::Instance>),
        (status = 404, description = "App not found", body = crate::schemas::DetailError),
    ),
)]
pub(crate) async fn list<S: Store>(
    Input(org, path, ()): Input<AppPath>,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let instances = blocking(move || authd.list_instances(&org, path.app_id)).await?;
    Ok(respond::json(StatusCode::OK, &Seq(&instances, InstanceDto::new)))
}

/// `GET /apps/{app_id}/instances/{instance_id}`.
#[utoipa::path(
    get,
    path = crate::paths::INSTANCE,
    tag = "instances",
    operation_id = "get_instance",
    summary = "Get an instance",
    description = "One instance of the app.",
    params(crate::schemas::InstancePath),
    responses(
        (status = 200, description = "The instance", body = crate::schemas::Instance),
        (status = 404, description = "App or instance not found", body = crate::schemas::DetailError),
    ),
)]
pub(crate) async fn get<S: Store>(
    Input(org, path, ()): Input<InstancePath>,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let instance = blocking(move || authd.get_instance(&org, path.app_id, path.instance_id)).await?;
    Ok(respond::json(StatusCode::OK, &InstanceDto::new(&instance)))
}

/// `DELETE /apps/{app_id}/instances/{instance_id}`: the device token stops working.
#[utoipa::path(
    delete,
    path = crate::paths::INSTANCE,
    tag = "instances",
    operation_id = "revoke_instance",
    summary = "Revoke an instance",
    description = "Revokes the instance: its device token stops working.",
    params(crate::schemas::InstancePath),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "App or instance not found", body = crate::schemas::DetailError),
    ),
)]
pub(crate) async fn revoke<S: Store>(
    Input(org, path, ()): Input<InstancePath>,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    blocking(move || authd.revoke_instance(&org, path.app_id, path.instance_id)).await?;
    Ok(respond::no_content())
}
