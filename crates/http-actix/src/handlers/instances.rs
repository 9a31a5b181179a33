//! `/api/v1/authenticator/apps/{app_id}/instances[/{instance_id}]` (authd extension).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::Authd;
use domain::FieldError;
use domain::ids::{AppId, DeviceId, InstanceId};
use domain::ports::Store;
use domain::service::NewInstance;
use domain::values::{DeviceName, Platform};

use super::{blocking, both, caller, many};
use crate::body::{self, IfEmpty, Object};
use crate::error::ApiError;
use crate::respond::{self, EnrollmentDto, InstanceDto, Seq};

const DEVICE_NAME_MAX: usize = 255;

/// The body of `POST /instances`: `device_name` (1..=255 chars), `platform` (case-insensitive,
/// not trimmed), `device_id` (optional, nullable UUID).
fn new_instance(b: &Object) -> Result<NewInstance, Vec<FieldError>> {
    let name = body::required_str(b, "device_name")
        .and_then(|s| body::text("device_name", s, 1, DEVICE_NAME_MAX, DeviceName::parse));
    let platform = body::required_str(b, "platform").and_then(|s| body::value("platform", Platform::parse(s), "enum"));
    let device_id = body::optional_str(b, "device_id")
        .and_then(|s| s.map(|s| body::uuid("device_id", s, DeviceId::parse)).transpose());
    match (name, platform, device_id) {
        (Ok(device_name), Ok(platform), Ok(device_id)) => Ok(NewInstance {
            device_name,
            platform,
            device_id,
        }),
        (n, p, d) => Err(body::errors([n.err(), p.err(), d.err()])),
    }
}

fn ids(req: &HttpRequest) -> Result<(AppId, InstanceId), Vec<FieldError>> {
    both(
        many(body::path_id(req, "app_id", AppId::parse)),
        many(body::path_id(req, "instance_id", InstanceId::parse)),
    )
}

/// `POST /apps/{app_id}/instances`: enrolls a device; answers the instance and its device token.
pub(crate) async fn enroll<S: Store>(
    req: HttpRequest,
    payload: web::Payload,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let org = caller(&req, &authd).await?;
    let app = many(body::path_id(&req, "app_id", AppId::parse));
    let bytes = body::read(payload).await?;
    let input = many(body::object(&bytes, IfEmpty::Missing)).and_then(|b| new_instance(&b));
    let (app, input) = both(app, input)?;
    let enrollment = blocking(move || authd.enroll_instance(&org, app, input)).await?;
    Ok(respond::json(StatusCode::CREATED, &EnrollmentDto::new(&enrollment)))
}

/// `GET /apps/{app_id}/instances`.
pub(crate) async fn list<S: Store>(req: HttpRequest, authd: web::Data<Authd<S>>) -> Result<HttpResponse, ApiError> {
    let org = caller(&req, &authd).await?;
    let app = body::path_id(&req, "app_id", AppId::parse)?;
    let instances = blocking(move || authd.list_instances(&org, app)).await?;
    Ok(respond::json(StatusCode::OK, &Seq(&instances, InstanceDto::new)))
}

/// `GET /apps/{app_id}/instances/{instance_id}`.
pub(crate) async fn get<S: Store>(req: HttpRequest, authd: web::Data<Authd<S>>) -> Result<HttpResponse, ApiError> {
    let org = caller(&req, &authd).await?;
    let (app, id) = ids(&req)?;
    let instance = blocking(move || authd.get_instance(&org, app, id)).await?;
    Ok(respond::json(StatusCode::OK, &InstanceDto::new(&instance)))
}

/// `DELETE /apps/{app_id}/instances/{instance_id}`: the device token stops working.
pub(crate) async fn revoke<S: Store>(req: HttpRequest, authd: web::Data<Authd<S>>) -> Result<HttpResponse, ApiError> {
    let org = caller(&req, &authd).await?;
    let (app, id) = ids(&req)?;
    blocking(move || authd.revoke_instance(&org, app, id)).await?;
    Ok(respond::no_content())
}
